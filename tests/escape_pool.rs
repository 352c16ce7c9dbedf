//! The escape checks that matter most, run on calls served by prepared
//! sandboxes (`mcp serve --pool`): a pooled call must be confined exactly as
//! a one-shot run (tests/escape.rs). Each check's first call warms the pool;
//! the call that is judged is asserted to have been served prepared, and its
//! script starts with `common::GUARD`, so hostile code runs only confined.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "mcp_serve_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::process::Command;
use support::{Server, BIN};

/// A `mcp serve --pool 1` of the fixture's `probe` role, root-run.
fn serve() -> Option<(Server, tempfile::TempDir)> {
    if !nix::unistd::geteuid().is_root() {
        common::skip("the pooled escape checks run as root (the calls' cgroups)");
        return None;
    }
    if !common::probe_available() {
        return None;
    }
    let f = common::fixture();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut c = Command::new(BIN);
    for v in [
        "AGENTJAIL_ROLE",
        "AGENTJAIL_PROFILES",
        "AGENTJAIL_BROKER",
        "AGENTJAIL_SESSION",
    ] {
        c.env_remove(v);
    }
    c.env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
        .arg("--profiles")
        .arg(&f.profiles)
        .arg("--audit-log")
        .arg(dir.path().join("audit.jsonl"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["mcp", "serve", "--role", "probe", "--pool", "1"]);
    let mut s = Server::start(c);
    s.initialize();
    Some((s, dir))
}

/// Runs `tool` twice with `args`; returns the second run's stdout, which a
/// prepared sandbox served (asserted from its tool_result record).
fn pooled(s: &mut Server, dir: &tempfile::TempDir, tool: &str, args: Value) -> String {
    let first = s.call(tool, args.clone());
    assert_eq!(first["isError"], false, "{first}");
    common::wait_prepared(s.peer.child.id(), 1);
    let r = s.call(tool, args);
    assert_eq!(r["isError"], false, "{r}");
    let rec = support::peer::read_records(&dir.path().join("audit.jsonl"))
        .into_iter()
        .rfind(|r| r["event_type"] == "tool_result")
        .unwrap();
    assert_eq!(
        rec["sandbox"]["prepared"], true,
        "not served prepared: {rec}"
    );
    assert_eq!(rec["sandbox"]["seccomp"], true, "{rec}");
    assert_eq!(rec["sandbox"]["no_new_privs"], true, "{rec}");
    support::text(&r)
}

fn sh(s: &mut Server, dir: &tempfile::TempDir, script: &str) -> String {
    let script = format!("{}{script}", common::GUARD);
    pooled(s, dir, "sh", json!({ "script": script }))
}

#[test]
fn a_pooled_call_is_confined_as_a_one_shot_run() {
    let Some((mut s, dir)) = serve() else { return };
    // Identity, capabilities, no_new_privs, seccomp in filter mode.
    let out = sh(
        &mut s,
        &dir,
        "grep -E '^(Uid|Gid|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status",
    );
    for want in [
        "Uid:\t65534\t65534\t65534\t65534",
        "Gid:\t65534\t65534\t65534\t65534",
        "CapInh:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // Only loopback; no descriptor above 2; no host process; a read-only root.
    let out = sh(
        &mut s,
        &dir,
        "sed -n '3,$p' /proc/net/dev | cut -d: -f1 | tr -d ' ' | sed 's/^/if=/'; \
         ls /proc/self/fd | sed 's/^/fd=/'; \
         ls /proc | grep -c '^[0-9]' | sed 's/^/pids=/'; \
         touch /usr/x 2>/dev/null && echo usr=writable || echo usr=ro; \
         touch /etc/x 2>/dev/null && echo etc=writable || echo etc=ro; \
         cat /proc/1/cmdline | tr '\\0' ' ' | sed 's/^/init=/'; echo; hostname",
    );
    let lines: Vec<&str> = out.lines().collect();
    let ifs: Vec<&&str> = lines.iter().filter(|l| l.starts_with("if=")).collect();
    assert_eq!(ifs, [&"if=lo"], "{out}");
    let fds: Vec<&&str> = lines.iter().filter(|l| l.starts_with("fd=")).collect();
    // 0, 1, 2 and ls's own directory descriptor.
    assert!(
        fds.len() <= 4,
        "descriptors above 2 reached the tool:\n{out}"
    );
    let pids: u32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("pids="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pids < 10, "host processes are visible:\n{out}");
    assert!(out.contains("usr=ro") && out.contains("etc=ro"), "{out}");
    assert!(out.contains("init=agentjail-init"), "{out}");
    assert!(lines.contains(&"agentjail"), "{out}");
    assert_eq!(s.finish(), 0);
}

#[test]
fn dangerous_syscalls_fail_in_a_pooled_call() {
    let Some((mut s, dir)) = serve() else { return };
    let out = pooled(&mut s, &dir, "probe", json!({ "what": "syscalls" }));
    for call in [
        "ptrace",
        "mount",
        "unshare",
        "setns",
        "keyctl",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "init_module",
    ] {
        let verdict = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{call}=")))
            .unwrap_or_else(|| panic!("{call} not reported:\n{out}"));
        assert!(
            verdict == "EPERM" || verdict == "ENOSYS",
            "{call}={verdict} in a pooled call"
        );
    }
    assert_eq!(s.finish(), 0);
}

#[test]
fn a_pooled_call_gets_a_network_namespace_of_its_own_with_loopback_up() {
    // The prepared sandbox's pid 1 makes its namespace on a thread while it
    // builds its view (the owner's loop does not wait for it).
    let Some((mut s, dir)) = serve() else { return };
    let out = pooled(&mut s, &dir, "probe", json!({ "what": "loopback" }));
    assert!(out.contains("lo_datagram=ok"), "{out}");
    assert!(out.contains("lo_up=yes"), "{out}");
    assert!(
        !out.contains("lo_down=ok"),
        "the tool took loopback down:\n{out}"
    );
    // By cookie, not `net:[N]`: a freed namespace's inode number is given
    // to the next one made.
    let host = common::host_netns_cookie().to_string();
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..3 {
        let out = pooled(&mut s, &dir, "probe", json!({ "what": "netns" }));
        let c = out
            .lines()
            .find_map(|l| l.strip_prefix("netns_cookie="))
            .unwrap_or_else(|| panic!("no cookie: {out}"))
            .to_string();
        assert!(c.parse::<u64>().is_ok(), "{out}");
        assert_ne!(c, host, "the host's network namespace");
        assert!(!seen.contains(&c), "two pooled calls shared {c}: {seen:?}");
        seen.push(c);
    }
    assert_eq!(s.finish(), 0);
}
