//! Approval requests as the state directory keeps them: the request model
//! and its text for humans, ids, the digest that binds an approval to one
//! call, who may decide, expiry and removal of finished requests.

use super::{ApprovalError, KEEP_FINISHED};
use crate::audit::AuditRecord;
use crate::state::{StateDir, StateError, StateLock};
use crate::text::{now_text, shell_quote};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

pub fn user_name(uid: u32) -> Option<String> {
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
    /// SHA-256 of the canonical JSON of `bound`. The approver's process
    /// recomputes it from `bound` and stores that; a run uses an approval
    /// only when both agree with its own call.
    pub digest: String,
    /// Everything an approval binds (`crate::approval::binding`), as shown
    /// by `approvals show`. Empty in requests written before it existed:
    /// those match no call.
    #[serde(default)]
    pub bound: Value,
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
    /// The role's approvers when the request was made. Informational: the
    /// approver's process takes them from the role as it loads it.
    pub approvers: Vec<String>,
    /// Seconds an approval lasts, and a request waits, for this role.
    /// Informational, like `approvers`.
    pub approval_ttl: u64,
    pub request_ttl: u64,
    pub decided: Option<Verdict>,
    pub consumed: Option<Consumed>,
    pub expired_at: Option<String>,
}

impl Request {
    pub fn expires_at(&self, path: &Path) -> Result<SystemTime, StateError> {
        parse_time(path, &self.expires)
    }

    /// Whether a pending request or an approval ran out of time.
    pub fn lapsed(&self, path: &Path, now: SystemTime) -> Result<bool, StateError> {
        Ok(matches!(self.status, Status::Pending | Status::Approved)
            && self.expires_at(path)? <= now)
    }

    pub fn mark(&mut self, status: Status) {
        self.status = status;
        self.updated = now_text();
        if status == Status::Expired {
            self.expired_at = Some(self.updated.clone());
        }
    }

    /// The details every `approval` audit record carries.
    pub fn audit_detail(&self) -> Value {
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
    pub fn record(&self, approval_status: &str, message: String) -> AuditRecord {
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
        // Everything else the approval binds, in full.
        let b = &self.bound;
        if b.is_null() {
            line(
                "binds",
                "nothing (written by an older agentjail; deny it)".into(),
            );
        } else {
            let sb = &b["sandbox"];
            line(
                "limits",
                format!(
                    "memory {}, cpu {}m, pids {}, nofile {}, tmp {}, timeout {}s, max output {}",
                    crate::units::format_size(sb["memory"].as_u64().unwrap_or(0)),
                    sb["cpu_millis"],
                    sb["pids"],
                    sb["nofile"],
                    crate::units::format_size(sb["tmp_size"].as_u64().unwrap_or(0)),
                    sb["timeout"],
                    crate::units::format_size(sb["max_output"].as_u64().unwrap_or(0)),
                ),
            );
            line("optional", compact(&sb["optional"]));
            let env: Vec<String> = b["env"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", shell_quote(v.as_str().unwrap_or(""))))
                .collect();
            line("env", env.join(" "));
            line("template", compact(&b["tool_entry"]["command"]));
            line("tool spec", compact(&b["tool_entry"]));
            line(
                "role sha",
                b["role_sha256"].as_str().unwrap_or("?").to_string(),
            );
            line(
                "stdin",
                match b["stdin_sha256"].as_str() {
                    Some(h) => format!("--stdin-file with SHA-256 {h}"),
                    None => "not bound: the tool reads whatever stdin the run is given".into(),
                },
            );
            line("digest", self.digest.clone());
        }
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
        crate::text::printable(&s)
    }
}

pub fn compact(v: &Value) -> String {
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

pub fn parse_time(path: &Path, text: &str) -> Result<SystemTime, StateError> {
    humantime::parse_rfc3339(text).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        why: format!("bad time {text:?}: {e}"),
    })
}

pub fn new_id() -> Result<String, StateError> {
    let mut b = [0u8; 6];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|source| StateError::Read {
            path: "/dev/urandom".into(),
            source,
        })?;
    Ok(crate::audit::hex(&b))
}

pub fn check_id(id: &str) -> Result<(), ApprovalError> {
    if id.len() == 12 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ApprovalError::BadId(id.to_string()))
    }
}

pub fn request_path(state: &StateDir, id: &str) -> PathBuf {
    state.sub("approvals").join(format!("{id}.json"))
}

/// A request file that could not be read as a request.
#[derive(Debug, Clone)]
pub struct Damaged {
    pub id: String,
    pub path: PathBuf,
    pub why: String,
}

/// The requests in `approvals/`, each with its file, and the damaged files.
pub type Scanned = (Vec<(PathBuf, Request)>, Vec<Damaged>);

/// Reads every request, and every file in `approvals/` that is not one.
/// A damaged file never stops the others: it is reported, and `approvals`
/// can show and remove it.
pub fn scan_requests(state: &StateDir) -> Result<Scanned, StateError> {
    let mut out = Vec::new();
    let mut damaged = Vec::new();
    for p in state.list("approvals")? {
        let id = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let why = match state.read_json::<Request>(&p) {
            Ok(None) => continue,
            Ok(Some(r)) if request_path(state, &r.id) == p => {
                out.push((p, r));
                continue;
            }
            Ok(Some(r)) => format!("it holds request `{}`", crate::text::shorten(&r.id, 40)),
            Err(StateError::Corrupt { why, .. }) => why,
            Err(e) => crate::text::chain(&e),
        };
        damaged.push(Damaged {
            id: crate::text::shorten(&id, 40),
            path: p,
            why,
        });
    }
    out.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    Ok((out, damaged))
}

/// Reads every request; damaged files are reported (a warning naming each)
/// and skipped, so one bad file cannot stop later calls.
pub fn all_requests(state: &StateDir) -> Result<Vec<(PathBuf, Request)>, StateError> {
    let (out, damaged) = scan_requests(state)?;
    for d in &damaged {
        tracing::warn!(
            "damaged request file {} ({}); skipped (remove it with `agentjail {}approvals deny {}`)",
            d.path.display(),
            crate::text::printable(&d.why),
            state.option(),
            d.id
        );
    }
    Ok(out)
}

/// The uids an `approvers` list names (user names resolved on this host).
pub fn approver_uids(approvers: &[String]) -> Vec<u32> {
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

pub fn may_decide(approvers: &[String], who: &Person) -> bool {
    approvers.is_empty() || approver_uids(approvers).contains(&who.uid)
}

pub fn verdict_text(req: &Request) -> String {
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

/// Removes a finished request a week after its last change. Only under the lock.
pub fn collect_garbage(
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
}
