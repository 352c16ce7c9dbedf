//! Criterion benches of the call core without a sandbox:
//!
//! * `decide/*`: `policy::decide` with the profile set already loaded (the
//!   bench role's one tool, and the bundled `files_agent` role's `echo_text`
//!   with a parameter to screen);
//! * `profiles/load`: loading the bundled profile directory;
//! * `check/end_to_end`: the `agentjail check` process, start to exit,
//!   including its synced decision record.
//!
//!     cargo bench --bench decision
//!
//! Timings, not tests: nothing here asserts a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentjail::policy::{decide, Outcome, ToolCall};
use agentjail::profile::load;
use agentjail::profile::spec::Params;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use std::hint::black_box;
use std::path::Path;
use std::process::{Command, Stdio};

fn call(role: &str, tool: &str, params: Params) -> ToolCall {
    ToolCall {
        role: role.into(),
        tool: tool.into(),
        params,
        extra_args: Vec::new(),
        json_params: Default::default(),
    }
}

fn benches(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bench_set = load(Some(&root.join("benches/profiles"))).unwrap();
    let bundled = load(Some(&root.join("profiles"))).unwrap();
    let trivial = call("bench", "true", Params::new());
    let mut p = Params::new();
    p.insert("text".into(), json!("hello from the bench"));
    let echo = call("files_agent", "echo_text", p);
    assert_eq!(decide(&bench_set, &trivial).outcome, Outcome::Allow);
    assert_eq!(decide(&bundled, &echo).outcome, Outcome::Allow);

    c.bench_function("decide/bench_true", |b| {
        b.iter(|| decide(black_box(&bench_set), black_box(&trivial)))
    });
    c.bench_function("decide/files_agent_echo_text", |b| {
        b.iter(|| decide(black_box(&bundled), black_box(&echo)))
    });
    c.bench_function("profiles/load_bundled", |b| {
        b.iter(|| load(Some(black_box(&root.join("profiles")))).unwrap())
    });

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut group = c.benchmark_group("check");
    group.sample_size(50);
    group.bench_function("end_to_end", |b| {
        b.iter(|| {
            let st = Command::new(env!("CARGO_BIN_EXE_agentjail"))
                .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
                .arg("--profiles")
                .arg(root.join("benches/profiles"))
                .arg("--audit-log")
                .arg(&log)
                .args(["check", "--role", "bench", "true"])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        })
    });
    group.finish();
}

criterion_group!(decision, benches);
criterion_main!(decision);
