//! The pool of prepared sandboxes (`mcp serve --pool`, the broker's
//! `[pool]`): a call served from the pool finds nothing of an earlier call
//! (file, process, socket, SysV object), a sandbox is never reused for a
//! changed plan (a profile edited, a bind source swapped), an idle sandbox
//! killed from outside costs nothing but its warmth, and a call whose
//! claimer dies takes its sandbox along.
//!
//! Every call here runs inside the sandbox; the first assertion on each
//! result is that it was confined (seccomp, Landlock, no_new_privs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "mcp_serve_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use support::Server;

const TOOLS: &str = r#"
[tools.leave]
description = "Leave things behind: a file, a process, sockets, SysV objects"
risk = "read"
command = ["sh", "-c", """
echo left > /tmp/left-behind
echo left > /dev/shm/left-behind
setsid sleep 600 < /dev/null > /dev/null 2>&1 &
ipcmk -M 4096 > /dev/null
ipcmk -Q > /dev/null
ipcmk -S 1 > /dev/null
python3 -c '
import os, socket, sys, time
u = socket.socket(socket.AF_UNIX); u.bind(b"\\0agentjail-left"); u.listen()
print("bound", flush=True)
if os.fork() == 0:
    os.setsid(); sys.stdout = open(os.devnull, "w"); time.sleep(600)
' < /dev/null
echo "ipc $(ipcs -m -q -s | grep -c '^0x')"
echo "done"
"""]

[tools.look]
description = "Report what is there"
risk = "read"
command = ["sh", "-c", """
ls -A /tmp /dev/shm
echo "procs: $(ps -eo comm= | grep -v -x -e init -e ps -e sh -e sort -e tr -e grep | sort | tr '\\n' ' ')"

ipcs -m -q -s | grep -c '^0x' || true
python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(b"\\0agentjail-left"); print("connected")
except OSError as e:
    print("refused")
'
"""]

[tools.show]
description = "List the bound directory"
risk = "read"
command = ["ls", "/data"]

[tools.pair]
description = "Print the lengths of two texts"
risk = "read"
command = ["sh", "-c", "printf %s \"$1$2$3\" | wc -c", "pair", "{a}", "{b}", "{c}"]
params.a = { type = "string", max_length = 60000 }
params.b = { type = "string", max_length = 60000 }
params.c = { type = "string", max_length = 60000 }

[tools.mark]
description = "Leave a marker in the writable bind"
risk = "read"
command = ["touch", "/out/{name}"]
params.name = { type = "string", pattern = "^[a-z0-9]+$" }

[tools.nap]
description = "Sleep"
risk = "read"
command = ["sleep", "{seconds}"]
params.seconds = { type = "integer", min = 0, max = 1000 }
"#;

fn role(data: &Path, tmp_size: &str) -> String {
    format!(
        r#"
allowed_tools = ["leave", "look", "show", "nap", "pair"]
[limits]
timeout_seconds = 20
[sandbox]
network = "none"
unix_sockets = true
tmp_size = "{tmp_size}"
binds = [{{ source = "{}", target = "/data" }}]
"#,
        data.display()
    )
}

/// The mcp serve suites' directories (state, log, profiles outside /tmp),
/// with this file's catalog and only the `pooled` role.
struct Setup {
    env: support::Env,
}

impl Setup {
    fn new() -> Setup {
        let s = Setup {
            env: support::Env::new(),
        };
        std::fs::remove_dir_all(s.path("profiles/roles")).unwrap();
        std::fs::create_dir_all(s.path("profiles/roles")).unwrap();
        std::fs::create_dir_all(s.path("data")).unwrap();
        std::fs::write(s.path("data/first"), "1").unwrap();
        std::fs::write(s.path("profiles/tools.toml"), TOOLS).unwrap();
        s.write_role("64M");
        s
    }

    fn path(&self, p: &str) -> PathBuf {
        self.env.path(p)
    }

    fn write_role(&self, tmp_size: &str) {
        let text = role(&self.path("data"), tmp_size);
        std::fs::write(self.path("profiles/roles/pooled.toml"), text).unwrap();
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["mcp", "serve", "--role", "pooled"];
        args.extend_from_slice(extra);
        let mut s = Server::start(self.env.command(false, &args));
        s.initialize();
        s
    }

    /// The tool_result records, oldest first.
    fn results(&self) -> Vec<Value> {
        self.env
            .records()
            .into_iter()
            .filter(|r| r["event_type"] == "tool_result")
            .collect()
    }
}

/// The pool's cgroup per call needs root here (cgroup v1 delegation).
fn sandbox_or_skip() -> bool {
    if !nix::unistd::geteuid().is_root() {
        common::skip("the pool tests run as root (the calls' cgroups)");
        return false;
    }
    true
}

/// Calls `tool`, asserts it succeeded confined, returns its stdout and
/// whether a prepared sandbox served it.
fn call(s: &mut Server, setup: &Setup, tool: &str, args: Value) -> (String, bool) {
    let r = s.call(tool, args);
    let text = support::text(&r);
    assert_eq!(r["isError"], false, "{tool} failed: {r}");
    let rec = setup.results().pop().expect("a tool_result record");
    assert_eq!(rec["tool"], tool);
    let sb = &rec["sandbox"];
    assert_eq!(sb["seccomp"], true, "{rec}");
    assert_eq!(sb["no_new_privs"], true, "{rec}");
    assert_ne!(sb["landlock"], "none", "{rec}");
    (text, sb["prepared"] == true)
}

#[test]
fn nothing_of_one_call_is_there_for_the_next() {
    if !sandbox_or_skip() {
        return;
    }
    let setup = Setup::new();
    let mut s = setup.serve(&["--pool", "2"]);
    // The first call of its kind is built new; it asks for prepared ones.
    let (before, warm) = call(&mut s, &setup, "look", json!({}));
    assert!(!warm, "the first call cannot have found a prepared sandbox");
    common::wait_prepared(s.peer.child.id(), 2);
    let (left, warm) = call(&mut s, &setup, "leave", json!({}));
    assert!(warm, "the second call of the same plan is served prepared");
    // Everything was really made (and lives on past the script's end).
    assert!(
        left.contains("bound") && left.contains("ipc 3") && left.contains("done"),
        "{left}"
    );
    let (after, warm) = call(&mut s, &setup, "look", json!({}));
    assert!(warm, "the third call is served prepared too");
    for gone in ["left-behind", "sleep", "python3", "connected"] {
        assert!(
            !after.contains(gone),
            "`{gone}` survived into the next call:\n{after}"
        );
    }
    assert!(after.contains("refused"), "{after}");
    // SysV objects: none in the next call's ipc namespace.
    let counts: Vec<&str> = after.lines().filter(|l| l.trim() == "0").collect();
    assert!(!counts.is_empty(), "SysV objects survived:\n{after}");
    assert_eq!(
        before, after,
        "a served call must see what a fresh one sees"
    );
    assert_eq!(s.finish(), 0);
}

#[test]
fn a_changed_plan_is_not_served_by_a_stale_sandbox() {
    if !sandbox_or_skip() {
        return;
    }
    let setup = Setup::new();
    let mut s = setup.serve(&["--pool", "1"]);
    let owner = s.peer.child.id();
    call(&mut s, &setup, "show", json!({}));
    common::wait_prepared(owner, 1);
    let (out, warm) = call(&mut s, &setup, "show", json!({}));
    assert!(warm && out.contains("first"), "{out}");
    common::wait_prepared(owner, 1);
    // The bind source swapped for another directory at the same path.
    std::fs::rename(setup.path("data"), setup.path("data-old")).unwrap();
    std::fs::create_dir(setup.path("data")).unwrap();
    std::fs::write(setup.path("data/second"), "2").unwrap();
    let (out, warm) = call(&mut s, &setup, "show", json!({}));
    assert!(
        !warm,
        "a sandbox built on the old directory served the call"
    );
    assert!(out.contains("second") && !out.contains("first"), "{out}");
    // The profile edited: the sandboxes prepared from the old plan do not serve.
    common::wait_prepared(owner, 1);
    call(&mut s, &setup, "show", json!({}));
    common::wait_prepared(owner, 1);
    setup.write_role("32M");
    let (_, warm) = call(&mut s, &setup, "show", json!({}));
    assert!(!warm, "a sandbox of the old profile served the call");
    // The older plans' sandboxes still wait beside the one being built for
    // the new plan, so waiting for "one prepared" proves nothing here: the
    // new plan's calls must come to be served prepared.
    let served = common::poll_until(support::WAIT, || call(&mut s, &setup, "show", json!({})).1);
    assert!(served, "the new plan is prepared in its turn");
    assert_eq!(s.finish(), 0);
}

#[test]
fn an_idle_sandbox_killed_from_outside_costs_only_its_warmth() {
    if !sandbox_or_skip() {
        return;
    }
    let setup = Setup::new();
    let mut s = setup.serve(&["--pool", "1"]);
    call(&mut s, &setup, "show", json!({}));
    // Kill every prepared sandbox's pid 1 (named agentjail-init), once
    // the server has prepared one after the call.
    let mut inits = Vec::new();
    for _ in 0..200 {
        inits = common::descendants_with(s.peer.child.id(), "agentjail-init");
        if !inits.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(!inits.is_empty(), "no prepared sandbox to kill");
    for pid in &inits {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // The next call still runs (on a new sandbox, or one prepared since).
    let (out, _) = call(&mut s, &setup, "show", json!({}));
    assert!(out.contains("first"), "{out}");
    common::wait_prepared(s.peer.child.id(), 1);
    let (out, warm) = call(&mut s, &setup, "show", json!({}));
    assert!(out.contains("first") && warm, "{out}");
    assert_eq!(s.finish(), 0);
}

/// A prepared sandbox's tool process is forked and confined before any
/// call (no capabilities, no_new_privs, seccomp in filter mode; only the
/// exec waits for the call's record). Killed while it waits, it costs only the sandbox's warmth: the
/// next call runs in a new sandbox, and later ones are served prepared.
#[test]
fn an_armed_tool_process_is_confined_and_killing_it_costs_only_warmth() {
    if !sandbox_or_skip() {
        return;
    }
    let setup = Setup::new();
    let mut s = setup.serve(&["--pool", "1"]);
    call(&mut s, &setup, "show", json!({}));
    common::wait_prepared(s.peer.child.id(), 1);
    let armed = common::descendants_with(s.peer.child.id(), "agentjail-tool");
    assert_eq!(armed.len(), 1, "one armed tool process: {armed:?}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", armed[0])).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("CapEff:"), "0000000000000000", "{status}");
    assert_eq!(field("CapBnd:"), "0000000000000000", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    assert_eq!(field("Seccomp:"), "2", "{status}");
    assert_eq!(field("Seccomp_filters:"), "1", "{status}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(armed[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let (out, warm) = call(&mut s, &setup, "show", json!({}));
    assert!(out.contains("first") && !warm, "{out}");
    common::wait_prepared(s.peer.child.id(), 1);
    let (out, warm) = call(&mut s, &setup, "show", json!({}));
    assert!(out.contains("first") && warm, "{out}");
    assert_eq!(s.finish(), 0);
}

#[test]
fn a_claimer_that_dies_takes_its_sandbox_along() {
    if !sandbox_or_skip() {
        return;
    }
    let setup = Setup::new();
    let mut s = setup.serve(&["--pool", "1"]);
    call(&mut s, &setup, "nap", json!({"seconds": 0}));
    common::wait_prepared(s.peer.child.id(), 1);
    // A long call, served prepared; then its claimer (the server's forked
    // call process) is killed.
    s.send_raw(
        format!(
            "{}\n",
            json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                   "params": {"name": "nap", "arguments": {"seconds": 777}}})
        )
        .as_bytes(),
    );
    let server = s.peer.child.id();
    let mut sleeper = Vec::new();
    for _ in 0..200 {
        sleeper = common::descendants_with(server, "777");
        if !sleeper.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(!sleeper.is_empty(), "the long call never started");
    let children =
        std::fs::read_to_string(format!("/proc/{server}/task/{server}/children")).unwrap();
    // The call process is the server's child that is not a prepared
    // sandbox's pid 1 (those lead their own namespaces).
    let own_ns = std::fs::read_link(format!("/proc/{server}/ns/pid")).unwrap();
    let mut killed = 0;
    for c in children.split_whitespace() {
        let ns = std::fs::read_link(format!("/proc/{c}/ns/user")).ok();
        let server_user = std::fs::read_link(format!("/proc/{server}/ns/user")).ok();
        if ns == server_user
            && std::fs::read_link(format!("/proc/{c}/ns/pid")).ok() == Some(own_ns.clone())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.parse().unwrap()),
                nix::sys::signal::Signal::SIGKILL,
            );
            killed += 1;
        }
    }
    assert!(killed >= 1, "no call process found among {children}");
    let mut gone = false;
    for _ in 0..200 {
        if sleeper
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists() || is_zombie(*p))
        {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(gone, "the tool outlived its claimer: {sleeper:?}");
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

#[test]
fn a_call_too_big_for_a_prepared_sandbox_runs_in_a_new_one() {
    if !sandbox_or_skip() {
        return;
    }
    let setup = Setup::new();
    let mut s = setup.serve(&["--pool", "1"]);
    let small = json!({"a": "x", "b": "y", "c": "z"});
    call(&mut s, &setup, "pair", small.clone());
    common::wait_prepared(s.peer.child.id(), 1);
    // Three arguments of 60,000 bytes: more than one message to a prepared
    // sandbox carries (128 KiB), less than execve takes.
    let big = "z".repeat(60_000);
    let (out, warm) = call(
        &mut s,
        &setup,
        "pair",
        json!({"a": big, "b": big, "c": big}),
    );
    assert_eq!(out.trim(), "180000");
    assert!(!warm, "an oversized call cannot have been served prepared");
    // The pool goes on serving the calls that fit.
    common::wait_prepared(s.peer.child.id(), 1);
    let (out, warm) = call(&mut s, &setup, "pair", small);
    assert_eq!(out.trim(), "3");
    assert!(warm);
    assert_eq!(s.finish(), 0);
}

/// In a front-end with a pool, the decision record's sync starts as the
/// record is written, on a thread, when a prepared sandbox is ready. When
/// it fails, the tool does not run: with an empty pool (the sync after the
/// new sandbox's fork), served prepared (no fork at all), or missing a
/// ready sandbox (the launcher waits for the sync before it forks); and
/// the server goes on serving.
#[test]
fn a_failed_sync_of_the_decision_record_stops_a_pooled_call_before_exec() {
    if !sandbox_or_skip() {
        return;
    }
    let setup = Setup::new();
    let out = setup.path("out");
    std::fs::create_dir_all(&out).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let role = format!(
        "allowed_tools = [\"mark\"]\n[limits]\ntimeout_seconds = 20\n[sandbox]\nnetwork = \"none\"\n\
         binds = [{{ source = \"{}\", target = \"/out\", mode = \"rw\" }}]\n",
        out.display()
    );
    std::fs::write(setup.path("profiles/roles/marking.toml"), role).unwrap();
    let flag = setup.path("fail-syncs");
    let shim =
        common::flagged_sync_failure(&setup.path(""), &flag).expect("cc (the CI installs gcc)");
    let mut cmd = setup
        .env
        .command(false, &["mcp", "serve", "--role", "marking", "--pool", "1"]);
    cmd.env("LD_PRELOAD", &shim);
    let mut s = Server::start(cmd);
    s.initialize();
    let refused = |s: &mut Server, name: &str| {
        let r = s.call("mark", json!({ "name": name }));
        let text = support::text(&r);
        assert_eq!(r["isError"], true, "{r}");
        assert!(
            text.contains("the tool was not run") && text.contains("Input/output error"),
            "{text}"
        );
        assert!(!out.join(name).exists(), "the tool ran: {text}");
    };
    let ran = |s: &mut Server, name: &str| {
        let r = s.call("mark", json!({ "name": name }));
        assert_eq!(r["isError"], false, "{r}");
        assert!(out.join(name).exists(), "{r}");
    };
    // The first call of its plan finds no prepared sandbox: a new one.
    std::fs::write(&flag, "").unwrap();
    refused(&mut s, "cold");
    std::fs::remove_file(&flag).unwrap();
    ran(&mut s, "first");
    common::wait_prepared(s.peer.child.id(), 1);
    let armed = common::descendants_with(s.peer.child.id(), "agentjail-tool");
    assert_eq!(armed.len(), 1, "one armed tool process: {armed:?}");
    std::fs::write(&flag, "").unwrap();
    refused(&mut s, "warm");
    // It was this call's: claimed, and ended with the call.
    let gone = common::poll_until(support::WAIT, || {
        !Path::new(&format!("/proc/{}", armed[0])).exists()
    });
    assert!(
        gone,
        "the prepared sandbox outlived the call that claimed it"
    );
    std::fs::remove_file(&flag).unwrap();
    ran(&mut s, "after");
    // A prepared sandbox is ready, but for the old bind source: the call's
    // sync starts on a thread, the claim misses, and the launcher waits
    // for the failing sync before it forks a new sandbox.
    common::wait_prepared(s.peer.child.id(), 1);
    std::fs::rename(&out, setup.path("out-before")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(&flag, "").unwrap();
    refused(&mut s, "missed");
    std::fs::remove_file(&flag).unwrap();
    ran(&mut s, "last");
    assert_eq!(setup.results().len(), 3, "three calls ran");
    // No decision record claims a call that did not run.
    let decided = setup
        .env
        .records()
        .into_iter()
        .filter(|r| r["event_type"] == "decision" && r["decision"] == "allow")
        .count();
    assert_eq!(decided, 3, "{:?}", setup.env.records());
}
