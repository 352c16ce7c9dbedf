//! Egress allow-lists end to end: curl inside the sandbox reaches a test
//! server on the host's loopback only through agentjail's proxy, only where
//! the role allows it. All traffic stays on 127.0.0.0/8.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
const TEST_UID: u32 = 64200;
const BODY: &str = "hello-from-the-host";

mod common;

/// Prints `skipped: why` (a failure when privileged tests are required).
fn skip(why: &str) -> bool {
    common::skip(why);
    true
}

/// A minimal HTTP server on 127.0.0.1 answering every request with BODY.
fn serve() -> u16 {
    serve_counted().0
}

/// [`serve`], and the number of connections it accepted.
fn serve_counted() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
            });
        }
    });
    (port, hits)
}

/// Profiles with a curl tool and roles built from `roles` (name, sandbox table).
fn profiles(roles: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("roles")).unwrap();
    fs::write(
        dir.path().join("tools.toml"),
        r#"[tools.curl]
risk = "read"
command = ["curl", "--silent", "--show-error", "--fail", "--max-time", "10", "{url}"]
params.url = { type = "string" }
extra_args = { pattern = "[A-Za-z0-9:/._*=-]+", max = 6 }

[tools.sh]
risk = "read"
command = ["/bin/sh", "-c", "{script}"]
params.script = { type = "string" }
"#,
    )
    .unwrap();
    for (name, sandbox) in roles {
        fs::write(
            dir.path().join(format!("roles/{name}.toml")),
            format!(
                "allowed_tools = [\"curl\", \"sh\"]\n[limits]\ntimeout_seconds = 60\n[screening]\n\
                 injection_patterns = []\nsuspicious_values = []\nsuspicious_patterns = []\n\
                 [sandbox]\noptional = [\"cgroup\"]\n{sandbox}\n"
            ),
        )
        .unwrap();
    }
    fs::create_dir(dir.path().join("log")).unwrap();
    for p in [dir.path().to_path_buf(), dir.path().join("roles")] {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // For the unprivileged mode, which only root can switch to.
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(
            &dir.path().join("log"),
            Some(nix::unistd::Uid::from_raw(TEST_UID)),
            None,
        )
        .unwrap();
    }
    dir
}

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

fn run(dir: &Path, as_user: bool, role: &str, url: &str, extra: &[&str]) -> Run {
    let mut cmd = if as_user {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={TEST_UID}"),
            &format!("--regid={TEST_UID}"),
            "--clear-groups",
            BIN,
        ]);
        c
    } else {
        Command::new(BIN)
    };
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.join("log"))
        .arg("--profiles")
        .arg(dir)
        .arg("--audit-log")
        // One log per identity: each is private to the user who writes it.
        .arg(dir.join(if as_user {
            "log/audit-user.jsonl"
        } else {
            "log/audit.jsonl"
        }))
        .args(["run", "--json", "--role", role, "curl", "--param"])
        .arg(format!("url={url}"));
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ready() -> bool {
    if !Path::new("/usr/bin/curl").exists() {
        return !skip("curl is not installed");
    }
    if !nix::unistd::geteuid().is_root() {
        return !skip("not root: the unprivileged mode needs setpriv as root");
    }
    true
}

/// The run reached the sandbox: anything else means the probe never ran.
fn sandboxed(r: &Run) {
    assert_ne!(r.code, 125, "sandbox not built: {}", r.stderr);
    assert!(
        r.json["confinement"]["seccomp"] == true,
        "no confinement: {}",
        r.json
    );
}

fn network_events(dir: &Path) -> Vec<Value> {
    ["log/audit.jsonl", "log/audit-user.jsonl"]
        .iter()
        .flat_map(|f| {
            fs::read_to_string(dir.join(f))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .filter(|v| v["event_type"] == "network")
        .collect()
}

#[test]
fn an_allowed_destination_is_reached_through_the_proxy_and_nothing_else() {
    if !ready() {
        return;
    }
    let port = serve();
    let other = serve();
    let allowed = format!("egress = [\"127.0.0.1:{port}\"]");
    let dir = profiles(&[("web", allowed), ("offline", String::new())]);
    let url = format!("http://127.0.0.1:{port}/");
    for as_user in [false, true] {
        // Plain HTTP forwarding (curl reads HTTP_PROXY).
        let r = run(dir.path(), as_user, "web", &url, &[]);
        sandboxed(&r);
        assert_eq!(r.code, 0, "user={as_user}: {}", r.json);
        assert_eq!(r.json["stdout"], BODY, "user={as_user}");
        // HTTP CONNECT.
        let r = run(dir.path(), as_user, "web", &url, &["--proxytunnel"]);
        assert_eq!(r.json["stdout"], BODY, "user={as_user} CONNECT: {}", r.json);
        // SOCKS5 with remote DNS.
        let r = run(
            dir.path(),
            as_user,
            "web",
            &url,
            &["--proxy", "socks5h://127.0.0.1:3128"],
        );
        assert_eq!(r.json["stdout"], BODY, "user={as_user} SOCKS5: {}", r.json);
        // Another port, and another loopback address: refused by the proxy.
        for bad in [
            format!("http://127.0.0.1:{other}/"),
            format!("http://127.0.0.2:{port}/"),
        ] {
            let r = run(dir.path(), as_user, "web", &bad, &[]);
            sandboxed(&r);
            assert_ne!(r.code, 0, "user={as_user}: {bad} was reached: {}", r.json);
            assert!(!r.json["stdout"].as_str().unwrap_or("").contains(BODY));
        }
        // Bypassing the proxy: a direct TCP connect goes nowhere.
        let r = run(dir.path(), as_user, "web", &url, &["--noproxy", "*"]);
        sandboxed(&r);
        assert_ne!(
            r.code, 0,
            "user={as_user}: direct connect worked: {}",
            r.json
        );
        // A role without egress gets no connection at all, proxy or not.
        for extra in [&[][..], &["--proxy", "http://127.0.0.1:3128"][..]] {
            let r = run(dir.path(), as_user, "offline", &url, extra);
            sandboxed(&r);
            assert_ne!(
                r.code, 0,
                "user={as_user}: offline role connected: {}",
                r.json
            );
        }
    }
    // A call's connection records come before its result record: a role
    // with egress writes the result only once its proxy has stopped (the
    // calls here run one after the other, so a network record between a
    // result and the next decision would be the earlier call's).
    let all = records(dir.path());
    let mut after_result = false;
    for r in &all {
        match r["event_type"].as_str() {
            Some("tool_result") => after_result = true,
            Some("decision") => after_result = false,
            Some("network") => assert!(!after_result, "a network record after its result: {r}"),
            _ => {}
        }
    }
    // Every attempt is audited, with bytes counted for the allowed ones.
    let events: Vec<Value> = network_events(dir.path())
        .into_iter()
        .filter(|e| e["stage"] == "end")
        .collect();
    let allowed: Vec<&Value> = events.iter().filter(|e| e["allowed"] == true).collect();
    let denied: Vec<&Value> = events.iter().filter(|e| e["allowed"] == false).collect();
    assert!(allowed.len() >= 6, "allowed events: {events:?}");
    assert!(denied.len() >= 4, "denied events: {events:?}");
    for e in &allowed {
        assert!(e["bytes_down"].as_u64().unwrap_or(0) > 0, "{e}");
        assert!(e["bytes_up"].as_u64().unwrap_or(0) > 0, "{e}");
    }
    let protocols: std::collections::BTreeSet<&str> = allowed
        .iter()
        .filter_map(|e| e["protocol"].as_str())
        .collect();
    assert!(
        ["http", "http-connect", "socks5"]
            .iter()
            .all(|p| protocols.contains(p)),
        "{protocols:?}"
    );
}

#[test]
fn a_name_that_resolves_to_loopback_is_refused_but_the_address_entry_is_allowed() {
    if !ready() {
        return;
    }
    let port = serve();
    let dir = profiles(&[
        ("by_name", format!("egress = [\"localhost:{port}\"]")),
        ("by_addr", format!("egress = [\"127.0.0.1:{port}\"]")),
    ]);
    let r = run(
        dir.path(),
        false,
        "by_name",
        &format!("http://localhost:{port}/"),
        &[],
    );
    sandboxed(&r);
    assert_ne!(r.code, 0, "localhost was reached: {}", r.json);
    let events = network_events(dir.path());
    let e = events.last().unwrap();
    assert_eq!(e["allowed"], false, "{e}");
    assert!(
        e["reason"].as_str().unwrap_or("").contains("loopback"),
        "the refusal does not name the address range: {e}"
    );
    let r = run(
        dir.path(),
        false,
        "by_addr",
        &format!("http://127.0.0.1:{port}/"),
        &[],
    );
    assert_eq!(r.json["stdout"], BODY, "{}", r.json);
}

#[test]
fn check_shows_the_egress_rules_and_validate_rejects_bad_ones() {
    let dir = profiles(&[(
        "web",
        "egress = [\"api.example.com:443\", \"10.0.0.0/8:5432\"]".into(),
    )]);
    let out = Command::new(BIN)
        .arg("--profiles")
        .arg(dir.path())
        .arg("--audit-log")
        .arg(dir.path().join("log/a.jsonl"))
        .args([
            "check",
            "--format",
            "json",
            "--role",
            "web",
            "curl",
            "--param",
            "url=https://api.example.com/",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["sandbox"]["egress"],
        serde_json::json!(["api.example.com:443", "10.0.0.0/8:5432"])
    );
    let bad = profiles(&[("web", "egress = [\"no-port.example.com\"]".into())]);
    let out = Command::new(BIN)
        .args(["profiles", "validate"])
        .arg(bad.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sandbox.egress") && err.contains("no-port.example.com"),
        "{err}"
    );
}

/// `run --json --role ROLE sh --param script=SCRIPT` as root, with `env`.
fn run_sh(dir: &Path, role: &str, script: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.join("log"))
        .envs(env.iter().copied())
        .arg("--profiles")
        .arg(dir)
        .arg("--audit-log")
        .arg(dir.join("log/audit.jsonl"))
        .args(["run", "--json", "--role", role, "sh", "--param"])
        .arg(format!("script={script}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn records(dir: &Path) -> Vec<Value> {
    fs::read_to_string(dir.join("log/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

#[test]
fn unrecordable_connection_is_refused() {
    if !ready() {
        return;
    }
    let (port, hits) = serve_counted();
    let sync = tempfile::tempdir().unwrap();
    fs::set_permissions(sync.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let x = sync.path().display();
    let dir = profiles(&[(
        "web",
        format!("egress = [\"127.0.0.1:{port}\"]\nbinds = [{{ source = \"{x}\", mode = \"rw\" }}]"),
    )]);
    // The tool says when it runs, waits until the test holds the log's
    // lock, makes two requests and says when they are done.
    let script = format!(
        "echo > {x}/ready; while [ ! -e {x}/go ]; do sleep 0.05; done; \
         for p in a b; do curl -s -o /dev/null -w '%{{http_code}} ' --max-time 20 \
         http://127.0.0.1:{port}/$p; done; echo > {x}/done"
    );
    let child = run_sh(
        dir.path(),
        "web",
        &script,
        &[("AGENTJAIL_AUDIT_LOCK_TIMEOUT", "300ms")],
    )
    .spawn()
    .unwrap();
    assert!(
        common::poll_until(Duration::from_secs(30), || sync
            .path()
            .join("ready")
            .exists()),
        "the tool never started"
    );
    let log = fs::File::open(dir.path().join("log/audit.jsonl")).unwrap();
    let held = nix::fcntl::Flock::lock(log, nix::fcntl::FlockArg::LockExclusive).unwrap();
    fs::write(sync.path().join("go"), "").unwrap();
    let done = common::poll_until(Duration::from_secs(60), || {
        sync.path().join("done").exists()
    });
    drop(held);
    let out = child.wait_with_output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(done, "the tool never finished: {json} {stderr}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request reached the upstream while its connection could not be recorded: {json}"
    );
    assert_eq!(json["stdout"], "503 503 ", "{json} {stderr}");
    assert!(
        stderr.contains("could not be audited") && stderr.contains("lock timeout"),
        "{stderr}"
    );
    // Once the lock is free, the refusals are on record.
    let refused: u64 = records(dir.path())
        .iter()
        .filter(|r| r["event_type"] == "network")
        .filter_map(|r| r["coalesced"]["refused"].as_u64())
        .sum();
    assert_eq!(refused, 2, "{:?}", records(dir.path()));
}

#[test]
fn connection_records_are_rate_limited() {
    if !ready() {
        return;
    }
    let port = serve();
    let dir = profiles(&[("web", format!("egress = [\"127.0.0.1:{port}\"]"))]);
    // A thousand attempts as fast as curl makes them, each refused (another
    // loopback address), each through the proxy.
    const ATTEMPTS: u64 = 1000;
    let started = Instant::now();
    let r = run(
        dir.path(),
        false,
        "web",
        &format!("http://127.0.0.2:{port}/[1-{ATTEMPTS}]"),
        &["--output", "/dev/null"],
    );
    let elapsed = started.elapsed().as_secs_f64();
    sandboxed(&r);
    let all = records(dir.path());
    let decision = all.iter().find(|r| r["event_type"] == "decision").unwrap();
    let network: Vec<&Value> = all
        .iter()
        .filter(|r| r["event_type"] == "network")
        .collect();
    let single = network.iter().filter(|r| r["coalesced"].is_null()).count() as u64;
    let counted: u64 = network
        .iter()
        .filter_map(|r| r["coalesced"]["events"].as_u64())
        .sum();
    assert_eq!(single + counted, ATTEMPTS, "every attempt is accounted for");
    assert!(counted > 0, "nothing was coalesced in {elapsed:.1}s");
    // The bound: 128 at once, then 32 a second, plus the closing summary.
    let bound = 128.0 + 32.0 * (elapsed + 1.0) + 2.0;
    assert!(
        (network.len() as f64) <= bound,
        "{} network records in {elapsed:.1}s",
        network.len()
    );
    for n in &network {
        assert_eq!(n["decision_id"], decision["id"], "{n}");
        assert!(n["params"].is_null(), "parameters repeated: {n}");
    }
    let note = network
        .iter()
        .find_map(|r| r["coalesced"]["note"].as_str())
        .unwrap();
    assert!(note.contains("rate limited"), "{note}");
}
