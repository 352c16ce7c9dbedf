//! A sandbox's network namespace: it starts with only a down loopback,
//! brought up here; and, for a one-shot pid 1, made on a thread of its own
//! while the view is built ([`make_on_thread`]), since creating one is the
//! dearest part of the namespaces' clone (about 0.5 ms of 0.7 here).

use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Sets IFF_UP on `lo` in the current network namespace.
pub fn loopback_up() -> nix::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: fd is an open socket and req a valid ifreq naming "lo".
    let mut r = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    if r == 0 {
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: as above, with the flags updated.
        r = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) };
    }
    let err = Errno::last();
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    if r < 0 {
        return Err(err);
    }
    Ok(())
}

/// A network namespace being made on a thread (see [`make_on_thread`]).
pub struct Making {
    thread: std::thread::JoinHandle<Result<OwnedFd, (&'static str, Errno)>>,
}

/// Starts a thread that unshares its network namespace (the new one owned
/// by the caller's user namespace, where it has the capabilities), brings
/// its loopback up and opens the namespace. The caller's other threads stay
/// where they are until [`Making::enter`]. `/proc` (the host's, still the
/// caller's) is opened first, so what the caller mounts meanwhile does not
/// matter.
pub fn make_on_thread() -> std::io::Result<Making> {
    let proc_dir = std::fs::File::open("/proc")?;
    let thread = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| ("unsharing the network namespace", e))?;
            loopback_up().map_err(|e| ("bringing up loopback", e))?;
            // SAFETY: openat with a directory descriptor we own and a
            // NUL-terminated path; the result is checked.
            let fd = unsafe {
                libc::openat(
                    proc_dir.as_raw_fd(),
                    c"thread-self/ns/net".as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(("opening the new network namespace", Errno::last()));
            }
            // SAFETY: openat returned a new descriptor that nothing else owns.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })?;
    Ok(Making { thread })
}

impl Making {
    /// Waits for the thread and moves the calling thread into the namespace
    /// it made (the thread has ended; the caller is single-threaded again).
    pub fn enter(self) -> Result<(), (&'static str, Errno)> {
        let fd = self
            .thread
            .join()
            .map_err(|_| ("making the network namespace", Errno::EIO))??;
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| ("entering the new network namespace", e))
    }
}
