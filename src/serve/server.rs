//! `agentjail serve`: the accept loop and the per-connection worker.
//!
//! The parent is one thread: it polls the listening socket and a signalfd
//! (SIGCHLD, SIGTERM, SIGINT), and forks one worker per connection, up to
//! `max_concurrent`; a connection beyond that gets 125 "broker busy" at
//! once. The launcher forks and must be single-threaded (see
//! `crate::sandbox`), and so is every process here.
//!
//! A worker reads the request (bounded in size and, for reading, in time),
//! takes the caller's identity from the kernel (`SO_PEERCRED`,
//! `SO_PEERGROUPS`), checks it against the configuration, then forks the
//! call: the call's process puts the caller's descriptors on 0, 1 and 2
//! and runs the [`Handler`] with the broker's [`Context`]. The worker
//! watches both the call and the connection: when the client hangs up, the
//! call is killed (the sandbox follows its launcher: `PR_SET_PDEATHSIG`)
//! and the kill is audited. The exit code goes back in the response.

use super::config::{Config, Peer};
use super::protocol::{self, Approvals, FrameError, Op, Request, Response};
use crate::approval::{self, Person};
use crate::exit;
use crate::run::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// What runs a served operation. It runs in the call's own process, with
/// the caller's descriptors on 0, 1 and 2: it prints what the in-process
/// command prints and returns the exit code. The CLI provides it (so the
/// lines are the same), `main` passes it in.
pub trait Handler {
    fn handle(&self, ctx: &Context, op: &Op, who: &Person) -> i32;
}

/// `agentjail serve`'s options.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: std::path::PathBuf,
    /// Overrides the configuration's `socket`.
    pub socket: Option<std::path::PathBuf>,
    pub check_config: bool,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Call(#[from] crate::run::CallError),
}

impl ServeError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ServeError::Config(_) => exit::CONFIG,
            ServeError::Setup(_) => exit::LAUNCHER_FAILED,
            ServeError::Call(e) => e.exit_code(),
        }
    }
}

/// The call core's settings, from the broker's configuration only.
pub fn context(cfg: &Config) -> Context {
    Context {
        profiles: cfg.profiles.clone(),
        audit_log: Some(cfg.audit_log.clone()),
        cgroup_parent: cfg.cgroup_parent.clone(),
        alert_command: cfg.alert_command.clone(),
        state_dir: Some(cfg.state_dir.clone()),
        approval_hook: cfg.approval_hook.clone(),
    }
}

/// Runs the broker until SIGTERM or SIGINT; returns the exit code.
pub fn serve(opts: &Options, handler: &dyn Handler) -> Result<i32, ServeError> {
    let mut cfg = Config::load(&opts.config)?;
    if let Some(s) = &opts.socket {
        cfg.socket = s.clone();
    }
    let ctx = context(&cfg);
    let set = ctx.load_profiles()?;
    if opts.check_config {
        println!(
            "agentjail: broker configuration {} is valid: socket {}, {} roles, state {}, audit log {}, {} caller and {} approver mappings",
            cfg.path.display(),
            cfg.socket.display(),
            set.roles.len(),
            cfg.state_dir.display(),
            cfg.audit_log.display(),
            cfg.callers.len(),
            cfg.approvers.len()
        );
        return Ok(exit::OK);
    }
    single_threaded()?;
    ctx.state()?
        .ensure(None)
        .map_err(crate::run::CallError::from)?;
    let setup = |what: &str, e: &dyn std::fmt::Display| ServeError::Setup(format!("{what}: {e}"));
    // Signals arrive on a descriptor the loop polls; every child unblocks them.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| setup("blocking signals", &e))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| setup("signalfd", &e))?;
    let listener = bind(&cfg)?;
    eprintln!(
        "agentjail: broker serving on {} (pid {}, max_concurrent {}, config {})",
        cfg.socket.display(),
        std::process::id(),
        cfg.max_concurrent,
        cfg.path.display()
    );
    let mut pool = Pool::default();
    let mut stopping = false;
    while !stopping {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        // Wake up for the first queued connection's deadline.
        let timeout = match pool.queue.front() {
            None => PollTimeout::NONE,
            Some(q) => {
                let left = q.deadline.saturating_duration_since(Instant::now());
                PollTimeout::from(u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX))
            }
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(setup("poll", &e)),
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let (conn_ready, sig_ready) = (ready(&fds[0]), ready(&fds[1]));
        let spawn = |conn: UnixStream, pool: &mut Pool, uid: u32| {
            start_worker(
                conn,
                uid,
                &listener,
                &cfg,
                &ctx,
                handler,
                &mask,
                sigfd.as_raw_fd(),
                pool,
            )
        };
        if sig_ready {
            stopping = drain_signals(&sigfd);
            reap(&mut pool.workers);
        }
        // Queued connections first: they came before any new one.
        pool.expire(&cfg);
        while pool.workers.len() < cfg.max_concurrent {
            let Some(q) = pool.queue.pop_front() else {
                break;
            };
            spawn(q.conn, &mut pool, q.uid);
        }
        if conn_ready && !stopping {
            if let Some((conn, uid)) = admit(&listener, &cfg, &mut pool) {
                spawn(conn, &mut pool, uid);
            }
        }
    }
    for q in pool.queue.drain(..) {
        respond(
            &q.conn,
            &Response::new(
                exit::LAUNCHER_FAILED,
                Some("broker busy: the broker is stopping; the call was not run".into()),
            ),
        );
    }
    let mut workers = pool.workers;
    // Stop accepting; let running calls finish for the grace period.
    drop(listener);
    let _ = std::fs::remove_file(&cfg.socket);
    eprintln!(
        "agentjail: broker stopping: {} call(s) running, grace period {}s",
        workers.len(),
        cfg.grace_seconds
    );
    let deadline = Instant::now() + Duration::from_secs(cfg.grace_seconds);
    while !workers.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut fds = [PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let _ = poll(&mut fds, PollTimeout::from(ms));
        drain_signals(&sigfd);
        reap(&mut workers);
    }
    for pid in workers.keys() {
        // Each worker leads its own process group (its call's process in it);
        // the sandbox follows its launcher.
        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
    }
    for (pid, _) in workers.drain() {
        let _ = waitpid(pid, None);
    }
    eprintln!("agentjail: broker stopped");
    Ok(exit::OK)
}

/// Fails unless this process has one thread: it forks.
fn single_threaded() -> Result<(), ServeError> {
    let threads = crate::sandbox::thread_count();
    if threads != "1" {
        return Err(ServeError::Setup(format!(
            "the broker must be single-threaded before it forks; it has {threads:?} threads"
        )));
    }
    Ok(())
}

/// Reads pending signals; true when one asks the broker to stop.
fn drain_signals(sigfd: &SignalFd) -> bool {
    let mut stop = false;
    while let Ok(Some(info)) = sigfd.read_signal() {
        let s = info.ssi_signo as i32;
        if s == Signal::SIGTERM as i32 || s == Signal::SIGINT as i32 {
            stop = true;
        }
    }
    stop
}

/// The running workers (and their callers' uids) and the connections that
/// wait for one.
#[derive(Default)]
struct Pool {
    workers: HashMap<Pid, u32>,
    queue: VecDeque<Queued>,
}

struct Queued {
    conn: UnixStream,
    uid: u32,
    deadline: Instant,
}

impl Pool {
    /// Calls of this uid running or waiting.
    fn of(&self, uid: u32) -> usize {
        self.workers.values().filter(|u| **u == uid).count()
            + self.queue.iter().filter(|q| q.uid == uid).count()
    }

    /// Answers "broker busy" to the queued connections that waited too long.
    fn expire(&mut self, cfg: &Config) {
        let now = Instant::now();
        while self.queue.front().is_some_and(|q| q.deadline <= now) {
            if let Some(q) = self.queue.pop_front() {
                busy(
                    &q.conn,
                    format!(
                        "broker busy: waited {}s (queue_timeout_seconds in {}) for one of {} workers (max_concurrent); try again",
                        cfg.queue_timeout_seconds,
                        cfg.path.display(),
                        cfg.max_concurrent
                    ),
                );
            }
        }
    }
}

fn busy(conn: &UnixStream, message: String) {
    tracing::debug!("{message}");
    let _ = conn.set_nonblocking(true);
    respond(conn, &Response::new(exit::LAUNCHER_FAILED, Some(message)));
}

fn reap(workers: &mut HashMap<Pid, u32>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(st) => {
                if let Some(pid) = st.pid() {
                    workers.remove(&pid);
                }
            }
        }
    }
}

/// Binds the socket with the configured mode (created under a umask that
/// grants nothing, so it is never reachable with a wider mode) and group.
fn bind(cfg: &Config) -> Result<UnixListener, ServeError> {
    let path = &cfg.socket;
    let shown = path.display();
    let err = |what: String| ServeError::Setup(what);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            err(format!(
                "creating the socket's directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_socket() {
                return Err(err(format!(
                    "{shown} exists and is not a socket; remove it or set `socket`"
                )));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(err(format!("another broker is listening on {shown}")));
            }
            // A stale socket of a broker that is gone.
            std::fs::remove_file(path)
                .map_err(|e| err(format!("removing the stale socket {shown}: {e}")))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(format!("{shown}: {e}"))),
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| err(format!("binding {shown}: {e}")))?;
    if let Some(gid) = cfg.socket_group {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|e| err(format!("giving {shown} to group {gid}: {e}")))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.socket_mode))
        .map_err(|e| err(format!("setting the mode of {shown}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| err(format!("{shown}: {e}")))?;
    Ok(listener)
}

/// Sends a response, best effort (the peer may be gone).
fn respond(mut conn: &UnixStream, r: &Response) {
    if let Ok(frame) = protocol::encode(r) {
        let _ = conn.write_all(&frame);
    }
}

/// Accepts one connection: returns it when a worker may start now, queues
/// it when all are busy, or answers "broker busy" (queue full, or the
/// caller at its own limit).
fn admit(listener: &UnixListener, cfg: &Config, pool: &mut Pool) -> Option<(UnixStream, u32)> {
    let conn = match listener.accept() {
        Ok((c, _)) => c,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                tracing::warn!("accepting a connection: {e}");
            }
            return None;
        }
    };
    // The worker checks the caller's identity fully; the uid is for limits.
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let uid = match getsockopt(&conn, PeerCredentials) {
        Ok(c) => c.uid(),
        Err(e) => {
            busy(&conn, format!("broker: SO_PEERCRED: {e}"));
            return None;
        }
    };
    if let Some(limit) = cfg.max_concurrent_per_caller {
        let mine = pool.of(uid);
        if mine >= limit {
            busy(
                &conn,
                format!(
                    "broker busy: uid {uid} has {mine} calls running or waiting (max_concurrent_per_caller = {limit} in {}); try again",
                    cfg.path.display()
                ),
            );
            return None;
        }
    }
    if pool.workers.len() < cfg.max_concurrent && pool.queue.is_empty() {
        return Some((conn, uid));
    }
    if pool.queue.len() >= cfg.queue {
        busy(
            &conn,
            format!(
                "broker busy: {} calls are running (max_concurrent = {}) and {} waiting (queue = {} in {}); try again",
                pool.workers.len(),
                cfg.max_concurrent,
                pool.queue.len(),
                cfg.queue,
                cfg.path.display()
            ),
        );
        return None;
    }
    pool.queue.push_back(Queued {
        conn,
        uid,
        deadline: Instant::now() + Duration::from_secs(cfg.queue_timeout_seconds),
    });
    None
}

#[allow(clippy::too_many_arguments)]
fn start_worker(
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
    // SAFETY: this process is single-threaded (checked at start), so the
    // child may run arbitrary code after the fork.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            pool.workers.insert(child, uid);
            tracing::debug!("worker {child} started ({} running)", pool.workers.len());
        }
        Ok(ForkResult::Child) => {
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
    let mut space = nix::cmsg_space!([RawFd; 3]);
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
        return Err("the request carried more than 3 descriptors".into());
    }
    Ok((head[..n].to_vec(), fds))
}

fn refuse(code: i32, message: String) -> Response {
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
    run_watched(conn, ctx, handler, &req.op, &who, fds)
}

/// Whether the peer may do what it asks, by the broker's mappings.
fn authorize(
    cfg: &Config,
    ctx: &Context,
    peer: &Peer,
    who: &Person,
    op: &Op,
) -> Result<(), Response> {
    let denied = |m: String| Err(refuse(exit::DENIED, format!("denied: {m}")));
    match op {
        Op::Run { call, .. } | Op::Check { call, .. } => {
            if let Some(p) = &call.params {
                if p == "-" || p.starts_with('@') {
                    return Err(refuse(
                        exit::USAGE,
                        "the broker takes --params as inline JSON; the client reads `-` and @FILE"
                            .into(),
                    ));
                }
            }
            let role = call.role.as_deref().unwrap_or("");
            if !cfg.may_call(peer, role) {
                return denied(format!(
                    "{} may not use role `{role}` through the broker: its mappings in {} are {}",
                    who.label(),
                    cfg.path.display(),
                    match Config::describe(&cfg.caller_roles(peer)).as_str() {
                        "none" =>
                            "none ([[callers]] names neither its uid nor its groups)".to_string(),
                        d => format!("[[callers]] {d}"),
                    }
                ));
            }
            Ok(())
        }
        Op::Approvals(Approvals::List { .. } | Approvals::Show { .. }) => {
            if cfg.knows(peer) {
                Ok(())
            } else {
                denied(format!(
                    "{} is in neither [[callers]] nor [[approvers]] of {}",
                    who.label(),
                    cfg.path.display()
                ))
            }
        }
        Op::Approvals(Approvals::Approve { id, .. } | Approvals::Deny { id, .. }) => {
            // The request's role, from the broker's own copy: a damaged or
            // missing request needs an approver of every role.
            let role = approval::check_id(id)
                .ok()
                .and_then(|_| ctx.state().ok())
                .and_then(|state| {
                    state
                        .read_json::<approval::Request>(&approval::request_path(&state, id))
                        .ok()
                        .flatten()
                })
                .map(|r| r.role)
                .unwrap_or_else(|| "*".into());
            if cfg.may_approve(peer, &role) {
                return Ok(());
            }
            let mut r = crate::audit::AuditRecord::new("approval", &role);
            r.approval_status = Some("refused".into());
            r.reasons = vec![format!(
                "{} tried to decide request {id} through the broker but is not among [[approvers]] for role `{role}`",
                who.label()
            )];
            r.detail("severity", "critical")
                .detail("request_id", id)
                .detail("attempted_by", who);
            if let Ok(log) = ctx.audit_log() {
                let _ = log.append(&r);
            }
            denied(format!(
                "{} may not approve or deny requests of role `{role}`: [[approvers]] in {} for it: {}",
                who.label(),
                cfg.path.display(),
                Config::describe(&cfg.approvers_of(&role))
            ))
        }
    }
}

/// Runs the operation in its own process and waits for it, or kills it
/// when the client hangs up.
fn run_watched(
    conn: &UnixStream,
    ctx: &Context,
    handler: &dyn Handler,
    op: &Op,
    who: &Person,
    fds: [OwnedFd; 3],
) -> Response {
    // SAFETY: the worker is single-threaded (a fork of the single-threaded
    // parent), so the child may run arbitrary code.
    let child = match unsafe { fork() } {
        Err(e) => return refuse(exit::LAUNCHER_FAILED, format!("broker: fork: {e}")),
        Ok(ForkResult::Child) => {
            for (i, fd) in fds.iter().enumerate() {
                if nix::unistd::dup2(fd.as_raw_fd(), i as RawFd).is_err() {
                    std::process::exit(exit::LAUNCHER_FAILED);
                }
            }
            drop(fds);
            // The connection is the worker's; the call never holds it.
            let _ = nix::unistd::close(conn.as_raw_fd());
            let code = handler.handle(ctx, op, who);
            let _ = std::io::stdout().flush();
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    // The worker holds none of the caller's descriptors while the call runs,
    // so a reader downstream of the call sees its end when the call ends.
    drop(fds);
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
    let pidfd = if raw >= 0 {
        // SAFETY: a new descriptor that only this process owns.
        Some(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
    } else {
        None
    };
    let mut hung_up = false;
    if let Some(pidfd) = &pidfd {
        loop {
            let mut fds = [
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(conn.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
                Ok(_) => {}
            }
            if fds[0].revents().is_some_and(|r| !r.is_empty()) {
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

/// Whether a path names a socket a broker listens on.
pub fn reachable(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}
