//! The alert command is rate limited across calls: a flood of alerting
//! calls runs it a bounded number of times a window, and the alerts held
//! back are counted in one audited record.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");

#[test]
fn alerts_are_rate_limited_and_suppressions_audited() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let alerts = dir.path().join("alerts");
    let check = || {
        let out = Command::new(BIN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
            .env("AGENTJAIL_STATE_DIR", dir.path().join("state"))
            .env("AGENTJAIL_ALERT_RATE", "3/1h")
            .arg("--audit-log")
            .arg(&log)
            .arg("--alert-command")
            .arg(format!(
                "echo \"$AGENTJAIL_AUDIT_SEQ\" >> {}",
                alerts.display()
            ))
            .args(["check", "--role", "files_agent", "echo_text", "--param"])
            .arg("text=x; rm -rf /")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        // A critical denial: each one calls for an alert.
        assert_eq!(out.status.code(), Some(77), "{out:?}");
    };
    for _ in 0..8 {
        check();
    }
    let ran = std::fs::read_to_string(&alerts).unwrap();
    assert_eq!(ran.lines().count(), 3, "alerts that ran: {ran}");
    // The window ends (its start moved into the past): the next alert runs,
    // and one record counts the five held back.
    let counter = dir.path().join("audit.jsonl.alert-rate");
    let text = std::fs::read_to_string(&counter).unwrap();
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields[1..], ["3", "5"], "{text}");
    std::fs::write(&counter, format!("0 {} {}\n", fields[1], fields[2])).unwrap();
    check();
    assert_eq!(std::fs::read_to_string(&alerts).unwrap().lines().count(), 4);
    let records: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let counted: Vec<&Value> = records
        .iter()
        .filter(|r| !r["alert_suppressed"].is_null())
        .collect();
    assert_eq!(counted.len(), 1, "{records:?}");
    assert_eq!(counted[0]["event_type"], "error");
    assert_eq!(counted[0]["alert_suppressed"]["count"], 5);
    assert_eq!(counted[0]["alert_suppressed"]["max"], 3);
    assert_eq!(records.len(), 10);
}
