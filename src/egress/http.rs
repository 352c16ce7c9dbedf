//! The HTTP front end: `CONNECT host:port` tunnels and absolute-form
//! requests (`GET http://host:port/path HTTP/1.1`), which are forwarded in
//! origin form with `Connection: close`, the body relayed as bytes.

use super::proxy::{printable, read_some, ConnectError, Failure, Target};
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Instant;

/// The largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;

/// A parsed proxy request.
#[derive(Debug)]
pub(crate) enum Request {
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
pub(crate) struct BadRequest {
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
    let (head, early) = read_head(stream, first, deadline)?;
    parse_request(&head, early)
}

/// Reads up to the blank line that ends the head; returns the head and the
/// bytes after it.
fn read_head(
    stream: &TcpStream,
    first: u8,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), BadRequest> {
    let mut buf = Vec::with_capacity(1024);
    buf.push(first);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = head_end(&buf) {
            let early = buf.split_off(end);
            return Ok((buf, early));
        }
        if buf.len() > MAX_HEAD {
            return Err(BadRequest::new(
                431,
                format!("request head larger than {} KiB", MAX_HEAD / 1024),
            ));
        }
        match read_some(stream, &mut chunk, deadline) {
            Ok(0) => {
                return Err(BadRequest::new(
                    400,
                    "the client closed the connection before the request head was complete",
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(BadRequest::new(408, "timed out reading the request head"))
            }
            Err(e) => return Err(BadRequest::new(400, format!("reading the request: {e}"))),
        }
    }
}

/// The offset just past the blank line (`\r\n\r\n` or `\n\n`) ending the head.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// The head's lines, without their line endings, up to the blank line.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_request(head: &[u8], early: Vec<u8>) -> Result<Request, BadRequest> {
    let mut lines = lines(head);
    let request_line = lines.next().unwrap_or_default();
    let request_line = std::str::from_utf8(request_line)
        .map_err(|_| BadRequest::new(400, "the request line is not text"))?;
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if is_token(m.as_bytes()) && !t.is_empty() => (m, t, v),
        _ => {
            return Err(BadRequest::new(
                400,
                format!("malformed request line {:?}", printable(request_line)),
            ))
        }
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(BadRequest::new(
            400,
            format!("unsupported protocol version {:?}", printable(version)),
        ));
    }
    let mut headers = Vec::new();
    for line in lines {
        let colon = line.iter().position(|&b| b == b':');
        match colon {
            Some(c) if is_token(&line[..c]) => headers.push((&line[..c], &line[c + 1..])),
            _ => {
                return Err(BadRequest::new(
                    400,
                    format!(
                        "malformed header line {:?}",
                        printable(&String::from_utf8_lossy(line))
                    ),
                ))
            }
        }
    }

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
    let head = rewrite_head(method, &path, version, authority, &headers);
    Ok(Request::Forward {
        target: target_addr,
        head,
        early,
    })
}

/// `host:port` or `[v6]:port`; `default_port` when the port may be left out.
fn parse_authority(authority: &str, default_port: Option<u16>) -> Result<Target, String> {
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
    headers: &[(&[u8], &[u8])],
) -> Vec<u8> {
    let mut named_by_connection: Vec<String> = Vec::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"connection")
            || name.eq_ignore_ascii_case(b"proxy-connection")
        {
            for token in String::from_utf8_lossy(value).split(',') {
                let token = token.trim().to_ascii_lowercase();
                if !token.is_empty() && !KEPT.contains(&token.as_str()) {
                    named_by_connection.push(token);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(512);
    let _ = write!(out, "{method} {path} {version}\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        if DROPPED.contains(&lower.as_str()) || named_by_connection.contains(&lower) {
            continue;
        }
        out.extend_from_slice(name);
        out.push(b':');
        out.extend_from_slice(value);
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
pub(crate) fn error_response(status: u16, reason: &str) -> Vec<u8> {
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<Request, BadRequest> {
        let bytes = head.as_bytes();
        let end = head_end(bytes).unwrap_or(bytes.len());
        parse_request(&bytes[..end], bytes[end..].to_vec())
    }

    #[test]
    fn parses_connect() {
        match parse("CONNECT api.github.com:443 HTTP/1.1\r\nHost: x\r\n\r\nHELLO") {
            Ok(Request::Connect { target, early }) => {
                assert_eq!(target.host, "api.github.com");
                assert_eq!(target.port, 443);
                assert_eq!(early, b"HELLO");
            }
            other => panic!("{other:?}"),
        }
        match parse("CONNECT [::1]:8080 HTTP/1.1\n\n") {
            Ok(Request::Connect { target, .. }) => {
                assert_eq!((target.host.as_str(), target.port), ("[::1]", 8080))
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "CONNECT api.github.com HTTP/1.1\r\n\r\n",
            "CONNECT api.github.com:0 HTTP/1.1\r\n\r\n",
            "CONNECT ::1:80 HTTP/1.1\r\n\r\n",
            "CONNECT :80 HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(BadRequest { status: 400, .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn rewrites_absolute_form() {
        let req = "POST http://Example.com:8080/a/b?c=d#frag HTTP/1.1\r\n\
                   Host: evil.example\r\n\
                   Proxy-Connection: keep-alive\r\n\
                   Connection: keep-alive, X-Hop, Content-Length\r\n\
                   X-Hop: 1\r\n\
                   Proxy-Authorization: Basic abc\r\n\
                   Content-Length: 5\r\n\
                   Accept: */*\r\n\r\nhello";
        match parse(req) {
            Ok(Request::Forward {
                target,
                head,
                early,
            }) => {
                assert_eq!((target.host.as_str(), target.port), ("Example.com", 8080));
                assert_eq!(
                    String::from_utf8(head).unwrap(),
                    "POST /a/b?c=d HTTP/1.1\r\nHost: Example.com:8080\r\n\
                     Content-Length: 5\r\nAccept: */*\r\nConnection: close\r\n\r\n"
                );
                assert_eq!(early, b"hello");
            }
            other => panic!("{other:?}"),
        }
        for (url, host, port, path) in [
            ("http://h", "h", 80, "/"),
            ("http://h:81", "h", 81, "/"),
            ("HTTP://h?q", "h", 80, "/?q"),
            ("http://[::1]:9/x", "[::1]", 9, "/x"),
            ("http://[::1]/", "[::1]", 80, "/"),
        ] {
            match parse(&format!("GET {url} HTTP/1.0\r\n\r\n")) {
                Ok(Request::Forward { target, head, .. }) => {
                    assert_eq!((target.host.as_str(), target.port), (host, port), "{url}");
                    let head = String::from_utf8(head).unwrap();
                    assert!(
                        head.starts_with(&format!("GET {path} HTTP/1.0\r\n")),
                        "{head}"
                    );
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET https://h/ HTTP/1.1\r\n\r\n",
            "GET http://user@h/ HTTP/1.1\r\n\r\n",
            "GET http:///x HTTP/1.1\r\n\r\n",
            "GET http://h:99999/ HTTP/1.1\r\n\r\n",
            "GET http://h/ HTTP/2.0\r\n\r\n",
            "GET  http://h/ HTTP/1.1\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\nNoColon\r\n\r\n",
            "G(T http://h/ HTTP/1.1\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(BadRequest { status: 400, .. })),
                "{bad:?}: {:?}",
                parse(bad)
            );
        }
    }

    #[test]
    fn finds_head_end() {
        assert_eq!(head_end(b"a\r\n\r\nb"), Some(5));
        assert_eq!(head_end(b"a\n\nb"), Some(3));
        assert_eq!(head_end(b"a\r\nb\r\n"), None);
    }

    #[test]
    fn error_response_has_length_and_reason() {
        let r = String::from_utf8(error_response(403, "no egress rule allows x:1")).unwrap();
        assert!(r.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        let body = "agentjail egress proxy: no egress rule allows x:1\n";
        assert!(r.ends_with(&format!("\r\n\r\n{body}")));
        assert!(r.contains(&format!("Content-Length: {}\r\n", body.len())));
    }
}
