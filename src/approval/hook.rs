//! The approval hook: a command run for each new pending request (chat-ops,
//! paging), bounded in time, with the request on its stdin.

use super::{Request, DEFAULT_HOOK_TIMEOUT};
use crate::state::StateDir;
use crate::state::StateError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::time::{Duration, Instant};

/// Runs `--approval-hook` for a new request: `/bin/sh -c CMD` in its own
/// process group, the request as JSON on stdin, stdout and stderr on
/// /dev/null, killed after `AGENTJAIL_APPROVAL_HOOK_TIMEOUT` (default 5 s).
pub fn run_hook(command: &str, req: &Request, approve: &str, deny: &str) -> Result<(), String> {
    let timeout = std::env::var("AGENTJAIL_APPROVAL_HOOK_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .unwrap_or(DEFAULT_HOOK_TIMEOUT);
    let mut payload = serde_json::to_value(req).unwrap_or(Value::Null);
    payload["approve_command"] = json!(approve);
    payload["deny_command"] = json!(deny);
    let fd = nix::sys::memfd::memfd_create(
        c"agentjail-approval",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| format!("memfd_create: {e}"))?;
    let mut stdin = File::from(fd);
    let mut text = serde_json::to_vec(&payload).unwrap_or_default();
    text.push(b'\n');
    stdin
        .write_all(&text)
        .and_then(|()| stdin.rewind())
        .map_err(|e| format!("writing the request: {e}"))?;
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::from(stdin))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .env("AGENTJAIL_APPROVAL_ID", &req.id)
        .env("AGENTJAIL_APPROVAL_COMMAND", approve)
        .env("AGENTJAIL_DENY_COMMAND", deny)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start `/bin/sh -c {command}`: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(match status.code() {
                    Some(c) => format!("exit status {c}"),
                    None => format!("killed by signal {}", status.signal().unwrap_or(0)),
                })
            }
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(format!(
                    "timed out after {}; killed",
                    humantime::format_duration(timeout)
                ));
            }
            Err(e) => return Err(format!("waiting for it: {e}")),
        }
    }
}

/// How many hook runs a state directory allows per minute by default
/// (`AGENTJAIL_APPROVAL_HOOK_PER_MINUTE` sets another number).
pub const DEFAULT_HOOK_PER_MINUTE: u64 = 10;

/// The hook's rate window, kept in the state directory as `hooks.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    /// Seconds since the epoch when the window began.
    start: u64,
    runs: u64,
    suppressed: u64,
}

/// Whether the hook may run now: at most the allowed number of runs per
/// minute for this state directory, counted under the state lock. `Ok(Some(n))`:
/// suppressed, the `n`th time in this window. A damaged window file starts
/// a new window (it only ever limits notifications, never a call).
pub fn admit(state: &StateDir) -> Result<Option<u64>, StateError> {
    let per_minute = std::env::var("AGENTJAIL_APPROVAL_HOOK_PER_MINUTE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_HOOK_PER_MINUTE);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let lock = state.lock()?;
    let path = state.sub("hooks.json");
    let mut w: Window = state.read_json(&path).ok().flatten().unwrap_or_default();
    if now.saturating_sub(w.start) >= 60 {
        w = Window {
            start: now,
            runs: 0,
            suppressed: 0,
        };
    }
    let verdict = if w.runs < per_minute {
        w.runs += 1;
        None
    } else {
        w.suppressed += 1;
        Some(w.suppressed)
    };
    state.write_json(&lock, &path, &w)?;
    Ok(verdict)
}
