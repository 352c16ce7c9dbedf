//! The sandbox plan: everything the sandbox needs, as plain data (paths,
//! limits, ids, the egress list). It owns the plan's types, the fixed layout
//! inside the sandbox (PATH, system paths, the proxy's port) and the mapping
//! between host paths and paths inside.
//!
//! It may not know profiles, TOML or decisions: the top-level `sandbox_plan`
//! translates a role and a decision into a plan; the mechanism modules take
//! the plan as it is.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The PATH inside the sandbox, also used to resolve the tool's program on the host.
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Host paths bound read-only into every sandbox (a symlink is recreated as a symlink).
pub const SYSTEM_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The only `/etc` entries programs get: the dynamic linker's cache, name
/// service switch, time zone, TLS roots, Debian's alternatives, protocol tables.
pub const ETC_PATHS: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates.conf",
    "/etc/alternatives",
    "/etc/protocols",
    "/etc/services",
    "/etc/host.conf",
];

/// Places a bind may not target: the sandbox builds these itself.
pub const RESERVED_TARGETS: &[&str] = &["/proc", "/dev", "/sys", "/etc/passwd", "/etc/group"];

/// The port of the egress proxy inside the sandbox (its own network namespace, so always free).
pub const PROXY_PORT: u16 = 3128;

/// The working directory of the tool.
pub const WORKDIR: &str = "/tmp";

/// The sandbox's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A network namespace of its own with only loopback (and the egress
    /// proxy on it when the plan has an egress list).
    None,
    /// The host's network namespace.
    Host,
}

/// An isolation mechanism the plan may mark optional; every one is required
/// unless listed in [`SandboxPlan::optional`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    Landlock,
    Seccomp,
    /// Every cgroup limit.
    Cgroup,
    /// One cgroup limit.
    Memory,
    Cpu,
    Pids,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub writable: bool,
    /// What the source must be; anything but a directory or a regular file
    /// is refused unless the plan names its kind.
    pub kind: BindKind,
}

/// The kind of file a bind source must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BindKind {
    /// A directory or a regular file (the default).
    #[default]
    Path,
    /// A unix socket the tool may connect to.
    Socket,
    /// A FIFO.
    Fifo,
    /// A device node (the bind keeps device access; nothing else in the view does).
    Device,
}

impl BindKind {
    /// Is a source of file type `mode & S_IFMT` acceptable for this kind?
    pub fn accepts(self, file_type: u32) -> bool {
        match self {
            BindKind::Path => file_type == libc::S_IFDIR || file_type == libc::S_IFREG,
            BindKind::Socket => file_type == libc::S_IFSOCK,
            BindKind::Fifo => file_type == libc::S_IFIFO,
            BindKind::Device => file_type == libc::S_IFCHR || file_type == libc::S_IFBLK,
        }
    }

    /// The name of a file type, for errors.
    pub fn type_name(file_type: u32) -> &'static str {
        match file_type {
            libc::S_IFDIR => "directory",
            libc::S_IFREG => "regular file",
            libc::S_IFSOCK => "socket",
            libc::S_IFIFO => "fifo",
            libc::S_IFCHR => "character device",
            libc::S_IFBLK => "block device",
            libc::S_IFLNK => "symlink",
            _ => "special file",
        }
    }
}

/// Limits of the sandbox's user namespace (`/proc/sys/user/max_*` inside
/// it); the namespace counters are always 0, as the tool may create none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UserLimits {
    pub inotify_instances: u64,
    pub inotify_watches: u64,
    pub fanotify_groups: u64,
    pub fanotify_marks: u64,
}

impl Default for UserLimits {
    fn default() -> Self {
        UserLimits {
            inotify_instances: 16,
            inotify_watches: 8192,
            fanotify_groups: 1,
            fanotify_marks: 1024,
        }
    }
}

/// The ptys of the sandbox's own devpts instance, unless the plan says otherwise.
pub const DEFAULT_MAX_PTYS: u32 = 16;

#[derive(Debug, Clone, Serialize)]
pub struct SandboxPlan {
    /// The tool's program, resolved on the host (None until resolved).
    pub program: Option<PathBuf>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub uid: u32,
    pub gid: u32,
    pub hostname: String,
    pub network: NetworkMode,
    /// Egress allow-list served by the proxy; empty means no connection leaves.
    pub egress: Vec<String>,
    pub max_connections: usize,
    pub namespaces: Vec<&'static str>,
    /// Binds from the profile and from path parameters (system paths are implied).
    pub binds: Vec<Bind>,
    pub tmp_size: u64,
    pub shm_size: u64,
    pub memory: u64,
    pub cpu_millis: u64,
    pub pids: u64,
    pub nofile: u64,
    pub max_file_size: u64,
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    pub max_output: u64,
    pub workdir: &'static str,
    pub optional: Vec<Mechanism>,
    /// Parent for the run's cgroup, relative to the cgroup mount(s).
    pub cgroup_parent: Option<PathBuf>,
    /// The tool may create AF_UNIX sockets and datagram socketpairs even
    /// where only seccomp can keep it off the host's pathname sockets.
    pub unix_sockets: bool,
    /// Mount a read-only /sys (only with a network namespace of its own).
    pub sys: bool,
    /// Run even when the caller's supplementary groups cannot be dropped.
    pub keep_groups: bool,
    /// ptys of the sandbox's devpts instance.
    pub max_ptys: u32,
    pub user_limits: UserLimits,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("sandbox.{key}: {message}")]
    Setting { key: &'static str, message: String },
    #[error("bind target {0} is reserved: the sandbox builds it itself")]
    ReservedTarget(String),
}

/// Where a path inside the sandbox lives on the host: under the bind with the
/// longest matching target, else the same path (system paths).
pub fn host_path(plan: &SandboxPlan, inside: &Path) -> PathBuf {
    plan.binds
        .iter()
        .filter_map(|b| inside.strip_prefix(&b.target).ok().map(|rest| (b, rest)))
        .max_by_key(|(b, _)| b.target.components().count())
        .map(|(b, rest)| {
            if rest.as_os_str().is_empty() {
                b.source.clone()
            } else {
                b.source.join(rest)
            }
        })
        .unwrap_or_else(|| inside.to_path_buf())
}

/// Where a host path appears inside the sandbox, if it does.
pub fn inside_path(plan: &SandboxPlan, host: &Path) -> Option<PathBuf> {
    if SYSTEM_PATHS.iter().any(|p| host.starts_with(p)) {
        return Some(host.to_path_buf());
    }
    plan.binds
        .iter()
        .filter_map(|b| host.strip_prefix(&b.source).ok().map(|rest| (b, rest)))
        .max_by_key(|(b, _)| b.source.components().count())
        .map(|(b, rest)| {
            if rest.as_os_str().is_empty() {
                b.target.clone()
            } else {
                b.target.join(rest)
            }
        })
}

/// Is `path` visible inside the sandbox: under a system path or a bind?
pub fn visible_inside(plan: &SandboxPlan, path: &Path) -> bool {
    SYSTEM_PATHS.iter().any(|p| path.starts_with(p))
        || plan.binds.iter().any(|b| path.starts_with(&b.target))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bind_targets_map_to_host_sources_and_back() {
        let mut p = tests_support::empty_plan();
        p.binds.push(Bind {
            source: "/srv/tools".into(),
            target: "/opt/t".into(),
            writable: false,
            kind: BindKind::Path,
        });
        assert_eq!(
            host_path(&p, Path::new("/opt/t/bin/x")),
            PathBuf::from("/srv/tools/bin/x")
        );
        assert_eq!(
            host_path(&p, Path::new("/usr/bin/ls")),
            PathBuf::from("/usr/bin/ls")
        );
        assert_eq!(
            inside_path(&p, Path::new("/srv/tools/bin/x")),
            Some(PathBuf::from("/opt/t/bin/x"))
        );
        assert_eq!(
            inside_path(&p, Path::new("/usr/bin/ls")),
            Some(PathBuf::from("/usr/bin/ls"))
        );
        assert_eq!(inside_path(&p, Path::new("/root/x")), None);
    }
}

#[cfg(test)]
pub mod tests_support {
    /// A plan with the seed's defaults and nothing bound, for unit tests.
    pub fn empty_plan() -> super::SandboxPlan {
        super::minimal()
    }
}

/// A plan with the seed's defaults and nothing bound (`true` as its argv):
/// what unit tests and `doctor`'s measurements start from.
pub fn minimal() -> SandboxPlan {
    SandboxPlan {
        program: None,
        argv: vec!["true".into()],
        env: vec![],
        uid: 65534,
        gid: 65534,
        hostname: "agentjail".into(),
        network: NetworkMode::None,
        egress: vec![],
        max_connections: 32,
        namespaces: vec![],
        binds: vec![],
        tmp_size: 50 << 20,
        shm_size: 50 << 20,
        memory: 256 << 20,
        cpu_millis: 500,
        pids: 128,
        nofile: 1024,
        max_file_size: 50 << 20,
        timeout: Duration::from_secs(300),
        max_output: 1 << 20,
        workdir: WORKDIR,
        optional: vec![],
        cgroup_parent: None,
        unix_sockets: false,
        sys: false,
        keep_groups: false,
        max_ptys: DEFAULT_MAX_PTYS,
        user_limits: UserLimits::default(),
    }
}
