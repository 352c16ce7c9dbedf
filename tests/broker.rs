//! `agentjail serve` with real uids: the broker runs as root (this test)
//! with its profiles, state and log in a directory only root can enter;
//! the agent (uid 64010) and the approver (uid 64011) are clients run with
//! `setpriv`. They need no passwd entry: the configuration names numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentjail::serve::protocol::{self, Response};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
const AGENT: u32 = 64010;
const APPROVER: u32 = 64011;

const TOOLS: &str = r#"
[tools.cat_stdin]
description = "Copy stdin to stdout"
risk = "read"
command = ["cat"]

[tools.echo_text]
description = "Print a line"
risk = "read"
command = ["echo", "{text}"]
params.text = { type = "string", max_length = 4096 }

[tools.sleep]
description = "Wait"
risk = "read"
command = ["sleep", "{seconds}"]
params.seconds = { type = "integer", min = 0, max = 3600 }

[tools.remove_thing]
description = "Pretend to remove a thing"
risk = "delete"
command = ["echo", "removed", "{name}"]
params.name = { type = "string", pattern = "[a-z0-9]{1,16}" }
"#;

const AGENT_ROLE: &str = r#"
description = "The agent's role"
allowed_tools = ["cat_stdin", "echo_text", "sleep", "remove_thing"]
[limits]
timeout_seconds = 600
"#;

const OTHER_ROLE: &str = r#"
description = "A role the agent is not mapped to"
allowed_tools = ["echo_text"]
"#;

/// Whether this test can run: root and setpriv. Without them it says
/// `skipped:` (a failure with AGENTJAIL_REQUIRE_PRIVILEGED_TESTS=1).
fn can_run() -> bool {
    let why = if !nix::unistd::getuid().is_root() {
        Some("not root")
    } else if which::which("setpriv").is_err() {
        Some("no setpriv")
    } else {
        None
    };
    match why {
        None => true,
        Some(w) => {
            assert!(
                std::env::var("AGENTJAIL_REQUIRE_PRIVILEGED_TESTS").as_deref() != Ok("1"),
                "skipped: {w}"
            );
            eprintln!("skipped: {w}");
            false
        }
    }
}

struct Broker {
    _dir: tempfile::TempDir,
    root: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
}

impl Broker {
    fn base(&self) -> PathBuf {
        self.root.join("broker")
    }
    fn log(&self) -> PathBuf {
        self.base().join("log/audit.jsonl")
    }
    fn state(&self) -> PathBuf {
        self.base().join("state")
    }
    fn profiles(&self) -> PathBuf {
        self.base().join("profiles")
    }
    fn home(&self, uid: u32) -> PathBuf {
        self.root.join(format!("home-{uid}"))
    }

    /// Starts a broker: its directory is root's, mode 0700; the socket's
    /// directory and the clients' homes are reachable by the clients.
    fn start(max_concurrent: usize) -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("agentjail-broker")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o711)).unwrap();
        let base = root.join("broker");
        std::fs::create_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::create_dir_all(base.join("profiles/roles")).unwrap();
        std::fs::write(base.join("profiles/tools.toml"), TOOLS).unwrap();
        std::fs::write(base.join("profiles/roles/agent_role.toml"), AGENT_ROLE).unwrap();
        std::fs::write(base.join("profiles/roles/other_role.toml"), OTHER_ROLE).unwrap();
        std::fs::create_dir(base.join("log")).unwrap();
        let sock_dir = root.join("run");
        std::fs::create_dir(&sock_dir).unwrap();
        std::fs::set_permissions(&sock_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for uid in [AGENT, APPROVER] {
            let home = root.join(format!("home-{uid}"));
            std::fs::create_dir(&home).unwrap();
            nix::unistd::chown(
                &home,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(uid)),
            )
            .unwrap();
        }
        let socket = sock_dir.join("agentjail.sock");
        let config = base.join("broker.toml");
        std::fs::write(
            &config,
            format!(
                r#"
profiles = "{base}/profiles"
state_dir = "{base}/state"
audit_log = "{base}/log/audit.jsonl"
socket = "{socket}"
max_concurrent = {max_concurrent}
request_timeout_seconds = 60
grace_seconds = 5

[[callers]]
uid = {AGENT}
roles = ["agent_role"]

[[approvers]]
uid = {APPROVER}
roles = ["*"]
"#,
                base = base.display(),
                socket = socket.display()
            ),
        )
        .unwrap();
        let check = Command::new(BIN)
            .args(["serve", "--check-config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let stderr = std::fs::File::create(root.join("serve.err")).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("AGENTJAIL_PROFILES")
            .env("AGENTJAIL_LOG", "debug")
            .stderr(stderr)
            .spawn()
            .unwrap();
        let b = Broker {
            _dir: dir,
            root,
            socket,
            child: Some(child),
        };
        // A bounded wait for the socket to accept.
        for _ in 0..400 {
            if UnixStream::connect(&b.socket).is_ok() {
                return b;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the broker did not start: {}", b.serve_err());
    }

    fn serve_err(&self) -> String {
        std::fs::read_to_string(self.root.join("serve.err")).unwrap_or_default()
    }

    /// `agentjail --broker SOCKET ARGS` as `uid`.
    fn client(&self, uid: u32, args: &[&str]) -> Command {
        let mut c = as_uid(uid, &self.home(uid));
        c.arg(BIN).arg("--broker").arg(&self.socket).args(args);
        c
    }

    fn run(&self, uid: u32, args: &[&str]) -> Output {
        self.client(uid, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            for _ in 0..200 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `setpriv` to `uid` (and the same gid, no groups), with HOME set and the
/// test's own agentjail variables removed.
fn as_uid(uid: u32, home: &Path) -> Command {
    let mut c = Command::new("setpriv");
    let id = uid.to_string();
    c.args(["--reuid", &id, "--regid", &id, "--clear-groups"])
        .env("HOME", home)
        .current_dir(home);
    for (k, _) in std::env::vars() {
        if k.starts_with("AGENTJAIL_") {
            c.env_remove(k);
        }
    }
    c
}

fn assert_log_intact(b: &Broker) {
    let o = Command::new(BIN)
        .arg("audit")
        .arg("verify")
        .arg(b.log())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs `cmd` with `input` on stdin (written from a thread) and returns its output.
fn pipe_through(mut cmd: Command, input: Vec<u8>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The request id in `approval request ID is pending`.
fn request_id(stderr: &str) -> String {
    let at = stderr
        .find("approval request ")
        .unwrap_or_else(|| panic!("no request id in: {stderr}"));
    stderr[at + "approval request ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

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

/// Processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> usize {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want))
        .count()
}

/// A client running `sleep SECONDS` through the broker, once the tool runs
/// (a bounded wait).
fn sleeping_call(b: &Broker, seconds: &str) -> Child {
    let client = b
        .client(
            AGENT,
            &[
                "run",
                "--role",
                "agent_role",
                "sleep",
                "--param",
                &format!("seconds={seconds}"),
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut started = false;
    for _ in 0..600 {
        if processes_running(&["sleep", seconds]) == 1 {
            started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started, "the tool did not start: {}", b.serve_err());
    client
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
fn signal_a_sleeping_call(b: &Broker, seconds: &str, sig: nix::sys::signal::Signal) -> i32 {
    let mut client = sleeping_call(b, seconds);
    // setpriv execs the client: this pid is the client.
    let pid = nix::unistd::Pid::from_raw(client.id() as i32);
    nix::sys::signal::kill(pid, sig).unwrap();
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = client.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = client.kill();
        panic!("the client did not exit after {sig}: {}", b.serve_err());
    };
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
