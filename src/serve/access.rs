//! Whether a peer may do what it asks, by the broker's `[[callers]]` and
//! `[[approvers]]` and `[[auditors]]` mappings.

use super::config::{Config, Peer};
use super::protocol::{Approvals, Op, Response};
use super::worker::refuse;
use crate::approval::{self, Person};
use crate::exit;
use crate::run::Context;

/// Whether the peer may do what it asks, by the broker's mappings.
pub(super) fn authorize(
    cfg: &Config,
    ctx: &Context,
    peer: &Peer,
    who: &Person,
    op: &Op,
) -> Result<(), Response> {
    let denied = |m: String| Err(refuse(exit::DENIED, format!("denied: {m}")));
    match op {
        Op::Run { call, .. } | Op::Check { call, .. } => {
            if let Some(p) = &call.params {
                if p == "-" || p.starts_with('@') {
                    return Err(refuse(
                        exit::USAGE,
                        "the broker takes --params as inline JSON; the client reads `-` and @FILE"
                            .into(),
                    ));
                }
            }
            let role = call.role.as_deref().unwrap_or("");
            if !cfg.may_call(peer, role) {
                return denied(format!(
                    "{} may not use role `{role}` through the broker: its mappings in {} are {}",
                    who.label(),
                    cfg.path.display(),
                    match Config::describe(&cfg.caller_roles(peer)).as_str() {
                        "none" =>
                            "none ([[callers]] names neither its uid nor its groups)".to_string(),
                        d => format!("[[callers]] {d}"),
                    }
                ));
            }
            Ok(())
        }
        Op::Approvals(Approvals::Show { id, .. }) => {
            // A request the peer may approve, or its own; a damaged or
            // missing one is for an approver of every role.
            let req = request_of(ctx, id);
            let role = req.as_ref().map_or("*", |r| r.role.as_str());
            let own = req.as_ref().is_some_and(|r| r.requested_by.uid == peer.uid);
            if own || cfg.may_approve(peer, role) {
                Ok(())
            } else {
                denied(format!(
                    "{} may not see request {id}: it neither made it nor is among [[approvers]] in {} for role `{role}`",
                    who.label(),
                    cfg.path.display()
                ))
            }
        }
        Op::Audit(_) => {
            if cfg.may_audit(peer) {
                Ok(())
            } else {
                denied(format!(
                    "{} may not read the broker's audit log: [[auditors]] in {} names neither its uid nor its groups",
                    who.label(),
                    cfg.path.display()
                ))
            }
        }
        Op::Approvals(Approvals::List { .. }) | Op::Budget { .. } => {
            if cfg.knows(peer) {
                Ok(())
            } else {
                denied(format!(
                    "{} is in neither [[callers]] nor [[approvers]] of {}",
                    who.label(),
                    cfg.path.display()
                ))
            }
        }
        Op::Approvals(Approvals::Approve { id, .. } | Approvals::Deny { id, .. }) => {
            // The request's role, from the broker's own copy: a damaged or
            // missing request needs an approver of every role.
            let role = request_of(ctx, id).map_or_else(|| "*".into(), |r| r.role);
            if cfg.may_approve(peer, &role) {
                return Ok(());
            }
            let mut r = crate::audit::AuditRecord::new("approval", &role);
            r.approval_status = Some("refused".into());
            r.reasons = vec![format!(
                "{} tried to decide request {id} through the broker but is not among [[approvers]] for role `{role}`",
                who.label()
            )];
            r.detail("severity", "critical")
                .detail("request_id", id)
                .detail("attempted_by", who);
            if let Ok(log) = ctx.audit_log() {
                let _ = log.append(&r);
            }
            denied(format!(
                "{} may not approve or deny requests of role `{role}`: [[approvers]] in {} for it: {}",
                who.label(),
                cfg.path.display(),
                Config::describe(&cfg.approvers_of(&role))
            ))
        }
    }
}

/// The broker's own copy of request `id`, if it is there and intact.
fn request_of(ctx: &Context, id: &str) -> Option<approval::Request> {
    approval::check_id(id).ok()?;
    let state = ctx.state().ok()?;
    state
        .read_json::<approval::Request>(&approval::request_path(&state, id))
        .ok()
        .flatten()
}
