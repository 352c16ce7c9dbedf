//! The tamper-evident audit log end to end: the hash chain under 200
//! concurrent launchers, `audit verify` against every kind of tampering,
//! `audit head` and `audit tail`, redaction, alerts, rotation, the
//! append-only flag, and fail-closed writing (lock timeout, damaged log, a
//! full or read-only filesystem in a private mount namespace).
//!
//! Every command gets `--audit-log` in a temporary directory and a clean
//! environment. Logs are created without the append-only flag
//! (`AGENTJAIL_AUDIT_APPEND_ONLY=0`) so they can be tampered with and
//! removed, except in the test of the flag itself, which clears it again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use agentjail::audit::{self, AppendOnly, AuditLog, AuditRecord};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const REQUIRE_ENV: &str = "AGENTJAIL_REQUIRE_PRIVILEGED_TESTS";

struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `agentjail --audit-log LOG` with a clean environment.
    fn cmd(&self) -> Command {
        let mut c = self.bare_cmd();
        c.arg("--audit-log").arg(self.log());
        c
    }

    /// `agentjail` with a clean environment and no `--audit-log`.
    fn bare_cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agentjail"));
        for (k, _) in std::env::vars_os() {
            // The cgroup parent describes the host (an unprivileged caller's
            // delegated cgroup, see the README's set-up), not the test.
            if k.to_string_lossy().starts_with("AGENTJAIL_") && k != "AGENTJAIL_CGROUP_PARENT" {
                c.env_remove(k);
            }
        }
        let home = self.dir.path().join("home");
        c.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
            .env("AGENTJAIL_STATE_DIR", self.dir.path().join("state"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        Out(self.cmd().args(args).output().unwrap(), args.join(" "))
    }

    fn text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn records(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
            .collect()
    }

    fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_string).collect()
    }

    fn write_lines(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(self.log(), text).unwrap();
    }

    /// `n` records written through the library (fast), alternating events.
    fn fill(&self, n: usize) {
        let log = AuditLog::new(&self.log()).with_append_only_flag(AppendOnly::Never);
        for i in 0..n {
            let ev = if i % 2 == 0 {
                "decision"
            } else {
                "tool_result"
            };
            let mut r = AuditRecord::new(ev, "files_agent");
            r.tool = Some("echo_text".into());
            r.session_id = Some(format!("s{}", i % 3));
            r.risk_level = Some("read".into());
            r.decision = Some("allow".into());
            r.params = Some(serde_json::json!({"text": format!("record {i}")}));
            log.append(&r).unwrap();
        }
    }
}

struct Out(Output, String);

impl Out {
    fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    fn code_is(&self, code: i32) -> &Out {
        assert_eq!(
            self.code(),
            code,
            "agentjail {}\n--- stdout\n{}--- stderr\n{}",
            self.1,
            self.stdout(),
            self.stderr()
        );
        self
    }
}

fn skip_or_fail(why: &str) {
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{REQUIRE_ENV}=1 but this test would be skipped: {why}");
    }
    {
        use std::io::Write;
        // The handle, not eprintln!: libtest captures the macros of a passing test.
        let _ = writeln!(std::io::stderr(), "skipped: {why}");
    }
}

// --------------------------------------------------------------------------
// Concurrency
// --------------------------------------------------------------------------

#[test]
fn two_hundred_concurrent_launchers_keep_one_chain() {
    let env = Env::new();
    const CHECKS: usize = 200;
    const RUNS: usize = 20;
    let mut children = Vec::new();
    for i in 0..CHECKS {
        let mut c = env.cmd();
        c.args([
            "check",
            "--role",
            "files_agent",
            "--session",
            &format!("c{i}"),
            "echo_text",
            "--param",
            &format!("text=check {i}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        children.push(("check", c.spawn().unwrap()));
    }
    for i in 0..RUNS {
        let mut c = env.cmd();
        c.args([
            "run",
            "--role",
            "files_agent",
            "--session",
            &format!("r{i}"),
            "echo_text",
            "--param",
            &format!("text=run {i}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        children.push(("run", c.spawn().unwrap()));
    }
    let mut ran = 0;
    for (what, child) in children {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        match (what, out.status.code()) {
            ("check", Some(0)) => {}
            ("run", Some(0)) => ran += 1,
            // No sandbox on this host: the run still ends with two records.
            ("run", Some(125)) if err.contains("sandbox") => {}
            (w, c) => panic!("{w} exited {c:?}: {err}"),
        }
    }
    let lines = env.lines();
    assert_eq!(lines.len(), CHECKS + 2 * RUNS, "{}", env.text());
    let recs = env.records();
    let mut seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=(CHECKS + 2 * RUNS) as u64).collect::<Vec<_>>());
    let count = |ev: &str| recs.iter().filter(|r| r["event_type"] == ev).count();
    assert_eq!(count("decision"), CHECKS + RUNS);
    assert_eq!(count("tool_result"), ran);
    assert_eq!(count("tool_result") + count("error"), RUNS);
    for i in 0..CHECKS {
        let s = format!("c{i}");
        assert_eq!(
            recs.iter()
                .filter(|r| r["session_id"] == s.as_str())
                .count(),
            1,
            "session {s}"
        );
    }
    let out = env.run(&["audit", "verify"]);
    out.code_is(0);
    assert!(
        out.stdout()
            .starts_with(&format!("intact: {} records", CHECKS + 2 * RUNS)),
        "{}",
        out.stdout()
    );
}

// --------------------------------------------------------------------------
// verify, head
// --------------------------------------------------------------------------

#[test]
fn verify_prints_count_and_head_and_head_agrees() {
    let env = Env::new();
    env.run(&[
        "check",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=a",
    ])
    .code_is(0);
    env.fill(4);
    let head = env.run(&["audit", "head"]);
    head.code_is(0);
    let head = head.stdout().trim().to_string();
    let (seq, hash) = head.split_once(':').unwrap();
    assert_eq!(seq, "5");
    assert_eq!(hash.len(), 64);
    let last = env.records().pop().unwrap();
    assert_eq!(last["hash"], hash);

    let out = env.run(&["audit", "verify"]);
    out.code_is(0);
    assert_eq!(
        out.stdout(),
        format!("intact: 5 records (seq 1..5) in 1 file; head {head}\n")
    );
    env.run(&["audit", "verify", "--head", &head]).code_is(0);
    let log = env.log();
    let out = env.run(&["audit", "verify", "--format", "json", log.to_str().unwrap()]);
    out.code_is(0);
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["intact"], true);
    assert_eq!(v["records"], 5);
    assert_eq!(v["head"]["seq"], 5);
    assert_eq!(v["head"]["hash"], hash);
    let hv: Value =
        serde_json::from_str(&env.run(&["audit", "head", "--format", "json"]).stdout()).unwrap();
    assert_eq!(hv["seq"], 5);

    // The first record chains from the genesis; each from the one before.
    let recs = env.records();
    assert_eq!(recs[0]["prev"], audit::GENESIS);
    for w in recs.windows(2) {
        assert_eq!(w[1]["prev"], w[0]["hash"]);
    }
    // An empty log: zero records, the genesis head.
    let empty = Env::new();
    std::fs::write(empty.log(), "").unwrap();
    empty.run(&["audit", "verify"]).code_is(0);
    assert_eq!(
        empty.run(&["audit", "head"]).stdout().trim(),
        format!("0:{}", audit::GENESIS)
    );
    // Bad --head values are usage errors.
    env.run(&["audit", "verify", "--head", "5:xyz"]).code_is(64);
}

/// Replaces the first occurrence of `from` in `line` with `to`.
fn edit(line: &str, from: &str, to: &str) -> String {
    assert!(line.contains(from), "{from} not in {line}");
    line.replacen(from, to, 1)
}

#[test]
fn every_kind_of_tampering_is_found_on_the_right_line() {
    struct Case {
        name: &'static str,
        tamper: fn(&Env, Vec<String>) -> Vec<String>,
        /// (line, problem) expected in "broken: PATH line N (seq S): problem:"
        line: u64,
        problem: &'static str,
        extra_args: fn(&Env) -> Vec<String>,
    }
    fn none(_: &Env) -> Vec<String> {
        Vec::new()
    }
    let cases = [
        Case {
            name: "flip one byte",
            tamper: |_, mut l| {
                l[3] = edit(&l[3], "record 3", "record 8");
                l
            },
            line: 4,
            problem: "edited",
            extra_args: none,
        },
        Case {
            name: "flip a byte of the hash",
            tamper: |_, mut l| {
                let pos = l[2].len() - 5;
                let mut b = l[2].clone().into_bytes();
                b[pos] = if b[pos] == b'0' { b'1' } else { b'0' };
                l[2] = String::from_utf8(b).unwrap();
                l
            },
            line: 3,
            problem: "edited",
            extra_args: none,
        },
        Case {
            name: "flip a byte so the line is no JSON",
            tamper: |_, mut l| {
                l[4] = edit(&l[4], "{", "[");
                l
            },
            line: 5,
            problem: "not JSON",
            extra_args: none,
        },
        Case {
            name: "delete a line",
            tamper: |_, mut l| {
                l.remove(3);
                l
            },
            line: 4,
            problem: "deleted",
            extra_args: none,
        },
        Case {
            name: "delete the first line",
            tamper: |_, mut l| {
                l.remove(0);
                l
            },
            line: 1,
            problem: "deleted",
            extra_args: none,
        },
        Case {
            name: "insert a forged line",
            tamper: |_, mut l| {
                let forged = edit(&l[2], "record 2", "record 99");
                l.insert(3, forged);
                l
            },
            line: 4,
            problem: "inserted",
            extra_args: none,
        },
        Case {
            name: "insert a line that is no record",
            tamper: |_, mut l| {
                l.insert(2, r#"{"event_type":"decision","decision":"allow"}"#.into());
                l
            },
            line: 3,
            problem: "inserted",
            extra_args: none,
        },
        Case {
            name: "insert a correctly hashed forgery",
            tamper: |_, mut l| {
                // Seq 3 again, chained from record 2, hashed properly.
                let r: Value = serde_json::from_str(&l[1]).unwrap();
                let mut m = r.as_object().unwrap().clone();
                m.insert("tool".into(), "forged".into());
                let s = audit::seal(m, 3, r["hash"].as_str().unwrap());
                let line = String::from_utf8(s.line).unwrap();
                l.insert(2, line.trim_end().to_string());
                l
            },
            line: 3,
            problem: "inserted",
            extra_args: none,
        },
        Case {
            name: "replay an earlier line",
            tamper: |_, mut l| {
                let copy = l[1].clone();
                l.insert(6, copy);
                l
            },
            line: 7,
            problem: "inserted",
            extra_args: none,
        },
        Case {
            name: "edit a line and recompute its hash",
            tamper: |_, mut l| {
                let r: Value = serde_json::from_str(&l[3]).unwrap();
                let mut m = r.as_object().unwrap().clone();
                m.insert("decision".into(), "deny".into());
                let s = audit::seal(m, 4, r["prev"].as_str().unwrap());
                l[3] = String::from_utf8(s.line).unwrap().trim_end().to_string();
                l
            },
            line: 4,
            problem: "edited",
            extra_args: none,
        },
        Case {
            name: "swap two lines",
            tamper: |_, mut l| {
                l.swap(4, 5);
                l
            },
            line: 5,
            problem: "reordered",
            extra_args: none,
        },
        Case {
            name: "swap two distant lines",
            tamper: |_, mut l| {
                l.swap(1, 6);
                l
            },
            line: 2,
            problem: "reordered",
            extra_args: none,
        },
        Case {
            name: "truncate mid-line",
            tamper: |env, l| {
                let mut text = l.join("\n");
                text.truncate(text.len() - 30);
                std::fs::write(env.log(), text).unwrap();
                Vec::new()
            },
            line: 8,
            problem: "truncated",
            extra_args: none,
        },
        Case {
            name: "truncate the tail (caught with --head)",
            tamper: |env, mut l| {
                let last: Value = serde_json::from_str(l.last().unwrap()).unwrap();
                std::fs::write(
                    env.path("saved-head"),
                    format!("{}:{}", last["seq"], last["hash"].as_str().unwrap()),
                )
                .unwrap();
                l.truncate(5);
                l
            },
            line: 6,
            problem: "truncated",
            extra_args: |env| {
                vec![
                    "--head".into(),
                    std::fs::read_to_string(env.path("saved-head")).unwrap(),
                ]
            },
        },
    ];
    for case in cases {
        let env = Env::new();
        env.fill(8);
        env.run(&["audit", "verify"]).code_is(0);
        let tampered = (case.tamper)(&env, env.lines());
        if !tampered.is_empty() {
            env.write_lines(&tampered);
        }
        let extra = (case.extra_args)(&env);
        let mut args = vec!["audit", "verify"];
        args.extend(extra.iter().map(String::as_str));
        let out = env.run(&args);
        assert_eq!(
            out.code(),
            1,
            "{}: {}{}",
            case.name,
            out.stdout(),
            out.stderr()
        );
        let stdout = out.stdout();
        let want = format!("broken: {} line {}", env.log().display(), case.line);
        assert!(
            stdout.starts_with(&want),
            "{}: wanted {want:?}, got {stdout:?}",
            case.name
        );
        assert!(
            stdout.contains(&format!(": {}: ", case.problem)),
            "{}: wanted problem {:?}, got {stdout:?}",
            case.name,
            case.problem
        );
        // The JSON report names the same line and problem.
        args.extend(["--format", "json"]);
        let v: Value = serde_json::from_str(&env.run(&args).stdout()).unwrap();
        assert_eq!(v["intact"], false, "{}", case.name);
        assert_eq!(v["line"], case.line, "{}", case.name);
        assert_eq!(v["problem"], case.problem, "{}", case.name);
    }
}

#[test]
fn verify_follows_rotated_files_in_order() {
    let env = Env::new();
    env.fill(3);
    let old = env.path("audit.jsonl.1");
    std::fs::rename(env.log(), &old).unwrap();
    // The next writer starts a new file that continues the chain.
    env.run(&[
        "check",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=x",
    ])
    .code_is(0);
    let recs = env.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["seq"], 4);
    // No PATH: the rotated files first, then the log.
    let out = env.run(&["audit", "verify"]);
    out.code_is(0);
    assert!(
        out.stdout()
            .starts_with("intact: 4 records (seq 1..4) in 2 files"),
        "{}",
        out.stdout()
    );
    let (o, n) = (old.to_str().unwrap(), env.log());
    env.run(&["audit", "verify", o, n.to_str().unwrap()])
        .code_is(0);
    // The files in the wrong order.
    env.run(&["audit", "verify", n.to_str().unwrap(), o])
        .code_is(1);
    // The new file alone starts in the middle of the chain...
    let out = env.run(&["audit", "verify", n.to_str().unwrap()]);
    out.code_is(1);
    assert!(out.stdout().contains("--after 3:"), "{}", out.stdout());
    // ...which --after accepts.
    let last_old: Value = serde_json::from_str(
        std::fs::read_to_string(&old)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let after = format!("3:{}", last_old["hash"].as_str().unwrap());
    env.run(&["audit", "verify", "--after", &after, n.to_str().unwrap()])
        .code_is(0);
}

// --------------------------------------------------------------------------
// tail
// --------------------------------------------------------------------------

#[test]
fn tail_shows_filters_and_follows() {
    let env = Env::new();
    env.fill(9);
    let out = env.run(&["audit", "tail", "-n", "3"]);
    out.code_is(0);
    let lines: Vec<String> = out.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout());
    assert!(lines[0].contains("#7 decision"), "{}", lines[0]);
    assert!(lines[2].contains("#9 decision"), "{}", lines[2]);
    assert!(
        lines[0].contains("files_agent/echo_text [read] allow"),
        "{}",
        lines[0]
    );
    assert!(
        !out.stdout().contains('\u{1b}'),
        "colour without a terminal"
    );

    let out = env.run(&["audit", "tail", "--event", "tool_result", "--session", "s1"]);
    out.code_is(0);
    // Records 1..9: tool_result on even seqs, session s{(seq-1)%3}: seq 2 and 8.
    let stdout = out.stdout();
    let seqs: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(seqs, ["#2", "#8"], "{stdout}");

    let out = env.run(&[
        "audit",
        "tail",
        "--format",
        "json",
        "-n",
        "2",
        "--role",
        "files_agent",
    ]);
    out.code_is(0);
    let raw = env.lines();
    assert_eq!(out.stdout(), format!("{}\n{}\n", raw[7], raw[8]));
    env.run(&["audit", "tail", "--risk", "delete"]).code_is(0);
    assert_eq!(env.run(&["audit", "tail", "--risk", "delete"]).stdout(), "");
    env.run(&["audit", "tail", "--event", "nonsense"])
        .code_is(64);

    // -f prints records appended later.
    let mut child = env
        .cmd()
        .args(["audit", "tail", "-f", "-n", "0", "--format", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    env.fill(1);
    let got = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let got = got.expect("tail -f printed nothing");
    let v: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v["seq"], 10);
}

// --------------------------------------------------------------------------
// What records hold
// --------------------------------------------------------------------------

#[test]
fn secrets_stay_out_of_the_log() {
    let env = Env::new();
    let key = "AKIAIOSFODNN7EXAMPLE";
    env.run(&[
        "run",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        &format!("text={key}"),
    ]);
    env.run(&[
        "check",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=Authorization: Bearer abcdefgh12345678xyz",
    ]);
    let text = env.text();
    assert!(!text.is_empty());
    assert!(!text.contains(key), "{text}");
    assert!(!text.contains("abcdefgh12345678xyz"), "{text}");
    let recs = env.records();
    let token = audit::redact_token(key);
    assert_eq!(recs[0]["params"]["text"], token.as_str());
    assert_eq!(recs[0]["argv"][1], token.as_str());
    env.run(&["audit", "verify"]).code_is(0);
}

#[test]
fn result_records_hash_the_captured_output() {
    let env = Env::new();
    let out = env.run(&[
        "run",
        "--json",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=hello",
    ]);
    if out.code() == 125 {
        return skip_or_fail(&format!("no sandbox here: {}", out.stderr()));
    }
    out.code_is(0);
    env.run(&[
        "run",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=x",
    ])
    .code_is(0);
    let recs = env.records();
    let res: Vec<&Value> = recs
        .iter()
        .filter(|r| r["event_type"] == "tool_result")
        .collect();
    assert_eq!(res.len(), 2);
    assert_eq!(res[0]["stdout_sha256"], audit::sha256_hex(b"hello\n"));
    assert_eq!(res[0]["stdout_bytes"], 6);
    assert_eq!(res[0]["stderr_sha256"], audit::sha256_hex(b""));
    // Not captured: null.
    assert!(res[1]["stdout_sha256"].is_null(), "{}", res[1]);
    for r in &recs {
        for key in [
            "seq",
            "prev",
            "hash",
            "host",
            "pid",
            "uid",
            "log_append_only",
        ] {
            assert!(r.get(key).is_some(), "no {key}: {r}");
        }
    }
}

fn profiles_with_missing_program() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("roles")).unwrap();
    std::fs::write(
        dir.path().join("tools.toml"),
        "[tools.missing]\nrisk = \"read\"\ncommand = [\"no-such-program-xyz\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("roles/r.toml"),
        "description = \"t\"\nallowed_tools = [\"missing\"]\n",
    )
    .unwrap();
    dir
}

#[test]
fn a_failure_after_the_decision_is_an_error_record_and_alerts() {
    let env = Env::new();
    let p = profiles_with_missing_program();
    let got = env.path("alert.json");
    let alert = format!("cat > {}", got.display());
    env.run(&[
        "--profiles",
        p.path().to_str().unwrap(),
        "--alert-command",
        &alert,
        "run",
        "--role",
        "r",
        "missing",
    ])
    .code_is(127);
    let recs = env.records();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0]["event_type"], "decision");
    assert_eq!(recs[1]["event_type"], "error");
    assert_eq!(recs[1]["decision_id"], recs[0]["id"]);
    assert_eq!(recs[1]["exit_code"], 127);
    assert!(
        recs[1]["error"]
            .as_str()
            .unwrap()
            .contains("no-such-program-xyz"),
        "{}",
        recs[1]
    );
    let alerted: Value = serde_json::from_slice(&std::fs::read(&got).unwrap()).unwrap();
    assert_eq!(alerted, recs[1]);
}

// --------------------------------------------------------------------------
// Alerts
// --------------------------------------------------------------------------

#[test]
fn alerts_fire_for_risky_and_critical_records_with_the_record_on_stdin() {
    let env = Env::new();
    let got = env.path("alerts");
    let cmd = format!(
        "{{ cat; echo \"reason=$AGENTJAIL_ALERT_REASON seq=$AGENTJAIL_AUDIT_SEQ\"; }} >> {}",
        got.display()
    );
    let victim = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let dir_arg = format!("dir={}", victim.path().display());
    // A delete-class call (needs approval): alert.
    env.run(&[
        "--alert-command",
        &cmd,
        "run",
        "--role",
        "files_agent",
        "delete_file",
        "--param",
        &dir_arg,
        "--param",
        "name=x",
    ])
    .code_is(75);
    // A read call: none. Its dry run of a delete call: none.
    let mut c = env.cmd();
    c.env("AGENTJAIL_ALERT_COMMAND", &cmd).args([
        "check",
        "--role",
        "files_agent",
        "delete_file",
        "--param",
        &dir_arg,
        "--param",
        "name=x",
    ]);
    assert_eq!(c.output().unwrap().status.code(), Some(75));
    // A critical denial (suspicious value), through the environment.
    let mut c = env.cmd();
    c.env("AGENTJAIL_ALERT_COMMAND", &cmd).args([
        "check",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=x; rm -rf /",
    ]);
    assert_eq!(c.output().unwrap().status.code(), Some(77));
    let text = std::fs::read_to_string(&got).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["risk_level"], "delete");
    assert_eq!(first["seq"], 1);
    assert_eq!(lines[1], "reason=risk delete seq=1");
    let crit: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(crit["severity"], "critical");
    assert_eq!(lines[3], "reason=critical seq=3");
    // What the alert got is exactly the stored line.
    assert_eq!(lines[0], env.lines()[0]);
    env.run(&["audit", "verify"]).code_is(0);
}

#[test]
fn a_failing_or_hanging_alert_is_audited_and_bounded() {
    let env = Env::new();
    let deny = [
        "check",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=$(id)",
    ];
    let mut args = vec!["--alert-command", "exit 3"];
    args.extend(deny);
    env.run(&args).code_is(77);
    let recs = env.records();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[1]["event_type"], "error");
    assert_eq!(recs[1]["alert_failed"]["seq"], 1);
    assert_eq!(recs[1]["alert_failed"]["hash"], recs[0]["hash"]);
    assert_eq!(recs[1]["alert_failed"]["cause"], "exit status 3");

    let mut c = env.cmd();
    c.env("AGENTJAIL_ALERT_TIMEOUT", "300ms")
        .args(["--alert-command", "sleep 30"])
        .args(deny);
    let start = Instant::now();
    assert_eq!(c.output().unwrap().status.code(), Some(77));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let recs = env.records();
    assert_eq!(recs.len(), 4);
    assert!(
        recs[3]["alert_failed"]["cause"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 300ms"),
        "{}",
        recs[3]
    );
    // A command that cannot run at all.
    let mut args = vec!["--alert-command", "/nonexistent/alerter"];
    args.extend(deny);
    env.run(&args).code_is(77);
    let recs = env.records();
    assert_eq!(recs.len(), 6);
    assert_eq!(recs[5]["alert_failed"]["cause"], "exit status 127");
    env.run(&["audit", "verify"]).code_is(0);
}

// --------------------------------------------------------------------------
// Fail closed
// --------------------------------------------------------------------------

#[test]
fn a_held_lock_times_out_and_the_tool_does_not_run() {
    let env = Env::new();
    env.fill(1);
    let f = std::fs::File::open(env.log()).unwrap();
    let f = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let start = Instant::now();
    let out = Out(
        env.cmd()
            .env("AGENTJAIL_AUDIT_LOCK_TIMEOUT", "500ms")
            .args([
                "run",
                "--role",
                "files_agent",
                "echo_text",
                "--param",
                "text=ran",
            ])
            .output()
            .unwrap(),
        "run (lock held)".into(),
    );
    out.code_is(125);
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert_eq!(out.stdout(), "");
    assert!(
        out.stderr()
            .starts_with("agentjail: writing the audit record; the tool was not run: lock timeout"),
        "{}",
        out.stderr()
    );
    drop(f);
    env.run(&[
        "run",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=ran",
    ]);
    assert!(env.records().len() >= 2);
}

#[test]
fn a_damaged_log_is_not_extended() {
    // A cut last line no longer stops the log (see tests/audit_damage.rs):
    // it is mended. Only a log that holds no chained record is refused.
    let env = Env::new();
    env.fill(2);
    let mut text = env.text();
    text.push_str("{\"seq\":3,\"cut");
    std::fs::write(env.log(), &text).unwrap();
    env.run(&[
        "run",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=ran",
    ])
    .code_is(0);
    assert!(env.text().starts_with(&text), "the damage was rewritten");
    let recs: Vec<Value> = env.lines()[3..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs[0]["event_type"], "recovered");
    assert_eq!(recs[0]["seq"], 3);
    env.run(&["audit", "verify"]).code_is(2);
    // An old, unchained log.
    std::fs::write(env.log(), "{\"event_type\":\"decision\"}\n").unwrap();
    let out = env.run(&[
        "check",
        "--role",
        "files_agent",
        "echo_text",
        "--param",
        "text=x",
    ]);
    out.code_is(125);
    assert!(
        out.stderr().contains("not a chained audit record"),
        "{}",
        out.stderr()
    );
}

/// Runs `script` as root in a private mount namespace; `None` when that is
/// not possible here.
fn in_private_mount_ns(script: &str) -> Option<Output> {
    let root = nix::unistd::geteuid().is_root();
    let mut c = Command::new("unshare");
    if root {
        c.arg("-m");
    } else {
        c.args(["-r", "-m"]);
    }
    let probe = c
        .args(["--propagation", "private", "sh", "-c", "true"])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let mut c = Command::new("unshare");
    if !root {
        c.arg("-r");
    }
    Some(
        c.args(["-m", "--propagation", "private", "sh", "-ec", script])
            .output()
            .unwrap(),
    )
}

#[test]
fn a_full_or_read_only_filesystem_stops_the_run_with_125() {
    let env = Env::new();
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let marker_dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let bin = env!("CARGO_BIN_EXE_agentjail");
    let m = mnt.display();
    let md = marker_dir.path().display();
    // Inside the namespace only: a 16k tmpfs over a directory of this test.
    let script = format!(
        r#"
export AGENTJAIL_AUDIT_APPEND_ONLY=0 HOME={home} NO_COLOR=1 AGENTJAIL_STATE_DIR={home}/state
unset AGENTJAIL_AUDIT_LOG AGENTJAIL_PROFILES AGENTJAIL_ROLE AGENTJAIL_ALERT_COMMAND
mount -t tmpfs -o size=16k,mode=0700 agentjail-test {m}
aj() {{ {bin} --audit-log {m}/audit.jsonl "$@"; }}
aj check --role files_agent echo_text --param text=before >/dev/null
dd if=/dev/zero of={m}/fill bs=1k count=64 2>/dev/null || true
# Fill the log's last page too: append until a record no longer fits.
i=0
while aj check --role files_agent echo_text --param text=fill$i >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 50 ] || exit 3
done
set +e
aj run --role files_agent touch_file --param dir={md} --param name=full >{m}.out 2>&1
echo "full=$?"
cat {m}.out >&2
aj audit verify
# The explicit form: `mount -o remount,ro DIR` fails in an unprivileged user namespace.
mount -t tmpfs -o remount,ro,size=16k,mode=0700 agentjail-test {m}
aj run --role files_agent touch_file --param dir={md} --param name=ro 2>&1 >/dev/null
echo "ro=$?"
"#,
        home = env.dir.path().display()
    );
    let Some(out) = in_private_mount_ns(&script) else {
        return skip_or_fail("cannot make a private mount namespace (unshare -m)");
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ctx = format!("--- stdout\n{stdout}--- stderr\n{stderr}");
    assert!(out.status.success(), "{ctx}");
    assert!(stdout.contains("full=125"), "{ctx}");
    assert!(
        stderr.contains("the tool was not run") && stderr.contains("No space left on device"),
        "{ctx}"
    );
    // The records written before the disk filled are intact, nothing half-written.
    assert!(stdout.contains("intact: "), "{ctx}");
    assert!(stdout.contains("ro=125"), "{ctx}");
    assert!(stdout.contains("Read-only file system"), "{ctx}");
    assert!(!marker_dir.path().join("full").exists(), "the tool ran");
    assert!(!marker_dir.path().join("ro").exists(), "the tool ran");
    // Nothing was mounted here.
    assert!(std::fs::read_dir(&mnt).unwrap().next().is_none());
}

/// Clears the append-only flag of a log when dropped, so it can be removed.
struct ClearFlag(PathBuf);

impl Drop for ClearFlag {
    fn drop(&mut self) {
        if let Ok(f) = std::fs::File::open(&self.0) {
            let _ = audit::clear_append_only(&f);
        }
    }
}

/// Runs `check` as root with `AGENTJAIL_AUDIT_APPEND_ONLY` set to `mode`
/// (or unset) on `log`; whether the log has the flag afterwards.
fn check_flag(env: &Env, log: &Path, mode: Option<&str>) -> (bool, ClearFlag) {
    let mut c = env.bare_cmd();
    c.env_remove("AGENTJAIL_AUDIT_APPEND_ONLY");
    if let Some(m) = mode {
        c.env("AGENTJAIL_AUDIT_APPEND_ONLY", m);
    }
    let out = Out(
        c.arg("--audit-log")
            .arg(log)
            .args([
                "check",
                "--role",
                "files_agent",
                "echo_text",
                "--param",
                "text=x",
            ])
            .output()
            .unwrap(),
        format!("check on {}", log.display()),
    );
    let clear = ClearFlag(log.to_path_buf());
    out.code_is(0);
    let flagged = audit::is_append_only(&std::fs::File::open(log).unwrap());
    let text = std::fs::read_to_string(log).unwrap();
    let rec: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(rec["log_append_only"], flagged, "{rec}");
    (flagged, clear)
}

#[test]
fn root_sets_the_append_only_flag_on_a_new_log() {
    if !nix::unistd::geteuid().is_root() {
        return skip_or_fail("not root: the append-only flag needs CAP_LINUX_IMMUTABLE");
    }
    let env = Env::new();
    // In a temporary directory only when asked for.
    let (flagged, _c1) = check_flag(&env, &env.path("auto.jsonl"), None);
    assert!(!flagged, "a log in the temporary directory got the flag");
    let (flagged, _c2) = check_flag(&env, &env.path("never.jsonl"), Some("0"));
    assert!(!flagged);
    let forced = env.path("forced.jsonl");
    let (flagged, _c3) = check_flag(&env, &forced, Some("1"));
    if !flagged {
        return skip_or_fail("this filesystem does not support the append-only flag");
    }
    // Appending still works; rewriting does not.
    let (still, _c4) = check_flag(&env, &forced, None);
    assert!(still);
    assert!(std::fs::write(&forced, "x").is_err());
    let verified = env
        .bare_cmd()
        .arg("--audit-log")
        .arg(&forced)
        .args(["audit", "verify"])
        .status()
        .unwrap();
    assert!(verified.success());
    // Outside the temporary directories, by default.
    let in_tmp = |p: &std::path::Path| {
        ["/tmp", "/var/tmp", "/dev/shm"]
            .iter()
            .chain([std::env::temp_dir().to_str().unwrap_or("/tmp")].iter())
            .any(|t| {
                let t = std::fs::canonicalize(t).unwrap_or_default();
                p.canonicalize().unwrap().starts_with(t)
            })
    };
    // The target directory, or /var/cache when the checkout lies in /tmp.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let parent = if in_tmp(target) {
        std::path::Path::new("/var/cache")
    } else {
        target
    };
    let outside = tempfile::tempdir_in(parent).unwrap();
    assert!(!in_tmp(outside.path()), "{}", outside.path().display());
    let (flagged, _c5) = check_flag(&env, &outside.path().join("audit.jsonl"), None);
    assert!(
        flagged,
        "a new log outside the temporary directories lacks the flag"
    );
}

#[test]
fn a_user_log_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let log = env.path("deep/er/audit.jsonl");
    let out = Out(
        env.bare_cmd()
            .args(["--audit-log", log.to_str().unwrap()])
            .args([
                "check",
                "--role",
                "files_agent",
                "echo_text",
                "--param",
                "text=x",
            ])
            .output()
            .unwrap(),
        "check".into(),
    );
    out.code_is(0);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&log), 0o600);
    assert_eq!(mode(log.parent().unwrap()), 0o700);
    assert_eq!(mode(log.parent().unwrap().parent().unwrap()), 0o700);
}

/// A shared object that makes every `fdatasync` fail with EIO, for
/// LD_PRELOAD: the launcher's real sync fails, nothing in agentjail is faked.
fn failing_sync_shim(env: &Env) -> Option<PathBuf> {
    // The flag `/` always exists: every sync fails.
    common::flagged_sync_failure(&env.path(""), Path::new("/"))
}

/// The result record is synced on a thread while the sandbox ends: a sync
/// that fails there still fails the run (125, one line), and the line is
/// taken back, so no result record claims what was not made durable. The
/// shim fails `fdatasync` once the tool has made its flag file, so the
/// decision record before it was synced for real.
#[test]
fn a_failing_sync_of_the_result_record_fails_the_run() {
    let env = Env::new();
    let marker_dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(marker_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let flag = marker_dir.path().join("fail-syncs");
    let Some(so) = common::flagged_sync_failure(&env.path(""), &flag) else {
        return skip_or_fail("no C compiler (cc) to build an fdatasync shim");
    };
    let md = marker_dir.path().display().to_string();
    let touch = |name: &str, what: &str| {
        Out(
            env.cmd()
                .env("LD_PRELOAD", &so)
                .args(["run", "--role", "files_agent", "touch_file", "--param"])
                .arg(format!("dir={md}"))
                .args(["--param", &format!("name={name}")])
                .output()
                .unwrap(),
            what.into(),
        )
    };
    let out = touch("fail-syncs", "run (the result's fdatasync fails)");
    assert!(flag.exists(), "the tool did not run: {}", out.stderr());
    out.code_is(125);
    let err = out.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("syncing") && err.contains("Input/output error"),
        "{err}"
    );
    let records = env.records();
    assert!(
        records.iter().any(|r| r["event_type"] == "decision"),
        "{}",
        env.text()
    );
    assert!(
        records.iter().all(|r| r["event_type"] != "tool_result"),
        "an unsynced result record was left: {}",
        env.text()
    );
    // Without the flag the same call runs and its result is recorded.
    std::fs::remove_file(&flag).unwrap();
    let ok = touch("other", "run (syncs work)");
    ok.code_is(0);
    assert!(
        env.records()
            .iter()
            .any(|r| r["event_type"] == "tool_result"),
        "{}",
        env.text()
    );
}
#[test]
fn a_failing_sync_of_the_decision_record_stops_the_run_before_exec() {
    let env = Env::new();
    let Some(shim) = failing_sync_shim(&env) else {
        return skip_or_fail("no C compiler (cc) to build an fdatasync shim");
    };
    let marker_dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    // The sandbox's user may create the marker.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(marker_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let md = marker_dir.path().display().to_string();
    let out = Out(
        env.cmd()
            .env("LD_PRELOAD", &shim)
            .args(["run", "--role", "files_agent", "touch_file", "--param"])
            .arg(format!("dir={md}"))
            .args(["--param", "name=synced"])
            .output()
            .unwrap(),
        "run (fdatasync fails)".into(),
    );
    out.code_is(125);
    assert_eq!(out.stdout(), "");
    let err = out.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("agentjail: writing the audit record; the tool was not run: syncing")
            && err.contains("Input/output error"),
        "{err}"
    );
    assert!(!marker_dir.path().join("synced").exists(), "the tool ran");
    // The unsynced line was taken back: no decision record claims a run.
    assert!(
        env.records().iter().all(|r| r["event_type"] != "decision"),
        "{}",
        env.text()
    );
    // Without the shim the same call runs, so the test can fail.
    let ok = env.run(&[
        "run",
        "--role",
        "files_agent",
        "touch_file",
        "--param",
        &format!("dir={md}"),
        "--param",
        "name=synced",
    ]);
    ok.code_is(0);
    assert!(marker_dir.path().join("synced").exists());
}
