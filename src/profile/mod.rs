//! The profile model: the tool catalog (`tools.toml`) and one file per role
//! (`roles/NAME.toml`), how they are found, parsed and validated.
//!
//! This module knows nothing about decisions or enforcement: it turns TOML
//! into checked data and reports every problem with its file, line and key.

use crate::units;

pub mod approval;
mod cache;
pub mod diff;
mod load;
pub mod mcp;
pub mod spec;
mod validate;

pub use approval::{ApprovalSettings, DurationSetting};
pub use load::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;
pub use validate::{lint_warnings, toml_to_json};

/// The profiles compiled into the binary, so a fresh install works with no files.
pub const BUNDLED_TOOLS: &str = include_str!("../../profiles/tools.toml");
pub const BUNDLED_ROLES: &[(&str, &str)] = &[
    (
        "data_agent",
        include_str!("../../profiles/roles/data_agent.toml"),
    ),
    (
        "files_agent",
        include_str!("../../profiles/roles/files_agent.toml"),
    ),
    (
        "infrastructure_agent",
        include_str!("../../profiles/roles/infrastructure_agent.toml"),
    ),
];

/// How dangerous a tool is; decides whether it runs directly, after an audit
/// record, or only after a human approves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    /// No side effects.
    Read,
    /// Reversible changes.
    Modify,
    /// Destructive.
    Delete,
    /// Leaves the system boundary.
    External,
}

impl RiskClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Read => "read",
            RiskClass::Modify => "modify",
            RiskClass::Delete => "delete",
            RiskClass::External => "external",
        }
    }
}

impl fmt::Display for RiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    /// An absolute host path; normalised, never containing `..`.
    Path,
}

/// Whether a path parameter is made visible inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    Ro,
    Rw,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default)]
    pub description: String,
    /// Defaults to true unless a default value is given.
    pub required: Option<bool>,
    pub default: Option<toml::Value>,
    /// A regular expression the whole value must match.
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub allowed: Option<Vec<toml::Value>>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The value must be one the role lists under this `[data_access]` key
    /// (for a path: lie under one of the listed directories).
    pub access: Option<String>,
    /// Values that need a boolean grant in the role's `[data_access]`,
    /// e.g. `{ secrets = "secrets", secret = "secrets" }`.
    #[serde(default)]
    pub gates: BTreeMap<String, String>,
    /// For a path parameter: bind the path into the sandbox read-only or read-write.
    pub bind: Option<BindMode>,
    /// The value may start with `-` in a command element where the program
    /// would read it as an option (one that starts with the value and is
    /// not after a `--` element). Refused otherwise; `validate` warns.
    #[serde(default)]
    pub allow_leading_dash: bool,
    /// A regular expression the whole value must match, in which `{NAME}`
    /// stands for the (regex-escaped) value of the tool's parameter NAME:
    /// one parameter restricted by another's value.
    pub pattern_with_params: Option<String>,
}

impl ParamSpec {
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraArgs {
    /// A regular expression every extra argument must match whole.
    pub pattern: String,
    #[serde(default = "default_max_extra")]
    pub max: usize,
}

fn default_max_extra() -> usize {
    16
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    #[serde(default)]
    pub description: String,
    /// Missing means `delete`, the highest class (and `validate` warns).
    pub risk: Option<RiskClass>,
    /// argv template: `{name}` inside an element is replaced by the parameter's value,
    /// the element stays one argument.
    pub command: Vec<String>,
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    /// Arguments after `--`: refused unless this table is present.
    pub extra_args: Option<ExtraArgs>,
    /// The largest parameter value or extra argument (`"64Ki"` when unset;
    /// at most 120 KiB, under the kernel's 128 KiB per argv string).
    pub max_value_size: Option<String>,
    /// The largest call: all values and extra arguments together
    /// (`"256Ki"` when unset; at most 1 MiB, under the kernel's 2 MiB for
    /// argv and environment).
    pub max_call_size: Option<String>,
    /// What the tool prints on stdout: `text` (the default) or `json` (one
    /// JSON object, handed to MCP clients as `structuredContent` too).
    #[serde(default, skip_serializing_if = "OutputFormat::is_text")]
    pub output: OutputFormat,
}

/// The format of a tool's stdout, as its catalog entry declares it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

impl OutputFormat {
    pub fn is_text(&self) -> bool {
        *self == OutputFormat::Text
    }
}

impl ToolSpec {
    pub fn risk_class(&self) -> RiskClass {
        self.risk.unwrap_or(RiskClass::Delete)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default)]
    pub tools: BTreeMap<String, ToolSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_api_calls: Option<u64>,
    pub max_tokens: Option<u64>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Cap on each captured stream with `--json`.
    #[serde(default = "default_max_output")]
    pub max_output: String,
    /// How long `run` waits for an answer at the terminal (then: denied).
    #[serde(default = "approval::default_timeout")]
    pub approval_timeout: approval::DurationSetting,
}

fn default_timeout() -> u64 {
    300
}
fn default_max_output() -> String {
    "1Mi".into()
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_api_calls: None,
            max_tokens: None,
            timeout_seconds: default_timeout(),
            max_output: default_max_output(),
            approval_timeout: approval::default_timeout(),
        }
    }
}

/// One `[data_access]` entry: a list of allowed values, or a yes/no grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AccessGrant {
    Flag(bool),
    List(Vec<String>),
}

/// What happens when an injection pattern matches a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InjectionAction {
    /// Refuse the call (the default for tool parameters).
    Deny,
    /// Replace the matched text with `[FILTERED]` and go on.
    Filter,
    /// Record the hit and go on.
    Flag,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PatternRule {
    Plain(String),
    WithAction {
        pattern: String,
        action: InjectionAction,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreeningSettings {
    /// Action for patterns that name none; default `deny`.
    pub injection_action: Option<InjectionAction>,
    /// Case-insensitive regular expressions; absent means the built-in defaults.
    pub injection_patterns: Option<Vec<PatternRule>>,
    /// Case-insensitive substrings that deny a call; absent means the built-in defaults.
    pub suspicious_values: Option<Vec<String>>,
    /// Regular expressions that deny a call; absent means the built-in defaults.
    pub suspicious_patterns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A network namespace with only loopback.
    None,
    /// The host's network namespace (explicit opt-out, recorded on every run).
    Host,
}

/// Isolation mechanisms a role may mark optional; all are required otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    Landlock,
    Seccomp,
    /// Every cgroup limit.
    Cgroup,
    /// One cgroup limit.
    Memory,
    Cpu,
    Pids,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindSpec {
    pub source: PathBuf,
    /// Where it appears inside; defaults to the same path.
    pub target: Option<PathBuf>,
    #[serde(default = "default_bind_mode")]
    pub mode: BindMode,
    /// Grants a source that is not a directory or a regular file: it must be
    /// exactly this kind (`socket`, `fifo` or `device`).
    #[serde(default)]
    pub kind: Option<SpecialBind>,
}

/// The kinds of bind source that only an explicit grant admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecialBind {
    Socket,
    Fifo,
    Device,
}

/// Whether the caller's supplementary groups may stay with the tool where
/// they cannot be dropped (an unprivileged caller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupplementaryGroups {
    /// Dropped; a run that cannot drop them is refused.
    #[default]
    Drop,
    /// Kept when they cannot be dropped (recorded, and said by `doctor`).
    Keep,
}

/// Limits of the sandbox's own user namespace (`/proc/sys/user` inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserLimitSettings {
    pub inotify_instances: u64,
    pub inotify_watches: u64,
    pub fanotify_groups: u64,
    pub fanotify_marks: u64,
}

impl Default for UserLimitSettings {
    fn default() -> Self {
        UserLimitSettings {
            inotify_instances: 16,
            inotify_watches: 8192,
            fanotify_groups: 1,
            fanotify_marks: 1024,
        }
    }
}

fn default_bind_mode() -> BindMode {
    BindMode::Ro
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    #[serde(default = "default_user")]
    pub user: u32,
    #[serde(default = "default_memory")]
    pub memory: String,
    #[serde(default = "default_cpu")]
    pub cpu: String,
    #[serde(default = "default_pids")]
    pub pids: u64,
    #[serde(default = "default_tmp_size")]
    pub tmp_size: String,
    #[serde(default = "default_ephemeral")]
    pub ephemeral_storage: String,
    #[serde(default = "default_network")]
    pub network: NetworkMode,
    /// Destinations reachable through agentjail's egress proxy: `host:port`,
    /// `*.domain:port`, `CIDR:port`, ports as `N` or `N-M`.
    #[serde(default)]
    pub egress: Vec<String>,
    /// Concurrent proxied connections per run.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_hostname")]
    pub hostname: String,
    #[serde(default)]
    pub binds: Vec<BindSpec>,
    /// Variables set in the tool's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables copied from the launcher's environment when set there.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Mechanisms whose absence on the host is tolerated (and recorded).
    #[serde(default)]
    pub optional: Vec<Mechanism>,
    #[serde(default = "default_nofile")]
    pub nofile: u64,
    #[serde(default = "default_max_file_size")]
    pub max_file_size: String,
    /// The tool may create AF_UNIX sockets (see the README for what this
    /// opens on kernels without Landlock's unix socket right).
    #[serde(default)]
    pub unix_sockets: bool,
    /// Mount a read-only /sys.
    #[serde(default)]
    pub sys: bool,
    #[serde(default)]
    pub supplementary_groups: SupplementaryGroups,
    /// ptys of the sandbox's own devpts instance.
    #[serde(default = "default_max_ptys")]
    pub max_ptys: u32,
    #[serde(default)]
    pub user_limits: UserLimitSettings,
}

fn default_max_ptys() -> u32 {
    16
}

fn default_user() -> u32 {
    65534
}
fn default_memory() -> String {
    "256Mi".into()
}
fn default_cpu() -> String {
    "500m".into()
}
fn default_pids() -> u64 {
    128
}
fn default_tmp_size() -> String {
    "50Mi".into()
}
fn default_ephemeral() -> String {
    "100Mi".into()
}
fn default_network() -> NetworkMode {
    NetworkMode::None
}
fn default_max_connections() -> usize {
    32
}
fn default_hostname() -> String {
    "agentjail".into()
}
fn default_nofile() -> u64 {
    1024
}
fn default_max_file_size() -> String {
    "50Mi".into()
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            user: default_user(),
            memory: default_memory(),
            cpu: default_cpu(),
            pids: default_pids(),
            tmp_size: default_tmp_size(),
            ephemeral_storage: default_ephemeral(),
            network: default_network(),
            egress: Vec::new(),
            max_connections: default_max_connections(),
            hostname: default_hostname(),
            binds: Vec::new(),
            env: BTreeMap::new(),
            pass_env: Vec::new(),
            optional: Vec::new(),
            nofile: default_nofile(),
            max_file_size: default_max_file_size(),
            unix_sockets: false,
            sys: false,
            supplementary_groups: SupplementaryGroups::Drop,
            max_ptys: default_max_ptys(),
            user_limits: UserLimitSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    #[serde(skip)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    #[serde(default)]
    pub denied_tools: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub data_access: BTreeMap<String, AccessGrant>,
    #[serde(default)]
    pub screening: ScreeningSettings,
    #[serde(default)]
    pub sandbox: SandboxSettings,
    /// Who approves, and how long requests and approvals last.
    #[serde(default)]
    pub approval: approval::ApprovalSettings,
    /// The policy for a wrapped MCP server (`agentjail mcp wrap`).
    #[serde(default)]
    pub mcp: mcp::McpSettings,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::load::parse_toml;
    use super::*;

    #[test]
    fn bundled_profiles_load_cleanly() {
        let set = load(None).unwrap();
        assert!(set.roles.contains_key("infrastructure_agent"));
        assert!(set.roles.contains_key("data_agent"));
        assert!(set.roles.contains_key("files_agent"));
        assert!(set.warnings.is_empty(), "{:?}", set.warnings);
    }

    #[test]
    fn type_error_names_file_line_column_and_key() {
        let text = "allowed_tools = []\n[sandbox]\npids = \"many\"\n";
        let e = parse_toml::<Role>("r.toml", text).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("r.toml:3:8: key `pids`: "), "{s}");
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let text = "allowed_tools = []\nallowed_tool = [\"x\"]\n";
        let s = parse_toml::<Role>("r.toml", text).unwrap_err().to_string();
        assert!(s.starts_with("r.toml:2:1: key `allowed_tool`: "), "{s}");
        assert!(s.contains("unknown field"), "{s}");
    }

    #[test]
    fn tool_in_both_lists_is_invalid() {
        let tools = "[tools.t]\nrisk = \"read\"\ncommand = [\"true\"]\n";
        let role = "allowed_tools = [\"t\"]\ndenied_tools = [\"t\"]\n";
        let e = build_set(
            ProfileSource::Bundled,
            "tools.toml",
            tools,
            vec![("roles/r.toml".into(), "r".into(), role.into())],
            vec![],
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("in both allowed_tools and denied_tools"));
    }

    #[test]
    fn missing_risk_warns_and_counts_as_delete() {
        let tools = "[tools.t]\ncommand = [\"true\"]\n";
        let set = build_set(ProfileSource::Bundled, "tools.toml", tools, vec![], vec![]).unwrap();
        assert_eq!(set.catalog.tools["t"].risk_class(), RiskClass::Delete);
        assert!(set.warnings[0].contains("no risk class"));
    }

    #[test]
    fn every_error_is_reported() {
        let tools = "[tools.t]\nrisk = \"read\"\ncommand = [\"x\", \"{missing}\"]\n";
        let role = "allowed_tools = [\"nope\"]\n[sandbox]\nuser = 0\n";
        let e = build_set(
            ProfileSource::Bundled,
            "tools.toml",
            tools,
            vec![("roles/r.toml".into(), "r".into(), role.into())],
            vec![],
        )
        .unwrap_err();
        assert_eq!(e.0.len(), 3, "{e}");
    }

    #[test]
    fn placeholders_are_found() {
        assert_eq!(placeholders("--ns={namespace}"), vec!["namespace"]);
        assert_eq!(placeholders("{a}{b}"), vec!["a", "b"]);
        assert!(placeholders("plain").is_empty());
    }
}
