//! Test-only: the policy as it was compiled until 2026-12, two seccompiler
//! programs (an allow-list answering ENOSYS, then a deny-list answering
//! EPERM, which the kernel combines by "most restrictive wins"). The
//! equivalence tests compare the one program of `compile.rs` against it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::args::{UNIX_SOCKETPAIR_DENIALS, UNIX_SOCKET_DENIALS};
use super::compile::FilterOptions;
use super::rules::{ArgCond, ArgOp, DenyWhen, EntryAction};
use super::table::policy_table;
use super::{ABSENT_ERRNO, DENY_ERRNO};

fn to_condition(cond: &ArgCond) -> SeccompCondition {
    let (op, value) = match cond.op {
        ArgOp::Eq(v) => (SeccompCmpOp::Eq, v),
        ArgOp::Ne(v) => (SeccompCmpOp::Ne, v),
        ArgOp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(u64::from(mask)), value),
    };
    SeccompCondition::new(cond.arg, SeccompCmpArgLen::Dword, op, u64::from(value)).unwrap()
}

fn to_rule(denial: &DenyWhen) -> SeccompRule {
    SeccompRule::new(denial.all.iter().map(to_condition).collect()).unwrap()
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    on_match: SeccompAction,
) -> BpfProgram {
    let built = SeccompFilter::new(rules, mismatch, on_match, TargetArch::x86_64).unwrap();
    BpfProgram::try_from(built).unwrap()
}

/// The two programs, in install order (allow-list, deny-list).
pub(super) fn two_programs(options: FilterOptions) -> [BpfProgram; 2] {
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for entry in policy_table() {
        match entry.action {
            EntryAction::Allow => {
                allowed.insert(entry.nr, Vec::new());
            }
            EntryAction::AllowUnless(denials) => {
                allowed.insert(entry.nr, Vec::new());
                if !denials.is_empty() {
                    denied.insert(entry.nr, denials.iter().map(to_rule).collect());
                }
            }
            EntryAction::Deny => {
                denied.insert(entry.nr, Vec::new());
            }
            EntryAction::Enosys => {}
        }
    }
    if options.deny_unix_sockets {
        for (nr, denials) in [
            (libc::SYS_socket, UNIX_SOCKET_DENIALS),
            (libc::SYS_socketpair, UNIX_SOCKETPAIR_DENIALS),
        ] {
            denied
                .entry(nr)
                .or_default()
                .extend(denials.iter().map(to_rule));
        }
    }
    [
        compile(
            allowed,
            SeccompAction::Errno(ABSENT_ERRNO as u32),
            SeccompAction::Allow,
        ),
        compile(
            denied,
            SeccompAction::Allow,
            SeccompAction::Errno(DENY_ERRNO as u32),
        ),
    ]
}
