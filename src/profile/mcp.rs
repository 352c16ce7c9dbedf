//! A role's `[mcp]` section: the policy `agentjail mcp wrap` applies to a
//! third-party MCP server's tools, pins and protocol features.
//!
//! ```toml
//! [mcp]
//! unknown_tools = "hide"          # or "approve": shown, delete class
//! resources = "pass"              # or "deny"
//! prompts = "pass"                # or "deny"
//! [mcp.tools.read_text_file]
//! risk = "read"
//! params.path = { type = "path", pattern = "^/data/" }
//! [mcp.pins]
//! read_text_file = "SHA-256 of the definition"   # optional: fixed by the role
//! ```
//!
//! Only the model: the firewall (`crate::mcp::wrap`) applies it.

use super::{ParamSpec, RiskClass, ToolSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the firewall does with a tool the role does not name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownTools {
    /// Not listed; a call is refused.
    #[default]
    Hide,
    /// Listed; every call is delete class and needs a human's approval.
    Approve,
}

/// Whether a protocol feature passes through the firewall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Passthrough {
    #[default]
    Pass,
    Deny,
}

/// One MCP tool's policy: its risk class and its argument rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpTool {
    /// Missing means `delete`. The server's annotations may raise it.
    pub risk: Option<RiskClass>,
    /// Argument rules, the catalog's parameter vocabulary; an argument not
    /// named here is refused.
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    pub max_value_size: Option<String>,
    pub max_call_size: Option<String>,
}

impl McpTool {
    /// The catalog entry the policy decides this tool's calls with (no
    /// command: the server runs it).
    pub fn to_tool_spec(&self, risk: RiskClass) -> ToolSpec {
        ToolSpec {
            description: String::new(),
            risk: Some(risk),
            command: Vec::new(),
            params: self.params.clone(),
            extra_args: None,
            max_value_size: self.max_value_size.clone(),
            max_call_size: self.max_call_size.clone(),
        }
    }
}

fn default_session_timeout() -> u64 {
    24 * 3600
}

fn default_max_message() -> String {
    "4Mi".into()
}

/// The `[mcp]` section of a role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSettings {
    #[serde(default)]
    pub tools: BTreeMap<String, McpTool>,
    #[serde(default)]
    pub unknown_tools: UnknownTools,
    /// Tool name to the SHA-256 (hex) of its definition: the role fixes the
    /// definition; one that differs is refused whatever the state holds.
    #[serde(default)]
    pub pins: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Passthrough,
    #[serde(default)]
    pub prompts: Passthrough,
    /// `sampling/createMessage` from the server to the client (the server
    /// asks the agent's model): refused unless `pass`.
    #[serde(default = "deny")]
    pub sampling: Passthrough,
    /// `elicitation/create` from the server (it asks the human through the
    /// client): refused unless `pass`.
    #[serde(default = "deny")]
    pub elicitation: Passthrough,
    /// How long the wrapped server may run, in seconds (the role's
    /// `limits.timeout_seconds` is per call).
    #[serde(default = "default_session_timeout")]
    pub session_timeout_seconds: u64,
    /// The largest JSON-RPC message either side may send (a size: `4Mi`).
    #[serde(default = "default_max_message")]
    pub max_message_size: String,
}

fn deny() -> Passthrough {
    Passthrough::Deny
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            tools: BTreeMap::new(),
            unknown_tools: UnknownTools::Hide,
            pins: BTreeMap::new(),
            resources: Passthrough::Pass,
            prompts: Passthrough::Pass,
            sampling: Passthrough::Deny,
            elicitation: Passthrough::Deny,
            session_timeout_seconds: default_session_timeout(),
            max_message_size: default_max_message(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::profile::ParamType;

    #[test]
    fn parses_the_issue_example() {
        let s: McpSettings = toml::from_str(
            "unknown_tools = \"approve\"\n[tools.read_text_file]\nrisk = \"read\"\nparams.path = { type = \"string\", pattern = \"^/data/\" }\n",
        )
        .unwrap();
        assert_eq!(s.unknown_tools, UnknownTools::Approve);
        let t = &s.tools["read_text_file"];
        assert_eq!(t.risk, Some(RiskClass::Read));
        assert_eq!(t.params["path"].kind, ParamType::String);
        assert_eq!(s.sampling, Passthrough::Deny);
        let spec = t.to_tool_spec(RiskClass::Modify);
        assert_eq!(spec.risk_class(), RiskClass::Modify);
        assert!(spec.command.is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<McpSettings>("unknown_tool = \"hide\"").is_err());
        assert!(toml::from_str::<McpSettings>("[tools.x]\nrisks = \"read\"").is_err());
    }
}
