//! Small socket helpers with deadlines: one read that gives up at a
//! deadline, filling a buffer by a deadline, the lingering close after an
//! error reply, and client text made safe for a log line.
//!
//! It may not know protocols or rules.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// After an error reply: how long to read (and drop) what the client still
/// sends, so that closing does not reset the connection before the client
/// has read the reply.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;

/// After an error reply: ends our side, then reads and drops what the
/// client still sends for a short while, so that closing does not reset
/// the connection before the client has read the reply.
pub(super) fn linger_close(client: &TcpStream) {
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

/// Whether a read or write gave up because its timeout passed.
pub(super) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A duration in whole milliseconds, saturating.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
