//! What the broker serves besides calls: `budget show`, `audit
//! verify|head|tail` and `approvals list|show`, each narrowed to what the
//! peer's mappings cover, and the approve command a pending request prints
//! naming the broker, never its paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_support;

use broker_support::*;
use serde_json::Value;

/// A caller of `secret_role` only.
const OTHER: u32 = 64012;
/// An approver of `counted_role` only.
const NARROW: u32 = 64013;

const COUNTED: &str = r#"
description = "Counted"
allowed_tools = ["echo_text", "remove_thing"]
[limits]
max_api_calls = 50
"#;

const SECRET: &str = r#"
description = "Another caller's"
allowed_tools = ["echo_text", "remove_thing"]
[limits]
max_api_calls = 50
"#;

fn broker() -> Broker {
    let tail = format!(
        r#"
[[callers]]
uid = {AGENT}
roles = ["counted_role"]

[[callers]]
uid = {OTHER}
roles = ["secret_role"]

[[approvers]]
uid = {NARROW}
roles = ["counted_role"]

[[auditors]]
uid = {APPROVER}
"#
    );
    Broker::start_with(
        4,
        "queue = 8",
        &tail,
        &[("counted_role", COUNTED), ("secret_role", SECRET)],
        &[OTHER, NARROW],
    )
}

fn json_of(b: &Broker, uid: u32, args: &[&str]) -> Value {
    let o = b.run(uid, args);
    assert_eq!(
        code(&o),
        0,
        "{args:?} as {uid}: {}{}",
        text(&o.stderr),
        b.serve_err()
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)))
}

fn roles_in_budget(b: &Broker, uid: u32) -> Vec<String> {
    let v = json_of(b, uid, &["budget", "show", "--format", "json"]);
    let mut roles: Vec<String> = v["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap().to_string())
        .collect();
    roles.sort();
    roles
}

fn ids_listed(b: &Broker, uid: u32) -> Vec<String> {
    let v = json_of(b, uid, &["approvals", "list", "--format", "json"]);
    v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn echo_in(b: &Broker, uid: u32, role: &str) {
    let o = b.run(
        uid,
        &["run", "--role", role, "echo_text", "--param", "text=x"],
    );
    assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
}

#[test]
fn budget_is_shown_for_the_peers_roles_only() {
    if !can_run() {
        return;
    }
    let b = broker();
    echo_in(&b, AGENT, "counted_role");
    echo_in(&b, AGENT, "counted_role");
    echo_in(&b, OTHER, "secret_role");
    assert_eq!(roles_in_budget(&b, AGENT), ["counted_role"]);
    assert_eq!(roles_in_budget(&b, OTHER), ["secret_role"]);
    assert_eq!(roles_in_budget(&b, NARROW), ["counted_role"]);
    assert_eq!(
        roles_in_budget(&b, APPROVER),
        ["counted_role", "secret_role"]
    );
    let v = json_of(&b, AGENT, &["budget", "show", "--format", "json"]);
    assert_eq!(v["budgets"][0]["calls"], 2, "{v}");
    assert_eq!(v["budgets"][0]["max_api_calls"], 50, "{v}");
    // Naming a role it cannot see shows nothing of it.
    let v = json_of(
        &b,
        AGENT,
        &[
            "budget",
            "show",
            "--role",
            "secret_role",
            "--session",
            "s",
            "--format",
            "json",
        ],
    );
    assert_eq!(v["budgets"], serde_json::json!([]), "{v}");
    // A uid in no mapping gets nothing.
    let o = as_uid(64099, &b.root)
        .arg(BIN)
        .arg("--broker")
        .arg(&b.socket)
        .args(["budget", "show"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 77, "{}", text(&o.stderr));
}

#[test]
fn audit_reading_is_for_auditors() {
    if !can_run() {
        return;
    }
    let b = broker();
    echo_in(&b, AGENT, "counted_role");
    for uid in [AGENT, OTHER, NARROW] {
        for args in [
            &["audit", "verify"][..],
            &["audit", "head"],
            &["audit", "tail"],
        ] {
            let o = b.run(uid, args);
            assert_eq!(code(&o), 77, "{args:?} as {uid}: {}", text(&o.stderr));
            let err = text(&o.stderr);
            assert!(
                err.contains("[[auditors]]") && err.lines().count() == 1,
                "{err}"
            );
        }
    }
    // The auditor verifies the broker's own log and reads it.
    let o = b.run(APPROVER, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
    let v = json_of(&b, APPROVER, &["audit", "verify", "--format", "json"]);
    assert!(v["records"].as_u64().unwrap() >= 2, "{v}");
    let head = json_of(&b, APPROVER, &["audit", "head", "--format", "json"]);
    let mark = format!("{}:{}", head["seq"], head["hash"].as_str().unwrap());
    let o = b.run(APPROVER, &["audit", "verify", "--head", &mark]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // A head that is not in the chain fails the check.
    let bogus = format!("{}:{}", 999_999, "0".repeat(64));
    let o = b.run(APPROVER, &["audit", "verify", "--head", &bogus]);
    assert_ne!(code(&o), 0, "{}", text(&o.stdout));
    let o = b.run(APPROVER, &["audit", "tail", "-n", "2", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let lines: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&o.stdout));
    assert!(lines.iter().all(|l| l["event_type"].is_string()));
    // A path is the broker's to choose: refused before anything is sent.
    let o = b.run(APPROVER, &["audit", "verify", "/etc/shadow"]);
    assert_eq!(code(&o), 64, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "");
}

#[test]
fn approvals_are_listed_for_those_who_may_decide_them_or_asked() {
    if !can_run() {
        return;
    }
    let b = broker();
    let ask = |uid: u32, role: &str| {
        let o = b.run(
            uid,
            &["run", "--role", role, "remove_thing", "--param", "name=x"],
        );
        assert_eq!(code(&o), 75, "{}{}", text(&o.stderr), b.serve_err());
        let err = text(&o.stderr);
        // The printed command goes through the broker, without its paths.
        let want = format!(
            "agentjail --broker {} approvals approve ",
            b.socket.display()
        );
        let line = err
            .lines()
            .find(|l| l.contains("approve with:"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains(&want), "{line}");
        assert!(!line.contains(&b.base().display().to_string()), "{line}");
        request_id(&err)
    };
    let mine = ask(AGENT, "counted_role");
    let theirs = ask(OTHER, "secret_role");
    assert_eq!(ids_listed(&b, AGENT), vec![mine.clone()]);
    assert_eq!(ids_listed(&b, OTHER), vec![theirs.clone()]);
    assert_eq!(ids_listed(&b, NARROW), vec![mine.clone()]);
    let mut all = ids_listed(&b, APPROVER);
    all.sort();
    let mut want = vec![mine.clone(), theirs.clone()];
    want.sort();
    assert_eq!(all, want);
    // The JSON's approve command names the broker too.
    let v = json_of(&b, NARROW, &["approvals", "list", "--format", "json"]);
    let cmd = v["requests"][0]["approve_command"].as_str().unwrap();
    assert_eq!(
        cmd,
        format!(
            "agentjail --broker {} approvals approve {mine}",
            b.socket.display()
        )
    );
    // `show` follows the same rule.
    let o = b.run(AGENT, &["approvals", "show", &mine]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    for (uid, id) in [(AGENT, &theirs), (NARROW, &theirs), (OTHER, &mine)] {
        let o = b.run(uid, &["approvals", "show", id]);
        assert_eq!(code(&o), 77, "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "");
    }
    // The narrow approver decides what it sees, not the other.
    let o = b.run(NARROW, &["approvals", "approve", &theirs]);
    assert_eq!(code(&o), 77, "{}", text(&o.stderr));
    let o = b.run(NARROW, &["approvals", "approve", &mine]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_log_intact(&b);
}

#[test]
fn required_broker_serves_budget_and_audit_or_nothing() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no.sock");
    for args in [
        &["budget", "show"][..],
        &["audit", "verify"],
        &["audit", "head"],
        &["audit", "tail"],
    ] {
        let o = std::process::Command::new(BIN)
            .args(args)
            .env("AGENTJAIL_REQUIRE_BROKER", "1")
            .env("AGENTJAIL_BROKER", &missing)
            .env("AGENTJAIL_STATE_DIR", dir.path().join("state"))
            .env("AGENTJAIL_AUDIT_LOG", dir.path().join("audit.jsonl"))
            .output()
            .unwrap();
        assert_eq!(code(&o), 125, "{args:?}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            err.lines().count() == 1 && err.contains(&missing.display().to_string()),
            "{err}"
        );
        assert_eq!(text(&o.stdout), "");
    }
    assert!(!dir.path().join("state").exists());
}

const LISTED: &str = r#"
description = "Approved by uid 64011 only"
allowed_tools = ["remove_thing"]
[approval]
approvers = ["64011"]
"#;

const LISTED_OTHER: &str = r#"
description = "Approved by uid 64013 only"
allowed_tools = ["remove_thing"]
[approval]
approvers = ["64013"]
"#;

#[test]
fn a_roles_own_approvers_list_works_through_the_broker() {
    if !can_run() {
        return;
    }
    let tail = format!("[[callers]]\nuid = {AGENT}\nroles = [\"listed\", \"listed_other\"]\n");
    let b = Broker::start_with(
        4,
        "queue = 0",
        &tail,
        &[("listed", LISTED), ("listed_other", LISTED_OTHER)],
        &[],
    );
    let call = |role: &str| {
        b.run(
            AGENT,
            &["run", "--role", role, "remove_thing", "--param", "name=x"],
        )
    };
    // Listed, and in [[approvers]]: the approval is used, once.
    let o = call("listed");
    assert_eq!(code(&o), 75, "{}", text(&o.stderr));
    let id = request_id(&text(&o.stderr));
    let o = b.run(APPROVER, &["approvals", "approve", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = call("listed");
    assert_eq!(code(&o), 0, "{}{}", text(&o.stderr), b.serve_err());
    assert_eq!(text(&o.stdout), "removed x\n");
    assert_eq!(code(&call("listed")), 75);
    // In [[approvers]] (all roles) but not in the role's own list: refused.
    let o = call("listed_other");
    assert_eq!(code(&o), 75, "{}", text(&o.stderr));
    let id = request_id(&text(&o.stderr));
    let o = b.run(APPROVER, &["approvals", "approve", &id]);
    assert_eq!(code(&o), 77, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("approval.approvers"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(code(&call("listed_other")), 75);
    assert_log_intact(&b);
}
