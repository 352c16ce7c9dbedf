//! Tests of `log`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::audit::check_line;
use std::io::Write;

#[test]
fn appends_chain_and_continue_after_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/audit.jsonl");
    let log = AuditLog::new(&p).with_append_only_flag(AppendOnly::Never);
    let a = log.append(&AuditRecord::new("decision", "r")).unwrap();
    let b = log.append(&AuditRecord::new("tool_result", "r")).unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p), 0o600);
    assert_eq!(mode(p.parent().unwrap()), 0o700);
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let second = check_line(lines[1].as_bytes()).unwrap();
    assert_eq!(hex(&second.prev), a.hash);
    // logrotate: the log becomes PATH.1 and a new file continues the chain.
    std::fs::rename(&p, rotated_path(&p, 1)).unwrap();
    let c = log.append(&AuditRecord::new("decision", "r")).unwrap();
    assert_eq!(c.seq, 3);
    let text = std::fs::read_to_string(&p).unwrap();
    let first = check_line(text.trim_end().as_bytes()).unwrap();
    assert_eq!(hex(&first.prev), b.hash);
    // A cut last line is mended: terminated, and named by a
    // `recovered` record that chains from the last whole record.
    let before = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(b"{\"half")
        .unwrap();
    let d = log.append(&AuditRecord::new("decision", "r")).unwrap();
    assert_eq!(d.seq, 5);
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "{\"half");
    let mended: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(mended["event_type"], "recovered");
    assert_eq!(mended["seq"], 4);
    assert_eq!(mended["prev"], c.hash);
    assert_eq!(mended["recovered"]["offset"], before);
    assert_eq!(mended["recovered"]["bytes"], 6);
    assert_eq!(
        mended["recovered"]["sha256"],
        crate::audit::sha256_hex(b"{\"half")
    );
    assert_eq!(mended["recovered"]["terminated"], true);
    // An unchained log of an older agentjail is still not extended.
    std::fs::write(&p, "{\"event_type\":\"decision\"}\n").unwrap();
    let e = log.append(&AuditRecord::new("decision", "r")).unwrap_err();
    assert!(matches!(e, AuditError::Damaged { .. }), "{e}");
}
