//! `agentjail serve`: the accept loop.
//!
//! The parent is one thread: it polls the listening socket and a signalfd
//! (SIGCHLD, SIGTERM, SIGINT), and forks one worker per connection, up to
//! `max_concurrent` (admission and the wait queue: [`super::accept`]; the
//! worker: [`super::worker`]; the call it supervises: [`super::call`]). The
//! launcher forks and must be single-threaded (see `crate::sandbox`), and so
//! is every process here.

use super::accept::{admit, bind, reap, respond, Pool};
use super::config::{Config, Scope};
use super::privilege;
use super::protocol::Response;
use super::systemd;
use super::worker::start_worker;
use crate::approval::Person;
use crate::exit;
use crate::run::Context;
use crate::serve::protocol::Op;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// What runs a served operation. It runs in the call's own process, with
/// the caller's descriptors on 0, 1 and 2: it prints what the in-process
/// command prints and returns the exit code. The CLI provides it (so the
/// lines are the same), `main` passes it in.
pub trait Handler {
    fn handle(&self, ctx: &Context, op: &Op, caller: Caller) -> i32;
}

/// Who asked, as the broker knows it.
#[derive(Debug)]
pub struct Caller {
    /// The peer, for the approval request's `requested_by` and the
    /// approver of a decision.
    pub who: Person,
    /// What the peer may see, by the mappings; listings show no more.
    pub scope: Scope,
    /// `--stdin-file`: the descriptor the client attached (read it; never
    /// reopen it by path, which would use the broker's rights).
    pub stdin_file: Option<std::os::fd::OwnedFd>,
    /// The caller's terminal, for `run`'s prompt.
    pub tty: Option<std::os::fd::OwnedFd>,
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
        pool: None,
    }
}

/// The pool of prepared sandboxes `[pool]` asks for, in `ctx` (which the
/// workers inherit).
fn start_pool(cfg: &Config, ctx: &mut Context) -> Result<(), ServeError> {
    if cfg.pool.size == 0 {
        return Ok(());
    }
    let pool = crate::sandbox::pool::Pool::new(cfg.pool)
        .map_err(|e| ServeError::Setup(format!("starting the pool of prepared sandboxes: {e}")))?;
    ctx.pool = Some(std::sync::Arc::new(std::sync::Mutex::new(pool)));
    Ok(())
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
            "agentjail: broker configuration {} is valid: socket {}, {} roles, state {}, audit log {}, {} caller, {} approver and {} auditor mappings{}",
            cfg.path.display(),
            cfg.socket.display(),
            set.roles.len(),
            cfg.state_dir.display(),
            cfg.audit_log.display(),
            cfg.callers.len(),
            cfg.approvers.len(),
            cfg.auditors.len(),
            cfg.user.as_ref().map_or(String::new(), |u| format!(
                ", runs as uid {} gid {} (user = {})",
                u.uid, u.gid, u.written
            ))
        );
        return Ok(exit::OK);
    }
    single_threaded()?;
    crate::run::warm::tune_allocator_for_forks();
    let notifier = systemd::Notifier::from_env();
    let activated = systemd::activated().map_err(ServeError::Setup)?;
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
    let by_manager = activated.is_some();
    let listener = match activated {
        Some(l) => {
            // The socket the manager bound is the one callers use.
            if let Some(p) = l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_path_buf))
            {
                cfg.socket = p;
            }
            l
        }
        None => bind(&cfg)?,
    };
    // The socket is bound; from here on the broker is its own account, if
    // one is configured, and makes its state and log as that account.
    if let Some(to) = &cfg.user {
        if nix::unistd::geteuid().is_root() {
            privilege::prepare_log(&cfg.audit_log, to).map_err(ServeError::Setup)?;
        }
        privilege::drop_to(to).map_err(ServeError::Setup)?;
    }
    ctx.state()?
        .ensure(None)
        .map_err(crate::run::CallError::from)?;
    crate::run::gate::print_commands_for_broker(&cfg.socket);
    // Fail closed: a broker that cannot audit does not serve.
    lifecycle(&ctx, &cfg, "ready", by_manager, 0)
        .map_err(|e| setup("writing the broker's ready record to its audit log", &e))?;
    eprintln!(
        "agentjail: broker serving on {} (pid {}, max_concurrent {}, config {}{})",
        cfg.socket.display(),
        std::process::id(),
        cfg.max_concurrent,
        cfg.path.display(),
        if by_manager {
            ", socket from the service manager"
        } else {
            ""
        }
    );
    if let Err(e) = notifier.notify(&format!("READY=1\nMAINPID={}", std::process::id())) {
        tracing::warn!("{e}");
    }
    // Prepared sandboxes, claimed by the workers (src/sandbox/pool.rs).
    let mut ctx = ctx;
    start_pool(&cfg, &mut ctx)?;
    let mut pool = Pool::default();
    let mut stopping = false;
    while !stopping {
        // The pool's descriptors (its wish pipe, the sandboxes being built);
        // the pool lives until after the loop.
        let pool_fds = crate::run::warm::poll_fds(&ctx);
        let mut fds = vec![
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        for w in &pool_fds {
            // SAFETY: `w` belongs to the pool, which outlives this loop turn
            // (it changes only in `tend`, after the poll).
            let w = unsafe { std::os::fd::BorrowedFd::borrow_raw(*w) };
            fds.push(PollFd::new(w, PollFlags::POLLIN));
        }
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
        drop(fds);
        // Sandboxes that reported ready join the pool before any worker is
        // forked (it sees every one made ready so far); the pool's slower
        // work waits until this turn's workers are forked (below).
        crate::run::warm::collect(&ctx);
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
        // Beside the workers just forked, not before them: the wishes
        // planned, what the calls left reaped, and what the plans lack
        // started (never waiting for a sandbox: its steps come in as its
        // channel turns readable).
        crate::run::warm::tend(&ctx);
    }
    crate::run::warm::shutdown(&ctx);
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
    let _ = notifier.notify("STOPPING=1");
    if let Err(e) = lifecycle(&ctx, &cfg, "stopping", by_manager, workers.len()) {
        tracing::warn!("writing the broker's stopping record: {e}");
    }
    // Stop accepting; let running calls finish for the grace period. The
    // manager's socket stays for the next start.
    drop(listener);
    if !by_manager {
        let _ = std::fs::remove_file(&cfg.socket);
    }
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
    let killed = workers.len();
    for (pid, _) in workers.drain() {
        let _ = waitpid(pid, None);
    }
    if let Err(e) = lifecycle(&ctx, &cfg, "stopped", by_manager, killed) {
        tracing::warn!("writing the broker's stopped record: {e}");
    }
    eprintln!("agentjail: broker stopped");
    Ok(exit::OK)
}

/// The broker's own record (`event_type` `broker`): `ready` once it
/// accepts, `stopping` at SIGTERM or SIGINT (`calls` running), `stopped`
/// at the end (`calls` killed after the grace period).
fn lifecycle(
    ctx: &Context,
    cfg: &Config,
    state: &str,
    by_manager: bool,
    calls: usize,
) -> Result<(), crate::run::CallError> {
    let mut r = crate::audit::AuditRecord::new("broker", "-");
    r.result = Some(state.into());
    r.reasons = vec![match state {
        "ready" => format!("broker ready on {}", cfg.socket.display()),
        "stopping" => format!(
            "broker stopping: {calls} call(s) running, grace period {}s",
            cfg.grace_seconds
        ),
        _ => format!("broker stopped: {calls} call(s) killed after the grace period"),
    }];
    r.detail("broker", state)
        .detail("pid", std::process::id())
        .detail("socket", &cfg.socket)
        .detail("socket_activated", by_manager)
        .detail("config", &cfg.path)
        .detail("calls", calls)
        .detail("uid", nix::unistd::getuid().as_raw());
    if state == "ready" {
        r.detail("max_concurrent", cfg.max_concurrent);
    }
    ctx.audit_log()?.append(&r)?;
    Ok(())
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

/// Whether a path names a socket a broker listens on.
pub fn reachable(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}
