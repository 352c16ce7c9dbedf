//! agentjail's seccomp policy as an OCI runtime-spec seccomp profile
//! (`defaultAction`, `architectures`, `syscalls[{names, action, errnoRet,
//! args}]`) for the nodes' kubelet seccomp directory, written from the
//! same data the in-pod filter is compiled from
//! (`sandbox::seccomp::policy_view`).
//!
//! Runtimes hand the profile to libseccomp, which shapes the translation:
//!
//! * libseccomp drops the conditional rules of a system call that also has
//!   an unconditional one, so a call allowed except for some arguments
//!   gets its `EPERM` rules plus an `ALLOW` rule with an always-true
//!   condition (`arg0 >= 0`) on the lowest argument, which libseccomp
//!   checks after the denials;
//! * one rule may compare an argument only once, so a denial "argument not
//!   one of these values" (`personality`, the `socket` families) becomes
//!   one `ALLOW` rule per value; other values get the default `ENOSYS`
//!   where agentjail's filter answers `EPERM` (refused either way);
//! * conditions compare 64 bits: an equality on the low 32 bits (what the
//!   kernel reads for these arguments) is a `SCMP_CMP_MASKED_EQ` with mask
//!   0xffffffff, a masked equality keeps its 32-bit mask, and an
//!   inequality is a 64-bit `SCMP_CMP_NE`, which refuses more than the
//!   32-bit one (upper bits set);
//! * `ENOSYS` entries are left to `defaultAction` (libseccomp refuses a
//!   rule whose action is the default one).
//!
//! The profile confines agentjail itself as well as its tools, and
//! agentjail needs a few calls to build each call's sandbox that the table
//! denies to tools: [`LAUNCHER_NEEDS`] are allowed, and agentjail's own
//! filter denies them again to every tool.

use super::K8sError;
use crate::profile::Role;
use crate::sandbox::seccomp::{
    policy_view, ArgCond, ArgOp, DenyWhen, EntryAction, FilterOptions, PolicyView, ARCH,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Calls the table denies to tools that the launcher makes to build the
/// per-call sandbox, with why.
pub const LAUNCHER_NEEDS: &[(&str, &str)] = &[
    (
        "unshare",
        "the call's user, mount, PID, network, IPC and UTS namespaces",
    ),
    ("mount", "the call's root file system and binds"),
    ("umount2", "detaching the old root after pivot_root"),
    ("pivot_root", "entering the call's root"),
    (
        "open_tree",
        "binding paths by descriptor, immune to symlink swaps",
    ),
    ("move_mount", "attaching those binds in the call's root"),
    ("mount_setattr", "making binds read-only, recursively"),
    ("sethostname", "the call's host name in its UTS namespace"),
];

pub const ACT_ALLOW: &str = "SCMP_ACT_ALLOW";
pub const ACT_ERRNO: &str = "SCMP_ACT_ERRNO";

/// An OCI seccomp profile (the fields agentjail writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OciProfile {
    pub default_action: String,
    pub default_errno_ret: u32,
    pub architectures: Vec<String>,
    pub syscalls: Vec<OciSyscall>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OciSyscall {
    pub names: Vec<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<OciArg>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OciArg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

const LOW32: u64 = 0xffff_ffff;

fn arg(cond: &ArgCond) -> OciArg {
    let (value, value_two, op) = match cond.op {
        ArgOp::Eq(v) => (LOW32, u64::from(v), "SCMP_CMP_MASKED_EQ"),
        ArgOp::MaskedEq { mask, value } => {
            (u64::from(mask), u64::from(value), "SCMP_CMP_MASKED_EQ")
        }
        ArgOp::Ne(v) => (u64::from(v), 0, "SCMP_CMP_NE"),
    };
    OciArg {
        index: u32::from(cond.arg),
        value,
        value_two,
        op: op.into(),
    }
}

fn rule(name: &str, action: &str, errno: Option<i32>, args: Vec<OciArg>) -> OciSyscall {
    OciSyscall {
        names: vec![name.to_string()],
        action: action.into(),
        errno_ret: errno.and_then(|e| u32::try_from(e).ok()),
        args,
    }
}

/// `argument >= 0`: true for every value, and not folded away by libseccomp.
fn always_true(index: u32) -> OciArg {
    OciArg {
        index,
        value: 0,
        value_two: 0,
        op: "SCMP_CMP_GE".into(),
    }
}

/// A denial of the form "argument N is none of these values".
fn only_values(d: &DenyWhen) -> Option<(u8, Vec<u32>)> {
    let first = d.all.first()?.arg;
    let mut values = Vec::new();
    for c in d.all {
        match c.op {
            ArgOp::Ne(v) if c.arg == first => values.push(v),
            _ => return None,
        }
    }
    (values.len() > 1).then_some((first, values))
}

/// The rules of one call that is allowed unless its arguments match a denial.
fn conditional(name: &str, denials: &[DenyWhen], view: &PolicyView) -> Vec<OciSyscall> {
    let mut denied = Vec::new();
    let mut allowed_values: Option<(u8, Vec<u32>)> = None;
    for d in denials {
        match only_values(d) {
            Some(set) => allowed_values = Some(set),
            None => denied.push(rule(
                name,
                ACT_ERRNO,
                Some(view.deny_errno),
                d.all.iter().map(arg).collect(),
            )),
        }
    }
    let mut out = denied.clone();
    match allowed_values {
        Some((index, values)) => {
            for v in values {
                let cond = arg(&ArgCond {
                    arg: index,
                    op: ArgOp::Eq(v),
                });
                // The same condition with EPERM already (AF_UNIX): libseccomp
                // refuses a second action for it.
                if denied.iter().any(|r| r.args == [cond.clone()]) {
                    continue;
                }
                // A denial that starts with the same condition (AF_INET and
                // SOCK_RAW): libseccomp refuses an ALLOW ending where the
                // denial goes on, so the ALLOW goes on too, always true, on
                // the denial's next argument (checked after the denial's).
                let next = denied
                    .iter()
                    .filter(|r| r.args.first() == Some(&cond))
                    .filter_map(|r| r.args.get(1).map(|a| a.index))
                    .min();
                let mut args = vec![cond];
                args.extend(next.map(always_true));
                out.push(rule(name, ACT_ALLOW, None, args));
            }
        }
        None => out.push(rule(name, ACT_ALLOW, None, vec![always_true(0)])),
    }
    out
}

/// The profile of a role (today the same for every role: agentjail's
/// filter options are the defaults, unix sockets denied unless the role
/// allows them).
pub fn profile(role: &Role) -> OciProfile {
    let view = policy_view(FilterOptions {
        deny_unix_sockets: !role.sandbox.unix_sockets,
    });
    profile_of(&view)
}

/// The profile of a policy view.
pub fn profile_of(view: &PolicyView) -> OciProfile {
    let mut extra: BTreeMap<&str, Vec<DenyWhen>> = BTreeMap::new();
    for e in &view.extra {
        extra
            .entry(e.name)
            .or_default()
            .extend(e.denials.iter().copied());
    }
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    let mut conditional_rules = Vec::new();
    for entry in view.table {
        let launcher = LAUNCHER_NEEDS.iter().any(|(n, _)| *n == entry.name);
        let mut denials: Vec<DenyWhen> = match entry.action {
            EntryAction::Allow => Vec::new(),
            EntryAction::AllowUnless(d) => d.to_vec(),
            EntryAction::Deny if launcher => Vec::new(),
            EntryAction::Deny => {
                deny.push(entry.name.to_string());
                continue;
            }
            EntryAction::Enosys => continue,
        };
        if let Some(more) = extra.get(entry.name) {
            denials.extend(more.iter().copied());
        }
        if denials.is_empty() {
            allow.push(entry.name.to_string());
        } else {
            conditional_rules.extend(conditional(entry.name, &denials, view));
        }
    }
    let mut syscalls = vec![OciSyscall {
        names: allow,
        action: ACT_ALLOW.into(),
        errno_ret: None,
        args: Vec::new(),
    }];
    if !deny.is_empty() {
        syscalls.push(OciSyscall {
            names: deny,
            action: ACT_ERRNO.into(),
            errno_ret: u32::try_from(view.deny_errno).ok(),
            args: Vec::new(),
        });
    }
    syscalls.extend(conditional_rules);
    OciProfile {
        default_action: ACT_ERRNO.into(),
        default_errno_ret: u32::try_from(view.absent_errno).unwrap_or(38),
        architectures: vec![oci_arch(ARCH).into()],
        syscalls,
    }
}

fn oci_arch(arch: &str) -> &'static str {
    match arch {
        "x86_64" => "SCMP_ARCH_X86_64",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// The profile as the JSON text written with `--seccomp-out`.
pub fn profile_json(role: &Role) -> Result<String, K8sError> {
    let mut text = serde_json::to_string_pretty(&profile(role))
        .map_err(|e| K8sError::Encode(e.to_string()))?;
    text.push('\n');
    Ok(text)
}
