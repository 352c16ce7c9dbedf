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

pub mod caps;
pub mod cgroup;
pub mod channel;
pub mod init;
pub mod landlock;
pub mod mounts;
pub mod namespaces;
pub mod net;
pub mod plan;
pub mod seccomp;

use channel::{recv_msg, recv_msg_fd, send_msg, ChannelError, Confinement, Message};
use mounts::SourceId;
use namespaces::IdMap;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use plan::{Mechanism, NetworkMode, SandboxPlan};
use serde::Serialize;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{mechanism} is not available on this host: {fix}")]
    Unavailable {
        mechanism: &'static str,
        fix: String,
    },
    #[error("{step}: {error}{}", hint(.step))]
    Setup { step: String, error: String },
    #[error("preparing bind source: {0}")]
    BindSource(#[from] mounts::SetupError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("{what}: {source}")]
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

/// What the launcher decided about each mechanism before starting.
#[derive(Debug, Clone, Serialize)]
pub struct Mechanisms {
    pub seccomp: bool,
    pub landlock_abi: i32,
}

/// Everything computed before fork: the children only use it.
pub struct Prepared {
    pub plan: SandboxPlan,
    pub program: PathBuf,
    pub mechanisms: Mechanisms,
    cgroup_layout: Option<cgroup::Layout>,
    filters: Option<seccomp::SeccompFilters>,
    sources: Vec<SourceId>,
    c_program: CString,
    c_argv: Vec<CString>,
    c_env: Vec<CString>,
}

/// Why a program cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("`{0}` not found on the sandbox PATH ({path})", path = plan::SANDBOX_PATH)]
    NotFound(String),
    #[error("{0} is outside the sandbox's view (bind it in the role's [sandbox] binds)")]
    NotVisible(String),
    #[error("{0} is not an executable file")]
    NotExecutable(String),
}

/// Resolves argv[0] on the host with the sandbox's PATH; the file must be
/// inside the sandbox's read-only view.
pub fn resolve_program(plan: &SandboxPlan) -> Result<PathBuf, ResolveError> {
    let name = plan.argv.first().cloned().unwrap_or_default();
    // `found` is the path inside the sandbox, `host` where the file is on the host.
    let (found, host) = if name.contains('/') {
        let inside = PathBuf::from(&name);
        let host = plan::host_path(plan, &inside);
        if !host.exists() {
            return Err(ResolveError::NotFound(name));
        }
        (inside, host)
    } else {
        let p = which::which_in(&name, Some(plan::SANDBOX_PATH), "/")
            .map_err(|_| ResolveError::NotFound(name.clone()))?;
        (p.clone(), p)
    };
    if !plan::visible_inside(plan, &found) {
        return Err(ResolveError::NotVisible(found.display().to_string()));
    }
    let real = std::fs::canonicalize(&host)
        .map_err(|_| ResolveError::NotFound(found.display().to_string()))?;
    // A symlink must lead somewhere the sandbox sees too (under a system path,
    // or inside the bind it came from).
    let inside_real = plan::inside_path(plan, &real);
    if !inside_real.is_some_and(|p| plan::visible_inside(plan, &p)) {
        return Err(ResolveError::NotVisible(real.display().to_string()));
    }
    let executable =
        nix::unistd::access(&real, nix::unistd::AccessFlags::X_OK).is_ok() && real.is_file();
    if !executable {
        return Err(ResolveError::NotExecutable(found.display().to_string()));
    }
    Ok(found)
}

fn cstring(s: &str) -> Result<CString, SandboxError> {
    CString::new(s).map_err(|_| SandboxError::Setup {
        step: "preparing the tool's argv and environment".into(),
        error: format!("{s:?} contains a NUL byte"),
    })
}

/// True when the kernel supports seccomp filters.
pub fn seccomp_available() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Seccomp:")))
        .unwrap_or(false)
}

/// Checks the mechanisms and the bind sources, builds the seccomp filters:
/// all that can fail is done here, before any process is started.
pub fn prepare(plan: SandboxPlan, program: PathBuf) -> Result<Prepared, SandboxError> {
    let optional = |m| plan.optional.contains(&m);
    let landlock_abi = landlock::kernel_abi();
    if landlock_abi == 0 && !optional(Mechanism::Landlock) {
        return Err(SandboxError::Unavailable {
            mechanism: "Landlock",
            fix: "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and `lsm=landlock,...`, or list \"landlock\" in the role's sandbox.optional".into(),
        });
    }
    let filters = if seccomp_available() {
        Some(seccomp::build_filters()?)
    } else if optional(Mechanism::Seccomp) {
        None
    } else {
        return Err(SandboxError::Unavailable {
            mechanism: "seccomp",
            fix: "boot a kernel with CONFIG_SECCOMP_FILTER=y, or list \"seccomp\" in the role's sandbox.optional".into(),
        });
    };
    let cgroup_layout = cgroup::detect();
    let all_optional = optional(Mechanism::Cgroup)
        || [Mechanism::Memory, Mechanism::Cpu, Mechanism::Pids]
            .iter()
            .all(|m| optional(*m));
    if cgroup_layout.is_none() && !all_optional {
        return Err(SandboxError::Unavailable {
            mechanism: "cgroups",
            fix: "mount cgroup2 on /sys/fs/cgroup (or the v1 memory, cpu and pids hierarchies), or list \"cgroup\" in the role's sandbox.optional".into(),
        });
    }
    let sources = plan
        .binds
        .iter()
        .map(|b| mounts::check_bind_source(&b.source))
        .collect::<Result<Vec<_>, _>>()?;
    let c_program = cstring(&program.display().to_string())?;
    let c_argv = plan
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<_, _>>()?;
    let c_env = plan
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    Ok(Prepared {
        cgroup_layout,
        mechanisms: Mechanisms {
            seccomp: filters.is_some(),
            landlock_abi,
        },
        plan,
        program,
        filters,
        sources,
        c_program,
        c_argv,
        c_env,
    })
}

/// Marks every descriptor above 2 close-on-exec and closes those we did not open.
pub fn close_inherited_fds() {
    // SAFETY: close_range on a range of descriptors; with CLOSE_RANGE_CLOEXEC
    // it only sets flags and touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

struct Pipes {
    out: Option<(OwnedFd, OwnedFd)>,
    err: Option<(OwnedFd, OwnedFd)>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(os("creating an output pipe"))
}

/// Runs the prepared tool in a new sandbox and waits for it.
/// Called with the sandbox's egress listener (bound inside its network
/// namespace) when the role has an egress allow-list; the caller serves it.
pub type ListenerHook<'a> = &'a mut dyn FnMut(std::net::TcpListener);

pub fn launch(
    prep: &Prepared,
    capture: bool,
    on_listener: ListenerHook<'_>,
) -> Result<RunOutcome, SandboxError> {
    let started = Instant::now();
    let signals = init::handled_signals();
    let mut old_mask = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), Some(&mut old_mask))
        .map_err(os("blocking signals"))?;
    let result = launch_blocked(prep, capture, started, on_listener);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}

fn launch_blocked(
    prep: &Prepared,
    capture: bool,
    started: Instant,
    on_listener: ListenerHook<'_>,
) -> Result<RunOutcome, SandboxError> {
    let mut sfd = SignalFd::with_flags(
        &init::handled_signals(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(os("creating the launcher's signalfd"))?;
    let (parent_end, child_end) = channel::pair()?;
    let pipes = Pipes {
        out: if capture { Some(pipe()?) } else { None },
        err: if capture { Some(pipe()?) } else { None },
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
    // SAFETY: the launcher is single-threaded (nothing here starts threads),
    // so the child may allocate and run ordinary Rust code after fork.
    let setup = match unsafe { nix::unistd::fork() }.map_err(os("forking the setup process"))? {
        ForkResult::Child => {
            drop(parent_end);
            setup_process(prep, child_end.as_raw_fd(), &pipes, map, launcher)
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
    // Step: the setup process joins the cgroup before it unshares anything.
    if let Some(cg) = &run_cgroup {
        if let Err(e) = cg.add(setup.as_raw()) {
            kill_setup();
            return Err(e.into());
        }
    }
    send_msg(parent_end.as_raw_fd(), &Message::Proceed)?;
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
    if let Err(e) = namespaces::write_id_maps(setup, &map) {
        kill_setup();
        return Err(e.into());
    }
    send_msg(parent_end.as_raw_fd(), &Message::MapsWritten)?;
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
        out_done: None,
        err_done: None,
    };
    watch.run(&mut sfd, started + prep.plan.timeout, on_listener)?;
    let duration_ms = started.elapsed().as_millis() as u64;
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
        stdout: watch.out_done,
        stderr: watch.err_done,
    })
}

/// CPU time of every waited-for descendant, when no cgroup measures it.
fn children_cpu_usec() -> Option<u64> {
    let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).ok()?;
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    Some(us(r.user_time()) + us(r.system_time()))
}

/// The launcher's event loop over the setup channel, the output pipes and signals.
struct Watch {
    channel: Option<OwnedFd>,
    out: Option<(OwnedFd, Captured)>,
    err: Option<(OwnedFd, Captured)>,
    setup: Option<Pid>,
    init: Option<Pid>,
    status: Option<Message>,
    failure: Option<(String, String)>,
    exec_errno: Option<i32>,
    confinement: Option<Confinement>,
    timed_out: bool,
    max_output: u64,
    out_done: Option<Captured>,
    err_done: Option<Captured>,
}

impl Watch {
    fn kill_all(&self) {
        for pid in [self.init, self.setup].into_iter().flatten() {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    fn run(
        &mut self,
        sfd: &mut SignalFd,
        deadline: Instant,
        on_listener: ListenerHook<'_>,
    ) -> Result<(), SandboxError> {
        let out_open = |w: &Watch| w.out.as_ref().map(|o| o.0.as_raw_fd());
        let err_open = |w: &Watch| w.err.as_ref().map(|o| o.0.as_raw_fd());
        while self.channel.is_some()
            || self.out.is_some()
            || self.err.is_some()
            || self.setup.is_some()
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
            let fds: Vec<RawFd> = [
                Some(sfd.as_fd().as_raw_fd()),
                chan_fd,
                out_open(self),
                err_open(self),
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
            for fd in ready {
                if fd == sfd.as_fd().as_raw_fd() {
                    self.on_signals(sfd);
                } else if Some(fd) == chan_fd {
                    if let Some(listener) = self.on_message()? {
                        on_listener(listener);
                    }
                } else if Some(fd) == out_open(self) {
                    if drain(&mut self.out, self.max_output) {
                        self.close_stream(1);
                    }
                } else if Some(fd) == err_open(self) && drain(&mut self.err, self.max_output) {
                    self.close_stream(2);
                }
            }
            if let Some(pid) = self.setup {
                if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
                    waitpid(pid, Some(WaitPidFlag::WNOHANG))
                {
                    self.setup = None;
                }
            }
        }
        Ok(())
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
            if let (Ok(s), Some(target)) = (Signal::try_from(sig), self.init.or(self.setup)) {
                let _ = kill(target, s);
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
            Some((Message::InitPid(p), _)) => self.init = Some(Pid::from_raw(p)),
            Some((Message::SetupFailed { step, error }, _)) => {
                if self.failure.is_none() {
                    self.failure = Some((step, error));
                }
                self.kill_all();
            }
            Some((Message::Confined(c), _)) => self.confinement = Some(c),
            Some((Message::ExecFailed { errno }, _)) => self.exec_errno = Some(errno),
            Some((m @ (Message::Exited { .. } | Message::Signaled { .. }), _)) => {
                self.status = Some(m)
            }
            Some((
                Message::Unshared
                | Message::MapsWritten
                | Message::Proceed
                | Message::ProxyListener,
                _,
            )) => {}
        }
        Ok(None)
    }
}

/// Reads what is available; keeps at most `max` bytes. True at end of stream.
fn drain(slot: &mut Option<(OwnedFd, Captured)>, max: u64) -> bool {
    let Some((fd, cap)) = slot else { return true };
    let mut buf = [0u8; 65536];
    match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
        Ok(0) => true,
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

/// The setup process: unshares, waits for its id maps, becomes the sandbox
/// user and forks pid 1. Never returns.
fn setup_process(prep: &Prepared, chan: RawFd, pipes: &Pipes, map: IdMap, launcher: Pid) -> ! {
    // The launcher's death kills the sandbox.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        channel::fail(chan, "setting the parent-death signal", e);
    }
    if nix::unistd::getppid() != launcher {
        // SAFETY: the launcher is already gone; end without unwinding.
        unsafe { libc::_exit(125) }
    }
    // Wait until the launcher has put this process in the run's cgroup.
    match recv_msg(&BorrowedRaw(chan)) {
        Ok(Some(Message::Proceed)) => {}
        // SAFETY: the launcher failed or went away; end without unwinding.
        _ => unsafe { libc::_exit(125) },
    }
    let flags = namespaces::clone_flags(prep.plan.network);
    if let Err(e) = nix::sched::unshare(flags) {
        channel::fail(
            chan,
            &format!("unsharing namespaces ({})", prep.plan.namespaces.join(", ")),
            e,
        );
    }
    let _ = send_msg(chan, &Message::Unshared);
    match recv_msg(&BorrowedRaw(chan)) {
        Ok(Some(Message::MapsWritten)) => {}
        // SAFETY: the launcher failed or went away; end without unwinding.
        _ => unsafe { libc::_exit(125) },
    }
    if let Err(e) = namespaces::become_sandbox_user(&map) {
        channel::fail(
            chan,
            &format!("switching to uid {} gid {}", map.inside_uid, map.inside_gid),
            e,
        );
    }
    // Changing the host uid (root's 0 to the sandbox's 65534) clears the
    // parent-death signal: set it again, then make sure the launcher is still there.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        channel::fail(chan, "setting the parent-death signal again", e);
    }
    if nix::unistd::getppid() != launcher {
        // SAFETY: the launcher is already gone; end without unwinding.
        unsafe { libc::_exit(125) }
    }
    // SAFETY: single-threaded process; see launch_blocked.
    match unsafe { nix::unistd::fork() } {
        Err(e) => channel::fail(chan, "forking the sandbox's pid 1", e),
        Ok(ForkResult::Child) => init_process(prep, chan, pipes),
        Ok(ForkResult::Parent { child }) => {
            let _ = send_msg(chan, &Message::InitPid(child.as_raw()));
            let code = match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, c)) => c,
                _ => 125,
            };
            // SAFETY: end the setup process without unwinding.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Lets recv_msg read from a raw descriptor without taking ownership.
struct BorrowedRaw(RawFd);
impl AsRawFd for BorrowedRaw {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The sandbox's pid 1: builds the view, forks the tool, supervises it.
fn init_process(prep: &Prepared, chan: RawFd, pipes: &Pipes) -> ! {
    let plan = &prep.plan;
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        channel::fail(chan, "setting pid 1's parent-death signal", e);
    }
    // /proc/1/cmdline is world-readable: do not show the launcher's arguments
    // (host paths of profiles and logs) to the tool.
    if let Err(e) = init::hide_cmdline() {
        channel::fail(chan, "hiding pid 1's command line", e);
    }
    // Not dumpable: the tool can neither trace pid 1 nor open /proc/1/exe or its fds.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        channel::fail(chan, "making pid 1 non-dumpable", e);
    }
    if let Err(e) = nix::unistd::sethostname(&plan.hostname) {
        channel::fail(chan, "setting the hostname", e);
    }
    if plan.network == NetworkMode::None {
        if let Err(e) = net::loopback_up() {
            channel::fail(chan, "bringing up loopback", e);
        }
        // The egress proxy's door: a listener on the sandbox's own loopback,
        // handed to the launcher, which serves it from outside.
        if !plan.egress.is_empty() {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], plan::PROXY_PORT));
            let listener = match std::net::TcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => channel::fail(chan, "opening the egress proxy listener", e),
            };
            if let Err(e) =
                channel::send_msg_fd(chan, &Message::ProxyListener, listener.as_raw_fd())
            {
                channel::fail(chan, "handing the egress listener to the launcher", e);
            }
            drop(listener);
        }
    }
    let sources = match mounts::open_sources(plan, &prep.sources) {
        Ok(s) => s,
        Err(e) => channel::fail(chan, &e.step, e.source),
    };
    if let Err(e) = mounts::build_root(plan, &sources) {
        channel::fail(chan, &e.step, e.source);
    }
    drop(sources);
    // SAFETY: single-threaded process; see launch_blocked.
    match unsafe { nix::unistd::fork() } {
        Err(e) => channel::fail(chan, "forking the tool", e),
        Ok(ForkResult::Child) => tool_process(prep, chan, pipes),
        Ok(ForkResult::Parent { child }) => {
            for fd in [&pipes.out, &pipes.err].into_iter().flatten() {
                let _ = nix::unistd::close(fd.1.as_raw_fd());
            }
            init::supervise(child, chan)
        }
    }
}

fn set_rlimit(res: nix::sys::resource::Resource, v: u64) -> nix::Result<()> {
    nix::sys::resource::setrlimit(res, v, v)
}

/// The tool's process: new session, clean descriptors, limits, no
/// privileges, Landlock, no_new_privs, seccomp; then exec.
fn tool_process(prep: &Prepared, chan: RawFd, pipes: &Pipes) -> ! {
    use nix::sys::resource::Resource;
    let plan = &prep.plan;
    let fail = |step: &str, e: &dyn std::fmt::Display| -> ! { channel::fail(chan, step, e) };
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // A new session: no controlling terminal, so TIOCSTI cannot reach the caller's.
    if let Err(e) = nix::unistd::setsid() {
        fail("starting a new session", &e);
    }
    for (slot, target) in [(&pipes.out, 1), (&pipes.err, 2)] {
        if let Some((_, w)) = slot {
            if let Err(e) = nix::unistd::dup2(w.as_raw_fd(), target) {
                fail("connecting the output pipe", &e);
            }
        }
    }
    if let Err(e) = nix::unistd::chdir(plan.workdir) {
        fail(&format!("entering {}", plan.workdir), &e);
    }
    // The working directory must lie inside the new root (CVE-2024-21626).
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd == Path::new(plan.workdir) => {}
        Ok(cwd) => fail(
            "checking the working directory",
            &format!("{} is outside the sandbox", cwd.display()),
        ),
        Err(e) => fail("checking the working directory", &e),
    }
    close_inherited_fds();
    for (res, v, name) in [
        (Resource::RLIMIT_NOFILE, plan.nofile, "RLIMIT_NOFILE"),
        (Resource::RLIMIT_CORE, 0, "RLIMIT_CORE"),
        (Resource::RLIMIT_FSIZE, plan.max_file_size, "RLIMIT_FSIZE"),
    ] {
        if let Err(e) = set_rlimit(res, v) {
            fail(&format!("setting {name}"), &e);
        }
    }
    // The tool, not pid 1, is what the OOM killer takes when the cgroup runs out
    // (tmpfs pages belong to no process, so pid 1 could otherwise look largest).
    // (pid 1's non-dumpable flag was inherited; /proc/self is only ours to write when
    // dumpable, and exec resets the flag in any case.)
    if let Err(e) = nix::sys::prctl::set_dumpable(true) {
        fail("making the tool's process dumpable", &e);
    }
    if let Err(e) = std::fs::write("/proc/self/oom_score_adj", "1000") {
        fail("raising the tool's oom_score_adj", &e);
    }
    if let Err(e) = caps::drop_all() {
        fail("dropping capabilities", &e);
    }
    let landlock = if prep.mechanisms.landlock_abi > 0 {
        match landlock::restrict(plan) {
            Ok(status) => landlock::status_name(&status).to_string(),
            Err(e) => fail("applying Landlock", &e),
        }
    } else {
        "none".to_string()
    };
    if let Err(e) = nix::sys::prctl::set_no_new_privs() {
        fail("setting no_new_privs", &e);
    }
    if let Some(filters) = &prep.filters {
        if let Err(e) = filters.apply() {
            fail("installing the seccomp filter", &e);
        }
    }
    let _ = send_msg(
        chan,
        &Message::Confined(Confinement {
            landlock_abi: prep.mechanisms.landlock_abi,
            landlock,
            seccomp: prep.filters.is_some(),
            no_new_privs: true,
        }),
    );
    let err = nix::unistd::execve(&prep.c_program, &prep.c_argv, &prep.c_env)
        .err()
        .unwrap_or(Errno::UnknownErrno);
    let _ = send_msg(chan, &Message::ExecFailed { errno: err as i32 });
    // SAFETY: exec failed; end the child without unwinding.
    unsafe { libc::_exit(127) }
}
