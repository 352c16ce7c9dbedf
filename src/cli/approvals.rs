//! `agentjail approvals list|show|approve|deny`: the human side of
//! approval requests, over the store in `crate::approval`.

use super::{AppError, ApprovalsCommand, Format};
use crate::approval::{
    all_requests, binding, check_id, collect_garbage, compact, may_decide, request_path,
    scan_requests, verdict_text, ApprovalError, Person, Request, Status, Verdict,
};
use crate::audit::AuditLog;
use crate::exit;
use crate::run::gate::{approve_command, decide_command};
use crate::run::Context;
use crate::serve::config::Scope;
use crate::state::StateDir;
use crate::text::time_text;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, SystemTime};

pub fn dispatch(ctx: &Context, cmd: &ApprovalsCommand) -> Result<i32, AppError> {
    dispatch_as(ctx, cmd, Person::me(), None)
}

/// As [`dispatch`], deciding as `me` (the broker passes its peer), and
/// listing only the requests `scope` covers (the broker's peer's: those of
/// roles it may approve, and its own).
pub fn dispatch_as(
    ctx: &Context,
    cmd: &ApprovalsCommand,
    me: Person,
    scope: Option<&Scope>,
) -> Result<i32, AppError> {
    match cmd {
        ApprovalsCommand::List { all, format } => list(ctx, *all, *format, scope),
        ApprovalsCommand::Show { id, format } => show(ctx, id, *format),
        ApprovalsCommand::Approve { id, ttl, reason } => {
            decide(ctx, id, true, *ttl, reason.as_deref(), me)
        }
        ApprovalsCommand::Deny { id, reason } => {
            decide(ctx, id, false, None, reason.as_deref(), me)
        }
    }
}

fn out(text: &str) -> Result<(), AppError> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(AppError::Output)
}

/// Marks lapsed requests expired (audited) and removes old finished ones.
fn sweep(state: &StateDir, log: &AuditLog) -> Result<(), AppError> {
    let lock = state.lock()?;
    let now = SystemTime::now();
    let mut expired = Vec::new();
    for (path, mut req) in all_requests(state)? {
        if req.lapsed(&path, now)? {
            let was = req.status;
            req.mark(Status::Expired);
            state.write_json(&lock, &path, &req)?;
            expired.push((req, was));
        } else {
            collect_garbage(state, &lock, &path, &req, now)?;
        }
    }
    drop(lock);
    for (req, was) in expired {
        log.append(&req.record(
            "expired",
            format!("request {} expired ({was} until {})", req.id, req.expires),
        ))?;
    }
    Ok(())
}

fn list(ctx: &Context, all: bool, format: Format, scope: Option<&Scope>) -> Result<i32, AppError> {
    let state = ctx.state()?;
    if state.sub("approvals").is_dir() {
        sweep(&state, &ctx.audit_log()?)?;
    }
    let (found, mut damaged) = scan_requests(&state)?;
    let visible = |r: &Request| {
        scope.map_or(true, |s| {
            s.may_approve(&r.role) || r.requested_by.uid == s.uid
        })
    };
    let requests: Vec<Request> = found
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| all || matches!(r.status, Status::Pending | Status::Approved))
        .filter(visible)
        .collect();
    // A damaged request has no role to go by: for approvers of every role.
    if scope.is_some_and(|s| !s.may_approve("*")) {
        damaged.clear();
    }
    match format {
        Format::Json => {
            let list: Vec<Value> = requests
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                    v["approve_command"] = json!(approve_command(ctx, &r.id));
                    v
                })
                .collect();
            let damaged: Vec<Value> = damaged
                .iter()
                .map(|d| json!({"id": d.id, "path": d.path, "status": "damaged", "why": d.why}))
                .collect();
            out(&format!(
                "{}\n",
                serde_json::to_string_pretty(
                    &json!({"state_dir": state.path(), "requests": list, "damaged": damaged})
                )
                .unwrap_or_default()
            ))?;
        }
        Format::Text => {
            let mut s = format!(
                "{:<12}  {:<8}  {:<24}  {:<20}  {:<16}  {:<12}  {}\n",
                "ID", "STATUS", "EXPIRES", "ROLE", "TOOL", "SESSION", "PARAMS"
            );
            for r in &requests {
                let mut params = compact(&r.params);
                if params.chars().count() > 60 {
                    params = params.chars().take(59).collect::<String>() + "…";
                }
                s.push_str(&format!(
                    "{:<12}  {:<8}  {:<24}  {:<20}  {:<16}  {:<12}  {params}\n",
                    r.id,
                    r.status.to_string(),
                    r.expires,
                    r.role,
                    r.tool,
                    r.session.as_deref().unwrap_or("-"),
                ));
            }
            for d in &damaged {
                s.push_str(&format!(
                    "{:<12}  {:<8}  {}: {} (remove it with `{}`)\n",
                    d.id,
                    "damaged",
                    d.path.display(),
                    crate::text::shorten(&d.why, 200),
                    decide_command(ctx, "deny", &d.id),
                ));
            }
            if requests.is_empty() && damaged.is_empty() {
                s.push_str(if all {
                    "(no requests)\n"
                } else {
                    "(no pending requests)\n"
                });
            }
            out(&crate::text::printable(&s))?;
        }
    }
    Ok(exit::OK)
}

fn show(ctx: &Context, id: &str, format: Format) -> Result<i32, AppError> {
    check_id(id)?;
    let state = ctx.state()?;
    let path = request_path(&state, id);
    let req = match state.read_json::<Request>(&path) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(ApprovalError::NotFound(id.to_string()).into()),
        Err(e) => {
            let why = crate::text::chain(&e);
            match format {
                Format::Json => out(&format!(
                    "{}\n",
                    json!({"id": id, "path": path, "status": "damaged", "why": why})
                ))?,
                Format::Text => out(&crate::text::printable(&format!(
                    "  request   {id} (damaged)\n  file      {}\n  why       {why}\n  remove it with `{}`\n",
                    path.display(),
                    decide_command(ctx, "deny", id)
                )))?,
            }
            return Ok(exit::OK);
        }
    };
    match format {
        Format::Json => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&req).unwrap_or_default()
        ))?,
        Format::Text => out(&req.text())?,
    }
    Ok(exit::OK)
}

/// `approvals approve ID` and `approvals deny ID`.
fn decide(
    ctx: &Context,
    id: &str,
    approve: bool,
    ttl: Option<Duration>,
    reason: Option<&str>,
    me: Person,
) -> Result<i32, AppError> {
    check_id(id)?;
    let state = ctx.state()?;
    let log = ctx.audit_log()?;
    let set = ctx.load_profiles()?;
    let set = Some(set);
    let path = request_path(&state, id);
    let lock = state.lock()?;
    let mut req = match state.read_json::<Request>(&path) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(ApprovalError::NotFound(id.to_string()).into()),
        // A damaged request can only be removed: `deny` does that, audited.
        Err(e) if !approve => {
            let why = crate::text::chain(&e);
            state.remove(&lock, &path)?;
            drop(lock);
            let mut r = crate::audit::AuditRecord::new("approval", "-");
            r.approval_status = Some("removed".into());
            r.result = Some("removed".into());
            r.reasons = vec![format!(
                "damaged request file {} removed by {}: {why}",
                path.display(),
                me.label()
            )];
            r.detail("request_id", id).detail("removed_by", &me);
            log.append(&r)?;
            out(&crate::text::printable(&format!(
                "agentjail: removed damaged request {id} ({why})\n"
            )))?;
            return Ok(exit::OK);
        }
        Err(e) => return Err(e.into()),
    };
    if req.lapsed(&path, SystemTime::now())? {
        let was = req.status;
        req.mark(Status::Expired);
        state.write_json(&lock, &path, &req)?;
        drop(lock);
        log.append(&req.record(
            "expired",
            format!("request {} expired ({was} until {})", req.id, req.expires),
        ))?;
        return Err(ApprovalError::NotPending {
            id: id.to_string(),
            status: Status::Expired,
        }
        .into());
    }
    if req.status != Status::Pending {
        return Err(ApprovalError::NotPending {
            id: id.to_string(),
            status: req.status,
        }
        .into());
    }
    let what = if approve { "approve" } else { "deny" };
    // Approvers and lifetimes come from the role as this process loads it,
    // never from the request file, which the requester's uid wrote.
    let role = set.as_ref().and_then(|s| s.roles.get(&req.role));
    let Some(role) = role else {
        drop(lock);
        return Err(ApprovalError::RoleUnknown {
            id: id.to_string(),
            role: req.role.clone(),
        }
        .into());
    };
    let approvers = role.approval.approvers.clone();
    if !may_decide(&approvers, &me) {
        drop(lock);
        let mut r = req.record(
            "refused",
            format!(
                "{} tried to {what} request {} but is not among its approvers ({})",
                me.label(),
                req.id,
                approvers.join(", ")
            ),
        );
        r.detail("severity", "critical").detail("attempted_by", &me);
        log.append(&r)?;
        return Err(ApprovalError::NotApprover {
            who: me.label(),
            role: req.role.clone(),
            approvers: approvers.join(", "),
        }
        .into());
    }
    // What is approved is what `show` displays: the digest of the binding,
    // computed here, whatever digest the file held.
    let shown_digest = binding::digest_of(&req.bound);
    if approve && req.bound.is_null() {
        drop(lock);
        return Err(ApprovalError::NoBinding(id.to_string()).into());
    }
    if shown_digest != req.digest {
        let mut r = req.record(
            "mended",
            format!(
                "request {}: the file's digest {} is not its binding's {shown_digest}; the binding's is used",
                req.id, req.digest
            ),
        );
        r.detail("severity", "critical");
        let _ = log.append(&r);
    }
    req.digest = shown_digest;
    req.approvers = approvers;
    req.approval_ttl = role.approval.ttl.duration().as_secs();
    req.request_ttl = role.approval.request_ttl.duration().as_secs();
    let now = SystemTime::now();
    let lasts = if approve {
        ttl.unwrap_or(Duration::from_secs(req.approval_ttl))
    } else {
        Duration::from_secs(req.request_ttl)
    };
    req.decided = Some(Verdict {
        by: me,
        at: time_text(now),
        reason: reason.map(str::to_string),
        mode: "command".into(),
    });
    req.expires = time_text(now + lasts);
    req.mark(if approve {
        Status::Approved
    } else {
        Status::Denied
    });
    state.write_json(&lock, &path, &req)?;
    drop(lock);
    let status = if approve { "approved" } else { "denied" };
    log.append(&req.record(
        status,
        format!("request {} {status}{}", req.id, verdict_text(&req)),
    ))?;
    let text = if approve {
        format!(
            "agentjail: approved request {}: {} {} (role {}, session {}); one run of exactly this call until {}\n",
            req.id,
            req.tool,
            compact(&req.params),
            req.role,
            req.session.as_deref().unwrap_or("-"),
            req.expires
        )
    } else {
        format!(
            "agentjail: denied request {}: {} {} (role {}); the identical call is refused until {}\n",
            req.id,
            req.tool,
            compact(&req.params),
            req.role,
            req.expires
        )
    };
    out(&crate::text::printable(&text))?;
    Ok(exit::OK)
}
