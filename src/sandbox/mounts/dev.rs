//! The sandbox's `/dev`: a small tmpfs with the host's null, zero, full,
//! random, urandom and tty bound in, its own devpts instance, a sized
//! `/dev/shm`, and the usual symlinks; read-only itself, every mount in it
//! nosuid and noexec.

use super::kernel::{mkdir, mkfile, set_attrs};
use super::root::bind_fd;
use super::sources::Sources;
use super::{io_step, step, SetupError, NEW_ROOT};
use crate::sandbox::plan::SandboxPlan;
use nix::mount::{mount, MsFlags};
use std::path::Path;

/// Builds `/dev` on its mount point (made with the root's).
pub(super) fn build_dev(plan: &SandboxPlan, src: &Sources) -> Result<(), SetupError> {
    let dev = Path::new(NEW_ROOT).join("dev");
    let fs = |fstype: &str, at: &Path, flags: MsFlags, data: &str| {
        mount(Some(fstype), at, Some(fstype), flags, Some(data)).map_err(step(format!(
            "mounting {fstype} on {}",
            at.display().to_string().replacen(NEW_ROOT, "", 1)
        )))
    };
    fs(
        "tmpfs",
        &dev,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "mode=0755,size=64k",
    )?;
    for (name, fd) in &src.dev {
        let t = dev.join(name);
        mkfile(&t).map_err(step(format!("creating mount point {}", t.display())))?;
        bind_fd(fd, &t, &format!("/dev/{name}"))?;
    }
    let pts = dev.join("pts");
    mkdir(&pts).map_err(step("creating /dev/pts"))?;
    fs(
        "devpts",
        &pts,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        &format!("newinstance,ptmxmode=0666,mode=0620,max={}", plan.max_ptys),
    )?;
    let shm = dev.join("shm");
    mkdir(&shm).map_err(step("creating /dev/shm"))?;
    fs(
        "tmpfs",
        &shm,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        &format!("mode=1777,size={}", plan.shm_size),
    )?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let at = dev.join(link);
        std::os::unix::fs::symlink(target, &at).map_err(io_step(format!(
            "creating symlink {} -> {target}",
            at.display()
        )))?;
    }
    // Every mount in /dev (the device binds; the tmpfs, pts and shm have
    // these already) nosuid and noexec; the /dev directory itself read-only,
    // pts and shm stay writable.
    let no_exec = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NOEXEC;
    set_attrs(&dev, no_exec, true).map_err(step("restricting the device nodes in /dev"))?;
    set_attrs(&dev, libc::MOUNT_ATTR_RDONLY, false).map_err(step("making /dev read-only"))
}
