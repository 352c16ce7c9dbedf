//! The gate between a decision and the sandbox, for `run` and `check`:
//! the guard that keeps the state directory out of the sandbox, the
//! session's budget, and human approval (consume a matching approval, ask a
//! human through [`AskHuman`], or queue a request). It combines the domain's
//! `approval`, `budget` and `state` under the state lock; it prints nothing.
//!
//! Size: about 620 lines: the guard, budget and approval steps run under one state
//! lock and in one order, which is easier to check in one file.

use super::ask::AskHuman;
use super::{guard, CallError, CallRequest, Context};
use crate::approval::{
    all_requests, approver_uids, binding, collect_garbage, hook::run_hook, new_id, request_path,
    verdict_text, Consumed, Person, Request, Status,
};
use crate::audit::{AuditLog, AuditRecord};
use crate::budget;
use crate::exit;
use crate::policy::{Decision, Outcome, Reason, ToolCall};
use crate::profile::{ProfileSet, Role};
use crate::state::StateDir;
use crate::text::time_text;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The bind (or system path) of this decision's sandbox that would show a
/// guarded place (`super::guard`), with the place.
fn exposing_bind(
    guarded: &[guard::Guarded],
    set: &ProfileSet,
    call: &ToolCall,
    d: &Decision,
) -> Option<(String, guard::Guarded)> {
    let role = set.roles.get(&call.role)?;
    let tool = set.catalog.tools.get(&call.tool)?;
    let mut sources: Vec<PathBuf> = crate::sandbox::plan::SYSTEM_PATHS
        .iter()
        .chain(crate::sandbox::plan::ETC_PATHS)
        .map(PathBuf::from)
        .collect();
    if let Ok(p) = super::plan::build(role, tool, d, Vec::new()) {
        sources.extend(p.binds.into_iter().map(|b| b.source));
    }
    guard::exposed(&sources, guarded).map(|(s, g)| (s.display().to_string(), g.clone()))
}

/// Denies a call whose identical twin a human denied while the denial lasts.
pub(super) fn deny_as_denied_before(d: &mut Decision, req: &Request) {
    deny(
        d,
        "approval_denied",
        format!(
            "the identical call was denied as request {}{}; it is refused until {}",
            req.id,
            verdict_text(req),
            req.expires
        ),
    );
}

/// Denies `d` for `rule`: the deciding reason, so it goes first.
pub(super) fn deny(d: &mut Decision, rule: &'static str, message: String) {
    d.decide_by(Outcome::Deny, rule, message);
}

/// What the gate did for one `run`.
#[derive(Default)]
pub struct Admission {
    pub(super) budget: Option<budget::Report>,
    pub(super) consumed: Option<Request>,
    pub(super) pending: Option<(Request, bool)>,
    pub(super) denied_before: Option<Request>,
    pub(super) expired: Vec<(Request, Status)>,
    /// A human will be asked (after the decision record).
    pub(super) ask: bool,
    pub(super) digest: String,
    /// What an approval of this call binds (`crate::approval::binding`).
    pub(super) bound: Value,
}

/// The gate between a decision and the sandbox.
pub struct Gate<'a> {
    pub(super) ctx: &'a Context,
    pub(super) state: StateDir,
    pub(super) set: &'a ProfileSet,
    pub(super) args: &'a CallRequest,
    pub(super) call: &'a ToolCall,
}

/// In the broker (`agentjail serve`), the socket it serves on: its callers
/// decide requests through it, never with its own paths, which they can
/// neither read nor use; and an approval's approver is the one the broker
/// recorded, not the file's owner (the broker owns them all).
static BROKER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Printed commands name the broker at `socket` (`agentjail --broker
/// SOCKET approvals approve ID`) from here on; set once, by the broker.
pub fn print_commands_for_broker(socket: &Path) {
    let socket = std::path::absolute(socket).unwrap_or_else(|_| socket.to_path_buf());
    let _ = BROKER.set(socket);
}

/// The global options a printed command must repeat so that following it
/// literally reads the same policy and writes to the same places: each of
/// `--profiles`, `--audit-log`, `--state-dir` and `--alert-command` that was
/// given (by flag or variable), paths made absolute, shell-quoted, each
/// followed by a space.
pub fn global_options(ctx: &Context) -> String {
    if let Some(socket) = BROKER.get() {
        return format!(
            "--broker {} ",
            crate::text::shell_quote(&socket.to_string_lossy())
        );
    }
    let path = |p: &Path| {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        crate::text::shell_quote(&p.to_string_lossy())
    };
    let mut s = String::new();
    let options = [
        ("--profiles", ctx.profiles.as_deref().map(path)),
        ("--audit-log", ctx.audit_log.as_deref().map(path)),
        ("--state-dir", ctx.state_dir.as_deref().map(path)),
        (
            "--alert-command",
            ctx.alert_command.as_deref().map(crate::text::shell_quote),
        ),
    ];
    for (name, value) in options {
        if let Some(v) = value {
            s.push_str(&format!("{name} {v} "));
        }
    }
    s
}

/// `agentjail [global options] approvals VERB ID`: the command that decides
/// request `id` (`verb` is `approve` or `deny`).
pub fn decide_command(ctx: &Context, verb: &str, id: &str) -> String {
    format!("agentjail {}approvals {verb} {id}", global_options(ctx))
}

/// The command that approves request `id`, as printed and in JSON.
pub fn approve_command(ctx: &Context, id: &str) -> String {
    decide_command(ctx, "approve", id)
}

impl<'a> Gate<'a> {
    pub fn new(
        ctx: &'a Context,
        set: &'a ProfileSet,
        req: &'a CallRequest,
    ) -> Result<Gate<'a>, CallError> {
        Ok(Gate {
            ctx,
            state: ctx.state()?,
            set,
            args: req,
            call: &req.call,
        })
    }

    pub(super) fn role(&self) -> Option<&'a Role> {
        self.set.roles.get(&self.call.role)
    }

    /// The role, when the gate has work to do for `d`: the call is allowed
    /// or needs approval, and its sandbox would not show the state
    /// directory (otherwise `d` is denied here).
    pub(super) fn guarded(&self, d: &mut Decision) -> Option<&'a Role> {
        let role = self.role()?;
        if !matches!(d.outcome, Outcome::Allow | Outcome::NeedsApproval) {
            return None;
        }
        if let Some((src, place)) = exposing_bind(&self.guarded_places(), self.set, self.call, d) {
            deny(d, place.rule, exposure_message(&place, &src));
            return None;
        }
        Some(role)
    }

    /// The places no sandbox of this call may show.
    pub(super) fn guarded_places(&self) -> Vec<guard::Guarded> {
        let log = self.ctx.audit_log().ok().map(|l| l.path().to_path_buf());
        let in_use = match &self.set.source {
            crate::profile::ProfileSource::Directory(p) => Some(p.as_path()),
            crate::profile::ProfileSource::Bundled => None,
        };
        guard::guarded(
            &self.state,
            log.as_deref(),
            in_use,
            &crate::profile::candidates(),
        )
    }

    pub(super) fn session(&self) -> Option<&'a str> {
        self.args.session.as_deref()
    }

    /// For `run`, under the state lock: denies a call whose sandbox would
    /// show the state directory; counts the call against its budget (77
    /// when it would exceed it); for a call that needs approval, consumes a
    /// matching approval, or decides to ask at the terminal, or queues a
    /// request. Changes `d` accordingly. A failure (a corrupt state file, a
    /// lock timeout) stops the call and is audited as an `error` record.
    pub fn admit(
        &self,
        d: &mut Decision,
        human: &mut dyn AskHuman,
    ) -> Result<Admission, CallError> {
        self.admit_locked(d, human).inspect_err(|e| {
            let mut r = super::records::of_call("error", self.args, &d.params, d);
            r.risk_level = None;
            r.result = Some("error".into());
            r.detail("error", crate::text::chain(e))
                .detail("exit_code", e.exit_code());
            if let Err(a) = self.ctx.audit_log().and_then(|l| Ok(l.append(&r)?)) {
                tracing::error!("auditing a state failure: {a}");
            }
        })
    }

    fn admit_locked(
        &self,
        d: &mut Decision,
        human: &mut dyn AskHuman,
    ) -> Result<Admission, CallError> {
        let mut adm = Admission::default();
        let Some(role) = self.guarded(d) else {
            return Ok(adm);
        };
        let limited = budget::limited(&role.limits);
        let needs = d.outcome == Outcome::NeedsApproval;
        if !limited && !needs {
            return Ok(adm);
        }
        let (session, tokens) = (self.session(), self.args.tokens);
        let lock = self.state.lock()?;
        if !needs {
            let r = budget::charge(
                &self.state,
                &lock,
                &self.call.role,
                &role.limits,
                session,
                tokens,
            )?;
            if let Some(m) = r.message() {
                deny(d, "budget", m);
            }
            adm.budget = Some(r);
            return Ok(adm);
        }
        // Budget first: an approval is not spent on a call the budget refuses.
        if limited {
            let r = budget::peek(&self.state, &self.call.role, &role.limits, session, tokens)?;
            let over = r.message();
            adm.budget = Some(r);
            if let Some(m) = over {
                deny(d, "budget", m);
                return Ok(adm);
            }
        }
        adm.bound = self.binding(role, d);
        adm.digest = binding::digest_of(&adm.bound);
        let (mut approved, mut pending, mut denied) = (None, None, None);
        let mut stale = None;
        let now = SystemTime::now();
        for (path, mut req) in all_requests(&self.state)? {
            // The digest must be the binding's own: an edited digest matches nothing.
            if req.digest != adm.digest || binding::digest_of(&req.bound) != req.digest {
                if req.status == Status::Approved
                    && self.same_call(&req)
                    && !req.lapsed(&path, now)?
                {
                    stale = Some(req.clone());
                }
                collect_garbage(&self.state, &lock, &path, &req, now)?;
                continue;
            }
            if req.lapsed(&path, now)? {
                let was = req.status;
                req.mark(Status::Expired);
                self.state.write_json(&lock, &path, &req)?;
                adm.expired.push((req, was));
                continue;
            }
            match req.status {
                Status::Approved => approved = Some((path, req)),
                Status::Pending => pending = Some(req),
                Status::Denied if req.expires_at(&path)? > now => denied = Some(req),
                _ => collect_garbage(&self.state, &lock, &path, &req, now)?,
            }
        }
        if let Some((path, mut req)) = approved {
            if let Err(why) = self.check_approver(role, &path, &req) {
                deny(d, "approval_forged", format!("request {}: {why}", req.id));
                return Ok(adm);
            }
            if limited {
                adm.budget = Some(budget::charge(
                    &self.state,
                    &lock,
                    &self.call.role,
                    &role.limits,
                    session,
                    tokens,
                )?);
            }
            req.mark(Status::Consumed);
            req.consumed = Some(Consumed {
                at: req.updated.clone(),
                by: Person::me(),
                pid: std::process::id(),
            });
            self.state.write_json(&lock, &path, &req)?;
            d.decide_by(
                Outcome::Allow,
                "approved",
                format!("as request {}{}", req.id, verdict_text(&req)),
            );
            adm.consumed = Some(req);
            return Ok(adm);
        }
        if let Some(req) = denied {
            deny_as_denied_before(d, &req);
            adm.denied_before = Some(req);
            return Ok(adm);
        }
        if let Some(req) = stale {
            let parts = binding::differences(&req.bound, &adm.bound);
            let parts = if parts.is_empty() {
                "its digest (the request file was edited)".to_string()
            } else {
                parts.join(", ")
            };
            d.reasons.push(Reason {
                rule: "approval_mismatch",
                message: format!(
                    "request {} approved this tool for this session, but not this call: it differs in {parts}",
                    req.id
                ),
            });
        }
        adm.ask = human.available(role)?;
        if adm.ask {
            return Ok(adm);
        }
        adm.pending = Some(match pending {
            Some(req) => (req, false),
            None => {
                let req = self.new_request(role, d, &adm.digest, &adm.bound)?;
                self.state.ensure(Some("approvals"))?;
                self.state
                    .write_json(&lock, &request_path(&self.state, &req.id), &req)?;
                (req, true)
            }
        });
        Ok(adm)
    }

    /// An approval is used only when the role's approvers (if it names any)
    /// include the file's owner: the kernel, not the file's content, says
    /// who wrote it.
    pub(super) fn check_approver(
        &self,
        role: &Role,
        path: &Path,
        req: &Request,
    ) -> Result<(), String> {
        let approvers = &role.approval.approvers;
        if approvers.is_empty() {
            return Ok(());
        }
        let owner = self.state.owner(path).map_err(|e| e.to_string())?;
        let by = req.decided.as_ref().map(|v| v.by.uid);
        // In the broker the state is the broker's alone (0700, its uid): it
        // wrote every file, and the approver it recorded is the peer the
        // kernel named when it decided (SO_PEERCRED).
        let served = BROKER.get().is_some() && owner == nix::unistd::geteuid().as_raw();
        let owner = match by {
            Some(by) if served => by,
            _ => owner,
        };
        if by != Some(owner) {
            return Err(format!(
                "the approval file is owned by uid {owner}, not by its approver; not used"
            ));
        }
        if !approver_uids(approvers).contains(&owner) {
            return Err(format!(
                "approved by uid {owner}, who is not in role `{}`'s approval.approvers; not used",
                role.name
            ));
        }
        Ok(())
    }

    /// What an approval of this call binds.
    pub(super) fn binding(&self, role: &Role, d: &Decision) -> Value {
        let Some(tool) = self.set.catalog.tools.get(&self.call.tool) else {
            return Value::Null;
        };
        let env = super::plan_env(role);
        let plan = match super::plan::build(role, tool, d, env.clone()) {
            Ok(p) => serde_json::to_value(&p).unwrap_or(Value::Null),
            Err(e) => json!({"error": e.to_string()}),
        };
        binding::bind(&binding::CallFacts {
            role,
            tool,
            call: self.call,
            decision: d,
            session: self.session(),
            plan,
            env: &env,
            stdin_sha256: self.args.stdin_sha256.clone(),
        })
    }

    /// Whether a request is for this role, tool and session.
    pub(super) fn same_call(&self, req: &Request) -> bool {
        req.role == self.call.role
            && req.tool == self.call.tool
            && req.session.as_deref() == self.session()
    }

    pub(super) fn new_request(
        &self,
        role: &Role,
        d: &Decision,
        digest: &str,
        bound: &Value,
    ) -> Result<Request, CallError> {
        let now = SystemTime::now();
        let request_ttl = role.approval.request_ttl.duration();
        let mut shown = serde_json::Map::new();
        shown.insert("params".into(), json!(d.params));
        shown.insert("extra_args".into(), json!(self.call.extra_args));
        shown.insert("argv".into(), json!(d.argv));
        shown.insert(
            "reasons".into(),
            json!(d
                .reasons
                .iter()
                .map(|r| format!("{}: {}", r.rule, r.message))
                .collect::<Vec<_>>()),
        );
        // What humans (and chat-ops hooks) see is redacted like the audit log;
        // the digest binds the real values.
        crate::audit::redact_record(&mut shown);
        // Long values by size, hash and first characters, as the binding shows them.
        let shown = match binding::hide_secrets(None, &Value::Object(shown)) {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let strings = |k: &str| -> Vec<String> {
            shown
                .get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        Ok(Request {
            id: new_id()?,
            status: Status::Pending,
            digest: digest.to_string(),
            bound: bound.clone(),
            created: time_text(now),
            expires: time_text(now + request_ttl),
            updated: time_text(now),
            role: self.call.role.clone(),
            agent: self.args.agent.clone(),
            session: self.args.session.clone(),
            tool: self.call.tool.clone(),
            risk: d.risk.map(|r| r.to_string()),
            params: shown.get("params").cloned().unwrap_or(Value::Null),
            extra_args: strings("extra_args"),
            argv: strings("argv"),
            sandbox: sandbox_summary(self.set, self.call, d),
            reasons: strings("reasons"),
            tokens: self.args.tokens,
            requested_by: self.args.requested_by.clone().unwrap_or_else(Person::me),
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            approvers: role.approval.approvers.clone(),
            approval_ttl: role.approval.ttl.duration().as_secs(),
            request_ttl: request_ttl.as_secs(),
            decided: None,
            consumed: None,
            expired_at: None,
        })
    }

    /// The command that approves request `id`.
    pub(super) fn approve_command(&self, id: &str) -> String {
        approve_command(self.ctx, id)
    }

    /// Adds what the gate did to the decision record.
    pub fn annotate(&self, adm: &Admission, rec: &mut AuditRecord) {
        if let Some(b) = &adm.budget {
            rec.detail("budget", b);
        }
        if let Some(req) = &adm.consumed {
            rec.approval_status = Some("consumed".into());
            rec.detail("approval", req.audit_detail());
        }
        if let Some(req) = &adm.denied_before {
            rec.approval_status = Some("denied".into());
            rec.detail("approval", req.audit_detail());
        }
        if let Some((req, new)) = &adm.pending {
            let mut v = req.audit_detail();
            v["mode"] = json!("queue");
            v["new"] = json!(new);
            rec.detail("approval", v);
        }
        if adm.ask {
            rec.detail("approval", json!({"mode": "prompt", "digest": adm.digest}));
        }
    }

    /// After the decision record: audits expired approvals and runs the
    /// approval hook for a new request.
    pub fn follow_up(&self, adm: &Admission, log: &AuditLog, rec: &AuditRecord) {
        for (req, was) in &adm.expired {
            let mut r = req.record(
                "expired",
                format!("request {} expired ({was} until {})", req.id, req.expires),
            );
            r.detail("decision_id", &rec.id);
            if let Err(e) = log.append(&r) {
                tracing::error!("auditing an expired approval: {e}");
            }
        }
        if let (Some((req, true)), Some(hook)) = (&adm.pending, &self.ctx.approval_hook) {
            match crate::approval::hook::admit(&self.state) {
                Ok(None) => {}
                Ok(Some(n)) => {
                    tracing::warn!(
                        "approval hook not run: over its rate limit ({n} suppressed this minute)"
                    );
                    let mut r = rec.follow_up("approval");
                    r.approval_status = Some("hook_suppressed".into());
                    r.reasons = vec![format!(
                        "approval hook not run for request {}: over its rate limit ({n} suppressed this minute)",
                        req.id
                    )];
                    r.detail("approval", json!({"request_id": req.id}))
                        .detail("suppressed_this_minute", n);
                    let _ = log.append(&r);
                    return;
                }
                Err(e) => {
                    tracing::warn!("approval hook not run: {e}");
                    let _ = log.append(&rec.error_after(
                        &format!("approval hook not run: {}", crate::text::chain(&e)),
                        exit::APPROVAL_REQUIRED,
                    ));
                    return;
                }
            }
            let (approve, deny) = (
                self.approve_command(&req.id),
                decide_command(self.ctx, "deny", &req.id),
            );
            if let Err(cause) = run_hook(hook, req, &approve, &deny) {
                tracing::warn!("approval hook failed: {cause}");
                let mut r = rec.error_after(
                    &format!("approval hook failed: {cause}"),
                    exit::APPROVAL_REQUIRED,
                );
                r.detail("approval", json!({"request_id": req.id}))
                    .detail("hook_failed", &cause);
                let _ = log.append(&r);
            }
        }
    }
}

fn exposure_message(place: &guard::Guarded, src: &str) -> String {
    if place.rule == "state_dir" {
        return format!(
            "the sandbox would show agentjail's state directory {} through {src}; \
             tools never see it (use another path, or move the state with --state-dir)",
            place.path.display()
        );
    }
    format!(
        "the sandbox would show {} {} through {src}; tools never see it (use another path)",
        place.what,
        place.path.display()
    )
}

/// The sandbox a request would run in, for the human who decides.
fn sandbox_summary(set: &ProfileSet, call: &ToolCall, d: &Decision) -> Value {
    let (Some(role), Some(tool)) = (set.roles.get(&call.role), set.catalog.tools.get(&call.tool))
    else {
        return Value::Null;
    };
    match super::plan::build(role, tool, d, Vec::new()) {
        Ok(p) => json!({
            "uid": p.uid,
            "network": p.network,
            "egress": p.egress,
            "binds": p.binds,
            "memory": p.memory,
            "cpu_millis": p.cpu_millis,
            "pids": p.pids,
            "timeout": p.timeout.as_secs(),
        }),
        Err(e) => json!({"error": e.to_string()}),
    }
}
