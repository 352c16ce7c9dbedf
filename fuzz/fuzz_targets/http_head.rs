//! The egress proxy's HTTP request reader: the head read chunk by chunk
//! (`read_head`), parsed (`parse_request`: CONNECT authority, absolute-form
//! URL, the rewritten head) and answered (`error_response`). These run
//! outside the sandbox on bytes the sandboxed tool sends.
//!
//! Input: one byte choosing the chunk size the "socket" returns (its low
//! seven bits; 0: 4096, as the proxy reads), then the bytes the client
//! sends. With the byte's high bit set, a header field of about `MAX_HEAD`
//! bytes (the next byte moves its length across the limit) is put after the
//! first line, so that heads near the size limit are tried too.
#![no_main]

use agentjail::egress::http::{
    error_response, parse_authority, parse_request, read_head, Request, MAX_HEAD, MAX_HEADERS,
};
use libfuzzer_sys::fuzz_target;
use std::io;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let padded;
    let stream = if mode & 0x80 != 0 {
        padded = pad(input);
        &padded[..]
    } else {
        input
    };
    let Some((&first, rest)) = stream.split_first() else {
        return;
    };
    let size = match mode & 0x7f {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let mut at = 0;
    let read = |chunk: &mut [u8]| -> io::Result<usize> {
        let n = (rest.len() - at).min(chunk.len()).min(size);
        chunk[..n].copy_from_slice(&rest[at..at + n]);
        at += n;
        Ok(n)
    };
    let (head, early) = match read_head(first, read) {
        Ok(parts) => parts,
        Err(bad) => {
            check_reply(bad.status, &bad.reason);
            return;
        }
    };
    assert!(head.len() <= MAX_HEAD, "a head over MAX_HEAD was accepted");
    let mut sent = head.clone();
    sent.extend_from_slice(&early);
    assert!(
        stream.starts_with(&sent),
        "head and early bytes are not what was sent"
    );

    match parse_request(&head, early) {
        Ok(Request::Connect { target, .. }) => {
            assert!(target.port != 0);
            assert!(!target.host.is_empty());
        }
        Ok(Request::Forward { target, head, .. }) => {
            assert!(target.port != 0);
            // The head sent upstream is one complete head, nothing after it:
            // no header or request the client could smuggle in. (It may hold
            // two fields more than a client may send: Host and Connection.)
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS + 2];
            match httparse::Request::new(&mut fields).parse(&head) {
                Ok(httparse::Status::Complete(len)) => {
                    assert_eq!(len, head.len(), "the rewritten head has bytes after it")
                }
                other => panic!("the rewritten head does not parse: {other:?}"),
            }
        }
        Err(bad) => check_reply(bad.status, &bad.reason),
    }

    // The authority parser on its own, as CONNECT and URLs use it.
    if let Ok(text) = std::str::from_utf8(rest) {
        for default in [None, Some(80)] {
            if let Ok(t) = parse_authority(text, default) {
                assert!(t.port != 0 && !t.host.is_empty());
            }
        }
    }
});

/// An error reply is one well-formed response whose body is as long as it says.
fn check_reply(status: u16, reason: &str) {
    let reply = error_response(status, reason);
    let mut fields = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut fields);
    let Ok(httparse::Status::Complete(len)) = response.parse(&reply) else {
        panic!(
            "the error reply does not parse: {:?}",
            String::from_utf8_lossy(&reply)
        );
    };
    assert_eq!(response.code, Some(status));
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok());
    assert_eq!(
        length,
        Some(reply.len() - len),
        "Content-Length is not the body's length"
    );
}

/// The input with a header field of about MAX_HEAD bytes after its first line.
fn pad(input: &[u8]) -> Vec<u8> {
    let Some((&shift, input)) = input.split_first() else {
        return Vec::new();
    };
    let line_end = input
        .iter()
        .position(|&b| b == b'\n')
        .map_or(input.len(), |i| i + 1);
    let fill = MAX_HEAD - 384 + 3 * usize::from(shift);
    let mut out = Vec::with_capacity(input.len() + fill + 16);
    out.extend_from_slice(&input[..line_end]);
    out.extend_from_slice(b"X-Fill: ");
    out.resize(out.len() + fill, b'a');
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&input[line_end..]);
    out
}
