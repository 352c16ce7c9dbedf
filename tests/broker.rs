//! `agentjail serve` with real uids: the broker runs as root (this test)
//! with its profiles, state and log in a directory only root can enter;
//! the agent (uid 64010) and the approver (uid 64011) are clients run with
//! `setpriv`. They need no passwd entry: the configuration names numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;

use agentjail::serve::protocol::{self, Response};
use broker_support::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

#[test]
fn broker_owns_policy_state_and_log() {
    if !can_run() {
        return;
    }
    let b = Broker::start(8);
    // A first call makes the state directory and the log.
    let o = b.run(
        AGENT,
        &[
            "run",
            "--role",
            "agent_role",
            "echo_text",
            "--param",
            "text=hello",
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
    assert_eq!(text(&o.stdout), "hello\n");

    // The agent's uid can neither read nor write the log, the state or the profiles.
    let home = b.home(AGENT);
    let tries: Vec<Vec<String>> = vec![
        vec!["cat".into(), b.log().display().to_string()],
        vec![
            "sh".into(),
            "-c".into(),
            format!("echo x >> {}", b.log().display()),
        ],
        vec![
            "truncate".into(),
            "-s0".into(),
            b.log().display().to_string(),
        ],
        vec!["ls".into(), b.state().display().to_string()],
        vec!["touch".into(), b.state().join("x").display().to_string()],
        vec!["rm".into(), "-rf".into(), b.state().display().to_string()],
        vec![
            "cat".into(),
            b.profiles().join("tools.toml").display().to_string(),
        ],
        vec![
            "sh".into(),
            "-c".into(),
            format!(
                "echo x > {}",
                b.profiles().join("roles/mine.toml").display()
            ),
        ],
    ];
    let before = b.log_text();
    for t in &tries {
        let o = as_uid(AGENT, &home).args(t).output().unwrap();
        assert!(!o.status.success(), "{t:?} succeeded as the agent's uid");
    }
    assert_eq!(b.log_text(), before, "the log changed");
    assert!(b.state().is_dir() && b.profiles().join("tools.toml").is_file());

    // Streaming: the same bytes through the broker as in-process.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let via_broker = pipe_through(
        b.client(AGENT, &["run", "--role", "agent_role", "cat_stdin"]),
        data.clone(),
    );
    assert_eq!(code(&via_broker), 0, "{}", text(&via_broker.stderr));
    let mut local = Command::new(BIN);
    local
        .arg("--profiles")
        .arg(b.profiles())
        .arg("--state-dir")
        .arg(b.root.join("local-state"))
        .arg("--audit-log")
        .arg(b.root.join("local-audit.jsonl"))
        .args(["run", "--role", "agent_role", "cat_stdin"]);
    let in_process = pipe_through(local, data.clone());
    assert_eq!(code(&in_process), 0, "{}", text(&in_process.stderr));
    assert!(via_broker.stdout == in_process.stdout && via_broker.stdout == data);

    // --json through the broker: one object on stdout, as in-process.
    let o = b.run(
        AGENT,
        &[
            "run",
            "--json",
            "--role",
            "agent_role",
            "echo_text",
            "--param",
            "text=hi",
        ],
    );
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stdout"], "hi\n");
    assert_eq!(v["verdict_by"], "tool");

    // A role the agent is not mapped to: 77, naming the mapping.
    let o = b.run(
        AGENT,
        &[
            "run",
            "--role",
            "other_role",
            "echo_text",
            "--param",
            "text=x",
        ],
    );
    assert_eq!(code(&o), 77);
    let err = text(&o.stderr);
    assert!(
        err.contains("may not use role `other_role`")
            && err.contains("[[callers]] uid = 64010 (roles agent_role)"),
        "{err}"
    );
    // The approver's uid is no caller at all.
    let o = b.run(
        APPROVER,
        &[
            "run",
            "--role",
            "agent_role",
            "echo_text",
            "--param",
            "text=x",
        ],
    );
    assert_eq!(code(&o), 77, "{}", text(&o.stderr));
    // A path the broker would read with its own rights is refused.
    let o = b.run(
        AGENT,
        &[
            "check",
            "--role",
            "agent_role",
            "echo_text",
            "--params",
            "@/etc/shadow",
        ],
    );
    assert_ne!(code(&o), 0);
    // The caller cannot pass its own profiles.
    let o = b.run(
        AGENT,
        &[
            "--profiles",
            "/tmp",
            "run",
            "--role",
            "agent_role",
            "echo_text",
            "--param",
            "text=x",
        ],
    );
    assert_eq!(code(&o), 64, "{}", text(&o.stderr));

    // A delete-class call: 75 with a request id.
    let call = [
        "run",
        "--role",
        "agent_role",
        "--session",
        "s1",
        "remove_thing",
        "--param",
        "name=thing",
    ];
    let o = b.run(AGENT, &call);
    assert_eq!(code(&o), 75, "{}", text(&o.stderr));
    let id = request_id(&text(&o.stderr));
    // The request names the peer, not the broker's uid, as who asked.
    let o = b.run(APPROVER, &["approvals", "show", &id, "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["requested_by"]["uid"], AGENT, "{shown}");
    // The agent cannot approve its own request.
    let o = b.run(AGENT, &["approvals", "approve", &id]);
    assert_eq!(code(&o), 77, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("[[approvers]]"));
    // Still pending: the agent's run is refused again.
    let o = b.run(AGENT, &call);
    assert_eq!(code(&o), 75);
    // The approver lists it and approves; the call runs once.
    let o = b.run(APPROVER, &["approvals", "list"]);
    assert_eq!(code(&o), 0);
    assert!(text(&o.stdout).contains(&id));
    let o = b.run(APPROVER, &["approvals", "approve", &id, "--reason", "ok"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(&format!("approved request {id}")));
    let o = b.run(AGENT, &call);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "removed thing\n");
    let o = b.run(AGENT, &call);
    assert_eq!(code(&o), 75);

    // Every step is in the broker's log, and the chain is intact.
    let log = b.log_text();
    let approved: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["approval_status"] == "approved")
        .collect();
    assert_eq!(approved.len(), 1);
    assert_eq!(
        approved[0]["approval"]["decided"]["by"]["uid"], APPROVER,
        "{}",
        approved[0]
    );
    assert!(log.contains("\"approval_status\":\"refused\""));
    assert!(log.contains("\"approval_status\":\"consumed\""));
    assert_log_intact(&b);
}

/// Sends raw bytes as a client and reads the broker's answer, if any.
fn raw(b: &Broker, bytes: &[u8], close_write: bool) -> Option<Response> {
    let mut s = UnixStream::connect(&b.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let _ = s.write_all(bytes);
    if close_write {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let body = protocol::read_frame(&mut &buf[..], &[]).ok()?;
    protocol::decode(&body).ok()
}

fn normal_call_works(b: &Broker) {
    // Workers of closed connections may not be reaped yet: retry on busy,
    // a bounded number of times.
    for _ in 0..200 {
        let o = b.run(
            AGENT,
            &[
                "run",
                "--role",
                "agent_role",
                "echo_text",
                "--param",
                "text=ok",
            ],
        );
        if code(&o) == 125 && text(&o.stderr).contains("broker busy") {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
        assert_eq!(text(&o.stdout), "ok\n");
        return;
    }
    panic!("the broker stayed busy");
}

#[test]
fn broker_survives_bad_input() {
    if !can_run() {
        return;
    }
    let b = Broker::start(4);
    normal_call_works(&b);
    // A frame that is not a message.
    let mut f = 5u32.to_be_bytes().to_vec();
    f.extend_from_slice(b"hello");
    let r = raw(&b, &f, true).expect("an answer to a malformed frame");
    assert_eq!(r.exit_code, 125);
    assert!(r.message.unwrap().contains("not a valid message"));
    // A declared length over the maximum.
    let r = raw(&b, &u32::MAX.to_be_bytes(), true).expect("an answer to an oversized frame");
    assert_eq!(r.exit_code, 125);
    assert!(r.message.unwrap().contains("larger than"));
    // Half a frame, then the client closes.
    let r = raw(&b, &[0, 0, 0, 100, b'{', b'"'], true).expect("an answer to half a frame");
    assert!(r
        .message
        .unwrap()
        .contains("closed 6 bytes into a 104-byte frame"));
    // A well-formed request without descriptors.
    let req = br#"{"version":1,"op":{"approvals":{"list":{"all":false,"json":false}}}}"#;
    let mut f = (req.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(req);
    let r = raw(&b, &f, false).expect("an answer");
    assert!(r.message.unwrap().contains("descriptors"));
    // Another version.
    let req = br#"{"version":99,"op":{}}"#;
    let mut f = (req.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(req);
    let r = raw(&b, &f, false).expect("an answer");
    assert!(r.message.unwrap().contains("protocol version 99"));
    normal_call_works(&b);

    // A flood of 50 connections that send nothing: max_concurrent (4) hold a
    // worker each, the rest are told the broker is busy; so is a call made
    // meanwhile. A worker of an earlier connection may still hold a slot when
    // the flood arrives (it is reaped later): each flood connection then says
    // which it got, and a round counts only when the flood held all 4 slots.
    let req = br#"{"version":1,"op":{"approvals":{"list":{"all":false,"json":false}}}}"#;
    let mut frame = (req.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(req);
    let mut checked = false;
    for _round in 0..20 {
        let flood: Vec<UnixStream> = (0..50)
            .map(|_| UnixStream::connect(&b.socket).unwrap())
            .collect();
        let o = b.run(
            AGENT,
            &[
                "run",
                "--role",
                "agent_role",
                "echo_text",
                "--param",
                "text=x",
            ],
        );
        let mut held = 0;
        for mut s in flood {
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
            let _ = s.write_all(&frame);
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            let r: Response =
                protocol::decode(&protocol::read_frame(&mut &buf[..], &[]).unwrap()).unwrap();
            assert_eq!(r.exit_code, 125);
            let m = r.message.unwrap();
            if m.contains("descriptors") {
                held += 1;
            } else {
                assert!(m.contains("broker busy"), "{m}");
            }
        }
        assert!(held <= 4, "{held} workers for max_concurrent = 4");
        if held == 4 {
            assert_eq!(code(&o), 125, "{}", b.serve_err());
            assert!(
                text(&o.stderr).contains("broker busy"),
                "{}",
                text(&o.stderr)
            );
            checked = true;
            break;
        }
        normal_call_works(&b);
    }
    assert!(checked, "no round in which the flood held every slot");
    normal_call_works(&b);
}

#[test]
fn client_hang_up_kills_the_call() {
    if !can_run() {
        return;
    }
    let b = Broker::start(4);
    let seconds = "3517"; // a number no other test sleeps
    let mut client = sleeping_call(&b, seconds);
    // setpriv execs the client: this pid is the client.
    client.kill().unwrap();
    client.wait().unwrap();
    let mut gone = false;
    for _ in 0..600 {
        if processes_running(&["sleep", seconds]) == 0 && b.log_text().contains("client hung up") {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone, "the call outlived its client: {}", b.serve_err());
    normal_call_works(&b);
    assert_log_intact(&b);
}

/// Waits (bounded) until `sleep SECONDS` runs, sends `sig` to the client,
/// and returns the client's exit code and the broker's log.
/// The client's exit status, within a bounded wait (killed and failed
/// beyond it; `when` says after what).
fn client_status(
    b: &Broker,
    client: &mut std::process::Child,
    when: &str,
) -> std::process::ExitStatus {
    for _ in 0..600 {
        if let Some(s) = client.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = client.kill();
    panic!("the client did not exit {when}: {}", b.serve_err());
}

fn signal_a_sleeping_call(b: &Broker, seconds: &str, sig: nix::sys::signal::Signal) -> i32 {
    let mut client = sleeping_call(b, seconds);
    // setpriv execs the client: this pid is the client.
    let pid = nix::unistd::Pid::from_raw(client.id() as i32);
    nix::sys::signal::kill(pid, sig).unwrap();
    let status = client_status(b, &mut client, &format!("after {sig}"));
    assert_eq!(
        processes_running(&["sleep", seconds]),
        0,
        "the tool outlived the call"
    );
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 1000 + status.signal().unwrap_or(0))
}

#[test]
fn client_forwards_signals_to_the_call() {
    if !can_run() {
        return;
    }
    use nix::sys::signal::Signal;
    let b = Broker::start(4);
    // The client survives the signal and exits with the call's code.
    assert_eq!(signal_a_sleeping_call(&b, "3518", Signal::SIGINT), 130);
    assert_eq!(signal_a_sleeping_call(&b, "3519", Signal::SIGTERM), 143);
    assert_eq!(signal_a_sleeping_call(&b, "3521", Signal::SIGHUP), 129);
    // Forwarded, not a hang-up: nothing was killed for lack of a client, and
    // each call's result is audited with its signal.
    let log = b.log_text();
    assert!(!log.contains("client hung up"), "{log}");
    let results: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event_type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 3, "{log}");
    normal_call_works(&b);
    assert_log_intact(&b);
}

/// Reads the broker's answer on a raw connection (bounded by a timeout).
fn answer(mut s: UnixStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let r: Response = protocol::decode(&protocol::read_frame(&mut &buf[..], &[]).unwrap()).unwrap();
    assert_eq!(r.exit_code, 125);
    r.message.unwrap()
}

#[test]
fn busy_broker_queues_then_refuses() {
    if !can_run() {
        return;
    }
    let b = Broker::start_with(1, "queue = 1\nqueue_timeout_seconds = 1", "", &[], &[]);
    let mut hold = sleeping_call(&b, "3522");
    // The only worker runs the sleep: one connection waits, the next is
    // refused at once (queue full), the waiting one after its timeout.
    let waiting = UnixStream::connect(&b.socket).unwrap();
    let refused = UnixStream::connect(&b.socket).unwrap();
    let m = answer(refused);
    assert!(m.contains("broker busy") && m.contains("queue = 1"), "{m}");
    let m = answer(waiting);
    assert!(
        m.contains("broker busy") && m.contains("queue_timeout_seconds"),
        "{m}"
    );
    hold.kill().unwrap();
    hold.wait().unwrap();
    // A queued call runs once the worker is free (the queue holds it while
    // the hung-up call's worker finishes).
    let o = b.echo(AGENT, "q");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_log_intact(&b);
}

#[test]
fn per_caller_limit() {
    if !can_run() {
        return;
    }
    let b = Broker::start_with(4, "max_concurrent_per_caller = 1", "", &[], &[]);
    let mut hold = sleeping_call(&b, "3523");
    let o = b.echo(AGENT, "x");
    assert_eq!(code(&o), 125);
    let err = text(&o.stderr);
    assert!(
        err.contains("uid 64010") && err.contains("max_concurrent_per_caller = 1"),
        "{err}"
    );
    // Another uid is not held back by the agent's limit.
    let o = b.run(APPROVER, &["approvals", "list"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    hold.kill().unwrap();
    hold.wait().unwrap();
}

#[test]
fn required_broker_fails_closed() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no.sock");
    let mut c = Command::new(BIN);
    c.arg("--broker")
        .arg(&missing)
        .args([
            "run",
            "--role",
            "files_agent",
            "echo_text",
            "--param",
            "text=x",
        ])
        .env("AGENTJAIL_REQUIRE_BROKER", "1")
        .env("AGENTJAIL_STATE_DIR", dir.path().join("state"))
        .env("AGENTJAIL_AUDIT_LOG", dir.path().join("audit.jsonl"));
    let o = c.output().unwrap();
    assert_eq!(code(&o), 125);
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("agentjail serve"),
        "{err}"
    );
    // Nothing ran in-process: no log was written.
    assert!(!dir.path().join("audit.jsonl").exists());
}

/// `doctor --format json`'s broker check.
fn doctor_broker(envs: &[(&str, &std::ffi::OsStr)]) -> serde_json::Value {
    let mut c = Command::new(BIN);
    c.args(["doctor", "--format", "json"])
        .env_remove("AGENTJAIL_BROKER")
        .env_remove("AGENTJAIL_REQUIRE_BROKER");
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "broker")
        .cloned()
        .unwrap_or_else(|| panic!("no broker check: {v}"))
}

#[test]
fn doctor_reports_the_broker() {
    if !can_run() {
        return;
    }
    let b = Broker::start(2);
    let up = doctor_broker(&[("AGENTJAIL_BROKER", b.socket.as_os_str())]);
    assert_eq!(up["ok"], true, "{up}");
    assert!(
        up["detail"].as_str().unwrap().contains("is reachable"),
        "{up}"
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no.sock");
    let down = doctor_broker(&[
        ("AGENTJAIL_BROKER", missing.as_os_str()),
        ("AGENTJAIL_REQUIRE_BROKER", std::ffi::OsStr::new("1")),
    ]);
    assert_eq!(
        (&down["ok"], &down["required"]),
        (&false.into(), &true.into()),
        "{down}"
    );
    assert!(
        down["detail"].as_str().unwrap().contains("not reachable"),
        "{down}"
    );
}

/// (parent pid, comm) of a process, from /proc.
fn parent_and_name(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(") ")?;
    let name = head.split_once(" (")?.1.to_string();
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((ppid, name))
}

/// The broker's grandchildren named `agentjail`: the calls' processes
/// (each a child of a worker; a prepared sandbox's child is `init`).
fn call_processes(broker: u32) -> Vec<u32> {
    let all: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| parent_and_name(p).map(|(pp, n)| (p, pp, n)))
        .collect();
    let workers: Vec<u32> = all
        .iter()
        .filter(|(_, pp, _)| *pp == broker)
        .map(|x| x.0)
        .collect();
    all.iter()
        .filter(|(_, pp, n)| workers.contains(pp) && n == "agentjail")
        .map(|x| x.0)
        .collect()
}

/// The call's process reports its exit code on a pipe as its last act,
/// and the worker answers on that report. One killed before it (no
/// report, the pipe just ends) is answered from its wait status, 137 for
/// SIGKILL; its sandbox goes with it, and the broker serves the next call.
#[test]
fn a_call_process_killed_before_its_report_is_answered_from_its_status() {
    if !can_run() {
        return;
    }
    let b = Broker::start(4);
    let mut client = sleeping_call(&b, "3523");
    let calls = call_processes(b.pid().as_raw() as u32);
    assert_eq!(calls.len(), 1, "one call's process: {calls:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(calls[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = client_status(&b, &mut client, "after its call's process was killed");
    assert_eq!(status.code(), Some(137), "{}", b.serve_err());
    let mut gone = false;
    for _ in 0..600 {
        if processes_running(&["sleep", "3523"]) == 0 {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone, "the tool outlived its killed call");
    // The next call is answered on its report, as usual.
    assert_eq!(
        signal_a_sleeping_call(&b, "3524", nix::sys::signal::Signal::SIGTERM),
        143
    );
}
