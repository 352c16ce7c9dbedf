//! Seccomp-BPF policy for sandboxed agent tools.
//!
//! The policy is an allow-list in the spirit of the container runtimes' default
//! profiles (moby's `default.json`, Firecracker's JSON filters), tightened for
//! agent tools. It is kept as data, [`policy_table`], one [`SyscallEntry`] per
//! system call with the reason for its treatment; both BPF programs are built
//! from that table, so the table is the single source of truth (it is also what
//! `agentjail check` and the docs print).
//!
//! # Outcomes
//!
//! * allowed calls run;
//! * denied calls ([`EntryAction::Deny`], and [`EntryAction::AllowUnless`] calls
//!   whose arguments match a denial) fail with `EPERM`;
//! * everything else — calls absent from the table, calls newer than it, calls
//!   marked [`EntryAction::Enosys`] such as `clone3`, and x32 calls (numbers
//!   with bit `0x40000000` set) — fails with `ENOSYS`, as if the kernel lacked
//!   them, so libraries fall back (glibc falls back from `clone3` to `clone`,
//!   whose flags a filter can inspect);
//! * calls made through a foreign architecture's entry point (i386 `int 0x80`)
//!   kill the process with `SIGSYS` (the filter's architecture check).
//!
//! # One filter
//!
//! The table is compiled into one program (`compile.rs`): an architecture
//! check, then a binary search over the ranges of call numbers with one
//! outcome, the conditional calls' argument checks at their leaves. Until
//! 2026-12 it was two seccompiler programs (an allow-list answering ENOSYS,
//! then a deny-list answering EPERM, combined by the kernel's "most
//! restrictive wins" rule) of 1,475 and 451 instructions; `reference.rs`
//! keeps that construction, for tests only, and `equivalence_tests.rs` checks
//! that the one program answers exactly as the pair did, for every call
//! number and the argument values the denials name. The real-kernel test
//! (`kernel_tests.rs`) checks the answers themselves.
//!
//! # Arguments
//!
//! Argument conditions compare the low 32 bits of an argument only. That is
//! what the kernel itself looks at for every call conditioned here: `ioctl`'s
//! request is an `unsigned int` (a 64-bit compare of `TIOCSTI` could be evaded
//! by setting the upper bits, CVE-2017-5226), `clone` uses
//! `lower_32_bits(clone_flags)`, `personality` takes an `unsigned int` and
//! `socket` takes `int`s.
//!
//! # Files
//!
//! * `rules.rs`: the vocabulary of the table (entries, actions, argument
//!   conditions) and how they print;
//! * `args.rs`: the argument denials (`clone`, `ioctl`, `personality`,
//!   `socket`), and the optional ones of [`FilterOptions`] (`AF_UNIX`
//!   sockets and datagram socketpairs, denied unless the caller says not);
//! * `table.rs`: the allow-list table itself, one reason per system call;
//! * `compile.rs`: the table compiled into the BPF program, and its
//!   installation;
//! * `view.rs`: the same data handed out whole ([`policy_view`]), for
//!   readers that write it in another form (an OCI profile);
//! * `arch.rs`: the one architecture the filters admit, and what happens to
//!   calls through another ABI;
//! * `tests.rs` (root-free), `kernel_tests.rs` (the filter installed in a
//!   forked child), `reference.rs` and `equivalence_tests.rs` (the earlier
//!   two seccompiler programs, and a BPF interpreter comparing the answers).
//!
//! This module owns the system call policy only: it may not know plans,
//! profiles or the rest of the sandbox, which installs the filters it is
//! handed.

mod arch;
mod args;
mod compile;
mod rules;
mod table;
mod view;

#[cfg(test)]
mod equivalence_tests;
#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use compile::{build_filters, build_filters_with, FilterOptions, SeccompFilters};
pub use rules::{ArgCond, ArgOp, DenyWhen, EntryAction, SyscallEntry};
pub use table::policy_table;
pub use view::{policy_view, ExtraDenial, PolicyView, ARCH};

/// The errno returned by denied system calls.
pub const DENY_ERRNO: i32 = libc::EPERM;

/// The errno returned by system calls absent from the allow-list.
pub const ABSENT_ERRNO: i32 = libc::ENOSYS;

/// Errors from building or installing the seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// An argument condition names an argument past the sixth.
    #[error("seccomp: a condition on argument {arg} (system calls have 6)")]
    BadArgument {
        /// The argument index.
        arg: u8,
    },
    /// The program is longer than the kernel accepts, or a jump too far.
    #[error("seccomp: the filter program is too long ({len} instructions)")]
    TooLong {
        /// Its length, or the length of the part a jump had to cross.
        len: usize,
    },
    /// The kernel refused a step of the installation.
    #[error("seccomp: {what}")]
    Apply {
        /// `setting no_new_privs` or `installing the filter`.
        what: &'static str,
        /// The `prctl`/`seccomp` errno.
        source: std::io::Error,
    },
}
