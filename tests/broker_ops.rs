//! The broker as an operator runs it: its `broker` records in the audit log
//! (ready, stopping, stopped), `sd_notify` readiness, socket activation, a
//! crash (SIGKILL) mid-call that leaves no sandbox behind and a log that
//! verifies, and budgets the agent's uid cannot reset by any file
//! operation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;

use broker_support::*;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn records(b: &Broker) -> Vec<Value> {
    b.log_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn broker_states(b: &Broker) -> Vec<String> {
    records(b)
        .iter()
        .filter(|r| r["event_type"] == "broker")
        .map(|r| r["broker"].as_str().unwrap().to_string())
        .collect()
}

/// A datagram on `sock` (a bounded wait).
fn datagram(sock: &UnixDatagram) -> String {
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("no sd_notify datagram");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn notify_socket(root: &Path) -> PathBuf {
    root.join("notify.sock")
}

#[test]
fn ready_and_stop_are_audited_and_notified() {
    if !can_run() {
        return;
    }
    let notify = std::cell::RefCell::new(None);
    let mut b = Broker::start_full(4, "queue = 0", "", &[], &[], &|root, config| {
        let sock = UnixDatagram::bind(notify_socket(root)).unwrap();
        *notify.borrow_mut() = Some(sock);
        let mut c = Command::new(BIN);
        c.args(["serve", "--config"])
            .arg(config)
            .env("NOTIFY_SOCKET", notify_socket(root));
        (c, None)
    });
    let notify = notify.into_inner().unwrap();
    assert_eq!(
        datagram(&notify),
        format!("READY=1\nMAINPID={}", b.pid()),
        "{}",
        b.serve_err()
    );
    // The ready record comes first, before any call.
    let first = &records(&b)[0];
    assert_eq!(first["event_type"], "broker", "{first}");
    assert_eq!(first["broker"], "ready");
    assert_eq!(first["socket"], b.socket.display().to_string());
    assert_eq!(first["socket_activated"], false);
    let o = b.echo(AGENT, "hi");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let st = b.stop_with(Signal::SIGTERM);
    assert!(st.success(), "{st:?}: {}", b.serve_err());
    assert_eq!(datagram(&notify), "STOPPING=1");
    assert_eq!(broker_states(&b), ["ready", "stopping", "stopped"]);
    assert!(!b.socket.exists(), "the broker's own socket is removed");
    assert_log_intact(&b);
}

#[test]
fn socket_activation_takes_descriptor_3() {
    if !can_run() {
        return;
    }
    let activated = std::cell::RefCell::new(None);
    let mut b = Broker::start_full(4, "queue = 0", "", &[], &[], &|root, config| {
        let path = root.join("run/activated.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // As `SocketMode=0666` in agentjail.socket.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let raw = listener.as_raw_fd();
        let _ = UnixDatagram::bind(notify_socket(root)).map(|s| {
            *activated.borrow_mut() = Some((listener, s));
        });
        let mut c = Command::new("sh");
        // LISTEN_PID must be the broker's own pid: the shell's, kept by exec.
        c.args([
            "-c",
            "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" serve --config \"$1\"",
            BIN,
        ])
        .arg(config)
        .env("NOTIFY_SOCKET", notify_socket(root));
        // SAFETY: dup2 is async-signal-safe; it only sets descriptor 3 of
        // the child to the listener, as a service manager does.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        (c, Some(path))
    });
    let (listener, notify) = activated.into_inner().unwrap();
    // The broker has its own copy now.
    drop(listener);
    let ready = datagram(&notify);
    assert!(ready.starts_with("READY=1"), "{ready}: {}", b.serve_err());
    let path = b.root.join("run/activated.sock");
    assert_eq!(b.socket, path);
    let o = b.echo(AGENT, "through the manager's socket");
    assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
    assert_eq!(text(&o.stdout), "through the manager's socket\n");
    // The configuration's socket was never bound.
    assert!(!b.root.join("run/agentjail.sock").exists());
    let first = &records(&b)[0];
    assert_eq!(first["socket_activated"], true, "{first}");
    assert_eq!(first["socket"], path.display().to_string());
    // A printed approve command names the socket callers use.
    let o = b.run(
        AGENT,
        &[
            "run",
            "--role",
            "agent_role",
            "remove_thing",
            "--param",
            "name=x",
        ],
    );
    assert_eq!(code(&o), 75, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("agentjail --broker {} approvals", path.display())),
        "{}",
        text(&o.stderr)
    );
    assert!(b.stop_with(Signal::SIGTERM).success());
    // The manager's socket stays for the next start.
    assert!(path.exists());
    assert_log_intact(&b);
}

#[test]
fn activation_with_a_wrong_descriptor_fails_closed() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        format!(
            "profiles = \"{d}/p\"\nstate_dir = \"{d}/s\"\naudit_log = \"{d}/a.jsonl\"\nsocket = \"{d}/b.sock\"\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("p/roles")).unwrap();
    std::fs::write(dir.path().join("p/tools.toml"), TOOLS).unwrap();
    std::fs::write(dir.path().join("p/roles/agent_role.toml"), AGENT_ROLE).unwrap();
    // Descriptor 3 is a plain file, and then two descriptors are claimed.
    for (fds, want) in [
        ("1", "socket activation: descriptor 3"),
        ("2", "LISTEN_FDS=2"),
    ] {
        let o = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "LISTEN_PID=$$ LISTEN_FDS={fds} exec \"$0\" serve --config \"$1\" 3<\"$1\""
                ),
                BIN,
            ])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(code(&o), 125, "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains(want) && err.lines().count() == 1, "{err}");
        assert!(!dir.path().join("b.sock").exists());
    }
}

#[test]
fn a_broker_killed_mid_call_leaves_no_sandbox() {
    if !can_run() {
        return;
    }
    let mut b = Broker::start(4);
    let mut client = sleeping_call(&b, "3541");
    let sleeping = processes_running(&["sleep", "3541"]);
    assert_eq!(sleeping, 1);
    b.stop_with(Signal::SIGKILL);
    // The workers, the call and its sandbox follow the broker (bounded).
    let mut left = usize::MAX;
    for _ in 0..400 {
        left = processes_running(&["sleep", "3541"]);
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(left, 0, "the sandboxed tool outlived the broker");
    let no_workers = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("cmdline")).ok())
        .all(|c| !c.contains(&b.base().join("broker.toml").display().to_string()));
    assert!(no_workers, "a worker outlived the broker");
    // The client is told, in one line, and does not hang.
    let st = client.wait().unwrap();
    assert_eq!(st.code(), Some(125));
    // The log holds the call's decision and verifies.
    let recs = records(&b);
    assert!(recs
        .iter()
        .any(|r| r["event_type"] == "decision" && r["tool"] == "sleep"));
    assert_log_intact(&b);
    // A new broker starts over the stale socket and serves.
    let config = b.base().join("broker.toml");
    let mut again = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut served = false;
    for _ in 0..400 {
        if std::os::unix::net::UnixStream::connect(&b.socket).is_ok() {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(served);
    let o = b.echo(AGENT, "after the crash");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(again.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    again.wait().unwrap();
    assert_log_intact(&b);
}

const LIMITED: &str = r#"
description = "Two calls a session"
allowed_tools = ["echo_text"]
[limits]
max_api_calls = 2
"#;

#[test]
fn the_agent_cannot_reset_its_budget_by_file_operations() {
    if !can_run() {
        return;
    }
    let tail = format!("[[callers]]\nuid = {AGENT}\nroles = [\"limited\"]\n");
    let b = Broker::start_with(4, "queue = 0", &tail, &[("limited", LIMITED)], &[]);
    let call = [
        "run",
        "--role",
        "limited",
        "--session",
        "s",
        "echo_text",
        "--param",
        "text=x",
    ];
    for _ in 0..2 {
        let o = b.run(AGENT, &call);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    }
    assert_eq!(code(&b.run(AGENT, &call)), 77);
    let budgets = b.state().join("budgets");
    let counter = std::fs::read_dir(&budgets)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let before = std::fs::read(&counter).unwrap();
    let (s, c, base, root) = (
        b.state().display().to_string(),
        counter.display().to_string(),
        b.base().display().to_string(),
        b.root.display().to_string(),
    );
    let bd = budgets.display().to_string();
    let tries: Vec<String> = vec![
        format!("rm -f {c}"),
        format!("rm -rf {bd}"),
        format!("rm -rf {s}"),
        format!("mv {c} {c}.old"),
        format!("mv {bd} {bd}.old"),
        format!("mv {s} {s}.old"),
        format!("mv {base} {root}/mine"),
        format!("truncate -s0 {c}"),
        format!(": > {c}"),
        format!("echo '{{}}' > {c}"),
        format!("ln -sf /dev/null {c}"),
        format!("ln -s /dev/null {bd}/new.json"),
        format!("ln -sfn {root}/home-{AGENT} {s}"),
        format!("touch -d 2000-01-01 {c}"),
        format!("chmod 0777 {s}"),
        format!("cp /dev/null {c}"),
        format!("mkdir {s}/x"),
    ];
    let home = b.home(AGENT);
    for t in &tries {
        let o = as_uid(AGENT, &home).args(["sh", "-c", t]).output().unwrap();
        assert!(!o.status.success(), "`{t}` succeeded as the agent's uid");
    }
    assert_eq!(
        std::fs::read(&counter).unwrap(),
        before,
        "the counter changed"
    );
    assert_eq!(std::fs::read_dir(&budgets).unwrap().count(), 1);
    // Still spent: through the broker and as the broker counts it.
    let o = b.run(AGENT, &call);
    assert_eq!(code(&o), 77, "{}", text(&o.stderr));
    let o = b.run(AGENT, &["budget", "show", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["budgets"][0]["calls"], 2, "{v}");
    // Nor in-process with the agent's own state: that is a different budget,
    // and with require_broker there is no in-process run at all.
    let o = as_uid(AGENT, &home)
        .arg(BIN)
        .args(call)
        .env("AGENTJAIL_REQUIRE_BROKER", "1")
        .env("AGENTJAIL_BROKER", &b.socket)
        .output()
        .unwrap();
    assert_eq!(code(&o), 77, "{}", text(&o.stderr));
    assert_log_intact(&b);
}
