//! The append-only inode flag (`FS_APPEND_FL`) of the audit log: read,
//! set and cleared with the `FS_IOC_GETFLAGS` / `FS_IOC_SETFLAGS` ioctls.

use std::fs::File;
use std::os::fd::AsRawFd;

/// `FS_APPEND_FL` from linux/fs.h: the inode may only be appended to.
const FS_APPEND_FL: libc::c_int = 0x20;

fn get_flags(file: &File) -> std::io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int to the pointer, which points at
    // a live, writable c_int for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(flags)
}

/// Whether the file's inode has the append-only flag (`chattr +a`).
pub fn is_append_only(file: &File) -> bool {
    get_flags(file).is_ok_and(|f| f & FS_APPEND_FL != 0)
}

/// Sets the append-only flag (needs CAP_LINUX_IMMUTABLE and a filesystem
/// that supports it).
pub fn set_append_only(file: &File) -> std::io::Result<()> {
    let flags = get_flags(file)? | FS_APPEND_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int from the pointer, which points at
    // a live c_int for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Clears the append-only flag (tests and tools that must remove a log).
pub fn clear_append_only(file: &File) -> std::io::Result<()> {
    let flags = get_flags(file)? & !FS_APPEND_FL;
    // SAFETY: as in `set_append_only`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
