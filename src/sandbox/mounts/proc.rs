//! The sandbox's `/proc` and its optional `/sys`: a fresh procfs (nosuid,
//! nodev, noexec) with the user namespace's limits set through it, the
//! entries that describe the host or the kernel masked (files behind the
//! host's `/dev/null`, directories behind an empty read-only tmpfs), and
//! `sys`, `sysrq-trigger`, `irq`, `bus`, `fs` bound read-only over
//! themselves; a read-only sysfs with its firmware and kernel-layout entries
//! masked the same way.
//!
//! The procfs root is listed once (one `getdents64`): its names and types
//! say which masks apply and what kind each is, and a symlink where a mask
//! or a read-only bind would go is refused; each mask is then one `mount`.
//! Nothing else can change the listing meanwhile: the procfs is this mount
//! namespace's own, and pid 1 is alone in it.

use super::kernel::{list_dir, open_beneath, open_dir, set_attrs, RO};
use super::sources::Sources;
use super::{io_step, step, SetupError, NEW_ROOT};
use crate::sandbox::plan::SandboxPlan;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

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
];

/// Masked once `sys` is read-only: a mask made before that bind (which is
/// recursive) would be copied into it, two mounts where one does.
const PROC_MASKED_IN_SYS: &[&str] = &["sys/kernel/random/boot_id"];

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

/// The flags of an empty mask directory's tmpfs.
const MASK_DIR_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Masks, at paths known to be a file or a directory and no symlink: files
/// behind the host's /dev/null; directories behind one empty read-only
/// tmpfs, mounted for the first and bound (with its flags) for the others.
struct Masker {
    null: String,
    empty_dir: Option<PathBuf>,
}

impl Masker {
    fn new(src: &Sources) -> Result<Masker, SetupError> {
        Ok(Masker {
            null: format!("/proc/self/fd/{}", src.null()?.as_raw_fd()),
            empty_dir: None,
        })
    }

    /// Masks what is at `at` (a path, or the descriptor path of what was
    /// checked); `named` is its path in the view, for the next directory mask.
    fn mask(
        &mut self,
        at: &Path,
        named: &Path,
        is_dir: bool,
        what: &str,
    ) -> Result<(), SetupError> {
        let r = match (is_dir, &self.empty_dir) {
            (false, _) => mount(
                Some(self.null.as_str()),
                at,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
            (true, Some(first)) => mount(
                Some(first.as_path()),
                at,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
            (true, None) => mount(
                Some("tmpfs"),
                at,
                Some("tmpfs"),
                MASK_DIR_FLAGS,
                Some("size=0,mode=0555"),
            ),
        };
        r.map_err(step(format!("masking {what}")))?;
        if is_dir && self.empty_dir.is_none() {
            self.empty_dir = Some(named.to_path_buf());
        }
        Ok(())
    }

    /// Masks `dir/name` found by opening it beneath `dir` (for nested names,
    /// which the listing of the top directory does not show), on the entry
    /// opened: absent needs nothing; a symlink is refused (CVE-2025-31133).
    fn mask_beneath(
        &mut self,
        dir: &OwnedFd,
        dir_path: &Path,
        what: &str,
        name: &str,
    ) -> Result<(), SetupError> {
        let target = match open_beneath(dir, name) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(step(format!("opening /{what}/{name}"))(e)),
        };
        let kind =
            super::kernel::file_type(&target).map_err(step(format!("stat of /{what}/{name}")))?;
        if kind == libc::S_IFLNK {
            return Err(step(format!("masking /{what}/{name}"))(Errno::ELOOP));
        }
        let at = PathBuf::from(format!("/proc/self/fd/{}", target.as_raw_fd()));
        self.mask(
            &at,
            &dir_path.join(name),
            kind == libc::S_IFDIR,
            &format!("/{what}/{name}"),
        )
    }
}

/// Sets the sandbox user namespace's own limits (`/proc/sys/user`, as seen
/// from inside it): inotify and fanotify from the plan, namespaces 0.
fn set_user_limits(plan: &SandboxPlan, proc_fd: &OwnedFd) -> Result<(), SetupError> {
    let user = open_beneath(proc_fd, "sys/user").map_err(step("opening /proc/sys/user"))?;
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
        let set = || format!("setting the user namespace's {name} to {v}");
        let c = std::ffi::CString::new(name).map_err(|_| step(set())(Errno::EINVAL))?;
        // SAFETY: openat with a descriptor we own and a NUL-terminated name;
        // the kernel keeps no pointer.
        let fd = unsafe {
            libc::openat(
                user.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            match Errno::last() {
                // A counter this kernel does not have limits nothing.
                Errno::ENOENT => continue,
                e => return Err(step(set())(e)),
            }
        }
        // SAFETY: openat returned a new descriptor that nothing else owns.
        let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        f.write_all(format!("{v}\n").as_bytes())
            .map_err(io_step(set()))?;
    }
    Ok(())
}

/// Builds `/proc` on its mount point (made with the root's): mounts it and
/// masks it; `before_limits` runs just before the
/// user namespace's limits are set (see `super::build_root`), and the
/// limits come before /proc/sys turns read-only.
pub(super) fn build_proc(
    plan: &SandboxPlan,
    src: &Sources,
    before_limits: &mut dyn FnMut(),
) -> Result<(), SetupError> {
    let proc_dir = Path::new(NEW_ROOT).join("proc");
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(""),
    )
    .map_err(step("mounting proc on /proc"))?;
    let proc_fd = open_dir(&proc_dir).map_err(step("opening the new /proc"))?;
    let listing = list_dir(&proc_fd).map_err(step("listing the new /proc"))?;
    let kind_of = |name: &str| {
        listing
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, t)| *t)
    };
    let mut masker = Masker::new(src)?;
    for name in PROC_MASKED.iter().chain(PROC_MASKED_HOST) {
        let what = format!("/proc/{name}");
        if name.contains('/') {
            masker.mask_beneath(&proc_fd, &proc_dir, "proc", name)?;
            continue;
        }
        match kind_of(name) {
            None => {}
            Some(libc::DT_LNK) => return Err(step(format!("masking {what}"))(Errno::ELOOP)),
            Some(libc::DT_UNKNOWN) => masker.mask_beneath(&proc_fd, &proc_dir, "proc", name)?,
            Some(t) => {
                let at = proc_dir.join(name);
                masker.mask(&at, &at, t == libc::DT_DIR, &what)?
            }
        }
    }
    before_limits();
    set_user_limits(plan, &proc_fd)?;
    for name in PROC_READ_ONLY {
        match kind_of(name) {
            None => continue,
            Some(libc::DT_LNK) => {
                return Err(step(format!("/proc/{name} is a symlink"))(Errno::ELOOP))
            }
            Some(_) => {}
        }
        let p = proc_dir.join(name);
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
    for name in PROC_MASKED_IN_SYS {
        masker.mask_beneath(&proc_fd, &proc_dir, "proc", name)?;
    }
    Ok(())
}

/// Mounts a read-only sysfs on `/sys` (its mount point made with the root's)
/// and masks its firmware and kernel-layout entries.
pub(super) fn build_sys(src: &Sources) -> Result<(), SetupError> {
    let sys = Path::new(NEW_ROOT).join("sys");
    mount(
        Some("sysfs"),
        &sys,
        Some("sysfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(""),
    )
    .map_err(step("mounting sysfs on /sys"))?;
    let sys_fd = open_dir(&sys).map_err(step("opening the new /sys"))?;
    let mut masker = Masker::new(src)?;
    for name in SYS_MASKED {
        masker.mask_beneath(&sys_fd, &sys, "sys", name)?;
    }
    Ok(())
}
