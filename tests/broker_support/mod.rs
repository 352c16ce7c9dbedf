//! What the broker's integration tests share: a broker run as root (this
//! test) with its profiles, state and log in a directory only root can
//! enter, and clients run as other uids with `setpriv`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
pub const AGENT: u32 = 64010;
pub const APPROVER: u32 = 64011;

pub const TOOLS: &str = r#"
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

[tools.post_body]
description = "Send stdin somewhere"
risk = "external"
command = ["cat"]

[tools.remove_thing]
description = "Pretend to remove a thing"
risk = "delete"
command = ["echo", "removed", "{name}"]
params.name = { type = "string", pattern = "[a-z0-9]{1,16}" }
"#;

pub const AGENT_ROLE: &str = r#"
description = "The agent's role"
allowed_tools = ["cat_stdin", "echo_text", "sleep", "remove_thing"]
[limits]
timeout_seconds = 600
"#;

pub const OTHER_ROLE: &str = r#"
description = "A role the agent is not mapped to"
allowed_tools = ["echo_text"]
"#;

/// Whether this test can run: root and setpriv. Without them it says
/// `skipped:` (a failure with AGENTJAIL_REQUIRE_PRIVILEGED_TESTS=1).
pub fn can_run() -> bool {
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

/// Makes the command that starts a broker, from the test's root and the
/// configuration's path; with the socket it will listen on when that is
/// not the configuration's.
pub type Launch<'a> = dyn Fn(&Path, &Path) -> (Command, Option<PathBuf>) + 'a;

pub struct Broker {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn base(&self) -> PathBuf {
        self.root.join("broker")
    }
    pub fn log(&self) -> PathBuf {
        self.base().join("log/audit.jsonl")
    }
    pub fn state(&self) -> PathBuf {
        self.base().join("state")
    }
    pub fn profiles(&self) -> PathBuf {
        self.base().join("profiles")
    }
    pub fn home(&self, uid: u32) -> PathBuf {
        self.root.join(format!("home-{uid}"))
    }

    /// Starts a broker: its directory is root's, mode 0700; the socket's
    /// directory and the clients' homes are reachable by the clients.
    pub fn start(max_concurrent: usize) -> Broker {
        Broker::start_with(max_concurrent, "queue = 0", "", &[], &[])
    }

    /// A broker with `top` added to its configuration's top-level keys,
    /// `tail` after its mappings, more roles, and homes for more client uids.
    pub fn start_with(
        max_concurrent: usize,
        top: &str,
        tail: &str,
        roles: &[(&str, &str)],
        uids: &[u32],
    ) -> Broker {
        Broker::start_full(max_concurrent, top, tail, roles, uids, &|_, config| {
            let mut c = Command::new(BIN);
            c.args(["serve", "--config"]).arg(config);
            (c, None)
        })
    }

    /// As [`Broker::start_with`], with the command that starts the broker
    /// made by `launch(root, config)`, and the socket it listens on when
    /// that is not the configuration's.
    pub fn start_full(
        max_concurrent: usize,
        top: &str,
        tail: &str,
        roles: &[(&str, &str)],
        uids: &[u32],
        launch: &Launch<'_>,
    ) -> Broker {
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
        for (name, text) in roles {
            std::fs::write(base.join(format!("profiles/roles/{name}.toml")), text).unwrap();
        }
        std::fs::create_dir(base.join("log")).unwrap();
        let sock_dir = root.join("run");
        std::fs::create_dir(&sock_dir).unwrap();
        std::fs::set_permissions(&sock_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for &uid in [AGENT, APPROVER].iter().chain(uids) {
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
{top}
request_timeout_seconds = 60
grace_seconds = 5

[[callers]]
uid = {AGENT}
roles = ["agent_role"]

[[approvers]]
uid = {APPROVER}
roles = ["*"]
{tail}
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
        let (mut command, listening) = launch(&root, &config);
        let socket = listening.unwrap_or(socket);
        let child = command
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

    /// The broker's pid.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    /// Sends `sig` to the broker and waits (bounded) for it to end.
    pub fn stop_with(&mut self, sig: nix::sys::signal::Signal) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig).unwrap();
        for _ in 0..600 {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        panic!("the broker did not stop on {sig}: {}", self.serve_err());
    }

    pub fn serve_err(&self) -> String {
        std::fs::read_to_string(self.root.join("serve.err")).unwrap_or_default()
    }

    /// `agentjail --broker SOCKET ARGS` as `uid`.
    pub fn client(&self, uid: u32, args: &[&str]) -> Command {
        let mut c = as_uid(uid, &self.home(uid));
        c.arg(BIN).arg("--broker").arg(&self.socket).args(args);
        c
    }

    pub fn run(&self, uid: u32, args: &[&str]) -> Output {
        self.client(uid, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `run --role agent_role echo_text --param text=TEXT` as `uid`.
    pub fn echo(&self, uid: u32, text: &str) -> Output {
        self.run(
            uid,
            &[
                "run",
                "--role",
                "agent_role",
                "echo_text",
                "--param",
                &format!("text={text}"),
            ],
        )
    }

    pub fn log_text(&self) -> String {
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
pub fn as_uid(uid: u32, home: &Path) -> Command {
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

pub fn assert_log_intact(b: &Broker) {
    let o = Command::new(BIN)
        .arg("audit")
        .arg("verify")
        .arg(b.log())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs `cmd` with `input` on stdin (written from a thread) and returns its output.
pub fn pipe_through(mut cmd: Command, input: Vec<u8>) -> Output {
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
pub fn request_id(stderr: &str) -> String {
    let at = stderr
        .find("approval request ")
        .unwrap_or_else(|| panic!("no request id in: {stderr}"));
    stderr[at + "approval request ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Processes whose command line is exactly `argv`.
pub fn processes_running(argv: &[&str]) -> usize {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want))
        .count()
}

/// A client running `sleep SECONDS` through the broker, once the tool runs
/// (a bounded wait).
pub fn sleeping_call(b: &Broker, seconds: &str) -> Child {
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
