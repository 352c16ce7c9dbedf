//! `agentjail profiles test`: declarative policy tests. A test file (TOML)
//! lists cases, each a call (role, tool, parameters, extra arguments,
//! session, tokens, budget state) and what it must meet: an outcome, the
//! deciding rule, reason text, expectations on the sandbox plan. Every case
//! goes through `run::evaluate`, the decision `check` reports, without
//! running, counting or auditing anything. This file holds the model, the
//! loading and the comparison; `profiles_report.rs` prints the results.
//!
//! Outcome `allow`, `deny`, `needs_approval` and `bad_parameters` compare
//! the policy decision only; `not_runnable` matches a call that would run
//! (or wait for approval) but whose program does not resolve on this host.
//! So a file pinning policy passes on a host without the tools installed.

use super::profiles_report::{self, TestFormat};
use super::AppError;
use crate::budget;
use crate::exit;
use crate::policy::ToolCall;
use crate::profile::{self, ProfileError};
use crate::run::{self, CallRequest, Context, Evaluation};
use crate::state::StateDir;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One test file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The profile directory the cases run against, relative to the test
    /// file; default: the profiles in use (`--profiles`).
    pub profiles: Option<PathBuf>,
    #[serde(default, rename = "case")]
    pub cases: Vec<toml::Spanned<Case>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Allow,
    Deny,
    NeedsApproval,
    BadParameters,
    NotRunnable,
}

impl Expected {
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Allow => "allow",
            Expected::Deny => "deny",
            Expected::NeedsApproval => "needs_approval",
            Expected::BadParameters => "bad_parameters",
            Expected::NotRunnable => "not_runnable",
        }
    }
}

/// Usage counted before the case's call: what `budget show` would print.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetState {
    #[serde(default)]
    pub calls: u64,
    #[serde(default)]
    pub tokens: u64,
}

/// Expectations on the sandbox plan of a call that produced an argv.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxExpect {
    /// `none` or `host`.
    pub network: Option<String>,
    /// The egress allow-list, exactly (order does not matter).
    pub egress: Option<Vec<String>>,
    /// Binds that must be present: `PATH`, `PATH:ro` or `PATH:rw` (source or target).
    #[serde(default)]
    pub binds: Vec<String>,
    /// Paths no bind may have as source or target.
    #[serde(default)]
    pub no_binds: Vec<String>,
    /// Limits at most these values: memory, tmp_size, max_file_size,
    /// max_output (sizes), cpu (millicores or "500m"), pids, nofile,
    /// max_connections, timeout_seconds.
    #[serde(default)]
    pub max: BTreeMap<String, toml::Value>,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: Option<String>,
    pub role: String,
    pub tool: String,
    #[serde(default)]
    pub params: toml::Table,
    #[serde(default)]
    pub extra_args: Vec<String>,
    pub session: Option<String>,
    #[serde(default)]
    pub tokens: u64,
    pub budget: Option<BudgetState>,
    pub expect: Expected,
    /// The deciding rule (the first reason's): `risk_read`, `data_access`,
    /// `denied_tool`, ...; `screening` stands for any screening rule.
    pub rule: Option<String>,
    /// Text some reason must contain.
    pub reason_contains: Option<String>,
    pub sandbox: Option<SandboxExpect>,
}

impl Case {
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let params: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k}={}", profile::toml_to_json(v)))
                .collect();
            format!("{} {} {}", self.role, self.tool, params.join(" "))
                .trim_end()
                .to_string()
        })
    }

    fn call(&self) -> ToolCall {
        let params = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), profile::toml_to_json(v)))
            .collect();
        ToolCall {
            role: self.role.clone(),
            tool: self.tool.clone(),
            params,
            extra_args: self.extra_args.clone(),
            // Typed TOML values stay typed; strings convert as `--param` text does.
            json_params: self
                .params
                .iter()
                .filter(|(_, v)| !v.is_str())
                .map(|(k, _)| k.clone())
                .collect(),
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseResult {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub expected: Expected,
    /// The decision, and `not_runnable` with why when the program does not resolve here.
    pub got: String,
    pub rule: Option<String>,
    pub reasons: Vec<String>,
    /// What did not match; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Rules a test may name by the group they belong to.
fn rule_matches(want: &str, got: &str) -> bool {
    want == got
        || match want {
            "screening" => matches!(got, "injection" | "suspicious_value" | "suspicious_pattern"),
            "denied_tools" => got == "denied_tool",
            "allowed_tools" => got == "not_allowed",
            "risk" => got.starts_with("risk_") || got == "needs_approval",
            _ => false,
        }
}

/// A parsed test file and where its cases run.
pub struct Loaded {
    pub label: String,
    pub profiles: Option<PathBuf>,
    pub cases: Vec<(usize, Case)>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The largest test file read.
pub const MAX_TEST_FILE: u64 = 16 << 20;

/// Reads and parses one test file; a syntax error names file:line:column.
pub fn parse_file(path: &Path) -> Result<Loaded, ProfileError> {
    let label = path.display().to_string();
    let read_err = |message: String| ProfileError::Read {
        file: label.clone(),
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| read_err(e.to_string()))?
        .len();
    if size > MAX_TEST_FILE {
        return Err(read_err(format!(
            "{size} bytes; a test file may have at most {MAX_TEST_FILE}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| read_err(e.to_string()))?;
    let file: TestFile =
        toml::from_str(&text).map_err(|e| profile::syntax_error(&label, &text, &e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let cases = file
        .cases
        .into_iter()
        .map(|c| (line_of(&text, c.span().start), c.into_inner()))
        .collect();
    Ok(Loaded {
        profiles: file.profiles.map(|p| base.join(p)),
        label,
        cases,
    })
}

/// The test files named by `paths` (a directory: its `*.toml`), or the
/// `tests/` directory of the profiles in use.
fn test_files(ctx: &Context, paths: &[PathBuf]) -> Result<Vec<PathBuf>, AppError> {
    let mut roots = paths.to_vec();
    if roots.is_empty() {
        let dir = profile::locate(ctx.profiles.as_deref()).map_err(run::CallError::from)?;
        match dir {
            Some(d) if d.join("tests").is_dir() => roots.push(d.join("tests")),
            Some(d) => {
                return Err(AppError::Usage(format!(
                    "no test files given and {} has none; name test files or directories",
                    d.join("tests").display()
                )))
            }
            None => {
                return Err(AppError::Usage(
                    "no test files given and the bundled profiles have no tests directory; name test files or directories".into(),
                ))
            }
        }
    }
    let mut files = Vec::new();
    for r in roots {
        if r.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&r)
                .map_err(|e| AppError::Config(format!("reading {}: {e}", r.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(AppError::Usage(format!(
                    "{} holds no test files (*.toml)",
                    r.display()
                )));
            }
            files.extend(found);
        } else {
            files.push(r);
        }
    }
    Ok(files)
}

/// A private (0700), empty directory, removed on drop: the first that can
/// be made in `bases`, named PREFIX-PID-N.
pub struct ScratchDir {
    pub dir: PathBuf,
}

impl ScratchDir {
    pub fn new(bases: &[&Path], prefix: &str) -> Result<ScratchDir, AppError> {
        use std::os::unix::fs::DirBuilderExt;
        let mut last = None;
        for base in bases {
            for n in 0..100u32 {
                let dir = base.join(format!("{prefix}-{}-{n}", std::process::id()));
                match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                    Ok(()) => return Ok(ScratchDir { dir }),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        last = Some(format!("{}: {e}", base.display()));
                        break;
                    }
                }
            }
        }
        Err(AppError::Config(format!(
            "no private temporary directory could be made ({})",
            last.unwrap_or_else(|| "every name is taken".into())
        )))
    }

    /// The scratch state directory of a test file's cases (their budget
    /// state). It is made inside the profile directory under test when that
    /// can be written: `run` already refuses any sandbox that shows that
    /// directory, so the scratch state adds no refusal of its own (one under
    /// /tmp would make every call binding /tmp look denied). Else in the
    /// system's temporary directory.
    fn state(profiles: Option<&Path>) -> Result<ScratchDir, AppError> {
        let tmp = std::env::temp_dir();
        let bases: Vec<&Path> = profiles.into_iter().chain([tmp.as_path()]).collect();
        ScratchDir::new(&bases, ".agentjail-test-state")
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs one case against `set`.
fn run_case(
    ctx: &Context,
    set: &profile::ProfileSet,
    scratch: &Path,
    file: &str,
    line: usize,
    case: &Case,
) -> Result<CaseResult, AppError> {
    let state = StateDir::locate(Some(scratch)).map_err(run::CallError::from)?;
    let mut counter = None;
    if let Some(b) = &case.budget {
        let lock = state.lock().map_err(run::CallError::from)?;
        state
            .ensure(Some("budgets"))
            .map_err(run::CallError::from)?;
        let now = crate::text::now_text();
        let c = budget::Counter {
            role: case.role.clone(),
            session: case.session.clone(),
            calls: b.calls,
            tokens: b.tokens,
            first: now.clone(),
            updated: now,
        };
        let p = budget::path(&state, &case.role, case.session.as_deref());
        state
            .write_json(&lock, &p, &c)
            .map_err(run::CallError::from)?;
        counter = Some(p);
    }
    let mut req = CallRequest::new(case.call());
    req.session = case.session.clone();
    req.tokens = case.tokens;
    let evaluated = run::evaluate(ctx, set, &req);
    if let Some(p) = counter {
        let _ = std::fs::remove_file(p);
    }
    let mut result = CaseResult {
        file: file.to_string(),
        line,
        name: case.label(),
        expected: case.expect,
        got: String::new(),
        rule: None,
        reasons: Vec::new(),
        failures: Vec::new(),
    };
    let ev = match evaluated {
        Ok(ev) => ev,
        // A request the core refuses outright (a name too long): what
        // `check` would exit with, 64 or 65.
        Err(e) if matches!(e.exit_code(), exit::USAGE | exit::BAD_PARAMETERS) => {
            let code = e.exit_code();
            result.got = format!("refused (exit {code})");
            result.reasons.push(e.to_string());
            if !(code == exit::BAD_PARAMETERS && case.expect == Expected::BadParameters) {
                result.failures.push(format!(
                    "expected {}, got {}: {e}",
                    case.expect.as_str(),
                    result.got
                ));
            }
            return Ok(result);
        }
        Err(e) => return Err(e.into()),
    };
    compare(case, &ev, &mut result);
    Ok(result)
}

/// Fills `result` with what `ev` shows and every expectation it misses.
fn compare(case: &Case, ev: &Evaluation, result: &mut CaseResult) {
    let d = &ev.decision;
    result.got = match &ev.not_runnable {
        Some(e) => format!("{} (not_runnable here: {e})", d.outcome.as_str()),
        None => d.outcome.as_str().to_string(),
    };
    result.rule = d.reasons.first().map(|r| r.rule.to_string());
    result.reasons = d
        .reasons
        .iter()
        .map(|r| format!("[{}] {}", r.rule, r.message))
        .collect();
    let outcome_ok = match case.expect {
        Expected::NotRunnable => ev.not_runnable.is_some(),
        Expected::Allow => d.outcome == crate::policy::Outcome::Allow,
        Expected::Deny => d.outcome == crate::policy::Outcome::Deny,
        Expected::NeedsApproval => d.outcome == crate::policy::Outcome::NeedsApproval,
        Expected::BadParameters => d.outcome == crate::policy::Outcome::BadParameters,
    };
    let f = &mut result.failures;
    if !outcome_ok {
        f.push(format!(
            "expected {}, got {}",
            case.expect.as_str(),
            result.got
        ));
    }
    if let Some(want) = &case.rule {
        let got = result.rule.as_deref().unwrap_or("(none)");
        if !rule_matches(want, got) {
            f.push(format!("expected rule {want}, got rule {got}"));
        }
    }
    if let Some(text) = &case.reason_contains {
        if !d.reasons.iter().any(|r| r.message.contains(text.as_str())) {
            f.push(format!("no reason contains {text:?}"));
        }
    }
    if let Some(s) = &case.sandbox {
        if ev.sandbox.is_null() {
            f.push("sandbox expectations given, but the call has no sandbox plan".into());
        } else {
            check_sandbox(s, &ev.sandbox, f);
        }
    }
}

/// Parses a limit's text in its unit.
type UnitParser = fn(&str) -> Result<u64, String>;

/// The plan key and unit of each `max` key.
fn limit_of(key: &str) -> Option<(&'static str, UnitParser)> {
    let size = |t: &str| crate::units::parse_size(t).map_err(|e| e.to_string());
    let cpu = |t: &str| crate::units::parse_cpu_millis(t).map_err(|e| e.to_string());
    let secs = |t: &str| crate::units::parse_duration_secs(t).map_err(|e| e.to_string());
    let plain = |t: &str| t.trim().parse::<u64>().map_err(|e| e.to_string());
    Some(match key {
        "memory" => ("memory", size),
        "tmp_size" => ("tmp_size", size),
        "max_file_size" => ("max_file_size", size),
        "max_output" => ("max_output", size),
        "cpu" => ("cpu_millis", cpu),
        "timeout_seconds" => ("timeout", secs),
        "pids" => ("pids", plain),
        "nofile" => ("nofile", plain),
        "max_connections" => ("max_connections", plain),
        _ => return None,
    })
}

fn check_sandbox(s: &SandboxExpect, plan: &Value, f: &mut Vec<String>) {
    if let Some(n) = &s.network {
        let got = plan["network"].as_str().unwrap_or("?");
        if got != n {
            f.push(format!("expected network {n}, got network {got}"));
        }
    }
    if let Some(want) = &s.egress {
        let mut got: Vec<String> = plan["egress"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut want = want.clone();
        got.sort();
        want.sort();
        if got != want {
            f.push(format!("expected egress {want:?}, got egress {got:?}"));
        }
    }
    let binds: Vec<(String, String, bool)> = plan["binds"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|b| {
                    (
                        b["source"].as_str().unwrap_or_default().to_string(),
                        b["target"].as_str().unwrap_or_default().to_string(),
                        b["writable"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let shown = || {
        binds
            .iter()
            .map(|(s, t, w)| format!("{s}->{t}:{}", if *w { "rw" } else { "ro" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for want in &s.binds {
        let (path, mode) = match want.rsplit_once(':') {
            Some((p, m @ ("ro" | "rw"))) => (p, Some(m == "rw")),
            _ => (want.as_str(), None),
        };
        let found = binds
            .iter()
            .any(|(s, t, w)| (s == path || t == path) && mode.map_or(true, |m| m == *w));
        if !found {
            f.push(format!("expected bind {want}, binds are [{}]", shown()));
        }
    }
    for path in &s.no_binds {
        if binds.iter().any(|(s, t, _)| s == path || t == path) {
            f.push(format!(
                "expected no bind of {path}, binds are [{}]",
                shown()
            ));
        }
    }
    for (key, v) in &s.max {
        let Some((plan_key, parse)) = limit_of(key) else {
            f.push(format!("sandbox.max: unknown limit `{key}`"));
            continue;
        };
        let limit = match v {
            toml::Value::Integer(i) => u64::try_from(*i).map_err(|e| e.to_string()),
            toml::Value::String(t) => parse(t),
            other => Err(format!("expected a number or a string, got {other}")),
        };
        match (limit, plan[plan_key].as_u64()) {
            (Err(e), _) => f.push(format!("sandbox.max.{key}: {e}")),
            (Ok(_), None) => f.push(format!("sandbox.max.{key}: the plan has no {plan_key}")),
            (Ok(l), Some(got)) if got > l => {
                f.push(format!("expected {key} at most {l}, got {got}"))
            }
            _ => {}
        }
    }
}

/// `agentjail profiles test`: runs every case of every file; exit 0 when all
/// pass, 1 when one fails, 78 for a malformed file or bad profiles.
pub fn test(ctx: &Context, paths: &[PathBuf], format: TestFormat) -> Result<i32, AppError> {
    let files = test_files(ctx, paths)?;
    // Every file parses before any case runs.
    let mut loaded = Vec::new();
    for f in &files {
        loaded.push(parse_file(f).map_err(|e| AppError::Config(e.to_string()))?);
    }
    let mut results = Vec::new();
    for file in &loaded {
        let profiles = file.profiles.clone().or_else(|| ctx.profiles.clone());
        let dir = profile::locate(profiles.as_deref()).map_err(run::CallError::from)?;
        let scratch = ScratchDir::state(dir.as_deref())?;
        let case_ctx = Context {
            profiles,
            state_dir: Some(scratch.dir.clone()),
            ..ctx.clone()
        };
        let set = case_ctx.load_profiles()?;
        if file.cases.is_empty() {
            return Err(AppError::Config(format!(
                "{}: no [[case]] tables",
                file.label
            )));
        }
        for (line, case) in &file.cases {
            results.push(run_case(
                &case_ctx,
                &set,
                &scratch.dir,
                &file.label,
                *line,
                case,
            )?);
        }
    }
    profiles_report::print(&results, format)?;
    Ok(if results.iter().all(CaseResult::passed) {
        exit::OK
    } else {
        1
    })
}
