//! Per-run cgroups: memory (swap 0), cpu (quota over period) and pids limits,
//! made before the tool starts, entered by the sandbox's pid 1 before it
//! does anything else (made inside it on v2, `RunCgroup::clone_dir` and
//! `super::fork`; else it moves itself, `join_self_fds`), read for usage, and
//! removed after the run. The layout found is kept while its mounts stand.
//!
//! cgroup v2 is used when `/sys/fs/cgroup` is a cgroup2 mount; otherwise the
//! v1 hierarchies that hold the controllers (`v1.rs`).
//!
//! Size: about 600 lines of code and 110 of tests: the limits, the layout,
//! the run's cgroup and the self-join shared by v1 and v2; the v1 and v2
//! details are in v1.rs and v2.rs.

mod v1;
mod v2;

use super::plan::Mechanism;
use nix::sys::stat::Mode;
use serde::Serialize;
use std::ffi::CString;
use std::fs;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// The controllers a run's limits need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
        }
    }

    fn mechanism(self) -> Mechanism {
        match self {
            Controller::Memory => Mechanism::Memory,
            Controller::Cpu => Mechanism::Cpu,
            Controller::Pids => Mechanism::Pids,
        }
    }
}

pub const CONTROLLERS: [Controller; 3] = [Controller::Memory, Controller::Cpu, Controller::Pids];

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `fix` holds one or more lines (joined by `\n`); the message puts
    /// them on their own lines below the one-line reason.
    #[error("cgroup {controller} controller unavailable: {why}{}", fix_lines(.fix))]
    Unavailable {
        controller: &'static str,
        why: String,
        fix: String,
    },
    #[error("{step} {path}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The fix's lines, each on a line of its own, indented, the first marked.
fn fix_lines(fix: &str) -> String {
    fix.lines()
        .enumerate()
        .map(|(i, l)| format!("\n  {}{l}", if i == 0 { "fix: " } else { "" }))
        .collect()
}

pub(crate) fn io(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError::Io { step, path, source }
}

/// Limits for one run, in kernel units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub memory: u64,
    pub cpu_millis: u64,
    pub pids: u64,
}

/// What the run used, read before the cgroup is removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub cpu_usec: Option<u64>,
    pub memory_peak: Option<u64>,
    pub pids_peak: Option<u64>,
    /// Reported once, as the result's top-level `oom_killed`, not under `usage`.
    #[serde(skip_serializing)]
    pub oom_killed: bool,
}

/// The cgroup layout found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup2 mounted here, with these controllers available at the root.
    V2 { mount: PathBuf },
    /// v1 hierarchies: controller name -> mount point.
    V1 { mounts: Vec<(String, PathBuf)> },
}

impl Layout {
    pub fn version(&self) -> &'static str {
        match self {
            Layout::V2 { .. } => "v2",
            Layout::V1 { .. } => "v1",
        }
    }
}

/// The cgroup mounts, from /proc/self/mountinfo. A long-lived owner and the
/// calls it forks ask on every call; the layout found last is kept for the
/// process (and inherited by its forks) while every mount point it names is
/// still a cgroup filesystem (one `statfs` each instead of reading and
/// parsing the mount table); otherwise it is looked up afresh.
pub fn detect() -> Option<Layout> {
    static LAST: std::sync::Mutex<Option<Layout>> = std::sync::Mutex::new(None);
    if let Ok(last) = LAST.lock() {
        if let Some(layout) = last.as_ref().filter(|l| still_mounted(l)) {
            return Some(layout.clone());
        }
    }
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let layout = parse_layout(&info);
    // A poisoned lock (a panic elsewhere) only costs the memo.
    if let Ok(mut last) = LAST.lock() {
        last.clone_from(&layout);
    }
    layout
}

/// Whether every mount point of `layout` is still a cgroup filesystem of
/// its version.
fn still_mounted(layout: &Layout) -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    let is = |path: &Path, magic| statfs(path).is_ok_and(|s| s.filesystem_type() == magic);
    match layout {
        Layout::V2 { mount } => is(mount, CGROUP2_SUPER_MAGIC),
        Layout::V1 { mounts } => mounts.iter().all(|(_, m)| is(m, CGROUP_SUPER_MAGIC)),
    }
}

/// The pure part of `detect`: a cgroup2 mount at /sys/fs/cgroup wins; else
/// the v1 hierarchies by the controllers in their super options.
pub fn parse_layout(mountinfo: &str) -> Option<Layout> {
    let mut v1 = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = left.split_whitespace().nth(4).unwrap_or("");
        let mut r = right.split_whitespace();
        let fstype = r.next().unwrap_or("");
        let _source = r.next();
        let opts = r.next().unwrap_or("");
        if fstype == "cgroup2" && mount_point == "/sys/fs/cgroup" {
            return Some(Layout::V2 {
                mount: PathBuf::from(mount_point),
            });
        }
        if fstype == "cgroup" {
            for o in opts.split(',') {
                if ["memory", "cpu", "cpuacct", "pids"].contains(&o) {
                    v1.push((o.to_string(), PathBuf::from(mount_point)));
                }
            }
        }
    }
    (!v1.is_empty()).then_some(Layout::V1 { mounts: v1 })
}

/// The launcher's own cgroup path in a hierarchy, from /proc/self/cgroup.
pub(crate) fn own_path(proc_cgroup: &str, controller: Option<&str>) -> Option<String> {
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_id, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let hit = match controller {
            None => ctrls.is_empty(),
            Some(c) => ctrls.split(',').any(|x| x == c),
        };
        if hit {
            return Some(path.to_string());
        }
    }
    None
}

/// A run's cgroup (one directory per v1 hierarchy, or one on v2). Removed on drop.
#[derive(Debug)]
pub struct RunCgroup {
    pub version: &'static str,
    /// Directories joined by the sandbox's pid 1.
    dirs: Vec<PathBuf>,
    /// Controllers applied, and where their files live.
    applied: Vec<(Controller, PathBuf)>,
    /// Limits that could not be applied because the role marked them optional.
    pub skipped: Vec<Controller>,
    cpuacct: Option<PathBuf>,
    removed: bool,
}

/// Where the run cgroups go and what may be skipped.
#[derive(Debug, Clone)]
pub struct Request {
    pub limits: Limits,
    /// A parent relative to the cgroup mount(s), given by `--cgroup-parent`.
    pub parent: Option<PathBuf>,
    pub optional: Vec<Mechanism>,
}

impl Request {
    fn optional(&self, c: Controller) -> bool {
        self.optional.contains(&Mechanism::Cgroup) || self.optional.contains(&c.mechanism())
    }
}

fn run_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("run-{}-{nanos:08x}", std::process::id())
}

/// Removes `run-PID-*` directories a launcher killed with SIGKILL left behind.
/// Its sandbox died with it (parent-death signal), so such a directory is
/// empty; an empty one whose launcher pid is gone and which is older than a
/// minute is stale. Nothing is killed here: a directory with processes in it
/// may belong to a launcher in another pid namespace.
///
/// A directory is stale only after a minute, so one process looks at a
/// parent at most once every 20 seconds (a long-lived owner creates a
/// cgroup for every prepared sandbox; its forks inherit the record).
pub(crate) fn remove_stale(parent: &Path) {
    static LOOKED: std::sync::Mutex<Vec<(PathBuf, std::time::Instant)>> =
        std::sync::Mutex::new(Vec::new());
    if let Ok(mut looked) = LOOKED.lock() {
        let now = std::time::Instant::now();
        looked.retain(|(_, at)| now.duration_since(*at) < STALE_LOOK_EVERY);
        if looked.iter().any(|(p, _)| p == parent) {
            return;
        }
        looked.push((parent.to_path_buf(), now));
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("run-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let path = e.path();
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        let empty =
            fs::read_to_string(path.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty());
        let old = fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60));
        if !alive && empty && old {
            let _ = fs::remove_dir(&path);
        }
    }
}

/// How often one process looks for stale run directories under one parent.
const STALE_LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

/// Kills whatever is left in a cgroup directory and removes it. The
/// common case, an empty cgroup, is one `rmdir`; only a busy one is killed
/// and tried again.
pub(crate) fn kill_and_remove(dir: &Path) -> std::io::Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
        Err(e) => return Err(e),
    }
    let kill_file = dir.join("cgroup.kill");
    // EBUSY while the last process is being reaped (a prepared sandbox's
    // pid 1 is reaped by the pool's owner, maybe not yet): retry soon, then
    // less often (50 us doubling to 10 ms, about 2 s in all).
    let mut pause = std::time::Duration::from_micros(50);
    for _ in 0..220 {
        if kill_file.exists() {
            let _ = fs::write(&kill_file, "1");
        } else if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
    fs::remove_dir(dir)
}

impl RunCgroup {
    /// Creates the run's cgroup with its limits, before any process exists.
    pub fn create(layout: &Layout, req: &Request) -> Result<RunCgroup, CgroupError> {
        match layout {
            Layout::V1 { mounts } => v1::create(mounts, req, &run_name()),
            Layout::V2 { mount } => v2::create(mount, req, &run_name()),
        }
    }

    /// Moves a process into every directory of the run's cgroup.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        for d in &self.dirs {
            let procs = d.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).map_err(io("joining", &procs))?;
        }
        Ok(())
    }

    /// The files the sandbox's pid 1 writes "0" to, to move itself in
    /// (`join_self_fds`, on descriptors the launcher opened): `tasks` on v1,
    /// `cgroup.procs` on v2. On v1, moving one thread that is the caller
    /// skips the global threadgroup lock, whose RCU grace period made a
    /// launcher's write of the child's pid to `cgroup.procs` cost up to
    /// ~15 ms; pid 1 is single-threaded, so its one thread is the whole process.
    /// The one directory of a cgroup v2 run cgroup, which a process can be
    /// made in (`clone3` with `CLONE_INTO_CGROUP`); none on v1.
    pub fn clone_dir(&self) -> Option<&Path> {
        match (self.version, self.dirs.as_slice()) {
            ("v2", [dir]) => Some(dir.as_path()),
            _ => None,
        }
    }

    pub fn join_files(&self) -> Vec<CString> {
        let file = if self.version == "v1" {
            "tasks"
        } else {
            "cgroup.procs"
        };
        self.dirs
            .iter()
            .filter_map(|d| CString::new(d.join(file).into_os_string().into_vec()).ok())
            .collect()
    }

    /// Reads what the run used.
    pub fn usage(&self) -> Usage {
        let find = |c: Controller| {
            self.applied
                .iter()
                .find(|(x, _)| *x == c)
                .map(|(_, p)| p.as_path())
        };
        match self.version {
            "v2" => v2::usage(self.dirs.first().map(PathBuf::as_path)),
            _ => v1::usage(
                find(Controller::Memory),
                find(Controller::Pids),
                self.cpuacct.as_deref(),
            ),
        }
    }

    /// The directories of the run's cgroup (one per v1 hierarchy).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The controllers applied, for the audit record.
    pub fn applied(&self) -> Vec<Controller> {
        self.applied.iter().map(|(c, _)| *c).collect()
    }

    /// Kills anything left and removes the directories.
    pub fn remove(mut self) -> std::io::Result<()> {
        self.removed = true;
        let mut first_err = None;
        for d in self.dirs.iter().rev() {
            if let Err(e) = kill_and_remove(d) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        if !self.removed {
            for d in self.dirs.iter().rev() {
                let _ = kill_and_remove(d);
            }
        }
    }
}

/// Moves the calling single-threaded process into every file of
/// `join_files` (writes "0", meaning "the caller"). Run in the setup process
/// before it unshares; an error is fatal to the run (the caller fails closed).
pub fn join_self(files: &[CString]) -> Result<(), (&CString, nix::Error)> {
    for f in files {
        let fd = open_join_file(f).map_err(|e| (f, e))?;
        write_zero(&fd).map_err(|e| (f, e))?;
    }
    Ok(())
}

/// Opens one of [`RunCgroup::join_files`] for writing.
pub fn open_join_file(f: &CString) -> nix::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{open, OFlag};
    let fd = open(
        f.as_c_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `fd` was just opened here and is owned by the OwnedFd alone.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Moves the calling single-threaded process into the cgroup of each file
/// already opened (by the launcher, for the sandbox's pid 1, or for a
/// prepared sandbox's call; see `super::fork` and `super::pool`). An error
/// is fatal to the run (the caller fails closed).
pub fn join_self_fds(fds: &[std::os::fd::OwnedFd]) -> nix::Result<()> {
    fds.iter().try_for_each(write_zero)
}

/// "0" in `tasks` or `cgroup.procs` is the writer itself.
fn write_zero(fd: &std::os::fd::OwnedFd) -> nix::Result<()> {
    match nix::unistd::write(fd, b"0") {
        Ok(1) => Ok(()),
        Ok(_) => Err(nix::Error::EIO),
        Err(e) => Err(e),
    }
}

/// Reads a single number from a cgroup file ("max" is None).
pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads `key value` lines (memory.events, cpu.stat, memory.oom_control).
pub(crate) fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some(key)).then(|| f.next()?.parse().ok())?
    })
}

/// A description of the cgroup state for `agentjail doctor`.
pub fn doctor_report(parent: Option<&Path>) -> (bool, String, Option<String>) {
    let Some(layout) = detect() else {
        return (
            false,
            "no cgroup hierarchy is mounted".into(),
            Some(
                "mount cgroup2 on /sys/fs/cgroup (or the v1 memory, cpu and pids hierarchies)"
                    .into(),
            ),
        );
    };
    let req = Request {
        limits: Limits {
            memory: 64 << 20,
            cpu_millis: 1000,
            pids: 64,
        },
        parent: parent.map(Path::to_path_buf),
        optional: vec![],
    };
    match RunCgroup::create(&layout, &req) {
        Ok(cg) => {
            let text = format!(
                "{}; a run cgroup with {} limits can be created here",
                layout_text(&layout),
                cg.applied()
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = cg.remove();
            (true, text, None)
        }
        Err(CgroupError::Unavailable {
            controller,
            why,
            fix,
        }) => (
            false,
            format!("{}; {controller}: {why}", layout_text(&layout)),
            // One line in the doctor's table.
            Some(fix.lines().collect::<Vec<_>>().join("; ")),
        ),
        Err(e) => (
            false,
            format!("{}; {e}", layout_text(&layout)),
            Some(delegation_fix(&layout)),
        ),
    }
}

fn layout_text(layout: &Layout) -> String {
    match layout {
        Layout::V2 { mount } => {
            let c = fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
            format!(
                "cgroup v2 at {} (controllers: {})",
                mount.display(),
                c.trim()
            )
        }
        Layout::V1 { mounts } => format!(
            "cgroup v1 ({})",
            mounts
                .iter()
                .map(|(c, p)| format!("{c} at {}", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The commands that give an unprivileged user a cgroup parent on this
/// host, one step a line.
pub fn delegation_fix(layout: &Layout) -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::getuid().to_string());
    match layout {
        Layout::V2 { .. } if nix::unistd::geteuid().is_root() => "the cgroup2 root holds processes, so it cannot hand controllers down (a container's cgroup namespace): move them into a leaf first, e.g. `mkdir /sys/fs/cgroup/init && for p in $(cat /sys/fs/cgroup/cgroup.procs); do echo $p > /sys/fs/cgroup/init/cgroup.procs; done`".to_string(),
        Layout::V2 { .. } => format!(
            "run agentjail alone in a cgroup delegated to you: systemd-run --user --scope -p Delegate=yes agentjail ...\n\
             or, as root: mkdir -p /sys/fs/cgroup/agentjail-{user}/shell && chown -R {user} /sys/fs/cgroup/agentjail-{user}\n\
             then move your shell into that `shell` leaf and pass --cgroup-parent agentjail-{user}"
        ),
        Layout::V1 { mounts } => format!(
            "as root, once: {}\n\
             then, as {user}: export AGENTJAIL_CGROUP_PARENT=agentjail-{user} (or pass --cgroup-parent agentjail-{user})",
            v1_commands(mounts, &format!("agentjail-{user}"), &user)
        ),
    }
}

/// The shell commands that make `name` under every v1 hierarchy and hand it
/// to `user`: a loop when the hierarchies share a parent directory.
fn v1_commands(mounts: &[(String, PathBuf)], name: &str, user: &str) -> String {
    let mut dirs: Vec<&Path> = mounts.iter().map(|(_, p)| p.as_path()).collect();
    dirs.dedup();
    let base = dirs.first().and_then(|d| d.parent());
    let leaves: Option<Vec<String>> = dirs
        .iter()
        .map(|d| {
            let leaf = d.file_name()?.to_str()?;
            let plain = leaf
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
            (d.parent() == base && plain).then(|| leaf.to_string())
        })
        .collect();
    match (base, leaves) {
        (Some(base), Some(leaves)) if leaves.len() > 1 => format!(
            "for c in {}; do mkdir -p {b}/$c/{name} && chown -R {user} {b}/$c/{name}; done",
            leaves.join(" "),
            b = base.display()
        ),
        _ => {
            let d: Vec<String> = dirs
                .iter()
                .map(|p| format!("{}/{name}", p.display()))
                .collect();
            format!("mkdir -p {d} && chown -R {user} {d}", d = d.join(" "))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_hierarchies_are_found_and_an_empty_unified_mount_ignored() {
        let Some(Layout::V1 { mounts }) = parse_layout(HYBRID) else {
            panic!("expected v1")
        };
        let names: Vec<&str> = mounts.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, ["cpu", "cpuacct", "memory", "pids"]);
    }

    #[test]
    fn unified_at_the_usual_place_is_v2() {
        let info = "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            parse_layout(info),
            Some(Layout::V2 {
                mount: "/sys/fs/cgroup".into()
            })
        );
    }

    #[test]
    fn a_kept_layout_is_checked_against_the_mounts() {
        // Not cgroup filesystems: the memo must not be trusted.
        assert!(!still_mounted(&Layout::V2 {
            mount: "/tmp".into()
        }));
        assert!(!still_mounted(&Layout::V1 {
            mounts: vec![("memory".into(), "/proc".into())]
        }));
        assert!(!still_mounted(&Layout::V2 {
            mount: "/no/such/dir".into()
        }));
        // The host's own layout, found twice (the second time from the memo),
        // is what the mount table says.
        let fresh = fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|t| parse_layout(&t));
        assert_eq!(detect(), fresh);
        assert_eq!(detect(), fresh);
        if let Some(l) = &fresh {
            assert!(still_mounted(l), "{l:?}");
        }
    }

    #[test]
    fn own_path_per_controller() {
        let pc = "9:name=systemd:/\n4:memory:/process_api/x\n1:cpu:/\n0::/user.slice/u\n";
        assert_eq!(
            own_path(pc, Some("memory")).as_deref(),
            Some("/process_api/x")
        );
        assert_eq!(own_path(pc, Some("cpu")).as_deref(), Some("/"));
        assert_eq!(own_path(pc, None).as_deref(), Some("/user.slice/u"));
        assert_eq!(own_path(pc, Some("pids")), None);
    }

    #[test]
    fn v1_fix_is_one_loop_over_the_hierarchies() {
        let Some(Layout::V1 { mounts }) = parse_layout(HYBRID) else {
            panic!("expected v1")
        };
        assert_eq!(
            v1_commands(&mounts, "agentjail-u", "u"),
            "for c in cpu cpuacct memory pids; do mkdir -p /sys/fs/cgroup/$c/agentjail-u && chown -R u /sys/fs/cgroup/$c/agentjail-u; done"
        );
        let scattered = vec![
            ("memory".to_string(), PathBuf::from("/a/memory")),
            ("pids".to_string(), PathBuf::from("/b/pids")),
        ];
        assert_eq!(
            v1_commands(&scattered, "x", "u"),
            "mkdir -p /a/memory/x /b/pids/x && chown -R u /a/memory/x /b/pids/x"
        );
    }

    #[test]
    fn the_fix_goes_below_the_one_line_reason() {
        let e = CgroupError::Unavailable {
            controller: "memory",
            why: "creating /x: Permission denied".into(),
            fix: "as root, once: mkdir /x\nthen: pass --cgroup-parent x".into(),
        };
        assert_eq!(
            e.to_string(),
            "cgroup memory controller unavailable: creating /x: Permission denied\n  fix: as root, once: mkdir /x\n  then: pass --cgroup-parent x"
        );
    }

    #[test]
    fn keyed_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("memory.events");
        fs::write(&p, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(read_keyed(&p, "oom_kill"), Some(1));
        assert_eq!(read_keyed(&p, "max"), Some(3));
        assert_eq!(read_keyed(&p, "absent"), None);
    }
}
