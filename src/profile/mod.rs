//! The profile model: the tool catalog (`tools.toml`) and one file per role
//! (`roles/NAME.toml`), how they are found, parsed and validated.
//!
//! This module knows nothing about decisions or enforcement: it turns TOML
//! into checked data and reports every problem with its file, line and key.

use crate::units;

pub mod approval;
pub mod spec;
pub use approval::{ApprovalSettings, DurationSetting};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

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
}

/// Where a profile set was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum ProfileSource {
    Directory(PathBuf),
    Bundled,
}

impl fmt::Display for ProfileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileSource::Directory(p) => write!(f, "{}", p.display()),
            ProfileSource::Bundled => f.write_str("bundled profiles"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProfileSet {
    pub source: ProfileSource,
    pub catalog: Catalog,
    pub roles: BTreeMap<String, Role>,
    pub warnings: Vec<String>,
}

impl ProfileSet {
    pub fn role_names(&self) -> Vec<&str> {
        self.roles.keys().map(String::as_str).collect()
    }
}

/// One problem found in a profile file.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("{file}:{line}:{column}: {key}{message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        /// "key `x`: " when the key is known, else empty.
        key: String,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("reading {file}: {message}")]
    Read { file: String, message: String },
    #[error("profile directory {dir} has no tools.toml (expected {dir}/tools.toml and {dir}/roles/*.toml)")]
    NoCatalog { dir: String },
}

/// All problems found while loading, so `validate` can print every one.
#[derive(Debug, Clone, Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ProfileErrors(pub Vec<ProfileError>);

/// Turns a TOML parse error into file:line:column with the key it concerns.
pub fn syntax_error(file: &str, text: &str, err: &toml::de::Error) -> ProfileError {
    let (line, column, key) = match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[line_start..].chars().count() + 1;
            let line_text = text[line_start..].lines().next().unwrap_or("");
            let upto = &line_text[..(span.start - line_start).min(line_text.len())];
            (line, column, key_near(upto, line_text))
        }
        None => (1, 1, None),
    };
    ProfileError::Syntax {
        file: file.to_string(),
        line,
        column,
        key: key.map(|k| format!("key `{k}`: ")).unwrap_or_default(),
        message: err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The key an error position belongs to: the last `name =` before it on its line,
/// or the line's own key when the error points at the key itself.
fn key_near(upto: &str, line: &str) -> Option<String> {
    let key_of = |s: &str| -> Option<String> {
        let eq = s.rfind('=')?;
        let head = &s[..eq];
        let start = head.rfind(['{', ',', '[']).map_or(0, |i| i + 1);
        let k = head[start..].trim().trim_matches('"');
        (!k.is_empty()).then(|| k.to_string())
    };
    key_of(upto).or_else(|| {
        let t = line.trim();
        if t.starts_with('[') {
            return Some(t.trim_matches(|c| c == '[' || c == ']').to_string());
        }
        t.split('=')
            .next()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, ProfileError> {
    toml::from_str(text).map_err(|e| syntax_error(file, text, &e))
}

/// Finds the profile directory: the first that exists among the explicit one,
/// `$XDG_CONFIG_HOME/agentjail/profiles` and `/etc/agentjail/profiles`;
/// `None` means the bundled profiles. An explicit directory that does not
/// exist is an error, never a silent fall-back.
pub fn locate(explicit: Option<&Path>) -> Result<Option<PathBuf>, ProfileErrors> {
    if let Some(dir) = explicit {
        if dir.is_dir() {
            return Ok(Some(dir.to_path_buf()));
        }
        return Err(ProfileErrors(vec![ProfileError::Read {
            file: dir.display().to_string(),
            message: "not a directory (given by --profiles or AGENTJAIL_PROFILES)".into(),
        }]));
    }
    let mut candidates = Vec::new();
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(x).join("agentjail/profiles"));
    } else if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(h).join(".config/agentjail/profiles"));
    }
    candidates.push(PathBuf::from("/etc/agentjail/profiles"));
    Ok(candidates
        .into_iter()
        .find(|d| d.join("tools.toml").is_file()))
}

/// Loads the profile set from a directory, or the bundled one.
pub fn load(dir: Option<&Path>) -> Result<ProfileSet, ProfileErrors> {
    match dir {
        Some(d) => load_dir(d),
        None => {
            let roles = BUNDLED_ROLES
                .iter()
                .map(|(n, t)| (format!("roles/{n}.toml"), n.to_string(), t.to_string()))
                .collect();
            build_set(
                ProfileSource::Bundled,
                "tools.toml",
                BUNDLED_TOOLS,
                roles,
                Vec::new(),
            )
        }
    }
}

fn read(path: &Path) -> Result<String, ProfileError> {
    std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
        file: path.display().to_string(),
        message: e.to_string(),
    })
}

fn load_dir(dir: &Path) -> Result<ProfileSet, ProfileErrors> {
    let tools_path = dir.join("tools.toml");
    if !tools_path.is_file() {
        return Err(ProfileErrors(vec![ProfileError::NoCatalog {
            dir: dir.display().to_string(),
        }]));
    }
    let tools_text = read(&tools_path).map_err(|e| ProfileErrors(vec![e]))?;
    let mut errors = Vec::new();
    let mut roles = Vec::new();
    let roles_dir = dir.join("roles");
    if let Ok(entries) = std::fs::read_dir(&roles_dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match read(&p) {
                Ok(text) => roles.push((p.display().to_string(), name, text)),
                Err(e) => errors.push(e),
            }
        }
    }
    build_set(
        ProfileSource::Directory(dir.to_path_buf()),
        &tools_path.display().to_string(),
        &tools_text,
        roles,
        errors,
    )
}

/// Parses and validates a catalog and roles given as (file label, role name, text).
pub fn build_set(
    source: ProfileSource,
    tools_file: &str,
    tools_text: &str,
    role_texts: Vec<(String, String, String)>,
    mut errors: Vec<ProfileError>,
) -> Result<ProfileSet, ProfileErrors> {
    let mut warnings = Vec::new();
    let catalog = match parse_toml::<Catalog>(tools_file, tools_text) {
        Ok(c) => {
            validate_catalog(tools_file, &c, &mut errors, &mut warnings);
            c
        }
        Err(e) => {
            errors.push(e);
            Catalog::default()
        }
    };
    let mut roles = BTreeMap::new();
    for (file, name, text) in role_texts {
        match parse_toml::<Role>(&file, &text) {
            Ok(mut role) => {
                role.name = name.clone();
                validate_role(&file, &role, &catalog, &mut errors, &mut warnings);
                roles.insert(name, role);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ProfileSet {
            source,
            catalog,
            roles,
            warnings,
        })
    } else {
        Err(ProfileErrors(errors))
    }
}

/// The names of the `{placeholders}` in one argv template element.
pub fn placeholders(element: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = element;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

fn validate_catalog(
    file: &str,
    catalog: &Catalog,
    errors: &mut Vec<ProfileError>,
    warnings: &mut Vec<String>,
) {
    let mut err = |message: String| {
        errors.push(ProfileError::Invalid {
            file: file.to_string(),
            message,
        })
    };
    for (name, tool) in &catalog.tools {
        if tool.risk.is_none() {
            warnings.push(format!(
                "{file}: tool `{name}` has no risk class; it is treated as `delete`, the highest"
            ));
        }
        if tool.command.is_empty() || tool.command[0].is_empty() {
            err(format!("tool `{name}`: command is empty"));
        } else if !placeholders(&tool.command[0]).is_empty() {
            err(format!(
                "tool `{name}`: the program (command[0]) cannot come from a parameter"
            ));
        }
        for element in &tool.command {
            for p in placeholders(element) {
                match tool.params.get(p) {
                    None => err(format!(
                        "tool `{name}`: command uses `{{{p}}}` but no parameter `{p}` is defined"
                    )),
                    Some(spec) if !spec.is_required() && spec.default.is_none() => err(format!(
                        "tool `{name}`: parameter `{p}` is used in the command, so it must be required or have a default"
                    )),
                    _ => {}
                }
            }
        }
        if let Some(x) = &tool.extra_args {
            if let Err(e) = check_pattern(&x.pattern) {
                err(format!("tool `{name}`: extra_args.pattern: {e}"));
            }
        }
        for (pname, spec) in &tool.params {
            if let Some(p) = &spec.pattern {
                if let Err(e) = check_pattern(p) {
                    err(format!("tool `{name}`: parameter `{pname}`: pattern: {e}"));
                }
                if !matches!(spec.kind, ParamType::String | ParamType::Path) {
                    err(format!(
                        "tool `{name}`: parameter `{pname}`: pattern only applies to string and path parameters"
                    ));
                }
            }
            if spec.bind.is_some() && spec.kind != ParamType::Path {
                err(format!(
                    "tool `{name}`: parameter `{pname}`: bind only applies to path parameters"
                ));
            }
            if let Some(d) = &spec.default {
                let json = toml_to_json(d);
                if let Err(e) = spec::check_value(pname, spec, &json) {
                    err(format!("tool `{name}`: default: {e}"));
                }
            }
        }
    }
}

fn validate_role(
    file: &str,
    role: &Role,
    catalog: &Catalog,
    errors: &mut Vec<ProfileError>,
    warnings: &mut Vec<String>,
) {
    let mut err = |message: String| {
        errors.push(ProfileError::Invalid {
            file: file.to_string(),
            message,
        })
    };
    for t in &role.allowed_tools {
        if role.denied_tools.contains(t) {
            err(format!(
                "tool `{t}` is in both allowed_tools and denied_tools"
            ));
        }
        if !catalog.tools.contains_key(t) {
            err(format!(
                "allowed tool `{t}` is not defined in the tool catalog"
            ));
        }
    }
    let s = &role.sandbox;
    if s.user == 0 {
        err("sandbox.user = 0: tools never run as root inside the sandbox".into());
    }
    let mut size = |key: &str, v: &str| -> Option<u64> {
        match units::parse_size(v) {
            Ok(n) => Some(n),
            Err(e) => {
                err(format!("sandbox.{key}: {e}"));
                None
            }
        }
    };
    size("memory", &s.memory);
    let tmp = size("tmp_size", &s.tmp_size);
    let eph = size("ephemeral_storage", &s.ephemeral_storage);
    size("max_file_size", &s.max_file_size);
    if let (Some(t), Some(e)) = (tmp, eph) {
        if t > e {
            err(format!(
                "sandbox.tmp_size ({}) exceeds sandbox.ephemeral_storage ({})",
                s.tmp_size, s.ephemeral_storage
            ));
        }
    }
    if let Err(e) = units::parse_size(&role.limits.max_output) {
        err(format!("limits.max_output: {e}"));
    }
    if let Err(e) = units::parse_cpu_millis(&s.cpu) {
        err(format!("sandbox.cpu: {e}"));
    }
    if s.pids == 0 {
        err("sandbox.pids must be at least 1".into());
    }
    if role.limits.timeout_seconds == 0 {
        err("limits.timeout_seconds must be at least 1".into());
    }
    for e in approval::validate_role(role) {
        err(e);
    }
    if s.hostname.is_empty() || s.hostname.len() > 64 {
        err("sandbox.hostname must be 1 to 64 characters".into());
    }
    for b in &s.binds {
        for p in std::iter::once(&b.source).chain(b.target.as_ref()) {
            if !p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                err(format!(
                    "sandbox.binds: {} must be an absolute path without `..`",
                    p.display()
                ));
            }
        }
    }
    if s.network == NetworkMode::Host && !s.egress.is_empty() {
        err("sandbox.egress needs network = \"none\": with the host's network there is nothing to filter".into());
    }
    if let Err(e) = crate::egress::EgressRules::parse(&s.egress) {
        err(format!("sandbox.egress: {e}"));
    }
    if s.max_connections == 0 {
        err("sandbox.max_connections must be at least 1".into());
    }
    if s.network == NetworkMode::Host {
        warnings.push(format!(
            "{file}: sandbox.network = \"host\": tools of this role share the host's network"
        ));
    }
    let screening = &role.screening;
    for rule in screening.injection_patterns.iter().flatten() {
        let p = match rule {
            PatternRule::Plain(p) | PatternRule::WithAction { pattern: p, .. } => p,
        };
        if let Err(e) = check_pattern(p) {
            err(format!("screening.injection_patterns: {e}"));
        }
    }
    for p in screening.suspicious_patterns.iter().flatten() {
        if let Err(e) = check_pattern(p) {
            err(format!("screening.suspicious_patterns: {e}"));
        }
    }
}

/// Checks a regular expression's syntax without compiling it: loading a
/// profile set must stay cheap (every run loads it); the patterns a call
/// uses are compiled when it uses them.
fn check_pattern(pattern: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Profile default values are TOML; parameters travel as JSON.
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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
