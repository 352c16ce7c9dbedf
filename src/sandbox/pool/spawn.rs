//! Making one prepared sandbox, a step at a time, so that its owner (a
//! single-threaded event loop) never waits for it: [`start`] makes its pid 1
//! in new namespaces (and opens a pidfd of it); [`Building::advance`] takes
//! whatever the sandbox has sent since (it started: write its id maps;
//! ready: done) without blocking; the owner calls it when the channel is
//! readable.

use super::super::cgroup::RunCgroup;
use super::super::channel::{self, recv_msg, send_msg, Message};
use super::super::namespaces::{self, IdMap};
use super::super::{fork, os, process, Pipes, Prepared, SandboxError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How long a sandbox may take to get ready before it is given up.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The owner's child (a sandbox's pid 1, or the setup process that forks
/// it: `fork::direct`), held through a pidfd, so that neither
/// a signal nor a wait can reach a recycled pid (the broker's own reaper,
/// `waitpid(-1)`, may have reaped it first).
pub(super) struct Proc {
    pub(super) pid: Pid,
    fd: Option<OwnedFd>,
}

impl Proc {
    fn new(pid: Pid) -> Proc {
        Proc {
            pid,
            fd: pidfd_open(pid).ok(),
        }
    }

    /// SIGKILL, through the pidfd.
    pub(super) fn kill(&self) {
        match &self.fd {
            Some(fd) => super::pidfd_kill(fd, nix::sys::signal::Signal::SIGKILL),
            // (pidfd_open failed right after the fork: the pid is still ours.)
            None => {
                let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    /// Has it ended (and been reaped, here or by another reaper)?
    pub(super) fn gone(&self) -> bool {
        self.wait(WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG)
    }

    /// Waits for it to end.
    pub(super) fn reap(&self) {
        self.wait(WaitPidFlag::WEXITED);
    }

    fn wait(&self, flags: WaitPidFlag) -> bool {
        let Some(fd) = &self.fd else {
            return !matches!(
                nix::sys::wait::waitpid(self.pid, Some(flags - WaitPidFlag::WEXITED)),
                Ok(WaitStatus::StillAlive)
            );
        };
        !matches!(
            waitid(Id::PIDFd(fd.as_fd()), flags),
            Ok(WaitStatus::StillAlive)
        )
    }
}

/// A sandbox on its way to ready.
pub(super) struct Building {
    pub(super) chan: OwnedFd,
    pub(super) child: Proc,
    pub(super) started: Instant,
    /// The call's cgroup, joined by pid 1 before it unshared its cgroup namespace.
    pub(super) cgroup: Option<ManuallyDrop<RunCgroup>>,
    map: IdMap,
    init: Option<(Pid, OwnedFd)>,
    /// pid 1 said `Ready` (it may come before a setup process's `InitPid`:
    /// two processes write to the channel then).
    ready: bool,
}

/// A ready sandbox's handles.
pub(super) struct Made {
    pub(super) chan: OwnedFd,
    pub(super) child: Proc,
    pub(super) init: Pid,
    pub(super) init_fd: OwnedFd,
    pub(super) cgroup: Option<ManuallyDrop<RunCgroup>>,
}

/// A cgroup the pool's owner removes itself (see `super::Ready`).
type Cg = Option<ManuallyDrop<RunCgroup>>;

pub(super) enum Progress {
    Waiting(Building),
    Done(Made),
    /// Given up; its pid 1 (to be killed and reaped) and cgroup.
    Failed(Proc, Cg, SandboxError),
}

fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Creates the call's cgroup and makes the pid 1 of a prepared sandbox
/// built from `prep`; pid 1 joins the cgroup first.
pub(super) fn start(prep: &Prepared) -> Result<Building, SandboxError> {
    let (cgroup, _) = super::super::start::run_cgroup_for(prep)?;
    let cgroup = cgroup.map(ManuallyDrop::new);
    let built = start_in(prep, cgroup.as_deref());
    match built {
        Ok((chan, pid, direct)) => {
            let child = Proc::new(pid);
            // pid 1 itself: known now; a setup process sends pid 1's pid.
            let init = match direct.then(|| pidfd_open(pid)) {
                None => None,
                Some(Ok(fd)) => Some((pid, fd)),
                Some(Err(e)) => {
                    child.kill();
                    child.reap();
                    if let Some(cg) = cgroup {
                        let _ = ManuallyDrop::into_inner(cg).remove();
                    }
                    return Err(os("opening a pidfd of pid 1")(e));
                }
            };
            Ok(Building {
                chan,
                child,
                started: Instant::now(),
                cgroup,
                map: IdMap::for_caller(prep.plan.uid, prep.plan.gid),
                init,
                ready: false,
            })
        }
        Err(e) => {
            if let Some(cg) = cgroup {
                let _ = ManuallyDrop::into_inner(cg).remove();
            }
            Err(e)
        }
    }
}

/// The channel, the owner's child, and whether that child is pid 1 itself.
type Begun = (OwnedFd, Pid, bool);

fn start_in(prep: &Prepared, cgroup: Option<&RunCgroup>) -> Result<Begun, SandboxError> {
    let (parent_end, child_end) = channel::pair()?;
    let map = IdMap::for_caller(prep.plan.uid, prep.plan.gid);
    let owner = nix::unistd::getpid();
    let none = Pipes {
        out: None,
        err: None,
    };
    // The sandbox's processes take their signals from signalfds: they must
    // start with them blocked, whatever the owner's mask is.
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&super::super::init::handled_signals()),
        Some(&mut old),
    )
    .map_err(os("blocking signals"))?;
    // The owner is single-threaded (the broker checks this at start; `mcp
    // serve` too), so the child may run ordinary code.
    // pid 1 makes its network namespace itself, on a thread beside its view's
    // build (creating one is most of a clone's cost): the owner's loop is not
    // held up by it.
    let made = if fork::direct() {
        let mut flags = namespaces::clone_flags(prep.plan.network);
        flags.remove(nix::sched::CloneFlags::CLONE_NEWNET);
        fork::clone_init(cgroup, flags).map(Child::Init)
    } else {
        fork::fork_setup(cgroup).map(Child::Setup)
    };
    let child = matches!(
        made,
        Ok(Child::Init(fork::Cloned {
            result: ForkResult::Child,
            ..
        })) | Ok(Child::Setup(fork::Forked {
            result: ForkResult::Child,
            ..
        }))
    );
    if !child {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    let (pid, direct) = match made? {
        Child::Init(cloned) => match cloned.result {
            ForkResult::Child => {
                drop(parent_end);
                let fd = child_end.as_raw_fd();
                let deferred = process::Deferred {
                    cgroup: false,
                    net: process::NetSetup::Thread,
                };
                process::direct_init(prep, fd, &none, map, cloned.join, true, deferred)
            }
            ForkResult::Parent { child } => {
                tracing::debug!("pool: pid 1 (host pid {child}) {}", cloned.how);
                (child, true)
            }
        },
        Child::Setup(forked) => match forked.result {
            ForkResult::Child => {
                drop(parent_end);
                let (fd, join) = (child_end.as_raw_fd(), &forked.join);
                process::setup_process(prep, fd, &none, map, owner, join, true)
            }
            ForkResult::Parent { child } => {
                tracing::debug!("pool: setup process {child} {}", forked.how);
                (child, false)
            }
        },
    };
    drop(child_end);
    Ok((parent_end, pid, direct))
}

/// What `start_in` made: pid 1 itself, or a setup process that forks it.
enum Child {
    Init(fork::Cloned),
    Setup(fork::Forked),
}

/// Is a message waiting on `chan` (or has it closed)?
fn readable(chan: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(chan.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

impl Building {
    /// Takes every message that has arrived and does the owner's part.
    pub(super) fn advance(mut self) -> Progress {
        loop {
            if self.started.elapsed() > SPAWN_TIMEOUT {
                return Progress::Failed(
                    self.child,
                    self.cgroup.take(),
                    SandboxError::NoStatus("a prepared sandbox did not get ready in time".into()),
                );
            }
            if !readable(&self.chan) {
                return Progress::Waiting(self);
            }
            let m = match recv_msg(&self.chan) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    return Progress::Failed(
                        self.child,
                        self.cgroup.take(),
                        SandboxError::NoStatus(
                            "a prepared sandbox ended before it was ready".into(),
                        ),
                    )
                }
                Err(e) => return Progress::Failed(self.child, self.cgroup.take(), e.into()),
            };
            let step = match m {
                Message::Unshared => namespaces::write_id_maps(self.child.pid, &self.map)
                    .map_err(SandboxError::from)
                    .and_then(|()| {
                        send_msg(self.chan.as_raw_fd(), &Message::MapsWritten)
                            .map_err(SandboxError::from)
                    }),
                Message::InitPid(p) => {
                    let pid = Pid::from_raw(p);
                    pidfd_open(pid)
                        .map(|fd| self.init = Some((pid, fd)))
                        .map_err(|e| os("opening a pidfd of pid 1")(e))
                }
                Message::Ready => {
                    self.ready = true;
                    Ok(())
                }
                Message::SetupFailed { step, error } => Err(SandboxError::Setup { step, error }),
                other => Err(SandboxError::NoStatus(format!(
                    "a prepared sandbox sent {other:?} out of turn"
                ))),
            };
            if let Err(e) = step {
                return Progress::Failed(self.child, self.cgroup.take(), e);
            }
            if self.ready {
                if let Some((init, init_fd)) = self.init.take() {
                    return Progress::Done(Made {
                        chan: self.chan,
                        child: self.child,
                        init,
                        init_fd,
                        cgroup: self.cgroup,
                    });
                }
            }
        }
    }
}

/// Builds one prepared sandbox and waits for it (for `doctor`'s measurement).
pub(super) fn blocking(prep: &Prepared) -> Result<Made, Box<(Option<Proc>, Cg, SandboxError)>> {
    let mut b = start(prep).map_err(|e| Box::new((None, None, e)))?;
    loop {
        let mut fds = [PollFd::new(b.chan.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        match b.advance() {
            Progress::Waiting(next) => b = next,
            Progress::Done(m) => return Ok(m),
            Progress::Failed(pid, cg, e) => return Err(Box::new((Some(pid), cg, e))),
        }
    }
}
