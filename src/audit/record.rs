//! The audit record: the fields every record has ([`AuditRecord`]), how a
//! record of a follow-up event is made from the decision it follows, and the
//! event types. Only the model: how a record is serialised, chained, redacted
//! and written is the other modules' job.

use serde::Serialize;
use serde_json::{Map, Value};

/// The event types a record can have.
pub const EVENT_TYPES: &[&str] = &[
    "decision",
    "tool_call",
    "tool_result",
    "approval",
    "error",
    "network",
    "recovered",
    "broker",
];

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
    pub details: Map<String, Value>,
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
            details: Map::new(),
            host,
            pid: std::process::id(),
            uid: nix::unistd::getuid().as_raw(),
        }
    }

    /// A record of another event about the same call (an `error` after a
    /// decision, say): same agent, session, role, tool, parameters, risk and
    /// decision, with `decision_id` pointing at this record.
    pub fn follow_up(&self, event_type: &'static str) -> AuditRecord {
        let mut r = AuditRecord::new(event_type, &self.role);
        r.agent_id = self.agent_id.clone();
        r.session_id = self.session_id.clone();
        r.tool = self.tool.clone();
        r.params = self.params.clone();
        r.tokens_used = self.tokens_used;
        r.risk_level = self.risk_level.clone();
        r.decision = self.decision.clone();
        r.detail("decision_id", &self.id);
        r
    }

    /// The `error` record for a call that failed after this decision record
    /// (sandbox setup, program resolution, exec): `error` names the failure.
    pub fn error_after(&self, error: &str, exit_code: i32) -> AuditRecord {
        let mut r = self.follow_up("error");
        r.result = Some("error".into());
        r.detail("error", error).detail("exit_code", exit_code);
        r
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
