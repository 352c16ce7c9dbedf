//! `--stdin-file` through the broker: the client opens the file with its
//! own rights and passes the descriptor; the broker reads it (never a path,
//! never reopened with its own rights), and the approval binds its SHA-256
//! as in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;

use agentjail::serve::protocol::{self, Call, Op, Request, Response, VERSION};
use broker_support::*;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

const POSTER: &str = r#"
description = "Posts a body"
allowed_tools = ["post_body", "cat_stdin", "echo_text"]
"#;

fn broker() -> Broker {
    let tail = format!(
        "[[callers]]\nuid = {AGENT}\nroles = [\"poster\"]\n[[callers]]\nuid = 0\nroles = [\"poster\"]\n"
    );
    Broker::start_with(4, "queue = 0", &tail, &[("poster", POSTER)], &[])
}

#[test]
fn stdin_file_is_read_from_the_clients_descriptor_and_bound_by_approval() {
    if !can_run() {
        return;
    }
    let b = broker();
    let body = b.home(AGENT).join("body.txt");
    std::fs::write(&body, "hello\n").unwrap();
    // Only the agent can read it: the client opens it, not the broker.
    nix::unistd::chown(
        &body,
        Some(nix::unistd::Uid::from_raw(AGENT)),
        Some(nix::unistd::Gid::from_raw(AGENT)),
    )
    .unwrap();
    std::fs::set_permissions(&body, std::fs::Permissions::from_mode(0o600)).unwrap();
    let body_arg = body.display().to_string();
    let post = || {
        b.run(
            AGENT,
            &[
                "run",
                "--role",
                "poster",
                "--session",
                "S1",
                "--stdin-file",
                &body_arg,
                "post_body",
            ],
        )
    };
    let o = post();
    assert_eq!(code(&o), 75, "{}{}", text(&o.stderr), b.serve_err());
    let id = request_id(&text(&o.stderr));
    let o = b.run(APPROVER, &["approvals", "show", &id]);
    assert!(
        text(&o.stdout).contains("--stdin-file with SHA-256"),
        "{}",
        text(&o.stdout)
    );
    let o = b.run(APPROVER, &["approvals", "approve", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // Other bytes: not what was approved.
    std::fs::write(&body, "rm -rf /\n").unwrap();
    let o = post();
    assert_eq!(code(&o), 75, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("stdin_sha256"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(&body, "hello\n").unwrap();
    let o = post();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "hello\n");
    // A file the agent cannot read is refused by the client (65), before
    // anything reaches the broker.
    let before = b.log_text();
    let o = b.run(
        AGENT,
        &[
            "run",
            "--role",
            "poster",
            "--stdin-file",
            &b.profiles().join("tools.toml").display().to_string(),
            "cat_stdin",
        ],
    );
    assert_eq!(code(&o), 65, "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr).lines().count(), 1, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "");
    assert_eq!(b.log_text(), before);
    // Too large: refused by the broker before anything runs.
    let big = b.home(AGENT).join("big");
    std::fs::write(&big, vec![b'x'; (16 << 20) + 1]).unwrap();
    let o = b.run(
        AGENT,
        &[
            "run",
            "--role",
            "poster",
            "--stdin-file",
            &big.display().to_string(),
            "cat_stdin",
        ],
    );
    assert_eq!(code(&o), 65, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("larger than 16777216"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(text(&o.stdout), "");
    assert_log_intact(&b);
}

/// Sends a `cat_stdin` request with `stdin_file` set as given and the
/// descriptors `fds`; the answer and what the call wrote to its stdout.
fn raw_call(b: &Broker, stdin_file: bool, extra: &[RawFd]) -> (Response, String) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let out = tempfile::NamedTempFile::new().unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let req = Request {
        version: VERSION,
        op: Op::Run {
            call: Call {
                role: Some("poster".into()),
                tool: "cat_stdin".into(),
                stdin_file,
                ..Call::default()
            },
            json: false,
            ask: protocol::Ask::Never,
            tty: false,
        },
    };
    let frame = protocol::encode(&req).unwrap();
    let conn = UnixStream::connect(&b.socket).unwrap();
    let mut fds = vec![
        null.as_raw_fd(),
        out.as_file().as_raw_fd(),
        null.as_raw_fd(),
    ];
    fds.extend_from_slice(extra);
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        conn.as_raw_fd(),
        &[std::io::IoSlice::new(&frame[..4])],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .unwrap();
    std::io::Write::write_all(&mut &conn, &frame[4..]).unwrap();
    let body = protocol::read_frame(&mut &conn, &[]).unwrap();
    let r: Response = protocol::decode(&body).unwrap();
    (r, std::fs::read_to_string(out.path()).unwrap())
}

#[test]
fn a_descriptor_the_broker_cannot_read_is_refused_not_reopened() {
    if !can_run() {
        return;
    }
    let b = broker();
    let secret = b.root.join("secret");
    std::fs::write(&secret, "the secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    // An O_PATH descriptor names a file without the right to read it: a
    // broker that reopened it by /proc path would read it with its own rights.
    let path_only: OwnedFd = nix::fcntl::open(
        &secret,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(|fd| {
        // SAFETY: open just returned this descriptor; nothing else owns it.
        unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
    })
    .unwrap();
    let (r, out) = raw_call(&b, true, &[path_only.as_raw_fd()]);
    assert_eq!(r.exit_code, 65, "{r:?}: {}", b.serve_err());
    assert!(!out.contains("secret"), "{out}");
    // A readable one works, as the client sends it.
    let readable = std::fs::File::open(&secret).unwrap();
    let (r, out) = raw_call(&b, true, &[readable.as_raw_fd()]);
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert_eq!(out, "the secret\n");
    // The flag and the descriptors must agree.
    let (r, _) = raw_call(&b, true, &[]);
    assert_eq!(r.exit_code, 125, "{r:?}");
    assert!(r.message.unwrap().contains("stdin_file"));
    let (r, out) = raw_call(&b, false, &[readable.as_raw_fd()]);
    assert_eq!(r.exit_code, 125, "{r:?}");
    assert_eq!(out, "");
    assert_log_intact(&b);
}
