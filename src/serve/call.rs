//! Call supervision: the operation runs in its own process with the
//! caller's descriptors on 0, 1 and 2, and the worker watches both the call
//! and the connection. A signal the client forwards goes to the call; when
//! the client hangs up, the call is killed (the sandbox follows its
//! launcher: `PR_SET_PDEATHSIG`) and the kill is audited.

use super::protocol::{self, Op, Response};
use super::server::{Caller, Handler};
use super::worker::{follow_parent, refuse};
use crate::exit;
use crate::run::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Runs the operation in its own process and waits for it, or kills it
/// when the client hangs up.
pub(super) fn run_watched(
    conn: &UnixStream,
    ctx: &Context,
    handler: &dyn Handler,
    op: &Op,
    caller: Caller,
    fds: [OwnedFd; 3],
) -> Response {
    let worker = nix::unistd::getpid();
    // The call's process reports its exit code here as its last act, so the
    // answer goes out without waiting for the process's own exit (its
    // teardown); the end of the pipe without a report means it died.
    let (code_r, code_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return refuse(exit::LAUNCHER_FAILED, format!("broker: pipe: {e}")),
    };
    // SAFETY: the worker is single-threaded (a fork of the single-threaded
    // parent), so the child may run arbitrary code.
    let child = match unsafe { fork() } {
        Err(e) => return refuse(exit::LAUNCHER_FAILED, format!("broker: fork: {e}")),
        Ok(ForkResult::Child) => {
            crate::alloc::forked_child();
            follow_parent(worker);
            drop(code_r);
            for (i, fd) in fds.iter().enumerate() {
                if nix::unistd::dup2(fd.as_raw_fd(), i as RawFd).is_err() {
                    std::process::exit(exit::LAUNCHER_FAILED);
                }
            }
            drop(fds);
            // The connection is the worker's; the call never holds it.
            let _ = nix::unistd::close(conn.as_raw_fd());
            let code = handler.handle(ctx, op, caller);
            let _ = std::io::stdout().flush();
            let _ = nix::unistd::write(&code_w, &code.to_le_bytes());
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(code_w);
    // The worker holds none of the caller's descriptors while the call runs,
    // so a reader downstream of the call sees its end when the call ends.
    drop(fds);
    let Caller {
        who,
        stdin_file,
        tty,
        ..
    } = caller;
    drop((stdin_file, tty));
    let who = &who;
    let mut code_r = std::fs::File::from(code_r);
    let mut hung_up = false;
    let mut reported = None;
    loop {
        let mut fds = [
            PollFd::new(code_r.as_fd(), PollFlags::POLLIN),
            PollFd::new(conn.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            // One 4-byte write (atomic on a pipe); the end of the pipe
            // without it: the process's status says how it ended.
            let mut b = [0u8; 4];
            reported = code_r
                .read_exact(&mut b)
                .ok()
                .map(|()| i32::from_le_bytes(b));
            break;
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            // After its request the client sends only control frames (a
            // signal for the call); anything else, or the end of the
            // connection, is a hang-up.
            match read_control(conn) {
                Some(sig) => {
                    // The call's process is the launcher (or the command
                    // itself): the launcher forwards the signal to the
                    // sandbox's pid 1, which forwards it to the tool.
                    tracing::debug!("forwarding signal {sig} to the call {child}");
                    let _ = kill(child, sig);
                    continue;
                }
                None => {
                    hung_up = true;
                    let _ = kill(child, Signal::SIGKILL);
                    break;
                }
            }
        }
    }
    if let (false, Some(code)) = (hung_up, reported) {
        // Its last act done, the call's process only exits: reaped by
        // whoever inherits it as this worker ends (its PR_SET_PDEATHSIG
        // only hastens that end).
        return Response::new(code, None);
    }
    let status = loop {
        match waitpid(child, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    if hung_up {
        let mut r = crate::audit::AuditRecord::new("error", "-");
        r.result = Some("error".into());
        r.reasons = vec![format!(
            "the broker's client ({}) hung up; its call (process {child}) was killed",
            who.label()
        )];
        r.detail("error", "client hung up; call killed")
            .detail("exit_code", exit::LAUNCHER_FAILED)
            .detail("caller", who);
        if let Ok(log) = ctx.audit_log() {
            let _ = log.append(&r);
        }
        return refuse(exit::LAUNCHER_FAILED, "client hung up; call killed".into());
    }
    match status {
        Ok(WaitStatus::Exited(_, code)) => Response::new(code, None),
        // As a shell reports it (the client forwarded a signal the call's
        // process did not handle, e.g. before the sandbox started).
        Ok(WaitStatus::Signaled(_, sig, _)) => Response::new(128 + sig as i32, None),
        Ok(other) => refuse(
            exit::LAUNCHER_FAILED,
            format!("broker: the call's process: {other:?}"),
        ),
        Err(e) => refuse(
            exit::LAUNCHER_FAILED,
            format!("broker: waiting for the call: {e}"),
        ),
    }
}

/// One control frame from the client: the signal it forwards, or `None`
/// when the connection closed or sent anything else.
fn read_control(conn: &UnixStream) -> Option<Signal> {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = conn;
    let body = protocol::read_frame(&mut reader as &mut dyn Read, &[]).ok();
    let _ = conn.set_read_timeout(None);
    let c: protocol::Control = protocol::decode(&body?).ok()?;
    if !protocol::FORWARDED.contains(&c.signal) {
        return None;
    }
    Signal::try_from(c.signal).ok()
}
