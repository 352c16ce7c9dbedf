//! The sandbox's pid 1: forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the
//! tool, reaps every zombie, and when the tool exits kills whatever is left
//! and reports the tool's status to the launcher. A prepared sandbox's pid 1
//! also watches its claimer's lifeline: when it closes, the sandbox ends.

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

/// The name pid 1 shows in /proc/1/cmdline instead of the launcher's arguments.
pub const INIT_NAME: &[u8] = b"agentjail-init\0";
/// A prepared sandbox's armed tool process, until its exec.
pub const ARMED_NAME: &[u8] = b"agentjail-tool\0";

/// Overwrites this process's argument area (inherited from the launcher by
/// fork) so that /proc/self/cmdline reads `name` (NUL-terminated). Nothing
/// in this process reads its arguments afterwards.
pub fn hide_cmdline(name: &[u8]) -> std::io::Result<()> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // arg_start and arg_end are fields 48 and 49 of stat(5); `rest` starts at field 3.
    let parse = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<usize>().ok());
    let (Some(start), Some(end)) = (parse(48), parse(49)) else {
        return Err(std::io::Error::other(
            "no arg_start/arg_end in /proc/self/stat",
        ));
    };
    if end <= start || end - start > 1 << 20 {
        return Err(std::io::Error::other("implausible argument area"));
    }
    let len = end - start;
    // SAFETY: [arg_start, arg_end) is this process's own argument area on its
    // stack, as the kernel reports it: mapped, writable and not aliased by any
    // Rust reference (std keeps only raw pointers to it and is not asked for
    // the arguments again in this process).
    unsafe {
        let area = std::slice::from_raw_parts_mut(start as *mut u8, len);
        area.fill(0);
        let n = name.len().min(len);
        area[..n].copy_from_slice(&name[..n]);
    }
    Ok(())
}

/// Runs pid 1's loop until the tool has exited; never returns. With a
/// `lifeline` (the read end of a pipe whose writer is the process that
/// claimed this sandbox), the sandbox also ends when that writer goes.
pub fn supervise(tool: Pid, channel: RawFd, lifeline: Option<RawFd>) -> ! {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::{AsFd, BorrowedFd};
    let sfd = match SignalFd::with_flags(&handled_signals(), SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => super::channel::fail(channel, "creating pid 1's signalfd", e),
    };
    let status = loop {
        if let Some(l) = lifeline {
            // SAFETY: `l` stays open for the whole loop (the caller owns it).
            let line = unsafe { BorrowedFd::borrow_raw(l) };
            let mut fds = [
                PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(line, PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => super::channel::fail(channel, "waiting in pid 1", e),
            }
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                // The claimer is gone: nobody waits for this call any more.
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                // SAFETY: ending pid 1 without unwinding; the kernel kills the namespace.
                unsafe { libc::_exit(0) }
            }
            if !fds[0].revents().is_some_and(|r| !r.is_empty()) {
                continue;
            }
        }
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
    // Every process of the call has been waited for: their CPU time is all in.
    if let Some(cpu_usec) = super::children_cpu_usec() {
        let _ = send_msg(channel, &Message::Used { cpu_usec });
    }
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
