//! What `check` reports about budgets and approvals: the gate's look at
//! them, which counts and consumes nothing.

use super::gate::{deny, deny_as_denied_before, Gate};
use super::CallError;
use crate::approval::{all_requests, binding, Status};
use crate::budget;
use crate::policy::{Decision, Outcome};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::SystemTime;

impl Gate<'_> {
    /// For `check`: the budget and the approval this call would meet,
    /// without counting or consuming anything. Changes `d` the way `run`
    /// would (a budget or the state directory's guard may deny it).
    pub fn look(&self, d: &mut Decision) -> Result<Look, CallError> {
        let mut look = Look::default();
        let Some(role) = self.guarded(d) else {
            return Ok(look);
        };
        if budget::limited(&role.limits) {
            let r = budget::peek(
                &self.state,
                &self.call.role,
                &role.limits,
                self.session(),
                self.args.tokens,
            )?;
            if let Some(m) = r.message() {
                deny(d, "budget", m);
            }
            look.budget = Some(r);
        }
        if d.outcome != Outcome::NeedsApproval {
            return Ok(look);
        }
        let digest = binding::digest_of(&self.binding(role, d));
        let now = SystemTime::now();
        let mut found = None;
        for (path, req) in all_requests(&self.state)? {
            if req.digest != digest
                || binding::digest_of(&req.bound) != req.digest
                || req.lapsed(&path, now)?
            {
                continue;
            }
            let live = match req.status {
                Status::Approved | Status::Pending => true,
                Status::Denied => req.expires_at(&path)? > now,
                _ => false,
            };
            if live {
                found = Some(req);
            }
        }
        look.approval = Some(match found {
            Some(req) => {
                if req.status == Status::Denied {
                    deny_as_denied_before(d, &req);
                }
                json!({"request_id": req.id, "status": req.status, "expires": req.expires, "decided": req.decided})
            }
            None => json!({"status": "none", "digest": digest}),
        });
        Ok(look)
    }
}

/// What `check` reports about budgets and approvals.
#[derive(Debug, Default, Serialize)]
pub struct Look {
    pub budget: Option<budget::Report>,
    pub approval: Option<Value>,
}

impl Look {
    /// Lines for `check`'s text report.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(b) = &self.budget {
            s.push_str(&b.text());
            s.push('\n');
        }
        if let Some(a) = &self.approval {
            let status = a["status"].as_str().unwrap_or("none");
            if status == "none" {
                s.push_str("approval: none for this exact call\n");
            } else {
                s.push_str(&format!(
                    "approval: request {} is {status} (expires {})\n",
                    a["request_id"].as_str().unwrap_or("?"),
                    a["expires"].as_str().unwrap_or("?")
                ));
            }
        }
        crate::text::printable(&s)
    }
}
