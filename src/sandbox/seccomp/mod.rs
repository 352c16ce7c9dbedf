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
//!   kill the process with `SIGSYS` (seccompiler's architecture check).
//!
//! # Two filters
//!
//! seccompiler gives every filter a single match action and a single mismatch
//! action, so the policy is split in two programs, installed in this order:
//!
//! 1. the allow-list: table entries `Allow`/`AllowUnless` → `ALLOW`, anything
//!    else → `ERRNO(ENOSYS)`;
//! 2. the deny-list: table entries `Deny`, and `AllowUnless` calls whose
//!    arguments match → `ERRNO(EPERM)`, anything else → `ALLOW`.
//!
//! The kernel runs every installed filter, newest first, and keeps a result
//! only when its action is strictly more restrictive than the one it already
//! has (`seccomp_run_filters` in `kernel/seccomp.c`:
//! `if (ACTION_ONLY(cur_ret) < ACTION_ONLY(ret))`, starting from `ALLOW`).
//! For a denied call both filters answer `ERRNO`; the deny-list, installed
//! last, is evaluated first and its `EPERM` is kept. For a call that is in
//! neither list, the deny-list allows and the allow-list's `ENOSYS` wins. The
//! real-kernel test (`kernel_tests.rs`) checks this.
//!
//! Because the deny-list is installed after the allow-list, the allow-list must
//! allow `prctl` and `seccomp` (it does: a filter can only restrict further).
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
//! * `compile.rs`: the table compiled into the two BPF programs, and their
//!   installation;
//! * `view.rs`: the same data handed out whole ([`policy_view`]), for
//!   readers that write it in another form (an OCI profile);
//! * `arch.rs`: the one architecture the filters admit, and what happens to
//!   calls through another ABI;
//! * `tests.rs` (root-free) and `kernel_tests.rs` (filters installed in a
//!   forked child).
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
mod kernel_tests;
#[cfg(test)]
mod tests;

use seccompiler::BackendError;

pub use compile::{build_filters, build_filters_with, FilterOptions, SeccompFilters};
pub use rules::{ArgCond, ArgOp, DenyWhen, EntryAction, SyscallEntry};
pub use table::policy_table;
pub use view::{policy_view, ExtraDenial, PolicyView, ARCH};

/// The errno returned by denied system calls.
pub const DENY_ERRNO: i32 = libc::EPERM;

/// The errno returned by system calls absent from the allow-list.
pub const ABSENT_ERRNO: i32 = libc::ENOSYS;

/// Errors from building or installing the seccomp filters.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// An argument condition of a table entry could not be turned into a rule.
    #[error("seccomp: building the argument rule for `{syscall}`")]
    BuildRule {
        /// The system call whose rule failed.
        syscall: &'static str,
        /// The seccompiler error.
        source: BackendError,
    },
    /// A filter could not be assembled from the table.
    #[error("seccomp: building the {filter} filter")]
    BuildFilter {
        /// Which filter ("allow-list" or "deny-list").
        filter: &'static str,
        /// The seccompiler error.
        source: BackendError,
    },
    /// A filter could not be compiled to BPF.
    #[error("seccomp: compiling the {filter} filter to BPF")]
    Compile {
        /// Which filter ("allow-list" or "deny-list").
        filter: &'static str,
        /// The seccompiler error.
        source: BackendError,
    },
    /// The kernel refused a filter.
    #[error("seccomp: installing the {filter} filter")]
    Apply {
        /// Which filter ("allow-list" or "deny-list").
        filter: &'static str,
        /// The seccompiler error (wrapping the `prctl`/`seccomp` errno).
        source: seccompiler::Error,
    },
}
