//! The filesystem view: a new root on tmpfs holding read-only binds of the
//! system paths and the few `/etc` files programs need, a sized `/tmp`, a
//! minimal `/dev`, a fresh masked `/proc`, a read-only `/sys`; then
//! `pivot_root` and a read-only `/`.
//!
//! Runs in the sandbox's pid 1 after the namespaces exist. Every source (the
//! system paths, `/etc` entries, device nodes and binds) is opened first (no
//! symlink anywhere on its path) and cloned with `open_tree` into a detached
//! mount tree before the new root exists; each tree is then moved into place.
//! So what was checked is what gets mounted, and no bind (of `/tmp`, of `/`,
//! of any directory above the new root's mount point) can show the sandbox's
//! own root: the trees were copied before it was there.
//!
//! Size: about 750 lines: the mount steps in the order they must run, each with the
//! open-then-clone checks that make it safe beside it. A split by phase (sources,
//! /dev and /proc, pivot) belongs with issue 15's mount-view work, still open.

use super::plan::NetworkMode;
use super::plan::{Bind, BindKind, SandboxPlan, ETC_PATHS, SYSTEM_PATHS};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, lstat};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// Where the new root is assembled, inside the sandbox's own mount namespace.
const NEW_ROOT: &str = "/tmp";

/// Device nodes bound from the host into `/dev`.
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// /proc entries hidden behind /dev/null (files) or an empty read-only tmpfs (directories).
const PROC_MASKED: &[&str] = &[
    "kcore",
    "keys",
    "key-users",
    "timer_list",
    "sched_debug",
    "latency_stats",
    "kallsyms",
    "kpagecount",
    "kpageflags",
    "kpagecgroup",
    "acpi",
    "scsi",
    "asound",
    "firmware",
];

/// More /proc files that describe the host rather than the sandbox: the
/// kernel's command line and configuration, its memory layout and zones, its
/// modules, I/O map and devices, and the locks and swap of every process.
const PROC_MASKED_HOST: &[&str] = &[
    "cmdline",
    "config.gz",
    "zoneinfo",
    "buddyinfo",
    "pagetypeinfo",
    "vmallocinfo",
    "slabinfo",
    "iomem",
    "ioports",
    "modules",
    "mtrr",
    "dma",
    "locks",
    "swaps",
    "partitions",
    "diskstats",
    "schedstat",
    "pressure",
    "sys/kernel/random/boot_id",
];

/// sysfs entries masked when a plan mounts /sys: the crash-dump layout, the
/// kernel's build notes, firmware tables (ACPI, DMI, EFI), the machine's DMI ids.
const SYS_MASKED: &[&str] = &[
    "kernel/vmcoreinfo",
    "kernel/notes",
    "kernel/boot_params",
    "kernel/debug",
    "kernel/security",
    "firmware",
    "devices/virtual/dmi",
    "class/dmi",
];

/// The namespace counters of the sandbox's user namespace, all set to 0:
/// the tool may create no namespace (seccomp denies it too).
const USER_NS_COUNTERS: &[&str] = &[
    "max_user_namespaces",
    "max_mnt_namespaces",
    "max_pid_namespaces",
    "max_net_namespaces",
    "max_ipc_namespaces",
    "max_uts_namespaces",
    "max_cgroup_namespaces",
    "max_time_namespaces",
];

/// /proc entries left visible but read-only.
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];

const AT_RECURSIVE: libc::c_uint = 0x8000;

/// A failed step and the OS error it met (its source, printed after it in
/// an error chain).
#[derive(Debug, thiserror::Error)]
#[error("{step}")]
pub struct SetupError {
    pub step: String,
    pub source: Errno,
}

fn step(step: impl Into<String>) -> impl FnOnce(Errno) -> SetupError {
    let step = step.into();
    move |source| SetupError { step, source }
}

/// A system or `/etc` entry as found on the host.
enum Entry {
    Dir(PathBuf, OwnedFd),
    File(PathBuf, OwnedFd),
    Symlink(PathBuf, PathBuf),
}

/// What the launcher saw of a bind source (device, inode and file type), to detect a swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceId {
    pub dev: u64,
    pub ino: u64,
    /// `st_mode & S_IFMT`.
    pub file_type: u32,
}

/// Checks a bind source in the launcher: it must exist and no component of
/// its path may be a symlink. Returns its identity for the re-check.
pub fn check_bind_source(path: &Path) -> Result<SourceId, SetupError> {
    let fd =
        open_no_symlinks(path).map_err(step(format!("opening bind source {}", path.display())))?;
    let st =
        fstat(fd.as_raw_fd()).map_err(step(format!("stat of bind source {}", path.display())))?;
    Ok(SourceId {
        dev: st.st_dev,
        ino: st.st_ino,
        file_type: st.st_mode & libc::S_IFMT,
    })
}

/// openat2(2) as O_PATH relative to `dir` with the `resolve` restrictions.
fn open_path_at(dir: RawFd, path: &CString, extra: i32, resolve: u64) -> nix::Result<OwnedFd> {
    // SAFETY: open_how is plain old data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC | extra) as u64;
    how.resolve = resolve;
    // SAFETY: `path` is a valid NUL-terminated string and `how` a valid
    // open_how whose size is passed; the kernel does not keep either pointer.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Opens a path as O_PATH, refusing a symlink at any component (ELOOP).
fn open_no_symlinks(path: &Path) -> nix::Result<OwnedFd> {
    let resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    open_path_at(libc::AT_FDCWD, &cstr(path)?, 0, resolve)
}

/// Opens a path beneath `dir` as O_PATH, refusing any symlink on the way.
fn open_beneath(dir: &OwnedFd, rel: &str) -> nix::Result<OwnedFd> {
    let c = CString::new(rel).map_err(|_| Errno::EINVAL)?;
    let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    open_path_at(dir.as_raw_fd(), &c, libc::O_NOFOLLOW, resolve)
}

/// Clones the mount tree at `fd` (recursively) into a detached tree, as it
/// is now: mounts made later where it came from do not appear in it.
fn snapshot(fd: &OwnedFd) -> nix::Result<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | libc::AT_EMPTY_PATH as libc::c_uint
        | AT_RECURSIVE;
    // SAFETY: open_tree with a descriptor we own, an empty NUL-terminated path
    // and flags; the kernel keeps no pointer.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Attaches a detached tree from [`snapshot`] at `target`.
fn attach(tree: &OwnedFd, target: &Path) -> nix::Result<()> {
    let t = cstr(target)?;
    // SAFETY: move_mount from a tree descriptor we own (empty path) to a
    // NUL-terminated target path; the kernel keeps no pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

fn cstr(path: &Path) -> nix::Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn in_root(p: &Path) -> PathBuf {
    let rel = p.strip_prefix("/").unwrap_or(p);
    Path::new(NEW_ROOT).join(rel)
}

/// Sets mount attributes (only ever adding restrictions).
fn set_attrs(path: &Path, attrs: u64, recursive: bool) -> nix::Result<()> {
    let c = cstr(path)?;
    let attr = libc::mount_attr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: valid path string and mount_attr with its size; no pointer is retained.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

const RO: u64 = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
const RW: u64 = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

fn mkdir_p(path: &Path) -> Result<(), SetupError> {
    std::fs::create_dir_all(path).map_err(|e| SetupError {
        step: format!("creating directory {}", path.display()),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

fn touch(path: &Path) -> Result<(), SetupError> {
    if let Some(parent) = path.parent() {
        mkdir_p(parent)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|e| SetupError {
            step: format!("creating mount point {}", path.display()),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
}

fn write_file(path: &Path, text: &str) -> Result<(), SetupError> {
    std::fs::write(path, text).map_err(|e| SetupError {
        step: format!("writing {}", path.display()),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

fn symlink(target: &Path, link: &Path) -> Result<(), SetupError> {
    if let Some(parent) = link.parent() {
        mkdir_p(parent)?;
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| SetupError {
        step: format!(
            "creating symlink {} -> {}",
            link.display(),
            target.display()
        ),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

/// Looks at a host path for the default view: absent, symlink (recreated),
/// directory or file (bound).
fn probe_entry(path: &Path) -> Result<Option<Entry>, SetupError> {
    let st = match lstat(path) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(step(format!("stat of {}", path.display()))(e)),
    };
    let kind = st.st_mode & libc::S_IFMT;
    if kind == libc::S_IFLNK {
        let target = std::fs::read_link(path).map_err(|e| SetupError {
            step: format!("reading symlink {}", path.display()),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        return Ok(Some(Entry::Symlink(path.to_path_buf(), target)));
    }
    let fd = open_no_symlinks(path).map_err(step(format!("opening {}", path.display())))?;
    let fd = snapshot(&fd).map_err(step(format!("cloning the mount of {}", path.display())))?;
    Ok(Some(if kind == libc::S_IFDIR {
        Entry::Dir(path.to_path_buf(), fd)
    } else {
        Entry::File(path.to_path_buf(), fd)
    }))
}

/// Everything opened on the host before the view changes.
pub struct Sources {
    system: Vec<Entry>,
    etc: Vec<Entry>,
    binds: Vec<(Bind, OwnedFd, bool)>,
    dev: Vec<(&'static str, OwnedFd)>,
}

/// Opens every source; a bind source whose identity differs from what the
/// launcher checked is refused.
pub fn open_sources(plan: &SandboxPlan, checked: &[SourceId]) -> Result<Sources, SetupError> {
    // Nothing done here may propagate back to the host, nor into the clones.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(step("making / private"))?;
    let mut system = Vec::new();
    for p in SYSTEM_PATHS {
        system.extend(probe_entry(Path::new(p))?);
    }
    let mut etc = Vec::new();
    for p in ETC_PATHS {
        etc.extend(probe_entry(Path::new(p))?);
    }
    let mut binds = Vec::new();
    for (b, want) in plan.binds.iter().zip(checked) {
        let fd = open_no_symlinks(&b.source)
            .map_err(step(format!("opening bind source {}", b.source.display())))?;
        let st = fstat(fd.as_raw_fd())
            .map_err(step(format!("stat of bind source {}", b.source.display())))?;
        let file_type = st.st_mode & libc::S_IFMT;
        if st.st_dev != want.dev || st.st_ino != want.ino || file_type != want.file_type {
            return Err(SetupError {
                step: format!("bind source {} changed during setup", b.source.display()),
                source: Errno::ESTALE,
            });
        }
        if !b.kind.accepts(file_type) {
            return Err(SetupError {
                step: format!(
                    "bind source {} is a {}, not what the plan grants",
                    b.source.display(),
                    BindKind::type_name(file_type)
                ),
                source: Errno::EPERM,
            });
        }
        let tree =
            snapshot(&fd).map_err(step(format!("cloning the mount of {}", b.source.display())))?;
        binds.push((b.clone(), tree, file_type == libc::S_IFDIR));
    }
    let mut dev = Vec::new();
    for n in DEV_NODES {
        let p = PathBuf::from(format!("/dev/{n}"));
        let fd = open_no_symlinks(&p).map_err(step(format!("opening {}", p.display())))?;
        let fd = snapshot(&fd).map_err(step(format!("cloning the mount of {}", p.display())))?;
        dev.push((*n, fd));
    }
    Ok(Sources {
        system,
        etc,
        binds,
        dev,
    })
}

/// Attaches a cloned tree (every source is one) at `target`.
fn bind_fd(tree: &OwnedFd, target: &Path, what: &str) -> Result<(), SetupError> {
    attach(tree, target).map_err(step(format!("binding {what} on {}", target.display())))
}

fn place_entry(e: &Entry) -> Result<(), SetupError> {
    match e {
        Entry::Symlink(p, target) => symlink(target, &in_root(p)),
        Entry::Dir(p, fd) | Entry::File(p, fd) => {
            let t = in_root(p);
            if matches!(e, Entry::Dir(..)) {
                mkdir_p(&t)?;
            } else {
                touch(&t)?;
            }
            bind_fd(fd, &t, &p.display().to_string())?;
            set_attrs(&t, RO, true).map_err(step(format!("making {} read-only", p.display())))
        }
    }
}

/// Creates the mount point for a bind target, refusing a symlink on the way.
fn bind_target(target: &Path, is_dir: bool) -> Result<PathBuf, SetupError> {
    let mut at = PathBuf::from(NEW_ROOT);
    let comps: Vec<_> = target
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    for (i, c) in comps.iter().enumerate() {
        at.push(c);
        match lstat(&at) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                return Err(SetupError {
                    step: format!(
                        "bind target {} crosses a symlink at {}",
                        target.display(),
                        at.display()
                    ),
                    source: Errno::ELOOP,
                })
            }
            Ok(_) => {}
            Err(Errno::ENOENT) => {
                if i + 1 < comps.len() || is_dir {
                    mkdir_p(&at)?;
                } else {
                    touch(&at)?;
                }
            }
            Err(e) => return Err(step(format!("stat of {}", at.display()))(e)),
        }
    }
    Ok(at)
}

fn mount_fs(fstype: &str, target: &Path, flags: MsFlags, data: &str) -> Result<(), SetupError> {
    mount(Some(fstype), target, Some(fstype), flags, Some(data)).map_err(step(format!(
        "mounting {fstype} on {}",
        target.display().to_string().replacen(NEW_ROOT, "", 1)
    )))
}

fn passwd(plan: &SandboxPlan) -> String {
    let mut s = String::from("root:x:0:0:root:/root:/usr/sbin/nologin\n");
    if plan.uid == 65534 {
        s.push_str("nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n");
    } else {
        s.push_str(&format!(
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nagent:x:{}:{}:agent:/tmp:/usr/sbin/nologin\n",
            plan.uid, plan.gid
        ));
    }
    s
}

fn group(plan: &SandboxPlan) -> String {
    let mut s = String::from("root:x:0:\nnogroup:x:65534:\n");
    if plan.gid != 65534 {
        s.push_str(&format!("agent:x:{}:\n", plan.gid));
    }
    s
}

/// Builds the whole view and pivots into it.
pub fn build_root(plan: &SandboxPlan, src: &Sources) -> Result<(), SetupError> {
    let root = Path::new(NEW_ROOT);
    mount_fs(
        "tmpfs",
        root,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        "mode=0755,size=1m",
    )?;
    // System paths and the /etc allow-list, read-only.
    for e in src.system.iter().chain(&src.etc) {
        place_entry(e)?;
    }
    mkdir_p(&root.join("etc"))?;
    write_file(&root.join("etc/passwd"), &passwd(plan))?;
    write_file(&root.join("etc/group"), &group(plan))?;
    write_file(
        &root.join("etc/hosts"),
        &format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{}\n",
            plan.hostname
        ),
    )?;
    write_file(&root.join("etc/hostname"), &format!("{}\n", plan.hostname))?;
    // /tmp: sized, no devices, no setuid.
    let tmp = root.join("tmp");
    mkdir_p(&tmp)?;
    mount_fs(
        "tmpfs",
        &tmp,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        &format!("mode=1777,size={}", plan.tmp_size),
    )?;
    build_dev(plan, src)?;
    // Profile and parameter binds, shortest target first.
    for (b, fd, is_dir) in &src.binds {
        let t = bind_target(&b.target, *is_dir)?;
        bind_fd(fd, &t, &b.source.display().to_string())?;
        // Only a bind granted as a device keeps device access.
        let (attrs, what) = match (b.writable, b.kind == BindKind::Device) {
            (true, false) => (RW, "nosuid"),
            (false, false) => (RO, "read-only"),
            (true, true) => (libc::MOUNT_ATTR_NOSUID, "nosuid"),
            (false, true) => (
                libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID,
                "read-only",
            ),
        };
        set_attrs(&t, attrs, true)
            .map_err(step(format!("making {} {what}", b.target.display())))?;
    }
    build_proc(plan, src)?;
    // /sys only when the plan asks (sysfs needs a network namespace of its own).
    if plan.sys && plan.network == NetworkMode::None {
        let sys = root.join("sys");
        mkdir_p(&sys)?;
        mount_fs(
            "sysfs",
            &sys,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            "",
        )?;
        let sys_fd = open_no_symlinks(&sys).map_err(step("opening the new /sys"))?;
        for name in SYS_MASKED {
            mask(&sys_fd, "sys", name, null_of(src)?)?;
        }
    }
    pivot(root)
}

fn build_dev(plan: &SandboxPlan, src: &Sources) -> Result<(), SetupError> {
    let dev = Path::new(NEW_ROOT).join("dev");
    mkdir_p(&dev)?;
    mount_fs(
        "tmpfs",
        &dev,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "mode=0755,size=64k",
    )?;
    for (name, fd) in &src.dev {
        let t = dev.join(name);
        touch(&t)?;
        bind_fd(fd, &t, &format!("/dev/{name}"))?;
        set_attrs(&t, libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NOEXEC, false)
            .map_err(step(format!("restricting /dev/{name}")))?;
    }
    let pts = dev.join("pts");
    mkdir_p(&pts)?;
    mount_fs(
        "devpts",
        &pts,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        &format!("newinstance,ptmxmode=0666,mode=0620,max={}", plan.max_ptys),
    )?;
    symlink(Path::new("pts/ptmx"), &dev.join("ptmx"))?;
    let shm = dev.join("shm");
    mkdir_p(&shm)?;
    mount_fs(
        "tmpfs",
        &shm,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        &format!("mode=1777,size={}", plan.shm_size),
    )?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        if link != "core" {
            symlink(Path::new(target), &dev.join(link))?;
        }
    }
    // The /dev directory itself is read-only; pts and shm stay writable.
    set_attrs(&dev, libc::MOUNT_ATTR_RDONLY, false).map_err(step("making /dev read-only"))
}

/// The host's /dev/null, opened before the view changed.
fn null_of(src: &Sources) -> Result<&OwnedFd, SetupError> {
    src.dev
        .iter()
        .find(|(n, _)| *n == "null")
        .map(|(_, fd)| fd)
        .ok_or(SetupError {
            step: "finding /dev/null".into(),
            source: Errno::ENOENT,
        })
}

/// Hides `dir/name` (inside the fresh `what` mount at `dir`): a file behind
/// /dev/null, a directory behind an empty read-only tmpfs. Absent entries
/// need nothing; a symlink is refused (CVE-2025-31133).
fn mask(dir: &OwnedFd, what: &str, name: &str, null: &OwnedFd) -> Result<(), SetupError> {
    let target = match open_beneath(dir, name) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(step(format!("opening /{what}/{name}"))(e)),
    };
    let st = fstat(target.as_raw_fd()).map_err(step(format!("stat of /{what}/{name}")))?;
    let at = fd_path(&target);
    let r = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        mount(
            Some("tmpfs"),
            at.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=0,mode=0555"),
        )
    } else if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        Err(Errno::ELOOP)
    } else {
        mount(
            Some(fd_path(null).as_str()),
            at.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    r.map_err(step(format!("masking /{what}/{name}")))
}

/// Sets the sandbox user namespace's own limits (`/proc/sys/user`, as seen
/// from inside it): inotify and fanotify from the plan, namespaces 0.
fn set_user_limits(plan: &SandboxPlan, proc_dir: &Path) -> Result<(), SetupError> {
    let u = &plan.user_limits;
    let values = [
        ("max_inotify_instances", u.inotify_instances),
        ("max_inotify_watches", u.inotify_watches),
        ("max_fanotify_groups", u.fanotify_groups),
        ("max_fanotify_marks", u.fanotify_marks),
    ]
    .into_iter()
    .chain(USER_NS_COUNTERS.iter().map(|n| (*n, 0)));
    for (name, v) in values {
        let p = proc_dir.join("sys/user").join(name);
        match std::fs::write(&p, format!("{v}\n")) {
            Ok(()) => {}
            // A counter this kernel does not have limits nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SetupError {
                    step: format!("setting the user namespace's {name} to {v}"),
                    source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                })
            }
        }
    }
    Ok(())
}

fn build_proc(plan: &SandboxPlan, src: &Sources) -> Result<(), SetupError> {
    let proc_dir = Path::new(NEW_ROOT).join("proc");
    mkdir_p(&proc_dir)?;
    mount_fs(
        "proc",
        &proc_dir,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        "",
    )?;
    set_user_limits(plan, &proc_dir)?;
    let proc_fd = open_no_symlinks(&proc_dir).map_err(step("opening the new /proc"))?;
    let null = null_of(src)?;
    for name in PROC_MASKED.iter().chain(PROC_MASKED_HOST) {
        mask(&proc_fd, "proc", name, null)?;
    }
    for name in PROC_READ_ONLY {
        let p = proc_dir.join(name);
        match lstat(&p) {
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(step(format!("stat of /proc/{name}"))(e)),
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                return Err(step(format!("/proc/{name} is a symlink"))(Errno::ELOOP))
            }
            Ok(_) => {}
        }
        mount(
            Some(&p),
            &p,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(step(format!("binding /proc/{name}")))?;
        set_attrs(&p, RO | libc::MOUNT_ATTR_NOEXEC, true)
            .map_err(step(format!("making /proc/{name} read-only")))?;
    }
    Ok(())
}

/// pivot_root into the new root, detach the old one, make `/` read-only.
fn pivot(root: &Path) -> Result<(), SetupError> {
    nix::unistd::chdir(root).map_err(step("entering the new root"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one ...
    nix::unistd::pivot_root(".", ".").map_err(step("pivot_root into the new root"))?;
    // ... so it can be detached without a directory for it.
    umount2(".", MntFlags::MNT_DETACH).map_err(step("detaching the old root"))?;
    nix::unistd::chdir("/").map_err(step("entering /"))?;
    set_attrs(Path::new("/"), RO, false).map_err(step("making / read-only"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_into_the_new_root() {
        assert_eq!(in_root(Path::new("/usr")), PathBuf::from("/tmp/usr"));
        assert_eq!(
            in_root(Path::new("/etc/ssl/certs")),
            PathBuf::from("/tmp/etc/ssl/certs")
        );
    }

    #[test]
    fn a_symlinked_source_is_refused() {
        let dir = std::env::temp_dir().join(format!("aj-mounts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/usr", &link).ok();
        assert!(check_bind_source(&link).is_err());
        assert!(check_bind_source(&link.join("bin")).is_err());
        assert!(check_bind_source(Path::new("/usr")).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
