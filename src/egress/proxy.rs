//! The egress proxy: HTTP CONNECT, plain HTTP forwarding and SOCKS5 on one
//! listening socket, every destination checked against [`EgressRules`].
//!
//! One thread accepts; each connection gets a thread (two while relaying).
//! A counting semaphore caps the connections served at once; a connection
//! over the cap is answered with 503 / SOCKS 0x01 by a small, separately
//! capped pool of refusing threads that give the client at most a second.
//! Every connection ends in exactly one [`NetworkEvent`].
//!
//! Names are resolved here (`getaddrinfo`), only after the name passed the
//! rules. Every resolved address is checked and the proxy connects to an
//! address it checked, never to the result of a second lookup.

use super::http::{self, Request};
use super::rules::{classify_host, EgressRules, HostKind, Verdict};
use super::socks;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const DEFAULT_MAX_CONNECTIONS: usize = 32;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Each relay direction copies through one buffer of this size.
const RELAY_BUFFER: usize = 64 * 1024;
/// Connections over the cap that are answered at once, at most.
const MAX_REFUSERS: usize = 8;
/// How long a refused connection may take to send its request.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// After an error reply: how long to read (and drop) what the client still
/// sends, so that closing does not reset the connection before the client
/// has read the reply.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;
/// How long [`Proxy::stop`] waits for connection threads.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// One connection attempt, for the audit log (event_type `network`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkEvent {
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
}

impl ProxyConfig {
    pub fn new(rules: EgressRules, on_event: Arc<dyn Fn(NetworkEvent) + Send + Sync>) -> Self {
        ProxyConfig {
            rules,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            on_event,
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

struct Shared {
    config: ProxyConfig,
    stopping: AtomicBool,
    slots: Arc<AtomicUsize>,
    refusers: Arc<AtomicUsize>,
    registry: Mutex<Registry>,
    handlers_done: Condvar,
    next_id: AtomicU64,
}

/// Open sockets per connection (so that stop can close them) and the
/// number of connection threads.
#[derive(Default)]
struct Registry {
    streams: HashMap<u64, Vec<TcpStream>>,
    handlers: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: NetworkEvent) {
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
struct Conn {
    shared: Arc<Shared>,
    id: u64,
    started: Instant,
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
    fn track(&self, stream: &TcpStream) {
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

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, wake: &UnixStream) {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    /// Over the connection cap: read the request, answer 503 / 0x01.
    Refuse,
}

fn blank_event(protocol: &'static str) -> NetworkEvent {
    NetworkEvent {
        protocol,
        destination: String::new(),
        address: None,
        allowed: false,
        rule: None,
        reason: None,
        bytes_up: 0,
        bytes_down: 0,
        duration_ms: 0,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn limit_reason(max: usize) -> String {
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
                let mut event = blank_event("unknown");
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
        let mut event = blank_event("unknown");
        event.reason = Some(format!("could not start a thread: {e}"));
        shared.emit(event);
    }
}

/// A destination as the client named it: a host name, an IPv4 address or
/// a bracketed IPv6 address, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", printable(&self.host), self.port)
    }
}

/// How a connect failed, for the protocol's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectError {
    Refused,
    NetworkUnreachable,
    HostUnreachable,
    TimedOut,
    Other,
}

impl ConnectError {
    fn of(e: &io::Error) -> Self {
        match (e.kind(), e.raw_os_error()) {
            (io::ErrorKind::ConnectionRefused, _) => ConnectError::Refused,
            (io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock, _) => ConnectError::TimedOut,
            (_, Some(libc::ENETUNREACH)) => ConnectError::NetworkUnreachable,
            (_, Some(libc::EHOSTUNREACH)) => ConnectError::HostUnreachable,
            _ => ConnectError::Other,
        }
    }
}

/// Why a parsed request is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The rules refused it.
    Denied(String),
    /// Over the connection cap.
    Limit(String),
    /// Allowed, but the name did not resolve.
    Resolve(String),
    /// Allowed, but no allowed address could be connected to.
    Connect(String, ConnectError),
}

impl Failure {
    fn reason(&self) -> &str {
        match self {
            Failure::Denied(r)
            | Failure::Limit(r)
            | Failure::Resolve(r)
            | Failure::Connect(r, _) => r,
        }
    }

    fn was_allowed(&self) -> bool {
        matches!(self, Failure::Resolve(_) | Failure::Connect(..))
    }
}

/// How the client spoke, for the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Socks,
    Connect,
    Forward,
}

impl Front {
    fn failure_reply(self, failure: &Failure) -> Vec<u8> {
        match self {
            Front::Socks => socks::reply(socks::failure_code(failure)).to_vec(),
            Front::Connect | Front::Forward => {
                http::error_response(http::failure_status(failure), failure.reason())
            }
        }
    }
}

fn handle(conn: &Conn, client: TcpStream, mode: Mode) {
    let config = &conn.shared.config;
    conn.track(&client);
    let _ = client.set_nodelay(true);
    let _ = client.set_write_timeout(Some(config.idle_timeout));
    let patience = match mode {
        Mode::Serve => config.idle_timeout,
        Mode::Refuse => REFUSAL_TIME.min(config.idle_timeout),
    };
    let mut event = blank_event("unknown");
    serve(conn, &client, mode, Instant::now() + patience, &mut event);
    event.duration_ms = millis(conn.started.elapsed());
    conn.shared.emit(event);
}

fn serve(conn: &Conn, client: &TcpStream, mode: Mode, deadline: Instant, event: &mut NetworkEvent) {
    let config = &conn.shared.config;
    let mut first = [0u8; 1];
    match read_some(client, &mut first, deadline) {
        Ok(0) => {
            event.reason = Some("the client closed without sending a request".into());
            return;
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            event.reason = Some("timed out waiting for a request".into());
            return;
        }
        Err(e) => {
            event.reason = Some(format!("reading the request: {e}"));
            return;
        }
    }

    let (front, target, early) = if first[0] == socks::VERSION {
        event.protocol = "socks5";
        match socks::read_request(client, deadline) {
            Ok(target) => (Front::Socks, target, Vec::new()),
            Err(bad) => {
                event.destination = bad.destination.unwrap_or_default();
                event.reason = Some(bad.reason);
                linger_close(client);
                return;
            }
        }
    } else {
        event.protocol = "http";
        match http::read_request(client, first[0], deadline) {
            Ok(Request::Connect { target, early }) => {
                event.protocol = "http-connect";
                (Front::Connect, target, early)
            }
            Ok(Request::Forward {
                target,
                mut head,
                early,
            }) => {
                head.extend_from_slice(&early);
                (Front::Forward, target, head)
            }
            Err(bad) => {
                event.protocol = bad.protocol;
                event.destination = bad.destination.unwrap_or_default();
                let _ = (&*client).write_all(&http::error_response(bad.status, &bad.reason));
                event.reason = Some(bad.reason);
                linger_close(client);
                return;
            }
        }
    };
    event.destination = target.to_string();

    let opened = match mode {
        Mode::Refuse => Err(NotOpened {
            failure: Failure::Limit(limit_reason(config.max_connections)),
            rule: None,
            address: None,
        }),
        Mode::Serve => open(&config.rules, &target, config.connect_timeout),
    };
    let opened = match opened {
        Ok(opened) => opened,
        Err(not) => {
            event.allowed = not.failure.was_allowed();
            event.rule = not.rule;
            event.address = not.address.map(|a| a.to_string());
            let _ = (&*client).write_all(&front.failure_reply(&not.failure));
            event.reason = Some(not.failure.reason().to_string());
            linger_close(client);
            return;
        }
    };
    event.allowed = true;
    event.rule = Some(opened.rule);
    event.address = Some(opened.addr.to_string());
    let upstream = opened.stream;
    conn.track(&upstream);
    let _ = upstream.set_nodelay(true);
    let reply: &[u8] = match front {
        Front::Socks => &socks::reply(socks::SUCCEEDED),
        Front::Connect => http::CONNECT_OK,
        Front::Forward => &[],
    };
    if let Err(e) = (&*client).write_all(reply) {
        event.reason = Some(format!("writing to the client: {e}"));
        return;
    }
    let kind = if front == Front::Forward {
        RelayKind::Http
    } else {
        RelayKind::Tunnel
    };
    let outcome = relay(client, &upstream, &early, kind, config.idle_timeout);
    event.bytes_up = outcome.up;
    event.bytes_down = outcome.down;
    event.reason = outcome.error;
}

struct Opened {
    stream: TcpStream,
    addr: SocketAddr,
    rule: String,
}

struct NotOpened {
    failure: Failure,
    rule: Option<String>,
    address: Option<SocketAddr>,
}

/// Checks the name, resolves it, checks every address, and connects to the
/// first allowed address that answers.
fn open(rules: &EgressRules, target: &Target, timeout: Duration) -> Result<Opened, NotOpened> {
    let port = target.port;
    let name_rule = match rules.decide_name(&target.host, port) {
        Verdict::Allowed { rule } => rule,
        Verdict::Denied { reason } => {
            let address = match classify_host(&target.host) {
                Ok(HostKind::Addr(ip)) => Some(SocketAddr::new(ip, port)),
                _ => None,
            };
            return Err(NotOpened {
                failure: Failure::Denied(reason),
                rule: None,
                address,
            });
        }
    };
    let candidates = match classify_host(&target.host) {
        // decide_name already checked a literal address by the address rules.
        Ok(HostKind::Addr(ip)) => vec![(SocketAddr::new(ip, port), name_rule)],
        Ok(HostKind::Name(name)) => {
            let resolve_failed = |why: String| NotOpened {
                failure: Failure::Resolve(why),
                rule: Some(name_rule.clone()),
                address: None,
            };
            let resolved: Vec<SocketAddr> = match (name.as_str(), port).to_socket_addrs() {
                Ok(addrs) => addrs.collect(),
                Err(e) => return Err(resolve_failed(format!("cannot resolve {name}: {e}"))),
            };
            if resolved.is_empty() {
                return Err(resolve_failed(format!("{name} resolves to no address")));
            }
            let mut allowed = Vec::new();
            let mut refused = None;
            for addr in resolved {
                match rules.decide_addr(addr.ip(), port, Some(&name_rule)) {
                    Verdict::Allowed { rule } => allowed.push((addr, rule)),
                    Verdict::Denied { reason } => {
                        refused.get_or_insert((addr, reason));
                    }
                }
            }
            if allowed.is_empty() {
                let (addr, reason) = refused
                    .unwrap_or_else(|| (SocketAddr::new([0, 0, 0, 0].into(), port), String::new()));
                return Err(NotOpened {
                    failure: Failure::Denied(format!("{name} {reason}")),
                    rule: None,
                    address: Some(addr),
                });
            }
            allowed
        }
        Err(why) => {
            return Err(NotOpened {
                failure: Failure::Denied(format!("bad host name: {why}")),
                rule: None,
                address: None,
            })
        }
    };

    let give_up = Instant::now() + timeout;
    let mut last = None;
    for (addr, rule) in candidates {
        let left = give_up.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(Opened { stream, addr, rule }),
            Err(e) => last = Some((addr, rule, e)),
        }
    }
    Err(match last {
        Some((addr, rule, e)) => NotOpened {
            failure: Failure::Connect(format!("connecting to {addr}: {e}"), ConnectError::of(&e)),
            rule: Some(rule),
            address: Some(addr),
        },
        None => NotOpened {
            failure: Failure::Connect("connect timed out".into(), ConnectError::TimedOut),
            rule: None,
            address: None,
        },
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RelayKind {
    /// CONNECT and SOCKS: end of data one way is passed on as a half-close;
    /// the tunnel ends when both ways have ended.
    Tunnel,
    /// Plain HTTP with `Connection: close`: the exchange ends when the
    /// origin's response ends.
    Http,
}

struct RelayOutcome {
    up: u64,
    down: u64,
    /// The first error, if the relay did not end cleanly.
    error: Option<String>,
}

/// When either direction last moved data, and the first error.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Activity {
    fn touch(&self) {
        self.last_ms
            .store(millis(self.start.elapsed()), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    fn record(&self, error: String) {
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(error);
    }

    fn take_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Copies both ways with fixed buffers until the exchange ends, an error
/// occurs, or nothing moves for `idle`.
fn relay(
    client: &TcpStream,
    upstream: &TcpStream,
    initial: &[u8],
    kind: RelayKind,
    idle: Duration,
) -> RelayOutcome {
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let fail = |error: String| {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        RelayOutcome {
            up: 0,
            down: 0,
            error: Some(error),
        }
    };
    for s in [client, upstream] {
        if let Err(e) = s
            .set_read_timeout(Some(idle))
            .and_then(|()| s.set_write_timeout(Some(idle)))
        {
            return fail(format!("setting timeouts: {e}"));
        }
    }
    if let Err(e) = (&*upstream).write_all(initial) {
        return fail(format!("writing to the origin: {e}"));
    }
    let (client2, upstream2) = match (client.try_clone(), upstream.try_clone()) {
        (Ok(c), Ok(u)) => (c, u),
        (Err(e), _) | (_, Err(e)) => return fail(format!("duplicating a socket: {e}")),
    };
    let activity2 = Arc::clone(&activity);
    let down = thread::Builder::new()
        .name("egress-relay".into())
        .spawn(move || {
            let (n, result) = pump(&upstream2, &client2, "origin", "client", idle, &activity2);
            match (result, kind) {
                (Ok(()), RelayKind::Tunnel) => {
                    let _ = client2.shutdown(Shutdown::Write);
                }
                _ => {
                    let _ = client2.shutdown(Shutdown::Both);
                    let _ = upstream2.shutdown(Shutdown::Both);
                }
            }
            n
        });
    let down = match down {
        Ok(handle) => handle,
        Err(e) => return fail(format!("starting a relay thread: {e}")),
    };
    let (up, result) = pump(client, upstream, "client", "origin", idle, &activity);
    match (result, kind) {
        (Ok(()), RelayKind::Tunnel) => {
            let _ = upstream.shutdown(Shutdown::Write);
        }
        // The client has sent all of its request; wait for the response.
        (Ok(()), RelayKind::Http) => {}
        (Err(_), _) => {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
    let down = down.join().unwrap_or(0);
    RelayOutcome {
        up: up + initial.len() as u64,
        down,
        error: activity.take_error(),
    }
}

/// Copies `from` to `to` until end of data (`Ok`) or an error. A read that
/// times out ends the copy only when neither direction has moved data for
/// `idle`.
fn pump(
    from: &TcpStream,
    to: &TcpStream,
    from_name: &str,
    to_name: &str,
    idle: Duration,
    activity: &Activity,
) -> (u64, io::Result<()>) {
    let mut buf = vec![0u8; RELAY_BUFFER];
    let mut total = 0u64;
    let result = loop {
        match (&*from).read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                activity.touch();
                if let Err(e) = (&*to).write_all(&buf[..n]) {
                    let why = if is_timeout(&e) {
                        format!("idle timeout: the {to_name} stopped reading")
                    } else {
                        format!("writing to the {to_name}: {e}")
                    };
                    activity.record(why);
                    break Err(e);
                }
                total += n as u64;
                activity.touch();
            }
            Err(e) if is_timeout(&e) => {
                let quiet = activity.quiet_for();
                if quiet >= idle {
                    activity.record(format!(
                        "idle timeout: no data either way for {}",
                        humantime::format_duration(idle)
                    ));
                    break Err(e);
                }
                let _ = from.set_read_timeout(Some((idle - quiet).max(Duration::from_millis(1))));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                activity.record(format!("reading from the {from_name}: {e}"));
                break Err(e);
            }
        }
    };
    (total, result)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// After an error reply: ends our side, then reads and drops what the
/// client still sends for a short while, so that closing does not reset
/// the connection before the client has read the reply.
fn linger_close(client: &TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match read_some(client, &mut sink, deadline) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// One read that gives up at `deadline` (as `TimedOut`).
pub(crate) fn read_some(
    stream: &TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        stream.set_read_timeout(Some(left))?;
        match (&*stream).read(buf) {
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Fills `buf` by `deadline`; end of data first is `UnexpectedEof`.
pub(crate) fn read_exact_by(
    stream: &TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_some(stream, &mut buf[filled..], deadline)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    Ok(())
}

/// Text from a client made safe for a log line or a reply: control
/// characters escaped, at most 200 characters.
pub(crate) fn printable(text: &str) -> String {
    const MAX: usize = 200;
    let mut out = String::with_capacity(text.len().min(MAX + 3));
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Real sockets on 127.0.0.1 only; the only name resolved is `localhost`.

    use super::*;
    use std::sync::mpsc;

    const WAIT: Duration = Duration::from_secs(10);

    /// A loopback origin. A connection starting with an HTTP method gets a
    /// fixed response (`hello`, or for POST the size of the body it read);
    /// one starting with `SINK` is read to the end and answered with the
    /// byte count; anything else is echoed.
    struct Origin {
        port: u16,
        heads: Arc<Mutex<Vec<String>>>,
    }

    fn origin() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let heads2 = Arc::clone(&heads);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let heads = Arc::clone(&heads2);
                thread::spawn(move || serve_origin(stream, &heads));
            }
        });
        Origin { port, heads }
    }

    fn serve_origin(mut s: TcpStream, heads: &Mutex<Vec<String>>) {
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = vec![0u8; 4];
        if s.read_exact(&mut buf).is_err() {
            return;
        }
        if buf == b"GET " || buf == b"POST" {
            while !buf.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                if s.read_exact(&mut b).is_err() {
                    return;
                }
                buf.push(b[0]);
            }
            let head = String::from_utf8(buf).unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            let post = head.starts_with("POST");
            heads.lock().unwrap().push(head);
            let mut body = vec![0u8; length];
            s.read_exact(&mut body).unwrap();
            let reply = if post {
                format!("got {length} bytes")
            } else {
                "hello".to_string()
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        } else if buf == b"SINK" {
            let mut sink = Vec::new();
            let n = s.read_to_end(&mut sink).unwrap();
            let _ = write!(s, "{n}");
        } else {
            let _ = s.write_all(&buf);
            let mut chunk = [0u8; 4096];
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 || s.write_all(&chunk[..n]).is_err() {
                    break;
                }
            }
        }
    }

    struct Harness {
        proxy: Proxy,
        events: mpsc::Receiver<NetworkEvent>,
    }

    impl Harness {
        fn connect(&self) -> TcpStream {
            let s = TcpStream::connect(self.proxy.local_addr()).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            s
        }

        fn event(&self) -> NetworkEvent {
            self.events.recv_timeout(WAIT).unwrap()
        }

        /// Waits (bounded) until `n` connections are being served.
        fn wait_active(&self, n: usize) {
            let give_up = Instant::now() + WAIT;
            while self.proxy.active_connections() != n {
                assert!(Instant::now() < give_up, "never reached {n} active");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn start(entries: &[String], max: usize, idle: Duration) -> Harness {
        let rules = EgressRules::parse(entries).unwrap();
        let (tx, events) = mpsc::channel();
        let tx = Mutex::new(tx);
        let mut config = ProxyConfig::new(
            rules,
            Arc::new(move |e| {
                let _ = tx.lock().unwrap().send(e);
            }),
        );
        config.max_connections = max;
        config.idle_timeout = idle;
        config.connect_timeout = Duration::from_secs(5);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy::start(listener, config).unwrap();
        Harness { proxy, events }
    }

    fn start_for(port: u16) -> Harness {
        start(&[format!("127.0.0.1:{port}")], 8, Duration::from_secs(10))
    }

    /// Reads up to the end of a response head.
    fn read_head(s: &mut TcpStream) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        String::from_utf8(head).unwrap()
    }

    fn read_all(s: &mut TcpStream) -> String {
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn connect_tunnel_relays_and_counts_bytes() {
        let o = origin();
        let h = start_for(o.port);
        let mut c = h.connect();
        // The first tunnel bytes ride along with the request head.
        write!(
            c,
            "CONNECT 127.0.0.1:{} HTTP/1.1\r\nHost: x\r\n\r\nearly",
            o.port
        )
        .unwrap();
        assert_eq!(
            read_head(&mut c),
            "HTTP/1.1 200 Connection established\r\n\r\n"
        );
        let mut got = [0u8; 5];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"early");
        c.write_all(b"ping!!").unwrap();
        let mut got = [0u8; 6];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping!!");
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_all(&mut c), "");
        let e = h.event();
        assert_eq!(e.protocol, "http-connect");
        assert_eq!(e.destination, format!("127.0.0.1:{}", o.port));
        assert_eq!(e.address, Some(format!("127.0.0.1:{}", o.port)));
        assert!(e.allowed);
        assert_eq!(e.rule, Some(format!("127.0.0.1:{}", o.port)));
        assert_eq!(e.reason, None);
        assert_eq!((e.bytes_up, e.bytes_down), (11, 11));
    }

    #[test]
    fn absolute_form_get_and_post_are_forwarded() {
        let o = origin();
        let h = start_for(o.port);
        let mut c = h.connect();
        write!(
            c,
            "GET http://127.0.0.1:{}/path?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n",
            o.port
        )
        .unwrap();
        let response = read_all(&mut c);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nhello"), "{response}");
        let sent_head = format!(
            "GET /path?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            o.port
        );
        assert_eq!(o.heads.lock().unwrap()[0], sent_head);
        let e = h.event();
        assert_eq!(e.protocol, "http");
        assert!(e.allowed);
        assert_eq!(e.bytes_up, sent_head.len() as u64);
        assert_eq!(e.bytes_down, response.len() as u64);

        // A body larger than any buffer is streamed through.
        let body = vec![b'x'; 3 << 20];
        let mut c = h.connect();
        write!(
            c,
            "POST http://127.0.0.1:{}/up HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            o.port,
            body.len()
        )
        .unwrap();
        c.write_all(&body).unwrap();
        let response = read_all(&mut c);
        assert!(
            response.ends_with(&format!("got {} bytes", body.len())),
            "{response}"
        );
        let e = h.event();
        assert!(e.bytes_up > body.len() as u64, "{e:?}");
    }

    fn socks_connect(c: &mut TcpStream, atyp_and_addr: &[u8], port: u16) -> u8 {
        c.write_all(&[5, 1, 0]).unwrap();
        let mut method = [0u8; 2];
        c.read_exact(&mut method).unwrap();
        assert_eq!(method, [5, 0]);
        let mut req = vec![5, 1, 0];
        req.extend_from_slice(atyp_and_addr);
        req.extend_from_slice(&port.to_be_bytes());
        c.write_all(&req).unwrap();
        let mut reply = [0u8; 10];
        c.read_exact(&mut reply).unwrap();
        assert_eq!(reply[0], 5);
        reply[1]
    }

    #[test]
    fn socks5_by_address_is_allowed_when_listed() {
        let o = origin();
        let h = start_for(o.port);
        let mut c = h.connect();
        assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], o.port), 0);
        c.write_all(b"over socks").unwrap();
        let mut got = [0u8; 10];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"over socks");
        drop(c);
        let e = h.event();
        assert_eq!(e.protocol, "socks5");
        assert!(e.allowed);
        assert_eq!(e.destination, format!("127.0.0.1:{}", o.port));
        assert_eq!((e.bytes_up, e.bytes_down), (10, 10));

        // Another port on the same address is not listed.
        let mut c = h.connect();
        assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], o.port ^ 1), 2);
        let e = h.event();
        assert!(!e.allowed);
        assert!(e.reason.unwrap().contains("loopback"));
    }

    #[test]
    fn socks5_localhost_by_name_is_refused() {
        let o = origin();
        // The name is listed, but it resolves to loopback, which no
        // address rule allows.
        let h = start(&[format!("localhost:{}", o.port)], 8, WAIT);
        let mut c = h.connect();
        let mut req = vec![3, 9];
        req.extend_from_slice(b"localhost");
        assert_eq!(socks_connect(&mut c, &req, o.port), 2);
        let e = h.event();
        assert_eq!(e.protocol, "socks5");
        assert_eq!(e.destination, format!("localhost:{}", o.port));
        assert!(!e.allowed);
        let reason = e.reason.unwrap();
        assert!(reason.starts_with("localhost resolves to "), "{reason}");
        assert!(reason.contains("a loopback address, which no address rule allows"));
        assert!(e.address.is_some());

        // With the address listed too, the same request goes through.
        let h = start(
            &[
                format!("localhost:{}", o.port),
                format!("127.0.0.0/8:{}", o.port),
                format!("[::1]:{}", o.port),
            ],
            8,
            WAIT,
        );
        let mut c = h.connect();
        assert_eq!(socks_connect(&mut c, &req, o.port), 0);
        drop(c);
        let e = h.event();
        assert!(e.allowed, "{e:?}");
    }

    #[test]
    fn denials_get_403_naming_the_reason() {
        let o = origin();
        let h = start_for(o.port);
        let other = o.port ^ 1;
        let mut c = h.connect();
        write!(c, "CONNECT 127.0.0.1:{other} HTTP/1.1\r\n\r\n").unwrap();
        let response = read_all(&mut c);
        assert!(
            response.starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{response}"
        );
        let reason = format!(
            "127.0.0.1 is a loopback address, which no address rule allows on port {other}"
        );
        assert!(response.ends_with(&format!("\r\n\r\nagentjail egress proxy: {reason}\n")));
        let e = h.event();
        assert_eq!(e.protocol, "http-connect");
        assert!(!e.allowed);
        assert_eq!(e.reason, Some(reason));
        assert_eq!(e.address, Some(format!("127.0.0.1:{other}")));
        assert_eq!(e.bytes_up + e.bytes_down, 0);

        // A name that is not listed is refused before any lookup.
        let mut c = h.connect();
        c.write_all(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .unwrap();
        let response = read_all(&mut c);
        assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
        assert!(response.contains("no egress rule allows example.com:80"));
        assert_eq!(h.event().protocol, "http");
    }

    #[test]
    fn garbage_gets_400_and_failures_502() {
        let o = origin();
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let h = start(
            &[
                format!("127.0.0.1:{}", o.port),
                format!("127.0.0.1:{closed}"),
            ],
            8,
            WAIT,
        );
        let mut c = h.connect();
        c.write_all(b"hello there\r\n\r\n").unwrap();
        assert!(read_all(&mut c).starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(!h.event().allowed);

        let mut c = h.connect();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(read_all(&mut c).contains("not a proxy request"));
        h.event();

        let mut c = h.connect();
        c.write_all(&vec![b'a'; 70 * 1024]).unwrap();
        assert!(read_all(&mut c).starts_with("HTTP/1.1 431 "));
        h.event();

        let mut c = h.connect();
        write!(c, "CONNECT 127.0.0.1:{closed} HTTP/1.1\r\n\r\n").unwrap();
        let response = read_all(&mut c);
        assert!(
            response.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
            "{response}"
        );
        let e = h.event();
        assert!(e.allowed);
        assert!(e.reason.unwrap().starts_with("connecting to 127.0.0.1:"));

        let mut c = h.connect();
        assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], closed), 5);
        h.event();
    }

    #[test]
    fn connection_limit_refuses_then_recovers_after_idle_timeout() {
        let o = origin();
        // Long enough for the refusals below to happen while the two idle
        // connections still hold their slots.
        let h = start(
            &[format!("127.0.0.1:{}", o.port)],
            2,
            Duration::from_secs(1),
        );
        let mut idle1 = h.connect();
        let mut idle2 = h.connect();
        h.wait_active(2);

        let mut c = h.connect();
        write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
        let response = read_all(&mut c);
        assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
        assert!(response.contains("connection limit (2) reached"));
        let mut c = h.connect();
        assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], o.port), 1);

        // The idle connections are closed by the proxy, freeing the slots.
        assert_eq!(read_all(&mut idle1), "");
        assert_eq!(read_all(&mut idle2), "");
        h.wait_active(0);

        let mut events: Vec<NetworkEvent> = (0..4).map(|_| h.event()).collect();
        events.sort_by_key(|e| (e.protocol, e.reason.clone()));
        let summary: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| {
                assert!(!e.allowed);
                (
                    e.protocol,
                    e.destination.as_str(),
                    e.reason.as_deref().unwrap(),
                )
            })
            .collect();
        let dest = format!("127.0.0.1:{}", o.port);
        assert_eq!(
            summary,
            [
                (
                    "http-connect",
                    dest.as_str(),
                    "connection limit (2) reached"
                ),
                ("socks5", dest.as_str(), "connection limit (2) reached"),
                ("unknown", "", "timed out waiting for a request"),
                ("unknown", "", "timed out waiting for a request"),
            ]
        );

        let mut c = h.connect();
        write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
        assert_eq!(
            read_head(&mut c),
            "HTTP/1.1 200 Connection established\r\n\r\n"
        );
    }

    #[test]
    fn idle_tunnels_close_but_one_way_traffic_keeps_them_open() {
        let o = origin();
        let h = start(
            &[format!("127.0.0.1:{}", o.port)],
            4,
            Duration::from_millis(500),
        );
        let mut c = h.connect();
        write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
        read_head(&mut c);
        assert_eq!(read_all(&mut c), "");
        let e = h.event();
        assert!(e.reason.unwrap().starts_with("idle timeout"));

        // Upload for well over the idle timeout while nothing comes back.
        let mut c = h.connect();
        write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\nSINK", o.port).unwrap();
        read_head(&mut c);
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(100));
            c.write_all(&[b'.'; 100]).unwrap();
        }
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_all(&mut c), "1000");
        let e = h.event();
        assert_eq!(e.reason, None);
        assert_eq!((e.bytes_up, e.bytes_down), (1004, 4));
    }

    #[test]
    fn stop_closes_connections_and_the_listener() {
        let o = origin();
        let h = start_for(o.port);
        let addr = h.proxy.local_addr();
        let mut c = h.connect();
        write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
        read_head(&mut c);
        let mut waiting = h.connect();
        h.wait_active(2);
        let Harness { proxy, events } = h;
        proxy.stop();
        assert_eq!(read_all(&mut c), "");
        assert_eq!(read_all(&mut waiting), "");
        assert!(TcpStream::connect(addr).is_err());
        assert_eq!(events.recv_timeout(WAIT).into_iter().count(), 1);
        assert_eq!(events.recv_timeout(WAIT).into_iter().count(), 1);
    }

    #[test]
    fn start_rejects_bad_config() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = ProxyConfig::new(EgressRules::default(), Arc::new(|_| {}));
        config.max_connections = 0;
        assert!(Proxy::start(listener, config).is_err());
    }
}
