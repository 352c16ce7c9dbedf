//! The broker under a service manager, by hand (no crate): `sd_notify`
//! (`READY=1` and `STOPPING=1` as a datagram to `NOTIFY_SOCKET`) and socket
//! activation (`LISTEN_PID`, `LISTEN_FDS`: the listening socket on
//! descriptor 3). Both variables are removed once read, so nothing the
//! broker starts sees them.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener};

/// The first descriptor a service manager passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// Where to send readiness, from `NOTIFY_SOCKET` (taken out of the
/// environment).
#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<String>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|t| !t.is_empty());
        // The process is single-threaded here (checked before).
        std::env::remove_var("NOTIFY_SOCKET");
        Notifier { target }
    }

    /// Sends `state` (`READY=1`, ...); an error names the socket.
    pub fn notify(&self, state: &str) -> Result<(), String> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let fail = |e: std::io::Error| format!("sd_notify to NOTIFY_SOCKET={target}: {e}");
        let sock = UnixDatagram::unbound().map_err(fail)?;
        if let Some(name) = target.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .map_err(fail)?;
            sock.send_to_addr(state.as_bytes(), &addr).map_err(fail)?;
        } else {
            sock.send_to(state.as_bytes(), target).map_err(fail)?;
        }
        Ok(())
    }
}

/// The listening socket a service manager passed, if `LISTEN_PID` is this
/// process and `LISTEN_FDS` is 1 (the variables are removed either way).
/// Anything else that claims activation is an error: the broker never
/// binds a socket of its own then.
pub fn activated() -> Result<Option<UnixListener>, String> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        // Meant for another process (a parent that did not clear them).
        return Ok(None);
    }
    if fds.trim() != "1" {
        return Err(format!(
            "socket activation passed LISTEN_FDS={fds}; the broker takes exactly one listening unix socket"
        ));
    }
    let fd = LISTEN_FDS_START;
    use nix::sys::socket::{getsockname, getsockopt, sockopt, AddressFamily, SockType, UnixAddr};
    // SAFETY: the service manager passed descriptor 3 to this process for
    // it to own; nothing else in the process uses it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let bad = |what: String| format!("socket activation: descriptor {fd} {what}");
    let kind =
        getsockopt(&owned, sockopt::SockType).map_err(|e| bad(format!("is no socket: {e}")))?;
    let listening = getsockopt(&owned, sockopt::AcceptConn).unwrap_or(false);
    let family = getsockname::<UnixAddr>(fd)
        .ok()
        .map(|_| AddressFamily::Unix);
    if kind != SockType::Stream || !listening || family.is_none() {
        return Err(bad(
            "is not a listening unix stream socket (ListenStream= in the .socket unit)".into(),
        ));
    }
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let listener = UnixListener::from(owned);
    listener
        .set_nonblocking(true)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Some(listener))
}
