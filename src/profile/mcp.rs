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
            output: Default::default(),
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

/// The checks beyond the TOML types: each tool's rules as the catalog's
/// (patterns, defaults, enums, sizes), the message size, the pins.
pub(super) fn validate(
    file: &str,
    mcp: &McpSettings,
    errors: &mut Vec<super::ProfileError>,
    warnings: &mut Vec<String>,
) {
    let mut catalog = super::Catalog::default();
    for (name, t) in &mcp.tools {
        let mut spec = t.to_tool_spec(t.risk.unwrap_or(RiskClass::Delete));
        // The server runs the tool: a stand-in program, no argv template.
        spec.command = vec!["mcp".into()];
        spec.risk = t.risk;
        catalog.tools.insert(format!("mcp.tools.{name}"), spec);
    }
    super::validate::validate_catalog(file, &catalog, errors, warnings);
    let mut err = |message: String| {
        errors.push(super::ProfileError::Invalid {
            file: file.to_string(),
            message,
        })
    };
    if crate::units::parse_size(&mcp.max_message_size).map_or(true, |n| n < 1024) {
        err(format!(
            "mcp.max_message_size = {:?} must be a size of at least 1Ki",
            mcp.max_message_size
        ));
    }
    if mcp.session_timeout_seconds == 0 {
        err("mcp.session_timeout_seconds must be at least 1".into());
    }
    for (tool, hash) in &mcp.pins {
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            err(format!(
                "mcp.pins.{tool}: {hash:?} is not a SHA-256 in hex (64 digits)"
            ));
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
    fn validation_names_the_key() {
        let s: McpSettings = toml::from_str(
            "max_message_size = \"1\"\npins.t = \"xyz\"\n[tools.t]\nparams.p = { type = \"string\", pattern = \"(\" }\n",
        )
        .unwrap();
        let (mut errors, mut warnings) = (Vec::new(), Vec::new());
        validate("r.toml", &s, &mut errors, &mut warnings);
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text[0].contains("mcp.tools.t") && text[0].contains("pattern"),
            "{text:?}"
        );
        assert!(text[1].contains("max_message_size"), "{text:?}");
        assert!(text[2].contains("mcp.pins.t"), "{text:?}");
        assert!(warnings[0].contains("mcp.tools.t"), "{warnings:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<McpSettings>("unknown_tool = \"hide\"").is_err());
        assert!(toml::from_str::<McpSettings>("[tools.x]\nrisks = \"read\"").is_err());
    }
}
