//! The audit log: one JSON object per line for every decision and result.
//! A record that cannot be written stops the run (fail closed).

use serde::Serialize;
use serde_json::Value;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("creating audit log directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "opening audit log {path} (set --audit-log or AGENTJAIL_AUDIT_LOG to a writable file)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("appending to audit log {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no audit log location: HOME and XDG_STATE_HOME are unset (use --audit-log)")]
    NoLocation,
}

/// The default log: `/var/log/agentjail/audit.jsonl` for root,
/// `$XDG_STATE_HOME/agentjail/audit.jsonl` (or `~/.local/state/...`) for a user.
pub fn default_path() -> Result<PathBuf, AuditError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from("/var/log/agentjail/audit.jsonl"));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .ok_or(AuditError::NoLocation)?;
    Ok(state.join("agentjail/audit.jsonl"))
}

/// The seed's AgentAuditEvent plus what agentjail knows about the call.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub timestamp: String,
    pub id: String,
    pub event_type: &'static str,
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
    pub role: String,
    pub tool: Option<String>,
    pub params: Option<Value>,
    pub result: Option<String>,
    pub tokens_used: u64,
    pub risk_level: Option<String>,
    pub approval_status: Option<String>,
    pub decision: Option<String>,
    pub reasons: Vec<String>,
    /// Everything else: argv, findings, sandbox, usage, exit status.
    #[serde(flatten)]
    pub details: serde_json::Map<String, Value>,
    pub host: String,
    pub pid: u32,
    pub uid: u32,
}

impl AuditRecord {
    pub fn new(event_type: &'static str, role: &str) -> AuditRecord {
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        AuditRecord {
            timestamp: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            id: new_id(),
            event_type,
            agent_id: None,
            session_id: None,
            role: role.to_string(),
            tool: None,
            params: None,
            result: None,
            tokens_used: 0,
            risk_level: None,
            approval_status: None,
            decision: None,
            reasons: Vec::new(),
            details: serde_json::Map::new(),
            host,
            pid: std::process::id(),
            uid: nix::unistd::getuid().as_raw(),
        }
    }

    pub fn detail(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        self.details.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

/// A record id unique enough to find a line: time in nanoseconds and pid.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{:x}", std::process::id())
}

/// Appends records to one log file.
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: &Path) -> AuditLog {
        AuditLog {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and syncs it to disk before returning.
    pub fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|source| AuditError::CreateDir {
                        path: dir.to_path_buf(),
                        source,
                    })?;
            }
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&self.path)
            .map_err(|source| AuditError::Open {
                path: self.path.clone(),
                source,
            })?;
        let mut line = serde_json::to_vec(record).map_err(|e| AuditError::Write {
            path: self.path.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');
        let werr = |source| AuditError::Write {
            path: self.path.clone(),
            source,
        };
        file.write_all(&line).map_err(werr)?;
        file.sync_data().map_err(werr)
    }
}
