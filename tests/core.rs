//! The call core driven directly, as a broker or an MCP front-end would:
//! no subprocess of agentjail, no terminal. Allow (the tool really runs in
//! its sandbox and its result record is read back from the audit log),
//! deny, bad parameters, and a call that needs approval answered yes and no
//! by a fake human, and queued when nobody can be asked.
//!
//! This binary has its own `main` (`harness = false`): the launcher forks,
//! and a process that forks must be single-threaded, which the libtest
//! harness is not. The checks run one after another on the main thread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentjail::approval::{ApprovalError, Person, Request};
use agentjail::policy::{Outcome, ToolCall};
use agentjail::profile::Role;
use agentjail::run::{
    self, ApprovalState, AskHuman, CallError, CallRequest, Context, HumanAnswer, QueueOnly, Stdio,
};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const TOOLS: &str = r#"
[tools.echo_text]
risk = "read"
command = ["echo", "{text}"]
params.text = { type = "string", max_length = 4096, pattern = "[a-z ]*" }

[tools.send_note]
risk = "external"
command = ["echo", "sent to", "{to}"]
params.to = { type = "string", pattern = "[a-z]+" }

[tools.remove]
risk = "delete"
command = ["rm", "{path}"]
params.path = { type = "string" }
"#;

const ROLE: &str = r#"
description = "the call core's test role"
allowed_tools = ["echo_text", "send_note"]

[approval]
prompt = true
"#;

/// A human who answers every question the same way and counts them.
struct Fake {
    yes: bool,
    asked: Vec<String>,
}

impl AskHuman for Fake {
    fn available(&mut self, _role: &Role) -> Result<bool, ApprovalError> {
        Ok(true)
    }
    fn ask(&mut self, request: &Request, _timeout: Duration) -> HumanAnswer {
        self.asked.push(request.tool.clone());
        HumanAnswer {
            approved: self.yes,
            by: Person::me(),
            reason: format!("the fake said {}", if self.yes { "yes" } else { "no" }),
            channel: "the test".into(),
        }
    }
}

fn records(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
        .collect()
}

fn by_id(log: &Path, id: &str) -> Value {
    records(log)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no audit record with id {id}"))
}

fn request(tool: &str, params: &[(&str, &str)]) -> CallRequest {
    let mut r = CallRequest::new(ToolCall {
        role: "tester".into(),
        tool: tool.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
        extra_args: vec![],
        ..Default::default()
    });
    r.session = Some("s1".into());
    r.agent = Some("agent-7".into());
    r.stdio = Stdio::Capture;
    r
}

struct Setup {
    _dir: tempfile::TempDir,
    ctx: Context,
    log: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::Builder::new()
        .prefix("core-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(profiles.join("roles")).unwrap();
    std::fs::write(profiles.join("tools.toml"), TOOLS).unwrap();
    std::fs::write(profiles.join("roles/tester.toml"), ROLE).unwrap();
    let log = dir.path().join("audit.jsonl");
    let ctx = Context {
        profiles: Some(profiles),
        audit_log: Some(log.clone()),
        state_dir: Some(dir.path().join("state")),
        ..Context::default()
    };
    Setup {
        _dir: dir,
        ctx,
        log,
    }
}

/// Allowed: the tool runs in its sandbox; the outcome and the log agree.
/// Returns false when the machine cannot build a sandbox (skipped).
fn allow_runs_and_its_result_is_audited() -> bool {
    let s = setup();
    let out = match run::call(
        &s.ctx,
        &request("echo_text", &[("text", "hello")]),
        &mut QueueOnly,
    ) {
        Ok(o) => o,
        Err(f) if matches!(f.error, CallError::Sandbox(_)) => {
            skip(&format!(
                "no sandbox here: {}",
                agentjail::text::chain(&f.error)
            ));
            return false;
        }
        Err(f) => panic!("allow: {}", agentjail::text::chain(&f.error)),
    };
    assert_eq!(out.decision.outcome, Outcome::Allow);
    assert_eq!(out.exit_code, 0);
    let ran = out.run.as_ref().expect("the tool ran");
    let stdout = ran.outcome.stdout.as_ref().expect("output captured");
    assert_eq!(String::from_utf8_lossy(&stdout.data), "hello\n");
    let confinement = ran
        .outcome
        .confinement
        .as_ref()
        .expect("confinement reported");
    assert!(confinement.seccomp && confinement.no_new_privs);
    let decision = by_id(&s.log, &out.audit_id);
    assert_eq!(decision["event_type"], "decision");
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["agent_id"], "agent-7");
    let result = by_id(&s.log, &ran.result_id);
    assert_eq!(result["event_type"], "tool_result");
    assert_eq!(result["decision_id"], Value::from(out.audit_id.clone()));
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["result"], "success");
    assert_eq!(result["session_id"], "s1");
    assert_eq!(children(), Vec::<String>::new(), "processes left by a run");
    true
}

fn deny_is_a_typed_outcome() {
    let s = setup();
    let out = run::call(
        &s.ctx,
        &request("remove", &[("path", "/x")]),
        &mut QueueOnly,
    )
    .unwrap();
    assert_eq!(out.decision.outcome, Outcome::Deny);
    assert_eq!(out.exit_code, 77);
    assert!(out.run.is_none());
    assert!(
        out.decision
            .reasons
            .iter()
            .any(|r| r.message.contains("remove")),
        "{:?}",
        out.decision.reasons
    );
    assert_eq!(by_id(&s.log, &out.audit_id)["decision"], "deny");
    assert!(!records(&s.log)
        .iter()
        .any(|r| r["event_type"] == "tool_result"));
    // A call that runs nothing leaves no process of its own behind (as
    // root, the helper that made a network namespace ahead is reaped).
    assert_eq!(
        children(),
        Vec::<String>::new(),
        "processes left by a denied call"
    );
}

/// This process's children, running or not yet reaped.
fn children() -> Vec<String> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(list.split_whitespace().map(str::to_string));
    }
    found
}

fn bad_parameters_are_a_typed_outcome() {
    let s = setup();
    let out = run::call(
        &s.ctx,
        &request("echo_text", &[("text", "UPPER")]),
        &mut QueueOnly,
    )
    .unwrap();
    assert_eq!(out.decision.outcome, Outcome::BadParameters);
    assert_eq!(out.exit_code, 65);
    assert!(out.run.is_none());
    let e = out
        .decision
        .parameter_error
        .as_ref()
        .expect("the parameter error");
    assert_eq!(e.param(), Some("text"));
    assert_eq!(by_id(&s.log, &out.audit_id)["decision"], "bad_parameters");
}

fn approval_yes_runs_the_call(sandbox: bool) {
    let s = setup();
    let mut human = Fake {
        yes: true,
        asked: vec![],
    };
    let req = request("send_note", &[("to", "ops")]);
    let result = run::call(&s.ctx, &req, &mut human);
    assert_eq!(human.asked, vec!["send_note".to_string()]);
    let approved_record = records(&s.log)
        .into_iter()
        .find(|r| r["approval_status"] == "approved")
        .expect("an approved record");
    assert!(
        approved_record["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .contains("the fake said yes"),
        "{approved_record}"
    );
    if !sandbox {
        return;
    }
    let out = result.unwrap_or_else(|f| panic!("{}", agentjail::text::chain(&f.error)));
    assert!(matches!(
        out.approval,
        ApprovalState::Answered { approved: true, .. }
    ));
    assert_eq!(out.decision.outcome, Outcome::Allow);
    assert_eq!(out.exit_code, 0);
    let ran = out.run.expect("approved: the tool ran");
    let stdout = ran.outcome.stdout.expect("captured");
    assert_eq!(String::from_utf8_lossy(&stdout.data), "sent to ops\n");
    assert!(out
        .decision
        .reasons
        .iter()
        .any(|r| r.rule == "approved" && r.message.contains("at the test")));
}

fn approval_no_denies_the_call() {
    let s = setup();
    let mut human = Fake {
        yes: false,
        asked: vec![],
    };
    let out = run::call(&s.ctx, &request("send_note", &[("to", "ops")]), &mut human).unwrap();
    assert_eq!(human.asked.len(), 1);
    assert_eq!(out.decision.outcome, Outcome::Deny);
    assert_eq!(out.exit_code, 77);
    assert!(out.run.is_none());
    match &out.approval {
        ApprovalState::Answered {
            approved, reason, ..
        } => {
            assert!(!approved);
            assert!(reason.contains("the fake said no"), "{reason}");
        }
        other => panic!("expected an answer, got {other:?}"),
    }
    assert!(records(&s.log)
        .iter()
        .any(|r| r["approval_status"] == "denied"));
    assert!(!records(&s.log)
        .iter()
        .any(|r| r["event_type"] == "tool_result"));
}

fn nobody_to_ask_queues_a_request() {
    let s = setup();
    let req = request("send_note", &[("to", "ops")]);
    let out = run::call(&s.ctx, &req, &mut QueueOnly).unwrap();
    assert_eq!(out.decision.outcome, Outcome::NeedsApproval);
    assert_eq!(out.exit_code, 75);
    let ApprovalState::Pending {
        request,
        new,
        approve_command,
    } = &out.approval
    else {
        panic!("expected a pending request, got {:?}", out.approval);
    };
    assert!(*new);
    assert!(approve_command.contains(&request.id), "{approve_command}");
    let file = s
        .ctx
        .state_dir
        .as_ref()
        .unwrap()
        .join("approvals")
        .join(format!("{}.json", request.id));
    assert!(file.is_file(), "{} exists", file.display());
    // The identical call again finds the same request waiting.
    let again = run::call(&s.ctx, &req, &mut QueueOnly).unwrap();
    match again.approval {
        ApprovalState::Pending {
            request: r2, new, ..
        } => {
            assert_eq!(r2.id, request.id);
            assert!(!new);
        }
        other => panic!("expected the same pending request, got {other:?}"),
    }
}

fn check_reports_without_running() {
    let s = setup();
    let report = run::check(&s.ctx, &request("echo_text", &[("text", "hi")])).unwrap();
    assert_eq!(report.decision.outcome, Outcome::Allow);
    assert_eq!(report.exit_code, 0);
    assert_eq!(report.decision.argv, vec!["echo".to_string(), "hi".into()]);
    assert!(!report.sandbox.is_null());
    assert_eq!(by_id(&s.log, &report.audit_id)["dry_run"], true);
}

fn skip(what: &str) {
    if std::env::var("AGENTJAIL_REQUIRE_PRIVILEGED_TESTS").as_deref() == Ok("1") {
        panic!(
            "skipped: {what} (a skip is a failure because AGENTJAIL_REQUIRE_PRIVILEGED_TESTS=1)"
        );
    }
    {
        use std::io::Write;
        // The handle, not eprintln!: libtest captures the macros of a passing test.
        let _ = writeln!(std::io::stderr(), "skipped: {what}");
    }
}

fn main() {
    // The logs lie under the target directory: as root they would get the
    // append-only flag, and the test directories could not be removed.
    // SAFETY-free: set before any thread exists (this binary is single-threaded).
    std::env::set_var("AGENTJAIL_AUDIT_APPEND_ONLY", "0");
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let mut sandbox = true;
    let mut passed = 0;
    type Check = (&'static str, Box<dyn Fn(bool)>);
    let checks: Vec<Check> = vec![
        (
            "deny_is_a_typed_outcome",
            Box::new(|_| deny_is_a_typed_outcome()),
        ),
        (
            "bad_parameters_are_a_typed_outcome",
            Box::new(|_| bad_parameters_are_a_typed_outcome()),
        ),
        (
            "approval_no_denies_the_call",
            Box::new(|_| approval_no_denies_the_call()),
        ),
        (
            "nobody_to_ask_queues_a_request",
            Box::new(|_| nobody_to_ask_queues_a_request()),
        ),
        (
            "check_reports_without_running",
            Box::new(|_| check_reports_without_running()),
        ),
        (
            "approval_yes_runs_the_call",
            Box::new(approval_yes_runs_the_call),
        ),
    ];
    if wanted("allow_runs_and_its_result_is_audited") {
        println!("test allow_runs_and_its_result_is_audited ...");
        sandbox = allow_runs_and_its_result_is_audited();
        passed += 1;
    }
    for (name, check) in &checks {
        if wanted(name) {
            println!("test {name} ...");
            check(sandbox);
            passed += 1;
        }
    }
    println!("core: {passed} passed, 0 failed");
}
