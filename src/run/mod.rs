//! The call core: one tool call from start to end, for every front-end.
//!
//! [`call`] takes a fully described call ([`CallRequest`]) and returns a typed
//! [`CallOutcome`]: the decision with its reasons, what happened about
//! budgets and approval, the sandbox's result and the audit ids. [`check`]
//! decides and reports without running anything. Neither prints, reads a
//! terminal or exits: a human is asked through the [`AskHuman`] the
//! front-end passes in, and the front-end prints the outcome.
//!
//! Core layer: it may import the domain (`policy`, `approval`, `budget`,
//! `audit`, `profile`, `state`) and the mechanisms (`sandbox`, `egress`);
//! nothing but a front-end imports it.
//!
//! Size: about 750 lines: `call` reads as the step list of one call (see
//! ENGINEERING.md), and its steps stay together (the result record is one
//! of them, written from the sandbox's `AfterTool` hook); the request and
//! outcome types are the part that could move out.

mod ask;
pub mod egress;
mod error;
pub mod gate;
pub mod guard;
mod host;
mod look;
pub mod plan;
pub mod records;
mod trace;
pub mod warm;

pub use ask::{AskHuman, HumanAnswer, QueueOnly};
pub use error::CallError;
use host::check_bound_paths;
pub use host::program_warnings;
pub use look::Look;
pub use records::verdict_by;
use trace::{log_append, log_decision, ms};

use crate::approval::Request;
use crate::audit::{self, AuditLog};
use crate::budget;
use crate::policy::{self, output, Decision, Outcome, ToolCall};
use crate::profile::{self, ProfileSet};
use crate::sandbox::plan::SandboxPlan;
use crate::sandbox::{self, RunOutcome};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the core finds the policy, the state and the log, and what it runs
/// for alerts and new approval requests: the settings every call shares.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub profiles: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub cgroup_parent: Option<PathBuf>,
    /// Run for alerting audit records (see `crate::audit::alert`).
    pub alert_command: Option<String>,
    /// Approval requests and budget counters (see `crate::state`).
    pub state_dir: Option<PathBuf>,
    /// Run for each new pending approval request (see `crate::approval::hook`).
    pub approval_hook: Option<String>,
    /// Prepared sandboxes of a long-lived front-end (`serve`, `mcp serve`),
    /// claimed by the calls it forks (see [`warm`]).
    pub pool: Option<std::sync::Arc<std::sync::Mutex<sandbox::pool::Pool>>>,
}

impl Context {
    pub fn load_profiles(&self) -> Result<ProfileSet, CallError> {
        let started = Instant::now();
        let dir = profile::locate(self.profiles.as_deref())?;
        let set = profile::load(dir.as_deref())?;
        for w in &set.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            "profiles: {} ({} roles, {} tools) loaded in {}",
            set.source,
            set.roles.len(),
            set.catalog.tools.len(),
            ms(started)
        );
        Ok(set)
    }

    pub fn audit_log(&self) -> Result<AuditLog, CallError> {
        let path = match &self.audit_log {
            Some(p) => p.clone(),
            None => audit::default_path()?,
        };
        Ok(AuditLog::new(&path).with_alert_command(self.alert_command.clone()))
    }

    /// The state directory (not created here).
    pub fn state(&self) -> Result<crate::state::StateDir, CallError> {
        Ok(crate::state::StateDir::locate(self.state_dir.as_deref())?)
    }
}

/// Where the tool's standard streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// The tool reads and writes the caller's own descriptors 0, 1 and 2.
    Inherit,
    /// Output is captured (bounded) into the outcome; stdin is still the caller's.
    Capture,
}

/// One tool call, fully described.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// Role, tool, parameters and extra arguments.
    pub call: ToolCall,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// Tokens the agent spent producing this call (counted against budgets).
    pub tokens: u64,
    pub stdio: Stdio,
    /// SHA-256 of what the tool reads on stdin, when it is known in
    /// advance (`--stdin-file`): bound by an approval.
    pub stdin_sha256: Option<String>,
    /// Who asks, when it is not this process's user: the broker's peer.
    /// An approval request records it as `requested_by`.
    pub requested_by: Option<crate::approval::Person>,
}

impl CallRequest {
    pub fn new(call: ToolCall) -> CallRequest {
        CallRequest {
            call,
            agent: None,
            session: None,
            tokens: 0,
            stdio: Stdio::Capture,
            stdin_sha256: None,
            requested_by: None,
        }
    }
}

/// What happened about human approval.
#[derive(Debug, Clone)]
pub enum ApprovalState {
    /// No approval was involved, or it was settled by the decision itself
    /// (a consumed approval, a denial of the identical call: see the reasons).
    Settled,
    /// A request waits for a human (exit 75).
    Pending {
        request: Box<Request>,
        /// Whether this call created it (false: an identical one was waiting).
        new: bool,
        /// The command that approves it.
        approve_command: String,
    },
    /// A human was asked through [`AskHuman`] and answered.
    Answered {
        request_id: String,
        approved: bool,
        reason: String,
    },
}

/// The sandbox's part of an outcome.
#[derive(Debug)]
pub struct ToolRun {
    pub outcome: RunOutcome,
    /// The program as resolved on the host.
    pub program: PathBuf,
    /// The role's timeout, for the message when it struck.
    pub timeout: Duration,
    /// The `tool_result` record's audit id.
    pub result_id: String,
    /// A hint about the failure (the role's missing network), also in the
    /// result record.
    pub hint: Option<String>,
    /// With [`Stdio::Capture`]: stdout and stderr after the role's output
    /// guards (`crate::policy::output`), what a front-end hands back to an
    /// agent; what they did is in the result record's `output_guard`.
    pub guarded: Option<GuardedStreams>,
}

/// The captured streams after the output guards.
#[derive(Debug, Clone)]
pub struct GuardedStreams {
    pub stdout: output::Guarded,
    pub stderr: output::Guarded,
}

/// Applies the role's output guards to captured streams; the call's
/// secret-named parameter values are redacted too.
fn guard_streams(role: &crate::profile::Role, d: &Decision, o: &RunOutcome) -> GuardedStreams {
    let guard = output::OutputGuard::new(role);
    let secrets: Vec<String> = d
        .params
        .iter()
        .filter(|(k, _)| audit::sensitive_key(k))
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .collect();
    let text = |c: &Option<sandbox::Captured>| {
        c.as_ref()
            .map(|c| String::from_utf8_lossy(&c.data).into_owned())
            .unwrap_or_default()
    };
    GuardedStreams {
        stdout: guard.guard("stdout", &text(&o.stdout), &secrets),
        stderr: guard.guard("stderr", &text(&o.stderr), &secrets),
    }
}

/// The typed outcome of [`call`].
#[derive(Debug)]
pub struct CallOutcome {
    /// The final decision (after budgets and approval).
    pub decision: Decision,
    /// The decision record's audit id.
    pub audit_id: String,
    pub budget: Option<budget::Report>,
    pub approval: ApprovalState,
    /// Present when the tool ran.
    pub run: Option<ToolRun>,
    /// The exit code the call ends with (the README's table).
    pub exit_code: i32,
}

/// A call that failed after the decision record was written carries its id,
/// so a front-end can still tie its answer to the log.
#[derive(Debug)]
pub struct CallFailure {
    pub error: CallError,
    pub audit_id: Option<String>,
    pub decision: Option<Outcome>,
}

impl From<CallError> for CallFailure {
    fn from(error: CallError) -> Self {
        CallFailure {
            error,
            audit_id: None,
            decision: None,
        }
    }
}

/// A failure before the decision record exists.
fn early<T, E: Into<CallError>>(r: Result<T, E>) -> Result<T, Box<CallFailure>> {
    r.map_err(|e| Box::new(CallFailure::from(e.into())))
}

/// The longest agent id, session id, role or tool name a call may carry:
/// they name state files and fill every record.
pub const MAX_NAME: usize = 256;

/// Refuses a request whose names are too long or not printable.
fn check_request(req: &CallRequest) -> Result<(), CallError> {
    let names = [
        ("--agent", req.agent.as_deref()),
        ("--session", req.session.as_deref()),
        ("--role", Some(req.call.role.as_str())),
        ("the tool name", Some(req.call.tool.as_str())),
    ];
    for (what, v) in names {
        let Some(v) = v else { continue };
        if v.len() > MAX_NAME {
            return Err(CallError::BadRequest(format!(
                "{what} is {} bytes; at most {MAX_NAME} are accepted",
                v.len()
            )));
        }
        if v.chars().any(|c| c.is_control()) {
            return Err(CallError::BadRequest(format!(
                "{what} {} contains control characters",
                crate::text::printable(&format!("{v:?}"))
            )));
        }
    }
    Ok(())
}

/// The exit code a decision ends with when it does not run the tool.
pub fn decision_exit(d: &Decision) -> i32 {
    match d.outcome {
        Outcome::Allow => crate::exit::OK,
        Outcome::NeedsApproval => crate::exit::APPROVAL_REQUIRED,
        Outcome::Deny => crate::exit::DENIED,
        Outcome::BadParameters => crate::exit::BAD_PARAMETERS,
    }
}

/// The environment a role's tool gets, from this process's environment.
fn plan_env(role: &crate::profile::Role) -> Vec<(String, String)> {
    plan::build_env(
        role,
        &|k| std::env::var(k).ok(),
        std::io::stdout().is_terminal(),
    )
}

/// The sandbox plan for a decision that produced an argv.
fn plan_for(set: &ProfileSet, call: &ToolCall, d: &Decision) -> Result<SandboxPlan, CallError> {
    let role = &set.roles[&call.role];
    let tool = &set.catalog.tools[&call.tool];
    plan::build(role, tool, d, plan_env(role)).map_err(|e| CallError::Sandbox(e.into()))
}

/// What [`check`] reports: the decision and everything `run` would do.
#[derive(Debug)]
pub struct CheckReport {
    pub decision: Decision,
    pub look: Look,
    /// The resolved program, or why it did not resolve (null without argv).
    pub program: Value,
    /// Why the program cannot run on this host, for a call that would
    /// otherwise run or wait for approval: `exit_code` is then 127 or 126,
    /// the code `run` would end with.
    pub not_runnable: Option<CallError>,
    /// The sandbox plan as JSON (null without argv).
    pub sandbox: Value,
    pub audit_id: String,
    pub exit_code: i32,
}

/// What a call would meet, as [`evaluate`] finds it: the decision after the
/// budget and approval look, the program and the sandbox plan.
#[derive(Debug)]
pub struct Evaluation {
    pub decision: Decision,
    pub look: Look,
    /// The resolved program, or why it did not resolve (null without argv).
    pub program: Value,
    /// Why the program cannot run on this host (see [`CheckReport`]).
    pub not_runnable: Option<CallError>,
    /// The sandbox plan as JSON (null without argv).
    pub sandbox: Value,
}

/// Decides a call against `set` and looks at its budget, approvals, program
/// and sandbox plan; writes nothing (no audit record, no state): what
/// [`check`] reports and `profiles test` compares.
pub fn evaluate(
    ctx: &Context,
    set: &ProfileSet,
    req: &CallRequest,
) -> Result<Evaluation, CallError> {
    check_request(req)?;
    let call = &req.call;
    // Decide; a bound path must exist on this host.
    let started = Instant::now();
    let mut d = policy::decide(set, call);
    check_bound_paths(set, call, &mut d);
    log_decision(&d, started);
    // Look at the budget and the approvals (nothing counted or consumed).
    let look = gate::Gate::new(ctx, set, req)?.look(&mut d)?;
    // Plan the sandbox and resolve the program, for the report: a call
    // that `run` would end with 127 or 126 is not runnable here.
    let mut sandbox_json = Value::Null;
    let mut program = Value::Null;
    let mut not_runnable = None;
    if !d.argv.is_empty() {
        let mut p = plan_for(set, call, &d)?;
        program = match sandbox::resolve_program(&p) {
            Ok(path) => {
                p.program = Some(path.clone());
                serde_json::json!(path)
            }
            Err(e) => {
                let e = CallError::Resolve(e);
                let text = format!("not runnable: {e}");
                if matches!(d.outcome, Outcome::Allow | Outcome::NeedsApproval) {
                    not_runnable = Some(e);
                }
                serde_json::json!(text)
            }
        };
        sandbox_json = serde_json::to_value(&p).unwrap_or(Value::Null);
    }
    Ok(Evaluation {
        decision: d,
        look,
        program,
        not_runnable,
        sandbox: sandbox_json,
    })
}

/// Decides, audits a dry-run record and reports; never executes, counts or
/// consumes anything.
pub fn check(ctx: &Context, req: &CallRequest) -> Result<CheckReport, CallError> {
    check_request(req)?;
    // 1. Load the role profiles.
    let set = ctx.load_profiles()?;
    // 2.-4. Decide, look at budget and approvals, plan, resolve.
    let Evaluation {
        decision: d,
        look,
        program,
        not_runnable,
        sandbox: sandbox_json,
    } = evaluate(ctx, &set, req)?;
    // 5. Audit the dry run.
    let mut rec = records::decision(req, &d, true);
    if let Some(b) = &look.budget {
        rec.detail("budget", b);
    }
    let exit_code = match &not_runnable {
        Some(e) => {
            rec.detail("not_runnable", e.to_string())
                .detail("exit_code", e.exit_code());
            e.exit_code()
        }
        None => decision_exit(&d),
    };
    let started = Instant::now();
    let log = ctx.audit_log()?;
    let at = log.append(&rec)?;
    log_append("dry-run decision", &log, &at, started);
    Ok(CheckReport {
        exit_code,
        decision: d,
        look,
        program,
        not_runnable,
        sandbox: sandbox_json,
        audit_id: rec.id,
    })
}

/// For a front-end that will make one call in this process, not served
/// from a pool (`agentjail run` without a broker): starts, at once, what
/// that call's sandbox can use before its profiles are even read, so that it
/// is made while the front-end parses and the call is decided. Today that is
/// the network namespace (root only, see [`sandbox::net::Ahead`]); the
/// launch decides whether its plan can use it. Unused (a denial, a plan
/// without a network namespace of its own), it ends with the process. The
/// caller is single-threaded.
pub fn prepare_one_shot() {
    sandbox::net::Ahead::start_for_this_process();
}

/// Runs one call: decide, admit (budget, approval), audit, sandbox, audit.
pub fn call(
    ctx: &Context,
    req: &CallRequest,
    human: &mut dyn AskHuman,
) -> Result<CallOutcome, Box<CallFailure>> {
    // 0. Nothing inherited beyond stdio reaches the sandbox.
    sandbox::close_inherited_fds();
    early(check_request(req))?;
    // 1. Load the role profiles.
    let set = early(ctx.load_profiles())?;
    let call = &req.call;
    // 2. Decide; a bound path must exist on this host (65 otherwise).
    let started = Instant::now();
    let mut d = policy::decide(&set, call);
    check_bound_paths(&set, call, &mut d);
    log_decision(&d, started);
    // 3. Under the state lock (src/run/gate.rs): deny a sandbox that would show
    //    the state directory; count the call against the session's budget (77
    //    beyond it); consume a matching approval, or queue a request for one.
    let log = early(ctx.audit_log())?;
    let gate = early(gate::Gate::new(ctx, &set, req))?;
    let started = Instant::now();
    let mut admission = early(gate.admit(&mut d, human))?;
    match &admission.budget {
        Some(b) => tracing::info!(
            "{} ({}) in {}",
            b.text(),
            if b.counted { "counted" } else { "not counted" },
            ms(started)
        ),
        None => tracing::info!("budget: none (role `{}` has no limits)", call.role),
    }
    // 4. Audit the decision before anything runs; no record, no run.
    let mut rec = records::decision(req, &d, false);
    gate.annotate(&admission, &mut rec);
    //    An allowed call with nothing to follow up writes it now and syncs
    //    it while the sandbox is built: the tool execs only once it is
    //    durable (a failed sync kills the sandbox first, as a failed append
    //    refuses the call).
    let started = Instant::now();
    // (follow_up writes records only for expired or new approval requests.)
    let overlap =
        d.outcome == Outcome::Allow && admission.expired.is_empty() && admission.pending.is_none();
    let unsynced = match overlap {
        true => {
            let u = early(log.append_unsynced(&rec))?;
            // A call likely served by a prepared sandbox, which needs no
            // fork, starts the sync now, on a thread, so the planning and
            // checks below overlap it too (if it misses after all, it waits
            // for the sync before the fork). Otherwise the sync overlaps
            // the new sandbox's set-up, after its fork.
            let u = audit::log::Syncing::new(u, warm::may_claim(ctx));
            tracing::info!(
                "audit: decision record #{} written to {} in {}; synced while {} (its \
                 before-exec step)",
                u.seq(),
                log.path().display(),
                ms(started),
                if u.threaded() {
                    "the call is planned and its sandbox claimed"
                } else {
                    "the sandbox is built"
                }
            );
            Some(u)
        }
        false => {
            let at = early(log.append(&rec))?;
            log_append("decision", &log, &at, started);
            None
        }
    };
    gate.follow_up(&admission, &log, &rec);
    // 4a. Still needs approval: ask the human, or report the queued request (75).
    let mut approval = ApprovalState::Settled;
    if d.outcome == Outcome::NeedsApproval {
        approval = early(gate.ask(&mut admission, &mut d, &log, &rec, human))?;
    }
    tracing::info!(
        "approval: {}",
        match &approval {
            ApprovalState::Pending { request, new, .. } => format!(
                "request {} pending ({})",
                request.id,
                if *new { "new" } else { "already queued" }
            ),
            ApprovalState::Answered { approved, .. } => format!(
                "asked at the terminal: {}",
                if *approved { "yes" } else { "no" }
            ),
            ApprovalState::Settled => rec
                .approval_status
                .clone()
                .unwrap_or_else(|| "not needed".into()),
        }
    );
    let budget = admission.budget.take();
    // 5. Stop unless allowed: denial, bad parameters, pending approval.
    if d.outcome != Outcome::Allow {
        return Ok(CallOutcome {
            exit_code: decision_exit(&d),
            decision: d,
            audit_id: rec.id,
            budget,
            approval,
            run: None,
        });
    }
    let execute = || -> Result<ToolRun, CallError> {
        // 6. Plan the sandbox; resolve the program on the host (127/126 before any sandbox).
        let started = Instant::now();
        let mut p = plan_for(&set, call, &d)?;
        let program = sandbox::resolve_program(&p).map_err(CallError::Resolve)?;
        p.program = Some(program.clone());
        p.cgroup_parent = ctx.cgroup_parent.clone();
        tracing::info!(
            "sandbox: planned in {}: program {}, network {}, uid {}",
            ms(started),
            program.display(),
            match p.network {
                sandbox::plan::NetworkMode::None if p.egress.is_empty() => "none",
                sandbox::plan::NetworkMode::None => "egress proxy",
                sandbox::plan::NetworkMode::Host => "host",
            },
            p.uid
        );
        // 7. Check the mechanisms the role requires and build the filters.
        let started = Instant::now();
        let prepared = sandbox::prepare(p, program)?;
        tracing::info!(
            "sandbox: mechanisms checked and filters built in {} (seccomp {}, Landlock ABI {})",
            ms(started),
            if prepared.mechanisms.seccomp {
                "on"
            } else {
                "off"
            },
            prepared.mechanisms.landlock_abi
        );
        // 8. Run the tool in its sandbox and wait for it; the role's egress
        //    allow-list is served from outside, on the listener pid 1 hands over.
        let mut proxy: Option<crate::egress::Proxy> = None;
        let mut serve_egress = |listener: std::net::TcpListener| {
            match egress::start_proxy(ctx, listener, &prepared.plan, log.path(), &rec) {
                Ok(p) => proxy = Some(p),
                // The listener is dropped: the tool's connections are refused.
                Err(e) => {
                    tracing::error!("egress proxy not started: {e}");
                    let _ = log
                        .append(&rec.error_after(&format!("starting the egress proxy: {e}"), 125));
                }
            }
        };
        let capture = req.stdio == Stdio::Capture;
        let sync = || unsynced.as_ref().map_or(Ok(()), |u| u.sync());
        //    A prepared sandbox built from this same plan serves the call when
        //    the front-end keeps a pool; otherwise (and then the front-end is
        //    asked to prepare some) a new one.
        let claimed = warm::claim(ctx, call, &prepared);
        let before_exec = sandbox::BeforeExec {
            step: &sync,
            threaded: unsynced.as_ref().is_some_and(|u| u.threaded()),
        };
        // 9. Audit the result: as soon as the tool has ended, while its
        //    sandbox ends (the sync overlaps the teardown); after the egress
        //    proxy's own end records when it has one.
        let record_result = |outcome: &sandbox::RunOutcome| -> Result<Recorded, CallError> {
            let code = outcome_exit(outcome);
            let hint = records::network_hint(&call.role, &prepared.plan, outcome, code);
            let mut result =
                records::result(req, &d, &prepared, outcome, code, &rec.id, hint.as_deref());
            let guarded = capture.then(|| guard_streams(&set.roles[&call.role], &d, outcome));
            if let Some(g) = guarded
                .as_ref()
                .filter(|g| g.stdout.noteworthy() || g.stderr.noteworthy())
            {
                result.detail(
                    "output_guard",
                    serde_json::json!({"stdout": g.stdout.summary(), "stderr": g.stderr.summary()}),
                );
            }
            let started = Instant::now();
            // Written now; synced on a thread while the sandbox ends and its
            // cgroup is removed, and waited for before the call's outcome is
            // reported (a failed sync fails the call as a failed append
            // does). A failed exec's error record follows a synced one.
            let written = log.append_unsynced(&result)?;
            let syncing = match outcome.exec_errno {
                None => {
                    let s = audit::log::Syncing::new(written, true);
                    tracing::info!(
                        "audit: result record #{} written to {} in {}; synced while the sandbox \
                         ends",
                        s.seq(),
                        log.path().display(),
                        ms(started)
                    );
                    Some((s, started))
                }
                Some(errno) => {
                    log_append("result", &log, &written.finish()?, started);
                    let why = nix::errno::Errno::from_raw(errno).desc();
                    let what = format!("executing {}: {why}", prepared.program.display());
                    let _ = log.append(&rec.error_after(&what, code));
                    None
                }
            };
            Ok(Recorded {
                result_id: result.id,
                hint,
                guarded,
                syncing,
            })
        };
        let mut recorded = None;
        let mut at_tool_end = |o: &sandbox::RunOutcome| recorded = Some(record_result(o));
        let after_tool: Option<sandbox::AfterTool<'_>> = match prepared.plan.egress.is_empty() {
            true => Some(&mut at_tool_end),
            false => None,
        };
        let launched = sandbox::launch_in(
            &prepared,
            capture,
            &mut serve_egress,
            Some(before_exec),
            claimed,
            after_tool,
        );
        if let Some(p) = proxy.take() {
            p.stop();
        }
        let outcome = launched?;
        let Recorded {
            result_id,
            hint,
            guarded,
            syncing,
        } = match recorded {
            Some(r) => r?,
            None => record_result(&outcome)?,
        };
        if let Some((s, started)) = syncing {
            let at = s.finish()?;
            tracing::info!(
                "audit: result record #{} synced, {} after it was written",
                at.seq,
                ms(started)
            );
        }
        Ok(ToolRun {
            outcome,
            program: prepared.program.clone(),
            timeout: prepared.plan.timeout,
            result_id,
            hint,
            guarded,
        })
    };
    let started = Instant::now();
    let executed = execute();
    // The decision record's sync: done by the sandbox before the exec, or
    // (a call that failed before its sandbox got that far) here, before the
    // error record. A failed sync fails the call as a failed append does.
    if let Some(Err(e)) = unsynced.map(|u| u.finish()) {
        return Err(Box::new(CallFailure {
            error: e.into(),
            audit_id: None,
            decision: Some(d.outcome),
        }));
    }
    match executed {
        Ok(run) => {
            let exit_code = outcome_exit(&run.outcome);
            tracing::info!(
                "result: exit {exit_code} (verdict by {}); sandbox {} ms, plan to result record {}",
                verdict_by(&run.outcome),
                run.outcome.duration_ms,
                ms(started)
            );
            Ok(CallOutcome {
                exit_code,
                decision: d,
                audit_id: rec.id,
                budget,
                approval,
                run: Some(run),
            })
        }
        Err(e) => {
            // Best effort: the failure is audited (and alerted) too.
            let _ = log.append(&rec.error_after(&crate::text::chain(&e), e.exit_code()));
            Err(Box::new(CallFailure {
                error: e,
                audit_id: Some(rec.id),
                decision: Some(d.outcome),
            }))
        }
    }
}

/// What the result record left for the call's outcome.
struct Recorded {
    result_id: String,
    hint: Option<String>,
    guarded: Option<GuardedStreams>,
    /// The result record's sync, still running (and when it was written).
    syncing: Option<(audit::log::Syncing, Instant)>,
}

/// The exit code for a finished run.
pub fn outcome_exit(o: &RunOutcome) -> i32 {
    use crate::exit;
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
