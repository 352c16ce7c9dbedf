//! What an approval binds: everything that changes the effect of a call.
//!
//! The binding is one JSON object, stored in the request and shown in full
//! by `approvals show`: role, tool, session, the resolved parameters, extra
//! arguments and argv, the tool's catalog entry (command template and
//! parameter specs), the role as loaded (its canonical JSON's SHA-256), the
//! resolved sandbox plan (binds and their modes, network, egress entries,
//! limits, optional mechanisms), the environment passed through (names and
//! values), and the SHA-256 of `--stdin-file` when one is given.
//!
//! Secret values (secret-named parameters and variables, credential
//! shapes) are replaced by `[secret sha256:HEX]`: the request file and the
//! approver never see them, and the digest still binds the real value.
//!
//! The digest is SHA-256 over the binding's canonical JSON. The approver's
//! process recomputes it from the binding it displays; it never trusts a
//! digest written by the requester.

use crate::audit;
use crate::policy::{Decision, ToolCall};
use crate::profile::{Role, ToolSpec};
use serde_json::{json, Map, Value};

/// The format of the binding; part of the digest, so a later change of the
/// format can never make an old approval match.
pub const BINDING_VERSION: u64 = 2;

/// The facts of one call that an approval binds.
pub struct CallFacts<'a> {
    pub role: &'a Role,
    pub tool: &'a ToolSpec,
    pub call: &'a ToolCall,
    pub decision: &'a Decision,
    pub session: Option<&'a str>,
    /// The sandbox plan as JSON (`SandboxPlan`'s serialisation).
    pub plan: Value,
    /// The environment the tool gets.
    pub env: &'a [(String, String)],
    /// SHA-256 of the bytes given with `--stdin-file`.
    pub stdin_sha256: Option<String>,
}

/// SHA-256 of a value's canonical JSON.
pub fn digest_of(v: &Value) -> String {
    let mut bytes = Vec::new();
    audit::write_canonical(v, &mut bytes);
    audit::sha256_hex(&bytes)
}

/// A secret as the binding shows it.
fn secret(value: &str) -> Value {
    Value::String(format!(
        "[secret sha256:{}]",
        audit::sha256_hex(value.as_bytes())
    ))
}

/// Strings longer than this are bound, stored and shown by size, SHA-256
/// and their first characters, so a request file stays small whatever the
/// call (a human cannot read 64 KiB at a prompt either).
pub const LONG_TEXT: usize = 1024;

/// A long string as the binding holds it.
pub fn long_text(s: &str) -> Value {
    let head: String = s.chars().take(120).collect();
    Value::String(format!(
        "[{} bytes sha256:{}; starts {:?}]",
        s.len(),
        audit::sha256_hex(s.as_bytes()),
        head
    ))
}

/// Replaces secret-named entries and credential-shaped strings by their
/// hash, and long strings by [`long_text`].
pub fn hide_secrets(key: Option<&str>, v: &Value) -> Value {
    match v {
        Value::String(s) => {
            if key.is_some_and(audit::sensitive_key)
                || audit::redact_text(s, &[]).is_some_and(|r| r != *s)
            {
                secret(s)
            } else if s.len() > LONG_TEXT {
                long_text(s)
            } else {
                v.clone()
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| hide_secrets(key, x)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let k = if k.len() > LONG_TEXT {
                        format!(
                            "[{} bytes sha256:{}]",
                            k.len(),
                            audit::sha256_hex(k.as_bytes())
                        )
                    } else {
                        k.clone()
                    };
                    let inner = hide_secrets(Some(&k), x);
                    (k, inner)
                })
                .collect(),
        ),
        Value::Number(_) if key.is_some_and(audit::sensitive_key) => secret(&v.to_string()),
        other => other.clone(),
    }
}

/// The binding of a call.
pub fn bind(f: &CallFacts<'_>) -> Value {
    let mut plan = match &f.plan {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    // Bound on their own below (argv, env) or not known before the run.
    for k in ["argv", "env", "program", "cgroup_parent"] {
        plan.remove(k);
    }
    let env: Map<String, Value> = f
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let role = serde_json::to_value(f.role).unwrap_or(Value::Null);
    json!({
        "version": BINDING_VERSION,
        "role": f.call.role,
        "tool": f.call.tool,
        "session": f.session,
        "params": hide_secrets(None, &json!(f.decision.params)),
        "extra_args": hide_secrets(None, &json!(f.call.extra_args)),
        "argv": hide_secrets(None, &json!(f.decision.argv)),
        "tool_entry": serde_json::to_value(f.tool).unwrap_or(Value::Null),
        "role_sha256": digest_of(&role),
        "sandbox": Value::Object(plan),
        "env": hide_secrets(None, &Value::Object(env)),
        "stdin_sha256": f.stdin_sha256,
    })
}

/// The top-level parts in which two bindings differ, for the message that
/// says why an approval no longer matches.
pub fn differences(approved: &Value, now: &Value) -> Vec<String> {
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut all = keys(approved);
    for k in keys(now) {
        if !all.contains(&k) {
            all.push(k);
        }
    }
    all.sort();
    all.into_iter()
        .filter(|k| approved.get(k) != now.get(k))
        .map(|k| match (approved.get(&k), now.get(&k)) {
            (Some(Value::Object(a)), Some(Value::Object(b))) if k == "sandbox" || k == "env" => {
                let mut sub: Vec<String> = a
                    .keys()
                    .chain(b.keys())
                    .filter(|s| a.get(*s) != b.get(*s))
                    .cloned()
                    .collect();
                sub.sort();
                sub.dedup();
                format!("{k} ({})", sub.join(", "))
            }
            _ => k,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::Outcome;

    fn role() -> Role {
        let mut r: Role = toml::from_str("allowed_tools = [\"t\"]").unwrap();
        r.name = "r".into();
        r
    }

    fn tool() -> ToolSpec {
        toml::from_str("risk = \"delete\"\ncommand = [\"rm\", \"{path}\"]\nparams.path = { type = \"string\" }").unwrap()
    }

    fn decision(params: &[(&str, &str)]) -> Decision {
        Decision {
            outcome: Outcome::NeedsApproval,
            reasons: vec![],
            risk: None,
            findings: vec![],
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect(),
            argv: vec!["rm".into()],
            parameter_error: None,
        }
    }

    fn binding(role: &Role, d: &Decision, env: &[(String, String)], plan: Value) -> Value {
        let call = ToolCall {
            role: "r".into(),
            tool: "t".into(),
            params: Default::default(),
            extra_args: vec![],
            ..Default::default()
        };
        bind(&CallFacts {
            role,
            tool: &tool(),
            call: &call,
            decision: d,
            session: Some("s"),
            plan,
            env,
            stdin_sha256: None,
        })
    }

    #[test]
    fn every_part_changes_the_digest() {
        let r = role();
        let d = decision(&[("path", "/tmp/a")]);
        let env = vec![("FOO".to_string(), "1".to_string())];
        let plan = json!({"network": "none", "binds": [], "argv": ["x"]});
        let base = digest_of(&binding(&r, &d, &env, plan.clone()));
        assert_eq!(base, digest_of(&binding(&r, &d, &env, plan.clone())));
        let other_params = decision(&[("path", "/tmp/b")]);
        assert_ne!(
            base,
            digest_of(&binding(&r, &other_params, &env, plan.clone()))
        );
        let other_env = vec![("FOO".to_string(), "2".to_string())];
        assert_ne!(base, digest_of(&binding(&r, &d, &other_env, plan.clone())));
        let host = json!({"network": "host", "binds": [], "argv": ["x"]});
        assert_ne!(base, digest_of(&binding(&r, &d, &env, host)));
        let mut r2 = role();
        r2.description = "edited".into();
        assert_ne!(base, digest_of(&binding(&r2, &d, &env, plan.clone())));
        // Fields not known before the run are not bound.
        let later = json!({"network": "none", "binds": [], "argv": ["x"], "program": "/bin/rm"});
        assert_eq!(base, digest_of(&binding(&r, &d, &env, later)));
    }

    #[test]
    fn secrets_are_bound_by_hash_only() {
        let r = role();
        let d = decision(&[("password", "hunter2hunter2"), ("path", "/tmp/a")]);
        let env = vec![("API_TOKEN".to_string(), "abc123".to_string())];
        let b = binding(&r, &d, &env, json!({}));
        let text = b.to_string();
        assert!(!text.contains("hunter2hunter2"), "{text}");
        assert!(!text.contains("abc123"), "{text}");
        assert!(b["params"]["password"]
            .as_str()
            .unwrap()
            .starts_with("[secret sha256:"));
        let d2 = decision(&[("password", "other"), ("path", "/tmp/a")]);
        assert_ne!(digest_of(&b), digest_of(&binding(&r, &d2, &env, json!({}))));
    }

    #[test]
    fn differences_name_the_parts() {
        let a = json!({"tool": "t", "sandbox": {"network": "none", "pids": 8}, "env": {}});
        let b = json!({"tool": "t", "sandbox": {"network": "host", "pids": 8}, "env": {"X": "1"}});
        assert_eq!(differences(&a, &b), vec!["env (X)", "sandbox (network)"]);
        assert!(differences(&a, &a).is_empty());
    }
}
