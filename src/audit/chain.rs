//! The hash chain: the canonical serialisation of a record
//! ([`write_canonical`]), SHA-256 and hex, sealing a record into a line that
//! ends in its own `hash` ([`seal`]), and [`GENESIS`], the `prev` of a log's
//! first record. Pure functions over bytes and JSON values: no files, no
//! knowledge of the other audit modules.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `prev` of the first record of a log that continues no other: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex digits + `"}`: how every line ends.
pub const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
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
}
