//! The vocabulary of the seccomp policy table: one [`SyscallEntry`] per
//! system call, its [`EntryAction`], and the argument conditions of a
//! denial; with the `Display` that `agentjail check` and the docs print.
//!
//! Plain data only: it may not hold the table's contents (`table.rs`,
//! `args.rs`) or compile anything (`compile.rs`).

use std::fmt;

/// A comparison on the low 32 bits of one system call argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgOp {
    /// The argument equals the value.
    Eq(u32),
    /// The argument differs from the value.
    Ne(u32),
    /// `argument & mask == value`.
    MaskedEq {
        /// Bits of the argument that are compared.
        mask: u32,
        /// Expected value of those bits.
        value: u32,
    },
}

/// A condition on one argument (numbered from 0) of a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCond {
    /// Index of the argument, 0..=5.
    pub arg: u8,
    /// The comparison on its low 32 bits.
    pub op: ArgOp,
}

/// A denial: the call fails with `EPERM` when ALL of the conditions hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyWhen {
    /// Conditions, all of which must hold.
    pub all: &'static [ArgCond],
    /// What the denial is about, for humans.
    pub why: &'static str,
}

/// What the policy does with one system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryAction {
    /// Allowed whatever the arguments.
    Allow,
    /// Allowed, except that it fails with `EPERM` when the arguments match any
    /// of these denials.
    AllowUnless(&'static [DenyWhen]),
    /// Fails with `EPERM`.
    Deny,
    /// Fails with `ENOSYS`, as if the kernel did not have it, so that callers
    /// fall back to an older call the policy can inspect.
    Enosys,
}

/// One entry of the policy table: the syscall, what is done with it, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallEntry {
    /// The system call's name, as in `libc::SYS_<name>`.
    pub name: &'static str,
    /// The system call's number on this architecture.
    pub nr: i64,
    /// What the policy does with it.
    pub action: EntryAction,
    /// Why.
    pub reason: &'static str,
}

impl fmt::Display for ArgCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            ArgOp::Eq(v) => write!(f, "arg{} == {v:#x}", self.arg),
            ArgOp::Ne(v) => write!(f, "arg{} != {v:#x}", self.arg),
            ArgOp::MaskedEq { mask, value } => {
                write!(f, "arg{} & {mask:#x} == {value:#x}", self.arg)
            }
        }
    }
}

impl fmt::Display for DenyWhen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.why)?;
        f.write_str(" (")?;
        for (i, cond) in self.all.iter().enumerate() {
            if i > 0 {
                f.write_str(" && ")?;
            }
            write!(f, "{cond}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for EntryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryAction::Allow => f.write_str("allow"),
            EntryAction::Deny => f.write_str("deny (EPERM)"),
            EntryAction::Enosys => f.write_str("absent (ENOSYS)"),
            EntryAction::AllowUnless(denials) => {
                f.write_str("allow, except EPERM when: ")?;
                for (i, d) in denials.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{d}")?;
                }
                Ok(())
            }
        }
    }
}
