//! Landlock, the second layer: the filesystem limited to the sandbox's own
//! view (read and execute everywhere in it, write only where the plan makes
//! things writable), TCP bind and connect denied without a network (ABI 4),
//! abstract unix sockets and signals scoped to the sandbox (ABI 6).

use super::plan::NetworkMode;
use super::plan::{BindKind, SandboxPlan};
use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

/// The newest ABI this build knows how to use for everything but pathname
/// unix sockets.
const TARGET_ABI: ABI = ABI::V6;

/// `TARGET_ABI` as a number.
const TARGET_ABI_NUMBER: i32 = 6;

/// The ABI whose `LANDLOCK_ACCESS_FS_RESOLVE_UNIX` governs `connect` and
/// `sendmsg` to pathname unix sockets.
pub const RESOLVE_UNIX_ABI: i32 = 9;

/// The ABI whose rules `restrict` applies on a kernel offering `kernel`:
/// what the confinement report names (not the kernel's own ABI, which may
/// offer features agentjail does not use).
pub fn applied_abi(kernel: i32) -> i32 {
    if kernel >= RESOLVE_UNIX_ABI {
        RESOLVE_UNIX_ABI
    } else {
        kernel.clamp(0, TARGET_ABI_NUMBER)
    }
}

/// The rights a ruleset of `TARGET_ABI` handles that a kernel below their
/// ABI cannot enforce (so the ruleset is only partly enforced there).
const FEATURES: &[(i32, &str)] = &[
    (
        2,
        "moving and linking files between directories (refer, ABI 2)",
    ),
    (3, "truncating files (ABI 3)"),
    (4, "TCP bind and connect rules (ABI 4)"),
    (5, "ioctl on device files (ABI 5)"),
    (6, "abstract unix socket and signal scoping (ABI 6)"),
];

/// Why a ruleset is not fully enforced on a kernel offering `kernel`: the
/// features it lacks (TCP rules only matter without a network).
pub fn shortfall(kernel: i32, handles_tcp: bool) -> String {
    if kernel <= 0 {
        return "the kernel offers no Landlock (the role marks it optional)".into();
    }
    let missing: Vec<&str> = FEATURES
        .iter()
        .filter(|(abi, _)| *abi > kernel && (*abi != 4 || handles_tcp))
        .map(|(_, what)| *what)
        .collect();
    if missing.is_empty() {
        format!("the kernel (Landlock ABI {kernel}) enforced only part of the ruleset")
    } else {
        format!(
            "the kernel's Landlock ABI {kernel} lacks {}",
            missing.join(", ")
        )
    }
}

/// The child sends these over the setup channel as text, so each message
/// carries its cause itself and has no `source` (that would print it twice).
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error("building the Landlock ruleset: {0}")]
    Ruleset(landlock::RulesetError),
    #[error("opening {path} for a Landlock rule: {error}")]
    Path {
        path: String,
        error: landlock::PathFdError,
    },
}

impl From<landlock::RulesetError> for LandlockError {
    fn from(e: landlock::RulesetError) -> Self {
        LandlockError::Ruleset(e)
    }
}

/// The ABI the running kernel offers, 0 when Landlock is absent or disabled.
pub fn kernel_abi() -> i32 {
    // SAFETY: with a NULL attribute, size 0 and the VERSION flag the call only
    // returns the ABI number; no memory is read or written.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    if v < 0 {
        0
    } else {
        v as i32
    }
}

/// "full", "partial" or "none": how much of the ruleset the kernel enforced.
pub fn status_name(s: &RulesetStatus) -> &'static str {
    match s {
        RulesetStatus::FullyEnforced => "full",
        RulesetStatus::PartiallyEnforced => "partial",
        RulesetStatus::NotEnforced => "none",
    }
}

/// Paths the tool may write: /tmp, /dev/shm, the terminal devices, read-write binds.
fn writable_paths(plan: &SandboxPlan) -> Vec<String> {
    let mut v: Vec<String> = vec!["/tmp".into(), "/dev/shm".into()];
    v.extend(
        plan.binds
            .iter()
            .filter(|b| b.writable)
            .map(|b| b.target.display().to_string()),
    );
    v
}

/// Where the tool may connect to pathname unix sockets (ABI 9): its own
/// /tmp and /dev/shm unless a bind covers them with a host directory, and
/// the sockets granted as such.
fn unix_socket_paths(plan: &SandboxPlan) -> Vec<String> {
    let mut v: Vec<String> = ["/tmp", "/dev/shm"]
        .into_iter()
        .filter(|own| {
            !plan
                .binds
                .iter()
                .any(|b| std::path::Path::new(own).starts_with(&b.target))
        })
        .map(String::from)
        .collect();
    v.extend(
        plan.binds
            .iter()
            .filter(|b| b.kind == BindKind::Socket)
            .map(|b| b.target.display().to_string()),
    );
    v
}

const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/pts",
];

/// Restricts the calling process (best effort per the kernel's ABI) and
/// returns how much was enforced. Sets no_new_privs as a side effect.
pub fn restrict(plan: &SandboxPlan) -> Result<RulesetStatus, LandlockError> {
    let abi = TARGET_ABI;
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    // Pathname unix sockets only where the kernel governs them (so a kernel
    // below ABI 9 still reports the ruleset fully enforced; seccomp covers it).
    let unix = kernel_abi() >= RESOLVE_UNIX_ABI;
    let handled = if unix {
        all | AccessFs::ResolveUnix
    } else {
        all
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled)?;
    let handle_net = plan.network == NetworkMode::None;
    if handle_net {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    let created = ruleset
        .scope(Scope::AbstractUnixSocket | Scope::Signal)?
        .create()?;
    let mut rules = Vec::new();
    let mut add = |path: &str, access: landlock::BitFlags<AccessFs>| -> Result<(), LandlockError> {
        let fd = match PathFd::new(path) {
            Ok(fd) => fd,
            // A device or directory this host lacks needs no rule.
            Err(_) if !std::path::Path::new(path).exists() => return Ok(()),
            Err(error) => {
                return Err(LandlockError::Path {
                    path: path.into(),
                    error,
                })
            }
        };
        rules.push(PathBeneath::new(fd, access));
        Ok(())
    };
    add("/", read)?;
    for p in writable_paths(plan) {
        add(&p, all)?;
    }
    let dev_access = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    for d in DEVICES {
        add(d, dev_access)?;
    }
    for b in plan.binds.iter().filter(|b| b.kind == BindKind::Device) {
        let access = if b.writable {
            dev_access
        } else {
            AccessFs::ReadFile | AccessFs::IoctlDev
        };
        add(&b.target.display().to_string(), access)?;
    }
    if unix {
        for p in unix_socket_paths(plan) {
            add(&p, AccessFs::ResolveUnix.into())?;
        }
    }
    let mut created = created.add_rules(rules.into_iter().map(Ok::<_, landlock::RulesetError>))?;
    // With an egress list, the only TCP connect allowed is to the proxy's port.
    if handle_net && !plan.egress.is_empty() {
        created = created.add_rule(NetPort::new(super::plan::PROXY_PORT, AccessNet::ConnectTcp))?;
    }
    Ok(created.restrict_self()?.ruleset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_abi_is_what_the_ruleset_uses() {
        assert_eq!(applied_abi(0), 0);
        assert_eq!(applied_abi(3), 3);
        assert_eq!(applied_abi(6), 6);
        assert_eq!(applied_abi(7), 6);
        assert_eq!(applied_abi(8), 6);
        assert_eq!(applied_abi(9), 9);
        assert_eq!(applied_abi(12), 9);
    }

    #[test]
    fn a_shortfall_names_what_the_kernel_lacks() {
        assert_eq!(
            shortfall(3, true),
            "the kernel's Landlock ABI 3 lacks TCP bind and connect rules (ABI 4), \
             ioctl on device files (ABI 5), abstract unix socket and signal scoping (ABI 6)"
        );
        assert_eq!(
            shortfall(3, false),
            "the kernel's Landlock ABI 3 lacks ioctl on device files (ABI 5), \
             abstract unix socket and signal scoping (ABI 6)"
        );
        assert!(shortfall(0, false).contains("no Landlock"));
        assert!(shortfall(6, true).contains("only part"));
    }

    #[test]
    fn writable_paths_are_tmp_shm_and_rw_binds() {
        let mut plan = super::super::plan::tests_support::empty_plan();
        plan.binds.push(super::super::plan::Bind {
            source: "/a".into(),
            target: "/a".into(),
            writable: true,
            kind: Default::default(),
        });
        plan.binds.push(super::super::plan::Bind {
            source: "/b".into(),
            target: "/b".into(),
            writable: false,
            kind: Default::default(),
        });
        assert_eq!(writable_paths(&plan), ["/tmp", "/dev/shm", "/a"]);
    }
}
