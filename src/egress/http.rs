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
/// bytes after it. A head that is already malformed is refused as soon as a
/// line of it has ended, without waiting for the rest.
fn read_head(
    stream: &TcpStream,
    first: u8,
    deadline: Instant,
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
        match read_some(stream, &mut chunk, deadline) {
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
fn head_len(buf: &[u8]) -> Result<Option<usize>, BadRequest> {
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

fn parse_request(head: &[u8], early: Vec<u8>) -> Result<Request, BadRequest> {
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
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    fn parse(head: &str) -> Result<Request, BadRequest> {
        parse_bytes(head.as_bytes())
    }

    fn parse_bytes(bytes: &[u8]) -> Result<Request, BadRequest> {
        let end = head_len(bytes)?.unwrap_or(bytes.len());
        parse_request(&bytes[..end], bytes[end..].to_vec())
    }

    fn status(r: Result<Request, BadRequest>) -> u16 {
        match r {
            Ok(req) => panic!("accepted: {req:?}"),
            Err(bad) => bad.status,
        }
    }

    /// Sends `parts` to [`read_request`] over loopback, pausing between
    /// them; then closes the sending side unless `keep_open`.
    fn over_socket(
        parts: &[&[u8]],
        keep_open: bool,
        wait: Duration,
    ) -> Result<Request, BadRequest> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        let writer = std::thread::spawn(move || {
            for p in parts {
                // The server may refuse before all of it has arrived.
                if client.write_all(&p).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if keep_open {
                // Until the server closes (or a bound passes).
                let _ = client.set_read_timeout(Some(wait * 2));
                let _ = client.read(&mut [0u8; 1]);
            } else {
                let _ = client.shutdown(std::net::Shutdown::Write);
            }
        });
        let mut first = [0u8; 1];
        (&server).read_exact(&mut first).unwrap();
        let r = read_request(&server, first[0], Instant::now() + wait);
        drop(server);
        writer.join().unwrap();
        r
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
        assert_eq!(
            head_len(b"GET http://h/ HTTP/1.1\r\n\r\nb").unwrap(),
            Some(26)
        );
        assert_eq!(head_len(b"GET http://h/ HTTP/1.1\n\nb").unwrap(), Some(24));
        assert_eq!(
            head_len(b"GET http://h/ HTTP/1.1\r\nA: b\r\n").unwrap(),
            None
        );
    }

    #[test]
    fn oversized_heads_get_431() {
        // Many lines, none malformed, past the size limit.
        let line = format!("X-Pad: {}\r\n", "p".repeat(1000));
        let mut head = b"GET http://h/ HTTP/1.1\r\n".to_vec();
        let big = head
            .iter()
            .copied()
            .chain(line.repeat(70).into_bytes())
            .collect::<Vec<u8>>();
        assert!(big.len() > MAX_HEAD);
        let bad = over_socket(&[&big], false, Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            (bad.status, bad.reason.as_str()),
            (431, "request head larger than 64 KiB")
        );
        // One request line with no end, and a complete head that is too big.
        let endless = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(
            over_socket(&[&endless], false, Duration::from_secs(5))
                .unwrap_err()
                .status,
            431
        );
        head.extend_from_slice(format!("X-Pad: {}\r\n\r\n", "p".repeat(MAX_HEAD)).as_bytes());
        assert_eq!(
            over_socket(&[&head], false, Duration::from_secs(5))
                .unwrap_err()
                .status,
            431
        );
    }

    #[test]
    fn huge_header_counts_get_431() {
        let head = |n: usize| {
            let mut h = "GET http://h/ HTTP/1.1\r\n".to_string();
            for i in 0..n {
                h.push_str(&format!("X-{i}: v\r\n"));
            }
            h + "\r\n"
        };
        assert!(parse(&head(MAX_HEADERS)).is_ok());
        let bad = parse(&head(MAX_HEADERS + 1)).unwrap_err();
        assert_eq!(
            (bad.status, bad.reason.as_str()),
            (431, "more than 100 header fields")
        );
        // Refused as soon as the fields arrive, whatever follows.
        let r = over_socket(&[head(5000).as_bytes()], true, Duration::from_secs(5));
        assert_eq!(r.unwrap_err().status, 431);
    }

    #[test]
    fn half_sent_heads_are_refused() {
        let half: &[u8] = b"GET http://h/ HTTP/1.1\r\nHost: h\r\n";
        let bad = over_socket(&[half], false, Duration::from_secs(5)).unwrap_err();
        assert_eq!(bad.status, 400);
        assert!(
            bad.reason.contains("before the request head was complete"),
            "{}",
            bad.reason
        );
        let bad = over_socket(&[half], true, Duration::from_millis(300)).unwrap_err();
        assert_eq!(bad.status, 408);
        // Sent in pieces, a good head is read whole, with the body after it.
        let parts: [&[u8]; 4] = [
            b"CONNECT h:4",
            b"43 HTTP/1.1\r",
            b"\nHost: h\r\n\r",
            b"\nBODY",
        ];
        match over_socket(&parts, false, Duration::from_secs(5)) {
            Ok(Request::Connect { target, early }) => {
                assert_eq!((target.host.as_str(), target.port), ("h", 443));
                assert!(b"BODY".starts_with(&early), "{early:?}");
            }
            other => panic!("{other:?}"),
        }
        // A malformed line is refused at once, without waiting for the rest.
        let started = Instant::now();
        let r = over_socket(
            &[b"GET http://h/ HTTP/1.1\r\nBad Header: x\r\n"],
            true,
            Duration::from_secs(5),
        );
        assert_eq!(r.unwrap_err().status, 400);
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(status(parse("GET http://h/ HTTP/1.1\r\nHost")), 400);
    }

    #[test]
    fn bare_line_feeds_end_lines_and_bare_returns_are_refused() {
        match parse("GET http://h/x HTTP/1.1\nAccept: */*\nX-A:b\n\nrest") {
            Ok(Request::Forward { head, early, .. }) => {
                assert_eq!(
                    String::from_utf8(head).unwrap(),
                    "GET /x HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-A: b\r\nConnection: close\r\n\r\n"
                );
                assert_eq!(early, b"rest");
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "GET http://h/ HTTP/1.1\rHost: h\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\nX: a\r\r\n\r\n",
            "\nGET http://h/ HTTP/1.1\n\n",
            "\r\nGET http://h/ HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(status(parse(bad)), 400, "{bad:?}");
        }
    }

    #[test]
    fn headers_without_a_colon_or_a_name_are_refused() {
        for bad in [
            "GET http://h/ HTTP/1.1\r\nX-Flag\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\n: v\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\nX-A : v\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\nX-A: v\r\n folded\r\n\r\n",
            "GET http://h/ HTTP/1.1\r\n X-A: v\r\n\r\n",
        ] {
            assert_eq!(status(parse(bad)), 400, "{bad:?}");
        }
    }

    #[test]
    fn nul_and_control_bytes_are_refused() {
        for bad in [
            &b"GE\0T http://h/ HTTP/1.1\r\n\r\n"[..],
            b"GET http://h/\0 HTTP/1.1\r\n\r\n",
            b"GET http://h\0/ HTTP/1.1\r\n\r\n",
            b"GET http://h/ HTTP/1.1\0\r\n\r\n",
            b"GET http://h/ HTTP/1.1\r\nX-\0: v\r\n\r\n",
            b"GET http://h/ HTTP/1.1\r\nX: a\0b\r\n\r\n",
            b"GET http://h/ HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"GET http://h/\x7f HTTP/1.1\r\n\r\n",
            b"CONNECT h:443\0 HTTP/1.1\r\n\r\n",
            b"GET http://h/\xff HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(status(parse_bytes(bad)), 400, "{bad:?}");
        }
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
