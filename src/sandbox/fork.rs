//! Making a sandbox's pid 1: one `clone3` with the new namespaces, into
//! the run's cgroup where the kernel can do that itself. There is no setup
//! process between the launcher and pid 1.
//!
//! On cgroup v2, pid 1 is made with `CLONE_INTO_CGROUP` on a descriptor of
//! the run's cgroup directory: it exists inside the cgroup from its first
//! instruction, and nothing has to migrate it there (no write to
//! `cgroup.procs`, no window outside the limits). Where the kernel refuses
//! (one without `CLONE_INTO_CGROUP`: before Linux 5.7), and on v1, the
//! launcher opens the cgroup files and pid 1 writes itself into them before
//! it does anything else (the kernel checks such a write against the
//! opener's credentials); the caller is told which happened, and a failed
//! move still ends the run. The cgroup namespace is left out of the clone:
//! pid 1 unshares it once inside the run's cgroup, so that the namespace's
//! root is that cgroup.
//!
//! [`clone_init`] is how both a one-shot run and a prepared sandbox make
//! their pid 1, unless the launcher itself runs under a seccomp filter
//! ([`direct`]): then [`fork_setup`] forks a setup process that joins the
//! cgroup, unshares the namespaces and forks pid 1, as before issue 15's
//! round 7.
//!
//! Mechanism layer: the run's cgroup and a process; it knows nothing of plans.

use super::cgroup::RunCgroup;
use super::{os, SandboxError};
use nix::errno::Errno;
use nix::unistd::{ForkResult, Pid};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Whether this process may make pid 1 directly ([`clone_init`]): not
/// when it runs under a seccomp filter of its own (a container runtime's,
/// as the Kubernetes profile agentjail renders): such filters answer
/// `clone3` with ENOSYS and refuse namespace flags on `clone`, while they
/// allow `unshare`, so the run goes the older way, through a setup process
/// that unshares and forks pid 1 ([`fork_setup`]). One `prctl` per run.
pub fn direct() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointer and changes nothing.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    mode == 0
}

/// A setup process just made, seen from either side of the fork.
pub struct Forked {
    pub result: ForkResult,
    /// The cgroup files the child must still join itself (none when it was
    /// made inside the run's cgroup, or without one).
    pub join: Vec<CString>,
    /// How it came to be, for `-v`.
    pub how: String,
}

/// Makes the setup process of a run whose cgroup is `cgroup`: inside it on
/// v2 where the kernel allows that, else forked, with the files to join.
/// The caller is single-threaded (its own comment says why), so the child
/// may run ordinary code.
pub fn fork_setup(cgroup: Option<&RunCgroup>) -> Result<Forked, SandboxError> {
    let into = cgroup.and_then(RunCgroup::clone_dir);
    let (result, entry, why) = fork_into(into).map_err(os(step(into)))?;
    if matches!(result, ForkResult::Child) {
        // The setup process, pid 1 and the tool's process leave the
        // launcher's heap alone (see `crate::alloc`).
        crate::alloc::forked_child();
    }
    let join = match entry {
        Entry::Cloned => Vec::new(),
        Entry::Join => cgroup.map(RunCgroup::join_files).unwrap_or_default(),
    };
    Ok(Forked {
        result,
        join,
        how: described(entry, why.as_deref()),
    })
}

/// A sandbox's pid 1 just made (with its namespaces), seen from either side.
pub struct Cloned {
    pub result: ForkResult,
    /// Descriptors of the cgroup files pid 1 must still write itself into
    /// (opened here, by the launcher: pid 1 is in its own user namespace).
    pub join: Vec<OwnedFd>,
    /// How it came to be, for `-v`.
    pub how: String,
}

/// Makes a sandbox's pid 1 at once: a child in new namespaces
/// (`flags`, the cgroup namespace left out: pid 1 unshares that itself
/// once it is in the run's cgroup, so that the namespace's root is the run's
/// cgroup), inside the run's cgroup on v2 where the kernel allows that, else
/// with the cgroup files opened for it to join. No setup process: one fork
/// of the launcher fewer per run, and one process fewer to reap. The caller
/// is single-threaded, so the child may run ordinary code.
pub fn clone_init(
    cgroup: Option<&RunCgroup>,
    flags: nix::sched::CloneFlags,
) -> Result<Cloned, SandboxError> {
    let ns = (flags - nix::sched::CloneFlags::CLONE_NEWCGROUP).bits() as u64;
    let into = cgroup.and_then(RunCgroup::clone_dir);
    let dir = match into.map(open_dir) {
        Some(Ok(fd)) => Some(fd),
        Some(Err(e)) => {
            return Err(os("opening the run's cgroup directory")(e));
        }
        None => None,
    };
    let mut why = None;
    let mut result = None;
    if let Some(fd) = &dir {
        match clone3(ns, Some(fd)) {
            Ok(r) => result = Some((r, Entry::Cloned)),
            Err(e @ (Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL)) => {
                why = Some(format!("clone3 into the cgroup: {}", e.desc()));
            }
            Err(e) => return Err(os(CLONE_STEP)(e)),
        }
    }
    let mut join = Vec::new();
    let (result, entry) = match result {
        Some(r) => r,
        None => {
            for f in cgroup.map(RunCgroup::join_files).unwrap_or_default() {
                join.push(
                    super::cgroup::open_join_file(&f).map_err(|e| SandboxError::Setup {
                        step: format!("opening {}", f.to_string_lossy()),
                        error: e.to_string(),
                    })?,
                );
            }
            (clone3(ns, None).map_err(os(CLONE_STEP))?, Entry::Join)
        }
    };
    if matches!(result, ForkResult::Child) {
        crate::alloc::forked_child();
    } else {
        // (The parent keeps none of pid 1's cgroup descriptors.)
        join.clear();
    }
    let how = match (entry, why.as_deref()) {
        (Entry::Cloned, _) => {
            "cloned in new namespaces into the run's cgroup (CLONE_INTO_CGROUP)".into()
        }
        (Entry::Join, Some(why)) => {
            format!("cloned in new namespaces; it joins the cgroup itself ({why})")
        }
        (Entry::Join, None) => "cloned in new namespaces".into(),
    };
    Ok(Cloned { result, join, how })
}

/// A plain `clone3` of the calling single-threaded process into new
/// namespaces `flags` (no cgroup, `SIGCHLD`), for a helper child.
pub(super) fn clone_plain(flags: nix::sched::CloneFlags) -> Result<ForkResult, Errno> {
    clone3(flags.bits() as u64, None)
}

pub(super) const CLONE_STEP: &str = "making the sandbox's pid 1 (clone3 with new namespaces)";

/// `clone3` with the namespace flags `ns`, `SIGCHLD`, and with
/// `CLONE_INTO_CGROUP` when `cgroup` is given; otherwise as `fork`.
fn clone3(ns: u64, cgroup: Option<&OwnedFd>) -> Result<ForkResult, Errno> {
    let (flags, fd) = match cgroup {
        Some(fd) => (
            ns | CLONE_INTO_CGROUP,
            u64::try_from(fd.as_raw_fd()).map_err(|_| Errno::EBADF)?,
        ),
        None => (ns, 0),
    };
    let args = libc::clone_args {
        flags,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: fd,
    };
    // SAFETY: without CLONE_VM or CLONE_THREAD, clone3 makes a copy of this
    // process as fork(2) does (in new namespaces when `ns` asks); `args` is
    // a valid clone_args of the size given. The caller is single-threaded,
    // so no lock (malloc's, stdio's) is held by another thread at the copy.
    // glibc's own fork bookkeeping does not run: its atfork handlers (we
    // register none) and the thread id it caches in the thread block, which
    // stays the parent's; the child uses neither (the id matters only to
    // pthread_kill and raise on itself, and a failing child ends with _exit).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(ForkResult::Child),
        pid => Ok(ForkResult::Parent {
            child: Pid::from_raw(i32::try_from(pid).map_err(|_| Errno::EOVERFLOW)?),
        }),
    }
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), as `clone_args.flags` takes it (libc's
/// constant is a `c_int`, too narrow for it).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// How the child got into the run's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Made inside it by `clone3(CLONE_INTO_CGROUP)`: nothing left to join.
    Cloned,
    /// Forked outside it: the child must join it itself.
    Join,
}

/// Forks the calling single-threaded process. With `cgroup_dir` (a cgroup
/// v2 directory), the child is made inside that cgroup when the kernel
/// allows it; `Entry` says whether it was. The reason `clone3` was not used
/// comes back for the caller's log.
fn fork_into(cgroup_dir: Option<&Path>) -> Result<(ForkResult, Entry, Option<String>), Errno> {
    let Some(dir) = cgroup_dir else {
        // SAFETY: the caller is single-threaded (its own SAFETY says why), so
        // the child may run ordinary code after the fork.
        return unsafe { nix::unistd::fork() }.map(|r| (r, Entry::Join, None));
    };
    let not_cloned = match open_dir(dir) {
        Ok(fd) => match clone_into(&fd) {
            Ok(r) => return Ok((r, Entry::Cloned, None)),
            // An old kernel: no clone3, or one that does not know the field.
            Err(e @ (Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL)) => {
                format!("clone3 into the cgroup: {}", e.desc())
            }
            Err(e) => return Err(e),
        },
        Err(e) => format!("opening {}: {}", dir.display(), e.desc()),
    };
    // SAFETY: as above.
    unsafe { nix::unistd::fork() }.map(|r| (r, Entry::Join, Some(not_cloned)))
}

/// How the setup process came to be, for `-v`.
fn described(entry: Entry, not_cloned: Option<&str>) -> String {
    match (entry, not_cloned) {
        (Entry::Cloned, _) => "cloned into the run's cgroup (CLONE_INTO_CGROUP)".into(),
        (Entry::Join, Some(why)) => format!("forked; it joins the cgroup itself ({why})"),
        (Entry::Join, None) => "forked".into(),
    }
}

/// The step a failed [`fork_into`] names.
fn step(cgroup_dir: Option<&Path>) -> &'static str {
    match cgroup_dir {
        Some(_) => "making the setup process in the run's cgroup (clone3 with CLONE_INTO_CGROUP)",
        None => "forking the setup process",
    }
}

/// `clone3` with `CLONE_INTO_CGROUP` and `SIGCHLD`, otherwise as `fork`.
fn clone_into(cgroup: &OwnedFd) -> Result<ForkResult, Errno> {
    clone3(0, Some(cgroup))
}

fn open_dir(dir: &Path) -> Result<OwnedFd, Errno> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    use std::os::fd::FromRawFd;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = open(dir, flags, Mode::empty())?;
    // SAFETY: `open` just returned this descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A child's exit status, or why not.
    fn status_of(child: Pid) -> nix::sys::wait::WaitStatus {
        nix::sys::wait::waitpid(child, None).unwrap()
    }

    #[test]
    fn without_namespaces_or_a_cgroup_it_is_a_fork() {
        match clone3(0, None).unwrap() {
            // SAFETY: the child only ends.
            ForkResult::Child => unsafe { libc::_exit(7) },
            ForkResult::Parent { child } => assert_eq!(
                status_of(child),
                nix::sys::wait::WaitStatus::Exited(child, 7)
            ),
        }
    }

    #[test]
    fn a_directory_that_is_not_a_cgroup2_one_is_refused() {
        // clone3 answers EBADF for a descriptor that is not a cgroup2
        // directory (not an old kernel's answer): the error comes back, and
        // nothing is made.
        let dir = open_dir(&std::env::temp_dir()).unwrap();
        match clone3(0, Some(&dir)) {
            Err(e) => assert_eq!(e, Errno::EBADF),
            // SAFETY: the child only ends.
            Ok(ForkResult::Child) => unsafe { libc::_exit(0) },
            Ok(ForkResult::Parent { child }) => {
                status_of(child);
                panic!("cloned into a directory that is no cgroup");
            }
        }
    }
}
