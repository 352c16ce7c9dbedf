//! The answers the server gives to the two requests the firewall looks
//! into: a `tools/list` page is reviewed against the pins and the role and
//! filtered (and audited), a `tools/call` result goes through the output
//! guards and is audited with its size and SHA-256.

use super::firewall::{Firewall, ToolInfo};
use super::pins::{self, Verdict};
use crate::audit::{sha256_hex, AuditRecord};
use crate::mcp::rpc;
use crate::profile::mcp::UnknownTools;
use serde_json::{json, Value};
use std::time::Instant;

impl Firewall {
    pub(super) fn tools_listed(&self, mut msg: Value) -> Value {
        let Some(list) = msg
            .pointer_mut("/result/tools")
            .and_then(Value::as_array_mut)
        else {
            return msg;
        };
        let defs: Vec<(String, Value, String)> = list
            .iter()
            .filter_map(|t| {
                let name = t.get("name")?.as_str()?.to_string();
                let (def, hash) = pins::definition(t);
                Some((name, def, hash))
            })
            .collect();
        let state = self.ctx.state();
        let verdicts = state.map_err(|e| e.to_string()).and_then(|s| {
            pins::review(&s, &self.role.name, &self.name, &self.role.mcp.pins, &defs)
                .map_err(|e| e.to_string())
        });
        let mut shown = Vec::new();
        let mut hidden = Vec::new();
        let mut refused = Vec::new();
        let mut infos = Vec::new();
        for (name, _, hash) in &defs {
            let verdict = match &verdicts {
                Ok(v) => v.get(name).cloned(),
                Err(_) => None,
            };
            let why = match (&verdicts, &verdict) {
                (Err(e), _) => Some(format!("the tool pins cannot be read or written: {e}")),
                (_, Some(v)) if v.refused() => v.reason(name),
                _ if self.role.mcp.tools.contains_key(name) => None,
                _ if self.role.mcp.unknown_tools == UnknownTools::Approve => None,
                _ => Some(format!(
                    "tool `{name}` is not named in role `{}`'s [mcp.tools] (unknown tools are hidden)",
                    self.role.name
                )),
            };
            match (&why, &verdict) {
                (Some(w), Some(v)) if v.refused() => {
                    refused.push(json!({"tool": name, "why": w, "sha256": hash}))
                }
                (Some(w), _) => hidden.push(json!({"tool": name, "why": w})),
                (None, _) => shown.push(json!(name)),
            }
            infos.push((name.clone(), why));
        }
        {
            let mut st = self.state();
            // The pinned part of each definition is what calls are checked
            // with (annotations, input schema): the same that was reviewed.
            for ((name, why), (_, def, _)) in infos.iter().zip(defs.iter()) {
                st.tools.insert(
                    name.clone(),
                    ToolInfo {
                        definition: def.clone(),
                        hidden: why.clone(),
                    },
                );
            }
        }
        list.retain(|t| {
            let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
            infos.iter().any(|(n, why)| n == name && why.is_none())
        });
        let mut r = self.record("decision", "tools/list");
        r.decision = Some("allow".into());
        r.reasons = refused
            .iter()
            .filter_map(|x| x["why"].as_str().map(|w| format!("pin: {w}")))
            .collect();
        if !refused.is_empty() {
            // A changed or added definition calls for a human: it alerts.
            r.detail("severity", "critical");
        }
        r.detail("dry_run", false).detail(
            "mcp",
            json!({"server": self.name, "method": "tools/list", "shown": shown, "hidden": hidden, "refused": refused,
                   "pinned": matches!(&verdicts, Ok(v) if v.values().any(|x| *x == Verdict::Recorded))}),
        );
        self.append(&r);
        msg
    }

    pub(super) fn call_result(&self, mut msg: Value, rec: &AuditRecord, started: Instant) -> Value {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let raw = msg
            .get("result")
            .or_else(|| msg.get("error"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut out = rec.follow_up("tool_result");
        let is_error = msg.get("error").is_some()
            || msg.pointer("/result/isError").and_then(Value::as_bool) == Some(true);
        out.result = Some(if is_error { "error" } else { "success" }.into());
        out.detail("result_bytes", raw.len())
            .detail("result_sha256", sha256_hex(raw.as_bytes()))
            .detail("duration_ms", started.elapsed().as_millis() as u64);
        let mut findings = Vec::new();
        let mut withheld: Option<String> = None;
        if let Some(result) = msg.get_mut("result").and_then(Value::as_object_mut) {
            if let Some(items) = result.get_mut("content").and_then(Value::as_array_mut) {
                for (i, item) in items.iter_mut().enumerate() {
                    let Some(text) = item.get("text").and_then(Value::as_str) else {
                        continue;
                    };
                    let g = self.guard.guard(&format!("content[{i}]"), text, &[]);
                    if g.noteworthy() {
                        findings.push(json!({"part": format!("content[{i}]"), "guard": &g}));
                    }
                    if let Some(why) = g.refused {
                        withheld = Some(why);
                        break;
                    }
                    item["text"] = json!(g.text);
                }
            }
            if withheld.is_none() {
                if let Some(sc) = result.get("structuredContent") {
                    let text = sc.to_string();
                    let g = self.guard.guard("structuredContent", &text, &[]);
                    if g.noteworthy() {
                        findings.push(json!({"part": "structuredContent", "guard": &g}));
                    }
                    if let Some(why) = g.refused {
                        withheld = Some(why);
                    } else if g.text != text {
                        match serde_json::from_str::<Value>(&g.text) {
                            Ok(v) => {
                                result.insert("structuredContent".into(), v);
                            }
                            Err(_) => {
                                result.remove("structuredContent");
                            }
                        }
                    }
                }
            }
        }
        if !findings.is_empty() {
            out.detail("output_guard", &findings);
        }
        if let Some(why) = &withheld {
            out.detail("severity", "critical").detail("withheld", why);
        }
        if !self.append(&out) {
            return rpc::refused_result(&id, "the result could not be audited: withheld");
        }
        match withheld {
            Some(why) => rpc::refused_result(&id, &why),
            None => msg,
        }
    }

    /// A `resources/read` or `prompts/get` answer: every `text` string in
    /// it passes the output guards; one the guards refuse withholds the
    /// answer (an error). Audited when a guard did something.
    pub(super) fn content_result(&self, mut msg: Value, method: &str) -> Value {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let mut findings = Vec::new();
        let mut withheld = None;
        if let Some(result) = msg.get_mut("result") {
            self.guard_texts(result, "result", &mut findings, &mut withheld);
        }
        if findings.is_empty() {
            return msg;
        }
        let mut r = self.record("tool_result", method);
        r.result = Some(
            if withheld.is_some() {
                "error"
            } else {
                "success"
            }
            .into(),
        );
        r.detail("output_guard", &findings)
            .detail("mcp", json!({"server": self.name, "method": method}));
        if let Some(why) = &withheld {
            r.detail("severity", "critical").detail("withheld", why);
        }
        if !self.append(&r) {
            return rpc::error_response(
                &id,
                rpc::INTERNAL_ERROR,
                "the answer could not be audited: withheld",
            );
        }
        match withheld {
            Some(why) => {
                rpc::error_response(&id, rpc::INTERNAL_ERROR, &format!("agentjail: {why}"))
            }
            None => msg,
        }
    }

    fn guard_texts(
        &self,
        v: &mut Value,
        at: &str,
        findings: &mut Vec<Value>,
        withheld: &mut Option<String>,
    ) {
        if withheld.is_some() {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let here = format!("{at}.{k}");
                    match x {
                        Value::String(text) if k == "text" => {
                            let g = self.guard.guard(&here, text, &[]);
                            if g.noteworthy() {
                                findings.push(json!({"part": here, "guard": &g}));
                            }
                            if let Some(why) = g.refused {
                                *withheld = Some(why);
                                return;
                            }
                            *text = g.text;
                        }
                        _ => self.guard_texts(x, &here, findings, withheld),
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    self.guard_texts(x, &format!("{at}[{i}]"), findings, withheld);
                }
            }
            _ => {}
        }
    }
}
