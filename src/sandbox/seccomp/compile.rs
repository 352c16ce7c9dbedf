//! The filter compiler: [`policy_table`] turned into the two BPF programs
//! (allow-list, then deny-list) with seccompiler, and their installation on
//! the calling thread.
//!
//! It may not change what the table says: every decision about a system
//! call is in `table.rs` and `args.rs`.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use super::arch::TARGET_ARCH;
use super::args::{UNIX_SOCKETPAIR_DENIALS, UNIX_SOCKET_DENIALS};
use super::rules::{ArgCond, ArgOp, DenyWhen, EntryAction};
use super::table::policy_table;
use super::{SeccompError, ABSENT_ERRNO, DENY_ERRNO};

/// Name of the first program (the allow-list), as used in errors.
pub(super) const ALLOW_FILTER: &str = "allow-list";
/// Name of the second program (the deny-list), as used in errors.
pub(super) const DENY_FILTER: &str = "deny-list";

/// Compiled filters, in install order (allow-list first, deny-list second).
#[derive(Debug, Clone)]
pub struct SeccompFilters {
    pub(super) programs: Vec<(&'static str, BpfProgram)>,
}

fn to_condition(syscall: &'static str, cond: &ArgCond) -> Result<SeccompCondition, SeccompError> {
    let (op, value) = match cond.op {
        ArgOp::Eq(v) => (SeccompCmpOp::Eq, v),
        ArgOp::Ne(v) => (SeccompCmpOp::Ne, v),
        ArgOp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(u64::from(mask)), value),
    };
    // Dword: compare the low 32 bits only, as the kernel does for these arguments.
    SeccompCondition::new(cond.arg, SeccompCmpArgLen::Dword, op, u64::from(value))
        .map_err(|source| SeccompError::BuildRule { syscall, source })
}

fn to_rule(syscall: &'static str, denial: &DenyWhen) -> Result<SeccompRule, SeccompError> {
    let conditions = denial
        .all
        .iter()
        .map(|c| to_condition(syscall, c))
        .collect::<Result<Vec<_>, _>>()?;
    SeccompRule::new(conditions).map_err(|source| SeccompError::BuildRule { syscall, source })
}

fn compile(
    filter: &'static str,
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    on_match: SeccompAction,
) -> Result<(&'static str, BpfProgram), SeccompError> {
    let built = SeccompFilter::new(rules, mismatch, on_match, TARGET_ARCH)
        .map_err(|source| SeccompError::BuildFilter { filter, source })?;
    let program =
        BpfProgram::try_from(built).map_err(|source| SeccompError::Compile { filter, source })?;
    Ok((filter, program))
}

/// What a caller may vary about the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterOptions {
    /// Deny `socket(AF_UNIX, ...)` and datagram `socketpair`s
    /// ([`UNIX_SOCKET_DENIALS`], [`UNIX_SOCKETPAIR_DENIALS`]).
    pub deny_unix_sockets: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            deny_unix_sockets: true,
        }
    }
}

/// Builds both BPF programs from [`policy_table`] with the default options
/// (unix sockets denied). Call before forking.
pub fn build_filters() -> Result<SeccompFilters, SeccompError> {
    build_filters_with(FilterOptions::default())
}

/// Builds both BPF programs from [`policy_table`] and `options`.
pub fn build_filters_with(options: FilterOptions) -> Result<SeccompFilters, SeccompError> {
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for entry in policy_table() {
        match entry.action {
            EntryAction::Allow => {
                allowed.insert(entry.nr, Vec::new());
            }
            EntryAction::AllowUnless(denials) => {
                allowed.insert(entry.nr, Vec::new());
                // An empty rule list would deny unconditionally in the deny-list.
                if !denials.is_empty() {
                    let rules = denials
                        .iter()
                        .map(|d| to_rule(entry.name, d))
                        .collect::<Result<Vec<_>, _>>()?;
                    denied.insert(entry.nr, rules);
                }
            }
            EntryAction::Deny => {
                denied.insert(entry.nr, Vec::new());
            }
            EntryAction::Enosys => {}
        }
    }
    if options.deny_unix_sockets {
        for (nr, name, denials) in [
            (libc::SYS_socket, "socket", UNIX_SOCKET_DENIALS),
            (libc::SYS_socketpair, "socketpair", UNIX_SOCKETPAIR_DENIALS),
        ] {
            let rules = denials
                .iter()
                .map(|d| to_rule(name, d))
                .collect::<Result<Vec<_>, _>>()?;
            denied.entry(nr).or_default().extend(rules);
        }
    }
    let allow_list = compile(
        ALLOW_FILTER,
        allowed,
        SeccompAction::Errno(ABSENT_ERRNO as u32),
        SeccompAction::Allow,
    )?;
    let deny_list = compile(
        DENY_FILTER,
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(DENY_ERRNO as u32),
    )?;
    Ok(SeccompFilters {
        programs: vec![allow_list, deny_list],
    })
}

impl SeccompFilters {
    /// Each program's name and length in BPF instructions, in install order.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        self.programs.iter().map(|(n, p)| (*n, p.len())).collect()
    }

    /// Installs the filters on the calling thread, allow-list first.
    ///
    /// Meant for the forked child right before `execve`: it does not allocate
    /// (it hands the prebuilt programs to the kernel). seccompiler sets
    /// `no_new_privs` itself before each filter, so calling this also sets it.
    /// After it returns, only table-allowed calls work (`execve`, `write`,
    /// `close`, `_exit` all are).
    pub fn apply(&self) -> Result<(), SeccompError> {
        for (filter, program) in &self.programs {
            seccompiler::apply_filter(program)
                .map_err(|source| SeccompError::Apply { filter, source })?;
        }
        Ok(())
    }
}
