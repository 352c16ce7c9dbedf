//! The wrapped server's stderr, passed on to agentjail's bounded and made
//! printable: the server is not trusted, and its stderr ends up on the
//! terminal or in the log of the agent's client. Each line is cut at
//! [`MAX_LINE`] bytes and escaped (`crate::text::printable`: no escape
//! sequences, no forged lines); after [`MAX_TOTAL`] bytes one line says the
//! rest is dropped, and the rest is read and dropped (the server never
//! blocks on a full pipe).

use std::io::{BufRead, BufReader, Read, Write};

/// The longest line passed on; the rest of it is cut.
pub const MAX_LINE: usize = 4096;
/// The most bytes of a session's server stderr passed on.
pub const MAX_TOTAL: usize = 1 << 20;

/// Copies `from` to `to` until `from` ends.
pub fn forward(from: impl Read, to: &mut dyn Write) {
    let mut r = BufReader::new(from);
    let mut passed = 0usize;
    let mut line: Vec<u8> = Vec::new();
    let mut cut = 0usize;
    loop {
        let buf = match r.fill_buf() {
            Ok([]) => break,
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut += chunk.len().saturating_sub(room);
        let used = chunk.len() + usize::from(done);
        r.consume(used);
        if done {
            emit(to, &mut line, &mut cut, &mut passed);
        }
    }
    if !line.is_empty() || cut > 0 {
        emit(to, &mut line, &mut cut, &mut passed);
    }
}

fn emit(to: &mut dyn Write, line: &mut Vec<u8>, cut: &mut usize, passed: &mut usize) {
    if *passed >= MAX_TOTAL {
        line.clear();
        *cut = 0;
        return;
    }
    let mut text = crate::text::printable(&String::from_utf8_lossy(line));
    if *cut > 0 {
        text.push_str(&format!(" [{} more bytes cut]", *cut));
    }
    *passed += line.len() + *cut + 1;
    if *passed >= MAX_TOTAL {
        text.push_str(&format!(
            "\nagentjail: mcp wrap: the server's stderr passed {MAX_TOTAL} bytes: the rest is dropped"
        ));
    }
    text.push('\n');
    let _ = to.write_all(text.as_bytes());
    let _ = to.flush();
    line.clear();
    *cut = 0;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> String {
        let mut out = Vec::new();
        forward(input, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_cuts_and_bounds() {
        assert_eq!(
            run(b"plain\n\x1b[31mred\r\n\xff\n"),
            "plain\n\\u{1b}[31mred\\r\n\u{fffd}\n"
        );
        assert_eq!(run(b"no newline"), "no newline\n");
        let long = vec![b'a'; MAX_LINE + 10];
        let out = run(&long);
        assert_eq!(
            out,
            format!("{} [10 more bytes cut]\n", "a".repeat(MAX_LINE))
        );
        let flood = b"0123456789\n".repeat(MAX_TOTAL / 5);
        let out = run(&flood);
        assert!(out.len() <= MAX_TOTAL + 200, "{}", out.len());
        assert_eq!(out.matches("the rest is dropped").count(), 1);
        assert!(out.ends_with("the rest is dropped\n"));
    }
}
