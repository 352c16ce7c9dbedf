//! Accepting connections and capping them: the accept loop, the counting
//! semaphore of connections served at once, the small pool of threads that
//! refuse connections over the cap, and the registry of open sockets that
//! [`Proxy`](super::Proxy)'s stop closes.
//!
//! It may not read a request or make a connection out: each accepted
//! connection is handed to `serve.rs` on its own thread.

use super::serve::{blank_event, handle, Mode};
use super::{NetworkEvent, ProxyConfig};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Connections over the cap that are answered at once, at most.
const MAX_REFUSERS: usize = 8;

pub(super) struct Shared {
    pub(super) config: ProxyConfig,
    pub(super) stopping: AtomicBool,
    pub(super) slots: Arc<AtomicUsize>,
    pub(super) refusers: Arc<AtomicUsize>,
    pub(super) registry: Mutex<Registry>,
    pub(super) handlers_done: Condvar,
    pub(super) next_id: AtomicU64,
}

/// Open sockets per connection (so that stop can close them) and the
/// number of connection threads.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) streams: HashMap<u64, Vec<TcpStream>>,
    pub(super) handlers: usize,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn emit(&self, event: NetworkEvent) {
        tracing::debug!(?event, "egress");
        (self.config.on_event)(event);
    }
}

/// One unit of a counting semaphore, given back on drop.
struct Permit(Arc<AtomicUsize>);

impl Permit {
    fn try_acquire(counter: &Arc<AtomicUsize>, max: usize) -> Option<Permit> {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(Arc::clone(counter)))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection thread's handle on the shared state; dropping it
/// unregisters the connection's sockets and counts the thread as done.
pub(super) struct Conn {
    pub(super) shared: Arc<Shared>,
    pub(super) id: u64,
    pub(super) started: Instant,
}

impl Conn {
    fn new(shared: &Arc<Shared>, started: Instant) -> Conn {
        shared.lock().handlers += 1;
        Conn {
            shared: Arc::clone(shared),
            id: shared.next_id.fetch_add(1, Ordering::SeqCst),
            started,
        }
    }

    /// Registers a socket so that stop can close it.
    pub(super) fn track(&self, stream: &TcpStream) {
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut registry = self.shared.lock();
        if self.shared.stopping.load(Ordering::SeqCst) {
            let _ = clone.shutdown(Shutdown::Both);
        }
        registry.streams.entry(self.id).or_default().push(clone);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut registry = self.shared.lock();
        registry.streams.remove(&self.id);
        registry.handlers -= 1;
        self.shared.handlers_done.notify_all();
    }
}

pub(super) fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, wake: &UnixStream) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(1000u16)) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!("egress proxy: poll: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        if fds[1].any().unwrap_or(false) {
            break;
        }
        if !fds[0].any().unwrap_or(false) {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => dispatch(shared, stream),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => {
                // EMFILE and the like: wait for descriptors to be freed.
                tracing::warn!("egress proxy: accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

pub(super) fn limit_reason(max: usize) -> String {
    format!("connection limit ({max}) reached")
}

fn dispatch(shared: &Arc<Shared>, stream: TcpStream) {
    let started = Instant::now();
    let max = shared.config.max_connections;
    let (mode, permit) = match Permit::try_acquire(&shared.slots, max) {
        Some(p) => (Mode::Serve, p),
        None => match Permit::try_acquire(&shared.refusers, MAX_REFUSERS) {
            Some(p) => (Mode::Refuse, p),
            None => {
                drop(stream);
                let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
                let mut event = blank_event("unknown", id);
                event.reason = Some(limit_reason(max));
                shared.emit(event);
                return;
            }
        },
    };
    let conn = Conn::new(shared, started);
    let spawned = thread::Builder::new()
        .name("egress-conn".into())
        .spawn(move || {
            let _permit = permit;
            handle(&conn, stream, mode);
        });
    if let Err(e) = spawned {
        tracing::warn!("egress proxy: starting a connection thread: {e}");
        let mut event = blank_event("unknown", u64::MAX);
        event.reason = Some(format!("could not start a thread: {e}"));
        shared.emit(event);
    }
}
