//! Forking a sandbox's setup process, into the run's cgroup where the
//! kernel can do that itself.
//!
//! On cgroup v2 the setup process is made with `clone3(CLONE_INTO_CGROUP)`
//! on a descriptor of the run's cgroup directory: it exists inside the
//! cgroup from its first instruction, and nothing has to migrate it there
//! (no write to `cgroup.procs`, no window outside the limits). Where the
//! kernel refuses (no `clone3`, or one without `CLONE_INTO_CGROUP`: before
//! Linux 5.7), the setup process is forked and moves itself in before it
//! unshares anything, as on cgroup v1; the caller is told which happened,
//! and a failed move still ends the run.
//!
//! [`fork_setup`] is the one way both a one-shot run and a prepared
//! sandbox make their setup process.
//!
//! Mechanism layer: the run's cgroup and a process; it knows nothing of plans.

use super::cgroup::RunCgroup;
use super::{os, SandboxError};
use nix::errno::Errno;
use nix::unistd::{ForkResult, Pid};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

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

fn open_dir(dir: &Path) -> Result<OwnedFd, Errno> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    use std::os::fd::FromRawFd;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = open(dir, flags, Mode::empty())?;
    // SAFETY: `open` just returned this descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `clone3` with `CLONE_INTO_CGROUP` and `SIGCHLD`, otherwise as `fork`.
fn clone_into(cgroup: &OwnedFd) -> Result<ForkResult, Errno> {
    let fd = u64::try_from(cgroup.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    let args = libc::clone_args {
        flags: CLONE_INTO_CGROUP,
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
    // process as fork(2) does; `args` is a valid clone_args of the size
    // given. The caller is single-threaded, so no lock (malloc's, stdio's)
    // is held by another thread at the copy. glibc's own fork bookkeeping
    // does not run: its atfork handlers (we register none) and the thread
    // id it caches in the thread block, which stays the parent's; the child
    // uses neither (the id matters only to pthread_kill and raise on
    // itself, and a failing setup process ends with _exit).
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A child's exit status, or why not.
    fn status_of(child: Pid) -> nix::sys::wait::WaitStatus {
        nix::sys::wait::waitpid(child, None).unwrap()
    }

    #[test]
    fn without_a_cgroup_it_is_a_fork() {
        let (r, entry, why) = fork_into(None).unwrap();
        match r {
            // SAFETY: the child only ends.
            ForkResult::Child => unsafe { libc::_exit(7) },
            ForkResult::Parent { child } => {
                assert_eq!(entry, Entry::Join);
                assert!(why.is_none());
                assert_eq!(
                    status_of(child),
                    nix::sys::wait::WaitStatus::Exited(child, 7)
                );
            }
        }
    }

    #[test]
    fn a_directory_that_is_not_a_cgroup2_one_is_refused() {
        // clone3 answers EBADF for a descriptor that is not a cgroup2
        // directory (not an old kernel's answer): the error comes back, and
        // nothing is forked.
        let dir = std::env::temp_dir();
        match fork_into(Some(&dir)) {
            Err(e) => assert_eq!(e, Errno::EBADF),
            // SAFETY: the child only ends.
            Ok((ForkResult::Child, _, _)) => unsafe { libc::_exit(0) },
            Ok((ForkResult::Parent { child }, entry, why)) => {
                status_of(child);
                panic!("forked ({entry:?}, {why:?}) for a directory that is no cgroup");
            }
        }
    }
}
