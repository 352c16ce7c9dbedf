//! The egress proxy: HTTP CONNECT, plain HTTP forwarding and SOCKS5 on one
//! listening socket, every destination checked against [`EgressRules`].
//!
//! One thread accepts; each connection gets a thread (two while relaying).
//! A counting semaphore caps the connections served at once; a connection
//! over the cap is answered with 503 / SOCKS 0x01 by a small, separately
//! capped pool of refusing threads that give the client at most a second.
//! Every connection ends in exactly one [`NetworkEvent`] (stage `end`); an
//! allowed one is also announced, before the proxy connects out, to
//! [`ProxyConfig::on_open`], which may refuse it (fail closed: a connection
//! that cannot be audited is not made).
//!
//! Names are resolved here (`getaddrinfo`), only after the name passed the
//! rules. Every resolved address is checked and the proxy connects to an
//! address it checked, never to the result of a second lookup.
//!
//! # Files
//!
//! * this file: the public face ([`Proxy`], [`ProxyConfig`],
//!   [`NetworkEvent`]) and stopping;
//! * `accept.rs`: the accept loop, the connection cap and the refusers'
//!   pool, the registry of open sockets;
//! * `serve.rs`: one connection, from its first byte to its event: which
//!   protocol, HTTP forwarding, CONNECT or SOCKS, the replies;
//! * `open.rs`: the destination checked by name and by address, resolved
//!   and connected to;
//! * `relay.rs`: the pump that copies both ways until the exchange ends;
//! * `timed.rs`: reads with a deadline, the lingering close, log-safe text.
//!
//! The proxy serves the sandbox from outside it: it may not know plans,
//! profiles or the sandbox, only the [`EgressRules`] it is handed. The
//! request heads are parsed in `egress::http` and `egress::socks`.

mod accept;
mod open;
mod relay;
mod serve;
mod timed;

#[cfg(test)]
mod tests;

use super::rules::EgressRules;
use accept::{accept_loop, Registry, Shared};
use serde::Serialize;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use open::Target;
pub(crate) use open::{ConnectError, Failure};
pub(crate) use timed::{printable, read_exact_by, read_some};

pub const DEFAULT_MAX_CONNECTIONS: usize = 32;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Proxy::stop`] waits for connection threads.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// One connection attempt, for the audit log (event_type `network`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkEvent {
    /// The connection's number within this proxy (the `open` and the `end`
    /// event of one connection share it).
    pub connection: u64,
    /// `"open"`: allowed, about to connect out (no bytes yet); `"end"`: the
    /// attempt is over (denied, failed or closed), with its byte counts.
    pub stage: &'static str,
    /// `"http-connect"`, `"http"` or `"socks5"`; `"unknown"` when the
    /// client sent nothing the proxy could recognise as either.
    pub protocol: &'static str,
    /// `host:port` as the client asked (empty if it never said).
    pub destination: String,
    /// `ip:port` connected to; for a refused address, the address refused.
    pub address: Option<String>,
    /// Whether the rules allowed the destination (a connection that was
    /// allowed but could not be made is `allowed` with a `reason`).
    pub allowed: bool,
    /// The entry that allowed it, as written in the profile.
    pub rule: Option<String>,
    /// Why it was denied or failed, or how an allowed connection ended
    /// abnormally (e.g. idle timeout).
    pub reason: Option<String>,
    /// Bytes sent to the origin (for plain HTTP, including the request head).
    pub bytes_up: u64,
    /// Bytes sent from the origin to the client.
    pub bytes_down: u64,
    pub duration_ms: u64,
}

/// How the proxy runs. [`ProxyConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct ProxyConfig {
    pub rules: EgressRules,
    /// Connections served at once (default 32).
    pub max_connections: usize,
    /// A connection with no traffic either way for this long is closed;
    /// also the time a client has to send its request.
    pub idle_timeout: Duration,
    /// The time allowed for connecting to the origin (all its addresses).
    pub connect_timeout: Duration,
    /// Called once per connection, from the connection's thread.
    pub on_event: Arc<dyn Fn(NetworkEvent) + Send + Sync>,
    /// Called before connecting out for an allowed destination (stage
    /// `open`); an `Err(reason)` refuses the connection (503 / SOCKS 0x01)
    /// without connecting. The default allows every connection.
    pub on_open: Arc<OnOpen>,
}

/// See [`ProxyConfig::on_open`].
pub type OnOpen = dyn Fn(&NetworkEvent) -> Result<(), String> + Send + Sync;

impl ProxyConfig {
    pub fn new(rules: EgressRules, on_event: Arc<dyn Fn(NetworkEvent) + Send + Sync>) -> Self {
        ProxyConfig {
            rules,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            on_event,
            on_open: Arc::new(|_| Ok(())),
        }
    }
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("rules", &self.rules)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// A running proxy. Dropping it stops it, as [`Proxy::stop`] does.
pub struct Proxy {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    /// Closing this wakes the accept thread.
    wake: Option<UnixStream>,
    local_addr: SocketAddr,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("local_addr", &self.local_addr)
            .field("active", &self.active_connections())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Serves on an already-listening socket (it may be in another network
    /// namespace). Spawns threads; returns at once.
    pub fn start(listener: TcpListener, config: ProxyConfig) -> io::Result<Proxy> {
        if config.max_connections == 0
            || config.idle_timeout.is_zero()
            || config.connect_timeout.is_zero()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "egress proxy: max_connections and the timeouts must be above zero",
            ));
        }
        let listening =
            nix::sys::socket::getsockopt(&listener, nix::sys::socket::sockopt::AcceptConn)
                .map_err(io::Error::from)?;
        if !listening {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "egress proxy: the socket is not listening",
            ));
        }
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let (wake, wake_rx) = UnixStream::pair()?;
        let shared = Arc::new(Shared {
            slots: Arc::new(AtomicUsize::new(0)),
            refusers: Arc::new(AtomicUsize::new(0)),
            stopping: AtomicBool::new(false),
            registry: Mutex::new(Registry::default()),
            handlers_done: Condvar::new(),
            next_id: AtomicU64::new(0),
            config,
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("egress-accept".into())
            .spawn(move || accept_loop(&accept_shared, &listener, &wake_rx))?;
        Ok(Proxy {
            shared,
            accept: Some(accept),
            wake: Some(wake),
            local_addr,
        })
    }

    /// The listening address (in the listener's network namespace).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections being served now (not counting refused ones).
    pub fn active_connections(&self) -> usize {
        self.shared.slots.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes open connections, joins threads (bounded
    /// wait: a thread stuck in a name lookup or a connect is left to end
    /// on its own, and may still report its event afterwards).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        drop(self.wake.take());
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let mut registry = self.shared.lock();
        for stream in registry.streams.values().flatten() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + STOP_WAIT;
        while registry.handlers > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    handlers = registry.handlers,
                    "egress proxy stopped with connection threads still running"
                );
                break;
            }
            registry = self
                .shared
                .handlers_done
                .wait_timeout(registry, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}
