//! The line checker that `audit verify` and every writer run: a hand-written,
//! validating JSON scanner (RFC 8259) that finds a line's top-level `seq`,
//! `prev` and `hash` members without building a value, and checks the line's
//! own hash ([`check_line`], [`check_line_at`]). It reads bytes only; the
//! layout it checks is the one [`super::chain::seal`] writes.

use super::chain::{hex, parse_hash, HASH_SUFFIX_LEN};
use sha2::{Digest, Sha256};

/// What a line holds when it is a well-formed chained record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    pub seq: u64,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
    /// The recorded hash is the SHA-256 of the line's canonical bytes.
    pub hash_ok: bool,
}

/// Why a line is not a chained record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFault {
    /// Not JSON at all.
    NotJson(String),
    /// JSON, but not a record agentjail writes (a field missing, the wrong
    /// layout).
    NotRecord(String),
}

/// The top-level chain members of a line, as byte ranges.
#[derive(Default)]
struct Members {
    seq: Option<(usize, usize, bool)>,
    prev: Option<(usize, usize, bool)>,
    hash: Option<(usize, usize, bool)>,
}

/// The bytes that end a run of plain string content: `"`, `\` and the
/// control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any of eight bytes is `"`, `\` or a control character (SWAR:
/// a byte below 0x20, or equal to 0x22 or 0x5c, sets its high bit).
fn stops_run(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_0x20 = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_0x20 | zero(w ^ (ONES * 0x22)) | zero(w ^ (ONES * 0x5c))) != 0
}

/// A validating JSON scanner for one line (RFC 8259 grammar, nesting up to
/// 128 levels) that picks out the top-level `seq`, `prev` and `hash`
/// members without building anything: `audit verify` runs it over every
/// line, so it has to be fast.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

/// (start, end, is a string without escapes) of a value.
type Span = (usize, usize, bool);

impl Scan<'_> {
    fn fail(&self, what: &str) -> LineFault {
        LineFault::NotJson(format!("{what} at column {}", self.i + 1))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Whitespace within a line (a newline ends the line).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), LineFault> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.fail(what))
        }
    }

    /// A string, at its opening quote: the span of its content.
    fn string(&mut self) -> Result<Span, LineFault> {
        self.i += 1;
        let start = self.i;
        let mut plain = true;
        loop {
            // Eight bytes at a time while none of them ends the run.
            while let Some(chunk) = self.b.get(self.i..self.i + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                if stops_run(u64::from_le_bytes(w)) {
                    break;
                }
                self.i += 8;
            }
            while let Some(&c) = self.b.get(self.i) {
                if STRING_STOP[usize::from(c)] {
                    break;
                }
                self.i += 1;
            }
            match self.peek() {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => {
                    let end = self.i;
                    self.i += 1;
                    return Ok((start, end, plain));
                }
                Some(b'\\') => {
                    plain = false;
                    match self.b.get(self.i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                        Some(b'u') => {
                            let ok = self
                                .b
                                .get(self.i + 2..self.i + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                            if !ok {
                                return Err(self.fail("invalid \\u escape"));
                            }
                            self.i += 6;
                        }
                        _ => return Err(self.fail("invalid escape")),
                    }
                }
                Some(_) => return Err(self.fail("control character in a string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> Result<Span, LineFault> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.fail("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        Ok((start, self.i, false))
    }

    fn literal(&mut self, word: &[u8]) -> Result<Span, LineFault> {
        let start = self.i;
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok((start, self.i, false))
        } else {
            Err(self.fail("expected a value"))
        }
    }

    /// Any value; `members` collects the chain members of the top object.
    fn value(&mut self, depth: u32, members: Option<&mut Members>) -> Result<Span, LineFault> {
        if depth > 128 {
            return Err(self.fail("nested deeper than 128 levels"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth, members),
            Some(b'[') => {
                let start = self.i;
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok((start, self.i, false));
                }
                loop {
                    self.ws();
                    self.value(depth + 1, None)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok((start, self.i, false));
                        }
                        _ => return Err(self.fail("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.fail("unexpected end")),
            Some(_) => Err(self.fail("expected a value")),
        }
    }

    fn object(&mut self, depth: u32, mut members: Option<&mut Members>) -> Result<Span, LineFault> {
        let start = self.i;
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok((start, self.i, false));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.fail("expected a key"));
            }
            let (ks, ke, _) = self.string()?;
            self.ws();
            self.expect(b':', "expected `:`")?;
            self.ws();
            let span = self.value(depth + 1, None)?;
            if let Some(m) = members.as_deref_mut() {
                let slot = match &self.b[ks..ke] {
                    b"seq" => Some(&mut m.seq),
                    b"prev" => Some(&mut m.prev),
                    b"hash" => Some(&mut m.hash),
                    _ => None,
                };
                if let Some(slot) = slot {
                    if slot.is_some() {
                        let key = String::from_utf8_lossy(&self.b[ks..ke]).into_owned();
                        return Err(LineFault::NotRecord(format!("duplicate `{key}`")));
                    }
                    *slot = Some(span);
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok((start, self.i, false));
                }
                _ => return Err(self.fail("expected `,` or `}`")),
            }
        }
    }
}

fn scan_members(s: &mut Scan) -> Result<Option<Members>, LineFault> {
    s.ws();
    let members = if s.peek() == Some(b'{') {
        let mut m = Members::default();
        s.value(0, Some(&mut m))?;
        Some(m)
    } else {
        s.value(0, None)?;
        None
    };
    s.ws();
    match s.peek() {
        None | Some(b'\n') => Ok(members),
        Some(_) => Err(s.fail("trailing characters")),
    }
}

/// Scans the line at the start of `buf` (up to its first newline, or the
/// end): whether it is one JSON value (RFC 8259), the chain members of its
/// top-level object (`None` when it is not an object), and its length.
fn scan_line_in(buf: &[u8]) -> (Result<Option<Members>, LineFault>, usize) {
    let mut s = Scan { b: buf, i: 0 };
    let scanned = scan_members(&mut s);
    // The scanner never passes a newline, so the line ends at the first one
    // from where it stopped.
    let end = match scanned {
        Ok(_) => s.i,
        Err(_) => {
            s.i + buf[s.i.min(buf.len())..]
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(buf.len() - s.i.min(buf.len()))
        }
    };
    let scanned = scanned.and_then(|m| match std::str::from_utf8(&buf[..end]) {
        Ok(_) => Ok(m),
        Err(_) => Err(LineFault::NotJson("invalid UTF-8".into())),
    });
    (scanned, end)
}

#[cfg(test)]
fn scan_line(line: &[u8]) -> Result<Option<Members>, LineFault> {
    let (r, end) = scan_line_in(line);
    if end != line.len() {
        return Err(LineFault::NotJson("a newline inside the line".into()));
    }
    r
}

/// Parses one line (without its newline) and checks its own hash.
pub fn check_line(line: &[u8]) -> Result<LineInfo, LineFault> {
    let (r, end) = check_line_at(line);
    if end != line.len() {
        return Err(LineFault::NotJson("a newline inside the line".into()));
    }
    r
}

/// Checks the line at the start of `buf`, which ends at the first newline
/// (or the end of `buf`); returns the result and the line's length.
///
/// The hash is computed over the bytes as written, with the final
/// `,"hash":"…"` member removed: for every line agentjail writes, that is the
/// canonical serialisation of the record without `hash`.
pub fn check_line_at(buf: &[u8]) -> (Result<LineInfo, LineFault>, usize) {
    let (scanned, end) = scan_line_in(buf);
    let line = &buf[..end];
    (scanned.and_then(|m| check_members(line, m)), end)
}

fn check_members(line: &[u8], m: Option<Members>) -> Result<LineInfo, LineFault> {
    let bad = |why: &str| LineFault::NotRecord(why.to_string());
    let m = m.ok_or_else(|| bad("not a JSON object"))?;
    let (Some(seq), Some(prev), Some(hash)) = (m.seq, m.prev, m.hash) else {
        let missing: Vec<&str> = [("seq", m.seq), ("prev", m.prev), ("hash", m.hash)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        return Err(bad(&format!("missing `{}`", missing.join("`, `"))));
    };
    let seq_text = &line[seq.0..seq.1];
    let seq = if !seq_text.is_empty() && seq_text.iter().all(u8::is_ascii_digit) {
        std::str::from_utf8(seq_text)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
    } else {
        None
    }
    .ok_or_else(|| bad("`seq` is not an unsigned integer"))?;
    let hex_of = |span: Span| span.2.then(|| parse_hash(&line[span.0..span.1])).flatten();
    let prev_hash = hex_of(prev).ok_or_else(|| bad("`prev` is not a hash"))?;
    let own = hex_of(hash).ok_or_else(|| bad("`hash` is not a hash"))?;
    let n = line.len();
    let laid_out = n > HASH_SUFFIX_LEN
        && hash.0 == n - 66
        && &line[n - HASH_SUFFIX_LEN..n - HASH_SUFFIX_LEN + 9] == b",\"hash\":\""
        && &line[n - 2..] == b"\"}";
    if !laid_out {
        return Err(bad("`hash` is not the line's last member"));
    }
    Ok(LineInfo {
        seq,
        prev: prev_hash,
        hash: own,
        hash_ok: content_digest(line) == Some(own),
    })
}

/// The SHA-256 of a line without its last `HASH_SUFFIX_LEN` bytes (the
/// `,"hash":"…"` member), closed with `}`; `None` for a shorter line.
fn content_digest(line: &[u8]) -> Option<[u8; 32]> {
    let n = line.len();
    (n > HASH_SUFFIX_LEN).then(|| {
        let mut h = Sha256::new();
        h.update(&line[..n - HASH_SUFFIX_LEN]);
        h.update(b"}");
        h.finalize().into()
    })
}

/// The hash a line's content actually has (for error messages).
pub fn computed_hash(line: &[u8]) -> Option<String> {
    content_digest(line).map(|d| hex(&d))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::chain::{object as map, seal, sha256_hex, write_canonical, GENESIS};
    use serde_json::{json, Value};

    #[test]
    fn run_stops_match_the_table() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut w = [b'a'; 8];
                w[at] = b;
                assert_eq!(
                    stops_run(u64::from_le_bytes(w)),
                    STRING_STOP[usize::from(b)],
                    "{b}"
                );
            }
        }
    }

    #[test]
    fn sealed_lines_check_and_chain() {
        let a = seal(map(json!({"event_type": "decision", "x": 1})), 1, GENESIS);
        let line = &a.line[..a.line.len() - 1];
        let info = check_line(line).unwrap();
        assert_eq!(info.seq, 1);
        assert!(info.hash_ok);
        assert_eq!(hex(&info.hash), a.hash);
        assert_eq!(hex(&info.prev), GENESIS);
        // The hash is the SHA-256 of the canonical form without `hash`.
        let mut v: Value = serde_json::from_slice(line).unwrap();
        v.as_object_mut().unwrap().remove("hash");
        let mut canon = Vec::new();
        write_canonical(&v, &mut canon);
        assert_eq!(sha256_hex(&canon), a.hash);
        let b = seal(map(json!({"event_type": "tool_result"})), 2, &a.hash);
        let info = check_line(&b.line[..b.line.len() - 1]).unwrap();
        assert_eq!(hex(&info.prev), a.hash);
        // One changed byte breaks the hash.
        let text = String::from_utf8(line.to_vec())
            .unwrap()
            .replace("\"x\":1", "\"x\":2");
        assert!(!check_line(text.as_bytes()).unwrap().hash_ok);
    }

    #[test]
    fn the_scanner_agrees_with_serde_json() {
        let cases: &[&str] = &[
            r#"{"a":1}"#,
            r#" { "a" : [1, -2.5e+3, true, false, null, "x\"\u00e9\n", {}] } "#,
            r#"[1,2]"#,
            r#""s""#,
            r#"0"#,
            r#"{"a":01}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":1}}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":tru}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            "{\"a\":\"\t\"}",
            "",
            "   ",
            r#"{"a":"é"}"#,
        ];
        for c in cases {
            let serde = serde_json::from_str::<serde::de::IgnoredAny>(c).is_ok();
            let ours = scan_line(c.as_bytes()).is_ok();
            assert_eq!(ours, serde, "{c:?}");
        }
        assert!(scan_line(b"{\"a\":\"\xff\"}").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(scan_line(deep.as_bytes()).is_err());
    }

    proptest::proptest! {
        /// One changed, removed or added ASCII byte anywhere in a record:
        /// the scanner calls it JSON exactly when serde_json does.
        #[test]
        fn the_scanner_agrees_with_serde_json_on_mutations(
            pos in 0usize..400, byte in 0u8..127, how in 0u8..3,
        ) {
            let s = seal(map(json!({"a": [1, -2.5, "x\u{1}y", {"b": null}], "t": true,
                                    "s": "q\"uote", "n": 1e10})), 3, GENESIS);
            let mut line = s.line[..s.line.len() - 1].to_vec();
            // A newline ends a line: never one inside.
            let byte = if byte == b'\n' { 127 } else { byte };
            let pos = pos % (line.len() + 1);
            match how {
                0 if pos < line.len() => line[pos] = byte,
                1 if pos < line.len() => { line.remove(pos); }
                _ => line.insert(pos, byte),
            }
            let serde = serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_ok();
            proptest::prop_assert_eq!(scan_line(&line).is_ok(), serde,
                "{}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn line_faults() {
        assert!(matches!(
            check_line(b"{not json"),
            Err(LineFault::NotJson(_))
        ));
        assert!(matches!(check_line(b""), Err(LineFault::NotJson(_))));
        assert!(matches!(
            check_line(br#"{"a":1}"#),
            Err(LineFault::NotRecord(_))
        ));
        let forged = format!(r#"{{"seq":1,"hash":"{GENESIS}","prev":"{GENESIS}"}}"#);
        assert!(matches!(
            check_line(forged.as_bytes()),
            Err(LineFault::NotRecord(_))
        ));
        let dup = format!(r#"{{"seq":1,"seq":2,"prev":"{GENESIS}","hash":"{GENESIS}"}}"#);
        assert_eq!(
            check_line(dup.as_bytes()),
            Err(LineFault::NotRecord("duplicate `seq`".into()))
        );
        let neg = format!(r#"{{"seq":-1,"prev":"{GENESIS}","hash":"{GENESIS}"}}"#);
        assert!(matches!(
            check_line(neg.as_bytes()),
            Err(LineFault::NotRecord(_))
        ));
        // A nested `hash` is not the record's.
        let nested = format!(r#"{{"x":{{"hash":"{GENESIS}"}},"seq":1,"prev":"{GENESIS}"}}"#);
        assert_eq!(
            check_line(nested.as_bytes()),
            Err(LineFault::NotRecord("missing `hash`".into()))
        );
    }
}
