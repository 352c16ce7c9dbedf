//! The launcher's side of a run: its event loop over the setup channel, the
//! tool's output pipes and the signals it forwards, until every process of
//! the sandbox has ended.

use super::channel::{recv_msg_fd, Confinement, Message};
use super::{os, Captured, ListenerHook, SandboxError};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// The launcher's event loop over the setup channel, the output pipes and signals.
pub(super) struct Watch {
    pub(super) channel: Option<OwnedFd>,
    pub(super) out: Option<(OwnedFd, Captured)>,
    pub(super) err: Option<(OwnedFd, Captured)>,
    /// The launcher's own child, reaped here: a one-shot run's pid 1, or
    /// its setup process (see `super::fork::direct`).
    pub(super) child: Option<Pid>,
    pub(super) init: Option<Pid>,
    /// A prepared sandbox's pid 1 (not the launcher's descendant): signalled
    /// through this pidfd, and its end closes the channel's watch, since the
    /// pool's owner still holds a copy of the channel.
    pub(super) init_fd: Option<OwnedFd>,
    pub(super) status: Option<Message>,
    pub(super) failure: Option<(String, String)>,
    pub(super) exec_errno: Option<i32>,
    pub(super) confinement: Option<Confinement>,
    pub(super) timed_out: bool,
    pub(super) max_output: u64,
    /// Where the tool's stdout or stderr goes instead of being captured (the
    /// launcher's own descriptor, a regular file the tool never holds).
    pub(super) out_forward: Option<RawFd>,
    pub(super) err_forward: Option<RawFd>,
    pub(super) out_done: Option<Captured>,
    pub(super) err_done: Option<Captured>,
    /// When the launch began, for the `-v` lines.
    pub(super) started: Instant,
    /// Return from [`Watch::run`] as soon as the tool's status is in and its
    /// output streams have ended, before pid 1 has
    /// (the caller then runs `run` again for the rest).
    pub(super) until_tool_end: bool,
    /// The tool's CPU time as pid 1 reported it ([`Message::Used`]).
    pub(super) tool_cpu_usec: Option<u64>,
}

/// Milliseconds since `t`, for the `-v` lines.
pub(super) fn ms(t: Instant) -> String {
    format!("{:.2} ms", t.elapsed().as_secs_f64() * 1000.0)
}

impl Watch {
    pub(super) fn kill_all(&self) {
        self.signal(Signal::SIGKILL);
        if let Some(pid) = self.child {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    /// Signals pid 1 (or the setup process before pid 1 is known).
    fn signal(&self, s: Signal) {
        match (&self.init_fd, self.init.or(self.child)) {
            (Some(fd), _) => super::pool::pidfd_kill(fd, s),
            (None, Some(pid)) => {
                let _ = kill(pid, s);
            }
            (None, None) => {}
        }
    }

    pub(super) fn run(
        &mut self,
        sfd: &mut SignalFd,
        deadline: Instant,
        on_listener: ListenerHook<'_>,
    ) -> Result<(), SandboxError> {
        let out_open = |w: &Watch| w.out.as_ref().map(|o| o.0.as_raw_fd());
        let err_open = |w: &Watch| w.err.as_ref().map(|o| o.0.as_raw_fd());
        while (self.channel.is_some()
            || self.out.is_some()
            || self.err.is_some()
            || self.child.is_some())
            && !self.tool_ended()
        {
            let now = Instant::now();
            let timeout = if self.timed_out {
                PollTimeout::from(200u16)
            } else if now >= deadline {
                self.timed_out = true;
                self.kill_all();
                continue;
            } else {
                let ms = (deadline - now).as_millis().min(60_000) as u16;
                PollTimeout::from(ms.max(1))
            };
            let chan_fd = self.channel.as_ref().map(|c| c.as_raw_fd());
            let init_fd = self
                .init_fd
                .as_ref()
                .filter(|_| chan_fd.is_some())
                .map(|f| f.as_raw_fd());
            let fds: Vec<RawFd> = [
                Some(sfd.as_fd().as_raw_fd()),
                chan_fd,
                out_open(self),
                err_open(self),
                init_fd,
            ]
            .into_iter()
            .flatten()
            .collect();
            let mut pfds: Vec<PollFd> = fds
                .iter()
                .map(|fd| {
                    // SAFETY: every fd in the list is owned by `self` or `sfd` and
                    // stays open for the duration of this poll call.
                    PollFd::new(
                        unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) },
                        PollFlags::POLLIN,
                    )
                })
                .collect();
            match poll(&mut pfds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(os("waiting for the sandbox")(e)),
            }
            let ready: Vec<RawFd> = pfds
                .iter()
                .zip(&fds)
                .filter(|(p, _)| p.revents().is_some_and(|r| !r.is_empty()))
                .map(|(_, fd)| *fd)
                .collect();
            // A prepared sandbox's pid 1 has ended: what it sent is read
            // first (the channel is ready too), then the channel is done.
            let init_ended = init_fd.is_some_and(|f| ready.contains(&f));
            let chan_ready = chan_fd.is_some_and(|f| ready.contains(&f));
            if init_ended && !chan_ready {
                self.channel = None;
            }
            for fd in ready {
                if Some(fd) == init_fd {
                    continue;
                }
                if fd == sfd.as_fd().as_raw_fd() {
                    self.on_signals(sfd);
                } else if Some(fd) == chan_fd {
                    if let Some(listener) = self.on_message()? {
                        on_listener(listener);
                    }
                } else if Some(fd) == out_open(self) {
                    if drain(&mut self.out, self.max_output, self.out_forward) {
                        self.close_stream(1);
                    }
                } else if Some(fd) == err_open(self)
                    && drain(&mut self.err, self.max_output, self.err_forward)
                {
                    self.close_stream(2);
                }
            }
            if let Some(pid) = self.child {
                if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
                    waitpid(pid, Some(WaitPidFlag::WNOHANG))
                {
                    self.child = None;
                }
            }
        }
        Ok(())
    }

    /// With `until_tool_end`: the tool's status is in and both of its output
    /// streams have ended (nothing it wrote is still on its way).
    pub(super) fn tool_ended(&self) -> bool {
        self.until_tool_end
            && self.failure.is_none()
            && matches!(
                self.status,
                Some(Message::Exited { .. } | Message::Signaled { .. })
            )
            && self.out.is_none()
            && self.err.is_none()
    }

    /// A stream reached its end: keep what it captured, stop polling it.
    fn close_stream(&mut self, which: u8) {
        let slot = if which == 1 {
            &mut self.out
        } else {
            &mut self.err
        };
        if let Some((fd, cap)) = slot.take() {
            drop(fd);
            if which == 1 {
                self.out_done = Some(cap);
            } else {
                self.err_done = Some(cap);
            }
        }
    }

    fn on_signals(&mut self, sfd: &mut SignalFd) {
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                continue;
            }
            if let Ok(s) = Signal::try_from(sig) {
                self.signal(s);
            }
        }
    }

    /// Handles one message; returns the egress listener when it arrives.
    fn on_message(&mut self) -> Result<Option<std::net::TcpListener>, SandboxError> {
        let Some(chan) = &self.channel else {
            return Ok(None);
        };
        match recv_msg_fd(chan)? {
            None => self.channel = None,
            Some((Message::ProxyListener, Some(fd))) => {
                return Ok(Some(std::net::TcpListener::from(fd)));
            }
            Some((Message::Used { cpu_usec }, _)) => self.tool_cpu_usec = Some(cpu_usec),
            Some((Message::InitPid(p), _)) => {
                tracing::debug!("sandbox: pid 1 is host pid {p} ({})", ms(self.started));
                self.init = Some(Pid::from_raw(p))
            }
            Some((Message::SetupFailed { step, error }, _)) => {
                if self.failure.is_none() {
                    self.failure = Some((step, error));
                }
                self.kill_all();
            }
            Some((Message::Confined(c), _)) => {
                tracing::info!(
                    "sandbox: view built and tool confined (seccomp {}, Landlock {} at ABI {}, no_new_privs {}) at {}; exec",
                    if c.seccomp { "on" } else { "off" },
                    c.landlock,
                    c.landlock_abi,
                    c.no_new_privs,
                    ms(self.started)
                );
                self.confinement = Some(c)
            }
            Some((Message::ExecFailed { errno }, _)) => {
                tracing::info!(
                    "sandbox: exec failed: {} at {}",
                    Errno::from_raw(errno).desc(),
                    ms(self.started)
                );
                self.exec_errno = Some(errno)
            }
            Some((m @ (Message::Exited { .. } | Message::Signaled { .. }), _)) => {
                tracing::info!(
                    "sandbox: tool {} at {}",
                    match &m {
                        Message::Exited { code } => format!("exited with {code}"),
                        Message::Signaled { signal } => format!("was killed by signal {signal}"),
                        _ => String::new(),
                    },
                    ms(self.started)
                );
                self.status = Some(m);
                // pid 1 sends nothing after the status; a prepared
                // sandbox's channel has other holders and never closes.
                if self.init_fd.is_some() {
                    self.channel = None;
                }
            }
            Some((
                Message::Unshared
                | Message::MapsWritten
                | Message::Join { .. }
                | Message::Proceed
                | Message::ProxyListener
                | Message::Ready
                | Message::Go { .. },
                _,
            )) => {}
        }
        Ok(None)
    }
}

/// Reads what is available; keeps at most `max` bytes, or writes them all
/// to `forward`. True at end of stream.
fn drain(slot: &mut Option<(OwnedFd, Captured)>, max: u64, forward: Option<RawFd>) -> bool {
    let Some((fd, cap)) = slot else { return true };
    // 16 KiB a read: a bigger buffer, zeroed on every call, would fault in
    // (or copy, in a freshly forked call process) a page per 4 KiB first.
    let mut buf = [0u8; 16384];
    match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
        Ok(0) => true,
        Ok(n) if forward.is_some() => {
            cap.bytes += n as u64;
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                // SAFETY: the launcher's own stdout or stderr, open for the whole run.
                let out = unsafe { std::os::fd::BorrowedFd::borrow_raw(forward.unwrap_or(1)) };
                match nix::unistd::write(out, rest) {
                    Ok(w) => rest = &rest[w..],
                    Err(Errno::EINTR) => {}
                    // The caller's file is gone or full: the rest is dropped, as
                    // it would be for the tool itself.
                    Err(_) => break,
                }
            }
            false
        }
        Ok(n) => {
            cap.bytes += n as u64;
            let room = (max as usize).saturating_sub(cap.data.len());
            cap.data.extend_from_slice(&buf[..n.min(room)]);
            if n > room {
                cap.truncated = true;
            }
            false
        }
        Err(Errno::EINTR | Errno::EAGAIN) => false,
        Err(_) => true,
    }
}
