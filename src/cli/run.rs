//! `agentjail run` and `agentjail check`: read the call from the command
//! line, hand it to the call core (`crate::run`), print the outcome the way
//! the README documents it, and return the exit code.

use super::prompt::{Prompt, Terminal};
use super::{error_json, kind_of_exit, AppError, CallArgs};
use crate::policy::params::{self, ParamError, Params};
use crate::policy::{Decision, Outcome, ToolCall};
use crate::run::{self, ApprovalState, CallOutcome, CallRequest, Context, Stdio};
use crate::sandbox;
use crate::text::printable;
use serde_json::{json, Value};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Reads the call's parameters: `--params` first, then each `--param` on top.
pub fn gather_call(args: &CallArgs) -> Result<ToolCall, AppError> {
    let mut given = Params::new();
    let mut json_params = std::collections::BTreeSet::new();
    if let Some(src) = &args.params {
        let limit = params::MAX_PARAMS_INPUT;
        let read = |from: &str, r: &mut dyn Read| -> Result<String, AppError> {
            let mut bytes = Vec::new();
            r.take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| AppError::ParamsFile {
                    path: from.into(),
                    source,
                })?;
            if bytes.len() as u64 > limit {
                return Err(ParamError::InputTooLarge {
                    from: from.into(),
                    limit,
                }
                .into());
            }
            String::from_utf8(bytes)
                .map_err(|_| ParamError::Json(format!("{from} is not UTF-8")).into())
        };
        let text = if src == "-" {
            read("stdin", &mut std::io::stdin())?
        } else if let Some(path) = src.strip_prefix('@') {
            let mut f = std::fs::File::open(path).map_err(|source| AppError::ParamsFile {
                path: path.into(),
                source,
            })?;
            read(path, &mut f)?
        } else {
            src.clone()
        };
        given = params::parse_json_object(&text)?;
        json_params = given.keys().cloned().collect();
    }
    for a in &args.param {
        let (k, v) = params::parse_assignment(a)?;
        json_params.remove(&k);
        given.insert(k, Value::String(v));
    }
    Ok(ToolCall {
        role: args.role.clone().unwrap_or_default(),
        tool: args.tool.clone(),
        params: given,
        extra_args: args.extra_args.clone(),
        json_params,
    })
}

/// The most `--stdin-file` reads.
pub const MAX_STDIN_FILE: u64 = 16 << 20;

/// Reads `--stdin-file` once into a sealed memory file, so what the tool
/// reads is exactly what was hashed (the file may change afterwards); the
/// memory file is at offset 0, with the SHA-256 of its bytes.
fn sealed_stdin(path: &Path) -> Result<(OwnedFd, String), AppError> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let shown = path.display().to_string();
    let io = |source| AppError::StdinFile {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut data = Vec::new();
    file.take(MAX_STDIN_FILE + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > MAX_STDIN_FILE {
        return Err(AppError::StdinTooLarge {
            path: shown,
            max: MAX_STDIN_FILE,
        });
    }
    let fd = memfd_create(
        c"agentjail-stdin",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(|e| io(e.into()))?;
    let mut mem = std::fs::File::from(fd);
    mem.write_all(&data).map_err(io)?;
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_SEAL;
    fcntl(mem.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals)).map_err(|e| io(e.into()))?;
    mem.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    Ok((OwnedFd::from(mem), crate::audit::sha256_hex(&data)))
}

/// The core's description of the call the command line gave. With
/// `--stdin-file` and `install_stdin`, the sealed copy becomes this
/// process's stdin, which the tool inherits.
fn request(args: &CallArgs, stdio: Stdio, install_stdin: bool) -> Result<CallRequest, AppError> {
    let call = gather_call(args)?;
    let mut stdin_sha256 = None;
    if let Some(path) = &args.stdin_file {
        let (fd, sum) = sealed_stdin(path)?;
        if install_stdin {
            nix::unistd::dup2(fd.as_raw_fd(), 0).map_err(|e| AppError::StdinFile {
                path: path.display().to_string(),
                source: e.into(),
            })?;
        }
        stdin_sha256 = Some(sum);
    }
    Ok(CallRequest {
        call,
        agent: args.agent.clone(),
        session: args.session.clone(),
        tokens: args.tokens,
        stdio,
        stdin_sha256,
        requested_by: None,
    })
}

/// `agentjail check`: decide, audit, print; never executes.
pub fn check(ctx: &Context, args: &CallArgs, json_out: bool) -> Result<i32, AppError> {
    let req = request(args, Stdio::Capture, false)?;
    let r = run::check(ctx, &req)?;
    let d = &r.decision;
    let mut report = json!({
        "decision": d.outcome.as_str(),
        "exit_code": r.exit_code,
        "role": req.call.role,
        "tool": req.call.tool,
        "risk": d.risk,
        "reasons": d.reasons,
        "findings": d.findings,
        "params": d.params,
        "argv": d.argv,
        "program": r.program,
        "sandbox": r.sandbox,
        "budget": r.look.budget,
        "approval": r.look.approval,
        "audit_id": r.audit_id,
    });
    if r.exit_code != crate::exit::OK {
        report["error"] = error_json(kind_of_exit(r.exit_code), d.headline());
    }
    let mut out = std::io::stdout().lock();
    match json_out {
        true => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        false => write!(out, "{}{}", printable(&check_text(&report)), r.look.text()),
    }
    .map_err(AppError::Output)?;
    if let Some(e) = &r.not_runnable {
        eprintln!("agentjail: not runnable: {}", printable(&e.to_string()));
    }
    Ok(r.exit_code)
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
            .map(|a| crate::text::shell_quote(a.as_str().unwrap_or("")))
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
                crate::sandbox::plan::PROXY_PORT,
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

/// `agentjail run`: the call core runs the call; this prints what happened.
pub fn run(
    ctx: &Context,
    args: &CallArgs,
    json_out: bool,
    prompt: Prompt,
) -> Result<i32, AppError> {
    run_as(ctx, args, json_out, prompt, None)
}

/// `run` on behalf of `requested_by` (the broker's peer), when it is not
/// this process's user.
pub fn run_as(
    ctx: &Context,
    args: &CallArgs,
    json_out: bool,
    prompt: Prompt,
    requested_by: Option<crate::approval::Person>,
) -> Result<i32, AppError> {
    run_asking(ctx, args, json_out, Terminal::new(prompt), requested_by)
}

/// As [`run_as`], asking `human` (the broker passes the caller's terminal).
pub fn run_asking(
    ctx: &Context,
    args: &CallArgs,
    json_out: bool,
    mut human: Terminal,
    requested_by: Option<crate::approval::Person>,
) -> Result<i32, AppError> {
    let stdio = if json_out {
        Stdio::Capture
    } else {
        Stdio::Inherit
    };
    let mut req = request(args, stdio, true)?;
    req.requested_by = requested_by;
    let outcome = match run::call(ctx, &req, &mut human) {
        Ok(o) => o,
        Err(failure) => {
            // A framework reading --json gets an object even when the launch fails.
            let error = AppError::from(failure.error);
            if let (true, Some(id)) = (json_out, &failure.audit_id) {
                let v = json!({
                    "audit_id": id,
                    "decision": failure.decision.map(|o| o.as_str()),
                    "exit_code": error.exit_code(),
                    "verdict_by": "agentjail",
                    "error": error_json(error.kind(), &printable(&crate::text::chain(&error))),
                });
                println!("{v}");
                return Err(AppError::Reported(Box::new(error)));
            }
            return Err(error);
        }
    };
    let Some(ran) = &outcome.run else {
        return refused(&outcome, json_out);
    };
    let timeout = ran.outcome.timed_out.then(|| {
        format!(
            "timeout: tool `{}` was killed after {}s (role `{}` limits.timeout_seconds)",
            req.call.tool,
            ran.timeout.as_secs(),
            req.call.role
        )
    });
    if let Some(t) = &timeout {
        eprintln!("agentjail: {t}");
    }
    if let Some(hint) = &ran.hint {
        eprintln!("agentjail: hint: {hint}");
    }
    if json_out {
        print_result(
            &outcome.audit_id,
            &outcome.decision,
            ran,
            outcome.exit_code,
            timeout.as_deref(),
        )?;
    }
    Ok(outcome.exit_code)
}

/// Prints why a call did not run: a denial, bad parameters, a pending or
/// refused approval.
fn refused(o: &CallOutcome, json_out: bool) -> Result<i32, AppError> {
    let (d, id, code) = (&o.decision, &o.audit_id, o.exit_code);
    let with_approval = |approval: Value| {
        if json_out {
            print_json(id, d, code, Some(approval));
        }
    };
    match (&o.approval, d.outcome) {
        (
            ApprovalState::Pending {
                request,
                approve_command,
                ..
            },
            _,
        ) => {
            eprintln!(
                "agentjail: approval required: {} (audit id {id})",
                printable(d.headline())
            );
            notes(d);
            eprintln!(
                "agentjail: approval request {} is pending until {}; approve with: {approve_command}",
                request.id, request.expires
            );
            with_approval(json!({
                "request_id": request.id,
                "status": "pending",
                "expires": request.expires,
                "approve_command": approve_command,
            }));
            Ok(code)
        }
        (
            ApprovalState::Answered {
                request_id,
                approved,
                reason,
            },
            _,
        ) => {
            eprintln!("agentjail: denied: {}", printable(d.headline()));
            with_approval(if *approved {
                // Approved, then refused by the budget.
                Value::Null
            } else {
                json!({"request_id": request_id, "status": "denied", "reason": reason})
            });
            Ok(code)
        }
        (ApprovalState::Settled, Outcome::NeedsApproval) => {
            eprintln!(
                "agentjail: approval required: {} (audit id {id})",
                printable(d.headline())
            );
            notes(d);
            with_approval(Value::Null);
            Ok(code)
        }
        (ApprovalState::Settled, Outcome::BadParameters) => {
            let e = d
                .parameter_error
                .clone()
                .unwrap_or(ParamError::Json(d.headline().into()));
            let e = AppError::from(crate::run::CallError::Params(e));
            if json_out {
                print_json(id, d, code, None);
                return Err(AppError::Reported(Box::new(e)));
            }
            Err(e)
        }
        (ApprovalState::Settled, _) => {
            if json_out {
                print_json(id, d, code, None);
            }
            eprintln!("agentjail: denied: {}", printable(d.headline()));
            Ok(code)
        }
    }
}

/// Reasons after the deciding one that a caller must see, one line each:
/// an approval that exists but does not match this call says what differs.
fn notes(d: &Decision) {
    for r in d.reasons.iter().skip(1) {
        if r.rule == "approval_mismatch" {
            eprintln!("agentjail: {}", printable(&r.message));
        }
    }
}

/// The JSON object of a call that did not run.
fn print_json(id: &str, d: &Decision, code: i32, approval: Option<Value>) {
    let mut v = json!({
        "audit_id": id,
        "decision": d.outcome.as_str(),
        "reasons": d.reasons,
        "exit_code": code,
        "verdict_by": "agentjail",
        "error": error_json(kind_of_exit(code), d.headline()),
    });
    if let Some(a) = approval {
        v["approval"] = a;
    }
    println!("{v}");
}

/// The JSON object of a call that ran: its streams after the role's output
/// guards (`crate::policy::output`), with what the guards did.
fn print_result(
    id: &str,
    d: &Decision,
    ran: &run::ToolRun,
    code: i32,
    timeout: Option<&str>,
) -> Result<(), AppError> {
    let o = &ran.outcome;
    let raw = |c: &Option<sandbox::Captured>| {
        c.as_ref()
            .map(|c| String::from_utf8_lossy(&c.data).into_owned())
            .unwrap_or_default()
    };
    let (stdout, stderr) = match &ran.guarded {
        Some(g) => (g.stdout.text.clone(), g.stderr.text.clone()),
        None => (raw(&o.stdout), raw(&o.stderr)),
    };
    let cut = |c: &Option<sandbox::Captured>, g: Option<&crate::policy::output::Guarded>| {
        c.as_ref().is_some_and(|c| c.truncated) || g.is_some_and(|g| g.truncated)
    };
    let guarded = ran.guarded.as_ref();
    let mut v = json!({
        "audit_id": id,
        "decision": d.outcome.as_str(),
        "exit_code": code,
        "verdict_by": run::verdict_by(o),
        "signal": o.signal,
        "timed_out": o.timed_out,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": {
            "stdout": cut(&o.stdout, guarded.map(|g| &g.stdout)),
            "stderr": cut(&o.stderr, guarded.map(|g| &g.stderr)),
        },
        "duration_ms": o.duration_ms,
        "confinement": o.confinement,
        "cgroup": o.cgroup,
        "usage": o.usage,
        "oom_killed": o.usage.oom_killed,
    });
    if let Some(t) = timeout {
        v["error"] = error_json("timeout", t);
    }
    if let Some(g) = guarded.filter(|g| g.stdout.noteworthy() || g.stderr.noteworthy()) {
        v["output_guard"] = json!({"stdout": g.stdout.summary(), "stderr": g.stderr.summary()});
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").map_err(AppError::Output)
}
