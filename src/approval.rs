//! Human approval for delete- and external-class calls, and the gate every
//! `run` passes between the decision and the sandbox: budgets, approvals,
//! and the guard that keeps the state directory out of the sandbox.
//!
//! A call that needs approval runs only with one of:
//!
//! - an **approval** of exactly this call: `agentjail approvals approve ID`
//!   turns a pending request into an approval bound to a digest of role,
//!   tool, parameters, extra arguments, argv and session. The first `run`
//!   with the same digest consumes it (under the state lock); it expires
//!   after its TTL (default 10 minutes).
//! - a **yes at the terminal**: with a terminal (`/dev/tty`, and stdin a
//!   terminal, or `run --interactive`) agentjail shows the request and asks.
//!   The default answer is no, and no answer within the role's
//!   `limits.approval_timeout` (default 120 s) is a denial (77).
//!
//! Otherwise `run` records a pending request in the state directory, runs the
//! approval hook for a new one, prints the request id and the command that
//! approves it, and exits 75. Requests, approvals, denials, expiries and
//! consumptions are all audited (`approval_status`).

use crate::audit::{AuditLog, AuditRecord};
use crate::budget;
use crate::cli::{ApprovalsCommand, CallArgs, Format};
use crate::error::AppError;
use crate::exit;
use crate::policy::{Decision, Outcome, Reason, ToolCall};
use crate::profile::{ProfileSet, Role};
use crate::run::{shell_quote, Context};
use crate::state::{StateDir, StateError, StateLock};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// `limits.approval_timeout` when a role sets none.
pub const DEFAULT_TIMEOUT: &str = "120s";
/// `approval.ttl`: how long an approval can be used, when the role sets none.
pub const DEFAULT_TTL: &str = "10m";
/// `approval.request_ttl`: how long a request waits for a human (and how
/// long a denial answers the identical call), when the role sets none.
pub const DEFAULT_REQUEST_TTL: &str = "1h";
/// How long the approval hook may run by default.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// The exit code of `approvals` for an unknown request or one no longer pending.
pub const FAILED: i32 = 1;
/// Finished requests (denied, consumed, expired) are removed this long after
/// their last change.
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 86_400);

// --------------------------------------------------------------------------
// Profile settings
// --------------------------------------------------------------------------

/// A duration in a profile: whole seconds (`120`) or text (`"120s"`, `"10m"`, `"2h"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DurationSetting {
    Seconds(u64),
    Text(String),
}

impl DurationSetting {
    pub fn secs(&self) -> Result<u64, String> {
        match self {
            DurationSetting::Seconds(n) => Ok(*n),
            DurationSetting::Text(t) => {
                crate::units::parse_duration_secs(t).map_err(|e| e.to_string())
            }
        }
    }

    /// The number of seconds, for a setting `validate` accepted.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.secs().unwrap_or(0))
    }
}

pub fn default_timeout() -> DurationSetting {
    DurationSetting::Text(DEFAULT_TIMEOUT.into())
}
fn default_ttl() -> DurationSetting {
    DurationSetting::Text(DEFAULT_TTL.into())
}
fn default_request_ttl() -> DurationSetting {
    DurationSetting::Text(DEFAULT_REQUEST_TTL.into())
}
fn yes() -> bool {
    true
}

/// A role's `[approval]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSettings {
    /// User names or uids who may approve or deny this role's requests;
    /// empty: whoever can write the state directory.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// How long an approval can be used (`approve --ttl` overrides it).
    #[serde(default = "default_ttl")]
    pub ttl: DurationSetting,
    /// How long a request waits for a human, and how long a denial refuses
    /// the identical call.
    #[serde(default = "default_request_ttl")]
    pub request_ttl: DurationSetting,
    /// Whether `run` may ask at the terminal.
    #[serde(default = "yes")]
    pub prompt: bool,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            approvers: Vec::new(),
            ttl: default_ttl(),
            request_ttl: default_request_ttl(),
            prompt: true,
        }
    }
}

/// Errors in a role's approval settings and `limits.approval_timeout`.
pub fn validate_role(role: &Role) -> Vec<String> {
    let mut errors = Vec::new();
    for (key, d) in [
        ("limits.approval_timeout", &role.limits.approval_timeout),
        ("approval.ttl", &role.approval.ttl),
        ("approval.request_ttl", &role.approval.request_ttl),
    ] {
        match d.secs() {
            Ok(0) => errors.push(format!("{key} must be at least 1s")),
            Ok(_) => {}
            Err(e) => errors.push(format!("{key}: {e}")),
        }
    }
    for a in &role.approval.approvers {
        if a.trim().is_empty() || a.contains(char::is_whitespace) {
            errors.push(format!(
                "approval.approvers: {a:?} is not a user name or uid"
            ));
        }
    }
    errors
}

// --------------------------------------------------------------------------
// Errors
// --------------------------------------------------------------------------

#[derive(Debug, Error)]
pub enum ApprovalError {
    #[error("no approval request `{0}` (see `agentjail approvals list --all`)")]
    NotFound(String),
    #[error("bad request id {0:?}: expected 12 hexadecimal digits")]
    BadId(String),
    #[error("approval request `{id}` is {status}, not pending")]
    NotPending { id: String, status: Status },
    #[error(
        "denied: {who} may not decide requests of role `{role}`; approval.approvers: {approvers}"
    )]
    NotApprover {
        who: String,
        role: String,
        approvers: String,
    },
    #[error("--interactive: no terminal to ask on (/dev/tty)")]
    NoTerminal(#[source] std::io::Error),
}

impl ApprovalError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ApprovalError::NotFound(_) | ApprovalError::NotPending { .. } => FAILED,
            ApprovalError::BadId(_) | ApprovalError::NoTerminal(_) => exit::USAGE,
            ApprovalError::NotApprover { .. } => exit::DENIED,
        }
    }
}

// --------------------------------------------------------------------------
// Requests
// --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Denied,
    Consumed,
    Expired,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Consumed => "consumed",
            Status::Expired => "expired",
        })
    }
}

/// Who did something: the uid, its user name, and the kernel's login uid
/// (the user who logged in, also behind sudo) when it is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub uid: u32,
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
}

impl Person {
    /// The user running this process.
    pub fn me() -> Person {
        let uid = nix::unistd::getuid();
        let login_uid = std::fs::read_to_string("/proc/self/loginuid")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|&u| u != u32::MAX);
        Person {
            uid: uid.as_raw(),
            user: user_name(uid.as_raw()),
            login_uid,
            tty: None,
        }
    }

    /// `alice (uid 1000)`.
    pub fn label(&self) -> String {
        match &self.user {
            Some(u) => format!("{u} (uid {})", self.uid),
            None => format!("uid {}", self.uid),
        }
    }
}

fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// A human's answer to a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub by: Person,
    pub at: String,
    pub reason: Option<String>,
    /// `command` (approvals approve/deny) or `prompt` (the terminal).
    pub mode: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumed {
    pub at: String,
    pub by: Person,
    pub pid: u32,
}

/// One request for approval, as stored in `approvals/ID.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub id: String,
    pub status: Status,
    /// SHA-256 of the canonical JSON of role, tool, parameters, extra
    /// arguments, argv and session: what an approval is bound to.
    pub digest: String,
    pub created: String,
    /// Pending: until when it can be approved. Approved: until when the
    /// approval can be used. Denied: until when the identical call is refused.
    pub expires: String,
    pub updated: String,
    pub role: String,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub tool: String,
    pub risk: Option<String>,
    /// As the tool would get them, with secrets redacted as in the audit log.
    pub params: Value,
    pub extra_args: Vec<String>,
    pub argv: Vec<String>,
    pub sandbox: Value,
    pub reasons: Vec<String>,
    pub tokens: u64,
    pub requested_by: Person,
    pub host: String,
    /// The role's approvers when the request was made.
    pub approvers: Vec<String>,
    /// Seconds an approval lasts, and a request waits, for this role.
    pub approval_ttl: u64,
    pub request_ttl: u64,
    pub decided: Option<Verdict>,
    pub consumed: Option<Consumed>,
    pub expired_at: Option<String>,
}

impl Request {
    fn expires_at(&self, path: &Path) -> Result<SystemTime, StateError> {
        parse_time(path, &self.expires)
    }

    /// Whether a pending request or an approval ran out of time.
    fn lapsed(&self, path: &Path, now: SystemTime) -> Result<bool, StateError> {
        Ok(matches!(self.status, Status::Pending | Status::Approved)
            && self.expires_at(path)? <= now)
    }

    fn mark(&mut self, status: Status) {
        self.status = status;
        self.updated = now_text();
        if status == Status::Expired {
            self.expired_at = Some(self.updated.clone());
        }
    }

    /// The details every `approval` audit record carries.
    fn audit_detail(&self) -> Value {
        json!({
            "request_id": self.id,
            "digest": self.digest,
            "status": self.status,
            "expires": self.expires,
            "argv": self.argv,
            "extra_args": self.extra_args,
            "requested_by": self.requested_by,
            "decided": self.decided,
            "consumed": self.consumed,
        })
    }

    /// An `approval` audit record about this request.
    fn record(&self, approval_status: &str, message: String) -> AuditRecord {
        let mut r = AuditRecord::new("approval", &self.role);
        r.agent_id = self.agent.clone();
        r.session_id = self.session.clone();
        r.tool = Some(self.tool.clone());
        r.params = Some(self.params.clone());
        r.approval_status = Some(approval_status.into());
        r.result = Some(approval_status.into());
        r.reasons = vec![message];
        r.detail("approval", self.audit_detail());
        r
    }

    /// The request as text, for the terminal and `approvals show`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<10}{v}\n"));
        line(
            "request",
            format!("{} ({}, expires {})", self.id, self.status, self.expires),
        );
        line("role", self.role.clone());
        line("agent", self.agent.clone().unwrap_or_else(|| "-".into()));
        line(
            "session",
            self.session.clone().unwrap_or_else(|| "-".into()),
        );
        line(
            "tool",
            format!(
                "{} (risk {})",
                self.tool,
                self.risk.as_deref().unwrap_or("unknown")
            ),
        );
        line("params", compact(&self.params));
        if !self.extra_args.is_empty() {
            let e: Vec<String> = self.extra_args.iter().map(|a| shell_quote(a)).collect();
            line("extra", e.join(" "));
        }
        let argv: Vec<String> = self.argv.iter().map(|a| shell_quote(a)).collect();
        line("argv", argv.join(" "));
        line("sandbox", sandbox_text(&self.sandbox));
        for r in &self.reasons {
            line("reason", r.clone());
        }
        line(
            "requested",
            format!(
                "{} by {} on {}",
                self.created,
                self.requested_by.label(),
                self.host
            ),
        );
        if let Some(v) = &self.decided {
            line(
                if self.status == Status::Denied {
                    "denied"
                } else {
                    "approved"
                },
                format!(
                    "{} by {} ({}){}",
                    v.at,
                    v.by.label(),
                    v.mode,
                    v.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            );
        }
        if let Some(c) = &self.consumed {
            line(
                "consumed",
                format!("{} by {} (pid {})", c.at, c.by.label(), c.pid),
            );
        }
        crate::error::printable(&s)
    }
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn sandbox_text(v: &Value) -> String {
    if v.is_null() {
        return "-".into();
    }
    let mut s = format!(
        "uid {}, network {}, memory {}, timeout {}s",
        v["uid"],
        v["network"].as_str().unwrap_or("?"),
        crate::units::format_size(v["memory"].as_u64().unwrap_or(0)),
        v["timeout"]
    );
    for e in v["egress"].as_array().into_iter().flatten() {
        s.push_str(&format!(", egress {}", e.as_str().unwrap_or("?")));
    }
    for b in v["binds"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            ", bind {} -> {} ({})",
            b["source"].as_str().unwrap_or("?"),
            b["target"].as_str().unwrap_or("?"),
            if b["writable"].as_bool() == Some(true) {
                "rw"
            } else {
                "ro"
            }
        ));
    }
    s
}

/// The time now, as the state files and audit records write it.
pub fn now_text() -> String {
    time_text(SystemTime::now())
}

fn time_text(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn parse_time(path: &Path, text: &str) -> Result<SystemTime, StateError> {
    humantime::parse_rfc3339(text).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        why: format!("bad time {text:?}: {e}"),
    })
}

fn new_id() -> Result<String, StateError> {
    let mut b = [0u8; 6];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|source| StateError::Read {
            path: "/dev/urandom".into(),
            source,
        })?;
    Ok(crate::audit::hex(&b))
}

fn check_id(id: &str) -> Result<(), ApprovalError> {
    if id.len() == 12 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ApprovalError::BadId(id.to_string()))
    }
}

fn request_path(state: &StateDir, id: &str) -> PathBuf {
    state.sub("approvals").join(format!("{id}.json"))
}

/// Reads every request; a file that is not a request is an error naming it.
fn all_requests(state: &StateDir) -> Result<Vec<(PathBuf, Request)>, StateError> {
    let mut out = Vec::new();
    for p in state.list("approvals")? {
        if let Some(r) = state.read_json::<Request>(&p)? {
            if request_path(state, &r.id) != p {
                return Err(StateError::Corrupt {
                    path: p,
                    why: format!("it holds request `{}`", r.id),
                });
            }
            out.push((p, r));
        }
    }
    out.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    Ok(out)
}

/// What an approval is bound to: role, tool, parameters (as resolved),
/// extra arguments, argv and session.
pub fn digest(call: &ToolCall, d: &Decision, session: Option<&str>) -> String {
    let v = json!({
        "role": call.role,
        "tool": call.tool,
        "params": d.params,
        "extra_args": call.extra_args,
        "argv": d.argv,
        "session": session,
    });
    let mut bytes = Vec::new();
    crate::audit::write_canonical(&v, &mut bytes);
    crate::audit::sha256_hex(&bytes)
}

/// The uids an `approvers` list names (user names resolved on this host).
fn approver_uids(approvers: &[String]) -> Vec<u32> {
    approvers
        .iter()
        .filter_map(|a| match a.parse::<u32>() {
            Ok(uid) => Some(uid),
            Err(_) => nix::unistd::User::from_name(a)
                .ok()
                .flatten()
                .map(|u| u.uid.as_raw()),
        })
        .collect()
}

fn may_decide(approvers: &[String], who: &Person) -> bool {
    approvers.is_empty() || approver_uids(approvers).contains(&who.uid)
}

// --------------------------------------------------------------------------
// The guard: the sandbox never sees the state directory
// --------------------------------------------------------------------------

/// The bind (or system path) that would show the state directory inside the
/// sandbox of this decision, if any.
fn exposing_bind(
    state: &StateDir,
    set: &ProfileSet,
    call: &ToolCall,
    d: &Decision,
) -> Option<String> {
    let role = set.roles.get(&call.role)?;
    let tool = set.catalog.tools.get(&call.tool)?;
    let system = crate::sandbox::plan::SYSTEM_PATHS
        .iter()
        .chain(crate::sandbox::plan::ETC_PATHS)
        .map(PathBuf::from);
    let binds: Vec<PathBuf> = match crate::sandbox_plan::build(role, tool, d, Vec::new()) {
        Ok(p) => p.binds.into_iter().map(|b| b.source).collect(),
        Err(_) => Vec::new(),
    };
    system
        .chain(binds)
        .find(|src| state.exposed_by(src))
        .map(|src| src.display().to_string())
}

fn deny(d: &mut Decision, rule: &'static str, message: String) {
    d.outcome = Outcome::Deny;
    d.reasons.push(Reason { rule, message });
}

// --------------------------------------------------------------------------
// The gate of `run` and `check`
// --------------------------------------------------------------------------

/// Whether `run` may ask at the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// When stdin is a terminal and `/dev/tty` opens (and the role allows it).
    Auto,
    /// `--interactive`: always; no terminal is an error.
    Always,
    /// `--no-interactive`: never; queue a request instead.
    Never,
}

/// What the gate did for one `run`.
#[derive(Default)]
pub struct Admission {
    budget: Option<budget::Report>,
    consumed: Option<Request>,
    pending: Option<(Request, bool)>,
    denied_before: Option<Request>,
    expired: Vec<(Request, Status)>,
    tty: Option<File>,
    digest: String,
}

/// The gate between a decision and the sandbox.
pub struct Gate<'a> {
    ctx: &'a Context,
    state: StateDir,
    set: &'a ProfileSet,
    args: &'a CallArgs,
    call: &'a ToolCall,
    prompt: Prompt,
}

impl<'a> Gate<'a> {
    pub fn new(
        ctx: &'a Context,
        set: &'a ProfileSet,
        args: &'a CallArgs,
        call: &'a ToolCall,
        prompt: Prompt,
    ) -> Result<Gate<'a>, AppError> {
        Ok(Gate {
            ctx,
            state: ctx.state()?,
            set,
            args,
            call,
            prompt,
        })
    }

    fn role(&self) -> Option<&'a Role> {
        self.set.roles.get(&self.call.role)
    }

    fn session(&self) -> Option<&'a str> {
        self.args.session.as_deref()
    }

    /// For `run`, under the state lock: denies a call whose sandbox would
    /// show the state directory; counts the call against its budget (77
    /// when it would exceed it); for a call that needs approval, consumes a
    /// matching approval, or decides to ask at the terminal, or queues a
    /// request. Changes `d` accordingly. A failure (a corrupt state file, a
    /// lock timeout) stops the call and is audited as an `error` record.
    pub fn admit(&self, d: &mut Decision) -> Result<Admission, AppError> {
        self.admit_locked(d).inspect_err(|e| {
            let mut r = AuditRecord::new("error", &self.call.role);
            r.agent_id = self.args.agent.clone();
            r.session_id = self.args.session.clone();
            r.tool = Some(self.call.tool.clone());
            r.params = Some(json!(d.params));
            r.tokens_used = self.args.tokens;
            r.decision = Some(d.outcome.as_str().into());
            r.result = Some("error".into());
            r.detail("error", crate::error::chain(e))
                .detail("exit_code", e.exit_code());
            if let Err(a) = self.ctx.audit_log().and_then(|l| Ok(l.append(&r)?)) {
                tracing::error!("auditing a state failure: {a}");
            }
        })
    }

    fn admit_locked(&self, d: &mut Decision) -> Result<Admission, AppError> {
        let mut adm = Admission::default();
        let Some(role) = self.role() else {
            return Ok(adm);
        };
        if !matches!(d.outcome, Outcome::Allow | Outcome::NeedsApproval) {
            return Ok(adm);
        }
        if let Some(src) = exposing_bind(&self.state, self.set, self.call, d) {
            deny(d, "state_dir", exposure_message(&self.state, &src));
            return Ok(adm);
        }
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
        adm.digest = digest(self.call, d, session);
        let (mut approved, mut pending, mut denied) = (None, None, None);
        let now = SystemTime::now();
        for (path, mut req) in all_requests(&self.state)? {
            if req.digest != adm.digest {
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
            d.outcome = Outcome::Allow;
            d.reasons.push(Reason {
                rule: "approved",
                message: format!("approved as request {}{}", req.id, verdict_text(&req)),
            });
            adm.consumed = Some(req);
            return Ok(adm);
        }
        if let Some(req) = denied {
            deny(
                d,
                "approval_denied",
                format!(
                    "the identical call was denied as request {}{}; it is refused until {}",
                    req.id,
                    verdict_text(&req),
                    req.expires
                ),
            );
            adm.denied_before = Some(req);
            return Ok(adm);
        }
        adm.tty = self.terminal(role)?;
        if adm.tty.is_some() {
            return Ok(adm);
        }
        adm.pending = Some(match pending {
            Some(req) => (req, false),
            None => {
                let req = self.new_request(role, d, &adm.digest)?;
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
    fn check_approver(&self, role: &Role, path: &Path, req: &Request) -> Result<(), String> {
        let approvers = &role.approval.approvers;
        if approvers.is_empty() {
            return Ok(());
        }
        let owner = self.state.owner(path).map_err(|e| e.to_string())?;
        let by = req.decided.as_ref().map(|v| v.by.uid);
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

    /// The terminal to ask on, when this run asks.
    fn terminal(&self, role: &Role) -> Result<Option<File>, AppError> {
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags_noctty()
                .open("/dev/tty")
        };
        let me = Person::me();
        match self.prompt {
            Prompt::Never => Ok(None),
            Prompt::Always => {
                let tty = open().map_err(ApprovalError::NoTerminal)?;
                if !may_decide(&role.approval.approvers, &me) {
                    return Err(ApprovalError::NotApprover {
                        who: me.label(),
                        role: role.name.clone(),
                        approvers: role.approval.approvers.join(", "),
                    }
                    .into());
                }
                Ok(Some(tty))
            }
            Prompt::Auto => {
                if !role.approval.prompt
                    || !std::io::stdin().is_terminal()
                    || !may_decide(&role.approval.approvers, &me)
                {
                    return Ok(None);
                }
                Ok(open().ok())
            }
        }
    }

    fn new_request(&self, role: &Role, d: &Decision, digest: &str) -> Result<Request, AppError> {
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
            requested_by: Person::me(),
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
    fn approve_command(&self, id: &str) -> String {
        format!("agentjail {}approvals approve {id}", self.state.option())
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
        if adm.tty.is_some() {
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
            if let Err(cause) = run_hook(hook, req, &self.approve_command(&req.id), &self.state) {
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

    /// For a call that still needs approval after [`Gate::admit`]: asks at
    /// the terminal, or reports the queued request. `Ok(None)`: approved,
    /// run it (`d` now allows it). `Ok(Some(code))`: stop with `code`.
    pub fn ask(
        &self,
        adm: &mut Admission,
        d: &mut Decision,
        log: &AuditLog,
        rec: &AuditRecord,
        json_out: bool,
    ) -> Result<Option<i32>, AppError> {
        let Some(role) = self.role() else {
            return Ok(Some(exit::APPROVAL_REQUIRED));
        };
        let Some(mut tty) = adm.tty.take() else {
            let pending = adm.pending.as_ref().map(|(req, _)| req);
            eprintln!(
                "agentjail: approval required: {} (audit id {})",
                crate::error::printable(d.headline()),
                rec.id
            );
            let mut approval = Value::Null;
            if let Some(req) = pending {
                let cmd = self.approve_command(&req.id);
                eprintln!(
                    "agentjail: approval request {} is pending until {}; approve with: {cmd}",
                    req.id, req.expires
                );
                approval = json!({
                    "request_id": req.id,
                    "status": "pending",
                    "expires": req.expires,
                    "approve_command": cmd,
                });
            }
            if json_out {
                print_json(rec, d, exit::APPROVAL_REQUIRED, approval);
            }
            return Ok(Some(exit::APPROVAL_REQUIRED));
        };
        // Ask at the terminal.
        let mut req = self.new_request(role, d, &adm.digest)?;
        let timeout = role.limits.approval_timeout.duration();
        // Pending until the answer's time is up.
        req.expires = time_text(SystemTime::now() + timeout);
        let question = format!(
            "\nagentjail: approval required for this call:\n{}Approve this call? [y/N] (no answer within {} means no) ",
            req.text(),
            humantime::format_duration(timeout)
        );
        let answer = ask_terminal(&mut tty, &question, timeout);
        let mut me = Person::me();
        // The terminal's own name (/dev/pts/N) from a standard stream on it.
        me.tty = [
            nix::unistd::ttyname(std::io::stdin().as_fd()),
            nix::unistd::ttyname(std::io::stderr().as_fd()),
            nix::unistd::ttyname(tty.as_fd()),
        ]
        .into_iter()
        .find_map(Result::ok)
        .map(|p| p.display().to_string());
        let (approved, why) = match &answer {
            Answer::Yes => (true, format!("{} answered yes at the terminal", me.label())),
            Answer::No(text) => (
                false,
                format!("{} answered {text:?} at the terminal", me.label()),
            ),
            Answer::Eof => (false, "the terminal closed without an answer".to_string()),
            Answer::Timeout => (
                false,
                format!("no answer within {}", humantime::format_duration(timeout)),
            ),
            Answer::Failed(e) => (false, format!("the terminal failed: {e}")),
        };
        let _ = writeln!(tty, "{}", if approved { "approved" } else { "denied" });
        req.decided = Some(Verdict {
            by: me,
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
        if !approved {
            d.outcome = Outcome::Deny;
            d.reasons.push(Reason {
                rule: "approval",
                message: format!("not approved: {why} (request {})", req.id),
            });
            eprintln!(
                "agentjail: denied: {}",
                crate::error::printable(d.headline())
            );
            if json_out {
                let approval = json!({"request_id": req.id, "status": "denied", "reason": why});
                print_json(rec, d, exit::DENIED, approval);
            }
            return Ok(Some(exit::DENIED));
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
                eprintln!(
                    "agentjail: denied: {}",
                    crate::error::printable(d.headline())
                );
                if json_out {
                    print_json(rec, d, exit::DENIED, Value::Null);
                }
                return Ok(Some(exit::DENIED));
            }
        }
        d.outcome = Outcome::Allow;
        d.reasons.push(Reason {
            rule: "approved",
            message: format!("approved at the terminal as request {}: {why}", req.id),
        });
        Ok(None)
    }

    /// For `check`: the budget and the approval this call would meet,
    /// without counting or consuming anything. Changes `d` the way `run`
    /// would (a budget or the state directory's guard may deny it).
    pub fn look(&self, d: &mut Decision) -> Result<Look, AppError> {
        let mut look = Look::default();
        let Some(role) = self.role() else {
            return Ok(look);
        };
        if !matches!(d.outcome, Outcome::Allow | Outcome::NeedsApproval) {
            return Ok(look);
        }
        if let Some(src) = exposing_bind(&self.state, self.set, self.call, d) {
            deny(d, "state_dir", exposure_message(&self.state, &src));
            return Ok(look);
        }
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
        let digest = digest(self.call, d, self.session());
        let now = SystemTime::now();
        let mut found = None;
        for (path, req) in all_requests(&self.state)? {
            if req.digest != digest || req.lapsed(&path, now)? {
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
                    deny(
                        d,
                        "approval_denied",
                        format!(
                            "the identical call was denied as request {}{}; it is refused until {}",
                            req.id,
                            verdict_text(&req),
                            req.expires
                        ),
                    );
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
        crate::error::printable(&s)
    }
}

fn exposure_message(state: &StateDir, src: &str) -> String {
    format!(
        "the sandbox would show agentjail's state directory {} through {src}; \
         tools never see it (use another path, or move the state with --state-dir)",
        state.path().display()
    )
}

fn verdict_text(req: &Request) -> String {
    match &req.decided {
        Some(v) => format!(
            " by {}{}",
            v.by.label(),
            v.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        None => String::new(),
    }
}

fn print_json(rec: &AuditRecord, d: &Decision, code: i32, approval: Value) {
    let v = json!({
        "audit_id": rec.id,
        "decision": d.outcome.as_str(),
        "reasons": d.reasons,
        "exit_code": code,
        "approval": approval,
    });
    println!("{v}");
}

/// Removes a finished request a week after its last change. Only under the lock.
fn collect_garbage(
    state: &StateDir,
    lock: &StateLock,
    path: &Path,
    req: &Request,
    now: SystemTime,
) -> Result<(), StateError> {
    let finished = match req.status {
        Status::Consumed | Status::Expired => true,
        Status::Denied => req.expires_at(path)? <= now,
        Status::Pending | Status::Approved => false,
    };
    if finished && parse_time(path, &req.updated)? + KEEP_FINISHED <= now {
        state.remove(lock, path)?;
    }
    Ok(())
}

/// The sandbox a request would run in, for the human who decides.
fn sandbox_summary(set: &ProfileSet, call: &ToolCall, d: &Decision) -> Value {
    let (Some(role), Some(tool)) = (set.roles.get(&call.role), set.catalog.tools.get(&call.tool))
    else {
        return Value::Null;
    };
    match crate::sandbox_plan::build(role, tool, d, Vec::new()) {
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

// --------------------------------------------------------------------------
// The terminal
// --------------------------------------------------------------------------

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Yes,
    No(String),
    Eof,
    Timeout,
    Failed(String),
}

/// Shows `question` on the terminal and reads one line, for at most
/// `timeout`. What was typed before the question is discarded, so an answer
/// cannot be typed ahead.
fn ask_terminal(tty: &mut File, question: &str, timeout: Duration) -> Answer {
    let _ = nix::sys::termios::tcflush(tty.as_fd(), nix::sys::termios::FlushArg::TCIFLUSH);
    if let Err(e) = tty
        .write_all(crate::error::printable(question).as_bytes())
        .and_then(|()| tty.flush())
    {
        return Answer::Failed(e.to_string());
    }
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = writeln!(tty);
            return Answer::Timeout;
        }
        let ms = u16::try_from(left.as_millis().clamp(1, 60_000)).unwrap_or(60_000);
        let mut fds = [nix::poll::PollFd::new(
            tty.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Answer::Failed(e.to_string()),
        }
        let mut buf = [0u8; 256];
        match tty.read(&mut buf) {
            Ok(0) => return Answer::Eof,
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if let Some(end) = line.iter().position(|&b| b == b'\n' || b == b'\r') {
                    let text = String::from_utf8_lossy(&line[..end]).trim().to_string();
                    return match text.to_ascii_lowercase().as_str() {
                        "y" | "yes" => Answer::Yes,
                        _ => Answer::No(text),
                    };
                }
                if line.len() > 4096 {
                    return Answer::No(String::from_utf8_lossy(&line).into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Answer::Failed(e.to_string()),
        }
    }
}

// --------------------------------------------------------------------------
// The approval hook
// --------------------------------------------------------------------------

/// Runs `--approval-hook` for a new request: `/bin/sh -c CMD` in its own
/// process group, the request as JSON on stdin, stdout and stderr on
/// /dev/null, killed after `AGENTJAIL_APPROVAL_HOOK_TIMEOUT` (default 5 s).
fn run_hook(command: &str, req: &Request, approve: &str, state: &StateDir) -> Result<(), String> {
    let timeout = std::env::var("AGENTJAIL_APPROVAL_HOOK_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .unwrap_or(DEFAULT_HOOK_TIMEOUT);
    let mut payload = serde_json::to_value(req).unwrap_or(Value::Null);
    let deny = format!("agentjail {}approvals deny {}", state.option(), req.id);
    payload["approve_command"] = json!(approve);
    payload["deny_command"] = json!(deny);
    let fd = nix::sys::memfd::memfd_create(
        c"agentjail-approval",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| format!("memfd_create: {e}"))?;
    let mut stdin = File::from(fd);
    let mut text = serde_json::to_vec(&payload).unwrap_or_default();
    text.push(b'\n');
    stdin
        .write_all(&text)
        .and_then(|()| stdin.rewind())
        .map_err(|e| format!("writing the request: {e}"))?;
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::from(stdin))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .env("AGENTJAIL_APPROVAL_ID", &req.id)
        .env("AGENTJAIL_APPROVAL_COMMAND", approve)
        .env("AGENTJAIL_DENY_COMMAND", &deny)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start `/bin/sh -c {command}`: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(match status.code() {
                    Some(c) => format!("exit status {c}"),
                    None => format!("killed by signal {}", status.signal().unwrap_or(0)),
                })
            }
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(format!(
                    "timed out after {}; killed",
                    humantime::format_duration(timeout)
                ));
            }
            Err(e) => return Err(format!("waiting for it: {e}")),
        }
    }
}

// --------------------------------------------------------------------------
// `agentjail approvals`
// --------------------------------------------------------------------------

pub fn dispatch(ctx: &Context, cmd: &ApprovalsCommand) -> Result<i32, AppError> {
    match cmd {
        ApprovalsCommand::List { all, format } => list(ctx, *all, *format),
        ApprovalsCommand::Show { id, format } => show(ctx, id, *format),
        ApprovalsCommand::Approve { id, ttl, reason } => {
            decide(ctx, id, true, *ttl, reason.as_deref())
        }
        ApprovalsCommand::Deny { id, reason } => decide(ctx, id, false, None, reason.as_deref()),
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

fn list(ctx: &Context, all: bool, format: Format) -> Result<i32, AppError> {
    let state = ctx.state()?;
    if state.sub("approvals").is_dir() {
        sweep(&state, &ctx.audit_log()?)?;
    }
    let requests: Vec<Request> = all_requests(&state)?
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| all || matches!(r.status, Status::Pending | Status::Approved))
        .collect();
    match format {
        Format::Json => {
            let list: Vec<Value> = requests
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                    v["approve_command"] = json!(format!(
                        "agentjail {}approvals approve {}",
                        state.option(),
                        r.id
                    ));
                    v
                })
                .collect();
            out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({"state_dir": state.path(), "requests": list}))
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
            if requests.is_empty() {
                s.push_str(if all {
                    "(no requests)\n"
                } else {
                    "(no pending requests)\n"
                });
            }
            out(&crate::error::printable(&s))?;
        }
    }
    Ok(exit::OK)
}

fn show(ctx: &Context, id: &str, format: Format) -> Result<i32, AppError> {
    check_id(id)?;
    let state = ctx.state()?;
    let req = state
        .read_json::<Request>(&request_path(&state, id))?
        .ok_or_else(|| ApprovalError::NotFound(id.to_string()))?;
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
) -> Result<i32, AppError> {
    check_id(id)?;
    let state = ctx.state()?;
    let log = ctx.audit_log()?;
    let set = ctx.load_profiles().ok();
    let path = request_path(&state, id);
    let me = Person::me();
    let lock = state.lock()?;
    let mut req = state
        .read_json::<Request>(&path)?
        .ok_or_else(|| ApprovalError::NotFound(id.to_string()))?;
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
    // The approvers the request recorded, and those of the role in the
    // profiles this approver sees (`run` checks the file's owner again).
    let mut approvers = req.approvers.clone();
    if let Some(role) = set.as_ref().and_then(|s| s.roles.get(&req.role)) {
        for a in &role.approval.approvers {
            if !approvers.contains(a) {
                approvers.push(a.clone());
            }
        }
    }
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
    out(&crate::error::printable(&text))?;
    Ok(exit::OK)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_profiles() {
        assert_eq!(DurationSetting::Seconds(120).secs(), Ok(120));
        assert_eq!(DurationSetting::Text("2m".into()).secs(), Ok(120));
        assert!(DurationSetting::Text("soon".into()).secs().is_err());
        let s: ApprovalSettings =
            toml::from_str("approvers = [\"alice\", \"1001\"]\nttl = 30").unwrap();
        assert_eq!(s.ttl.secs(), Ok(30));
        assert_eq!(s.request_ttl.secs(), Ok(3600));
        assert!(s.prompt);
        assert!(toml::from_str::<ApprovalSettings>("approver = []").is_err());
    }

    #[test]
    fn the_digest_binds_every_part_of_the_call() {
        let call = ToolCall {
            role: "r".into(),
            tool: "t".into(),
            params: Default::default(),
            extra_args: vec![],
        };
        let mut d = Decision {
            outcome: Outcome::NeedsApproval,
            reasons: vec![],
            risk: None,
            params: Default::default(),
            argv: vec!["rm".into(), "x".into()],
            findings: vec![],
            parameter_error: None,
        };
        d.params.insert("name".into(), json!("x"));
        let base = digest(&call, &d, Some("s"));
        assert_eq!(base, digest(&call, &d, Some("s")));
        assert_ne!(base, digest(&call, &d, Some("s2")));
        assert_ne!(base, digest(&call, &d, None));
        let mut d2 = d.clone();
        d2.params.insert("name".into(), json!("y"));
        assert_ne!(base, digest(&call, &d2, Some("s")));
        let mut c2 = call.clone();
        c2.extra_args.push("-f".into());
        assert_ne!(base, digest(&c2, &d, Some("s")));
        let mut c3 = call.clone();
        c3.role = "r2".into();
        assert_ne!(base, digest(&c3, &d, Some("s")));
    }

    #[test]
    fn ids_are_checked_before_they_name_a_file() {
        assert!(check_id("0123456789ab").is_ok());
        for bad in [
            "",
            "../../etc/pa",
            "0123456789AB",
            "0123456789abc",
            "0123456789a/",
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(new_id().unwrap().len(), 12);
    }

    #[test]
    fn terminal_answers() {
        // A pty pair stands in for the terminal.
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut master = File::from(pty.master);
        let mut slave = File::from(pty.slave);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            master.write_all(b"yes\n").unwrap();
            let mut shown = vec![0u8; 4096];
            let n = master.read(&mut shown).unwrap();
            (master, String::from_utf8_lossy(&shown[..n]).into_owned())
        });
        let a = ask_terminal(&mut slave, "Approve? ", Duration::from_secs(10));
        assert_eq!(a, Answer::Yes);
        let (_master, shown) = writer.join().unwrap();
        assert!(shown.contains("Approve?"), "{shown:?}");
        let started = Instant::now();
        let a = ask_terminal(&mut slave, "Approve? ", Duration::from_millis(300));
        assert_eq!(a, Answer::Timeout);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
