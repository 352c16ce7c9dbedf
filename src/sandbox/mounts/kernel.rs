//! Thin wrappers of the system calls the view is built with: `openat2` with
//! its resolve restrictions, the mount API (`open_tree`, `move_mount`,
//! `mount_setattr`), `getdents64`, and the `*at` creation calls. Each is one
//! system call; none creates anything its caller did not name.

use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const AT_RECURSIVE: libc::c_uint = 0x8000;

/// Read-only, no setuid, no devices: the system paths, `/etc`, read-only binds.
pub(super) const RO: u64 =
    libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
/// Writable, no setuid, no devices.
pub(super) const RW: u64 = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

pub(super) fn cstr(path: &Path) -> nix::Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)
}

/// openat2(2) relative to `dir` with `flags` (O_CLOEXEC added) and the `resolve` restrictions.
pub(super) fn open_at(
    dir: RawFd,
    path: &CString,
    flags: i32,
    resolve: u64,
) -> nix::Result<OwnedFd> {
    // SAFETY: open_how is plain old data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_CLOEXEC | flags) as u64;
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

const NO_LINKS: u64 = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

/// Opens a path as O_PATH, refusing a symlink at any component (ELOOP).
pub(super) fn open_no_symlinks(path: &Path) -> nix::Result<OwnedFd> {
    open_at(libc::AT_FDCWD, &cstr(path)?, libc::O_PATH, NO_LINKS)
}

/// Opens a directory for reading (listing, and as the base of `*at` calls),
/// refusing a symlink at any component.
pub(super) fn open_dir(path: &Path) -> nix::Result<OwnedFd> {
    open_at(
        libc::AT_FDCWD,
        &cstr(path)?,
        libc::O_RDONLY | libc::O_DIRECTORY,
        NO_LINKS,
    )
}

/// Opens a path beneath `dir` as O_PATH, refusing any symlink on the way;
/// a symlink as the last component is returned as itself (O_NOFOLLOW), for
/// the caller to refuse after a stat.
pub(super) fn open_beneath(dir: &OwnedFd, rel: &str) -> nix::Result<OwnedFd> {
    let c = CString::new(rel).map_err(|_| Errno::EINVAL)?;
    let resolve = libc::RESOLVE_BENEATH | NO_LINKS;
    open_at(
        dir.as_raw_fd(),
        &c,
        libc::O_PATH | libc::O_NOFOLLOW,
        resolve,
    )
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached recursive copy of the mount
/// tree at `dir`/`name` (`name` empty: at `dir` itself), as it is now: mounts
/// made later where it came from do not appear in it. A symlink as `name` is
/// not followed.
pub(super) fn clone_tree(dir: RawFd, name: &CString) -> nix::Result<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | AT_RECURSIVE;
    flags |= if name.is_empty() {
        libc::AT_EMPTY_PATH as libc::c_uint
    } else {
        libc::AT_SYMLINK_NOFOLLOW as libc::c_uint
    };
    // SAFETY: open_tree with a descriptor, a NUL-terminated path and flags;
    // the kernel keeps no pointer.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, dir, name.as_ptr(), flags) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Clones the mount tree at the descriptor `fd` (see [`clone_tree`]).
pub(super) fn snapshot(fd: &OwnedFd) -> nix::Result<OwnedFd> {
    clone_tree(fd.as_raw_fd(), &CString::default())
}

/// Attaches a detached tree from [`clone_tree`] at `target`.
pub(super) fn attach(tree: &OwnedFd, target: &Path) -> nix::Result<()> {
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

/// Sets mount attributes (only ever adding restrictions), on the mount at
/// `path` alone or, `recursive`, on every mount below it too.
pub(super) fn set_attrs(path: &Path, attrs: u64, recursive: bool) -> nix::Result<()> {
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

/// The `st_mode & S_IFMT` of `fd` itself.
pub(super) fn file_type(fd: &OwnedFd) -> nix::Result<u32> {
    nix::sys::stat::fstat(fd.as_raw_fd()).map(|st| st.st_mode & libc::S_IFMT)
}

/// The `st_mode & S_IFMT` of `dir`/`name`, not following a symlink; None if absent.
pub(super) fn type_at(dir: &OwnedFd, name: &CString) -> nix::Result<Option<u32>> {
    let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    match nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name.as_c_str(), flags) {
        Ok(st) => Ok(Some(st.st_mode & libc::S_IFMT)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One new directory (its parent must exist).
pub(super) fn mkdir(path: &Path) -> nix::Result<()> {
    nix::unistd::mkdir(path, Mode::from_bits_truncate(0o777))
}

/// One new empty regular file, a mount point for a file bind (one call, no descriptor).
pub(super) fn mkfile(path: &Path) -> nix::Result<()> {
    nix::sys::stat::mknod(path, SFlag::S_IFREG, Mode::from_bits_truncate(0o666), 0)
}

/// The entries of the directory open at `dir` with their `d_type`s.
pub(super) fn list_dir(dir: &OwnedFd) -> nix::Result<Vec<(Vec<u8>, u8)>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        // SAFETY: getdents64 writes at most `buf.len()` bytes into `buf`,
        // which lives across the call; the kernel keeps no pointer.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            return Ok(out);
        }
        let mut at = 0usize;
        // Each record: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name (NUL-terminated).
        while at + 19 <= n as usize {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen < 19 || at + reclen > n as usize {
                return Err(Errno::EIO);
            }
            let name = &buf[at + 19..at + reclen];
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            out.push((name[..len].to_vec(), buf[at + 18]));
            at += reclen;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_names_every_entry_with_its_type() {
        let dir = std::env::temp_dir().join(format!("aj-list-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("f"), "").unwrap();
        let _ = std::os::unix::fs::symlink("f", dir.join("l"));
        let fd = open_dir(&dir).unwrap();
        let mut got = list_dir(&fd).unwrap();
        got.sort();
        std::fs::remove_dir_all(&dir).ok();
        let want: Vec<(Vec<u8>, u8)> = vec![
            (b".".to_vec(), libc::DT_DIR),
            (b"..".to_vec(), libc::DT_DIR),
            (b"d".to_vec(), libc::DT_DIR),
            (b"f".to_vec(), libc::DT_REG),
            (b"l".to_vec(), libc::DT_LNK),
        ];
        assert_eq!(got, want);
    }
}
