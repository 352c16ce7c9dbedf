//! Times `agentjail audit verify` over a generated log of one million
//! chained records (`RECORDS` to change the count), shaped like the decision
//! and result records `agentjail run` writes.
//!
//!     cargo bench --bench audit_verify
//!
//! The log is written with the library's own sealing (`audit::seal`), not
//! through the command line, and is removed afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentjail::audit::{self, GENESIS};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

fn record(i: u64) -> Map<String, Value> {
    let decision = i % 2 == 0;
    let mut v = json!({
        "timestamp": "2025-01-01T12:00:00.123Z",
        "id": format!("{:x}-{:x}", 0x18eb_2809_a11f_9284_u64 + i, 4242),
        "event_type": if decision { "decision" } else { "tool_result" },
        "agent_id": "agent-7",
        "session_id": format!("session-{}", i / 100),
        "role": "infrastructure_agent",
        "tool": "kubectl_get",
        "params": {"resource": "pods", "namespace": "monitoring"},
        "result": if decision { Value::Null } else { json!("success") },
        "tokens_used": 1234,
        "risk_level": "read",
        "approval_status": null,
        "decision": "allow",
        "reasons": ["risk class read: runs without approval"],
        "argv": ["kubectl", "get", "pods", "--namespace", "monitoring", "--output", "json"],
        "dry_run": false,
        "host": "build-host-01",
        "pid": 4242,
        "uid": 0,
        "log_append_only": true,
    });
    if !decision {
        let extra = json!({
            "decision_id": format!("{:x}-{:x}", 0x18eb_2809_a11f_9283_u64 + i, 4242),
            "exit_code": 0, "signal": null, "timed_out": false, "duration_ms": 23,
            "program": "/usr/bin/kubectl",
            "sandbox": {"namespaces": ["user", "mount", "pid", "net", "ipc", "uts", "cgroup"],
                        "uid": 65534, "network": "none", "seccomp": true, "landlock_abi": 6,
                        "landlock": "full", "no_new_privs": true,
                        "cgroup": {"version": "v2", "applied": ["memory", "cpu", "pids"]}},
            "stdout_bytes": 5120, "stdout_truncated": false,
            "stdout_sha256": audit::sha256_hex(&i.to_le_bytes()),
            "stderr_bytes": 0, "stderr_truncated": false,
            "stderr_sha256": audit::sha256_hex(b""),
        });
        if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
            m.extend(e);
        }
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is a filter we ignore.
    let n: u64 = std::env::var("RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let started = Instant::now();
    {
        let mut out =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        let mut prev = GENESIS.to_string();
        for i in 0..n {
            let s = audit::seal(record(i), i + 1, &prev);
            out.write_all(&s.line).unwrap();
            prev = s.hash;
        }
        out.flush().unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "generated {n} records ({:.0} MB) in {:.1?}",
        size as f64 / 1e6,
        started.elapsed()
    );
    let bin = env!("CARGO_BIN_EXE_agentjail");
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["audit", "verify"])
            .arg(&path)
            .output()
            .unwrap();
        times.push(t.elapsed());
        assert!(
            out.status.success(),
            "verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(&format!("intact: {n} records")), "{text}");
    }
    times.sort();
    let median = times[times.len() / 2];
    let best = times[0];
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "audit verify: {n} records, {:.0} MB: median {:.2?} ({:.0} records/s, {:.0} MB/s), best {:.2?} ({:.0} records/s)",
        size as f64 / 1e6,
        median,
        rate(median),
        size as f64 / 1e6 / median.as_secs_f64(),
        best,
        rate(best)
    );
}
