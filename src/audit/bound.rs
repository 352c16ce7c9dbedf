//! The size bound of one record: a record whose line would be longer than
//! [`MAX_RECORD`] keeps its small fields, and each of its largest fields
//! (largest first, until it fits) is replaced by `null`, with the field's
//! size and SHA-256 (of its canonical JSON, after redaction) listed under
//! `oversized_fields`. So no call can make agentjail write a line that a
//! later writer or reader cannot handle.

use super::chain::{sha256_hex, write_canonical};
pub use super::tail::MAX_RECORD;
use serde_json::{json, Map, Value};

/// Room left for what sealing and writing add: `seq`, `prev`, `hash`,
/// `log_append_only` and the summary of the replaced fields.
const SLACK: usize = 4096;

/// Fields that identify a record and are always kept (they are small).
const KEPT: &[&str] = &["event_type", "id", "timestamp", "seq", "prev", "hash"];

fn canonical_len(v: &Value) -> (usize, Vec<u8>) {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    (out.len(), out)
}

/// Replaces the largest fields of `record` until its canonical form fits in
/// [`MAX_RECORD`]; returns the names of the fields replaced.
pub fn bound_record(record: &mut Map<String, Value>) -> Vec<String> {
    let limit = MAX_RECORD - SLACK;
    let mut sizes: Vec<(usize, String)> = record
        .iter()
        .map(|(k, v)| (canonical_len(v).0 + k.len() + 4, k.clone()))
        .collect();
    let mut total: usize = sizes.iter().map(|s| s.0).sum::<usize>() + 2;
    if total <= limit {
        return Vec::new();
    }
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut summary = Map::new();
    let mut replaced = Vec::new();
    for (size, key) in sizes {
        if total <= limit {
            break;
        }
        if KEPT.contains(&key.as_str()) {
            continue;
        }
        let Some(value) = record.get_mut(&key) else {
            continue;
        };
        let (bytes, canonical) = canonical_len(value);
        summary.insert(
            key.clone(),
            json!({"bytes": bytes, "sha256": sha256_hex(&canonical)}),
        );
        *value = Value::Null;
        total = total - size + key.len() + 8 + 140;
        replaced.push(key);
    }
    record.insert(
        "oversized_fields".into(),
        json!({
            "limit": MAX_RECORD,
            "note": "the record was longer than the limit: these fields were replaced by null; \
                     bytes and sha256 are of each field's canonical JSON",
            "fields": summary,
        }),
    );
    replaced
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::chain::{object, seal, GENESIS};

    #[test]
    fn an_oversized_record_keeps_its_small_fields_and_hashes_the_large_one() {
        let big = "p".repeat(3 * MAX_RECORD);
        let mut r = object(json!({
            "event_type": "decision", "id": "x", "tool": "echo_text",
            "params": {"text": big.clone()}, "reasons": ["ok"],
        }));
        let want = {
            let mut c = Vec::new();
            write_canonical(&json!({"text": big}), &mut c);
            (c.len(), sha256_hex(&c))
        };
        assert_eq!(bound_record(&mut r), vec!["params".to_string()]);
        assert_eq!(r["params"], Value::Null);
        assert_eq!(r["tool"], "echo_text");
        let f = &r["oversized_fields"]["fields"]["params"];
        assert_eq!(f["bytes"], want.0);
        assert_eq!(f["sha256"], want.1);
        assert!(seal(r, 1, GENESIS).line.len() <= MAX_RECORD);
        // Many large fields: as many as needed go.
        let mut r = Map::new();
        for i in 0..8 {
            r.insert(format!("f{i}"), json!("q".repeat(MAX_RECORD / 3)));
        }
        let gone = bound_record(&mut r);
        assert!(gone.len() >= 6, "{gone:?}");
        assert!(seal(r, 1, GENESIS).line.len() <= MAX_RECORD);
        // A record that fits is left alone.
        let mut r = object(json!({"event_type": "decision", "params": {"a": 1}}));
        assert!(bound_record(&mut r).is_empty());
        assert!(!r.contains_key("oversized_fields"));
    }
}
