//! `user = ...` in the broker's configuration: the broker binds its socket
//! as root, then becomes that account for good (real, effective and saved
//! ids, groups), and makes its state and log as it; calls still run,
//! sandboxed as that account in a cgroup delegated to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;

use broker_support::*;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

/// The broker's own account.
const BROKER_UID: u32 = 64030;

/// A parent cgroup under every v1 hierarchy, owned by the broker's
/// account, as an administrator would delegate it; removed at the end.
struct Delegation {
    name: String,
    dirs: Vec<PathBuf>,
}

impl Delegation {
    fn new() -> Option<Delegation> {
        let Some(agentjail::sandbox::cgroup::Layout::V1 { mounts }) =
            agentjail::sandbox::cgroup::detect()
        else {
            return None;
        };
        let name = format!("agentjail-test-broker-{}", std::process::id());
        let mut dirs = Vec::new();
        for (_, m) in mounts {
            let d = m.join(&name);
            if dirs.contains(&d) {
                continue;
            }
            std::fs::create_dir_all(&d).unwrap();
            Command::new("chown")
                .args(["-R", &BROKER_UID.to_string()])
                .arg(&d)
                .status()
                .unwrap();
            dirs.push(d);
        }
        Some(Delegation { name, dirs })
    }
}

impl Drop for Delegation {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn status_line(pid: nix::unistd::Pid, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap()
}

#[test]
fn the_broker_drops_to_its_own_account() {
    if !can_run() {
        return;
    }
    let deleg = Delegation::new();
    let mut top = format!("queue = 0\nuser = {BROKER_UID}\ngroup = {BROKER_UID}\n");
    if let Some(d) = &deleg {
        top.push_str(&format!("cgroup_parent = \"{}\"\n", d.name));
    }
    let b = Broker::start_full(4, &top, "", &[], &[], &|root, config| {
        // The operator gives the broker's directory to its account.
        let base = root.join("broker");
        Command::new("chown")
            .args(["-R", &format!("{BROKER_UID}:{BROKER_UID}")])
            .arg(&base)
            .status()
            .unwrap();
        let mut c = Command::new(BIN);
        // The log is in /tmp here: append-only all the same.
        c.args(["serve", "--config"])
            .arg(config)
            .env("AGENTJAIL_AUDIT_APPEND_ONLY", "1");
        (c, None)
    });
    let mut b = b;
    let pid = b.pid();
    let id = BROKER_UID.to_string();
    assert_eq!(
        status_line(pid, "Uid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        [id.as_str(); 4]
    );
    assert_eq!(
        status_line(pid, "Gid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        [id.as_str(); 4]
    );
    assert_eq!(status_line(pid, "Groups:"), id);
    assert_eq!(status_line(pid, "CapEff:"), "0000000000000000");
    // Its log and state are its own.
    let first: serde_json::Value =
        serde_json::from_str(b.log_text().lines().next().unwrap()).unwrap();
    assert_eq!(first["broker"], "ready");
    assert_eq!(first["uid"], BROKER_UID);
    assert_eq!(std::fs::metadata(b.log()).unwrap().uid(), BROKER_UID);
    assert_eq!(std::fs::metadata(b.state()).unwrap().uid(), BROKER_UID);
    // A check needs no sandbox; a run does, in the delegated cgroup.
    let o = b.run(
        AGENT,
        &[
            "check",
            "--role",
            "agent_role",
            "echo_text",
            "--param",
            "text=hi",
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
    if deleg.is_some() {
        let o = b.echo(AGENT, "as the broker's account");
        assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
        assert_eq!(text(&o.stdout), "as the broker's account\n");
    } else {
        eprintln!("skipped part: no cgroup v1 hierarchy to delegate (test the_broker_drops_to_its_own_account)");
    }
    // The agent still reaches none of it.
    let o = as_uid(AGENT, &b.home(AGENT))
        .arg("cat")
        .arg(b.log())
        .output()
        .unwrap();
    assert!(!o.status.success());
    // Root made the log append-only before the drop: the broker's own
    // account appends, but cannot cut or remove it.
    let log = std::fs::File::open(b.log()).unwrap();
    let append_only = agentjail::audit::is_append_only(&log);
    if append_only {
        let before = b.log_text();
        for t in [
            format!("truncate -s0 {}", b.log().display()),
            format!("rm -f {}", b.log().display()),
            format!(": > {}", b.log().display()),
        ] {
            let o = as_uid(BROKER_UID, &b.root)
                .args(["sh", "-c", &t])
                .output()
                .unwrap();
            assert!(
                !o.status.success(),
                "`{t}` succeeded as the broker's account"
            );
        }
        assert_eq!(b.log_text(), before);
    } else {
        eprintln!("skipped part: this filesystem keeps no append-only flag (test the_broker_drops_to_its_own_account)");
    }
    assert!(b.stop_with(nix::sys::signal::Signal::SIGTERM).success());
    assert_log_intact(&b);
    // For the temporary directory's removal.
    let _ = agentjail::audit::clear_append_only(&log);
}

#[test]
fn a_user_drop_needs_root() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::create_dir_all(dir.path().join("p/roles")).unwrap();
    std::fs::write(dir.path().join("p/tools.toml"), TOOLS).unwrap();
    std::fs::write(dir.path().join("p/roles/agent_role.toml"), AGENT_ROLE).unwrap();
    std::fs::write(
        &config,
        format!(
            "profiles = \"{d}/p\"\nstate_dir = \"{d}/s\"\naudit_log = \"{d}/a.jsonl\"\nsocket = \"{d}/b.sock\"\nuser = {BROKER_UID}\ngroup = {BROKER_UID}\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let o = Command::new(BIN)
        .args(["serve", "--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("runs as uid {BROKER_UID} gid {BROKER_UID}")),
        "{}",
        text(&o.stdout)
    );
    // Started as another unprivileged uid: refused, one line, nothing made.
    let o = as_uid(AGENT, dir.path())
        .arg(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(code(&o), 125, "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("must start as root") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!dir.path().join("s").exists() && !dir.path().join("a.jsonl").exists());
}
