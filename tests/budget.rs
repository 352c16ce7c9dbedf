//! Per-session budgets: 100 parallel runs against `max_api_calls = 10`,
//! `max_tokens` with `--tokens`, `check` looking without counting, sessions
//! counted apart, `budget show`, and a corrupt counter failing closed.
//!
//! Every command gets `--state-dir`, `--audit-log` and `--profiles` in a
//! temporary directory of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use tempfile::TempDir;

const TOOLS: &str = r#"
[tools.echo_text]
risk = "read"
command = ["echo", "{text}"]
params.text = { type = "string", max_length = 4096 }

[tools.delete_file]
risk = "delete"
command = ["rm", "--", "{dir}/{name}"]
params.dir = { type = "path", access = "writable_dirs", bind = "rw" }
params.name = { type = "string", pattern = "[A-Za-z0-9_][A-Za-z0-9._-]{0,254}" }
"#;

fn role(limits: &str) -> String {
    format!(
        r#"allowed_tools = ["echo_text", "delete_file"]
[limits]
timeout_seconds = 20
{limits}
[data_access]
writable_dirs = ["/tmp"]
[sandbox]
optional = ["cgroup"]
pids = 64
"#
    )
}

struct Env {
    dir: TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let profiles = dir.path().join("profiles");
        std::fs::create_dir_all(profiles.join("roles")).unwrap();
        std::fs::write(profiles.join("tools.toml"), TOOLS).unwrap();
        for (name, limits) in [
            ("calls", "max_api_calls = 10"),
            ("tokens", "max_tokens = 1000"),
            ("free", ""),
        ] {
            std::fs::write(profiles.join(format!("roles/{name}.toml")), role(limits)).unwrap();
        }
        Env { dir }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agentjail"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AGENTJAIL_") {
                c.env_remove(k);
            }
        }
        let home = self.dir.path().join("home");
        c.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
            .env("NO_COLOR", "1")
            .arg("--profiles")
            .arg(self.dir.path().join("profiles"))
            .arg("--state-dir")
            .arg(self.state())
            .arg("--audit-log")
            .arg(self.log())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        let o = self.cmd().args(args).output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn show(&self, args: &[&str]) -> Value {
        let mut a = vec!["budget", "show", "--format", "json"];
        a.extend(args);
        let out = self.run(&a);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    }
}

fn echo<'a>(role: &'a str, session: &'a str, tokens: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--role",
        role,
        "--session",
        session,
        "--tokens",
        tokens,
        "echo_text",
        "--param",
        "text=hi",
    ]
}

#[test]
fn a_hundred_parallel_runs_against_ten_calls_run_exactly_ten() {
    let env = Env::new();
    let children: Vec<_> = (0..100)
        .map(|_| {
            env.cmd()
                .args(echo("calls", "P", "0"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ran: Vec<_> = outs.iter().filter(|o| o.status.code() == Some(0)).collect();
    let denied: Vec<_> = outs
        .iter()
        .filter(|o| o.status.code() == Some(77))
        .collect();
    let other: Vec<_> = outs
        .iter()
        .filter(|o| !matches!(o.status.code(), Some(0 | 77)))
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(ran.len(), 10);
    assert_eq!(denied.len(), 90);
    for o in &ran {
        assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\n");
    }
    for o in &denied {
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "agentjail: denied: budget exceeded: max_api_calls = 10 for role `calls`, session `P`: 10 calls used, this call would make 11\n"
        );
    }
    // The audit log shows each: 100 decisions, 10 results, an intact chain.
    let recs = env.records();
    let decisions: Vec<&Value> = recs
        .iter()
        .filter(|r| r["event_type"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 100);
    let allowed: Vec<&Value> = decisions
        .iter()
        .copied()
        .filter(|r| r["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 10);
    let mut counts: Vec<u64> = allowed
        .iter()
        .map(|r| {
            assert_eq!(r["budget"]["counted"], true, "{r}");
            r["budget"]["calls"].as_u64().unwrap()
        })
        .collect();
    counts.sort();
    assert_eq!(counts, (0..10).collect::<Vec<u64>>());
    for r in decisions.iter().filter(|r| r["decision"] == "deny") {
        assert_eq!(r["budget"]["exceeded"]["budget"], "max_api_calls", "{r}");
        assert_eq!(r["budget"]["counted"], false);
        assert!(r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().starts_with("budget: budget exceeded")));
    }
    let results = recs
        .iter()
        .filter(|r| r["event_type"] == "tool_result")
        .count();
    assert_eq!(results, 10);
    assert_eq!(env.run(&["audit", "verify"]).code, 0);
    let shown = env.show(&["--role", "calls"]);
    assert_eq!(shown["budgets"][0]["calls"], 10);
    assert_eq!(shown["budgets"][0]["max_api_calls"], 10);
}

#[test]
fn tokens_count_and_check_only_looks() {
    let env = Env::new();
    assert_eq!(env.run(&echo("tokens", "T", "600")).code, 0);
    // check shows the effect and counts nothing.
    let out = env.run(&[
        "check",
        "--role",
        "tokens",
        "--session",
        "T",
        "--tokens",
        "500",
        "echo_text",
        "--param",
        "text=hi",
    ]);
    assert_eq!(out.code, 77, "{}", out.stdout);
    assert!(out.stdout.contains(
        "budget: session `T`: calls 1 of unlimited, tokens 600 of 1000 (+500 with this call); budget exceeded: max_tokens = 1000 for role `tokens`, session `T`: 600 tokens used, this call's 500 would make 1100"
    ), "{}", out.stdout);
    let out = env.run(&[
        "check",
        "--format",
        "json",
        "--role",
        "tokens",
        "--session",
        "T",
        "--tokens",
        "400",
        "echo_text",
        "--param",
        "text=hi",
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["budget"]["tokens"], 600);
    assert_eq!(v["budget"]["counted"], false);
    assert_eq!(v["budget"]["exceeded"], Value::Null);
    // A denied call is not counted: 400 still fits after a refused 500.
    let out = env.run(&echo("tokens", "T", "500"));
    assert_eq!(out.code, 77);
    assert_eq!(
        out.stderr,
        "agentjail: denied: budget exceeded: max_tokens = 1000 for role `tokens`, session `T`: 600 tokens used, this call's 500 would make 1100\n"
    );
    assert_eq!(env.run(&echo("tokens", "T", "400")).code, 0);
    assert_eq!(env.run(&echo("tokens", "T", "1")).code, 77);
    assert_eq!(env.run(&echo("tokens", "T", "0")).code, 0);
    // Another session has its own budget.
    assert_eq!(env.run(&echo("tokens", "U", "900")).code, 0);
    let v = env.show(&["--role", "tokens"]);
    let rows = v["budgets"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(
        (
            rows[0]["session"].as_str(),
            rows[0]["tokens"].as_u64(),
            rows[0]["calls"].as_u64()
        ),
        (Some("T"), Some(1000), Some(3))
    );
    assert_eq!(rows[1]["tokens"], 900);
    let v = env.show(&["--session", "U"]);
    assert_eq!(v["budgets"].as_array().unwrap().len(), 1);
    // A (role, session) named in full before its first call shows zero.
    let v = env.show(&["--role", "calls", "--session", "new"]);
    assert_eq!(v["budgets"][0]["calls"], 0);
    let text = env.run(&["budget", "show"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.starts_with("ROLE "), "{}", text.stdout);
    assert!(text.stdout.contains("1000/1000"), "{}", text.stdout);
    // A role without limits is not counted at all.
    assert_eq!(env.run(&echo("free", "T", "99999")).code, 0);
    assert_eq!(
        env.show(&["--role", "free"])["budgets"],
        serde_json::json!([])
    );
}

#[test]
fn approval_needing_calls_are_counted_when_they_run_and_checked_before_they_ask() {
    let env = Env::new();
    let work = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let dir = format!("dir={}", work.path().display());
    let del = |name: &str| {
        let name = format!("name={name}");
        env.run(&[
            "run",
            "--role",
            "calls",
            "--session",
            "D",
            "delete_file",
            "--param",
            &dir,
            "--param",
            &name,
        ])
    };
    // A call that stops for approval is not counted.
    let out = del("x");
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert_eq!(
        env.show(&["--role", "calls", "--session", "D"])["budgets"][0]["calls"],
        0
    );
    for _ in 0..10 {
        assert_eq!(env.run(&echo("calls", "D", "0")).code, 0);
    }
    // Budget spent: denied before asking anyone, and the approval stays unused.
    let out = del("x");
    assert_eq!(out.code, 77, "{}", out.stderr);
    assert!(out.stderr.contains("max_api_calls = 10"), "{}", out.stderr);
}

#[test]
fn a_corrupt_counter_fails_closed_naming_the_file() {
    let env = Env::new();
    assert_eq!(env.run(&echo("calls", "C", "0")).code, 0);
    let files: Vec<PathBuf> = std::fs::read_dir(env.state().join("budgets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let file = &files[0];
    std::fs::write(file, "{\"role\": \"calls\", \"calls\": 3").unwrap();
    let out = env.run(&echo("calls", "C", "0"));
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "agentjail: state file {} is corrupt: ",
            file.display()
        )),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        "{\"role\": \"calls\", \"calls\": 3"
    );
    assert_eq!(env.run(&["budget", "show"]).code, 125);
    // The refused call ran nothing; its failure is audited.
    let recs = env.records();
    assert_eq!(recs.len(), 3, "{recs:?}");
    assert_eq!(recs[2]["event_type"], "error");
    assert_eq!(recs[2]["exit_code"], 125);
    assert!(
        recs[2]["error"].as_str().unwrap().contains("is corrupt"),
        "{}",
        recs[2]
    );
}

#[test]
fn profiles_validate_the_new_keys() {
    let env = Env::new();
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "allowed_tools = []\n[limits]\napproval_timeout = \"soon\"\n[approval]\nttl = 0\napprovers = [\"\"]\n",
    )
    .unwrap();
    let out = env.run(&["profiles", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.code, 78, "{}", out.stdout);
    let all = format!("{}{}", out.stdout, out.stderr);
    for needle in [
        "limits.approval_timeout",
        "approval.ttl must be at least 1s",
        "approval.approvers",
    ] {
        assert!(all.contains(needle), "{needle}: {all}");
    }
    std::fs::write(&bad, "[approval]\nwho = 1\n").unwrap();
    let out = env.run(&["profiles", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.code, 78);
    assert!(format!("{}{}", out.stdout, out.stderr).contains("who"));
}
