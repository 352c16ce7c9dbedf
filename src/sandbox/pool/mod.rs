//! Prepared sandboxes, for a long-lived owner (`agentjail serve`, `agentjail
//! mcp serve`) whose forked per-call children run the calls.
//!
//! A prepared sandbox is a one-shot sandbox stopped half-way: its pid 1 was
//! made in new namespaces (the owner's own child; no setup process), the
//! owner has written its id maps, and pid 1 has built the filesystem view, set the hostname and brought
//! up loopback; then pid 1 reports `Ready` and waits. A call that claims it
//! sends one `Go` (argv, environment, stdio, a lifeline and the call's cgroup
//! files); pid 1 joins the cgroup, forks the tool, which confines itself
//! (capabilities, Landlock, no_new_privs, seccomp) exactly as in a one-shot
//! run and execs. When the tool ends, pid 1 ends and the namespaces go with
//! it: each prepared sandbox serves one call, so nothing of one call's
//! isolation is there for the next.
//!
//! A sandbox is claimed only for a plan that equals the one it was built
//! from (every field but the program, argv and environment, and the identity
//! of every bind source), else the call runs one-shot. The owner learns
//! which plans to keep ready from its children: after a call, the child
//! writes a wish (opaque bytes, the call core's to read) into a pipe the
//! owner polls. Claims go through words in memory shared with every child
//! (`MAP_SHARED`): a compare-and-swap from ready to taken, so two children
//! never get the same sandbox. Plans with an egress allow-list are not
//! prepared (their proxy is per call).
//!
//! Mechanism layer: plans and processes only; it knows nothing of calls.

mod spawn;

use super::cgroup::RunCgroup;
use super::{os, Prepared, SandboxError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use spawn::{Building, Proc, Progress};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many sandboxes to keep ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// Ready sandboxes per plan (0 turns the pool off).
    pub size: usize,
    /// Distinct plans kept ready; the least recently wished goes first.
    pub plans: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { size: 2, plans: 4 }
    }
}

/// The most ready sandboxes one owner keeps (`size` times `plans`).
pub const MAX_READY: usize = 32;

impl Settings {
    /// Settings within the bounds, or why not (for a configuration's error).
    pub fn checked(size: usize, plans: usize) -> Result<Settings, String> {
        if size > 8 {
            return Err(format!("size = {size}: must be 0 (no pool) to 8"));
        }
        if plans == 0 || plans > 8 {
            return Err(format!("plans = {plans}: must be 1 to 8"));
        }
        Ok(Settings { size, plans })
    }
}

/// The largest wish a child may send (one write of a pipe is atomic up to this).
pub const MAX_WISH: usize = libc::PIPE_BUF;

const READY: u64 = 1;
const TAKEN: u64 = 2;

/// One word per slot, `generation << 2 | state`, shared with every child.
struct Slots {
    base: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the mapping is only reached through `&AtomicU64`, which any
// thread (or process) may use at once; `Slots` owns it until dropped.
unsafe impl Send for Slots {}
// SAFETY: as above: shared access is atomic only.
unsafe impl Sync for Slots {}

impl Slots {
    fn new(len: usize) -> Result<Slots, SandboxError> {
        let bytes = len * std::mem::size_of::<AtomicU64>();
        // SAFETY: a fresh anonymous shared mapping; nothing else refers to
        // it. Zero pages are valid AtomicU64 values (state empty).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(SandboxError::Os {
                what: "mapping the prepared sandboxes' claim words",
                source: nix::Error::last(),
            });
        }
        let base = NonNull::new(p.cast::<AtomicU64>()).ok_or(SandboxError::Os {
            what: "mapping the prepared sandboxes' claim words",
            source: nix::Error::EFAULT,
        })?;
        Ok(Slots { base, len })
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        // Slot numbers come from `free_slot` (below `len`); the clamp keeps
        // a logic error from ever reaching outside the mapping.
        debug_assert!(i < self.len, "slot index within the mapping");
        let i = i.min(self.len - 1);
        // SAFETY: `i` is within the mapping, which lives as long as `self`;
        // AtomicU64 is valid for shared access from several processes.
        unsafe { &*self.base.as_ptr().add(i) }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: unmaps this process's view of the mapping made in `new`;
        // no reference into it outlives `self`.
        unsafe {
            libc::munmap(
                self.base.as_ptr().cast(),
                self.len * std::mem::size_of::<AtomicU64>(),
            );
        }
    }
}

/// One ready sandbox, as its owner (and every child forked since) sees it.
struct Ready {
    slot: usize,
    /// The slot's word while this sandbox is ready in it.
    word: u64,
    key: String,
    chan: OwnedFd,
    child: Proc,
    init: Pid,
    /// A pidfd of pid 1: the claimer signals and watches it through this.
    init_fd: OwnedFd,
    /// The cgroup its pid 1 joined before unsharing its cgroup namespace
    /// (the call's own: the sandbox serves one call). Removed by the owner
    /// only, once pid 1 is reaped: a child's copy never removes it.
    cgroup: Option<ManuallyDrop<RunCgroup>>,
}

/// A pid 1 to reap (the owner's child), and the cgroup to remove after it.
type Draining = (Proc, Option<ManuallyDrop<RunCgroup>>);

/// A sandbox a call has claimed: the launcher sends it the call.
pub struct Claimed {
    pub(super) chan: OwnedFd,
    pub(super) init: Pid,
    pub(super) init_fd: OwnedFd,
    /// The call's cgroup, made with the sandbox (its owner removes it).
    pub(super) cgroup: Option<ManuallyDrop<RunCgroup>>,
}

impl Claimed {
    /// Whether its pid 1 still runs (a pidfd turns readable when it ends).
    pub fn alive(&self) -> bool {
        let mut fds = [PollFd::new(self.init_fd.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }
}

/// What `doctor` and the owner's log show of the pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub settings: Settings,
    pub ready: usize,
    pub plans: usize,
    pub served: u64,
    pub failed: u64,
}

/// The owner's pool of prepared sandboxes. A forked child holds a copy: it
/// may only [`Pool::take`] and [`Pool::wish`].
pub struct Pool {
    settings: Settings,
    slots: Slots,
    ready: Vec<Ready>,
    /// Sandboxes on their way to ready: (slot, plan key, progress).
    building: Vec<(usize, String, Building)>,
    /// Setup processes of claimed or dropped sandboxes, not yet reaped.
    draining: Vec<Draining>,
    /// Plans to keep ready, least recently wished first.
    wanted: Vec<(String, Prepared)>,
    wish_r: OwnedFd,
    wish_w: OwnedFd,
    served: u64,
    failed: u64,
    /// The owner's pid: it never claims (only its children do).
    owner: Pid,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("settings", &self.settings)
            .field("ready", &self.ready.len())
            .field("plans", &self.wanted.len())
            .finish()
    }
}

/// The plan a sandbox was built from, as a comparable text; `None` for a
/// plan that is never prepared (an egress allow-list).
pub fn key_of(prep: &Prepared) -> Option<String> {
    if !prep.plan.egress.is_empty() {
        return None;
    }
    let mut plan = prep.plan.clone();
    plan.program = None;
    plan.argv.clear();
    plan.env.clear();
    let sources: Vec<(u64, u64, u32)> = prep
        .sources
        .iter()
        .map(|s| (s.dev, s.ino, s.file_type))
        .collect();
    serde_json::to_string(&(plan, sources, &prep.mechanisms, prep.filters.is_some())).ok()
}

/// Sends `sig` to the process behind a pidfd (never to a reused pid).
pub(super) fn pidfd_kill(fd: &OwnedFd, sig: Signal) {
    // SAFETY: pidfd_send_signal with a valid descriptor, no siginfo, no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig as i32,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

impl Pool {
    pub fn new(settings: Settings) -> Result<Pool, SandboxError> {
        let settings = Settings {
            size: settings.size.min(8),
            plans: settings.plans.clamp(1, 8),
        };
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(os("creating the pool's wish pipe"))?;
        Ok(Pool {
            settings,
            slots: Slots::new(MAX_READY)?,
            ready: Vec::new(),
            building: Vec::new(),
            draining: Vec::new(),
            wanted: Vec::new(),
            wish_r: r,
            wish_w: w,
            served: 0,
            failed: 0,
            owner: nix::unistd::getpid(),
        })
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    pub fn status(&self) -> Status {
        Status {
            settings: self.settings,
            ready: self.ready.len(),
            plans: self.wanted.len(),
            served: self.served,
            failed: self.failed,
        }
    }

    /// The descriptors the owner polls: the wish pipe and the channels of
    /// the sandboxes being built; when one is readable, [`Pool::maintain`]
    /// (through the call core's `tend`) has work.
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = vec![self.wish_r.as_fd()];
        fds.extend(self.building.iter().map(|(_, _, b)| b.chan.as_fd()));
        fds
    }

    /// In a child: asks the owner to keep sandboxes ready for a call like
    /// this one (`bytes` is the call core's encoding). Best effort: a wish
    /// over [`MAX_WISH`] or a full pipe is dropped.
    pub fn wish(&self, bytes: &[u8]) {
        if self.settings.size == 0 || bytes.len() > MAX_WISH || bytes.is_empty() {
            return;
        }
        let _ = nix::unistd::write(&self.wish_w, bytes);
    }

    /// In the owner: the wishes that arrived (each one write of a child).
    pub fn wishes(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_WISH];
        while let Ok(n) = nix::unistd::read(self.wish_r.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            out.push(buf[..n].to_vec());
        }
        out
    }

    /// In a child: claims a ready sandbox built from the plan whose
    /// [`key_of`] is `key`, if there is one.
    pub fn take(&mut self, key: &str) -> Option<Claimed> {
        if nix::unistd::getpid() == self.owner {
            // The owner never runs calls itself: its claims would race the refill.
            return None;
        }
        let mut i = 0;
        while i < self.ready.len() {
            let r = &self.ready[i];
            if r.key == key {
                let word = self.slots.word(r.slot);
                let taken = (r.word & !3) | TAKEN;
                if word
                    .compare_exchange(r.word, taken, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    let r = self.ready.swap_remove(i);
                    return Some(Claimed {
                        chan: r.chan,
                        init: r.init,
                        init_fd: r.init_fd,
                        cgroup: r.cgroup,
                    });
                }
            }
            i += 1;
        }
        None
    }

    /// In the owner: keep sandboxes ready for this plan (most recently
    /// wished now); the oldest plan beyond `plans` goes, with its sandboxes.
    pub fn want(&mut self, prep: Prepared) {
        let Some(key) = key_of(&prep) else { return };
        if self.settings.size == 0 {
            return;
        }
        self.wanted.retain(|(k, _)| *k != key);
        self.wanted.push((key, prep));
        while self.wanted.len() > self.settings.plans {
            let (old, _) = self.wanted.remove(0);
            self.drop_where(|r| r.key == old);
            self.stop_building(|k| *k == old);
        }
    }

    /// In the owner: forget claimed sandboxes, reap ended ones, and bring
    /// every wanted plan back to `size` ready sandboxes.
    pub fn maintain(&mut self) {
        // Claimed: the claimer runs the call; the owner only reaps.
        let mut i = 0;
        while i < self.ready.len() {
            let r = &self.ready[i];
            if self.slots.word(r.slot).load(Ordering::Acquire) != r.word {
                let r = self.ready.swap_remove(i);
                self.served += 1;
                self.draining.push((r.child, r.cgroup));
            } else {
                i += 1;
            }
        }
        // A ready sandbox whose pid 1 ended cannot serve.
        let mut i = 0;
        while i < self.ready.len() {
            if self.ready[i].child.gone() {
                let r = self.ready.swap_remove(i);
                tracing::warn!(
                    "pool: a prepared sandbox ended before any call (pid 1 {})",
                    r.child.pid
                );
                remove_cgroup(r.cgroup);
            } else {
                i += 1;
            }
        }
        for (child, cg) in std::mem::take(&mut self.draining) {
            if child.gone() {
                remove_cgroup(cg);
            } else {
                self.draining.push((child, cg));
            }
        }
        self.collect();
        self.refill();
    }

    /// Moves the sandboxes being built along; the ready ones join `ready`.
    /// The owner calls this alone before it forks a call (cheap: it reads
    /// what the channels hold); [`Pool::maintain`] does it with the rest.
    pub fn collect(&mut self) {
        for (slot, key, b) in std::mem::take(&mut self.building) {
            match b.advance() {
                Progress::Waiting(b) => self.building.push((slot, key, b)),
                Progress::Done(m) => {
                    let word = self.slots.word(slot);
                    let gen = (word.load(Ordering::Acquire) >> 2) + 1;
                    let ready = (gen << 2) | READY;
                    word.store(ready, Ordering::Release);
                    tracing::debug!("pool: sandbox prepared (pid 1 {})", m.init);
                    self.ready.push(Ready {
                        slot,
                        word: ready,
                        key,
                        chan: m.chan,
                        child: m.child,
                        init: m.init,
                        init_fd: m.init_fd,
                        cgroup: m.cgroup,
                    });
                }
                Progress::Failed(child, cgroup, e) => {
                    // Not retried: the plan goes until a call wishes it again.
                    self.failed += 1;
                    tracing::warn!("pool: preparing a sandbox failed, plan dropped: {e}");
                    child.kill();
                    self.draining.push((child, cgroup));
                    self.wanted.retain(|(k, _)| *k != key);
                }
            }
        }
    }

    /// Starts building what the wanted plans lack.
    fn refill(&mut self) {
        let mut n = 0;
        while n < self.wanted.len() {
            let key = &self.wanted[n].0;
            let have = self.ready.iter().filter(|r| r.key == *key).count()
                + self.building.iter().filter(|(_, k, _)| k == key).count();
            if have >= self.settings.size {
                n += 1;
                continue;
            }
            let Some(slot) = self.free_slot() else { return };
            match spawn::start(&self.wanted[n].1) {
                Ok(b) => {
                    let key = self.wanted[n].0.clone();
                    self.building.push((slot, key, b));
                }
                Err(e) => {
                    self.failed += 1;
                    tracing::warn!("pool: preparing a sandbox failed, plan dropped: {e}");
                    self.wanted.remove(n);
                }
            }
        }
    }

    fn free_slot(&self) -> Option<usize> {
        (0..self.slots.len).find(|i| {
            !self.ready.iter().any(|r| r.slot == *i)
                && !self.building.iter().any(|(s, _, _)| s == i)
        })
    }

    fn drop_where(&mut self, f: impl Fn(&Ready) -> bool) {
        let (gone, keep): (Vec<Ready>, Vec<Ready>) = self.ready.drain(..).partition(|r| f(r));
        self.ready = keep;
        for r in gone {
            // Claimed meanwhile? Then its claimer owns it now.
            let word = self.slots.word(r.slot);
            let empty = r.word & !3;
            if word
                .compare_exchange(r.word, empty, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.release(r);
            } else {
                self.served += 1;
                self.draining.push((r.child, r.cgroup));
            }
        }
    }

    /// Ends an unclaimed sandbox (SIGKILL to its pid 1 ends it all).
    fn release(&mut self, r: Ready) {
        r.child.kill();
        self.draining.push((r.child, r.cgroup));
    }

    fn stop_building(&mut self, f: impl Fn(&String) -> bool) {
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.building)
            .into_iter()
            .partition(|(_, k, _)| f(k));
        self.building = keep;
        for (_, _, b) in gone {
            b.child.kill();
            self.draining.push((b.child, b.cgroup));
        }
    }

    /// In the owner, at the end: every unclaimed sandbox goes.
    pub fn shutdown(&mut self) {
        self.wanted.clear();
        self.drop_where(|_| true);
        self.stop_building(|_| true);
        for (child, cg) in self.draining.drain(..) {
            child.reap();
            remove_cgroup(cg);
        }
    }
}

/// Removes a prepared sandbox's cgroup (the owner, after its pid 1 was
/// reaped: whatever is left in it is killed first).
fn remove_cgroup(cg: Option<ManuallyDrop<RunCgroup>>) {
    if let Some(cg) = cg {
        if let Err(e) = ManuallyDrop::into_inner(cg).remove() {
            tracing::warn!("pool: removing a used sandbox's cgroup: {e}");
        }
    }
}

/// Proportional set size of a process, in KiB (0 when unreadable).
fn pss_kib(pid: Pid) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// What one prepared sandbox costs while it waits, measured now: the Pss
/// (KiB) of its pid 1 and pid 1's armed tool process
/// (kernel memory for its namespaces and empty tmpfs mounts is not
/// counted). For `doctor`.
pub fn idle_cost() -> Result<u64, SandboxError> {
    let mut plan = super::plan::minimal();
    plan.namespaces = vec!["user", "mount", "pid", "net", "ipc", "uts", "cgroup"];
    plan.optional = vec![super::plan::Mechanism::Cgroup];
    let program = super::resolve_program(&plan).map_err(|e| SandboxError::Setup {
        step: "finding true for the measurement".into(),
        error: e.to_string(),
    })?;
    plan.program = Some(program.clone());
    let prep = super::prepare(plan, program)?;
    let end = |child: Option<Proc>| {
        if let Some(p) = child {
            p.kill();
            p.reap();
        }
    };
    match spawn::blocking(&prep) {
        Ok(m) => {
            let armed: u64 =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", m.init))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok())
                    .map(|c| pss_kib(Pid::from_raw(c)))
                    .sum();
            let kib = pss_kib(m.init) + armed;
            end(Some(m.child));
            remove_cgroup(m.cgroup);
            Ok(kib)
        }
        Err(failed) => {
            let (child, cgroup, e) = *failed;
            end(child);
            remove_cgroup(cgroup);
            Err(e)
        }
    }
}
