//! The check of one `tools/call` before it reaches the server: the MCP
//! tool becomes a catalog entry (its `[mcp.tools.NAME]` rules, its risk
//! class raised by the server's annotations), and the call goes through
//! the same decision, screening, budget and approval gate as `run`
//! (`crate::policy::decide`, `crate::run::gate`). Nothing here runs it.

use crate::policy::{self, Decision, Outcome, ToolCall};
use crate::profile::mcp::McpTool;
use crate::profile::{ParamSpec, ParamType, ProfileSet, RiskClass, ToolSpec};
use crate::run::{self, CallRequest, Context, QueueOnly};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The class the server's annotations ask for, if any: they can only raise
/// the role's class.
pub fn annotated_class(annotations: Option<&Value>) -> Option<RiskClass> {
    let a = annotations?;
    let hint = |k: &str| a.get(k).and_then(Value::as_bool);
    if hint("destructiveHint") == Some(true) && hint("readOnlyHint") != Some(true) {
        return Some(RiskClass::Delete);
    }
    if hint("openWorldHint") == Some(true) {
        return Some(RiskClass::External);
    }
    if hint("readOnlyHint") == Some(false) {
        return Some(RiskClass::Modify);
    }
    None
}

/// Rank for raising: read < modify < external < delete.
fn rank(c: RiskClass) -> u8 {
    match c {
        RiskClass::Read => 0,
        RiskClass::Modify => 1,
        RiskClass::External => 2,
        RiskClass::Delete => 3,
    }
}

/// The higher of the two classes.
pub fn raise(role: RiskClass, hint: Option<RiskClass>) -> RiskClass {
    match hint {
        Some(h) if rank(h) > rank(role) => h,
        _ => role,
    }
}

/// Argument rules for a tool the role does not name (`unknown_tools =
/// "approve"`): each property of the server's schema with its scalar type
/// and no other limit. A property of another type cannot be screened as a
/// parameter and is left out (so such an argument is refused).
fn rules_from_schema(schema: Option<&Value>) -> BTreeMap<String, ParamSpec> {
    let mut out = BTreeMap::new();
    let props = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    for (name, p) in props.into_iter().flatten() {
        let kind = match p.get("type").and_then(Value::as_str) {
            Some("string") => ParamType::String,
            Some("integer") => ParamType::Integer,
            Some("number") => ParamType::Number,
            Some("boolean") => ParamType::Boolean,
            _ => continue,
        };
        if let Ok(spec) = toml::from_str::<ParamSpec>(&format!(
            "type = \"{}\"\nrequired = false",
            match kind {
                ParamType::String => "string",
                ParamType::Integer => "integer",
                ParamType::Number => "number",
                _ => "boolean",
            }
        )) {
            out.insert(name.clone(), spec);
        }
    }
    out
}

/// The catalog entry a call of `tool` is decided with.
pub fn tool_spec(rules: Option<&McpTool>, definition: &Value) -> ToolSpec {
    let hint = annotated_class(definition.get("annotations"));
    match rules {
        Some(r) => r.to_tool_spec(raise(r.risk.unwrap_or(RiskClass::Delete), hint)),
        None => McpTool {
            risk: Some(RiskClass::Delete),
            params: rules_from_schema(definition.get("inputSchema")),
            ..Default::default()
        }
        .to_tool_spec(RiskClass::Delete),
    }
}

/// One checked call: the decision, its record (written), and the arguments
/// to forward when it is allowed.
pub struct Checked {
    pub decision: Decision,
    pub record: crate::audit::AuditRecord,
    /// Why the call does not reach the server, for the agent.
    pub refusal: Option<String>,
}

/// Decides a call of `qualified` (the tool's name in records and
/// approvals) with arguments `args`, admits it through the gate and
/// writes its decision record. A record that cannot be written refuses
/// the call.
#[allow(clippy::too_many_arguments)]
pub fn check_call(
    ctx: &Context,
    set: &ProfileSet,
    role: &str,
    qualified: &str,
    spec: ToolSpec,
    args: BTreeMap<String, Value>,
    session: Option<&str>,
    agent: Option<&str>,
    extra: &serde_json::Map<String, Value>,
) -> Checked {
    let mut set = set.clone();
    set.catalog.tools.insert(qualified.to_string(), spec);
    if let Some(r) = set.roles.get_mut(role) {
        if !r.allowed_tools.iter().any(|t| t == qualified) {
            r.allowed_tools.push(qualified.to_string());
        }
    }
    let json_params: BTreeSet<String> = args.keys().cloned().collect();
    let call = ToolCall {
        role: role.to_string(),
        tool: qualified.to_string(),
        params: args,
        extra_args: Vec::new(),
        json_params,
    };
    let mut req = CallRequest::new(call);
    req.session = session.map(str::to_string);
    req.agent = agent.map(str::to_string);
    let mut d = policy::decide(&set, &req.call);
    let admitted = (|| -> Result<crate::audit::AuditRecord, run::CallError> {
        let g = run::gate::Gate::new(ctx, &set, &req)?;
        let adm = g.admit(&mut d, &mut QueueOnly)?;
        let mut rec = run::records::decision(&req, &d, false);
        g.annotate(&adm, &mut rec);
        for (k, v) in extra {
            rec.detail(k, v);
        }
        let log = ctx.audit_log()?;
        log.append(&rec)?;
        g.follow_up(&adm, &log, &rec);
        Ok(rec)
    })();
    match admitted {
        Ok(record) => {
            let refusal = match d.outcome {
                Outcome::Allow => None,
                Outcome::NeedsApproval => Some(match approval_id(&record) {
                    Some(id) => format!(
                        "{}; approval request {id} is pending: `{}`, then call again",
                        d.headline(),
                        run::gate::approve_command(ctx, &id)
                    ),
                    None => d.headline().to_string(),
                }),
                Outcome::Deny | Outcome::BadParameters => Some(d.headline().to_string()),
            };
            Checked {
                decision: d,
                record,
                refusal,
            }
        }
        Err(e) => {
            let record = run::records::decision(&req, &d, false);
            Checked {
                decision: d,
                record,
                refusal: Some(format!("the call cannot be admitted or audited: {e}")),
            }
        }
    }
}

/// Whether the server's sandbox would show what no sandbox may show (the
/// state directory, the audit log, the profiles in use): the same guard as
/// every `run` call's, applied once to the session. Returns the denial.
pub fn session_guard(
    ctx: &Context,
    set: &ProfileSet,
    role: &str,
    name: &str,
    argv: &[String],
) -> Result<Option<String>, run::CallError> {
    let mut set = set.clone();
    let tool = ToolSpec {
        description: String::new(),
        risk: Some(RiskClass::Read),
        command: argv.to_vec(),
        params: BTreeMap::new(),
        extra_args: None,
        max_value_size: None,
        max_call_size: None,
        output: Default::default(),
    };
    set.catalog.tools.insert(name.to_string(), tool);
    let call = ToolCall {
        role: role.to_string(),
        tool: name.to_string(),
        params: BTreeMap::new(),
        extra_args: Vec::new(),
        json_params: BTreeSet::new(),
    };
    let req = CallRequest::new(call);
    let mut d = Decision {
        outcome: Outcome::Allow,
        reasons: Vec::new(),
        risk: Some(RiskClass::Read),
        params: BTreeMap::new(),
        argv: argv.to_vec(),
        findings: Vec::new(),
        parameter_error: None,
    };
    run::gate::Gate::new(ctx, &set, &req)?.look(&mut d)?;
    let guard_denied =
        d.outcome == Outcome::Deny && d.reasons.first().is_some_and(|r| r.rule != "budget");
    Ok(guard_denied.then(|| d.headline().to_string()))
}

fn approval_id(rec: &crate::audit::AuditRecord) -> Option<String> {
    rec.details
        .get("approval")?
        .get("request_id")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_raise_never_lower() {
        let ro = json!({"readOnlyHint": true});
        let destructive = json!({"readOnlyHint": false, "destructiveHint": true});
        assert_eq!(
            raise(RiskClass::Modify, annotated_class(Some(&ro))),
            RiskClass::Modify
        );
        assert_eq!(
            raise(RiskClass::Read, annotated_class(Some(&destructive))),
            RiskClass::Delete
        );
        let open = json!({"openWorldHint": true});
        assert_eq!(
            raise(RiskClass::Read, annotated_class(Some(&open))),
            RiskClass::External
        );
        assert_eq!(
            raise(RiskClass::Delete, annotated_class(Some(&open))),
            RiskClass::Delete
        );
    }

    #[test]
    fn unnamed_tools_are_delete_with_schema_rules() {
        let def = json!({"name": "w", "inputSchema": {"type": "object", "properties": {
            "path": {"type": "string"}, "n": {"type": "integer"}, "list": {"type": "array"}}},
            "annotations": {"readOnlyHint": true}});
        let spec = tool_spec(None, &def);
        assert_eq!(spec.risk_class(), RiskClass::Delete);
        assert_eq!(spec.params.keys().collect::<Vec<_>>(), ["n", "path"]);
        let rules: McpTool = toml::from_str("risk = \"read\"").unwrap();
        assert_eq!(tool_spec(Some(&rules), &def).risk_class(), RiskClass::Read);
    }
}
