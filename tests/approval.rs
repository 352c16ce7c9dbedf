//! Human approval: the queued flow (`run` exits 75, `approvals approve`,
//! exactly one run of exactly that call, expiry), denial, approvers, the
//! approval hook, the interactive prompt under a pty (yes, no, no answer,
//! typed ahead), the state directory kept out of the sandbox, and a corrupt
//! state file failing closed.
//!
//! Every command gets `--state-dir`, `--audit-log` and `--profiles` in a
//! temporary directory of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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

[tools.send_note]
risk = "external"
command = ["echo", "sent to", "{to}"]
params.to = { type = "string", pattern = "[a-z]+" }

[tools.read_path]
risk = "read"
command = ["cat", "--", "{path}"]
params.path = { type = "path", access = "paths", bind = "ro" }

[tools.post_body]
risk = "external"
command = ["cat"]

[tools.sh]
risk = "read"
command = ["/bin/sh", "-c", "{script}"]
params.script = { type = "string" }
"#;

fn role(extra: &str) -> String {
    format!(
        r#"allowed_tools = ["echo_text", "delete_file", "send_note", "read_path", "sh", "post_body"]
[limits]
timeout_seconds = 20
approval_timeout = "2s"
[data_access]
writable_dirs = ["/tmp"]
paths = ["/tmp"]
[screening]
injection_patterns = []
suspicious_values = []
suspicious_patterns = []
[sandbox]
optional = ["cgroup"]
{extra}
"#
    )
}

/// One isolated environment: profiles, state directory and audit log in a
/// temporary directory, and a directory in /tmp the sandbox may delete in.
struct Env {
    dir: TempDir,
    work: TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    what: String,
}

impl Out {
    fn code(&self, want: i32) -> &Out {
        assert_eq!(self.code, want, "{}", self.context());
        self
    }
    fn context(&self) -> String {
        format!(
            "\n$ agentjail {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
    fn stderr_has(&self, s: &str) -> &Out {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}{}",
            self.context()
        );
        self
    }
    fn stdout_has(&self, s: &str) -> &Out {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}{}",
            self.context()
        );
        self
    }
    /// The request id in `approval request ID is pending`.
    fn request_id(&self) -> String {
        let marker = "approval request ";
        let at = self
            .stderr
            .find(marker)
            .unwrap_or_else(|| panic!("no request id{}", self.context()));
        self.stderr[at + marker.len()..][..12].to_string()
    }
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let profiles = dir.path().join("profiles");
        std::fs::create_dir_all(profiles.join("roles")).unwrap();
        std::fs::write(profiles.join("tools.toml"), TOOLS).unwrap();
        for (name, extra) in [
            ("ops", String::new()),
            (
                "guarded",
                "[approval]\napprovers = [\"4242\"]\n".to_string(),
            ),
            ("hasty", "[approval]\nrequest_ttl = 1\n".to_string()),
            ("quiet", "[approval]\nprompt = false\n".to_string()),
        ] {
            std::fs::write(profiles.join(format!("roles/{name}.toml")), role(&extra)).unwrap();
        }
        let work = tempfile::Builder::new()
            .prefix("agentjail-approval-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        Env { dir, work }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// A file in the work directory, made by the test.
    fn victim(&self, name: &str) -> PathBuf {
        let p = self.work.path().join(name);
        std::fs::write(&p, "keep me").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        p
    }

    fn dir_arg(&self) -> String {
        format!("dir={}", self.work.path().display())
    }

    fn cmd(&self) -> Command {
        self.cmd_in(&self.state())
    }

    /// `agentjail` with a clean environment, this test's profiles and audit
    /// log, and the state directory `state`.
    fn cmd_in(&self, state: &std::path::Path) -> Command {
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
            .arg(state)
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
            what: args.join(" "),
        }
    }

    /// `run --role ROLE delete_file dir=WORK name=NAME` (plus `more`).
    fn delete(&self, role: &str, name: &str, more: &[&str]) -> Out {
        let dir = self.dir_arg();
        let name = format!("name={name}");
        let mut args = vec!["run", "--role", role, "--session", "S1"];
        args.extend(more);
        args.extend(["delete_file", "--param", &dir, "--param", &name]);
        self.run(&args)
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The records' (event_type, decision or approval_status) pairs, in order.
    fn steps(&self) -> Vec<(String, String)> {
        self.records()
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                let what = match s("event_type").as_str() {
                    "decision" => format!("{}/{}", s("decision"), s("approval_status")),
                    "approval" => s("approval_status"),
                    _ => s("result"),
                };
                (s("event_type"), what)
            })
            .collect()
    }
}

fn steps(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// --------------------------------------------------------------------------
// The queued flow
// --------------------------------------------------------------------------

#[test]
fn an_approval_runs_exactly_that_call_exactly_once_and_expires() {
    let env = Env::new();
    let a = env.victim("a");
    let b = env.victim("b");

    // 1. No approval: 75, the request id and the command that approves it.
    let out = env.delete("ops", "a", &[]);
    out.code(75)
        .stderr_has("agentjail: approval required: risk class delete")
        .stderr_has("approve with: agentjail --profiles ")
        .stderr_has(" --audit-log ")
        .stderr_has(" --state-dir ");
    let id = out.request_id();
    assert!(
        out.stderr.contains(&format!("approvals approve {id}\n")),
        "{}",
        out.context()
    );
    assert!(a.exists());
    // The same call again reuses the pending request.
    assert_eq!(env.delete("ops", "a", &[]).code(75).request_id(), id);
    let listed = env.run(&["approvals", "list"]);
    listed.code(0).stdout_has(&id).stdout_has("pending");
    env.run(&["approvals", "show", &id])
        .code(0)
        .stdout_has("argv      rm -- ")
        .stdout_has("bind ")
        .stdout_has("session   S1");
    // check sees the pending request and consumes nothing.
    let dir = env.dir_arg();
    env.run(&[
        "check",
        "--role",
        "ops",
        "--session",
        "S1",
        "delete_file",
        "--param",
        &dir,
        "--param",
        "name=a",
    ])
    .code(75)
    .stdout_has(&format!("approval: request {id} is pending"));

    // 2. Approved: the identical call runs once.
    env.run(&["approvals", "approve", &id, "--reason", "cleanup ticket 7"])
        .code(0)
        .stdout_has(&format!("approved request {id}"));
    env.run(&["approvals", "approve", &id])
        .code(1)
        .stderr_has("is approved, not pending");
    // A changed parameter is not covered: b stays, the approval stays.
    let other = env.delete("ops", "b", &[]);
    other.code(75);
    assert_ne!(other.request_id(), id);
    assert!(b.exists());
    // Another session is not covered either.
    let name = "name=a";
    env.run(&[
        "run",
        "--role",
        "ops",
        "--session",
        "S2",
        "delete_file",
        "--param",
        &dir,
        "--param",
        name,
    ])
    .code(75);
    assert!(a.exists());
    env.delete("ops", "a", &[]).code(0);
    assert!(!a.exists(), "the approved call did not run");

    // 3. The second identical call needs a new approval.
    let a = env.victim("a");
    let again = env.delete("ops", "a", &[]);
    again.code(75);
    let id2 = again.request_id();
    assert_ne!(id2, id);
    assert!(a.exists());

    // 4. An expired approval is refused.
    env.run(&["approvals", "approve", &id2, "--ttl", "1s"])
        .code(0);
    std::thread::sleep(Duration::from_millis(1500));
    let late = env.delete("ops", "a", &[]);
    late.code(75);
    assert_ne!(late.request_id(), id2);
    assert!(a.exists());
    env.run(&["approvals", "show", &id2, "--format", "json"])
        .code(0)
        .stdout_has("\"status\": \"expired\"");

    // Each step is in the audit log, and the chain is intact.
    assert_eq!(
        env.steps(),
        steps(&[
            ("decision", "needs_approval/required"), // 1. request
            ("decision", "needs_approval/required"), //    repeated
            ("decision", "needs_approval/required"), //    check
            ("approval", "approved"),                // 2. approve
            ("decision", "needs_approval/required"), //    b: another request
            ("decision", "needs_approval/required"), //    session S2
            ("decision", "allow/consumed"),          //    the approved run
            ("tool_result", "success"),
            ("decision", "needs_approval/required"), // 3. again
            ("approval", "approved"),                // 4. approve --ttl 1s
            ("decision", "needs_approval/required"), //    refused
            ("approval", "expired"),
        ]),
    );
    let recs = env.records();
    let approved = &recs[3];
    assert_eq!(approved["approval"]["request_id"], id.as_str());
    assert_eq!(approved["approval"]["decided"]["by"]["uid"], uid());
    assert_eq!(
        approved["approval"]["decided"]["reason"],
        "cleanup ticket 7"
    );
    let consumed = &recs[6];
    assert_eq!(consumed["approval"]["request_id"], id.as_str());
    assert_eq!(consumed["approval"]["status"], "consumed");
    assert_eq!(recs[0]["approval"]["request_id"], id.as_str());
    assert_eq!(recs[0]["approval"]["new"], true);
    assert_eq!(recs[1]["approval"]["new"], false);
    assert_eq!(recs[11]["approval"]["request_id"], id2.as_str());
    assert_eq!(recs[11]["decision_id"], recs[10]["id"]);
    env.run(&["audit", "verify"]).code(0);
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[test]
fn run_json_carries_the_request_and_external_tools_need_approval_too() {
    let env = Env::new();
    let out = env.run(&[
        "run",
        "--json",
        "--role",
        "ops",
        "send_note",
        "--param",
        "to=ops",
    ]);
    out.code(75);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["decision"], "needs_approval");
    assert_eq!(v["exit_code"], 75);
    let id = v["approval"]["request_id"].as_str().unwrap().to_string();
    assert_eq!(v["approval"]["status"], "pending");
    assert!(v["approval"]["approve_command"]
        .as_str()
        .unwrap()
        .ends_with(&format!("approvals approve {id}")));
    env.run(&["approvals", "approve", &id]).code(0);
    let out = env.run(&[
        "run",
        "--json",
        "--role",
        "ops",
        "send_note",
        "--param",
        "to=ops",
    ]);
    out.code(0);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["stdout"], "sent to ops\n");
}

#[test]
fn a_denied_request_refuses_the_identical_call_until_it_lapses() {
    let env = Env::new();
    let a = env.victim("a");
    let id = env.delete("ops", "a", &[]).code(75).request_id();
    env.run(&["approvals", "deny", &id, "--reason", "not today"])
        .code(0)
        .stdout_has("denied request");
    let out = env.delete("ops", "a", &[]);
    out.code(77)
        .stderr_has("agentjail: denied: the identical call was denied as request")
        .stderr_has("not today");
    assert!(a.exists());
    env.run(&["approvals", "approve", &id])
        .code(1)
        .stderr_has("is denied, not pending");
    env.run(&["approvals", "approve", "000000000000"])
        .code(1)
        .stderr_has("no approval request `000000000000`");
    env.run(&["approvals", "show", "../../x"]).code(64);
    let recs = env.records();
    assert_eq!(recs[1]["approval_status"], "denied");
    assert_eq!(recs[1]["approval"]["decided"]["reason"], "not today");
    assert_eq!(recs[2]["decision"], "deny");
    assert_eq!(recs[2]["approval_status"], "denied");
}

#[test]
fn pending_requests_expire_and_list_audits_it() {
    let env = Env::new();
    let id = env.delete("hasty", "a", &[]).code(75).request_id();
    std::thread::sleep(Duration::from_millis(1200));
    env.run(&["approvals", "list"])
        .code(0)
        .stdout_has("(no pending requests)");
    env.run(&["approvals", "list", "--all"])
        .code(0)
        .stdout_has(&id)
        .stdout_has("expired");
    env.run(&["approvals", "approve", &id])
        .code(1)
        .stderr_has("is expired, not pending");
    let last = env.records().pop().unwrap();
    assert_eq!(last["event_type"], "approval");
    assert_eq!(last["approval_status"], "expired");
    assert_eq!(last["approval"]["request_id"], id.as_str());
}

#[test]
fn only_the_roles_approvers_may_approve_and_a_forged_approval_is_not_used() {
    let env = Env::new();
    if uid() == 4242 {
        return;
    }
    let a = env.victim("a");
    let id = env.delete("guarded", "a", &[]).code(75).request_id();
    env.run(&["approvals", "approve", &id])
        .code(77)
        .stderr_has("may not decide requests of role `guarded`; approval.approvers: 4242");
    let refused = env.records().pop().unwrap();
    assert_eq!(refused["approval_status"], "refused");
    assert_eq!(refused["severity"], "critical");

    // Write the approval into the request file by hand, claiming uid 4242:
    // the file's owner (this uid) is not an approver, so it is not used.
    let path = env.state().join(format!("approvals/{id}.json"));
    let mut req: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    req["status"] = "approved".into();
    req["expires"] = "2999-01-01T00:00:00.000Z".into();
    req["decided"] = serde_json::json!({
        "by": {"uid": 4242, "user": "boss"},
        "at": "2026-01-01T00:00:00.000Z",
        "reason": null,
        "mode": "command",
    });
    std::fs::write(&path, serde_json::to_string(&req).unwrap()).unwrap();
    env.delete("guarded", "a", &[])
        .code(77)
        .stderr_has("not by its approver; not used");
    assert!(a.exists());
}

#[test]
fn the_hook_gets_each_new_request_on_stdin_and_its_failure_is_audited() {
    let env = Env::new();
    let got = env.dir.path().join("hook.out");
    let hook = format!(
        "cat >> {0}; echo \"id=$AGENTJAIL_APPROVAL_ID\" >> {0}",
        got.display()
    );
    env.delete("ops", "a", &["--no-interactive"]).code(75);
    let mut c = env.cmd();
    c.env("AGENTJAIL_APPROVAL_HOOK", &hook).args([
        "run",
        "--role",
        "ops",
        "echo_text",
        "--param",
        "text=hi",
    ]);
    assert_eq!(c.output().unwrap().status.code(), Some(0));
    assert!(!got.exists(), "the hook ran for a call without a request");
    // A new request: the hook runs, once.
    let dir = env.dir_arg();
    let args = [
        "--approval-hook",
        &hook,
        "run",
        "--role",
        "ops",
        "--session",
        "S1",
        "delete_file",
        "--param",
        &dir,
        "--param",
        "name=b",
    ];
    let id = env.run(&args).code(75).request_id();
    env.run(&args).code(75);
    let text = std::fs::read_to_string(&got).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["tool"], "delete_file");
    assert_eq!(v["params"]["name"], "b");
    assert!(v["approve_command"]
        .as_str()
        .unwrap()
        .ends_with(&format!("approvals approve {id}")));
    assert_eq!(lines[1], format!("id={id}"));
    // A failing hook: the request still stands (75), the failure is audited.
    env.run(&[
        "--approval-hook",
        "exit 3",
        "run",
        "--role",
        "ops",
        "delete_file",
        "--param",
        &dir,
        "--param",
        "name=c",
    ])
    .code(75);
    let last = env.records().pop().unwrap();
    assert_eq!(last["event_type"], "error");
    assert_eq!(last["hook_failed"], "exit status 3");
}

// --------------------------------------------------------------------------
// The prompt
// --------------------------------------------------------------------------

/// Runs agentjail on a new pty, as its controlling terminal and its stdin,
/// stdout and stderr. `early` is typed before the prompt, `answer` once
/// the question is on the screen. Returns the exit code and the screen.
fn on_pty(env: &Env, args: &[&str], early: Option<&str>, answer: Option<&str>) -> (i32, String) {
    let pty = nix::pty::openpty(None, None).unwrap();
    // openpty does not set close-on-exec: other tests' children must not keep the pty open.
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .unwrap();
    }
    let master = std::fs::File::from(pty.master);
    let slave = std::fs::File::from(pty.slave);
    let mut c = env.cmd();
    c.args(args)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: setsid and ioctl are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.spawn().unwrap();
    // The command keeps its copies of the slave: without them all, the
    // reader sees the end once agentjail (and its tool) have exited.
    drop(c);
    drop(slave);
    let mut writer = master.try_clone().unwrap();
    if let Some(text) = early {
        writer.write_all(text.as_bytes()).unwrap();
    }
    let screen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let screen = screen.clone();
        let mut master = master;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once every copy of the slave is closed.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let shown = |s: &str| String::from_utf8_lossy(&screen.lock().unwrap()).contains(s);
    if let Some(text) = answer {
        let start = Instant::now();
        while !shown("Approve this call? [y/N]") {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no question: {}",
                String::from_utf8_lossy(&screen.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.write_all(text.as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    (status.code().unwrap_or(-1), text)
}

#[test]
fn the_prompt_under_a_pty_yes_no_and_no_answer() {
    let env = Env::new();
    let dir = env.dir_arg();
    let args = |name: &'static str| -> Vec<String> {
        [
            "run",
            "--role",
            "ops",
            "--agent",
            "A7",
            "--session",
            "S1",
            "delete_file",
            "--param",
            &dir,
            "--param",
            name,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |name: &'static str, early: Option<&str>, answer: Option<&str>| {
        let a = args(name);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        on_pty(&env, &a, early, answer)
    };

    // Yes: the call runs, and the question showed the whole request.
    let a = env.victim("a");
    let (code, screen) = run("name=a", None, Some("y\n"));
    assert_eq!(code, 0, "{screen}");
    assert!(!a.exists(), "{screen}");
    for shown in [
        "role      ops",
        "agent     A7",
        "session   S1",
        "tool      delete_file (risk delete)",
        "\"name\":\"a\"",
        "argv      rm -- ",
        "sandbox   uid 65534, network none",
        "(no answer within 2s means no)",
    ] {
        assert!(screen.contains(shown), "{shown:?} not shown:\n{screen}");
    }

    // No (and anything else is no).
    let b = env.victim("b");
    let (code, screen) = run("name=b", None, Some("n\n"));
    assert_eq!(code, 77, "{screen}");
    assert!(
        screen.contains("agentjail: denied: not approved: "),
        "{screen}"
    );
    assert!(b.exists());
    let (code, _) = run("name=b", None, Some("sure\n"));
    assert_eq!(code, 77);
    assert!(b.exists());

    // No answer within the role's approval_timeout (2 s) is a denial.
    let start = Instant::now();
    let (code, screen) = run("name=b", None, None);
    assert_eq!(code, 77, "{screen}");
    assert!(screen.contains("no answer within 2s"), "{screen}");
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert!(b.exists());

    // A yes typed before the question is discarded: still no answer.
    let (code, screen) = run("name=b", Some("y\n"), None);
    assert_eq!(code, 77, "{screen}");
    assert!(b.exists());

    // Every answer is audited with who gave it.
    let answers: Vec<Value> = env
        .records()
        .into_iter()
        .filter(|r| r["event_type"] == "approval")
        .collect();
    let status: Vec<&str> = answers
        .iter()
        .map(|r| r["approval_status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["approved", "denied", "denied", "denied", "denied"]);
    let by = &answers[0]["approval"]["decided"]["by"];
    assert_eq!(by["uid"], uid());
    assert!(by["tty"].as_str().unwrap().starts_with("/dev/pts/"), "{by}");
    assert_eq!(answers[0]["approval"]["decided"]["mode"], "prompt");
    assert!(answers[3]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("no answer within 2s"));
    let allowed = env
        .records()
        .into_iter()
        .filter(|r| r["event_type"] == "tool_result")
        .count();
    assert_eq!(allowed, 1);
}

#[test]
fn no_prompt_without_a_terminal_on_stdin_or_when_told_not_to() {
    let env = Env::new();
    let dir = env.dir_arg();
    let args = [
        "run",
        "--role",
        "ops",
        "--no-interactive",
        "delete_file",
        "--param",
        &dir,
        "--param",
        "name=a",
    ];
    let (code, screen) = on_pty(&env, &args, None, None);
    assert_eq!(code, 75, "{screen}");
    assert!(screen.contains("approval request "), "{screen}");
    // A role that never prompts.
    let args = [
        "run",
        "--role",
        "quiet",
        "delete_file",
        "--param",
        &dir,
        "--param",
        "name=a",
    ];
    let (code, screen) = on_pty(&env, &args, None, None);
    assert_eq!(code, 75, "{screen}");
    // --interactive without any terminal is a usage error.
    let mut c = env.cmd();
    c.args([
        "run",
        "--role",
        "ops",
        "--interactive",
        "delete_file",
        "--param",
        &dir,
        "--param",
        "name=a",
    ]);
    // SAFETY: setsid is async-signal-safe: a new session has no controlling terminal.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(64), "{o:?}");
}

// --------------------------------------------------------------------------
// The state directory
// --------------------------------------------------------------------------

#[test]
fn the_sandbox_never_sees_the_state_directory() {
    let env = Env::new();
    // Put the state where a tool could name it: under /tmp.
    let state_parent = tempfile::Builder::new()
        .prefix("agentjail-state-")
        .tempdir_in("/tmp")
        .unwrap();
    let state = state_parent.path().join("state");
    let state_s = state.display().to_string();
    let run = |args: &[&str]| {
        let mut c = env.cmd_in(&state);
        c.args(args);
        let o = c.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // Create the state: a pending request.
    let (code, _, err) = run(&["run", "--role", "ops", "send_note", "--param", "to=x"]);
    assert_eq!(code, 75, "{err}");
    assert!(state.join("lock").exists());
    // A bind of the state directory, of a parent, or of a file inside is refused.
    for path in [
        "/tmp".to_string(),
        state_parent.path().display().to_string(),
        state_s.clone(),
        format!("{state_s}/lock"),
    ] {
        let p = format!("path={path}");
        let (code, _, err) = run(&["run", "--role", "ops", "read_path", "--param", &p]);
        assert_eq!(code, 77, "{path}: {err}");
        assert!(
            err.contains("agentjail: denied: the sandbox would show agentjail's state directory"),
            "{err}"
        );
        let (code, out, _) = run(&["check", "--role", "ops", "read_path", "--param", &p]);
        assert_eq!(code, 77, "{out}");
    }
    // Inside the sandbox, the path does not exist.
    let script = format!(
        "script=ls -la {state_s}/ 2>&1; cat {state_s}/lock 2>&1; echo > {state_s}/x 2>&1; exit 0"
    );
    let (code, out, err) = run(&["run", "--role", "ops", "sh", "--param", &script]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("No such file or directory").count(), 2, "{out}");
    assert!(!state.join("x").exists());
}

#[test]
fn damaged_request_never_stops_later_calls() {
    let env = Env::new();
    env.victim("a");
    let id = env.delete("ops", "a", &[]).code(75).request_id();
    let path = env.state().join(format!("approvals/{id}.json"));
    std::fs::write(&path, "{\"id\": ").unwrap();
    // The damaged file is reported and skipped; the call queues a new request.
    let out = env.delete("ops", "a", &[]);
    out.code(75)
        .stderr_has(&format!("damaged request file {} (", path.display()))
        .stderr_has(&format!("approvals deny {id}"));
    let fresh = out.request_id();
    assert_ne!(fresh, id);
    // approvals shows it as damaged, and deny removes it (audited).
    env.run(&["approvals", "list"])
        .code(0)
        .stdout_has(&format!("{id}  damaged"))
        .stdout_has(&fresh);
    env.run(&["approvals", "show", &id])
        .code(0)
        .stdout_has("(damaged)");
    env.run(&["approvals", "approve", &id]).code(125);
    env.run(&["approvals", "deny", &id])
        .code(0)
        .stdout_has(&format!("removed damaged request {id}"));
    assert!(!path.exists());
    assert!(env
        .records()
        .iter()
        .any(|r| r["approval_status"] == "removed" && r["request_id"] == id));
    // An oversized file is damaged the same way.
    std::fs::write(&path, vec![b' '; (1 << 20) + 1]).unwrap();
    env.delete("ops", "a", &[])
        .code(75)
        .stderr_has("(it is 1048577 bytes long)");
    // A read-class call without a budget does not need the state.
    env.run(&["run", "--role", "ops", "echo_text", "--param", "text=ok"])
        .code(0);
}

#[test]
fn oversized_request_stays_small() {
    let env = Env::new();
    env.victim("a");
    // An external-class call with a 60 KB parameter (under the 64 KiB limit).
    let to = format!("to={}", "x".repeat(60_000));
    let id = env
        .run(&[
            "run",
            "--role",
            "ops",
            "--session",
            "S1",
            "send_note",
            "--param",
            &to,
        ])
        .code(75)
        .request_id();
    let size = std::fs::metadata(request_file(&env, &id)).unwrap().len();
    assert!(size < 16 * 1024, "request file is {size} bytes");
    env.run(&["approvals", "show", &id])
        .code(0)
        .stdout_has("[60000 bytes sha256:");
    // Over the limit: 65 naming the parameter and the limit; no request.
    let to = format!("to={}", "x".repeat(70_000));
    env.run(&[
        "run",
        "--role",
        "ops",
        "--session",
        "S1",
        "send_note",
        "--param",
        &to,
    ])
    .code(65)
    .stderr_has(
        "parameter `to` is 70002 bytes; tool `send_note` takes at most 65536 bytes per value",
    );
    // Every later gated call and `approvals list` still work.
    env.run(&["approvals", "list"]).code(0).stdout_has(&id);
    env.delete("ops", "a", &[]).code(75);
}

#[test]
fn state_directory_is_private() {
    let env = Env::new();
    env.delete("ops", "a", &[]).code(75);
    let mode = std::fs::metadata(env.state()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let req = std::fs::read_dir(env.state().join("approvals"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mode = std::fs::metadata(&req).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", req.display());
}

// --------------------------------------------------------------------------
// An approval authorises exactly what the approver saw
// --------------------------------------------------------------------------

fn request_file(env: &Env, id: &str) -> PathBuf {
    env.state().join("approvals").join(format!("{id}.json"))
}

fn edit_request(env: &Env, id: &str, edit: impl FnOnce(&mut Value)) {
    let path = request_file(env, id);
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn approval_digest_recomputed_by_approver() {
    let env = Env::new();
    let harmless = env.victim("tmp.log");
    let important = env.victim("important.db");
    // The agent queues a harmless call and the call it really wants.
    let small = env.delete("ops", "tmp.log", &[]).code(75).request_id();
    let big = env.delete("ops", "important.db", &[]).code(75).request_id();
    let big_digest =
        serde_json::from_str::<Value>(&std::fs::read_to_string(request_file(&env, &big)).unwrap())
            .unwrap()["digest"]
            .clone();
    // It edits the harmless request: the other call's digest, a ten-year
    // approval, a long request lifetime and itself as approver.
    edit_request(&env, &small, |v| {
        v["digest"] = big_digest.clone();
        v["approval_ttl"] = Value::from(315_360_000u64);
        v["request_ttl"] = Value::from(315_360_000u64);
        v["approvers"] = serde_json::json!(["0", "64000"]);
    });
    // The human approves what `show` displays: the harmless call.
    env.run(&["approvals", "show", &small])
        .code(0)
        .stdout_has("tmp.log")
        .stdout_has("digest")
        .stdout_has("role sha");
    env.run(&["approvals", "approve", &small]).code(0);
    let approved: Value =
        serde_json::from_str(&std::fs::read_to_string(request_file(&env, &small)).unwrap())
            .unwrap();
    assert_ne!(
        approved["digest"], big_digest,
        "the approver kept the forged digest"
    );
    // The lifetime is the role's (10 minutes by default), not ten years.
    let expires = humantime::parse_rfc3339(approved["expires"].as_str().unwrap()).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(left <= Duration::from_secs(600), "approval lasts {left:?}");
    assert_eq!(approved["approval_ttl"], 600);
    // The important call is still not approved; the harmless one runs.
    env.delete("ops", "important.db", &[]).code(75);
    assert!(important.exists());
    env.delete("ops", "tmp.log", &[]).code(0);
    assert!(!harmless.exists());
    // The forged digest is on record.
    assert!(env
        .records()
        .iter()
        .any(|r| r["approval_status"] == "mended" && r["severity"] == "critical"));
}

#[test]
fn approval_void_after_role_edit() {
    let env = Env::new();
    let victim = env.victim("a");
    let id = env.delete("ops", "a", &[]).code(75).request_id();
    env.run(&["approvals", "approve", &id]).code(0);
    // The role is edited after the approval: the host's network.
    let path = env.dir.path().join("profiles/roles/ops.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("[sandbox]\n", "[sandbox]\nnetwork = \"host\"\n"),
    )
    .unwrap();
    env.delete("ops", "a", &[])
        .code(75)
        .stderr_has(&format!(
            "request {id} approved this tool for this session, but not this call"
        ))
        .stderr_has("role_sha256, sandbox (namespaces, network)");
    assert!(victim.exists());
    // Back as it was, the approval matches again.
    std::fs::write(&path, text).unwrap();
    env.delete("ops", "a", &[]).code(0);
    assert!(!victim.exists());
}

#[test]
fn approval_void_after_passed_env_change() {
    let env = Env::new();
    let path = env.dir.path().join("profiles/roles/ops.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("[sandbox]\n", "[sandbox]\npass_env = [\"DEPLOY_TARGET\"]\n"),
    )
    .unwrap();
    let victim = env.victim("a");
    let run = |target: &str| {
        let dir = env.dir_arg();
        let o = env
            .cmd()
            .env("DEPLOY_TARGET", target)
            .args([
                "run",
                "--role",
                "ops",
                "--session",
                "S1",
                "delete_file",
                "--param",
                &dir,
                "--param",
                "name=a",
            ])
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run("staging");
    assert_eq!(code, 75, "{err}");
    let marker = "approval request ";
    let at = err.find(marker).unwrap();
    let id = err[at + marker.len()..][..12].to_string();
    env.run(&["approvals", "show", &id])
        .code(0)
        .stdout_has("DEPLOY_TARGET=staging");
    env.run(&["approvals", "approve", &id]).code(0);
    let (code, err) = run("production");
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("env (DEPLOY_TARGET)"), "{err}");
    assert!(victim.exists());
    let (code, err) = run("staging");
    assert_eq!(code, 0, "{err}");
    assert!(!victim.exists());
}

#[test]
fn stdin_file_is_bound_by_approval() {
    let env = Env::new();
    let body = env.dir.path().join("body.txt");
    std::fs::write(&body, "hello\n").unwrap();
    let body_arg = body.display().to_string();
    let post = || {
        env.run(&[
            "run",
            "--role",
            "ops",
            "--session",
            "S1",
            "--stdin-file",
            &body_arg,
            "post_body",
        ])
    };
    let id = post().code(75).request_id();
    env.run(&["approvals", "show", &id])
        .code(0)
        .stdout_has("--stdin-file with SHA-256");
    env.run(&["approvals", "approve", &id]).code(0);
    // Other bytes in the file: not what was approved.
    std::fs::write(&body, "rm -rf /\n").unwrap();
    post().code(75).stderr_has("stdin_sha256");
    std::fs::write(&body, "hello\n").unwrap();
    post().code(0).stdout_has("hello");
    // Too large a file is refused before anything runs.
    let big = env.dir.path().join("big");
    std::fs::write(&big, vec![b'x'; (16 << 20) + 1]).unwrap();
    let big_arg = big.display().to_string();
    env.run(&[
        "run",
        "--role",
        "ops",
        "--stdin-file",
        &big_arg,
        "echo_text",
        "--param",
        "text=x",
    ])
    .code(65)
    .stderr_has("is larger than 16777216 bytes");
}

#[test]
fn show_says_plain_stdin_is_not_bound() {
    let env = Env::new();
    env.victim("a");
    let id = env.delete("ops", "a", &[]).code(75).request_id();
    env.run(&["approvals", "show", &id])
        .code(0)
        .stdout_has("stdin     not bound")
        .stdout_has("template  [\"rm\",\"--\",\"{dir}/{name}\"]");
}

// --------------------------------------------------------------------------
// No sandbox shows the state, the log or the profiles, by identity
// --------------------------------------------------------------------------

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    if std::env::var("AGENTJAIL_REQUIRE_PRIVILEGED_TESTS").as_deref() == Ok("1") {
        panic!("skipped: {what} needs root for a private mount namespace (a skip is a failure because AGENTJAIL_REQUIRE_PRIVILEGED_TESTS=1)");
    }
    {
        use std::io::Write;
        // The handle, not eprintln!: libtest captures the macros of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {what} needs root for a private mount namespace"
        );
    }
    true
}

/// `base` run in a private mount namespace after `mount --bind FROM TO`.
fn with_bind_mount(base: &Command, from: &std::path::Path, to: &std::path::Path) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"")
        .arg("sh")
        .arg(from)
        .arg(to)
        .arg(base.get_program())
        .args(base.get_args())
        .stdin(Stdio::null());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

#[test]
fn bind_alias_of_state_dir_refused() {
    if skip_unless_root("bind_alias_of_state_dir_refused") {
        return;
    }
    let env = Env::new();
    // The state exists (a pending request), away from anything a tool may bind.
    env.run(&["run", "--role", "ops", "send_note", "--param", "to=x"])
        .code(75);
    // A second mount of it under /tmp, where the role's binds may reach.
    let alias_parent = tempfile::Builder::new()
        .prefix("agentjail-alias-")
        .tempdir_in("/tmp")
        .unwrap();
    let alias = alias_parent.path().join("alias");
    std::fs::create_dir(&alias).unwrap();
    for target in [alias.clone(), alias.join("approvals")] {
        let p = format!("path={}", target.display());
        let mut base = env.cmd();
        base.args(["run", "--role", "ops", "read_path", "--param", &p]);
        let o = with_bind_mount(&base, &env.state(), &alias)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{}: {err}", target.display());
        assert!(
            err.contains("would show agentjail's state directory"),
            "{err}"
        );
    }
}

#[test]
fn bind_exposing_profile_dir_refused() {
    let env = Env::new();
    let profiles = env.dir.path().join("profiles");
    let p = format!("path={}", profiles.join("roles").display());
    env.run(&["run", "--role", "ops", "read_path", "--param", &p])
        .code(77)
        .stderr_has("would show a profile directory agentjail reads")
        .stderr_has(&profiles.display().to_string());
    // The audit log too.
    let p = format!("path={}", env.log().display());
    env.run(&["run", "--role", "ops", "read_path", "--param", &p])
        .code(77)
        .stderr_has("would show agentjail's audit log");
}

#[test]
fn user_profiles_cannot_override_etc() {
    if skip_unless_root("user_profiles_cannot_override_etc") {
        return;
    }
    let env = Env::new();
    let etc = env.dir.path().join("etc");
    std::fs::create_dir_all(etc.join("agentjail/profiles/roles")).unwrap();
    std::fs::write(etc.join("agentjail/profiles/tools.toml"), TOOLS).unwrap();
    std::fs::write(etc.join("agentjail/profiles/roles/ops.toml"), role("")).unwrap();
    let home = env.dir.path().join("home");
    let user = home.join(".config/agentjail/profiles");
    std::fs::create_dir_all(user.join("roles")).unwrap();
    std::fs::write(user.join("tools.toml"), TOOLS).unwrap();
    std::fs::write(user.join("roles/evil.toml"), role("")).unwrap();
    let mut base = Command::new(env!("CARGO_BIN_EXE_agentjail"));
    base.env_remove("XDG_CONFIG_HOME")
        .env_remove("AGENTJAIL_PROFILES")
        .env("HOME", &home)
        .args(["profiles", "list"]);
    let o = with_bind_mount(&base, &etc, std::path::Path::new("/etc"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("ops"), "{out}");
    assert!(
        !out.contains("evil"),
        "the user's directory overrode /etc: {out}"
    );
    // Without /etc's profiles, the user's are used.
    let o = Command::new(env!("CARGO_BIN_EXE_agentjail"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("AGENTJAIL_PROFILES")
        .env("HOME", &home)
        .args(["profiles", "list"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    if !std::path::Path::new("/etc/agentjail/profiles/tools.toml").exists() {
        assert!(out.contains("evil"), "{out}");
    }
}

#[test]
fn approval_hook_is_rate_limited() {
    let env = Env::new();
    let got = env.dir.path().join("hook.out");
    let hook = format!("echo \"$AGENTJAIL_APPROVAL_ID\" >> {}", got.display());
    // Fifteen new requests in a row, the hook allowed ten a minute.
    for i in 0..15 {
        let to = format!("to={}", "abcdefghijklmnop".chars().nth(i).unwrap());
        let o = env
            .cmd()
            .env("AGENTJAIL_APPROVAL_HOOK_PER_MINUTE", "10")
            .args([
                "--approval-hook",
                &hook,
                "run",
                "--role",
                "ops",
                "send_note",
                "--param",
                &to,
            ])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(75),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let runs = std::fs::read_to_string(&got).unwrap_or_default();
    assert_eq!(runs.lines().count(), 10, "{runs}");
    let suppressed: Vec<Value> = env
        .records()
        .into_iter()
        .filter(|r| r["approval_status"] == "hook_suppressed")
        .collect();
    assert_eq!(suppressed.len(), 5);
    assert_eq!(suppressed[4]["suppressed_this_minute"], 5);
}
