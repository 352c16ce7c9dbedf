//! `agentjail profiles learn --from AUDIT_LOG`: proposes profile changes from
//! the decisions in an audit log. Loosening: the smallest grants that make
//! each denied call allowed (a tool added to allowed_tools, a value added to
//! a data_access list, a data_access flag set), found by re-deciding the
//! call against the proposed profiles until it passes. Never a deny-list
//! entry removed, never a risk class changed: a call refused for those (or
//! for screening, budgets, bad parameters) is reported, not granted.
//! Tightening, from the allowed calls: allowed tools never called,
//! data_access entries no call used, role binds no call's argv reached, and
//! parameters that only ever took a few values (an enum, for tools only the
//! logged roles allow). The proposal is printed as a `profiles diff`;
//! `--write` applies it to the profile files (`profiles_write.rs`).

use super::profiles_write::{self, apply, Edit};
use super::{AppError, Format};
use crate::policy::{self, Outcome, ToolCall};
use crate::profile::{self, diff, AccessGrant, ParamType, ProfileSet};
use crate::run::Context;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One decision from the log.
#[derive(Debug, Clone)]
struct Observed {
    call: ToolCall,
    outcome: String,
    rule: String,
    argv: Vec<String>,
}

/// The longest log line read; longer ones are skipped (and counted).
const MAX_LINE: usize = 1 << 20;

/// The decision records of the log (`--role` only), and how many lines were skipped.
fn read_log(path: &Path, role: Option<&str>) -> Result<(Vec<Observed>, usize), AppError> {
    let failed =
        |e: std::io::Error| AppError::Usage(format!("reading audit log {}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(failed)?;
    let mut reader = std::io::BufReader::new(f);
    let (mut out, mut skipped) = (Vec::new(), 0);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = std::io::Read::take(&mut reader, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(failed)?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE {
            skipped += 1;
            if buf.last() != Some(&b'\n') {
                // The rest of the line, without holding it.
                skip_line(&mut reader).map_err(failed)?;
            }
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&buf) {
            Ok(v) if v.is_object() => match observed(&v) {
                Some(o) if role.map_or(true, |r| r == o.call.role) => out.push(o),
                _ => {}
            },
            _ => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// Consumes input up to and including the next newline.
fn skip_line(r: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// A decision record as an observed call; None for other records and for
/// calls whose recorded parameters are not the values sent (redacted or omitted).
fn observed(v: &Value) -> Option<Observed> {
    if v["event_type"] != "decision" {
        return None;
    }
    let params = v["params"].as_object()?;
    let redacted = |x: &Value| match x {
        Value::String(s) => s.contains("[REDACTED:"),
        Value::Object(_) | Value::Array(_) => true,
        _ => false,
    };
    if params.values().any(redacted) {
        return None;
    }
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let reasons = strings("reasons");
    let rule = reasons
        .first()
        .and_then(|r| r.split_once(": "))
        .map(|(r, _)| r.to_string())
        .unwrap_or_default();
    Some(Observed {
        call: ToolCall {
            role: v["role"].as_str()?.to_string(),
            tool: v["tool"].as_str()?.to_string(),
            params: params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            extra_args: strings("extra_args"),
            // Recorded values have their parameter's type already.
            json_params: params.keys().cloned().collect(),
        },
        outcome: v["decision"].as_str().unwrap_or_default().to_string(),
        rule,
        argv: strings("argv"),
    })
}

/// The call's parameters with the tool's defaults filled in, as text.
fn values_of(set: &ProfileSet, call: &ToolCall) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = call
        .params
        .iter()
        .map(|(k, v)| (k.clone(), policy::params::value_text(v)))
        .collect();
    if let Some(tool) = set.catalog.tools.get(&call.tool) {
        for (name, spec) in &tool.params {
            if let (false, Some(d)) = (out.contains_key(name), &spec.default) {
                out.insert(
                    name.clone(),
                    policy::params::value_text(&profile::toml_to_json(d)),
                );
            }
        }
    }
    out
}

/// The data_access grants `call` lacks.
fn missing_grants(set: &ProfileSet, call: &ToolCall) -> Vec<Edit> {
    let (Some(role), Some(tool)) = (set.roles.get(&call.role), set.catalog.tools.get(&call.tool))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, text) in values_of(set, call) {
        let Some(spec) = tool.params.get(&name) else {
            continue;
        };
        if let Some(key) = &spec.access {
            let ok = match role.data_access.get(key) {
                Some(AccessGrant::List(l)) if spec.kind == ParamType::Path => {
                    l.iter().any(|d| Path::new(&text).starts_with(d))
                }
                Some(AccessGrant::List(l)) => l.contains(&text),
                _ => false,
            };
            if !ok {
                out.push(Edit::GrantValue {
                    role: role.name.clone(),
                    key: key.clone(),
                    value: text.clone(),
                });
            }
        }
        let head = text.split('.').next().unwrap_or("").to_ascii_lowercase();
        if let Some(key) = spec.gates.get(&head) {
            if !matches!(role.data_access.get(key), Some(AccessGrant::Flag(true))) {
                out.push(Edit::GrantFlag {
                    role: role.name.clone(),
                    key: key.clone(),
                });
            }
        }
    }
    out
}

/// A denied call no proposal allows, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unresolved {
    pub role: String,
    pub tool: String,
    pub rule: String,
    pub why: String,
}

/// What `learn` found.
#[derive(Debug, Serialize)]
pub struct Proposal {
    pub edits: Vec<Edit>,
    pub changes: Vec<diff::Change>,
    pub unresolved: Vec<Unresolved>,
    pub denied_calls: usize,
    pub allowed_calls: usize,
    pub skipped_lines: usize,
}

/// Rules that refuse a call after the profile's decision allowed it.
const GATE_RULES: &[&str] = &["budget", "state_dir", "audit_log", "profiles"];

fn why_not(rule: &str) -> &'static str {
    match rule {
        "denied_tool" => "a denied_tools entry is never loosened",
        "budget" => "budget denials are not proposed (raise limits by hand)",
        "state_dir" | "audit_log" | "profiles" => {
            "the sandbox would show agentjail's own files: move them, not the grant"
        }
        "injection" | "suspicious_value" | "suspicious_pattern" => "screening is never loosened",
        "bad_parameter" => "the parameters do not fit the tool's spec",
        "unknown_role" | "unknown_tool" => "the role or tool is not defined",
        _ => "no grant in a role profile allows it",
    }
}

/// The loosening edits for the denied calls, applied to `sim` as found.
fn loosen(sim: &mut ProfileSet, denied: &[&Observed], p: &mut Proposal) {
    for o in denied {
        let before = sim.clone();
        let mut edits_here = Vec::new();
        let mut rule;
        let mut rounds = 0;
        loop {
            let d = policy::decide(sim, &o.call);
            if matches!(d.outcome, Outcome::Allow | Outcome::NeedsApproval) {
                // Refused after the decision (a budget, the guard of the
                // state directory or the log): not a grant a role can give.
                // Otherwise allowed by the profiles as they are now.
                if rounds == 0 && GATE_RULES.contains(&o.rule.as_str()) {
                    rule = o.rule.clone();
                    break;
                }
                p.edits.append(&mut edits_here);
                rule = String::new();
                break;
            }
            rule = d
                .reasons
                .first()
                .map(|r| r.rule.to_string())
                .unwrap_or_default();
            rounds += 1;
            let next = match rule.as_str() {
                "not_allowed" if sim.catalog.tools.contains_key(&o.call.tool) => {
                    vec![Edit::AllowTool {
                        role: o.call.role.clone(),
                        tool: o.call.tool.clone(),
                    }]
                }
                "data_access" => missing_grants(sim, &o.call),
                _ => Vec::new(),
            };
            if next.is_empty() || rounds > 8 {
                break;
            }
            for e in next {
                apply(sim, &e);
                edits_here.push(e);
            }
        }
        if !rule.is_empty() {
            // What did not make the call pass is not proposed.
            *sim = before;
            p.unresolved.push(Unresolved {
                role: o.call.role.clone(),
                tool: o.call.tool.clone(),
                why: why_not(&rule).to_string(),
                rule,
            });
        }
    }
}

/// Tightening edits from the allowed calls.
fn tighten(set: &ProfileSet, sim: &ProfileSet, calls: &[Observed], p: &mut Proposal) {
    let allowed: Vec<&Observed> = calls
        .iter()
        .filter(|o| {
            matches!(
                policy::decide(sim, &o.call).outcome,
                Outcome::Allow | Outcome::NeedsApproval
            )
        })
        .collect();
    let roles: BTreeSet<&str> = calls.iter().map(|o| o.call.role.as_str()).collect();
    for role_name in &roles {
        let Some(role) = sim.roles.get(*role_name) else {
            continue;
        };
        let mine: Vec<&&Observed> = allowed
            .iter()
            .filter(|o| o.call.role == *role_name)
            .collect();
        let called: BTreeSet<&str> = calls
            .iter()
            .filter(|o| o.call.role == *role_name)
            .map(|o| o.call.tool.as_str())
            .collect();
        for t in &role.allowed_tools {
            if !called.contains(t.as_str()) {
                p.edits.push(Edit::DropAllowedTool {
                    role: role_name.to_string(),
                    tool: t.clone(),
                });
            }
        }
        // data_access entries no allowed call used.
        let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut paths: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for o in &mine {
            let Some(tool) = sim.catalog.tools.get(&o.call.tool) else {
                continue;
            };
            for (name, text) in values_of(sim, &o.call) {
                if let Some(key) = tool
                    .params
                    .get(&name)
                    .and_then(|s| s.access.as_deref().map(|k| (k, s.kind == ParamType::Path)))
                {
                    if key.1 {
                        paths.entry(key.0).or_default().push(text);
                    } else {
                        used.entry(key.0).or_default().insert(text);
                    }
                }
            }
        }
        let keys_in_use: BTreeSet<&str> = role
            .allowed_tools
            .iter()
            .filter_map(|t| sim.catalog.tools.get(t))
            .flat_map(|t| t.params.values().filter_map(|s| s.access.as_deref()))
            .collect();
        for key in keys_in_use {
            let Some(AccessGrant::List(list)) = role.data_access.get(key) else {
                continue;
            };
            for entry in list {
                let hit = used.get(key).is_some_and(|u| u.contains(entry))
                    || paths
                        .get(key)
                        .is_some_and(|ps| ps.iter().any(|p| Path::new(p).starts_with(entry)));
                if !hit {
                    p.edits.push(Edit::DropAccessValue {
                        role: role_name.to_string(),
                        key: key.to_string(),
                        value: entry.clone(),
                    });
                }
            }
        }
        // Role binds no allowed call's argv reached.
        for b in &role.sandbox.binds {
            let target = b.target.as_ref().unwrap_or(&b.source);
            let reached = mine.iter().any(|o| {
                o.argv.iter().any(|a| {
                    Path::new(a).starts_with(target) || Path::new(a).starts_with(&b.source)
                })
            });
            if !reached {
                p.edits.push(Edit::DropBind {
                    role: role_name.to_string(),
                    source: b.source.display().to_string(),
                });
            }
        }
    }
    // Parameters that only took a few values, for tools only the logged roles allow.
    let mut seen: BTreeMap<(&str, &str), (usize, BTreeSet<String>)> = BTreeMap::new();
    for o in &allowed {
        for (k, v) in &o.call.params {
            let e = seen.entry((o.call.tool.as_str(), k.as_str())).or_default();
            e.0 += 1;
            e.1.insert(policy::params::value_text(v));
        }
    }
    for ((tool, param), (count, values)) in seen {
        let Some(spec) = set
            .catalog
            .tools
            .get(tool)
            .and_then(|t| t.params.get(param))
        else {
            continue;
        };
        let others = set
            .roles
            .values()
            .any(|r| r.allowed_tools.iter().any(|t| t == tool) && !roles.contains(r.name.as_str()));
        let plain = spec.allowed.is_none()
            && spec.access.is_none()
            && matches!(spec.kind, ParamType::String | ParamType::Integer);
        if plain && !others && count >= 3 && values.len() <= 3 {
            p.edits.push(Edit::Enum {
                tool: tool.to_string(),
                param: param.to_string(),
                values: values.into_iter().collect(),
            });
        }
    }
}

/// The proposal for the calls of `log` against `set`.
fn propose(set: &ProfileSet, calls: &[Observed], skipped: usize) -> Proposal {
    let mut p = Proposal {
        edits: Vec::new(),
        changes: Vec::new(),
        unresolved: Vec::new(),
        denied_calls: 0,
        allowed_calls: 0,
        skipped_lines: skipped,
    };
    let denied: Vec<&Observed> = calls
        .iter()
        .filter(|o| o.outcome == "deny" || o.outcome == "bad_parameters")
        .collect();
    p.denied_calls = denied.len();
    p.allowed_calls = calls.len() - denied.len();
    let mut sim = set.clone();
    loosen(&mut sim, &denied, &mut p);
    tighten(set, &sim, calls, &mut p);
    let mut edits = std::mem::take(&mut p.edits);
    let mut dedup = BTreeSet::new();
    edits.retain(|e| dedup.insert(e.clone()));
    let mut proposed = set.clone();
    for e in &edits {
        apply(&mut proposed, e);
    }
    p.changes = diff::diff(set, &proposed);
    p.edits = edits;
    p
}

pub struct LearnArgs<'a> {
    pub from: &'a Path,
    pub role: Option<&'a str>,
    pub write: bool,
    pub format: Format,
}

pub fn learn(ctx: &Context, args: &LearnArgs) -> Result<i32, AppError> {
    let set = ctx.load_profiles()?;
    if let Some(r) = args.role {
        if !set.roles.contains_key(r) {
            return Err(AppError::Usage(format!(
                "--role {r}: no such role (known: {})",
                set.role_names().join(", ")
            )));
        }
    }
    let (calls, skipped) = read_log(args.from, args.role)?;
    let p = propose(&set, &calls, skipped);
    let mut written: Vec<PathBuf> = Vec::new();
    if args.write && !p.edits.is_empty() {
        let dir = match &set.source {
            profile::ProfileSource::Directory(d) => d.clone(),
            profile::ProfileSource::Bundled => {
                return Err(AppError::Usage(
                    "--write needs a profile directory (--profiles DIR); the bundled profiles cannot be written".into(),
                ))
            }
        };
        written = profiles_write::write(&dir, &p.edits)?;
    }
    let text = match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&p).unwrap_or_default();
            v["written"] = serde_json::json!(written);
            format!("{v}\n")
        }
        Format::Text => text(&p, &written),
    };
    std::io::stdout()
        .write_all(crate::text::printable(&text).as_bytes())
        .map_err(AppError::Output)?;
    Ok(crate::exit::OK)
}

fn text(p: &Proposal, written: &[PathBuf]) -> String {
    use crate::text::count;
    let mut s = format!(
        "{} read: {} denied, {} allowed{}\n",
        count((p.denied_calls + p.allowed_calls) as u64, "decision"),
        p.denied_calls,
        p.allowed_calls,
        if p.skipped_lines > 0 {
            format!("; {} skipped", count(p.skipped_lines as u64, "line"))
        } else {
            String::new()
        }
    );
    if p.changes.is_empty() {
        s.push_str("no changes proposed\n");
    }
    let mut role = None;
    for c in &p.changes {
        if role != Some(&c.role) {
            s.push_str(&format!("role {}:\n", c.role));
            role = Some(&c.role);
        }
        s.push_str(&format!("  {:<8} {}\n", c.effect.as_str(), c.what));
    }
    for u in &p.unresolved {
        s.push_str(&format!(
            "not proposed: role {} tool {} (rule {}): {}\n",
            u.role, u.tool, u.rule, u.why
        ));
    }
    for w in written {
        s.push_str(&format!("written: {}\n", w.display()));
    }
    if written.is_empty() && !p.edits.is_empty() {
        s.push_str("nothing written (use --write to apply)\n");
    }
    s
}
