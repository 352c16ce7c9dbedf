//! One `tools/call`: run through the call core in a forked child, answered
//! as an MCP `CallToolResult`.
//!
//! The child puts /dev/null on its stdin and stdout (the tool must neither
//! read the protocol's input nor write into its output), runs
//! `crate::run::call` with captured output, turns the outcome into the
//! result object and sends it back on a pipe, as one JSON line
//! (`{"result": …}`). A call that needs approval queues a request, unless
//! the role has `approval.from_client` and the client offers elicitation:
//! then the child sends `{"ask": MESSAGE}` first and waits for `yes` or
//! `no` on a second pipe, which the server fills from the client's answer
//! to its `elicitation/create`. The server process itself never calls the
//! launcher, so it stays single-threaded and alive whatever a call does.

use crate::policy::output::Guarded;
use crate::policy::params::Params;
use crate::policy::{Decision, Outcome, ToolCall};
use crate::profile::OutputFormat;
use crate::run::{self, ApprovalState, CallOutcome, CallRequest, Context, Stdio};
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

/// One `tools/call` as the server hands it over.
pub struct Call<'a> {
    pub role: &'a str,
    pub tool: &'a str,
    pub arguments: Map<String, Value>,
    /// Appended to the command, when the tool allows it.
    pub extra_args: Vec<String>,
    pub agent: Option<String>,
    pub session: &'a str,
    /// The tool's declared stdout format (`json`: structuredContent too).
    pub format: OutputFormat,
    /// The client offered elicitation: a role with `approval.from_client`
    /// asks its human through it.
    pub elicitation: bool,
}

/// A call running in its child process.
pub struct Running {
    /// The request's id, for the answer.
    pub id: Value,
    /// A `notifications/cancelled` named it: no answer goes back.
    pub cancelled: bool,
    /// The id of the `elicitation/create` request waiting for the client.
    pub asking: Option<Value>,
    pid: nix::unistd::Pid,
    pipe: std::fs::File,
    /// Where the human's answer goes back to the call.
    answers: std::fs::File,
    bytes: Vec<u8>,
    /// `finish` has waited for the child already.
    reaped: bool,
}

/// What the call's process sent.
pub enum Event {
    /// Nothing complete yet.
    Nothing,
    /// It asks the human (the message to show).
    Ask(String),
    /// It has finished: the result object.
    Done(Value),
}

impl Running {
    /// The pipe the result comes back on, to poll.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.pipe.as_fd()
    }

    /// Reads what the child has sent. The result line is the child's last
    /// act (it then only exits), so it is answered as soon as it is whole,
    /// without waiting for the exit; the child is reaped later
    /// ([`Running::pid`], [`reap`]). An end without a whole result line is
    /// reported with how the child ended.
    pub fn read(&mut self) -> Event {
        // (16 KiB: each page of the stack that is zeroed here after a fork,
        // while the call's process still shares it, is a page copied.)
        let mut chunk = [0u8; 16384];
        match self.pipe.read(&mut chunk) {
            Ok(0) => Event::Done(self.finish(None)),
            Ok(n) => {
                self.bytes.extend_from_slice(&chunk[..n]);
                // An ask is one line; the result is the last one.
                let Some(end) = self.bytes.iter().position(|&b| b == b'\n') else {
                    return Event::Nothing;
                };
                let line: Vec<u8> = self.bytes.drain(..=end).collect();
                match serde_json::from_slice::<Value>(&line) {
                    Ok(v) if v.get("ask").is_some() => {
                        Event::Ask(v["ask"].as_str().unwrap_or_default().to_string())
                    }
                    Ok(mut v) if v.get("result").is_some() && self.bytes.is_empty() => {
                        Event::Done(v["result"].take())
                    }
                    // Anything else: kept for finish, which says what is wrong.
                    _ => {
                        let mut all = line;
                        all.append(&mut self.bytes);
                        self.bytes = all;
                        Event::Nothing
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Event::Nothing,
            Err(e) => Event::Done(self.finish(Some(format!("reading its result: {e}")))),
        }
    }

    /// The child's pid, to reap once it has answered ([`reap`]); none when
    /// it was reaped already (its pid may belong to another child by now).
    pub fn unreaped(&self) -> Option<nix::unistd::Pid> {
        (!self.reaped).then_some(self.pid)
    }

    /// Hands the human's answer to the call.
    pub fn answer(&mut self, approved: bool) {
        self.asking = None;
        let _ = self
            .answers
            .write_all(if approved { b"yes\n" } else { b"no\n" });
    }

    /// Asks the call to stop: SIGTERM to its process, which forwards it
    /// into the sandbox once the tool runs; the core still records the
    /// result.
    pub fn stop(&self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGTERM);
    }

    fn finish(&mut self, error: Option<String>) -> Value {
        use nix::sys::wait::{waitpid, WaitStatus};
        let status = loop {
            match waitpid(self.pid, None) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other,
            }
        };
        self.reaped = true;
        let why = match (error, status) {
            (Some(e), _) => e,
            (None, Ok(WaitStatus::Exited(_, 0))) => {
                match serde_json::from_slice::<Value>(&self.bytes) {
                    Ok(mut v) if v.get("result").is_some() => return v["result"].take(),
                    Ok(_) => "its result has no `result`".to_string(),
                    Err(e) => format!("its result is not JSON: {e}"),
                }
            }
            (None, Ok(WaitStatus::Exited(_, c))) => format!("it exited {c}"),
            (None, Ok(WaitStatus::Signaled(_, s, _))) => format!("killed by {s}"),
            (None, Ok(other)) => format!("{other:?}"),
            (None, Err(e)) => format!("waitpid: {e}"),
        };
        failed(&format!("the call's process failed: {why}"), None)
    }
}

/// Reaps the children in `pids` that have ended (all of them, waiting,
/// with `wait`); keeps the others.
pub fn reap(pids: &mut Vec<nix::unistd::Pid>, wait: bool) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let flags = (!wait).then_some(WaitPidFlag::WNOHANG);
    pids.retain(|&pid| loop {
        match waitpid(pid, flags) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(WaitStatus::StillAlive) => break true,
            _ => break false,
        }
    });
}

/// The human behind the MCP client, asked through the server (which sends
/// `elicitation/create`) from the call's process.
struct ClientAsk {
    /// To the server: ask lines, then the result line.
    out: std::fs::File,
    /// From the server: `yes` or `no`.
    answers: std::fs::File,
    offered: bool,
}

impl run::AskHuman for ClientAsk {
    fn available(
        &mut self,
        role: &crate::profile::Role,
    ) -> Result<bool, crate::approval::ApprovalError> {
        Ok(self.offered
            && role.approval.from_client
            && crate::approval::may_decide(
                &role.approval.approvers,
                &crate::approval::Person::me(),
            ))
    }

    fn ask(
        &mut self,
        request: &crate::approval::Request,
        timeout: std::time::Duration,
    ) -> run::HumanAnswer {
        let answer = |approved: bool, reason: String| run::HumanAnswer {
            approved,
            by: crate::approval::Person::me(),
            reason,
            channel: "the MCP client (elicitation)".into(),
        };
        let message = format!(
            "agentjail: approve one run of tool `{}` for role `{}` (risk {}), parameters {}, \
             session {}? (request {})",
            request.tool,
            request.role,
            request.risk.as_deref().unwrap_or("-"),
            crate::text::shorten(&request.params.to_string(), 2000),
            request.session.as_deref().unwrap_or("-"),
            request.id
        );
        let line = format!("{}\n", json!({ "ask": message }));
        if self.out.write_all(line.as_bytes()).is_err() {
            return answer(false, "the server did not take the question".into());
        }
        match read_answer(&mut self.answers, timeout) {
            Some(true) => answer(true, "approved through the MCP client".into()),
            Some(false) => answer(false, "declined through the MCP client".into()),
            None => answer(
                false,
                format!(
                    "no answer through the MCP client within {}s",
                    timeout.as_secs()
                ),
            ),
        }
    }
}

/// Waits at most `timeout` for `yes` or `no` from the server.
fn read_answer(from: &mut std::fs::File, timeout: std::time::Duration) -> Option<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return None,
        }
        let mut b = [0u8; 16];
        match from.read(&mut b) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
        if got.contains(&b'\n') {
            return Some(got.starts_with(b"yes"));
        }
    }
}

/// Starts the call in a child; the error result when it cannot start.
pub fn start(ctx: &Context, c: Call<'_>, id: Value) -> Result<Running, Value> {
    let params: Params = c.arguments.into_iter().collect();
    let call = ToolCall {
        role: c.role.to_string(),
        tool: c.tool.to_string(),
        json_params: params.keys().cloned().collect(),
        params,
        extra_args: c.extra_args,
    };
    let mut req = CallRequest::new(call);
    req.agent = c.agent;
    req.session = Some(c.session.to_string());
    req.stdio = Stdio::Capture;
    let format = c.format;
    let offered = c.elicitation;
    let (pid, pipe, answers) = in_child(|out, answers| {
        let mut human = ClientAsk {
            out,
            answers,
            offered,
        };
        let v = json!({ "result": call_result(ctx, &req, format, &mut human) });
        let mut line = serde_json::to_vec(&v).unwrap_or_default();
        line.push(b'\n');
        human.out.write_all(&line).is_ok()
    })
    .map_err(|why| failed(&format!("the call's process failed: {why}"), None))?;
    Ok(Running {
        id,
        cancelled: false,
        asking: None,
        pid,
        pipe,
        answers,
        bytes: Vec::new(),
        reaped: false,
    })
}

/// Forks a child that runs `f` with the writing end of one pipe (to the
/// server) and the reading end of another (from it); `f` says whether it
/// could send its result. The child's pid and the server's two ends.
type Ends = (nix::unistd::Pid, std::fs::File, std::fs::File);
fn in_child(f: impl FnOnce(std::fs::File, std::fs::File) -> bool) -> Result<Ends, String> {
    use nix::unistd::{fork, pipe2, ForkResult};
    let flags = nix::fcntl::OFlag::O_CLOEXEC;
    let (r, w) = pipe2(flags).map_err(|e| format!("pipe: {e}"))?;
    let (ar, aw) = pipe2(flags).map_err(|e| format!("pipe: {e}"))?;
    let parent = nix::unistd::getpid();
    // SAFETY: the server is single-threaded (checked at start), so the child
    // may run arbitrary code after the fork.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            crate::alloc::forked_child();
            drop(r);
            drop(aw);
            // The call stops with the server (SIGTERM, forwarded into the
            // sandbox), as when the client cancels it; a server already
            // gone (the parent changed) means the same.
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
            if nix::unistd::getppid() != parent {
                // SAFETY: as below.
                unsafe { libc::_exit(1) }
            }
            let (out, answers) = (std::fs::File::from(w), std::fs::File::from(ar));
            let code = match quiet_stdio() {
                Ok(()) => i32::from(!f(out, answers)),
                Err(e) => {
                    let v = failed(&format!("putting /dev/null on the call's stdio: {e}"), None);
                    let line = format!("{}\n", json!({ "result": v }));
                    let _ = { out }.write_all(line.as_bytes());
                    0
                }
            };
            // SAFETY: _exit ends the child at once, without running the
            // parent's exit handlers or flushing buffers copied at the fork.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(w);
            drop(ar);
            Ok((child, std::fs::File::from(r), std::fs::File::from(aw)))
        }
    }
}

/// /dev/null on 0 and 1 in the call's process.
fn quiet_stdio() -> std::io::Result<()> {
    let null: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?
        .into();
    for fd in [0, 1] {
        nix::unistd::dup2(null.as_raw_fd(), fd)?;
    }
    Ok(())
}

/// The call through the core, as a `CallToolResult`.
fn call_result(
    ctx: &Context,
    req: &CallRequest,
    format: OutputFormat,
    human: &mut dyn run::AskHuman,
) -> Value {
    match run::call(ctx, req, human) {
        Ok(o) => match &o.run {
            Some(_) => ran(req, &o, format),
            None => refused(&o),
        },
        Err(f) => {
            let meta = json!({
                "exit_code": f.error.exit_code(),
                "audit_id": f.audit_id,
                "decision": f.decision.map(|d| d.as_str()),
                "verdict_by": "agentjail",
            });
            failed(&crate::text::chain(&f.error), Some(meta))
        }
    }
}

/// An error result: agentjail could not run the call.
fn failed(why: &str, meta: Option<Value>) -> Value {
    error_result(
        vec![format!("agentjail failed: {}", crate::text::printable(why))],
        meta.unwrap_or_else(
            || json!({"exit_code": crate::exit::LAUNCHER_FAILED, "verdict_by": "agentjail"}),
        ),
    )
}

fn text(t: impl Into<String>) -> Value {
    json!({"type": "text", "text": t.into()})
}

fn error_result(lines: Vec<String>, meta: Value) -> Value {
    json!({
        "content": [text(lines.join("\n"))],
        "isError": true,
        "_meta": {"agentjail/call": meta},
    })
}

/// A call that did not run: denied, bad parameters, waiting for approval.
fn refused(o: &CallOutcome) -> Value {
    let d = &o.decision;
    let mut meta = json!({
        "exit_code": o.exit_code,
        "audit_id": o.audit_id,
        "decision": d.outcome.as_str(),
        "reasons": d.reasons,
        "verdict_by": "agentjail",
    });
    let headline = crate::text::printable(d.headline());
    let mut lines = Vec::new();
    match (&o.approval, d.outcome) {
        (
            ApprovalState::Pending {
                request,
                approve_command,
                ..
            },
            _,
        ) => {
            lines.push(format!("approval required: {headline}"));
            lines.push(format!(
                "approval request {} is pending until {}; a human approves it with: {approve_command}",
                request.id, request.expires
            ));
            lines.push(
                "after it is approved, call this tool again with the same arguments: it runs once"
                    .into(),
            );
            meta["approval"] = json!({
                "request_id": request.id,
                "status": "pending",
                "expires": request.expires,
                "approve_command": approve_command,
            });
        }
        (
            ApprovalState::Answered {
                request_id,
                approved,
                reason,
            },
            _,
        ) => {
            lines.push(format!("denied: {headline}"));
            if !approved {
                meta["approval"] =
                    json!({"request_id": request_id, "status": "denied", "reason": reason});
            }
        }
        (ApprovalState::Settled, Outcome::NeedsApproval) => {
            lines.push(format!("approval required: {headline}"));
        }
        (ApprovalState::Settled, Outcome::BadParameters) => {
            lines.push(format!("bad parameters: {headline}"));
        }
        (ApprovalState::Settled, _) => lines.push(format!("denied: {headline}")),
    }
    lines.extend(notes(d));
    lines.push(format!(
        "(exit code {}, audit id {})",
        o.exit_code, o.audit_id
    ));
    error_result(lines, meta)
}

/// Reasons after the deciding one that the agent should see.
fn notes(d: &Decision) -> Vec<String> {
    d.reasons
        .iter()
        .skip(1)
        .filter(|r| r.rule == "approval_mismatch" || r.rule == "injection")
        .map(|r| crate::text::printable(&r.message))
        .collect()
}

/// A call that ran: its guarded output, stderr and exit code.
fn ran(req: &CallRequest, o: &CallOutcome, format: OutputFormat) -> Value {
    let Some(run) = &o.run else {
        return refused(o);
    };
    let out = &run.outcome;
    let empty = Guarded {
        text: String::new(),
        truncated: false,
        redactions: 0,
        injection: Vec::new(),
        refused: None,
    };
    let (stdout, stderr) = match &run.guarded {
        Some(g) => (&g.stdout, &g.stderr),
        None => (&empty, &empty),
    };
    let captured_cut =
        |c: &Option<crate::sandbox::Captured>| c.as_ref().is_some_and(|c| c.truncated);
    let mut meta = json!({
        "exit_code": o.exit_code,
        "audit_id": o.audit_id,
        "result_id": run.result_id,
        "decision": o.decision.outcome.as_str(),
        "verdict_by": run::verdict_by(out),
        "signal": out.signal,
        "timed_out": out.timed_out,
        "duration_ms": out.duration_ms,
        "truncated": {
            "stdout": captured_cut(&out.stdout) || stdout.truncated,
            "stderr": captured_cut(&out.stderr) || stderr.truncated,
        },
        "stderr": stderr.text,
    });
    if stdout.noteworthy() || stderr.noteworthy() {
        meta["output_guard"] = json!({"stdout": stdout.summary(), "stderr": stderr.summary()});
    }
    let mut content = Vec::new();
    let mut is_error = o.exit_code != crate::exit::OK;
    for (name, g) in [("stdout", stdout), ("stderr", stderr)] {
        if let Some(why) = &g.refused {
            is_error = true;
            content.push(text(format!(
                "output withheld: {}",
                crate::text::printable(why)
            )));
        } else if name == "stdout" {
            content.push(text(g.text.clone()));
        } else if !g.text.is_empty() {
            content.push(text(format!("[stderr]\n{}", g.text)));
        }
    }
    if out.timed_out {
        content.push(text(format!(
            "timeout: tool `{}` was killed after {}s (role `{}` limits.timeout_seconds)",
            req.call.tool,
            run.timeout.as_secs(),
            req.call.role
        )));
    } else if o.exit_code != crate::exit::OK {
        let mut line = format!("[exit code {}]", o.exit_code);
        if let Some(hint) = &run.hint {
            line.push_str(&format!(" hint: {}", crate::text::printable(hint)));
        }
        content.push(text(line));
    }
    let mut result = json!({
        "content": content,
        "isError": is_error,
        "_meta": {"agentjail/call": meta},
    });
    if format == OutputFormat::Json && stdout.refused.is_none() {
        match serde_json::from_str::<Value>(&stdout.text) {
            Ok(v @ Value::Object(_)) => result["structuredContent"] = v,
            Ok(other) => result["structuredContent"] = json!({ "result": other }),
            Err(e) => {
                result["_meta"]["agentjail/call"]["structured_error"] =
                    json!(format!("stdout is not JSON: {e}"))
            }
        }
    }
    result
}
