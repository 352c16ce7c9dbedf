//! The sandbox's pid 1: forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the
//! tool, reaps every zombie, and when the tool exits kills whatever is left
//! and reports the tool's status to the launcher.

use super::channel::{send_msg, Message};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::RawFd;

/// Signals the launcher blocks before it forks; pid 1 reads them from a signalfd.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    set
}

/// Runs pid 1's loop until the tool has exited; never returns.
pub fn supervise(tool: Pid, channel: RawFd) -> ! {
    let sfd = match SignalFd::with_flags(&handled_signals(), SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => super::channel::fail(channel, "creating pid 1's signalfd", e),
    };
    let status = loop {
        match sfd.read_signal() {
            Ok(Some(info)) => {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    if let Some(st) = reap(tool) {
                        break st;
                    }
                } else if let Ok(s) = Signal::try_from(sig) {
                    let _ = kill(tool, s);
                }
            }
            Ok(None) => continue,
            Err(nix::Error::EINTR) => continue,
            Err(e) => super::channel::fail(channel, "reading pid 1's signalfd", e),
        }
    };
    // The tool is gone: nothing else in the sandbox may outlive it.
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    while waitpid(None, None).is_ok() {}
    let _ = send_msg(channel, &status);
    // SAFETY: ending pid 1 without unwinding; the kernel kills the namespace.
    unsafe { libc::_exit(0) }
}

/// Reaps every exited child; returns the tool's status once it is among them.
fn reap(tool: Pid) -> Option<Message> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == tool => {
                found = Some(Message::Exited { code })
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == tool => {
                found = Some(Message::Signaled { signal: sig as i32 })
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(_) => {}
        }
    }
}
