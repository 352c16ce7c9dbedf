//! The sandbox, built directly with the kernel's interfaces. The launcher
//! (this process) forks a setup process that unshares the namespaces; the
//! launcher writes its id maps; the setup process forks the sandbox's pid 1,
//! which builds the filesystem view and forks the tool; the tool's process
//! drops every privilege and execs.
//!
//! ```text
//! launcher ──fork──> setup (new user, mount, pid, net, ipc, uts, cgroup ns)
//!                      └──fork──> pid 1 (mounts, hostname, loopback)
//!                                   └──fork──> tool (caps, Landlock, seccomp, exec)
//! ```
//!
//! Files: `prepare.rs` (all checks before any process starts), `process.rs`
//! (the setup process, pid 1 and the tool's process), `watch.rs` (the
//! launcher's event loop), and one module per mechanism.

pub mod caps;
pub mod cgroup;
pub mod channel;
pub mod init;
pub mod landlock;
pub mod mounts;
pub mod namespaces;
pub mod net;
pub mod plan;
mod prepare;
mod process;
pub mod seccomp;
mod watch;

pub use prepare::{
    close_inherited_fds, extra_groups, prepare, resolve_program, seccomp_available, thread_count,
    Mechanisms, Prepared, ResolveError,
};

use channel::{recv_msg, send_msg, ChannelError, Confinement, Message};
use namespaces::IdMap;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;
use serde::Serialize;
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
pub type BeforeExec<'a> = &'a (dyn Fn() -> Result<(), String> + Sync);

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
    let started = Instant::now();
    let signals = init::handled_signals();
    let mut old_mask = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), Some(&mut old_mask))
        .map_err(os("blocking signals"))?;
    let result = launch_blocked(prep, capture, started, on_listener, before_exec);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}

fn launch_blocked(
    prep: &Prepared,
    capture: bool,
    started: Instant,
    on_listener: ListenerHook<'_>,
    before_exec: Option<BeforeExec<'_>>,
) -> Result<RunOutcome, SandboxError> {
    let mut sfd = SignalFd::with_flags(
        &init::handled_signals(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(os("creating the launcher's signalfd"))?;
    let (parent_end, child_end) = channel::pair()?;
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
    let launcher = nix::unistd::getpid();
    // The run's cgroup exists, with its limits, before any process does.
    let limits = cgroup::Limits {
        memory: prep.plan.memory,
        cpu_millis: prep.plan.cpu_millis,
        // The setup process sits in the cgroup beside the sandbox's processes.
        pids: prep.plan.pids + 1,
    };
    let step = Instant::now();
    let run_cgroup = match &prep.cgroup_layout {
        Some(layout) => Some(cgroup::RunCgroup::create(
            layout,
            &cgroup::Request {
                limits,
                parent: prep.plan.cgroup_parent.clone(),
                optional: prep.plan.optional.clone(),
            },
        )?),
        None => None,
    };
    match &run_cgroup {
        Some(cg) => {
            tracing::info!(
                "sandbox: cgroup {} created in {} (limits: {}; skipped: {})",
                cg.version,
                watch::ms(step),
                names(&cg.applied()),
                names(&cg.skipped)
            );
            for d in cg.dirs() {
                tracing::debug!("sandbox: cgroup directory {}", d.display());
            }
            tracing::debug!(
                "sandbox: cgroup limits: memory {} bytes, cpu {}m, pids {} (the setup process included)",
                limits.memory,
                limits.cpu_millis,
                limits.pids
            );
        }
        None => tracing::info!("sandbox: no cgroup (every limit optional, none mounted)"),
    }
    tracing::debug!(
        "sandbox: uid map {:?}, gid map {:?}",
        map.uid_map_line().trim_end(),
        map.gid_map_line().trim_end()
    );
    let cgroup_files = run_cgroup
        .as_ref()
        .map(|c| c.join_files())
        .unwrap_or_default();
    let step = Instant::now();
    // SAFETY: the launcher is single-threaded (nothing here starts threads),
    // so the child may allocate and run ordinary Rust code after fork.
    let setup = match unsafe { nix::unistd::fork() }.map_err(os("forking the setup process"))? {
        ForkResult::Child => {
            drop(parent_end);
            process::setup_process(
                prep,
                child_end.as_raw_fd(),
                &pipes,
                map,
                launcher,
                &cgroup_files,
            )
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_end);
    // The children hold the write ends now; the launcher keeps only the read ends.
    let Pipes { out, err } = pipes;
    let out_r = out.map(|(r, _w)| r);
    let err_r = err.map(|(r, _w)| r);
    let kill_setup = || {
        let _ = kill(setup, Signal::SIGKILL);
        let _ = waitpid(setup, None);
    };
    tracing::info!(
        "sandbox: setup process {setup} forked in {}",
        watch::ms(step)
    );
    // The before-exec step runs on its own thread while the sandbox is
    // built (the launcher forks nothing after this point).
    std::thread::scope(|scope| -> Result<(), SandboxError> {
        // A small stack, and nothing allocated on the thread (its line is
        // logged here), so it adds no malloc arena to the launcher's RSS.
        let step = Instant::now();
        let job = before_exec.map(|hook| {
            let timed = move || (hook(), step.elapsed());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn_scoped(scope, timed)
                .map_err(|_| hook())
        });
        let built = (|| -> Result<(), SandboxError> {
            let step = Instant::now();
            // Step: the setup process has unshared; write its id maps.
            match recv_msg(&parent_end) {
                Ok(Some(Message::Unshared)) => {}
                Ok(Some(Message::SetupFailed { step, error })) => {
                    kill_setup();
                    return Err(SandboxError::Setup { step, error });
                }
                other => {
                    kill_setup();
                    return Err(SandboxError::NoStatus(format!(
                        "expected Unshared, got {other:?}"
                    )));
                }
            }
            tracing::info!(
                "sandbox: namespaces unshared ({}) in {}{}",
                prep.plan.namespaces.join(", "),
                watch::ms(step),
                if run_cgroup.is_some() {
                    " (the setup process joined the cgroup first)"
                } else {
                    ""
                }
            );
            let step = Instant::now();
            if let Err(e) = namespaces::write_id_maps(setup, &map) {
                kill_setup();
                return Err(e.into());
            }
            tracing::info!("sandbox: id maps written in {}", watch::ms(step));
            send_msg(parent_end.as_raw_fd(), &Message::MapsWritten)?;
            Ok(())
        })();
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
            kill_setup();
            return Err(SandboxError::BeforeExec(e));
        }
        if let Err(e) = send_msg(parent_end.as_raw_fd(), &Message::Proceed) {
            kill_setup();
            return Err(e.into());
        }
        Ok(())
    })?;
    let mut watch = Watch {
        channel: Some(parent_end),
        out: out_r.map(|fd| (fd, Captured::default())),
        err: err_r.map(|fd| (fd, Captured::default())),
        setup: Some(setup),
        init: None,
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
    };
    watch.run(&mut sfd, started + prep.plan.timeout, on_listener)?;
    let duration_ms = started.elapsed().as_millis() as u64;
    let step = Instant::now();
    // Usage, then the cgroup goes (whatever is left in it is killed first).
    let mut usage = run_cgroup.as_ref().map(|c| c.usage()).unwrap_or_default();
    if usage.cpu_usec.is_none() {
        usage.cpu_usec = children_cpu_usec();
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
    if let Some(cg) = run_cgroup {
        if let Err(e) = cg.remove() {
            tracing::warn!("removing the run's cgroup: {e}");
        }
    }
    tracing::info!(
        "sandbox: ended after {duration_ms} ms; usage read and cgroup removed in {}",
        watch::ms(step)
    );
    if let Some((step, error)) = watch.failure {
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
        confinement: watch.confinement,
        stdout: watch.out_done.filter(|_| capture),
        stderr: watch.err_done.filter(|_| capture),
    })
}

/// Controller names for the `-v` lines (`-` for none).
fn names(cs: &[cgroup::Controller]) -> String {
    if cs.is_empty() {
        return "-".into();
    }
    cs.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
}

/// CPU time of every waited-for descendant, when no cgroup measures it.
fn children_cpu_usec() -> Option<u64> {
    let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).ok()?;
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    Some(us(r.user_time()) + us(r.system_time()))
}
