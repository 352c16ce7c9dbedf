//! Asking a human: the `AskHuman` interface a front-end supplies (the
//! terminal, a broker's client), `QueueOnly` for when nobody can be asked,
//! and the gate's step that asks and records the answer.

use super::gate::{deny, Admission, Gate};
use super::{ApprovalState, CallError};
use crate::approval::{may_decide, ApprovalError, Person, Request, Status, Verdict};
use crate::audit::{AuditLog, AuditRecord};
use crate::budget;
use crate::policy::{Decision, Outcome};
use crate::profile::Role;
use crate::text::{now_text, time_text};
use std::time::{Duration, SystemTime};

/// A human who can be asked to approve one call: the terminal's user for
/// the CLI, a connected client for a broker or an MCP front-end.
pub trait AskHuman {
    /// Whether a human can be asked about a call of `role` now. Called
    /// under the state lock before any request is queued; an error stops
    /// the call (for instance `--interactive` with no terminal).
    fn available(&mut self, role: &Role) -> Result<bool, ApprovalError>;
    /// Shows `request` and waits at most `timeout` for the answer.
    fn ask(&mut self, request: &Request, timeout: Duration) -> HumanAnswer;
}

/// A human's answer to [`AskHuman::ask`].
#[derive(Debug, Clone)]
pub struct HumanAnswer {
    pub approved: bool,
    /// Who answered (checked against the role's approvers).
    pub by: Person,
    /// Why, in words for the audit log ("alice answered yes at the terminal").
    pub reason: String,
    /// Where the human was asked, for the decision's reason ("the terminal").
    pub channel: String,
}

/// Nobody to ask: a call that needs approval queues a request (exit 75).
pub struct QueueOnly;

impl AskHuman for QueueOnly {
    fn available(&mut self, _role: &Role) -> Result<bool, ApprovalError> {
        Ok(false)
    }
    fn ask(&mut self, _request: &Request, _timeout: Duration) -> HumanAnswer {
        HumanAnswer {
            approved: false,
            by: Person::me(),
            reason: "nobody to ask".into(),
            channel: "nowhere".into(),
        }
    }
}

impl Gate<'_> {
    /// For a call that still needs approval after [`Gate::admit`]: asks the
    /// human, or reports the queued request. Afterwards `d` allows the call
    /// (approved, and within the budget) or still refuses it.
    pub fn ask(
        &self,
        adm: &mut Admission,
        d: &mut Decision,
        log: &AuditLog,
        rec: &AuditRecord,
        human: &mut dyn AskHuman,
    ) -> Result<ApprovalState, CallError> {
        let Some(role) = self.role() else {
            return Ok(ApprovalState::Settled);
        };
        if !adm.ask {
            return Ok(match adm.pending.take() {
                Some((request, new)) => ApprovalState::Pending {
                    approve_command: self.approve_command(&request.id),
                    request: Box::new(request),
                    new,
                },
                None => ApprovalState::Settled,
            });
        }
        // Ask the human.
        let mut req = self.new_request(role, d, &adm.digest, &adm.bound)?;
        let timeout = role.limits.approval_timeout.duration();
        // Pending until the answer's time is up.
        req.expires = time_text(SystemTime::now() + timeout);
        let answer = human.ask(&req, timeout);
        let mut why = answer.reason.clone();
        let mut approved = answer.approved;
        if approved && !may_decide(&role.approval.approvers, &answer.by) {
            approved = false;
            why = format!(
                "{} may not decide requests of role `{}` (approval.approvers)",
                answer.by.label(),
                role.name
            );
        }
        req.decided = Some(Verdict {
            by: answer.by.clone(),
            at: now_text(),
            reason: Some(why.clone()),
            mode: "prompt".into(),
        });
        req.mark(if approved {
            Status::Consumed
        } else {
            Status::Denied
        });
        let status = if approved { "approved" } else { "denied" };
        let mut r = req.record(status, format!("request {} {status}: {why}", req.id));
        r.detail("decision_id", &rec.id);
        log.append(&r)?;
        let answered = ApprovalState::Answered {
            request_id: req.id.clone(),
            approved,
            reason: why.clone(),
        };
        if !approved {
            deny(
                d,
                "approval",
                format!("not approved: {why} (request {})", req.id),
            );
            return Ok(answered);
        }
        // Count the call now: another launcher may have used the budget meanwhile.
        if budget::limited(&role.limits) {
            let lock = self.state.lock()?;
            let b = budget::charge(
                &self.state,
                &lock,
                &self.call.role,
                &role.limits,
                self.session(),
                self.args.tokens,
            )?;
            drop(lock);
            if let Some(m) = b.message() {
                deny(d, "budget", m);
                let mut r = rec.follow_up("decision");
                r.decision = Some(d.outcome.as_str().into());
                r.reasons = vec![format!("budget: {}", d.headline())];
                r.detail("budget", &b).detail("dry_run", false);
                log.append(&r)?;
                adm.budget = Some(b);
                return Ok(answered);
            }
            adm.budget = Some(b);
        }
        d.decide_by(
            Outcome::Allow,
            "approved",
            format!("at {} as request {}: {why}", answer.channel, req.id),
        );
        Ok(answered)
    }
}
