//! The sandbox, built directly with the kernel's interfaces. The launcher
//! (this process) makes the sandbox's pid 1 in new namespaces with one
//! `clone3`; pid 1 joins the run's cgroup and unshares its cgroup namespace
//! there; the launcher writes its id maps; pid 1 builds the filesystem view
//! and forks the tool; the tool's process drops every privilege and execs.
//!
//! ```text
//! launcher ──clone3──> pid 1 (new user, mount, pid, net, ipc, uts ns; joins
//!                        │     the cgroup, then a cgroup ns; mounts, hostname,
//!                        │     loopback)
//!                        └──fork──> tool (caps, Landlock, seccomp, exec)
//! ```
//!
//! On cgroup v2 pid 1 is made inside the run's cgroup (`CLONE_INTO_CGROUP`)
//! rather than moving itself there.
//!
//! Files: `prepare.rs` (all checks before any process starts), `start.rs`
//! (the run's cgroup; starting a new sandbox or handing the call to a
//! prepared one), `fork.rs` (pid 1's clone3), `process.rs` (pid 1 and the
//! tool's process),
//! `watch.rs` (the launcher's event loop), `pool/` (prepared sandboxes),
//! and one module per mechanism. About 620 lines: [`launch_in`] is the
//! launcher's whole run in order (the cgroup made before or beside pid 1,
//! the before-exec step, the watch, the result's hand-over and the end),
//! kept in one piece so that the order can be checked in one place.

pub mod caps;
pub mod cgroup;
pub mod channel;
pub(crate) mod fork;
pub mod init;
pub mod landlock;
pub mod mounts;
pub mod namespaces;
pub mod net;
pub mod plan;
pub mod pool;
mod prepare;
mod process;
pub mod seccomp;
mod start;
mod watch;

pub use prepare::{
    close_inherited_fds, extra_groups, prepare, resolve_program, seccomp_available, thread_count,
    Mechanisms, Prepared, ResolveError,
};

use channel::{send_msg, ChannelError, Confinement, Message};
use namespaces::IdMap;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use serde::Serialize;
use start::{
    cgroup_after_pid1, ids_for, limits_for, run_cgroup_for, send_join, start_before_cgroup,
    start_fresh, start_warm, RunCg, Started,
};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;
use watch::Watch;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{mechanism} is not available on this host: {fix}")]
    Unavailable {
        mechanism: &'static str,
        fix: String,
    },
    #[error("{step}: {error}{}", hint(.step))]
    Setup { step: String, error: String },
    #[error(transparent)]
    BindSource(#[from] mounts::SetupError),
    #[error("bind source {path} is a {found}: refused ({fix})")]
    BindRefused {
        path: String,
        found: &'static str,
        fix: String,
    },
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("{what}")]
    Os {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error(transparent)]
    IdMap(#[from] namespaces::MapError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    /// The caller's before-exec step failed: the tool never ran.
    #[error("{0}")]
    BeforeExec(String),
    #[error("the sandbox ended without reporting the tool's status ({0})")]
    NoStatus(String),
}

/// A fix for the steps that fail when the host withholds a mechanism.
fn hint(step: &str) -> &'static str {
    if step.starts_with("unsharing") {
        " (user namespaces may be disabled: check `sysctl user.max_user_namespaces kernel.unprivileged_userns_clone kernel.apparmor_restrict_unprivileged_userns`; `agentjail doctor` shows the fix)"
    } else {
        ""
    }
}

fn os(what: &'static str) -> impl FnOnce(nix::Error) -> SandboxError {
    move |source| SandboxError::Os { what, source }
}

/// Output captured from one stream with `--json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Captured {
    #[serde(skip)]
    pub data: Vec<u8>,
    pub bytes: u64,
    pub truncated: bool,
}

/// The cgroup a run had: version, limits applied and skipped.
#[derive(Debug, Clone, Serialize)]
pub struct CgroupReport {
    pub version: Option<&'static str>,
    pub applied: Vec<cgroup::Controller>,
    pub skipped: Vec<cgroup::Controller>,
    pub limits: cgroup::Limits,
}

/// What became of the tool.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub cgroup: CgroupReport,
    pub usage: cgroup::Usage,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// execve failed with this errno (the tool never ran).
    pub exec_errno: Option<i32>,
    pub confinement: Option<Confinement>,
    /// The tool ran in a prepared sandbox from a pool (see [`pool`]).
    pub prepared: bool,
    #[serde(skip)]
    pub stdout: Option<Captured>,
    #[serde(skip)]
    pub stderr: Option<Captured>,
}

struct Pipes {
    out: Option<(OwnedFd, OwnedFd)>,
    err: Option<(OwnedFd, OwnedFd)>,
}

/// Is descriptor `fd` of the launcher open on a regular file?
fn is_regular_file(fd: i32) -> bool {
    // An unopened descriptor only fails (EBADF).
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(os("creating an output pipe"))
}

/// Runs the prepared tool in a new sandbox and waits for it.
/// Called with the sandbox's egress listener (bound inside its network
/// namespace) when the role has an egress allow-list; the caller serves it.
pub type ListenerHook<'a> = &'a mut dyn FnMut(std::net::TcpListener);

/// A step the launcher runs (on a thread of its own, started after the
/// only fork) while the sandbox is being built; the tool execs only after it
/// returned `Ok`. An `Err` (its text) ends the sandbox before the exec.
#[derive(Clone, Copy)]
pub struct BeforeExec<'a> {
    /// The step; called more than once, it repeats its first answer.
    pub step: &'a (dyn Fn() -> Result<(), String> + Sync),
    /// The caller already runs the step's work on a thread of its own, and
    /// `step` waits for that thread to end: before any fork the launcher
    /// calls `step` itself (a process must not fork with a second thread
    /// alive), so only a prepared sandbox, which needs no fork, overlaps it.
    pub threaded: bool,
}

impl BeforeExec<'_> {
    /// Before a fork: the step's outcome, once a caller's thread ended;
    /// `None` when the step is left for later.
    fn settle(b: Option<Self>) -> Option<Result<(), String>> {
        b.filter(|b| b.threaded).map(|b| (b.step)())
    }
}

pub fn launch(
    prep: &Prepared,
    capture: bool,
    on_listener: ListenerHook<'_>,
) -> Result<RunOutcome, SandboxError> {
    launch_with(prep, capture, on_listener, None)
}

/// [`launch`], with a step the tool's exec waits for.
pub fn launch_with(
    prep: &Prepared,
    capture: bool,
    on_listener: ListenerHook<'_>,
    before_exec: Option<BeforeExec<'_>>,
) -> Result<RunOutcome, SandboxError> {
    launch_in(prep, capture, on_listener, before_exec, None, None)
}

/// What the launcher runs once the tool has ended and all its output is
/// in, while the sandbox's pid 1 is still ending (its
/// exits, the namespaces' and mounts' teardown): given the outcome that
/// [`launch_in`] then returns. The call core writes and syncs its result
/// record here, so the sync overlaps the teardown. Not run when the run
/// ended otherwise (no status, a setup failure), nor without a run cgroup,
/// nor when neither the cgroup nor pid 1 (`Used`) gave the CPU time (the
/// waited-for children's time would miss pid 1 until it ends).
pub type AfterTool<'a> = &'a mut dyn FnMut(&RunOutcome);

/// [`launch_with`], in a prepared sandbox claimed from a [`pool::Pool`]
/// (built from this same plan) instead of a new one; `after_tool` as
/// [`AfterTool`] says.
pub fn launch_in(
    prep: &Prepared,
    capture: bool,
    on_listener: ListenerHook<'_>,
    before_exec: Option<BeforeExec<'_>>,
    warm: Option<pool::Claimed>,
    after_tool: Option<AfterTool<'_>>,
) -> Result<RunOutcome, SandboxError> {
    let started = Instant::now();
    let signals = init::handled_signals();
    let mut old_mask = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), Some(&mut old_mask))
        .map_err(os("blocking signals"))?;
    let result = launch_blocked(
        prep,
        capture,
        started,
        on_listener,
        before_exec,
        warm,
        after_tool,
    );
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}

fn launch_blocked(
    prep: &Prepared,
    capture: bool,
    started: Instant,
    on_listener: ListenerHook<'_>,
    before_exec: Option<BeforeExec<'_>>,
    warm: Option<pool::Claimed>,
    mut after_tool: Option<AfterTool<'_>>,
) -> Result<RunOutcome, SandboxError> {
    let mut sfd = SignalFd::with_flags(
        &init::handled_signals(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(os("creating the launcher's signalfd"))?;
    // A caller's stdout or stderr that is a regular file is not handed to the
    // tool (it could ftruncate or rewrite it): the tool gets a pipe, and the
    // launcher appends what comes through to the caller's descriptor.
    let forward_out = !capture && is_regular_file(1);
    let forward_err = !capture && is_regular_file(2);
    let pipes = Pipes {
        out: if capture || forward_out {
            Some(pipe()?)
        } else {
            None
        },
        err: if capture || forward_err {
            Some(pipe()?)
        } else {
            None
        },
    };
    let map = IdMap::for_caller(prep.plan.uid, prep.plan.gid);
    // A prepared sandbox that ended while it waited is not used.
    let mut warm = warm.filter(|c| c.alive());
    // The run's cgroup exists, with its limits, before any process of the
    // tool's does: made first (a prepared sandbox's pid 1 joined its cgroup
    // when it was made), or, on cgroup v1, while the new pid 1 builds the
    // view (it joins in /proc's build, before the tool exists).
    let late = warm.is_none() && cgroup_after_pid1(prep);
    let (mut run_cgroup, mut limits) = match warm.as_mut().and_then(|c| c.cgroup.take()) {
        Some(cg) => (Some(RunCg::Pooled(cg)), limits_for(prep)),
        None if late => (None, limits_for(prep)),
        None => {
            let (cg, limits) = run_cgroup_for(prep)?;
            (cg.map(RunCg::Own), limits)
        }
    };
    tracing::debug!(
        "sandbox: uid map {:?}, gid map {:?}",
        map.uid_map_line().trim_end(),
        map.gid_map_line().trim_end()
    );
    let mut prepared = warm.is_some();
    // The before-exec step's outcome, when it had to end before a fork.
    let mut settled = None;
    let started_in = match warm {
        Some(claimed) => match start_warm(
            prep,
            claimed,
            &pipes,
            run_cgroup.as_ref().and_then(|c| c.own()),
        ) {
            Ok(mut s) => {
                // The sandbox holds the write ends now; keep the read ends.
                let Pipes { out, err } = pipes;
                s.out_r = out.map(|(r, _w)| r);
                s.err_r = err.map(|(r, _w)| r);
                s
            }
            Err(e) => {
                // It ended between the check and the call: a new sandbox
                // (and a cgroup sized for it) serves the call instead.
                tracing::warn!("sandbox: the prepared sandbox was gone ({e}); a new one");
                prepared = false;
                if let Some(cg) = run_cgroup.take() {
                    let _ = cg.finish();
                }
                let (cg, l) = run_cgroup_for(prep)?;
                (run_cgroup, limits) = (cg.map(RunCg::Own), l);
                settled = BeforeExec::settle(before_exec);
                start_fresh(prep, pipes, map, run_cgroup.as_deref())?
            }
        },
        None => {
            settled = BeforeExec::settle(before_exec);
            if late {
                start_before_cgroup(prep, pipes, map)?
            } else {
                start_fresh(prep, pipes, map, run_cgroup.as_deref())?
            }
        }
    };
    let Started {
        chan: parent_end,
        lifeline,
        child,
        init,
        init_fd,
        out_r,
        err_r,
    } = started_in;
    let kill_child = || match (child, &init_fd) {
        (Some(child), _) => {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
        }
        (None, Some(fd)) => pool::pidfd_kill(fd, Signal::SIGKILL),
        (None, None) => {}
    };
    // The before-exec step runs on its own thread while the sandbox is
    // built (the launcher forks nothing after this point).
    std::thread::scope(|scope| -> Result<(), SandboxError> {
        // A small stack, and nothing allocated on the thread (its line is
        // logged here), so it adds no malloc arena to the launcher's RSS.
        let step = Instant::now();
        let job = match settled {
            Some(r) => Some(Err(r)),
            // A threaded step is a wait for the caller's thread: done here.
            None => before_exec.map(|b| {
                if b.threaded {
                    let r = (b.step)();
                    tracing::info!(
                        "sandbox: before-exec step (begun on the caller's thread) waited for \
                         {:.2} ms",
                        step.elapsed().as_secs_f64() * 1e3
                    );
                    return Err(r);
                }
                let hook = b.step;
                let timed = move || (hook(), step.elapsed());
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(scope, timed)
                    .map_err(|_| hook())
            }),
        };
        let built = match child {
            Some(child) => ids_for(child, &parent_end, &map, prep, late || run_cgroup.is_some()),
            // A prepared sandbox had its id maps written when it was made.
            None => Ok(()),
        };
        // The late cgroup, made while pid 1 builds the view.
        let built = built.and_then(|()| {
            if late {
                let (cg, l) = run_cgroup_for(prep)?;
                (run_cgroup, limits) = (cg.map(RunCg::Own), l);
                send_join(&parent_end, run_cgroup.as_deref())?;
            }
            Ok(())
        });
        if built.is_err() {
            kill_child();
        }
        let hooked = match job {
            None | Some(Err(Ok(()))) => Ok(()),
            Some(Err(Err(e))) => Err(e),
            Some(Ok(t)) => match t.join() {
                Ok((r, took)) => {
                    tracing::info!(
                        "sandbox: before-exec step done in {:.2} ms",
                        took.as_secs_f64() * 1e3
                    );
                    r
                }
                Err(_) => Err("the before-exec step panicked".into()),
            },
        };
        built?;
        if let Err(e) = hooked {
            kill_child();
            return Err(SandboxError::BeforeExec(e));
        }
        if let Err(e) = send_msg(parent_end.as_raw_fd(), &Message::Proceed) {
            if !prepared {
                kill_child();
                return Err(e.into());
            }
            // A prepared sandbox that ended before its tool could exec
            // (nothing of the call ran): the watch below sees it end, and
            // a new sandbox serves the call.
            tracing::debug!("sandbox: the prepared sandbox did not take Proceed: {e}");
        }
        Ok(())
    })?;
    let mut watch = Watch {
        channel: Some(parent_end),
        out: out_r.map(|fd| (fd, Captured::default())),
        err: err_r.map(|fd| (fd, Captured::default())),
        child,
        init,
        init_fd,
        status: None,
        failure: None,
        exec_errno: None,
        confinement: None,
        timed_out: false,
        max_output: prep.plan.max_output,
        out_forward: forward_out.then_some(1),
        err_forward: forward_err.then_some(2),
        out_done: None,
        err_done: None,
        started,
        until_tool_end: after_tool.is_some() && run_cgroup.is_some(),
        tool_cpu_usec: None,
    };
    let deadline = started + prep.plan.timeout;
    let watched = watch.run(&mut sfd, deadline, on_listener);
    // A prepared sandbox's pid 1 ends (if it had not) once this closes.
    drop(lifeline);
    watched?;
    // The tool has ended, the sandbox not yet: its result goes to
    // `after_tool` while the rest ends (the second watch below).
    let mut ending = watch.tool_ended();
    if prepared
        && watch.confinement.is_none()
        && watch.status.is_none()
        && watch.failure.is_none()
        && watch.exec_errno.is_none()
        && !watch.timed_out
    {
        // The prepared sandbox ended before its tool was even confined
        // (killed while it waited, between the check and the call): nothing
        // of the call ran, so a new sandbox serves it.
        tracing::warn!("sandbox: the prepared sandbox ended before the call started; a new one");
        if let Some(cg) = run_cgroup.take() {
            let _ = cg.finish();
        }
        return launch_blocked(
            prep,
            capture,
            started,
            on_listener,
            before_exec,
            None,
            after_tool,
        );
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    let step = Instant::now();
    // Usage, then the cgroup goes (whatever is left in it is killed first).
    let mut usage = run_cgroup.as_ref().map(|c| c.usage()).unwrap_or_default();
    if usage.cpu_usec.is_none() {
        // No cgroup measures it: what pid 1 reported, else the waited-for
        // children's time (only once pid 1 has been).
        usage.cpu_usec = watch.tool_cpu_usec;
        if usage.cpu_usec.is_none() {
            if ending {
                finish_watch(&mut watch, &mut sfd, deadline, on_listener);
                ending = false;
            }
            usage.cpu_usec = children_cpu_usec();
        }
    }
    let report = CgroupReport {
        version: run_cgroup.as_ref().map(|c| c.version),
        applied: run_cgroup.as_ref().map(|c| c.applied()).unwrap_or_default(),
        skipped: run_cgroup
            .as_ref()
            .map(|c| c.skipped.clone())
            .unwrap_or_default(),
        limits: cgroup::Limits {
            pids: prep.plan.pids,
            ..limits
        },
    };
    let outcome = outcome_of(&mut watch, usage, report, duration_ms, prepared, capture);
    if ending {
        let handed = Instant::now();
        if let (Ok(o), Some(hook)) = (&outcome, after_tool.as_mut()) {
            hook(o);
        }
        tracing::info!(
            "sandbox: the tool ended after {duration_ms} ms; its result handed on in {} while \
             the sandbox ended",
            watch::ms(handed)
        );
        finish_watch(&mut watch, &mut sfd, deadline, on_listener);
    }
    if let Some(cg) = run_cgroup {
        if let Err(e) = cg.finish() {
            tracing::warn!("removing the run's cgroup: {e}");
        }
    }
    tracing::info!(
        "sandbox: ended after {} ms; usage read and cgroup removed in {}",
        started.elapsed().as_millis(),
        watch::ms(step)
    );
    outcome
}

/// The rest of a watch that returned at the tool's end: until pid 1 has
/// ended too (killed at the run's deadline, or
/// [`TEARDOWN`] from now if that is later).
fn finish_watch(
    watch: &mut Watch,
    sfd: &mut SignalFd,
    deadline: Instant,
    on_listener: ListenerHook<'_>,
) {
    watch.until_tool_end = false;
    let timed_out = watch.timed_out;
    let deadline = deadline.max(Instant::now() + TEARDOWN);
    if let Err(e) = watch.run(sfd, deadline, on_listener) {
        tracing::warn!("sandbox: waiting for the sandbox's end after its tool's: {e}");
        watch.kill_all();
    }
    if watch.timed_out && !timed_out {
        tracing::warn!("sandbox: pid 1 did not end after its tool; killed");
    }
}

/// How long the sandbox may take to end after its tool did, beyond the run's own deadline.
const TEARDOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// The run's outcome from what the watch saw.
fn outcome_of(
    watch: &mut Watch,
    usage: cgroup::Usage,
    report: CgroupReport,
    duration_ms: u64,
    prepared: bool,
    capture: bool,
) -> Result<RunOutcome, SandboxError> {
    if let Some((step, error)) = watch.failure.clone() {
        return Err(SandboxError::Setup { step, error });
    }
    let (exit_code, signal) = match (&watch.status, watch.timed_out) {
        (_, true) => (None, None),
        (Some(Message::Exited { code }), _) => (Some(*code), None),
        (Some(Message::Signaled { signal }), _) => (None, Some(*signal)),
        _ if usage.oom_killed => {
            return Err(SandboxError::NoStatus(
                "the memory limit was reached and the OOM killer took the sandbox's pid 1".into(),
            ))
        }
        _ => {
            return Err(SandboxError::NoStatus(
                "pid 1 ended without a status".into(),
            ))
        }
    };
    Ok(RunOutcome {
        cgroup: report,
        usage,
        exit_code,
        signal,
        timed_out: watch.timed_out,
        duration_ms,
        exec_errno: watch.exec_errno,
        confinement: watch.confinement.clone(),
        prepared,
        stdout: watch.out_done.take().filter(|_| capture),
        stderr: watch.err_done.take().filter(|_| capture),
    })
}

/// Controller names for the `-v` lines (`-` for none).
pub(super) fn names(cs: &[cgroup::Controller]) -> String {
    if cs.is_empty() {
        return "-".into();
    }
    cs.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
}

/// CPU time of every waited-for descendant, when no cgroup measures it.
pub(super) fn children_cpu_usec() -> Option<u64> {
    let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).ok()?;
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    Some(us(r.user_time()) + us(r.system_time()))
}
