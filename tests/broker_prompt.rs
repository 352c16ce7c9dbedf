//! The approval prompt through the broker: on the caller's own terminal
//! (the client passes its `/dev/tty`), answered only by a caller the
//! broker's `[[approvers]]` name. A pty stands in for the terminal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;

use broker_support::*;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const QUESTION: &str = "Approve this call?";

/// A client on a new pty, its controlling terminal; what it printed, its
/// exit code. `answer`: typed once the question shows.
fn on_pty(b: &Broker, uid: u32, flags: &[&str], answer: Option<&str>) -> (String, i32) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = File::from(pty.slave);
    let mut master = File::from(pty.master);
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend(["--role", "agent_role", "remove_thing", "--param", "name=x"]);
    let mut cmd = b.client(uid, &args);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: setsid and ioctl are async-signal-safe; they make the pty
    // (already on 0) the child's controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // The child holds the only slave descriptors now.
    drop((cmd, slave));
    let shown = Arc::new(Mutex::new(Vec::new()));
    let mut reader = master.try_clone().unwrap();
    let sink = shown.clone();
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with EIO once every slave descriptor is closed.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = done.send(());
    });
    let text = |s: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&s.lock().unwrap()).into_owned();
    let mut answered = answer.is_none();
    let mut status = None;
    for _ in 0..600 {
        if let Some(st) = child.try_wait().unwrap() {
            status = Some(st);
            break;
        }
        if !answered && text(&shown).contains(QUESTION) {
            master
                .write_all(format!("{}\n", answer.unwrap()).as_bytes())
                .unwrap();
            answered = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the client did not end: {}{}", text(&shown), b.serve_err());
    };
    // All output read: the reader ends at EIO once no slave is open (a
    // bounded wait: a leftover process holding the terminal fails here).
    ended
        .recv_timeout(Duration::from_secs(30))
        .expect("something still holds the terminal");
    (text(&shown), status.code().unwrap_or(-1))
}

/// Whether the tool's own line is in the output.
fn ran(shown: &str) -> bool {
    shown.lines().any(|l| l.trim_end() == "removed x")
}

fn broker() -> Broker {
    let tail = format!("[[callers]]\nuid = {APPROVER}\nroles = [\"agent_role\"]\n");
    Broker::start_with(4, "queue = 0", &tail, &[], &[])
}

#[test]
fn an_approver_answers_on_its_own_terminal() {
    if !can_run() {
        return;
    }
    let b = broker();
    let (shown, rc) = on_pty(&b, APPROVER, &[], Some("y"));
    assert_eq!(rc, 0, "{shown}{}", b.serve_err());
    assert!(
        shown.contains(QUESTION) && shown.contains("removed x"),
        "{shown}"
    );
    let log = b.log_text();
    assert!(log.contains("answered yes at the terminal"), "{log}");
    assert!(
        log.contains(&format!("\"uid\":{APPROVER}")),
        "the answer is the peer's: {log}"
    );
    // "n" is a denial: the call does not run.
    let (shown, rc) = on_pty(&b, APPROVER, &["--interactive"], Some("n"));
    assert_eq!(rc, 77, "{shown}");
    assert!(!ran(&shown), "{shown}");
    assert_log_intact(&b);
}

#[test]
fn a_caller_that_may_not_approve_is_never_asked() {
    if !can_run() {
        return;
    }
    let b = broker();
    // Without a flag: the request is queued, no question shown.
    let (shown, rc) = on_pty(&b, AGENT, &[], None);
    assert_eq!(rc, 75, "{shown}");
    assert!(!shown.contains(QUESTION), "{shown}");
    // --interactive: refused, naming the broker's approvers.
    let (shown, rc) = on_pty(&b, AGENT, &["--interactive"], None);
    assert_eq!(rc, 77, "{shown}");
    assert!(!shown.contains(QUESTION), "{shown}");
    assert!(shown.contains("[[approvers]]"), "{shown}");
    // --interactive without a terminal: 64, as in-process.
    let o = b.run(
        APPROVER,
        &[
            "run",
            "--interactive",
            "--role",
            "agent_role",
            "remove_thing",
            "--param",
            "name=x",
        ],
    );
    assert_eq!(code(&o), 64, "{}", text(&o.stderr));
    assert!(!text(&o.stdout).contains("removed"));
    assert_log_intact(&b);
}
