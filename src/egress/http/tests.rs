//! Unit tests of the request-head parser: good heads, the rewritten head,
//! and hostile heads (oversized, malformed, half-sent, bare LF and CR,
//! fields without a colon, NUL bytes, huge field counts), some over a real
//! loopback socket.

#![allow(clippy::unwrap_used)]

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
fn over_socket(parts: &[&[u8]], keep_open: bool, wait: Duration) -> Result<Request, BadRequest> {
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
