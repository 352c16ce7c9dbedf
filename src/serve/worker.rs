//! The per-connection worker: a fork of the accept loop that reads the
//! request (bounded in size and, for reading, in time), takes the caller's
//! identity from the kernel (`SO_PEERCRED`, `SO_PEERGROUPS`), checks it
//! ([`super::access`]) and hands the call to [`super::call`]; the exit code
//! goes back in the response.

use super::accept::{respond, Pool};
use super::access::authorize;
use super::call::run_watched;
use super::config::{Config, Peer};
use super::protocol::{self, FrameError, Op, Request, Response};
use super::server::{Caller, Handler};
use crate::approval::{self, Person};
use crate::exit;
use crate::run::Context;
use nix::sys::signal::SigSet;
use nix::unistd::{fork, ForkResult, Pid};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

#[allow(clippy::too_many_arguments)]
pub(super) fn start_worker(
    conn: UnixStream,
    uid: u32,
    listener: &UnixListener,
    cfg: &Config,
    ctx: &Context,
    handler: &dyn Handler,
    mask: &SigSet,
    sigfd_raw: RawFd,
    pool: &mut Pool,
) {
    let broker = nix::unistd::getpid();
    // SAFETY: this process is single-threaded (checked at start), so the
    // child may run arbitrary code after the fork.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            pool.workers.insert(child, uid);
            tracing::debug!("worker {child} started ({} running)", pool.workers.len());
        }
        Ok(ForkResult::Child) => {
            crate::alloc::forked_child();
            // A broker that dies (even of SIGKILL) takes its workers along,
            // and each worker its call: nothing runs on without it.
            follow_parent(broker);
            // The listener and the signalfd are the parent's: a worker that
            // outlives the broker must not keep the socket accepting. The
            // child exits without dropping them, so each is closed once.
            let _ = nix::unistd::close(listener.as_raw_fd());
            let _ = nix::unistd::close(sigfd_raw);
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let _ = mask.thread_unblock();
            let _ = conn.set_nonblocking(false);
            let response = work(&conn, cfg, ctx, handler);
            if let Some(m) = &response.message {
                tracing::debug!(
                    "worker {}: exit {}: {m}",
                    std::process::id(),
                    response.exit_code
                );
            }
            respond(&conn, &response);
            std::process::exit(0);
        }
        Err(e) => {
            respond(
                &conn,
                &Response::new(exit::LAUNCHER_FAILED, Some(format!("broker: fork: {e}"))),
            );
        }
    }
}

/// Asks for SIGKILL when the parent (`parent`) dies, and exits at once
/// when it already has (it died between the fork and this).
pub(super) fn follow_parent(parent: Pid) {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and changes
    // only this process's own setting.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if rc != 0 || nix::unistd::getppid() != parent {
        std::process::exit(exit::LAUNCHER_FAILED);
    }
}

/// The kernel's word on who is connected.
fn peer_of(conn: &UnixStream) -> Result<Peer, String> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(conn, PeerCredentials).map_err(|e| format!("SO_PEERCRED: {e}"))?;
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `groups`, which
    // holds that many, and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        // More than 256 groups, or no SO_PEERGROUPS: the primary gid only.
        groups.clear();
    } else {
        groups.truncate(len as usize / std::mem::size_of::<libc::gid_t>());
    }
    Ok(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
        groups,
    })
}

/// Receives the first bytes of the request with the caller's descriptors.
fn recv_head(conn: &UnixStream) -> Result<(Vec<u8>, Vec<OwnedFd>), String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut head = [0u8; 4];
    let mut space = nix::cmsg_space!([RawFd; 5]);
    let mut iov = [std::io::IoSliceMut::new(&mut head)];
    let msg = loop {
        match recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::EAGAIN) => {
                return Err("timed out waiting for the request".into())
            }
            Err(e) => return Err(format!("reading the request: {e}")),
            Ok(m) => break m,
        }
    };
    let mut fds = Vec::new();
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(list) = c {
                for fd in list {
                    // SAFETY: the kernel just installed this descriptor for
                    // this process; nothing else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
    }
    let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
    let n = msg.bytes;
    if truncated {
        return Err("the request carried more than 5 descriptors".into());
    }
    Ok((head[..n].to_vec(), fds))
}

pub(super) fn refuse(code: i32, message: String) -> Response {
    Response::new(code, Some(message))
}

/// One connection: read, check, run, answer.
fn work(conn: &UnixStream, cfg: &Config, ctx: &Context, handler: &dyn Handler) -> Response {
    let broken = |e: String| refuse(exit::LAUNCHER_FAILED, format!("broker: {e}"));
    let peer = match peer_of(conn) {
        Ok(p) => p,
        Err(e) => return broken(e),
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(cfg.request_timeout_seconds)));
    let (head, fds) = match recv_head(conn) {
        Ok(h) => h,
        Err(e) => return broken(e),
    };
    if head.is_empty() {
        return broken(FrameError::Closed.to_string());
    }
    let mut reader = conn;
    let body = match protocol::read_frame(&mut reader as &mut dyn Read, &head) {
        Ok(b) => b,
        Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
            return broken("timed out reading the request".into())
        }
        Err(e) => return broken(e.to_string()),
    };
    let req: Request = match protocol::decode(&body) {
        Ok(r) => r,
        Err(e) => return broken(e.to_string()),
    };
    let mut fds = fds;
    let wants_file =
        matches!(&req.op, Op::Run { call, .. } | Op::Check { call, .. } if call.stdin_file);
    let wants_tty = matches!(&req.op, Op::Run { tty: true, .. });
    if fds.len() != 3 + usize::from(wants_file) + usize::from(wants_tty) {
        return broken(format!(
            "the request must carry the caller's descriptors 0, 1 and 2{}{}, and no more",
            if wants_file { ", its stdin_file" } else { "" },
            if wants_tty { ", its terminal" } else { "" }
        ));
    }
    let tty = if wants_tty { fds.pop() } else { None };
    let stdin_file = if wants_file { fds.pop() } else { None };
    let fds: [OwnedFd; 3] = match fds.try_into() {
        Ok(f) => f,
        Err(_) => {
            return broken("the request must carry the caller's descriptors 0, 1 and 2".into())
        }
    };
    let who = Person {
        uid: peer.uid,
        user: approval::user_name(peer.uid),
        login_uid: None,
        tty: None,
    };
    if let Err(r) = authorize(cfg, ctx, &peer, &who, &req.op) {
        return r;
    }
    let _ = conn.set_read_timeout(None);
    let caller = Caller {
        who,
        scope: cfg.scope(&peer),
        stdin_file,
        tty,
    };
    run_watched(conn, ctx, handler, &req.op, caller, fds)
}
