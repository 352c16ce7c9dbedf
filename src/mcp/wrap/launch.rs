//! Starts the wrapped server in the role's sandbox for the whole session.
//!
//! The plan is the one `run` builds from a role (`crate::run::plan`): the
//! role's binds, limits, environment and network, with the server's command
//! as the argv and `[mcp] session_timeout_seconds` as the time limit. The
//! firewall forks a launcher process while it is still single-threaded;
//! the launcher's stdin, stdout and stderr are pipes to the firewall, and it runs
//! the sandbox (and the egress proxy) until the server ends, then audits
//! the end and exits with the server's exit code.

use super::WrapError;
use crate::audit::{AuditLog, AuditRecord};
use crate::policy::{Decision, Outcome};
use crate::profile::{Role, ToolSpec};
use crate::run::{self, Context};
use crate::sandbox;
use nix::unistd::{ForkResult, Pid};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// The running server as the firewall sees it.
pub struct Server {
    pub launcher: Pid,
    pub stdin: File,
    pub stdout: File,
    /// The launcher's and the server's stderr (see `stderr.rs`).
    pub stderr: File,
}

/// Plans, checks and starts the sandboxed server. Must be called before
/// the process starts any thread.
pub fn start(
    ctx: &Context,
    role: &Role,
    argv: &[String],
    log: &AuditLog,
    session: &AuditRecord,
) -> Result<Server, WrapError> {
    let tool = ToolSpec {
        description: String::new(),
        risk: None,
        command: argv.to_vec(),
        params: Default::default(),
        extra_args: None,
        max_value_size: None,
        max_call_size: None,
        output: Default::default(),
    };
    let decision = Decision {
        outcome: Outcome::Allow,
        reasons: Vec::new(),
        risk: None,
        params: Default::default(),
        argv: argv.to_vec(),
        findings: Vec::new(),
        parameter_error: None,
    };
    let env = run::plan::build_env(role, &|k| std::env::var(k).ok(), false);
    let mut plan = run::plan::build(role, &tool, &decision, env)
        .map_err(|e| WrapError::Sandbox(sandbox::SandboxError::Plan(e)))?;
    plan.timeout = Duration::from_secs(role.mcp.session_timeout_seconds);
    plan.cgroup_parent = ctx.cgroup_parent.clone();
    let program = sandbox::resolve_program(&plan).map_err(WrapError::Resolve)?;
    plan.program = Some(program.clone());
    let prepared = sandbox::prepare(plan, program)?;
    let pipe = || {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| WrapError::Os {
            what: "creating the server's pipes",
            source: e,
        })
    };
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // SAFETY: the firewall has started no thread yet (see `start`'s contract),
    // so the child may run ordinary Rust code after fork.
    match unsafe { nix::unistd::fork() }.map_err(|e| WrapError::Os {
        what: "forking the server's launcher",
        source: e,
    })? {
        ForkResult::Child => {
            drop(in_w);
            drop(out_r);
            drop(err_r);
            let code = launcher(ctx, &prepared, [in_r, out_w, err_w], log, session);
            std::process::exit(code)
        }
        ForkResult::Parent { child } => {
            drop(in_r);
            drop(out_w);
            drop(err_w);
            Ok(Server {
                launcher: child,
                stdin: File::from(in_w),
                stdout: File::from(out_r),
                stderr: File::from(err_r),
            })
        }
    }
}

/// The launcher process: the pipes become its stdin, stdout and stderr
/// (which the sandboxed server inherits), then the sandbox runs until the
/// server ends.
fn launcher(
    ctx: &Context,
    prepared: &sandbox::Prepared,
    stdio: [OwnedFd; 3],
    log: &AuditLog,
    session: &AuditRecord,
) -> i32 {
    // The server ends with the firewall.
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number only.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
    for (fd, target) in stdio.iter().zip(0..) {
        if nix::unistd::dup2(fd.as_raw_fd(), target).is_err() {
            return crate::exit::LAUNCHER_FAILED;
        }
    }
    drop(stdio);
    sandbox::close_inherited_fds();
    let mut proxy: Option<crate::egress::Proxy> = None;
    let mut serve_egress = |listener: std::net::TcpListener| match run::egress::start_proxy(
        ctx,
        listener,
        &prepared.plan,
        log.path(),
        session,
    ) {
        Ok(p) => proxy = Some(p),
        Err(e) => {
            tracing::error!("egress proxy not started: {e}");
            let _ =
                log.append(&session.error_after(&format!("starting the egress proxy: {e}"), 125));
        }
    };
    let launched = sandbox::launch(prepared, false, &mut serve_egress);
    if let Some(p) = proxy.take() {
        p.stop();
    }
    let mut end = session.follow_up("tool_result");
    let code = match launched {
        Ok(outcome) => {
            let code = run::outcome_exit(&outcome);
            if outcome.timed_out {
                // agentjail's decision, so one line says it (the server's
                // own exit codes are the server's to explain).
                eprintln!(
                    "agentjail: mcp wrap: the server was stopped after [mcp] session_timeout_seconds ({}s)",
                    prepared.plan.timeout.as_secs()
                );
            }
            end.result = Some(if code == 0 { "success" } else { "error" }.into());
            end.detail("exit_code", code)
                .detail("duration_ms", outcome.duration_ms)
                .detail("timed_out", outcome.timed_out)
                .detail("usage", &outcome.usage);
            code
        }
        Err(e) => {
            end.result = Some("error".into());
            let text = crate::text::chain(&e);
            eprintln!("agentjail: mcp wrap: {text}");
            end.detail("error", text).detail("exit_code", 125);
            crate::exit::LAUNCHER_FAILED
        }
    };
    end.detail("mcp", serde_json::json!({"event": "server_ended"}));
    let _ = log.append(&end);
    log.finish_alerts();
    code
}
