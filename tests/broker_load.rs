//! 200 concurrent calls from 4 client uids (64020-64023) against one broker
//! with `max_concurrent = 8` and a role with `max_api_calls = 120`: exactly
//! 120 run, every record is whole and the chain is intact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;

use broker_support::*;
use std::process::{Command, Stdio};

const CALLERS: [u32; 4] = [64020, 64021, 64022, 64023];
const CALLS: usize = 200;
const BUDGET: usize = 120;

const LOAD_ROLE: &str = r#"
description = "Under load"
allowed_tools = ["echo_text"]
[limits]
max_api_calls = 120
"#;

#[test]
fn two_hundred_concurrent_calls_from_four_uids() {
    if !can_run() {
        return;
    }
    let callers: String = CALLERS
        .iter()
        .map(|u| format!("\n[[callers]]\nuid = {u}\nroles = [\"load_role\"]\n"))
        .collect();
    let b = Broker::start_with(
        8,
        "queue = 256\nqueue_timeout_seconds = 600",
        &callers,
        &[("load_role", LOAD_ROLE)],
        &CALLERS,
    );
    // All at once: 8 run, the rest wait in the queue.
    let children: Vec<_> = (0..CALLS)
        .map(|i| {
            let uid = CALLERS[i % CALLERS.len()];
            let n = i.to_string();
            b.client(
                uid,
                &[
                    "run",
                    "--role",
                    "load_role",
                    "--session",
                    "load",
                    "echo_text",
                    "--param",
                    &format!("text=call-{n}"),
                ],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut ran = 0;
    let mut over = 0;
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        match code(&o) {
            0 => {
                assert_eq!(text(&o.stdout), format!("call-{i}\n"));
                ran += 1;
            }
            77 => {
                assert!(
                    text(&o.stderr).contains("budget exceeded: max_api_calls = 120"),
                    "{}",
                    text(&o.stderr)
                );
                over += 1;
            }
            other => panic!(
                "call {i}: exit {other}: {}{}",
                text(&o.stderr),
                b.serve_err()
            ),
        }
    }
    assert_eq!((ran, over), (BUDGET, CALLS - BUDGET));

    // Every line is one whole record; one decision per call, one result per run.
    let log = b.log_text();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let count = |event: &str, result: Option<&str>| {
        records
            .iter()
            .filter(|r| r["event_type"] == event)
            .filter(|r| result.is_none_or(|want| r["result"] == want))
            .count()
    };
    assert_eq!(count("decision", None), CALLS, "{log}");
    assert_eq!(count("tool_result", None), BUDGET);
    // Each successful call's own text is in exactly one result.
    for i in 0..CALLS {
        let needle = format!("\"text\":\"call-{i}\"");
        let n = records
            .iter()
            .filter(|r| r["event_type"] == "tool_result" && r.to_string().contains(&needle))
            .count();
        assert!(n <= 1, "call {i} has {n} results");
    }

    // The budget is exact, in the broker's own state.
    let o = Command::new(BIN)
        .arg("--profiles")
        .arg(b.profiles())
        .arg("--state-dir")
        .arg(b.state())
        .args(["budget", "show", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let budgets = shown["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 1, "{shown}");
    assert_eq!(budgets[0]["session"], "load");
    assert_eq!(budgets[0]["calls"], BUDGET as u64, "{shown}");
    assert_log_intact(&b);
}
