//! The run path: one tool call from start to end. Each public function reads
//! as the list of steps it performs.

use crate::audit::{self, AuditLog, AuditRecord};
use crate::cli::{CallArgs, Format};
use crate::error::AppError;
use crate::exit;
use crate::params::{self, ParamError, Params};
use crate::policy::{self, Decision, Outcome, ToolCall};
use crate::profile::{self, ProfileSet};
use crate::sandbox::{self, plan, RunOutcome};
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

/// Settings every command shares.
pub struct Context {
    pub profiles: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub cgroup_parent: Option<PathBuf>,
    /// Run for alerting audit records (see `crate::alert`).
    pub alert_command: Option<String>,
    /// Approval requests and budget counters (see `crate::state`).
    pub state_dir: Option<PathBuf>,
    /// Run for each new pending approval request (see `crate::approval`).
    pub approval_hook: Option<String>,
}

impl Context {
    pub fn load_profiles(&self) -> Result<ProfileSet, AppError> {
        let dir = profile::locate(self.profiles.as_deref())?;
        let set = profile::load(dir.as_deref())?;
        for w in &set.warnings {
            tracing::warn!("{w}");
        }
        Ok(set)
    }

    pub(crate) fn audit_log(&self) -> Result<AuditLog, AppError> {
        let path = match &self.audit_log {
            Some(p) => p.clone(),
            None => audit::default_path()?,
        };
        Ok(AuditLog::new(&path).with_alert_command(self.alert_command.clone()))
    }

    /// The state directory (not created here).
    pub fn state(&self) -> Result<crate::state::StateDir, AppError> {
        Ok(crate::state::StateDir::locate(self.state_dir.as_deref())?)
    }
}

/// Reads the call's parameters: `--params` first, then each `--param` on top.
pub fn gather_call(args: &CallArgs) -> Result<ToolCall, AppError> {
    let mut given = Params::new();
    if let Some(src) = &args.params {
        let text = if src == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|source| AppError::ParamsFile {
                    path: "stdin".into(),
                    source,
                })?;
            s
        } else if let Some(path) = src.strip_prefix('@') {
            std::fs::read_to_string(path).map_err(|source| AppError::ParamsFile {
                path: path.into(),
                source,
            })?
        } else {
            src.clone()
        };
        given = params::parse_json_object(&text)?;
    }
    for a in &args.param {
        let (k, v) = params::parse_assignment(a)?;
        given.insert(k, Value::String(v));
    }
    Ok(ToolCall {
        role: args.role.clone().unwrap_or_default(),
        tool: args.tool.clone(),
        params: given,
        extra_args: args.extra_args.clone(),
    })
}

/// The exit code a decision ends with when it does not run the tool.
fn decision_exit(d: &Decision) -> i32 {
    match d.outcome {
        Outcome::Allow => exit::OK,
        Outcome::NeedsApproval => exit::APPROVAL_REQUIRED,
        Outcome::Deny => exit::DENIED,
        Outcome::BadParameters => exit::BAD_PARAMETERS,
    }
}

fn decision_record(args: &CallArgs, call: &ToolCall, d: &Decision, dry_run: bool) -> AuditRecord {
    let mut r = AuditRecord::new("decision", &call.role);
    r.agent_id = args.agent.clone();
    r.session_id = args.session.clone();
    r.tool = Some(call.tool.clone());
    r.params = Some(Value::Object(call.params.clone().into_iter().collect()));
    r.tokens_used = args.tokens;
    r.risk_level = d.risk.map(|x| x.to_string());
    r.decision = Some(d.outcome.as_str().to_string());
    r.reasons = d
        .reasons
        .iter()
        .map(|x| format!("{}: {}", x.rule, x.message))
        .collect();
    r.approval_status = match d.outcome {
        Outcome::NeedsApproval => Some("required".into()),
        _ => None,
    };
    r.detail("dry_run", dry_run);
    if !d.argv.is_empty() {
        r.detail("argv", &d.argv);
    }
    if !d.findings.is_empty() {
        r.detail("findings", &d.findings);
        let critical = d.findings.iter().any(|f| f.critical);
        r.detail("severity", if critical { "critical" } else { "warning" });
    }
    if let Some(a) = &args.extra_args.first() {
        let _ = a;
        r.detail("extra_args", &call.extra_args);
    }
    r
}

/// The sandbox plan for a decision that produced an argv.
fn plan_for(
    set: &ProfileSet,
    call: &ToolCall,
    d: &Decision,
) -> Result<plan::SandboxPlan, AppError> {
    let role = &set.roles[&call.role];
    let tool = &set.catalog.tools[&call.tool];
    let env = crate::sandbox_plan::build_env(
        role,
        &|k| std::env::var(k).ok(),
        std::io::stdout().is_terminal(),
    );
    crate::sandbox_plan::build(role, tool, d, env).map_err(|e| AppError::Sandbox(e.into()))
}

/// `agentjail check`: decide, audit, print; never executes.
pub fn check(ctx: &Context, args: &CallArgs, format: Format) -> Result<i32, AppError> {
    // 1. Load the role profiles.
    let set = ctx.load_profiles()?;
    // 2. Read the call.
    let call = gather_call(args)?;
    // 3. Decide.
    let mut d = policy::decide(&set, &call);
    // 3a. Look at the budget and the approvals (nothing counted or consumed).
    let look = crate::approval::Gate::new(ctx, &set, args, &call, crate::approval::Prompt::Never)?
        .look(&mut d)?;
    // 4. Plan the sandbox and resolve the program, for the report.
    let mut plan_json = Value::Null;
    let mut program = Value::Null;
    if !d.argv.is_empty() {
        let mut p = plan_for(&set, &call, &d)?;
        program = match sandbox::resolve_program(&p) {
            Ok(path) => {
                p.program = Some(path.clone());
                json!(path)
            }
            Err(e) => json!(format!("unresolved: {e}")),
        };
        plan_json = serde_json::to_value(&p).unwrap_or(Value::Null);
    }
    // 5. Audit the dry run.
    let mut rec = decision_record(args, &call, &d, true);
    if let Some(b) = &look.budget {
        rec.detail("budget", b);
    }
    ctx.audit_log()?.append(&rec)?;
    // 6. Report.
    let report = json!({
        "decision": d.outcome.as_str(),
        "role": call.role,
        "tool": call.tool,
        "risk": d.risk,
        "reasons": d.reasons,
        "findings": d.findings,
        "params": d.params,
        "argv": d.argv,
        "program": program,
        "sandbox": plan_json,
        "budget": look.budget,
        "approval": look.approval,
        "audit_id": rec.id,
    });
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Text => write!(
            out,
            "{}{}",
            crate::error::printable(&check_text(&report)),
            look.text()
        ),
    }
    .map_err(AppError::Output)?;
    Ok(decision_exit(&d))
}

/// Quotes an argv element for display the way a POSIX shell would read it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        s.to_string()
    } else if s.chars().any(char::is_control) {
        // $'...' keeps control characters visible instead of sending them to the terminal.
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn check_text(r: &Value) -> String {
    let mut s = String::new();
    let str_of = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    s.push_str(&format!("decision: {}\n", str_of(&r["decision"])));
    s.push_str(&format!(
        "role: {}  tool: {}  risk: {}\n",
        str_of(&r["role"]),
        str_of(&r["tool"]),
        if r["risk"].is_null() {
            "-".into()
        } else {
            str_of(&r["risk"])
        }
    ));
    s.push_str("reasons:\n");
    for reason in r["reasons"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  - [{}] {}\n",
            str_of(&reason["rule"]),
            str_of(&reason["message"])
        ));
    }
    if let Some(argv) = r["argv"].as_array().filter(|a| !a.is_empty()) {
        let line: Vec<String> = argv
            .iter()
            .map(|a| shell_quote(a.as_str().unwrap_or("")))
            .collect();
        s.push_str(&format!("argv: {}\n", line.join(" ")));
        s.push_str(&format!("program: {}\n", str_of(&r["program"])));
    }
    let p = &r["sandbox"];
    if !p.is_null() {
        s.push_str("sandbox:\n");
        s.push_str(&format!(
            "  user: uid {} gid {}, no capabilities, no_new_privs\n",
            p["uid"], p["gid"]
        ));
        let ns: Vec<String> = p["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .map(str_of)
            .collect();
        s.push_str(&format!("  namespaces: {}\n", ns.join(", ")));
        s.push_str(&format!(
            "  network: {}  hostname: {}\n",
            str_of(&p["network"]),
            str_of(&p["hostname"])
        ));
        let egress: Vec<String> = p["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .map(str_of)
            .collect();
        if !egress.is_empty() {
            s.push_str(&format!(
                "  egress (through the proxy at 127.0.0.1:{}): {}\n",
                plan::PROXY_PORT,
                egress.join(", ")
            ));
        }
        s.push_str(&format!(
            "  filesystem: read-only root; /tmp tmpfs {} and /dev/shm {}\n",
            crate::units::format_size(p["tmp_size"].as_u64().unwrap_or(0)),
            crate::units::format_size(p["shm_size"].as_u64().unwrap_or(0))
        ));
        for b in p["binds"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "  bind: {} -> {} ({})\n",
                str_of(&b["source"]),
                str_of(&b["target"]),
                if b["writable"].as_bool() == Some(true) {
                    "rw"
                } else {
                    "ro"
                }
            ));
        }
        s.push_str(&format!(
            "  limits: memory {}, cpu {}m, pids {}, timeout {}s, nofile {}\n",
            crate::units::format_size(p["memory"].as_u64().unwrap_or(0)),
            p["cpu_millis"],
            p["pids"],
            p["timeout"],
            p["nofile"]
        ));
        s.push_str("  seccomp: allow-list; Landlock: best effort for this kernel's ABI\n");
    }
    s
}

/// `agentjail run`: decide, audit, sandbox, audit, report.
pub fn run(
    ctx: &Context,
    args: &CallArgs,
    json_out: bool,
    prompt: crate::approval::Prompt,
) -> Result<i32, AppError> {
    // 0. Nothing inherited beyond stdio reaches the sandbox.
    sandbox::close_inherited_fds();
    // 1. Load the role profiles.
    let set = ctx.load_profiles()?;
    // 2. Read the call.
    let call = gather_call(args)?;
    // 3. Decide.
    let mut d = policy::decide(&set, &call);
    // 3a. Under the state lock (src/approval.rs): deny a sandbox that would show the
    //     state directory; count the call against the session's budget (77 beyond it);
    //     consume a matching approval, or queue a request for one.
    let log = ctx.audit_log()?;
    let gate = crate::approval::Gate::new(ctx, &set, args, &call, prompt)?;
    let mut admission = gate.admit(&mut d)?;
    // 4. Audit the decision before anything runs; no record, no run.
    let mut rec = decision_record(args, &call, &d, false);
    gate.annotate(&admission, &mut rec);
    log.append(&rec)?;
    gate.follow_up(&admission, &log, &rec);
    // 4a. Still needs approval: ask at the terminal, or report the queued request (75).
    if d.outcome == Outcome::NeedsApproval {
        if let Some(code) = gate.ask(&mut admission, &mut d, &log, &rec, json_out)? {
            return Ok(code);
        }
    }
    // 5. Stop unless allowed: denial, bad parameters, pending approval.
    if d.outcome != Outcome::Allow {
        return refuse(&d, &rec.id, json_out);
    }
    let execute = || -> Result<i32, AppError> {
        // 6. Plan the sandbox; resolve the program on the host (127/126 before any sandbox).
        let mut p = plan_for(&set, &call, &d)?;
        let program = sandbox::resolve_program(&p).map_err(AppError::Resolve)?;
        p.program = Some(program.clone());
        p.cgroup_parent = ctx.cgroup_parent.clone();
        // 7. Check the mechanisms the role requires and build the filters.
        let prepared = sandbox::prepare(p, program)?;
        // 8. Run the tool in its sandbox and wait for it; the role's egress
        //    allow-list is served from outside, on the listener pid 1 hands over.
        let mut proxy: Option<crate::egress::Proxy> = None;
        let mut serve_egress = |listener: std::net::TcpListener| {
            match start_proxy(ctx, listener, &prepared.plan, log.path(), &rec) {
                Ok(p) => proxy = Some(p),
                // The listener is dropped: the tool's connections are refused.
                Err(e) => {
                    tracing::error!("egress proxy not started: {e}");
                    let _ = log
                        .append(&rec.error_after(&format!("starting the egress proxy: {e}"), 125));
                }
            }
        };
        let launched = sandbox::launch(&prepared, json_out, &mut serve_egress);
        if let Some(p) = proxy.take() {
            p.stop();
        }
        let outcome = launched?;
        // 9. Audit the result.
        let code = outcome_exit(&outcome);
        log.append(&result_record(
            args, &call, &d, &prepared, &outcome, code, &rec.id,
        ))?;
        if let Some(errno) = outcome.exec_errno {
            let why = nix::errno::Errno::from_raw(errno).desc();
            let what = format!("executing {}: {why}", prepared.program.display());
            let _ = log.append(&rec.error_after(&what, code));
        }
        // 10. Report.
        if outcome.timed_out {
            eprintln!(
                "agentjail: timeout: tool `{}` was killed after {}s (role `{}` limits.timeout_seconds)",
                call.tool,
                prepared.plan.timeout.as_secs(),
                call.role
            );
        }
        if json_out {
            print_result(&rec.id, &d, &outcome, code)?;
        }
        Ok(code)
    };
    execute().inspect_err(|e| {
        // Best effort: the failure is audited (and alerted) too.
        let _ = log.append(&rec.error_after(&crate::error::chain(e), e.exit_code()));
        // A framework reading --json gets an object even when the launch fails.
        if json_out {
            let v = json!({
                "audit_id": rec.id,
                "decision": d.outcome.as_str(),
                "exit_code": e.exit_code(),
                "error": crate::error::printable(&crate::error::chain(e)),
            });
            println!("{v}");
        }
    })
}

/// Starts the egress proxy on the sandbox's listener; every connection
/// attempt becomes a `network` audit record.
fn start_proxy(
    ctx: &Context,
    listener: std::net::TcpListener,
    plan: &plan::SandboxPlan,
    log_path: &std::path::Path,
    decision: &AuditRecord,
) -> Result<crate::egress::Proxy, String> {
    let rules = crate::egress::EgressRules::parse(&plan.egress).map_err(|e| e.to_string())?;
    // Connection threads share one writer; the file lock orders them with other launchers.
    let log = std::sync::Mutex::new(
        AuditLog::new(log_path).with_alert_command(ctx.alert_command.clone()),
    );
    let template = decision.follow_up("network");
    let on_event = std::sync::Arc::new(move |ev: crate::egress::NetworkEvent| {
        let mut r = template.clone();
        r.id = crate::audit::AuditRecord::new("network", &template.role).id;
        r.result = Some(if ev.allowed { "allowed" } else { "denied" }.into());
        if let Ok(Value::Object(fields)) = serde_json::to_value(&ev) {
            for (k, v) in fields {
                r.detail(&k, v);
            }
        }
        let log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = log.append(&r) {
            tracing::error!("auditing a network connection: {e}");
        }
    });
    let mut config = crate::egress::ProxyConfig::new(rules, on_event);
    config.max_connections = plan.max_connections;
    crate::egress::Proxy::start(listener, config).map_err(|e| e.to_string())
}

fn refuse(d: &Decision, id: &str, json_out: bool) -> Result<i32, AppError> {
    let code = decision_exit(d);
    if json_out {
        let v = json!({
            "audit_id": id,
            "decision": d.outcome.as_str(),
            "reasons": d.reasons,
            "exit_code": code,
        });
        println!("{v}");
    }
    match d.outcome {
        Outcome::BadParameters => {
            let e = d
                .parameter_error
                .clone()
                .unwrap_or(ParamError::Json(d.headline().into()));
            Err(AppError::Params(e))
        }
        Outcome::NeedsApproval => {
            eprintln!(
                "agentjail: approval required: {} (audit id {id})",
                d.headline()
            );
            Ok(code)
        }
        _ => {
            eprintln!("agentjail: denied: {}", d.headline());
            Ok(code)
        }
    }
}

/// The exit code for a finished run.
pub fn outcome_exit(o: &RunOutcome) -> i32 {
    if let Some(errno) = o.exec_errno {
        return if errno == libc::ENOENT {
            exit::NOT_FOUND
        } else {
            exit::NOT_EXECUTABLE
        };
    }
    if o.timed_out {
        return exit::TIMEOUT;
    }
    match (o.exit_code, o.signal) {
        (Some(c), _) => c,
        (None, Some(s)) => exit::for_signal(s),
        (None, None) => exit::LAUNCHER_FAILED,
    }
}

fn result_record(
    args: &CallArgs,
    call: &ToolCall,
    d: &Decision,
    prep: &sandbox::Prepared,
    o: &RunOutcome,
    code: i32,
    decision_id: &str,
) -> AuditRecord {
    let mut r = AuditRecord::new("tool_result", &call.role);
    r.agent_id = args.agent.clone();
    r.session_id = args.session.clone();
    r.tool = Some(call.tool.clone());
    r.params = Some(Value::Object(d.params.clone().into_iter().collect()));
    r.tokens_used = args.tokens;
    r.risk_level = d.risk.map(|x| x.to_string());
    r.decision = Some(d.outcome.as_str().to_string());
    r.result = Some(if o.timed_out {
        "timeout".into()
    } else if code == 0 {
        "success".into()
    } else {
        format!("exit {code}")
    });
    r.detail("decision_id", decision_id)
        .detail("argv", &d.argv)
        .detail("program", &prep.program)
        .detail("exit_code", code)
        .detail("signal", o.signal)
        .detail("timed_out", o.timed_out)
        .detail("duration_ms", o.duration_ms)
        .detail("usage", &o.usage)
        .detail("oom_killed", o.usage.oom_killed)
        .detail(
            "sandbox",
            json!({
                "namespaces": prep.plan.namespaces,
                "uid": prep.plan.uid,
                "network": prep.plan.network,
                "seccomp": o.confinement.as_ref().map(|c| c.seccomp),
                "landlock_abi": prep.mechanisms.landlock_abi,
                "landlock": o.confinement.as_ref().map(|c| c.landlock.clone()),
                "no_new_privs": o.confinement.as_ref().map(|c| c.no_new_privs),
                "cgroup": o.cgroup,
            }),
        );
    if let Some(e) = o.exec_errno {
        r.detail("exec_errno", e);
    }
    for (name, c) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if let Some(c) = c {
            r.detail(&format!("{name}_bytes"), c.bytes)
                .detail(&format!("{name}_truncated"), c.truncated);
        }
        // Of the captured bytes (after truncation); null when not captured.
        let sum = c.as_ref().map(|c| audit::sha256_hex(&c.data));
        r.detail(&format!("{name}_sha256"), sum);
    }
    r
}

fn print_result(id: &str, d: &Decision, o: &RunOutcome, code: i32) -> Result<(), AppError> {
    let text = |c: &Option<sandbox::Captured>| {
        c.as_ref()
            .map(|c| String::from_utf8_lossy(&c.data).into_owned())
            .unwrap_or_default()
    };
    let truncated = |c: &Option<sandbox::Captured>| c.as_ref().is_some_and(|c| c.truncated);
    let v = json!({
        "audit_id": id,
        "decision": d.outcome.as_str(),
        "exit_code": code,
        "signal": o.signal,
        "timed_out": o.timed_out,
        "stdout": text(&o.stdout),
        "stderr": text(&o.stderr),
        "truncated": { "stdout": truncated(&o.stdout), "stderr": truncated(&o.stderr) },
        "duration_ms": o.duration_ms,
        "confinement": o.confinement,
        "cgroup": o.cgroup,
        "usage": o.usage,
        "oom_killed": o.usage.oom_killed,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").map_err(AppError::Output)
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting_table() {
        for (raw, shown) in [
            ("plain", "plain"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("", "''"),
            ("a\u{1b}[31mb\nargv: x", "$'a\\x1b[31mb\\nargv: x'"),
        ] {
            assert_eq!(shell_quote(raw), shown);
        }
    }
}
