//! Per-session budgets: a role's `[limits] max_api_calls` and `max_tokens`,
//! counted per (role, session) in the state directory.
//!
//! Every `run` that gets through to the sandbox counts one API call and the
//! tokens it reports with `--tokens N` (what the agent spent producing the
//! call). The check and the count are one step under the state lock, so
//! parallel launchers can never overspend. A call that would exceed a budget
//! is denied (77) and is not counted; so is a call refused for any other
//! reason, and a call that stops for approval. Roles without either limit are
//! not counted at all.

use crate::profile::Limits;
use crate::state::{StateDir, StateError, StateLock};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;

/// The counter of one (role, session), as stored in `budgets/KEY.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counter {
    pub role: String,
    /// `null` for calls made without `--session`: they share one budget.
    pub session: Option<String>,
    pub calls: u64,
    pub tokens: u64,
    /// When the first call was counted, and the last (RFC 3339).
    pub first: String,
    pub updated: String,
}

/// A budget a call would exceed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exceeded {
    /// `max_api_calls` or `max_tokens`.
    pub budget: &'static str,
    pub limit: u64,
    /// Used before this call.
    pub used: u64,
    /// What this call would make it.
    pub would: u64,
}

/// Where a call stands against its role's budgets.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub role: String,
    pub session: Option<String>,
    pub max_api_calls: Option<u64>,
    pub max_tokens: Option<u64>,
    /// Used before this call.
    pub calls: u64,
    pub tokens: u64,
    /// The tokens this call reports.
    pub call_tokens: u64,
    /// Whether this call was counted (false for `check` and for refusals).
    pub counted: bool,
    pub exceeded: Option<Exceeded>,
}

impl Report {
    /// The denial's message, naming the budget, its limit and the usage.
    pub fn message(&self) -> Option<String> {
        let e = self.exceeded.as_ref()?;
        let who = format!(
            "role `{}`, session {}",
            self.role,
            session_label(self.session.as_deref())
        );
        Some(if e.budget == "max_api_calls" {
            format!(
                "budget exceeded: max_api_calls = {} for {who}: {} used, this call would make {}",
                e.limit,
                crate::text::count(e.used, "call"),
                e.would
            )
        } else {
            format!(
                "budget exceeded: max_tokens = {} for {who}: {} used, this call's {} would make {}",
                e.limit,
                crate::text::count(e.used, "token"),
                self.call_tokens,
                e.would
            )
        })
    }

    /// One line for `check`.
    pub fn text(&self) -> String {
        let limit = |l: Option<u64>| l.map_or("unlimited".to_string(), |l| l.to_string());
        let mut s = format!(
            "budget: session {}: calls {} of {}, tokens {} of {} (+{} with this call)",
            session_label(self.session.as_deref()),
            self.calls,
            limit(self.max_api_calls),
            self.tokens,
            limit(self.max_tokens),
            self.call_tokens
        );
        if let Some(m) = self.message() {
            s.push_str(&format!("; {m}"));
        }
        s
    }
}

/// How a session appears in messages.
pub fn session_label(session: Option<&str>) -> String {
    match session {
        Some(s) => format!("`{}`", crate::text::printable(s)),
        None => "(none)".to_string(),
    }
}

/// Whether a role has a budget to count against.
pub fn limited(limits: &Limits) -> bool {
    limits.max_api_calls.is_some() || limits.max_tokens.is_some()
}

/// The budget a call of `call_tokens` tokens would exceed, after `calls`
/// calls and `tokens` tokens.
pub fn evaluate(limits: &Limits, calls: u64, tokens: u64, call_tokens: u64) -> Option<Exceeded> {
    if let Some(limit) = limits.max_api_calls {
        let would = calls.saturating_add(1);
        if would > limit {
            return Some(Exceeded {
                budget: "max_api_calls",
                limit,
                used: calls,
                would,
            });
        }
    }
    if let Some(limit) = limits.max_tokens {
        let would = tokens.saturating_add(call_tokens);
        if would > limit {
            return Some(Exceeded {
                budget: "max_tokens",
                limit,
                used: tokens,
                would,
            });
        }
    }
    None
}

/// The counter file of a (role, session).
pub fn path(state: &StateDir, role: &str, session: Option<&str>) -> PathBuf {
    let mut key = Vec::new();
    crate::audit::write_canonical(&json!([role, session]), &mut key);
    let digest = crate::audit::sha256_hex(&key);
    state.sub("budgets").join(format!("{}.json", &digest[..32]))
}

/// Reads a counter; zero when there is none.
pub fn read(state: &StateDir, role: &str, session: Option<&str>) -> Result<Counter, StateError> {
    let p = path(state, role, session);
    match state.read_json::<Counter>(&p)? {
        Some(c) if c.role == role && c.session.as_deref() == session => Ok(c),
        Some(c) => Err(StateError::Corrupt {
            path: p,
            why: format!(
                "it holds role `{}` session {}, not role `{role}` session {}",
                c.role,
                session_label(c.session.as_deref()),
                session_label(session)
            ),
        }),
        None => {
            let now = crate::text::now_text();
            Ok(Counter {
                role: role.to_string(),
                session: session.map(str::to_string),
                calls: 0,
                tokens: 0,
                first: now.clone(),
                updated: now,
            })
        }
    }
}

fn report(limits: &Limits, c: &Counter, call_tokens: u64, counted: bool) -> Report {
    Report {
        role: c.role.clone(),
        session: c.session.clone(),
        max_api_calls: limits.max_api_calls,
        max_tokens: limits.max_tokens,
        calls: c.calls,
        tokens: c.tokens,
        call_tokens,
        counted,
        exceeded: evaluate(limits, c.calls, c.tokens, call_tokens),
    }
}

/// Where a call would stand, without counting it.
pub fn peek(
    state: &StateDir,
    role: &str,
    limits: &Limits,
    session: Option<&str>,
    call_tokens: u64,
) -> Result<Report, StateError> {
    let c = read(state, role, session)?;
    Ok(report(limits, &c, call_tokens, false))
}

/// Checks the call against the budgets and, when it fits, counts it: one
/// call and `call_tokens` tokens. Only under the state lock.
pub fn charge(
    state: &StateDir,
    lock: &StateLock,
    role: &str,
    limits: &Limits,
    session: Option<&str>,
    call_tokens: u64,
) -> Result<Report, StateError> {
    let mut c = read(state, role, session)?;
    let mut r = report(limits, &c, call_tokens, false);
    if r.exceeded.is_none() {
        state.ensure(Some("budgets"))?;
        c.calls = c.calls.saturating_add(1);
        c.tokens = c.tokens.saturating_add(call_tokens);
        c.updated = crate::text::now_text();
        state.write_json(lock, &path(state, role, session), &c)?;
        r.counted = true;
    }
    Ok(r)
}

/// Every counter in the state directory.
pub fn all(state: &StateDir) -> Result<Vec<Counter>, StateError> {
    let mut out = Vec::new();
    for p in state.list("budgets")? {
        if let Some(c) = state.read_json::<Counter>(&p)? {
            if path(state, &c.role, c.session.as_deref()) != p {
                return Err(StateError::Corrupt {
                    path: p,
                    why: format!(
                        "its name does not match role `{}` session {}",
                        c.role,
                        session_label(c.session.as_deref())
                    ),
                });
            }
            out.push(c);
        }
    }
    out.sort_by(|a, b| (&a.role, &a.session).cmp(&(&b.role, &b.session)));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limits(calls: Option<u64>, tokens: Option<u64>) -> Limits {
        Limits {
            max_api_calls: calls,
            max_tokens: tokens,
            ..Limits::default()
        }
    }

    #[test]
    fn evaluation_table() {
        let l = limits(Some(10), Some(1000));
        assert_eq!(evaluate(&l, 9, 0, 0), None);
        let e = evaluate(&l, 10, 0, 0).unwrap();
        assert_eq!(
            (e.budget, e.limit, e.used, e.would),
            ("max_api_calls", 10, 10, 11)
        );
        assert_eq!(evaluate(&l, 0, 900, 100), None);
        let e = evaluate(&l, 0, 900, 101).unwrap();
        assert_eq!(
            (e.budget, e.limit, e.used, e.would),
            ("max_tokens", 1000, 900, 1001)
        );
        assert_eq!(evaluate(&limits(None, None), u64::MAX, u64::MAX, 5), None);
    }

    #[test]
    fn charging_counts_until_the_limit_and_never_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::locate(Some(&dir.path().join("state"))).unwrap();
        let l = limits(Some(3), Some(100));
        for i in 0..3 {
            let lock = state.lock().unwrap();
            let r = charge(&state, &lock, "r", &l, Some("s"), 10).unwrap();
            assert!(r.counted && r.exceeded.is_none(), "call {i}: {r:?}");
        }
        let lock = state.lock().unwrap();
        let r = charge(&state, &lock, "r", &l, Some("s"), 10).unwrap();
        assert!(!r.counted);
        assert_eq!(
            r.message().unwrap(),
            "budget exceeded: max_api_calls = 3 for role `r`, session `s`: 3 calls used, this call would make 4"
        );
        // Another session and the session-less budget are separate.
        let r = charge(&state, &lock, "r", &l, None, 95).unwrap();
        assert!(r.counted);
        let r = charge(&state, &lock, "r", &l, None, 6).unwrap();
        assert_eq!(
            r.message().unwrap(),
            "budget exceeded: max_tokens = 100 for role `r`, session (none): 95 tokens used, this call's 6 would make 101"
        );
        let c = all(&state).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].calls, c[0].tokens), (1, 95));
        assert_eq!((c[1].calls, c[1].tokens), (3, 30));
    }

    #[test]
    fn a_corrupt_counter_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::locate(Some(&dir.path().join("state"))).unwrap();
        state.ensure(Some("budgets")).unwrap();
        let p = path(&state, "r", Some("s"));
        std::fs::write(&p, "{\"role\": \"r\", \"calls\": ").unwrap();
        let l = limits(Some(3), None);
        let lock = state.lock().unwrap();
        let e = charge(&state, &lock, "r", &l, Some("s"), 0).unwrap_err();
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
        // Never reset: the file is left as it was.
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"role\": \"r\", \"calls\": "
        );
        // Another (role, session)'s counter in this file's place is refused too.
        let other = Counter {
            role: "x".into(),
            session: None,
            calls: 0,
            tokens: 0,
            first: now(),
            updated: now(),
        };
        std::fs::write(&p, serde_json::to_string(&other).unwrap()).unwrap();
        assert!(charge(&state, &lock, "r", &l, Some("s"), 0).is_err());
    }

    fn now() -> String {
        crate::text::now_text()
    }
}
