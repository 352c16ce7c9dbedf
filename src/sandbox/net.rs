//! A sandbox's network namespace: it starts with only a down loopback,
//! brought up here; and, for a one-shot pid 1, made on a thread of its own
//! while the view is built ([`make_on_thread`]), since creating one is the
//! dearest part of the namespaces' clone (about 0.5 ms of 0.7 here).

use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Sets IFF_UP on `lo` in the current network namespace.
pub fn loopback_up() -> nix::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: fd is an open socket and req a valid ifreq naming "lo".
    let mut r = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    if r == 0 {
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: as above, with the flags updated.
        r = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) };
    }
    let err = Errno::last();
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    if r < 0 {
        return Err(err);
    }
    Ok(())
}

/// A network namespace being made on a thread (see [`make_on_thread`]).
pub struct Making {
    thread: std::thread::JoinHandle<Result<OwnedFd, (&'static str, Errno)>>,
}

/// Starts a thread that unshares its network namespace (the new one owned
/// by the caller's user namespace, where it has the capabilities), brings
/// its loopback up and opens the namespace. The caller's other threads stay
/// where they are until [`Making::enter`]. `/proc` (the host's, still the
/// caller's) is opened first, so what the caller mounts meanwhile does not
/// matter.
pub fn make_on_thread() -> std::io::Result<Making> {
    let proc_dir = std::fs::File::open("/proc")?;
    let thread = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || make_here(&proc_dir))?;
    Ok(Making { thread })
}

/// Unshares a network namespace for the calling thread (owned by its user
/// namespace, where it has the capabilities), brings its loopback up and
/// opens it through `proc_dir`, the host's `/proc`.
fn make_here(proc_dir: &std::fs::File) -> Result<OwnedFd, (&'static str, Errno)> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| ("unsharing the network namespace", e))?;
    loopback_up().map_err(|e| ("bringing up loopback", e))?;
    // SAFETY: openat with a directory descriptor we own and a
    // NUL-terminated path; the result is checked.
    let fd = unsafe {
        libc::openat(
            proc_dir.as_raw_fd(),
            c"thread-self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(("opening the new network namespace", Errno::last()));
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Making {
    /// Waits for the thread and moves the calling thread into the namespace
    /// it made (the thread has ended; the caller is single-threaded again).
    pub fn enter(self) -> Result<(), (&'static str, Errno)> {
        let fd = self
            .thread
            .join()
            .map_err(|_| ("making the network namespace", Errno::EIO))??;
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| ("entering the new network namespace", e))
    }
}

/// A network namespace made ahead of a one-shot run's pid 1, while the
/// launcher still loads the profiles and decides, by a short-lived child in
/// a user namespace of its own (see [`Ahead::start`]). The launcher enters
/// it for pid 1's clone only ([`Ahead::enter`]), and comes back.
///
/// The namespace is owned by that child's user namespace, which no process
/// of the sandbox is in or below: pid 1 and the tool hold no capability
/// over it (they never had one that mattered: loopback is up before they
/// exist, and the tool has none at all). A plan that mounts `/sys` needs
/// pid 1 to own its network namespace (sysfs asks for that) and does not
/// use one.
pub struct Ahead {
    child: nix::unistd::Pid,
    chan: OwnedFd,
    /// The launcher's own network namespace, to come back to (taken by
    /// [`Ahead::enter`]).
    own: Option<OwnedFd>,
}

/// What [`Ahead::start_for_this_process`] made, until a launch takes it.
static STARTED: std::sync::Mutex<Option<Ahead>> = std::sync::Mutex::new(None);

/// The launcher inside a namespace made [`Ahead`]: [`Back::leave`] returns it
/// to its own. pid 1, cloned meanwhile, drops it (closing the descriptor).
pub struct Back {
    own: OwnedFd,
}

impl Ahead {
    /// Starts making one. Only root can use it: entering a network namespace
    /// that another user namespace owns takes CAP_SYS_ADMIN in the
    /// launcher's own user namespace as well (an unprivileged launcher's pid
    /// 1 makes its own on a thread, [`make_on_thread`]). `None` when not
    /// root, or when the child cannot be made (the run goes on the usual
    /// way; `-v` says why). The caller is single-threaded.
    pub fn start() -> Option<Ahead> {
        // (A launcher under a seccomp filter of its own goes through a
        // setup process, which has no use for one: `fork::direct`.)
        if !nix::unistd::Uid::effective().is_root() || !super::fork::direct() {
            return None;
        }
        match Ahead::spawn() {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::info!("sandbox: no network namespace made ahead: {e}");
                None
            }
        }
    }

    /// [`Ahead::start`], kept for this process's one launch, which takes it
    /// with [`Ahead::take_for`] (see `crate::run::prepare_one_shot`).
    pub fn start_for_this_process() {
        let ahead = Ahead::start();
        if let (Some(a), Ok(mut slot)) = (ahead, STARTED.lock()) {
            *slot = Some(a);
        }
    }

    /// The namespace [`Ahead::start_for_this_process`] made, for a plan
    /// that can use it: one with a network namespace of its own that mounts
    /// no `/sys`. Otherwise it stays (and ends with the process).
    pub(super) fn take_for(plan: &super::plan::SandboxPlan) -> Option<Ahead> {
        if plan.network != super::plan::NetworkMode::None || plan.sys {
            return None;
        }
        STARTED.lock().ok().and_then(|mut slot| slot.take())
    }

    fn spawn() -> Result<Ahead, String> {
        let own = std::fs::File::open("/proc/thread-self/ns/net")
            .map_err(|e| format!("opening the launcher's network namespace: {e}"))?;
        let (mine, theirs) = super::channel::pair().map_err(|e| e.to_string())?;
        let flags = nix::sched::CloneFlags::CLONE_NEWUSER;
        match super::fork::clone_plain(flags).map_err(|e| format!("clone3: {}", e.desc()))? {
            nix::unistd::ForkResult::Child => {
                drop(mine);
                ahead_child(theirs)
            }
            nix::unistd::ForkResult::Parent { child } => Ok(Ahead {
                child,
                chan: mine,
                own: Some(OwnedFd::from(own)),
            }),
        }
    }

    /// Waits for the namespace and moves the calling thread into it, for
    /// pid 1's clone; or why not (the child is reaped either way).
    pub fn enter(mut self) -> Result<Back, String> {
        let got = super::channel::recv_msg_fd(&self.chan);
        let ns = match got {
            Ok(Some((super::channel::Message::Ready, Some(fd)))) => fd,
            Ok(Some((super::channel::Message::SetupFailed { step, error }, _))) => {
                return Err(format!("{step}: {error}"));
            }
            Ok(other) => return Err(format!("unexpected answer from its maker: {other:?}")),
            Err(e) => return Err(e.to_string()),
        };
        let own = self.own.take().ok_or("entered once already")?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("entering it: {}", e.desc()))?;
        // (Drop reaps the child, which has ended or is about to.)
        Ok(Back { own })
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        // Unused, or used: the child ends once it has sent the namespace.
        let _ = nix::sys::signal::kill(self.child, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.child, None);
    }
}

impl Back {
    /// Back into the launcher's own network namespace.
    pub fn leave(self) -> Result<(), Errno> {
        nix::sched::setns(&self.own, nix::sched::CloneFlags::CLONE_NEWNET)
    }
}

/// The child of [`Ahead::start`], in its new user namespace with that
/// namespace's capabilities: a new network namespace, loopback up, the
/// namespace's descriptor sent back; then it ends. Never returns.
fn ahead_child(chan: OwnedFd) -> ! {
    use super::channel::{fail, send_msg_fd, Message};
    crate::alloc::forked_child();
    let raw = chan.as_raw_fd();
    // Nothing of the launcher's but the channel: its stdio stays with it (a
    // caller reading the launcher's output to its end never waits for this).
    let raw_u = raw as libc::c_uint;
    // SAFETY: close_range on descriptor ranges this process owns; the
    // channel (raw) is left open, and nothing else is used afterwards.
    unsafe {
        if raw_u > 0 {
            libc::syscall(libc::SYS_close_range, 0, raw_u - 1, 0);
        }
        libc::syscall(libc::SYS_close_range, raw_u + 1, libc::c_uint::MAX, 0);
    }
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        fail(raw, "setting the parent-death signal", e);
    }
    let made = std::fs::File::open("/proc")
        .map_err(|e| {
            (
                "opening /proc",
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })
        .and_then(|proc_dir| make_here(&proc_dir));
    let ns = match made {
        Ok(ns) => ns,
        Err((step, e)) => fail(raw, step, e),
    };
    if let Err(e) = send_msg_fd(raw, &Message::Ready, ns.as_raw_fd()) {
        fail(raw, "sending the new network namespace", e);
    }
    // SAFETY: the child's work is done; end without unwinding.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sandbox::channel::{self, Message};
    use std::os::fd::RawFd;

    /// The calling thread's network namespace, as the kernel names it.
    fn here() -> std::path::PathBuf {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    }

    /// What a stand-in maker sends on its end of the channel.
    type Say = Box<dyn FnOnce(RawFd)>;

    /// An `Ahead` whose maker said what `say` sends, then went away (a
    /// child that only ends stands in for it, for the reap).
    fn answered(say: impl FnOnce(RawFd)) -> Ahead {
        let (mine, theirs) = channel::pair().unwrap();
        // SAFETY: the child only ends; nothing runs in it.
        let child = match unsafe { nix::unistd::fork() }.unwrap() {
            // SAFETY: _exit ends the child without running anything of the parent's.
            nix::unistd::ForkResult::Child => unsafe { libc::_exit(0) },
            nix::unistd::ForkResult::Parent { child } => child,
        };
        say(theirs.as_raw_fd());
        drop(theirs);
        let own = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
        Ahead {
            child,
            chan: mine,
            own: Some(OwnedFd::from(own)),
        }
    }

    #[test]
    fn a_bad_or_missing_answer_is_refused_and_the_launcher_stays_home() {
        let home = here();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let cases: Vec<(&str, Say)> = vec![
            // The maker ended without a word (half-sent: nothing at all).
            ("closed", Box::new(|_| {})),
            (
                "failed",
                Box::new(|fd| {
                    let m = Message::SetupFailed {
                        step: "unsharing the network namespace".into(),
                        error: "EPERM".into(),
                    };
                    channel::send_msg(fd, &m).unwrap();
                }),
            ),
            // Ready, but no namespace rides along.
            (
                "no descriptor",
                Box::new(|fd| channel::send_msg(fd, &Message::Ready).unwrap()),
            ),
            // Another protocol's word.
            (
                "wrong word",
                Box::new(|fd| channel::send_msg(fd, &Message::Proceed).unwrap()),
            ),
            // Not a message at all, and larger than any.
            (
                "garbage",
                Box::new(|fd| {
                    let junk = vec![b'{'; 60 * 1024];
                    // SAFETY: a write of a buffer we own to a socket we hold.
                    unsafe { libc::write(fd, junk.as_ptr().cast(), junk.len()) };
                }),
            ),
            // A descriptor that is no network namespace.
            (
                "not a namespace",
                Box::new(move |fd| {
                    channel::send_msg_fd(fd, &Message::Ready, devnull.as_raw_fd()).unwrap()
                }),
            ),
        ];
        for (name, say) in cases {
            let ahead = answered(say);
            let child = ahead.child;
            let got = ahead.enter();
            assert!(got.is_err(), "{name}: entered");
            assert_eq!(here(), home, "{name}: the launcher left its namespace");
            // The maker was reaped: no zombie is left under its pid.
            assert_eq!(
                nix::sys::signal::kill(child, None),
                Err(Errno::ESRCH),
                "{name}: the maker was not reaped"
            );
        }
    }
}
