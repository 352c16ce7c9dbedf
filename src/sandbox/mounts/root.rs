//! The new root: a small tmpfs holding the system paths and the `/etc`
//! allow-list (read-only binds, or recreated symlinks), the generated `/etc`
//! files, the mount points of everything mounted later, then `/tmp`, `/dev`,
//! the plan's binds, `/proc` and `/sys`; then `pivot_root`.
//!
//! The root and every bind placed in it before the writable mounts exist are
//! made read-only (and nosuid, nodev) by one recursive `mount_setattr`; the
//! mount points of `/tmp`, `/dev`, `/proc`, `/sys` and of the plan's binds
//! that live in the root itself are created just before.

use super::kernel::{attach, mkdir, mkfile, set_attrs, RO, RW};
use super::sources::{Entry, Sources};
use super::{dev, io_step, proc, step, SetupError, NEW_ROOT};
use crate::sandbox::plan::{BindKind, NetworkMode, SandboxPlan, ETC_PATHS, SYSTEM_PATHS};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::lstat;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

pub(super) fn in_root(p: &Path) -> PathBuf {
    let rel = p.strip_prefix("/").unwrap_or(p);
    Path::new(NEW_ROOT).join(rel)
}

/// The directories this module made in the fresh root tmpfs: one that is
/// not listed does not exist there yet, so none is created twice.
#[derive(Default)]
struct Made(Vec<PathBuf>);

impl Made {
    /// Creates `dir` (inside the new root) and whichever of its parents are missing.
    fn dir_all(&mut self, dir: &Path) -> Result<(), SetupError> {
        if dir == Path::new(NEW_ROOT) || self.0.iter().any(|d| d == dir) {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.dir_all(parent)?;
        }
        mkdir(dir).map_err(step(format!("creating directory {}", dir.display())))?;
        self.0.push(dir.to_path_buf());
        Ok(())
    }

    fn parent_of(&mut self, path: &Path) -> Result<(), SetupError> {
        match path.parent() {
            Some(parent) => self.dir_all(parent),
            None => Ok(()),
        }
    }
}

/// Attaches a cloned tree (every source is one) at `target`.
pub(super) fn bind_fd(tree: &OwnedFd, target: &Path, what: &str) -> Result<(), SetupError> {
    attach(tree, target).map_err(step(format!("binding {what} on {}", target.display())))
}

/// Places a system or `/etc` entry; its read-only attributes come with the root's.
fn place_entry(made: &mut Made, e: &Entry) -> Result<(), SetupError> {
    match e {
        Entry::Symlink(p, target) => {
            let link = in_root(p);
            made.parent_of(&link)?;
            std::os::unix::fs::symlink(target, &link).map_err(io_step(format!(
                "creating symlink {} -> {}",
                link.display(),
                target.display()
            )))
        }
        Entry::Dir(p, fd) | Entry::File(p, fd) => {
            let t = in_root(p);
            if matches!(e, Entry::Dir(..)) {
                made.dir_all(&t)?;
            } else {
                made.parent_of(&t)?;
                mkfile(&t).map_err(step(format!("creating mount point {}", t.display())))?;
            }
            bind_fd(fd, &t, &p.display().to_string())
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
                let made = if i + 1 < comps.len() || is_dir {
                    mkdir(&at)
                } else {
                    mkfile(&at)
                };
                made.map_err(step(format!("creating mount point {}", at.display())))?;
            }
            Err(e) => return Err(step(format!("stat of {}", at.display()))(e)),
        }
    }
    Ok(at)
}

/// Is this bind's target in the root tmpfs itself, with no other mount of
/// the view on its path (so its mount point must exist before the root is
/// read-only)? Targets under `/tmp`, a system path, an `/etc` entry or
/// another bind get theirs when they are bound, as before.
fn lives_in_root(target: &Path, plan: &SandboxPlan) -> bool {
    let mounted = ["/tmp", "/dev", "/proc", "/sys"]
        .iter()
        .chain(SYSTEM_PATHS)
        .chain(ETC_PATHS)
        .any(|m| target.starts_with(m));
    let under_bind = plan
        .binds
        .iter()
        .any(|b| b.target != target && target.starts_with(&b.target));
    !mounted && !under_bind
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

fn write_file(path: &Path, text: &str) -> Result<(), SetupError> {
    std::fs::write(path, text).map_err(io_step(format!("writing {}", path.display())))
}

/// Does the plan mount a `/sys` (sysfs needs a network namespace of its own)?
pub(super) fn mounts_sys(plan: &SandboxPlan) -> bool {
    plan.sys && plan.network == NetworkMode::None
}

/// Builds the whole view and pivots into it; `before_limits` runs just
/// before the user namespace's limits are set in the new /proc (where pid 1
/// enters a network namespace made beside the build, joins a late cgroup
/// and unshares its cgroup namespace: what must precede those limits).
pub fn build_root(
    plan: &SandboxPlan,
    src: &Sources,
    before_limits: &mut dyn FnMut(),
) -> Result<(), SetupError> {
    let root = Path::new(NEW_ROOT);
    mount_fs(
        "tmpfs",
        root,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        "mode=0755,size=1m",
    )?;
    let mut made = Made::default();
    // System paths and the /etc allow-list.
    for e in src.system.iter().chain(&src.etc) {
        place_entry(&mut made, e)?;
    }
    made.dir_all(&root.join("etc"))?;
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
    // Mount points of what comes after the root turns read-only.
    let mut points = vec!["tmp", "dev", "proc"];
    if mounts_sys(plan) {
        points.push("sys");
    }
    for p in points {
        made.dir_all(&root.join(p))?;
    }
    let mut targets: Vec<Option<PathBuf>> = Vec::with_capacity(src.binds.len());
    for (b, _, is_dir) in &src.binds {
        targets.push(match lives_in_root(&b.target, plan) {
            true => Some(bind_target(&b.target, *is_dir)?),
            false => None,
        });
    }
    // The root, the system paths and /etc: read-only, no setuid, no devices.
    set_attrs(root, RO, true).map_err(step("making / read-only"))?;
    // /tmp: sized, no devices, no setuid.
    mount_fs(
        "tmpfs",
        &root.join("tmp"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        &format!("mode=1777,size={}", plan.tmp_size),
    )?;
    dev::build_dev(plan, src)?;
    // Profile and parameter binds, shortest target first.
    for ((b, fd, is_dir), made_target) in src.binds.iter().zip(targets) {
        let t = match made_target {
            Some(t) => t,
            None => bind_target(&b.target, *is_dir)?,
        };
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
    proc::build_proc(plan, src, before_limits)?;
    if mounts_sys(plan) {
        proc::build_sys(src)?;
    }
    pivot(root)
}

/// pivot_root into the new root (already read-only) and detach the old one.
fn pivot(root: &Path) -> Result<(), SetupError> {
    nix::unistd::chdir(root).map_err(step("entering the new root"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one ...
    nix::unistd::pivot_root(".", ".").map_err(step("pivot_root into the new root"))?;
    // ... so it can be detached without a directory for it.
    umount2(".", MntFlags::MNT_DETACH).map_err(step("detaching the old root"))?;
    nix::unistd::chdir("/").map_err(step("entering /"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::plan::{tests_support::empty_plan, Bind};

    #[test]
    fn targets_map_into_the_new_root() {
        assert_eq!(in_root(Path::new("/usr")), PathBuf::from("/tmp/usr"));
        assert_eq!(
            in_root(Path::new("/etc/ssl/certs")),
            PathBuf::from("/tmp/etc/ssl/certs")
        );
    }

    #[test]
    fn only_targets_with_no_mount_on_their_path_live_in_the_root() {
        let mut plan = empty_plan();
        for t in ["/work", "/work/cache", "/tmp/out", "/opt/tools"] {
            plan.binds.push(Bind {
                source: "/srv".into(),
                target: t.into(),
                writable: false,
                kind: BindKind::Path,
            });
        }
        let lives = |t: &str| lives_in_root(Path::new(t), &plan);
        assert!(lives("/work"));
        assert!(lives("/opt/tools"));
        assert!(!lives("/work/cache"), "inside another bind");
        assert!(!lives("/tmp/out"), "inside /tmp");
        assert!(!lives("/usr/local/x"), "inside a system path");
        assert!(!lives("/etc/ssl/certs/x"), "inside an /etc bind");
        assert!(lives("/etc/x"), "/etc itself is the root's");
    }
}
