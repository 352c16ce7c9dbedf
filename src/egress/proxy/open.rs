//! Opening the connection out: the destination as the client named it
//! ([`Target`]), checked by name, resolved (`getaddrinfo`, only after the
//! name passed), every address checked, and a connection made to an address
//! that was checked, never to the result of a second lookup. Also why a
//! request is not served ([`Failure`]), for the protocols' replies.
//!
//! It may not speak to the client: the replies are `serve.rs`'s.

use super::super::rules::{classify_host, EgressRules, HostKind, Verdict};
use super::timed::printable;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A destination as the client named it: a host name, an IPv4 address or
/// a bracketed IPv6 address, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
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
    pub(super) fn of(e: &io::Error) -> Self {
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
    /// Over a limit: the connection cap, or the audit log could not record
    /// the connection (503 / SOCKS general failure).
    Limit(String),
    /// Allowed, but the name did not resolve.
    Resolve(String),
    /// Allowed, but no allowed address could be connected to.
    Connect(String, ConnectError),
}

impl Failure {
    pub(super) fn reason(&self) -> &str {
        match self {
            Failure::Denied(r)
            | Failure::Limit(r)
            | Failure::Resolve(r)
            | Failure::Connect(r, _) => r,
        }
    }

    pub(super) fn was_allowed(&self) -> bool {
        matches!(self, Failure::Resolve(_) | Failure::Connect(..))
    }
}

pub(super) struct Opened {
    pub(super) stream: TcpStream,
    pub(super) addr: SocketAddr,
    pub(super) rule: String,
}

pub(super) struct NotOpened {
    pub(super) failure: Failure,
    pub(super) rule: Option<String>,
    pub(super) address: Option<SocketAddr>,
}

/// Checks the name, resolves it, checks every address, announces the
/// connection (`before`, which may refuse it) and connects to the first
/// allowed address that answers.
pub(super) fn open(
    rules: &EgressRules,
    target: &Target,
    timeout: Duration,
    before: &dyn Fn(SocketAddr, &str) -> Result<(), String>,
) -> Result<Opened, NotOpened> {
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

    if let Some((addr, rule)) = candidates.first() {
        if let Err(why) = before(*addr, rule) {
            return Err(NotOpened {
                failure: Failure::Limit(why),
                rule: Some(rule.clone()),
                address: Some(*addr),
            });
        }
    }
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
