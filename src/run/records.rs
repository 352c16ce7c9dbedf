//! The audit records of a call's decision and of its result: which facts
//! of the call, the decision and the sandbox's outcome each one holds.

use super::CallRequest;
use crate::audit::{self, AuditRecord};
use crate::policy::params::{value_size, Params, DEFAULT_MAX_CALL, DEFAULT_MAX_VALUE};
use crate::policy::{Decision, Outcome};
use crate::sandbox::{self, RunOutcome};
use serde_json::{json, Value};

/// A value too large to record: its size and SHA-256 stand in for it.
fn digest_of_value(v: &Value) -> Value {
    let bytes = match v {
        Value::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    };
    json!({"omitted": true, "size": bytes.len(), "sha256": audit::sha256_hex(&bytes)})
}

/// Whether values of these sizes fit a record as they are.
fn fits(sizes: impl Iterator<Item = u64>) -> impl Fn(u64) -> bool {
    let total: u64 = sizes.sum();
    move |size| size <= DEFAULT_MAX_VALUE && total <= DEFAULT_MAX_CALL
}

/// The parameters as a record holds them: a value over the default size
/// limit, or every value of a call over the call limit, is replaced by its
/// size and SHA-256, so no call can make a record (or the log) large.
fn recorded_params(params: &Params) -> Value {
    let ok = fits(params.values().map(value_size));
    Value::Object(
        params
            .iter()
            .map(|(k, v)| {
                let kept = if ok(value_size(v)) {
                    v.clone()
                } else {
                    digest_of_value(v)
                };
                (crate::text::shorten(k, 128), kept)
            })
            .collect(),
    )
}

/// Extra arguments (or argv) as a record holds them; see [`recorded_params`].
pub(super) fn recorded_list(items: &[String]) -> Value {
    let ok = fits(items.iter().map(|a| a.len() as u64));
    Value::Array(
        items
            .iter()
            .map(|a| {
                if ok(a.len() as u64) {
                    Value::String(a.clone())
                } else {
                    digest_of_value(&Value::String(a.clone()))
                }
            })
            .collect(),
    )
}

/// A record of `event` about this call: who called, which tool, with
/// `params`, and the decision.
pub(super) fn of_call(
    event: &'static str,
    req: &CallRequest,
    params: &Params,
    d: &Decision,
) -> AuditRecord {
    let call = &req.call;
    let mut r = AuditRecord::new(event, &call.role);
    r.agent_id = req.agent.clone();
    r.session_id = req.session.clone();
    r.tool = Some(call.tool.clone());
    r.params = Some(recorded_params(params));
    r.tokens_used = req.tokens;
    r.risk_level = d.risk.map(|x| x.to_string());
    r.decision = Some(d.outcome.as_str().to_string());
    r
}

/// The `decision` record of a call (`dry_run` for `check`).
pub fn decision(req: &CallRequest, d: &Decision, dry_run: bool) -> AuditRecord {
    let call = &req.call;
    let mut r = of_call("decision", req, &call.params, d);
    r.reasons = d
        .reasons
        .iter()
        .map(|x| format!("{}: {}", x.rule, x.message))
        .collect();
    r.approval_status = match d.outcome {
        Outcome::NeedsApproval => Some("required".into()),
        _ => None,
    };
    r.detail("dry_run", dry_run);
    if !d.argv.is_empty() {
        r.detail("argv", &d.argv);
    }
    if !d.findings.is_empty() {
        r.detail("findings", &d.findings);
        let critical = d.findings.iter().any(|f| f.critical);
        r.detail("severity", if critical { "critical" } else { "warning" });
    }
    if !call.extra_args.is_empty() {
        r.detail("extra_args", recorded_list(&call.extra_args));
    }
    r
}

/// Who chose a finished run's exit code: `"tool"` when it is the tool's own
/// status (its exit code, or 128+N for a signal), `"agentjail"` when
/// agentjail set it (124 for the role's timeout, 126 and 127 for an exec
/// failure, 125 for a run without a status). A tool may itself exit 75, 77
/// or 124 to 127; this field, in `--json` and in the result record, tells
/// those apart from agentjail's own verdicts.
pub fn verdict_by(o: &RunOutcome) -> &'static str {
    if o.exec_errno.is_some() || o.timed_out {
        return "agentjail";
    }
    match (o.exit_code, o.signal) {
        (Some(_), _) | (None, Some(_)) => "tool",
        (None, None) => "agentjail",
    }
}

/// A hint for a tool that failed in a sandbox without network: with
/// `network = "none"` and no egress nothing leaves it, and a tool that needs
/// the network says only "could not resolve host" or the like. None unless
/// the tool itself ended non-zero (not a timeout or an exec failure).
pub fn network_hint(
    role: &str,
    plan: &crate::sandbox::plan::SandboxPlan,
    o: &RunOutcome,
    code: i32,
) -> Option<String> {
    use crate::sandbox::plan::NetworkMode;
    let failed = code != crate::exit::OK && verdict_by(o) == "tool";
    (failed && plan.network == NetworkMode::None && plan.egress.is_empty()).then(|| {
        format!(
            "role `{}` has no network (sandbox.network = \"none\", no egress); if the tool needs a host, list it in the role's sandbox.egress",
            crate::text::printable(role)
        )
    })
}

/// The `tool_result` record of a run; `hint` from [`network_hint`].
pub(super) fn result(
    req: &CallRequest,
    d: &Decision,
    prep: &sandbox::Prepared,
    o: &RunOutcome,
    code: i32,
    decision_id: &str,
    hint: Option<&str>,
) -> AuditRecord {
    let mut r = of_call("tool_result", req, &d.params, d);
    r.result = Some(if o.timed_out {
        "timeout".into()
    } else if code == 0 {
        "success".into()
    } else {
        format!("exit {code}")
    });
    r.detail("decision_id", decision_id)
        .detail("argv", &d.argv)
        .detail("program", &prep.program)
        .detail("exit_code", code)
        .detail("verdict_by", verdict_by(o))
        .detail("signal", o.signal)
        .detail("timed_out", o.timed_out)
        .detail("duration_ms", o.duration_ms)
        .detail("usage", &o.usage)
        .detail("oom_killed", o.usage.oom_killed)
        .detail(
            "sandbox",
            json!({
                "namespaces": prep.plan.namespaces,
                "uid": prep.plan.uid,
                "network": prep.plan.network,
                "seccomp": o.confinement.as_ref().map(|c| c.seccomp),
                "landlock_abi": o.confinement.as_ref().map(|c| c.landlock_abi),
                "landlock": o.confinement.as_ref().map(|c| c.landlock.clone()),
                "landlock_reason": o.confinement.as_ref().and_then(|c| c.landlock_reason.clone()),
                "no_new_privs": o.confinement.as_ref().map(|c| c.no_new_privs),
                "cgroup": o.cgroup,
                "prepared": o.prepared,
            }),
        );
    if let Some(e) = o.exec_errno {
        r.detail("exec_errno", e);
    }
    if let Some(h) = hint {
        r.detail("hint", h);
    }
    for (name, c) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if let Some(c) = c {
            r.detail(&format!("{name}_bytes"), c.bytes)
                .detail(&format!("{name}_truncated"), c.truncated);
        }
        // Of the captured bytes (after truncation); null when not captured.
        let sum = c.as_ref().map(|c| audit::sha256_hex(&c.data));
        r.detail(&format!("{name}_sha256"), sum);
    }
    r
}
