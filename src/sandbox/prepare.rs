//! Everything done before any process starts: the program resolved on the
//! host, the mechanisms checked (fail closed), the bind sources checked, the
//! seccomp filters built, the tool's argv and environment turned into C strings.

use super::mounts::{self, SourceId};
use super::plan::{self, BindKind, Mechanism, SandboxPlan};
use super::{cgroup, landlock, seccomp, SandboxError};
use serde::Serialize;
use std::ffi::CString;
use std::path::PathBuf;

/// What the launcher decided about each mechanism before starting.
#[derive(Debug, Clone, Serialize)]
pub struct Mechanisms {
    pub seccomp: bool,
    pub landlock_abi: i32,
}

/// Everything computed before fork: the children only use it.
pub struct Prepared {
    pub plan: SandboxPlan,
    pub program: PathBuf,
    pub mechanisms: Mechanisms,
    pub(super) cgroup_layout: Option<cgroup::Layout>,
    pub(super) filters: Option<seccomp::SeccompFilters>,
    pub(super) sources: Vec<SourceId>,
    pub(super) c_program: CString,
    pub(super) c_argv: Vec<CString>,
    pub(super) c_env: Vec<CString>,
}

/// Why a program cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{}", not_found_text(.0))]
    NotFound(String),
    #[error("{0} is outside the sandbox's view (bind it in the role's [sandbox] binds)")]
    NotVisible(String),
    #[error("{0} is not an executable file")]
    NotExecutable(String),
}

/// A name is looked up on the sandbox's PATH; a path either exists or not.
fn not_found_text(program: &str) -> String {
    if program.contains('/') {
        format!("{program} does not exist")
    } else {
        format!(
            "`{program}` not found on the sandbox PATH ({})",
            plan::SANDBOX_PATH
        )
    }
}

/// Resolves argv[0] on the host with the sandbox's PATH; the file must be
/// inside the sandbox's read-only view.
pub fn resolve_program(plan: &SandboxPlan) -> Result<PathBuf, ResolveError> {
    let name = plan.argv.first().cloned().unwrap_or_default();
    // `found` is the path inside the sandbox, `host` where the file is on the host.
    let (found, host) = if name.contains('/') {
        let inside = PathBuf::from(&name);
        let host = plan::host_path(plan, &inside);
        if !host.exists() {
            return Err(ResolveError::NotFound(name));
        }
        (inside, host)
    } else {
        let p = which::which_in(&name, Some(plan::SANDBOX_PATH), "/")
            .map_err(|_| ResolveError::NotFound(name.clone()))?;
        (p.clone(), p)
    };
    if !plan::visible_inside(plan, &found) {
        return Err(ResolveError::NotVisible(found.display().to_string()));
    }
    let real = std::fs::canonicalize(&host)
        .map_err(|_| ResolveError::NotFound(found.display().to_string()))?;
    // A symlink must lead somewhere the sandbox sees too (under a system path,
    // or inside the bind it came from).
    let inside_real = plan::inside_path(plan, &real);
    if !inside_real.is_some_and(|p| plan::visible_inside(plan, &p)) {
        return Err(ResolveError::NotVisible(real.display().to_string()));
    }
    let executable =
        nix::unistd::access(&real, nix::unistd::AccessFlags::X_OK).is_ok() && real.is_file();
    if !executable {
        return Err(ResolveError::NotExecutable(found.display().to_string()));
    }
    Ok(found)
}

fn cstring(s: &str) -> Result<CString, SandboxError> {
    CString::new(s).map_err(|_| SandboxError::Setup {
        step: "preparing the tool's argv and environment".into(),
        error: format!("{s:?} contains a NUL byte"),
    })
}

/// True when the kernel supports seccomp filters.
pub fn seccomp_available() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Seccomp:")))
        .unwrap_or(false)
}

/// Checks the mechanisms and the bind sources, builds the seccomp filters:
/// all that can fail is done here, before any process is started.
pub fn prepare(plan: SandboxPlan, program: PathBuf) -> Result<Prepared, SandboxError> {
    let optional = |m| plan.optional.contains(&m);
    let landlock_abi = landlock::kernel_abi();
    if landlock_abi == 0 && !optional(Mechanism::Landlock) {
        return Err(SandboxError::Unavailable {
            mechanism: "Landlock",
            fix: "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and `lsm=landlock,...`, or list \"landlock\" in the role's sandbox.optional".into(),
        });
    }
    // Pathname unix sockets: Landlock governs connect() from ABI 9; below,
    // seccomp denies AF_UNIX sockets unless the plan allows them.
    let landlock_unix = landlock_abi >= landlock::RESOLVE_UNIX_ABI;
    let options = seccomp::FilterOptions {
        deny_unix_sockets: !(plan.unix_sockets || landlock_unix),
    };
    let filters = if seccomp_available() {
        Some(compiled_filters(options)?)
    } else if optional(Mechanism::Seccomp) {
        None
    } else {
        return Err(SandboxError::Unavailable {
            mechanism: "seccomp",
            fix: "boot a kernel with CONFIG_SECCOMP_FILTER=y, or list \"seccomp\" in the role's sandbox.optional".into(),
        });
    };
    let cgroup_layout = cgroup::detect();
    let all_optional = optional(Mechanism::Cgroup)
        || [Mechanism::Memory, Mechanism::Cpu, Mechanism::Pids]
            .iter()
            .all(|m| optional(*m));
    if cgroup_layout.is_none() && !all_optional {
        return Err(SandboxError::Unavailable {
            mechanism: "cgroups",
            fix: "mount cgroup2 on /sys/fs/cgroup (or the v1 memory, cpu and pids hierarchies), or list \"cgroup\" in the role's sandbox.optional".into(),
        });
    }
    check_groups(&plan)?;
    let mut sources = Vec::new();
    for b in &plan.binds {
        let id = mounts::check_bind_source(&b.source)?;
        if !b.kind.accepts(id.file_type) {
            return Err(SandboxError::BindRefused {
                path: b.source.display().to_string(),
                found: BindKind::type_name(id.file_type),
                fix: bind_fix(b.kind, id.file_type),
            });
        }
        sources.push(id);
    }
    log_details(&plan, filters.as_ref(), cgroup_layout.as_ref());
    let c_program = cstring(&program.display().to_string())?;
    let c_argv = plan
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<_, _>>()?;
    let c_env = plan
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    Ok(Prepared {
        cgroup_layout,
        mechanisms: Mechanisms {
            seccomp: filters.is_some(),
            landlock_abi,
        },
        plan,
        program,
        filters,
        sources,
        c_program,
        c_argv,
        c_env,
    })
}

/// The plan's details for `-vv`: binds, environment names, seccomp table and
/// filter sizes, the cgroup layout.
fn log_details(
    plan: &SandboxPlan,
    filters: Option<&seccomp::SeccompFilters>,
    layout: Option<&cgroup::Layout>,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    for b in &plan.binds {
        tracing::debug!(
            "sandbox: bind {} -> {} ({})",
            b.source.display(),
            b.target.display(),
            if b.writable { "rw" } else { "ro" }
        );
    }
    let env: Vec<&str> = plan.env.iter().map(|(k, _)| k.as_str()).collect();
    tracing::debug!("sandbox: environment {}", env.join(" "));
    match filters {
        Some(f) => tracing::debug!(
            "sandbox: seccomp table of {} system calls; filters {}",
            seccomp::policy_table().len(),
            f.sizes()
                .iter()
                .map(|(n, len)| format!("{n} {len} instructions"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => tracing::debug!("sandbox: no seccomp filter (optional and unavailable)"),
    }
    match layout {
        Some(cgroup::Layout::V2 { mount }) => {
            tracing::debug!("sandbox: cgroup v2 at {}", mount.display())
        }
        Some(cgroup::Layout::V1 { mounts }) => tracing::debug!(
            "sandbox: cgroup v1: {}",
            mounts
                .iter()
                .map(|(c, p)| format!("{c} at {}", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => tracing::debug!("sandbox: no cgroup hierarchy"),
    }
    if let Some(p) = &plan.cgroup_parent {
        tracing::debug!("sandbox: cgroup parent {}", p.display());
    }
}

/// This process's thread count as /proc/self/status gives it ("" when it
/// cannot be read): a process that forks the launcher must have one.
pub fn thread_count() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// The filter for `options`, compiled once per process (a long-lived
/// front-end compiles it once for every call it forks).
fn compiled_filters(
    options: seccomp::FilterOptions,
) -> Result<seccomp::SeccompFilters, SandboxError> {
    use std::sync::Mutex;
    static BUILT: Mutex<Vec<(seccomp::FilterOptions, seccomp::SeccompFilters)>> =
        Mutex::new(Vec::new());
    if let Ok(built) = BUILT.lock() {
        if let Some((_, f)) = built.iter().find(|(o, _)| *o == options) {
            return Ok(f.clone());
        }
    }
    let f = seccomp::build_filters_with(options)?;
    // A poisoned lock (a panic elsewhere) only costs the cache.
    if let Ok(mut built) = BUILT.lock() {
        built.push((options, f.clone()));
    }
    Ok(f)
}

/// Marks every descriptor above 2 close-on-exec and closes those we did not open.
pub fn close_inherited_fds() {
    // SAFETY: close_range on a range of descriptors; with CLOSE_RANGE_CLOEXEC
    // it only sets flags and touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// How to grant a refused bind source, if it can be.
fn bind_fix(kind: BindKind, file_type: u32) -> String {
    let grant = match file_type {
        libc::S_IFSOCK => Some("socket"),
        libc::S_IFIFO => Some("fifo"),
        libc::S_IFCHR | libc::S_IFBLK => Some("device"),
        _ => None,
    };
    match (kind, grant) {
        (BindKind::Path, Some(k)) => format!(
            "a socket, FIFO or device node is bound only when the role grants that exact path in sandbox.binds with kind = \"{k}\""
        ),
        _ => format!(
            "the role's bind says kind = \"{}\"; bind a {} or change the kind",
            serde_plain_kind(kind),
            match kind {
                BindKind::Path => "directory or regular file",
                BindKind::Socket => "socket",
                BindKind::Fifo => "FIFO",
                BindKind::Device => "device node",
            }
        ),
    }
}

fn serde_plain_kind(kind: BindKind) -> &'static str {
    match kind {
        BindKind::Path => "path",
        BindKind::Socket => "socket",
        BindKind::Fifo => "fifo",
        BindKind::Device => "device",
    }
}

/// The caller's supplementary groups other than its own gid.
pub fn extra_groups() -> Vec<u32> {
    let own = nix::unistd::getegid();
    nix::unistd::getgroups()
        .unwrap_or_default()
        .into_iter()
        .filter(|g| *g != own)
        .map(|g| g.as_raw())
        .collect()
}

/// Supplementary groups: root drops them (`setgroups(0)`); an unprivileged
/// caller cannot (its user namespace has `setgroups` denied), so a run is
/// refused unless the plan keeps them knowingly.
fn check_groups(plan: &SandboxPlan) -> Result<(), SandboxError> {
    if nix::unistd::geteuid().is_root() || plan.keep_groups {
        return Ok(());
    }
    let extra = extra_groups();
    if extra.is_empty() {
        return Ok(());
    }
    Err(SandboxError::Unavailable {
        mechanism: "dropping supplementary groups",
        fix: format!(
            "the caller holds supplementary groups {extra:?}, which an unprivileged caller cannot drop and the tool would keep for permission checks; run agentjail without them (e.g. from a service with no SupplementaryGroups, or as root), or set sandbox.supplementary_groups = \"keep\" in the role"
        ),
    })
}
