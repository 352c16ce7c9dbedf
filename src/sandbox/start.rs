//! Starting a run's sandbox, for [`super::launch_in`]: the run's cgroup
//! (made here, or made with a prepared sandbox), a new sandbox (the setup
//! process forked, its id maps written) or the call handed to a prepared
//! one (one `Go` message with the stdio, a lifeline and the cgroup files).

use super::channel::{self, recv_msg, send_msg, ChannelError, Message};
use super::namespaces::{self, IdMap};
use super::{cgroup, fork, os, pool, process, watch, Pipes, Prepared, SandboxError};
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

/// The limits of the run's cgroup; `with_setup` counts the setup process,
/// which sits in the cgroup beside the sandbox's processes.
pub(super) fn limits_for(prep: &Prepared, with_setup: bool) -> cgroup::Limits {
    cgroup::Limits {
        memory: prep.plan.memory,
        cpu_millis: prep.plan.cpu_millis,
        pids: prep.plan.pids + u64::from(with_setup),
    }
}

/// The run's cgroup: made for this run (removed at its end), or made with
/// a prepared sandbox (its pool's owner removes it).
pub(super) enum RunCg {
    Own(cgroup::RunCgroup),
    Pooled(std::mem::ManuallyDrop<cgroup::RunCgroup>),
}

impl std::ops::Deref for RunCg {
    type Target = cgroup::RunCgroup;
    fn deref(&self) -> &cgroup::RunCgroup {
        match self {
            RunCg::Own(c) => c,
            RunCg::Pooled(c) => c,
        }
    }
}

impl RunCg {
    /// Removes it if it is this run's own.
    pub(super) fn finish(self) -> std::io::Result<()> {
        match self {
            RunCg::Own(c) => c.remove(),
            RunCg::Pooled(_) => Ok(()),
        }
    }

    pub(super) fn own(&self) -> Option<&cgroup::RunCgroup> {
        match self {
            RunCg::Own(c) => Some(c),
            RunCg::Pooled(_) => None,
        }
    }
}

/// The run's cgroup with its limits (none when no controller is mounted
/// and every limit is optional); `with_setup` counts the setup process.
pub(super) fn run_cgroup_for(
    prep: &Prepared,
    with_setup: bool,
) -> Result<(Option<cgroup::RunCgroup>, cgroup::Limits), SandboxError> {
    let limits = limits_for(prep, with_setup);
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
                super::names(&cg.applied()),
                super::names(&cg.skipped)
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
    Ok((run_cgroup, limits))
}

/// A started sandbox, as the launcher holds it.
pub(super) struct Started {
    pub(super) chan: OwnedFd,
    /// The write end of a prepared sandbox's lifeline: held until the run ends.
    pub(super) lifeline: Option<OwnedFd>,
    /// The setup process, when the launcher forked it (it reaps it).
    pub(super) setup: Option<Pid>,
    /// pid 1, when known before the sandbox reports it.
    pub(super) init: Option<Pid>,
    /// A pidfd of pid 1 (a prepared sandbox, whose processes the launcher
    /// did not fork: it signals and watches pid 1 through this).
    pub(super) init_fd: Option<OwnedFd>,
    pub(super) out_r: Option<OwnedFd>,
    pub(super) err_r: Option<OwnedFd>,
}

/// A new sandbox: forks the setup process.
pub(super) fn start_fresh(
    prep: &Prepared,
    pipes: Pipes,
    map: IdMap,
    run_cgroup: Option<&cgroup::RunCgroup>,
) -> Result<Started, SandboxError> {
    let (parent_end, child_end) = channel::pair()?;
    let launcher = nix::unistd::getpid();
    let step = Instant::now();
    // The launcher is single-threaded (nothing here starts threads, and a
    // caller's before-exec thread has ended: `BeforeExec::settle`), so the
    // child may allocate and run ordinary Rust code after the fork.
    let forked = fork::fork_setup(run_cgroup)?;
    let setup = match forked.result {
        ForkResult::Child => {
            drop(parent_end);
            process::setup_process(
                prep,
                child_end.as_raw_fd(),
                &pipes,
                map,
                launcher,
                &forked.join,
                false,
            )
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_end);
    tracing::info!(
        "sandbox: setup process {setup} {} in {}",
        forked.how,
        watch::ms(step)
    );
    // The children hold the write ends now; the launcher keeps only the read ends.
    let Pipes { out, err } = pipes;
    Ok(Started {
        chan: parent_end,
        lifeline: None,
        setup: Some(setup),
        init: None,
        init_fd: None,
        out_r: out.map(|(r, _w)| r),
        err_r: err.map(|(r, _w)| r),
    })
}

/// A prepared sandbox: sends it the call (stdio, lifeline, cgroup files).
pub(super) fn start_warm(
    prep: &Prepared,
    claimed: pool::Claimed,
    pipes: &Pipes,
    run_cgroup: Option<&cgroup::RunCgroup>,
) -> Result<Started, SandboxError> {
    let step = Instant::now();
    let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
    let go = Message::Go {
        program: text(&prep.c_program),
        argv: prep.c_argv.iter().map(|a| text(a)).collect(),
        env: prep.c_env.iter().map(|a| text(a)).collect(),
        cgroups: run_cgroup.map_or(0, |c| c.dirs().len()),
    };
    let mut joins = Vec::new();
    for f in run_cgroup.map(|c| c.join_files()).unwrap_or_default() {
        joins.push(cgroup::open_join_file(&f).map_err(|e| SandboxError::Setup {
            step: format!("opening {}", f.to_string_lossy()),
            error: e.to_string(),
        })?);
    }
    // The lifeline: pid 1 ends the sandbox when this launcher's end closes.
    let (life_r, life_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(os("creating the lifeline"))?;
    let out_w = pipes.out.as_ref().map_or(1, |(_, w)| w.as_raw_fd());
    let err_w = pipes.err.as_ref().map_or(2, |(_, w)| w.as_raw_fd());
    let mut fds = vec![0, out_w, err_w, life_r.as_raw_fd()];
    fds.extend(joins.iter().map(|j| j.as_raw_fd()));
    let bytes = serde_json::to_vec(&go).map_err(|e| ChannelError::Decode(e.to_string()))?;
    if bytes.len() > channel::MAX_GO {
        pool::pidfd_kill(&claimed.init_fd, Signal::SIGKILL);
        return Err(SandboxError::NoStatus(format!(
            "the call is {} bytes, over a prepared sandbox's {} (the pool should not have offered it)",
            bytes.len(),
            channel::MAX_GO
        )));
    }
    if let Err(e) = channel::send_bytes_fds(claimed.chan.as_raw_fd(), &bytes, &fds) {
        pool::pidfd_kill(&claimed.init_fd, Signal::SIGKILL);
        return Err(e.into());
    }
    tracing::info!(
        "sandbox: prepared sandbox (pid 1 is host pid {}) given the call in {}",
        claimed.init,
        watch::ms(step)
    );
    Ok(Started {
        chan: claimed.chan,
        lifeline: Some(life_w),
        setup: None,
        init: Some(claimed.init),
        init_fd: Some(claimed.init_fd),
        out_r: None,
        err_r: None,
    })
}

/// One-shot: waits for the setup process to unshare and writes its id maps.
pub(super) fn ids_for(
    setup: Pid,
    parent_end: &OwnedFd,
    map: &IdMap,
    prep: &Prepared,
    in_cgroup: bool,
) -> Result<(), SandboxError> {
    let step = Instant::now();
    // Step: the setup process has unshared; write its id maps.
    match recv_msg(parent_end) {
        Ok(Some(Message::Unshared)) => {}
        Ok(Some(Message::SetupFailed { step, error })) => {
            return Err(SandboxError::Setup { step, error });
        }
        other => {
            return Err(SandboxError::NoStatus(format!(
                "expected Unshared, got {other:?}"
            )));
        }
    }
    tracing::info!(
        "sandbox: namespaces unshared ({}) in {}{}",
        prep.plan.namespaces.join(", "),
        watch::ms(step),
        if in_cgroup {
            " (the setup process was in the run's cgroup first)"
        } else {
            ""
        }
    );
    let step = Instant::now();
    namespaces::write_id_maps(setup, map)?;
    tracing::info!("sandbox: id maps written in {}", watch::ms(step));
    send_msg(parent_end.as_raw_fd(), &Message::MapsWritten)?;
    Ok(())
}
