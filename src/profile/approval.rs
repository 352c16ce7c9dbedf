//! A role's approval settings as the TOML model holds them (`[approval]`
//! and `limits.approval_timeout`) and their checks. What approval does with
//! them lives in `crate::approval`; this file only describes and validates.

use super::Role;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `limits.approval_timeout` when a role sets none.
pub const DEFAULT_TIMEOUT: &str = "120s";
/// `approval.ttl`: how long an approval can be used, when the role sets none.
pub const DEFAULT_TTL: &str = "10m";
/// `approval.request_ttl`: how long a request waits for a human (and how
/// long a denial answers the identical call), when the role sets none.
pub const DEFAULT_REQUEST_TTL: &str = "1h";

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
    /// Whether `mcp serve` may ask through the MCP client (elicitation),
    /// when the client offers it. Off by default: a model-driven client
    /// could answer for itself.
    #[serde(default)]
    pub from_client: bool,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            approvers: Vec::new(),
            ttl: default_ttl(),
            request_ttl: default_request_ttl(),
            prompt: true,
            from_client: false,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        assert!(!s.from_client);
        assert!(toml::from_str::<ApprovalSettings>("approver = []").is_err());
    }
}
