//! The connection pump: copies client to origin and origin to client, one
//! thread each way with a fixed buffer, until the exchange ends, an error
//! occurs, or nothing moves either way for the idle timeout. Counts the
//! bytes and keeps the first error for the event.
//!
//! It may not parse or rewrite what it copies.

use super::timed::{is_timeout, millis};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Each relay direction copies through one buffer of this size.
const RELAY_BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RelayKind {
    /// CONNECT and SOCKS: end of data one way is passed on as a half-close;
    /// the tunnel ends when both ways have ended.
    Tunnel,
    /// Plain HTTP with `Connection: close`: the exchange ends when the
    /// origin's response ends.
    Http,
}

pub(super) struct RelayOutcome {
    pub(super) up: u64,
    pub(super) down: u64,
    /// The first error, if the relay did not end cleanly.
    pub(super) error: Option<String>,
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
pub(super) fn relay(
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
