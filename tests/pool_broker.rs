//! The broker's pool of prepared sandboxes (`[pool]` in broker.toml): the
//! second call of a plan is served by a prepared sandbox, concurrent calls
//! each get their own (the claim is a compare-and-swap in shared memory),
//! and `size = 0` turns the pool off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;
mod common;

use broker_support::*;
use serde_json::Value;

/// The `sandbox.prepared` flag of every tool_result record, oldest first.
fn prepared_flags(b: &Broker) -> Vec<bool> {
    b.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["event_type"] == "tool_result")
        .map(|r| r["sandbox"]["prepared"] == true)
        .collect()
}

#[test]
fn the_second_call_of_a_plan_is_served_prepared() {
    if !can_run() {
        return;
    }
    let b = Broker::start_with(4, "queue = 0", "[pool]\nsize = 1\nplans = 2\n", &[], &[]);
    for word in ["one", "two", "three"] {
        if word != "one" {
            common::wait_prepared(b.pid().as_raw() as u32, 1);
        }
        let o = b.echo(AGENT, word);
        assert_eq!(code(&o), 0, "{}", text_of(&o));
        assert_eq!(text(&o.stdout), format!("{word}\n"));
    }
    assert_eq!(
        prepared_flags(&b),
        vec![false, true, true],
        "{}",
        b.serve_err()
    );
    assert_log_intact(&b);
}

#[test]
fn concurrent_calls_each_get_their_own_sandbox() {
    if !can_run() {
        return;
    }
    let b = Broker::start_with(8, "queue = 16", "[pool]\nsize = 2\n", &[], &[]);
    assert_eq!(code(&b.echo(AGENT, "warm")), 0);
    common::wait_prepared(b.pid().as_raw() as u32, 2);
    let children: Vec<_> = (0..8)
        .map(|i| {
            b.client(
                AGENT,
                &[
                    "run",
                    "--role",
                    "agent_role",
                    "echo_text",
                    "--param",
                    &format!("text=c{i}"),
                ],
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "call {i}: {}", text_of(&o));
        assert_eq!(text(&o.stdout), format!("c{i}\n"));
    }
    let flags = prepared_flags(&b);
    assert_eq!(flags.len(), 9);
    assert!(
        flags.iter().any(|p| *p),
        "no call was served prepared: {flags:?}"
    );
    assert_log_intact(&b);
}

#[test]
fn size_zero_turns_the_pool_off() {
    if !can_run() {
        return;
    }
    let b = Broker::start_with(4, "queue = 0", "[pool]\nsize = 0\n", &[], &[]);
    for _ in 0..3 {
        assert_eq!(code(&b.echo(AGENT, "x")), 0);
    }
    assert_eq!(prepared_flags(&b), vec![false, false, false]);
}

#[test]
fn a_bad_pool_setting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("broker.toml");
    for (pool, want) in [
        ("size = 9", "[pool] size = 9: must be 0 (no pool) to 8"),
        ("plans = 0", "[pool] plans = 0: must be 1 to 8"),
        ("warm = true", "unknown field `warm`"),
    ] {
        std::fs::write(&cfg, format!("[pool]\n{pool}\n")).unwrap();
        let o = std::process::Command::new(BIN)
            .args(["serve", "--check-config", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(78), "{pool}");
        let err = text(&o.stderr);
        assert!(err.contains(want), "{pool}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

fn text_of(o: &std::process::Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}
