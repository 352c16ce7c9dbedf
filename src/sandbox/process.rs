//! The processes of a sandbox, after the launcher's clone: pid 1 (cgroup,
//! identity, the view, then supervision) and the tool's process
//! (descriptors, limits, privileges, Landlock, seccomp, exec); and, where a
//! seccomp filter of the launcher's own refuses namespaces in `clone`, a
//! setup process between the launcher and pid 1 (`fork.rs` says when).
//! A prepared sandbox (`super::pool`) runs the same steps; its pid 1 stops
//! after the view, reports `Ready` and waits for the one call it will serve.
//!
//! About 670 lines, over the usual bound: the order of the steps across the
//! setup process, pid 1 (with its network namespace's thread and its late
//! cgroup join) and the tool's process is the argument that nothing of the
//! tool's runs before its confinement, and it reads best top to bottom in
//! one file.

use super::channel::{self, recv_msg, send_msg, Confinement, Message};
use super::namespaces::{self, IdMap};
use super::plan::{self, NetworkMode};
use super::{caps, cgroup, close_inherited_fds, init, landlock, mounts, net, Pipes, Prepared};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// The setup process, where this process runs under a seccomp filter of its
/// own (a container runtime's, as in the Kubernetes profile, which refuses
/// `clone3` and namespace flags on `clone` but allows `unshare`): it joins
/// the run's cgroup, unshares, waits for its id maps, becomes the sandbox
/// user and forks pid 1. Never returns.
pub(super) fn setup_process(
    prep: &Prepared,
    chan: RawFd,
    pipes: &Pipes,
    map: IdMap,
    launcher: Pid,
    cgroup_files: &[std::ffi::CString],
    prepared: bool,
) -> ! {
    if prepared {
        // A prepared sandbox is forked from a long-lived owner: keep only the
        // channel (the owner's sockets and other sandboxes' channels stay out).
        keep_only(chan);
    }
    // The launcher's death kills the sandbox.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        channel::fail(chan, "setting the parent-death signal", e);
    }
    if nix::unistd::getppid() != launcher {
        // SAFETY: the launcher is already gone; end without unwinding.
        unsafe { libc::_exit(125) }
    }
    // Into the run's cgroup before anything is unshared: the tool, forked
    // below, can only start inside it (a failed move ends the run).
    if let Err((file, e)) = cgroup::join_self(cgroup_files) {
        channel::fail(
            chan,
            &format!("joining the run's cgroup ({})", file.to_string_lossy()),
            e,
        );
    }
    // Root drops its supplementary groups before the user namespace exists
    // (an unprivileged caller cannot; prepare() refused or the plan keeps them).
    if nix::unistd::geteuid().is_root() {
        if let Err(e) = nix::unistd::setgroups(&[]) {
            channel::fail(chan, "dropping supplementary groups (setgroups(0))", e);
        }
    }
    let flags = namespaces::clone_flags(prep.plan.network);
    if let Err(e) = nix::sched::unshare(flags) {
        channel::fail(
            chan,
            &format!("unsharing namespaces ({})", prep.plan.namespaces.join(", ")),
            e,
        );
    }
    take_identity(chan, &map);
    // (Make sure the launcher is still there.)
    if nix::unistd::getppid() != launcher {
        // SAFETY: the launcher is already gone; end without unwinding.
        unsafe { libc::_exit(125) }
    }
    // SAFETY: single-threaded process; see launch_blocked.
    match unsafe { nix::unistd::fork() } {
        Err(e) => channel::fail(chan, "forking the sandbox's pid 1", e),
        Ok(ForkResult::Child) => {
            init_process(prep, chan, pipes, prepared, Deferred::default(), None)
        }
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

/// A sandbox's pid 1, made by the launcher (or a pool's owner) in its new
/// namespaces (`fork::clone_init`). First, still with the namespace's full
/// capabilities: it joins the run's cgroup (unless it was made inside it)
/// and unshares its cgroup namespace there, so that the namespace's root is
/// the run's cgroup; then it says so, waits for its id maps, becomes the
/// sandbox user and goes on as pid 1. With `deferred.cgroup` the cgroup does
/// not exist yet: pid 1 builds the view meanwhile and joins it (then
/// unshares its cgroup namespace) in /proc's build, just before the user
/// namespace's limits, which must come after that unshare, and long before
/// the tool exists. Never returns.
pub(super) fn direct_init(
    prep: &Prepared,
    chan: RawFd,
    pipes: &Pipes,
    map: IdMap,
    cgroup_fds: Vec<std::os::fd::OwnedFd>,
    prepared: bool,
    deferred: Deferred,
) -> ! {
    // The launcher's death kills the sandbox. (pid 1 cannot see its parent's
    // pid: the end of the channel tells when the launcher has gone.)
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        channel::fail(chan, "setting the parent-death signal", e);
    }
    // Into the run's cgroup before the tool exists (a failed move ends the
    // run). The kernel checks a write to these files against the opener's
    // credentials, the launcher's.
    if !deferred.cgroup {
        join_cgroup(chan, &cgroup_fds);
    }
    drop(cgroup_fds);
    if prepared {
        // A prepared sandbox is made by a long-lived owner: keep only the
        // channel (the owner's sockets and other sandboxes' channels stay out).
        keep_only(chan);
    }
    take_identity(chan, &map);
    // (Make sure the launcher had not gone before.)
    if peer_gone(chan) {
        // SAFETY: the launcher is gone; end without unwinding.
        unsafe { libc::_exit(125) }
    }
    // A deferred network namespace is made from now on a thread, beside the
    // view's build (the thread has the user namespace's capabilities, as
    // pid 1 has; it starts after the credential change, which glibc would
    // otherwise make it wait for).
    let making = match deferred.net == NetSetup::Thread && prep.plan.network == NetworkMode::None {
        true => match net::make_on_thread() {
            Ok(m) => Some(m),
            Err(e) => channel::fail(chan, "starting the network namespace's thread", e),
        },
        false => None,
    };
    init_process(prep, chan, pipes, prepared, deferred, making)
}

/// What pid 1 of a one-shot run does itself after its clone, while the
/// launcher works beside it (see `direct_init`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Deferred {
    /// The run's cgroup comes later (`Message::Join`): joined before the
    /// user namespace's limits are set in /proc's build.
    pub(super) cgroup: bool,
    /// Where pid 1's network namespace comes from.
    pub(super) net: NetSetup,
}

/// Where a pid 1's network namespace comes from (for a plan that has one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum NetSetup {
    /// Its clone's (CLONE_NEWNET): pid 1 brings loopback up.
    #[default]
    Cloned,
    /// pid 1 was cloned without CLONE_NEWNET: it makes its namespace on a
    /// thread while the view is built, and enters it in /proc's build.
    Thread,
    /// Made ahead, loopback up (`net::Ahead`): pid 1 was cloned inside it.
    Ready,
}

/// In pid 1's own network namespace: loopback up, and the egress door.
fn network_up(plan: &super::plan::SandboxPlan, chan: RawFd) {
    if let Err(e) = net::loopback_up() {
        channel::fail(chan, "bringing up loopback", e);
    }
    egress_door(plan, chan);
}

/// The egress proxy's door, for a plan with an egress list: a listener on
/// the sandbox's loopback, handed to the launcher, which serves it from
/// outside.
fn egress_door(plan: &super::plan::SandboxPlan, chan: RawFd) {
    if !plan.egress.is_empty() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], plan::PROXY_PORT));
        let listener = match std::net::TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => channel::fail(chan, "opening the egress proxy listener", e),
        };
        if let Err(e) = channel::send_msg_fd(chan, &Message::ProxyListener, listener.as_raw_fd()) {
            channel::fail(chan, "handing the egress listener to the launcher", e);
        }
        drop(listener);
    }
}

/// Joins the run's cgroup (none: `fds` is empty) and unshares the cgroup
/// namespace there, so that the namespace's root is the run's cgroup.
fn join_cgroup(chan: RawFd, fds: &[std::os::fd::OwnedFd]) {
    if let Err(e) = cgroup::join_self_fds(fds) {
        channel::fail(chan, "joining the run's cgroup", e);
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP) {
        channel::fail(chan, "unsharing the cgroup namespace", e);
    }
}

/// The late join (see `direct_init`): one `Join` with exactly its files;
/// anything else, or the launcher gone, ends pid 1 before any tool exists.
fn join_late_cgroup(chan: RawFd) {
    let fds = match channel::recv_msg_fds_sized(&BorrowedRaw(chan), 64) {
        Ok(Some((Message::Join { cgroups }, fds))) if fds.len() == cgroups => fds,
        Ok(Some((other, fds))) => channel::fail(
            chan,
            "waiting for the run's cgroup",
            format!(
                "expected Join, got {other:?} with {} descriptors",
                fds.len()
            ),
        ),
        // SAFETY: the launcher went away or failed; end without unwinding.
        Ok(None) => unsafe { libc::_exit(125) },
        Err(e) => channel::fail(chan, "receiving the run's cgroup", e),
    };
    join_cgroup(chan, &fds);
}

/// In the new namespaces: says so, waits for the id maps, becomes the
/// sandbox user, and sets the parent-death signal again (changing the host
/// uid, root's 0 to the sandbox's 65534, clears it). The caller then makes
/// sure the launcher had not gone before that.
fn take_identity(chan: RawFd, map: &IdMap) {
    let _ = send_msg(chan, &Message::Unshared);
    match recv_msg(&BorrowedRaw(chan)) {
        Ok(Some(Message::MapsWritten)) => {}
        // SAFETY: the launcher failed or went away; end without unwinding.
        _ => unsafe { libc::_exit(125) },
    }
    if let Err(e) = namespaces::become_sandbox_user(map) {
        channel::fail(
            chan,
            &format!("switching to uid {} gid {}", map.inside_uid, map.inside_gid),
            e,
        );
    }
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        channel::fail(chan, "setting the parent-death signal again", e);
    }
}

/// Whether the other end of the channel has closed (the launcher is gone).
fn peer_gone(chan: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd: chan,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for `chan`, this process's open channel; no
    // waiting (timeout 0).
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r < 0 || p.revents & (libc::POLLRDHUP | libc::POLLHUP) != 0
}

/// Lets recv_msg read from a raw descriptor without taking ownership.
struct BorrowedRaw(RawFd);
impl AsRawFd for BorrowedRaw {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Closes every descriptor above 2 but `chan`.
fn keep_only(chan: RawFd) {
    let chan = chan as u32;
    // SAFETY: close_range on descriptor ranges that exclude `chan`; no
    // memory is touched.
    unsafe {
        if chan > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, chan - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, chan + 1, u32::MAX, 0u32);
    }
}

/// What the tool's process execs, with the descriptors it gets as stdio (a
/// prepared sandbox's call brings its own; a one-shot run's are inherited).
pub(super) struct Exec<'a> {
    program: &'a std::ffi::CStr,
    argv: &'a [std::ffi::CString],
    env: &'a [std::ffi::CString],
    stdio: &'a [std::os::fd::OwnedFd],
}

/// The sandbox's pid 1: builds the view, forks the tool, supervises it.
fn init_process(
    prep: &Prepared,
    chan: RawFd,
    pipes: &Pipes,
    prepared: bool,
    deferred: Deferred,
    mut making: Option<net::Making>,
) -> ! {
    let plan = &prep.plan;
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        channel::fail(chan, "setting pid 1's parent-death signal", e);
    }
    // /proc/1/cmdline is world-readable: do not show the launcher's arguments
    // (host paths of profiles and logs) to the tool.
    if let Err(e) = init::hide_cmdline(init::INIT_NAME) {
        channel::fail(chan, "hiding pid 1's command line", e);
    }
    // /proc/1/status and /proc/1/comm show "init", not the launcher's name.
    if let Err(e) = nix::sys::prctl::set_name(c"init") {
        channel::fail(chan, "naming pid 1", e);
    }
    // Not dumpable: the tool can neither trace pid 1 nor open /proc/1/exe or its fds.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        channel::fail(chan, "making pid 1 non-dumpable", e);
    }
    if let Err(e) = nix::unistd::sethostname(&plan.hostname) {
        channel::fail(chan, "setting the hostname", e);
    }
    // The network namespace: pid 1's own from its clone, made ahead with
    // its loopback up, or being made on a thread (`making`), entered before
    // the user namespace's limits.
    if plan.network == NetworkMode::None && making.is_none() {
        match deferred.net {
            NetSetup::Ready => egress_door(plan, chan),
            NetSetup::Cloned | NetSetup::Thread => network_up(plan, chan),
        }
    }
    let sources = match mounts::open_sources(plan, &prep.sources) {
        Ok(s) => s,
        Err(e) => channel::fail(chan, &e.step, e.source),
    };
    let mut before_limits = || {
        if let Some(m) = making.take() {
            if let Err((step, e)) = m.enter() {
                channel::fail(chan, step, e);
            }
            egress_door(plan, chan);
        }
        if deferred.cgroup {
            join_late_cgroup(chan);
        }
    };
    if let Err(e) = mounts::build_root(plan, &sources, &mut before_limits) {
        channel::fail(chan, &e.step, e.source);
    }
    drop(sources);
    if prepared {
        arm_and_wait(prep, chan)
    }
    let exec = Exec {
        program: &prep.c_program,
        argv: &prep.c_argv,
        env: &prep.c_env,
        stdio: &[],
    };
    // SAFETY: single-threaded process; see launch_blocked.
    match unsafe { nix::unistd::fork() } {
        Err(e) => channel::fail(chan, "forking the tool", e),
        Ok(ForkResult::Child) => tool_process(prep, chan, pipes, &exec),
        Ok(ForkResult::Parent { child }) => {
            for fd in [&pipes.out, &pipes.err].into_iter().flatten() {
                let _ = nix::unistd::close(fd.1.as_raw_fd());
            }
            init::supervise(child, chan, None)
        }
    }
}

/// A prepared sandbox's pid 1 once the view is built: forks the tool's
/// process at once, which confines itself (seccomp included; only its exec
/// waits for the call's record, like a one-shot run's) and then waits for
/// the call's argv, environment and stdio over a private channel; pid 1
/// reports `Ready` meanwhile (a call that comes before the tool's process
/// is armed waits for it). A tool's process that fails to arm says why on
/// `chan` and ends; the call that claims this sandbox then fails with that
/// reason, as a one-shot run would.
fn arm_and_wait(prep: &Prepared, chan: RawFd) -> ! {
    let (mine, theirs) = match channel::pair() {
        Ok(p) => p,
        Err(e) => channel::fail(chan, "creating the tool's channel", e),
    };
    // SAFETY: single-threaded process; see launch_blocked.
    match unsafe { nix::unistd::fork() } {
        Err(e) => channel::fail(chan, "forking the tool", e),
        Ok(ForkResult::Child) => {
            drop(mine);
            armed_tool(prep, chan, theirs)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(theirs);
            let _ = send_msg(chan, &Message::Ready);
            serve_one_call(prep, chan, child, mine)
        }
    }
}

/// A prepared sandbox's armed tool process: confined, seccomp included, it
/// takes the call from pid 1 (`Go` with exactly its three stdio
/// descriptors; anything else, or pid 1's end closing, ends it), then
/// runs the exec steps of any tool.
fn armed_tool(prep: &Prepared, chan: RawFd, link: std::os::fd::OwnedFd) -> ! {
    let none = Pipes {
        out: None,
        err: None,
    };
    // Told apart from pid 1 in the host's process list until its exec.
    let _ = init::hide_cmdline(init::ARMED_NAME);
    let _ = nix::sys::prctl::set_name(c"tool");
    let armed = confine_tool(prep, chan, &none);
    let (program, argv, env, stdio) = match channel::recv_msg_fds_sized(&link, channel::MAX_GO) {
        Ok(Some((
            Message::Go {
                program,
                argv,
                env,
                cgroups: 0,
            },
            fds,
        ))) if fds.len() == 3 => match call_strings(program, argv, env) {
            Ok((p, a, e)) => (p, a, e, fds),
            Err(e) => channel::fail(chan, "receiving a call", e),
        },
        // SAFETY: no call for this process; end without unwinding.
        _ => unsafe { libc::_exit(0) },
    };
    drop(link);
    connect_stdio(chan, &stdio);
    let exec = Exec {
        program: &program,
        argv: &argv,
        env: &env,
        stdio: &stdio,
    };
    exec_tool(prep, chan, &exec, armed)
}

/// The call's strings as C strings (a NUL byte inside one is refused).
type CallStrings = (CString, Vec<CString>, Vec<CString>);
fn call_strings(
    program: String,
    argv: Vec<String>,
    env: Vec<String>,
) -> Result<CallStrings, &'static str> {
    let c = |s: String| CString::new(s).map_err(|_| "a NUL byte in the call");
    Ok((
        c(program)?,
        argv.into_iter().map(c).collect::<Result<Vec<_>, _>>()?,
        env.into_iter().map(c).collect::<Result<Vec<_>, _>>()?,
    ))
}

/// A prepared sandbox's pid 1 after `Ready`: takes one `Go` (anything else,
/// or the owner's end closing, ends the sandbox) and hands it to the armed
/// tool process, then supervises it while the claimer's lifeline holds. A
/// call that must join a cgroup of its own (the sandbox was made without
/// one) is served by a tool process forked after the join instead. If the
/// armed process is gone, pid 1 ends without a word: nothing of the call
/// ran, and the claimer runs it in a new sandbox.
fn serve_one_call(prep: &Prepared, chan: RawFd, armed: Pid, link: std::os::fd::OwnedFd) -> ! {
    let (go, mut fds) = match channel::recv_msg_fds_sized(&BorrowedRaw(chan), channel::MAX_GO) {
        Ok(Some((m @ Message::Go { .. }, fds))) => (m, fds),
        Ok(Some((other, _))) => channel::fail(
            chan,
            "waiting for a call",
            format!("expected Go, got {other:?}"),
        ),
        // SAFETY: the owner went away before any call; end without unwinding.
        Ok(None) => unsafe { libc::_exit(0) },
        Err(e) => channel::fail(chan, "receiving a call", e),
    };
    let Message::Go {
        program,
        argv,
        env,
        cgroups,
    } = go
    else {
        // SAFETY: matched as Go above; end without unwinding.
        unsafe { libc::_exit(125) }
    };
    if fds.len() != 4 + cgroups {
        channel::fail(
            chan,
            "receiving a call",
            format!("{} descriptors, expected {}", fds.len(), 4 + cgroups),
        );
    }
    let joins = fds.split_off(4);
    let lifeline = fds.pop();
    let lifeline = lifeline.as_ref().map(|l| l.as_raw_fd());
    if joins.is_empty() {
        let go = Message::Go {
            program,
            argv,
            env,
            cgroups: 0,
        };
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        if channel::send_msg_fds(link.as_raw_fd(), &go, &raw).is_err() {
            let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
            // SAFETY: the armed process is gone; end without unwinding.
            unsafe { libc::_exit(0) }
        }
        drop(fds);
        drop(link);
        init::supervise(armed, chan, lifeline)
    }
    let _ = nix::sys::signal::kill(armed, Signal::SIGKILL);
    let _ = waitpid(armed, None);
    drop(link);
    if let Err(e) = cgroup::join_self_fds(&joins) {
        channel::fail(chan, "joining the call's cgroup", e);
    }
    drop(joins);
    let (program, argv, env) = match call_strings(program, argv, env) {
        Ok(b) => b,
        Err(e) => channel::fail(chan, "receiving a call", e),
    };
    let exec = Exec {
        program: &program,
        argv: &argv,
        env: &env,
        stdio: &fds,
    };
    let none = Pipes {
        out: None,
        err: None,
    };
    // SAFETY: single-threaded process; see launch_blocked.
    match unsafe { nix::unistd::fork() } {
        Err(e) => channel::fail(chan, "forking the tool", e),
        Ok(ForkResult::Child) => tool_process(prep, chan, &none, &exec),
        Ok(ForkResult::Parent { child }) => {
            drop(fds);
            init::supervise(child, chan, lifeline)
        }
    }
}

fn set_rlimit(res: nix::sys::resource::Resource, v: u64) -> nix::Result<()> {
    nix::sys::resource::setrlimit(res, v, v)
}

/// The tool's process: new session, clean descriptors, limits, no
/// privileges, Landlock, no_new_privs, seccomp; then exec.
fn tool_process(prep: &Prepared, chan: RawFd, pipes: &Pipes, exec: &Exec<'_>) -> ! {
    connect_stdio(chan, exec.stdio);
    let armed = confine_tool(prep, chan, pipes);
    exec_tool(prep, chan, exec, armed)
}

/// The call's own stdio on 0, 1 and 2 (a prepared sandbox's call; none
/// for a one-shot run, whose stdio is inherited).
fn connect_stdio(chan: RawFd, stdio: &[std::os::fd::OwnedFd]) {
    for (target, fd) in stdio.iter().enumerate() {
        if let Err(e) = nix::unistd::dup2(fd.as_raw_fd(), target as RawFd) {
            channel::fail(chan, "connecting the call's stdio", e);
        }
    }
}

/// What the tool's confinement applied, for its `Confined` report.
struct Armed {
    landlock: String,
    landlock_reason: Option<String>,
}

/// Everything of the tool's confinement that does not wait for the call's
/// record: new session, output pipes, working directory, descriptors,
/// limits, no privileges, Landlock, no_new_privs, seccomp.
fn confine_tool(prep: &Prepared, chan: RawFd, pipes: &Pipes) -> Armed {
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
    let kernel_abi = prep.mechanisms.landlock_abi;
    let landlock = if kernel_abi > 0 {
        match landlock::restrict(plan) {
            Ok(status) => landlock::status_name(&status).to_string(),
            Err(e) => fail("applying Landlock", &e),
        }
    } else {
        "none".to_string()
    };
    let landlock_reason = (landlock != "full")
        .then(|| landlock::shortfall(kernel_abi, plan.network == super::plan::NetworkMode::None));
    if let Err(e) = nix::sys::prctl::set_no_new_privs() {
        fail("setting no_new_privs", &e);
    }
    // Seccomp last: what follows until the exec (the armed process's wait
    // for its call, receiving it and its descriptors, the wait for the
    // decision record's sync, the reports to pid 1) uses only calls the
    // filter allows. Installed here, its cost is off a prepared call's path
    // and overlaps the sync in a one-shot one.
    if let Some(filters) = &prep.filters {
        if let Err(e) = filters.apply() {
            fail("installing the seccomp filter", &e);
        }
    }
    Armed {
        landlock,
        landlock_reason,
    }
}

/// The exec steps: the wait for the call's record (the launcher's
/// before-exec step), the `Confined` report, exec.
fn exec_tool(prep: &Prepared, chan: RawFd, exec: &Exec<'_>, armed: Armed) -> ! {
    let kernel_abi = prep.mechanisms.landlock_abi;
    // The exec waits for the launcher's before-exec step (the decision
    // record's sync): end here unless it succeeded.
    match recv_msg(&BorrowedRaw(chan)) {
        Ok(Some(Message::Proceed)) => {}
        // SAFETY: the launcher refused or went away; end without unwinding.
        _ => unsafe { libc::_exit(125) },
    }
    let _ = send_msg(
        chan,
        &Message::Confined(Confinement {
            landlock_abi: if kernel_abi > 0 {
                landlock::applied_abi(kernel_abi)
            } else {
                0
            },
            landlock: armed.landlock,
            landlock_reason: armed.landlock_reason,
            seccomp: prep.filters.is_some(),
            no_new_privs: true,
        }),
    );
    let err = nix::unistd::execve(exec.program, exec.argv, exec.env)
        .err()
        .unwrap_or(Errno::UnknownErrno);
    let _ = send_msg(chan, &Message::ExecFailed { errno: err as i32 });
    // SAFETY: exec failed; end the child without unwinding.
    unsafe { libc::_exit(127) }
}
