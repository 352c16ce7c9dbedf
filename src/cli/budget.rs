//! `agentjail budget show`: a session's usage against the role's limits.

use super::{AppError, Format};
use crate::budget;
use crate::run::Context;
use crate::serve::config::Scope;
use serde_json::json;
use std::io::Write;

/// What the CALLS and TOKENS cells mean, below the table.
const LEGEND: &str = "(CALLS and TOKENS: used/limit; `-`: the role sets no such limit; \
                      `?`: the role is not in the profiles in use)\n";

/// `agentjail budget show`: usage against limits; through the broker, of
/// the roles `scope` lets its peer see only.
pub fn show(
    ctx: &Context,
    session: Option<&str>,
    role: Option<&str>,
    format: Format,
    scope: Option<&Scope>,
) -> Result<i32, AppError> {
    let set = ctx.load_profiles()?;
    let state = ctx.state()?;
    let mut counters: Vec<budget::Counter> = budget::all(&state)?
        .into_iter()
        .filter(|c| wanted(role, Some(&c.role)) && wanted(session, c.session.as_deref()))
        .filter(|c| scope.map_or(true, |s| s.may_see(&c.role)))
        .collect();
    // A (role, session) named in full is shown even before its first call.
    if let (Some(r), Some(s)) = (role, session) {
        if counters.is_empty() && set.roles.contains_key(r) && scope.map_or(true, |s| s.may_see(r))
        {
            counters.push(budget::read(&state, r, Some(s))?);
        }
    }
    let rows: Vec<serde_json::Value> = counters
        .iter()
        .map(|c| {
            let limits = set.roles.get(&c.role).map(|r| &r.limits);
            json!({
                "role": c.role,
                "session": c.session,
                "calls": c.calls,
                "max_api_calls": limits.and_then(|l| l.max_api_calls),
                "tokens": c.tokens,
                "max_tokens": limits.and_then(|l| l.max_tokens),
                "known_role": limits.is_some(),
                "first": c.first,
                "updated": c.updated,
            })
        })
        .collect();
    let text = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "state_dir": state.path(),
                "budgets": rows,
            }))
            .unwrap_or_default()
        ),
        Format::Text => {
            let mut s = format!(
                "{:<24} {:<20} {:>15} {:>23}  {}\n",
                "ROLE", "SESSION", "CALLS", "TOKENS", "UPDATED"
            );
            for r in &rows {
                let of = |used: &serde_json::Value, limit: &serde_json::Value| {
                    let limit = if r["known_role"] == json!(false) {
                        "?".to_string()
                    } else {
                        limit.as_u64().map_or("-".into(), |l| l.to_string())
                    };
                    format!("{}/{limit}", used.as_u64().unwrap_or(0))
                };
                s.push_str(&format!(
                    "{:<24} {:<20} {:>15} {:>23}  {}\n",
                    r["role"].as_str().unwrap_or(""),
                    r["session"].as_str().unwrap_or("-"),
                    of(&r["calls"], &r["max_api_calls"]),
                    of(&r["tokens"], &r["max_tokens"]),
                    r["updated"].as_str().unwrap_or("")
                ));
            }
            if rows.is_empty() {
                s.push_str("(no usage counted)\n");
            } else {
                s.push_str(LEGEND);
            }
            crate::text::printable(&s)
        }
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(AppError::Output)?;
    Ok(crate::exit::OK)
}

/// `None` matches everything; `Some(x)` only `x`.
fn wanted(filter: Option<&str>, v: Option<&str>) -> bool {
    filter.is_none() || filter == v
}
