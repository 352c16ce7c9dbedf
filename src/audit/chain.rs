//! The hash chain: the canonical serialisation of a record
//! ([`write_canonical`]), SHA-256 and hex, sealing a record into a line that
//! ends in its own `hash` ([`seal`]), and [`GENESIS`], the `prev` of a log's
//! first record. Pure functions over bytes and JSON values: no files, no
//! knowledge of the other audit modules.
//!
//! # Why not an RFC 8785 (JCS) crate
//!
//! [`write_canonical`] is close to RFC 8785 but not the same, and the form is
//! fixed: a record's `hash` is defined over it, and approvals and budget
//! counters are keyed by digests of it. `serde_jcs` was compared byte for
//! byte (test `jcs_differs_from_the_canonical_form_on_floats`). It agrees on
//! strings (escapes, non-ASCII, astral characters), integers and nesting, but
//! writes numbers as ECMAScript does, so a float parameter changes:
//! `{"f":1.0}` becomes `{"f":1}` (read back as an integer), `-0.0` becomes
//! `0`, `1e20` becomes `100000000000000000000`. Tool parameters are the
//! agent's JSON, so such values do reach the log; their records would hash
//! differently from the ones already written. serde_jcs 0.2 (which needs Rust
//! 1.85) differs further: it orders keys by UTF-16 code units (`"😀"` before
//! `"｡"`) and rounds integers above 2^53 (`u64::MAX` becomes
//! `18446744073709552000`).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `prev` of the first record of a log that continues no other: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex digits + `"}`: how every line ends.
pub const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// The value of each lower-case hex digit; 0xff for every other byte.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes 64 lower-case hex digits.
///
/// Hand-written rather than `hex::decode_to_slice`, which also takes
/// upper-case digits: a line agentjail writes has lower-case ones only, so an
/// upper-case `hash` or `prev` is not a record of ours. It is also on the
/// `audit verify` path (twice a line) and has no branch per digit.
pub fn parse_hash(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_VALUE[usize::from(pair[0])],
            HEX_VALUE[usize::from(pair[1])],
        );
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 15);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The canonical serialisation: compact JSON (no whitespace), object members
/// sorted by the UTF-8 bytes of their keys at every level, strings and numbers
/// written as serde_json writes them (only `"`, `\` and control characters
/// escaped; non-ASCII as UTF-8). It does not depend on serde_json's
/// `preserve_order` feature.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Writing a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// A record with its chain fields, ready to append.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The line, ending in `\n`.
    pub line: Vec<u8>,
    pub seq: u64,
    pub hash: String,
}

/// Adds `seq` and `prev` to a record, hashes its canonical form and appends
/// `hash` as the last member. Any `hash` already in the record is dropped.
pub fn seal(mut record: Map<String, Value>, seq: u64, prev: &str) -> Sealed {
    record.remove("hash");
    record.insert("seq".into(), Value::from(seq));
    record.insert("prev".into(), Value::from(prev));
    let mut line = Vec::with_capacity(1024);
    write_canonical(&Value::Object(record), &mut line);
    let hash = sha256_hex(&line);
    line.pop(); // the closing brace; `hash` goes last
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    Sealed { line, seq, hash }
}

/// A JSON object literal as a record map (for tests across the audit
/// modules).
#[cfg(test)]
pub(crate) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_are_lower_case_hex() {
        assert_eq!(parse_hash(GENESIS.as_bytes()), Some([0; 32]));
        assert_eq!(parse_hash(&[b'F'; 64]), None);
        assert_eq!(parse_hash(&[b'g'; 64]), None);
        let h = sha256_hex(b"x");
        assert_eq!(hex(&parse_hash(h.as_bytes()).unwrap()), h);
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": "é\n"}], "c": true}});
        let mut out = Vec::new();
        write_canonical(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":true,"z":[3,{"x":"é\n","y":null}]},"b":1}"#
        );
    }

    /// The canonical form of representative values, byte for byte, next to
    /// what `serde_jcs` (RFC 8785) writes: the same but for floats. See the
    /// module comment.
    #[test]
    fn jcs_differs_from_the_canonical_form_on_floats() {
        let record = json!({
            "event_type": "decision", "seq": 12, "tokens_used": 0, "pid": 4_294_967_295u32,
            "prev": GENESIS, "reasons": ["risk class read", "é \u{1} \" \\ / \u{7f} \u{2028} 😀"],
            "params": {"path": "/tmp/x y", "n": [-5, u64::MAX, i64::MIN], "empty": {}, "e": [],
                       "z": null, "t": true, "ratio": 0.5, "tiny": 5e-324, "huge": 1.5e300},
            "": "empty key", "E": 1, "e": 2, "é": 3, "\u{ff61}": 4, "\u{1f600}": 5,
        });
        let want = concat!(
            r#"{"":"empty key","E":1,"e":2,"event_type":"decision","params":{"e":[],"empty":{},"#,
            r#""huge":1.5e+300,"n":[-5,18446744073709551615,-9223372036854775808],"path":"/tmp/x y","#,
            r#""ratio":0.5,"t":true,"tiny":5e-324,"z":null},"pid":4294967295,"#,
            r#""prev":"0000000000000000000000000000000000000000000000000000000000000000","#,
            r#""reasons":["risk class read","é \u0001 \" \\ / "#,
            "\u{7f} \u{2028} 😀",
            r#""],"seq":12,"#,
            r#""tokens_used":0,"é":3,"｡":4,"😀":5}"#,
        );
        let mut ours = Vec::new();
        write_canonical(&record, &mut ours);
        assert_eq!(String::from_utf8(ours.clone()).unwrap(), want);
        assert_eq!(serde_jcs::to_vec(&record).unwrap(), ours);

        for (v, canonical, jcs) in [
            (json!({"f": 1.0}), r#"{"f":1.0}"#, r#"{"f":1}"#),
            (json!({"f": -0.0}), r#"{"f":-0.0}"#, r#"{"f":0}"#),
            (
                json!({"f": 1e20}),
                r#"{"f":1e+20}"#,
                r#"{"f":100000000000000000000}"#,
            ),
        ] {
            let mut ours = Vec::new();
            write_canonical(&v, &mut ours);
            assert_eq!(String::from_utf8(ours).unwrap(), canonical);
            assert_eq!(
                String::from_utf8(serde_jcs::to_vec(&v).unwrap()).unwrap(),
                jcs
            );
        }
    }
}
