//! One connection, from its first byte to its [`NetworkEvent`]: the first
//! byte says SOCKS5 or HTTP; the request head is read (`egress::socks`,
//! `egress::http`); a CONNECT or SOCKS request becomes a tunnel, an
//! absolute-form HTTP request is forwarded with its head; failures get the
//! protocol's error reply. Over the connection cap, the request is read
//! only to be refused.
//!
//! It may not decide a destination itself (`open.rs` asks the rules) or
//! copy data (`relay.rs`).

use super::super::http::{self, Request};
use super::super::socks;
use super::accept::{limit_reason, Conn};
use super::open::{open, Failure, NotOpened};
use super::relay::{relay, RelayKind};
use super::timed::{linger_close, millis, read_some};
use super::NetworkEvent;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a refused connection may take to send its request.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Serve,
    /// Over the connection cap: read the request, answer 503 / 0x01.
    Refuse,
}

pub(super) fn blank_event(protocol: &'static str, connection: u64) -> NetworkEvent {
    NetworkEvent {
        connection,
        stage: "end",
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

pub(super) fn handle(conn: &Conn, client: TcpStream, mode: Mode) {
    let config = &conn.shared.config;
    conn.track(&client);
    let _ = client.set_nodelay(true);
    let _ = client.set_write_timeout(Some(config.idle_timeout));
    let patience = match mode {
        Mode::Serve => config.idle_timeout,
        Mode::Refuse => REFUSAL_TIME.min(config.idle_timeout),
    };
    let mut event = blank_event("unknown", conn.id);
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
        Mode::Serve => {
            // Announced (audited) before any connection out; a refusal
            // here means no packet leaves.
            let announce = |addr: std::net::SocketAddr, rule: &str| {
                let mut opening = event.clone();
                opening.stage = "open";
                opening.allowed = true;
                opening.rule = Some(rule.to_string());
                opening.address = Some(addr.to_string());
                opening.duration_ms = millis(conn.started.elapsed());
                (config.on_open)(&opening)
            };
            open(&config.rules, &target, config.connect_timeout, &announce)
        }
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
