//! Starting a run's sandbox, for [`super::launch_in`]: the run's cgroup
//! (made here, or made with a prepared sandbox), a new sandbox (its pid 1
//! made in new namespaces, its id maps written) or the call handed to a prepared
//! one (one `Go` message with the stdio, a lifeline and the cgroup files).

use super::channel::{self, recv_msg, send_msg, ChannelError, Message};
use super::fork::Cloned;
use super::namespaces::{self, IdMap};
use super::{cgroup, fork, net, os, pool, process, watch, Pipes, Prepared, SandboxError};
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

/// The limits of the run's cgroup. pid 1 is the first process in it,
/// unless a setup process made it (`fork::direct`): then the setup process
/// sits in the cgroup beside the sandbox's processes, and is counted.
pub(super) fn limits_for(prep: &Prepared) -> cgroup::Limits {
    cgroup::Limits {
        memory: prep.plan.memory,
        cpu_millis: prep.plan.cpu_millis,
        pids: prep.plan.pids + u64::from(!fork::direct()),
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
/// and every limit is optional).
pub(super) fn run_cgroup_for(
    prep: &Prepared,
) -> Result<(Option<cgroup::RunCgroup>, cgroup::Limits), SandboxError> {
    let limits = limits_for(prep);
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
                "sandbox: cgroup limits: memory {} bytes, cpu {}m, pids {}",
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
    /// pid 1, when the launcher made it (it reaps it).
    pub(super) child: Option<Pid>,
    /// pid 1, when known before the sandbox reports it.
    pub(super) init: Option<Pid>,
    /// A pidfd of pid 1 (a prepared sandbox, whose processes the launcher
    /// did not fork: it signals and watches pid 1 through this).
    pub(super) init_fd: Option<OwnedFd>,
    pub(super) out_r: Option<OwnedFd>,
    pub(super) err_r: Option<OwnedFd>,
}

/// A new sandbox: makes its pid 1 in new namespaces (see
/// `fork::clone_init`), or a setup process that does (`fork::direct`).
pub(super) fn start_fresh(
    prep: &Prepared,
    pipes: Pipes,
    map: IdMap,
    run_cgroup: Option<&cgroup::RunCgroup>,
) -> Result<Started, SandboxError> {
    if fork::direct() {
        start_direct(prep, pipes, map, run_cgroup, false)
    } else {
        start_setup(prep, pipes, map, run_cgroup)
    }
}

/// Whether a one-shot run makes its cgroup after pid 1 (see
/// [`start_before_cgroup`]): on cgroup v1, where pid 1 joins by writing to
/// `tasks` itself anyway, and not under a filter that keeps the setup
/// process. (On v2 pid 1 is cloned into the cgroup, which must exist.)
pub(super) fn cgroup_after_pid1(prep: &Prepared) -> bool {
    matches!(prep.cgroup_layout, Some(cgroup::Layout::V1 { .. })) && fork::direct()
}

/// A new sandbox whose cgroup is made once pid 1 exists: pid 1 builds the
/// view while the launcher makes the cgroup, then takes it with
/// [`send_join`] in /proc's build, before the tool exists.
pub(super) fn start_before_cgroup(
    prep: &Prepared,
    pipes: Pipes,
    map: IdMap,
) -> Result<Started, SandboxError> {
    start_direct(prep, pipes, map, None, true)
}

/// Hands pid 1 of [`start_before_cgroup`] the run's cgroup to join (none:
/// nothing to join, but pid 1 waits for the word).
pub(super) fn send_join(
    chan: &OwnedFd,
    cg: Option<&cgroup::RunCgroup>,
) -> Result<(), SandboxError> {
    let joins = open_joins(cg)?;
    let raw: Vec<_> = joins.iter().map(|j| j.as_raw_fd()).collect();
    let join = Message::Join { cgroups: raw.len() };
    channel::send_msg_fds(chan.as_raw_fd(), &join, &raw)?;
    Ok(())
}

/// The run's cgroup files for pid 1 to join (`tasks` or `cgroup.procs`),
/// opened here: the kernel checks the write against the opener.
fn open_joins(cg: Option<&cgroup::RunCgroup>) -> Result<Vec<OwnedFd>, SandboxError> {
    cg.map(cgroup::RunCgroup::join_files)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            cgroup::open_join_file(f).map_err(|e| SandboxError::Setup {
                step: format!("opening {}", f.to_string_lossy()),
                error: e.to_string(),
            })
        })
        .collect()
}

fn start_direct(
    prep: &Prepared,
    pipes: Pipes,
    map: IdMap,
    run_cgroup: Option<&cgroup::RunCgroup>,
    late_cgroup: bool,
) -> Result<Started, SandboxError> {
    let (parent_end, child_end) = channel::pair()?;
    let step = Instant::now();
    // Root drops its supplementary groups inside the new user namespace
    // (`become_sandbox_user`; its setgroups stays allowed). The launcher is
    // single-threaded (nothing here starts threads, and a caller's
    // before-exec thread has ended: `BeforeExec::settle`), so the child may
    // allocate and run ordinary Rust code after the clone.
    // A one-shot pid 1's network namespace: made ahead while the call was
    // decided (`net::Ahead`, entered by the launcher for the clone only), or
    // made by pid 1 itself, beside the view's build (see `process::Deferred`).
    let mut net = process::NetSetup::Thread;
    let back = match net::Ahead::take_for(&prep.plan).map(net::Ahead::enter) {
        Some(Ok(back)) => {
            net = process::NetSetup::Ready;
            tracing::info!(
                "sandbox: network namespace made ahead, while the call was decided (loopback up); \
                 pid 1 is cloned into it"
            );
            Some(back)
        }
        Some(Err(e)) => {
            tracing::info!(
                "sandbox: the network namespace made ahead is not used ({e}); pid 1 makes one"
            );
            None
        }
        None => None,
    };
    let deferred = process::Deferred {
        cgroup: late_cgroup,
        net,
    };
    let mut flags = namespaces::clone_flags(prep.plan.network);
    flags.remove(nix::sched::CloneFlags::CLONE_NEWNET);
    let cloned = fork::clone_init(run_cgroup, flags);
    // The launcher goes back to its own network namespace at once; pid 1
    // only closes its copy of the way back.
    let back_home = match (&cloned, back) {
        (Ok(c), Some(b)) if matches!(c.result, ForkResult::Child) => {
            drop(b);
            Ok(())
        }
        (_, Some(b)) => b.leave(),
        (_, None) => Ok(()),
    };
    if let Err(e) = back_home {
        // Never run on in the sandbox's network namespace: end the new pid 1.
        if let Ok(Cloned {
            result: ForkResult::Parent { child },
            ..
        }) = &cloned
        {
            let _ = nix::sys::signal::kill(*child, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(*child, None);
        }
        return Err(SandboxError::Setup {
            step: "returning to the launcher's network namespace after pid 1's clone".into(),
            error: e.desc().to_string(),
        });
    }
    let cloned = cloned.map_err(|e| {
        match e {
            // Named as the unshare it replaces, with the same hint.
            SandboxError::Os { what, source } if what == fork::CLONE_STEP => SandboxError::Setup {
                step: format!(
                    "unsharing namespaces ({}) for pid 1 (clone3)",
                    prep.plan.namespaces.join(", ")
                ),
                error: source.to_string(),
            },
            other => other,
        }
    })?;
    let init = match cloned.result {
        ForkResult::Child => {
            drop(parent_end);
            process::direct_init(
                prep,
                child_end.as_raw_fd(),
                &pipes,
                map,
                cloned.join,
                false,
                deferred,
            )
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_end);
    tracing::info!(
        "sandbox: pid 1 (host pid {init}) {} in {}",
        cloned.how,
        watch::ms(step)
    );
    // The children hold the write ends now; the launcher keeps only the read ends.
    let Pipes { out, err } = pipes;
    Ok(Started {
        chan: parent_end,
        lifeline: None,
        // The launcher's own child, which it reaps, is pid 1 itself.
        child: Some(init),
        init: Some(init),
        init_fd: None,
        out_r: out.map(|(r, _w)| r),
        err_r: err.map(|(r, _w)| r),
    })
}

/// A new sandbox through a setup process, which unshares and forks pid 1.
fn start_setup(
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
        child: Some(setup),
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
    let joins = open_joins(run_cgroup)?;
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
        child: None,
        init: Some(claimed.init),
        init_fd: Some(claimed.init_fd),
        out_r: None,
        err_r: None,
    })
}

/// One-shot: waits for pid 1 to start and writes its id maps.
pub(super) fn ids_for(
    child: Pid,
    parent_end: &OwnedFd,
    map: &IdMap,
    prep: &Prepared,
    in_cgroup: bool,
) -> Result<(), SandboxError> {
    let step = Instant::now();
    // Step: pid 1 has started (and joined its cgroup); write its id maps.
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
    let (what, cg) = if fork::direct() {
        (
            "pid 1 started in its namespaces",
            " (it joins the run's cgroup before its cgroup namespace)",
        )
    } else {
        (
            "namespaces unshared",
            " (the setup process was in the run's cgroup first)",
        )
    };
    tracing::info!(
        "sandbox: {what} ({}) in {}{}",
        prep.plan.namespaces.join(", "),
        watch::ms(step),
        if in_cgroup { cg } else { "" }
    );
    let step = Instant::now();
    namespaces::write_id_maps(child, map)?;
    tracing::info!("sandbox: id maps written in {}", watch::ms(step));
    send_msg(parent_end.as_raw_fd(), &Message::MapsWritten)?;
    Ok(())
}
