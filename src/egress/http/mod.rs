//! The HTTP front end: `CONNECT host:port` tunnels and absolute-form
//! requests (`GET http://host:port/path HTTP/1.1`), which are forwarded in
//! origin form with `Connection: close`, the body relayed as bytes.
//!
//! The head is parsed by httparse (hyper's parser); this module owns the
//! limits (size, field count), the proxy's reading of the request target,
//! the rewritten head and the error replies. It may not open connections or
//! decide a destination: the proxy does.

use super::proxy::{printable, read_some, ConnectError, Failure, Target};
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Instant;

/// The largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;

/// The most header fields accepted in a request head (hyper's default).
pub const MAX_HEADERS: usize = 100;

/// A parsed proxy request.
#[derive(Debug)]
pub enum Request {
    /// `CONNECT`: reply 200, then tunnel. `early` holds bytes the client
    /// sent after the head (e.g. a TLS ClientHello), for the origin.
    Connect { target: Target, early: Vec<u8> },
    /// An absolute-form request: `head` is the rewritten head, `early` the
    /// body bytes that arrived with it.
    Forward {
        target: Target,
        head: Vec<u8>,
        early: Vec<u8>,
    },
}

/// Why a request could not be parsed: the status to answer with, the reason,
/// and the destination if it was read before the problem.
#[derive(Debug)]
pub struct BadRequest {
    pub status: u16,
    pub reason: String,
    pub destination: Option<String>,
    pub protocol: &'static str,
}

impl BadRequest {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        BadRequest {
            status,
            reason: reason.into(),
            destination: None,
            protocol: "http",
        }
    }
}

/// Reads the request head (the first byte is already read) and parses it.
pub(crate) fn read_request(
    stream: &TcpStream,
    first: u8,
    deadline: Instant,
) -> Result<Request, BadRequest> {
    let (head, early) = read_head(first, |chunk| read_some(stream, chunk, deadline))?;
    parse_request(&head, early)
}

/// Reads up to the blank line that ends the head, one `read` (a read with
/// the deadline, on the proxy's socket) at a time; returns the head and the
/// bytes after it. A head that is already malformed is refused as soon as a
/// line of it has ended, without waiting for the rest.
pub fn read_head(
    first: u8,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> Result<(Vec<u8>, Vec<u8>), BadRequest> {
    let mut buf = Vec::with_capacity(1024);
    buf.push(first);
    let mut chunk = [0u8; 4096];
    // Parsed again only when a line has ended since the last look: the lines
    // are bounded (one request line, MAX_HEADERS fields, the blank line), so
    // a client sending a byte at a time costs at most that many parses.
    let mut line_ended = true;
    loop {
        if line_ended {
            if let Some(len) = head_len(&buf)? {
                if len > MAX_HEAD {
                    return Err(too_large());
                }
                let early = buf.split_off(len);
                return Ok((buf, early));
            }
        }
        if buf.len() > MAX_HEAD {
            return Err(too_large());
        }
        match read(&mut chunk) {
            Ok(0) => {
                return Err(BadRequest::new(
                    400,
                    "the client closed the connection before the request head was complete",
                ))
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                line_ended = chunk[..n].contains(&b'\n');
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(BadRequest::new(408, "timed out reading the request head"))
            }
            Err(e) => return Err(BadRequest::new(400, format!("reading the request: {e}"))),
        }
    }
}

fn too_large() -> BadRequest {
    BadRequest::new(
        431,
        format!("request head larger than {} KiB", MAX_HEAD / 1024),
    )
}

/// The length of the head if `buf` holds all of it, `None` if it may still
/// be completed; an error if what is there is malformed already.
pub fn head_len(buf: &[u8]) -> Result<Option<usize>, BadRequest> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    Ok(parse_head(buf, &mut fields)?.map(|(_, len)| len))
}

/// Parses a request head with httparse: `None` while it is incomplete.
/// Lines may end in CRLF or a bare LF; anything else httparse refuses
/// (bare CR, NUL and other control bytes, spaces in names, folded lines).
fn parse_head<'h, 'b>(
    buf: &'b [u8],
    fields: &'h mut [httparse::Header<'b>],
) -> Result<Option<(httparse::Request<'h, 'b>, usize)>, BadRequest> {
    // httparse skips empty lines before the request line without bound; a
    // proxy client has no reason to send any.
    if matches!(buf.first(), Some(b'\r' | b'\n')) {
        return Err(malformed(buf, "empty line before the request line"));
    }
    let mut request = httparse::Request::new(fields);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Ok(Some((request, len))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(BadRequest::new(
            431,
            format!("more than {MAX_HEADERS} header fields"),
        )),
        // Only the request line has a token (method, target) and a version.
        Err(e @ (httparse::Error::Token | httparse::Error::Version)) => {
            Err(malformed(buf, &e.to_string()))
        }
        Err(e) => Err(BadRequest::new(400, format!("malformed request head: {e}"))),
    }
}

/// A refusal naming the request line (as far as it arrived).
fn malformed(head: &[u8], why: &str) -> BadRequest {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    BadRequest::new(
        400,
        format!(
            "malformed request line {:?}: {why}",
            printable(&String::from_utf8_lossy(line))
        ),
    )
}

/// Parses a complete head (as [`read_head`] returns it): the request, or
/// why it is refused.
pub fn parse_request(head: &[u8], early: Vec<u8>) -> Result<Request, BadRequest> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let Some((request, _)) = parse_head(head, &mut fields)? else {
        return Err(malformed(head, "incomplete request head"));
    };
    // A complete parse sets all three.
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(malformed(head, "incomplete request line"));
    };
    let version = if version == 0 { "HTTP/1.0" } else { "HTTP/1.1" };
    let headers: &[httparse::Header] = request.headers;

    if method.eq_ignore_ascii_case("CONNECT") {
        let target = parse_authority(target, None).map_err(|why| {
            BadRequest::new(
                400,
                format!("bad CONNECT target {:?}: {why}", printable(target)),
            )
        })?;
        return Ok(Request::Connect { target, early });
    }

    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(BadRequest::new(
            400,
            format!(
                "not a proxy request ({:?}): send an absolute URL (http://host/path) or use CONNECT",
                printable(target)
            ),
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(BadRequest::new(
            400,
            format!(
                "the proxy forwards only http:// URLs (use CONNECT for {})",
                printable(scheme)
            ),
        ));
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let bad_url =
        |why: &str| BadRequest::new(400, format!("bad URL {:?}: {why}", printable(target)));
    if authority.contains('@') {
        return Err(bad_url("user information in URLs is not supported"));
    }
    let target_addr = parse_authority(authority, Some(80)).map_err(|why| bad_url(&why))?;
    let path = match path.as_bytes().first() {
        None => "/".to_string(),
        Some(b'?') => format!("/{path}"),
        Some(_) => path.to_string(),
    };
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad_url("control characters in the path"));
    }
    let head = rewrite_head(method, &path, version, authority, headers);
    Ok(Request::Forward {
        target: target_addr,
        head,
        early,
    })
}

/// `host:port` or `[v6]:port`; `default_port` when the port may be left out.
pub fn parse_authority(authority: &str, default_port: Option<u16>) -> Result<Target, String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("unclosed '['")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after ']'")?),
        };
        (format!("[{inside}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("IPv6 addresses need brackets".to_string())
            }
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("no host".to_string());
    }
    let port = match port {
        None | Some("") => default_port.ok_or("missing port")?,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("bad port {:?}", printable(p))),
        },
    };
    Ok(Target { host, port })
}

/// Headers the proxy consumes or replaces (hop-by-hop).
const DROPPED: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "host",
    "te",
    "upgrade",
];

/// Headers kept even when `Connection` names them: they frame the body.
const KEPT: &[&str] = &["content-length", "transfer-encoding"];

fn rewrite_head(
    method: &str,
    path: &str,
    version: &str,
    authority: &str,
    headers: &[httparse::Header],
) -> Vec<u8> {
    let mut named_by_connection: Vec<String> = Vec::new();
    for h in headers {
        if h.name.eq_ignore_ascii_case("connection")
            || h.name.eq_ignore_ascii_case("proxy-connection")
        {
            for token in String::from_utf8_lossy(h.value).split(',') {
                let token = token.trim().to_ascii_lowercase();
                if !token.is_empty() && !KEPT.contains(&token.as_str()) {
                    named_by_connection.push(token);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(512);
    let _ = write!(out, "{method} {path} {version}\r\nHost: {authority}\r\n");
    for h in headers {
        let lower = h.name.to_ascii_lowercase();
        if DROPPED.contains(&lower.as_str()) || named_by_connection.contains(&lower) {
            continue;
        }
        // httparse gives the value without the whitespace around it.
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// The reason phrase for the statuses this proxy sends.
fn status_text(status: u16) -> &'static str {
    match status {
        200 => "Connection established",
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// An error response with a short text body naming the reason.
pub fn error_response(status: u16, reason: &str) -> Vec<u8> {
    let body = format!("agentjail egress proxy: {}\n", printable(reason));
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nX-Agentjail-Egress: {}\r\n\r\n{body}",
        status_text(status),
        body.len(),
        if status == 403 { "denied" } else { "error" },
    )
    .into_bytes()
}

/// The status for a failure after a request was parsed.
pub(crate) fn failure_status(failure: &Failure) -> u16 {
    match failure {
        Failure::Denied(_) => 403,
        Failure::Limit(_) => 503,
        Failure::Resolve(_) => 502,
        Failure::Connect(_, ConnectError::TimedOut) => 504,
        Failure::Connect(..) => 502,
    }
}

pub(crate) const CONNECT_OK: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

#[cfg(test)]
mod tests;
