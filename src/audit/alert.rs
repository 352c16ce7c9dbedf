//! Alerts: the configured command (`--alert-command`, or
//! `AGENTJAIL_ALERT_COMMAND`) runs for every audit record that calls for a
//! human's attention, once the record is on disk:
//!
//! - a call of risk class `delete` or `external` (not for `check`'s dry runs),
//! - a critical denial (`severity: critical`: a suspicious value, an
//!   injection hit), also for dry runs,
//! - an `error` record (but not the record of a failed alert).
//!
//! The command runs as `/bin/sh -c CMD` in its own process group, with the
//! record's JSON line on stdin (a memfd, so writing it never blocks), stdout
//! and stderr on /dev/null, and `AGENTJAIL_ALERT_REASON`,
//! `AGENTJAIL_AUDIT_SEQ`, `AGENTJAIL_AUDIT_HASH` and `AGENTJAIL_AUDIT_LOG` in
//! its environment. agentjail does not wait for it while the tool runs. Before
//! agentjail exits it waits for each alert until the alert's time is up
//! (`AGENTJAIL_ALERT_TIMEOUT`, default 2s, counted from the start), kills the
//! process group of one that is still running, and appends an `error` record
//! with `alert_failed` for every alert that could not start, exited non-zero,
//! was killed by a signal or timed out.

use super::chain::Sealed;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::io::{Seek, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long an alert may run by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a record calls for an alert, or `None`.
pub fn reason(record: &Map<String, Value>) -> Option<String> {
    let s = |k: &str| record.get(k).and_then(Value::as_str);
    if s("event_type") == Some("error") {
        return (!record.contains_key("alert_failed")).then(|| "error".to_string());
    }
    if s("severity") == Some("critical") {
        return Some("critical".to_string());
    }
    let dry_run = record.get("dry_run").and_then(Value::as_bool) == Some(true);
    match s("risk_level") {
        Some(risk @ ("delete" | "external")) if !dry_run => Some(format!("risk {risk}")),
        _ => None,
    }
}

/// Who the alerted record was about, for the record of a failed alert.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub role: Option<String>,
    pub tool: Option<String>,
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
}

impl Subject {
    pub fn of(record: &Map<String, Value>) -> Subject {
        let s = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_string);
        Subject {
            role: s("role"),
            tool: s("tool"),
            agent_id: s("agent_id"),
            session_id: s("session_id"),
        }
    }
}

/// An alert that did not succeed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub subject: Subject,
    pub seq: u64,
    pub hash: String,
    pub reason: String,
    pub cause: String,
}

struct Pending {
    child: Child,
    started: Instant,
    failure: Failure,
}

/// The alert command and the alerts started so far.
pub struct Alerts {
    command: Option<String>,
    timeout: Duration,
    pending: RefCell<Vec<Pending>>,
    failed: RefCell<Vec<Failure>>,
}

impl Alerts {
    pub fn new(command: Option<String>) -> Alerts {
        let timeout = std::env::var("AGENTJAIL_ALERT_TIMEOUT")
            .ok()
            .and_then(|v| humantime::parse_duration(v.trim()).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        Alerts {
            command,
            timeout,
            pending: RefCell::new(Vec::new()),
            failed: RefCell::new(Vec::new()),
        }
    }

    /// Starts the alert command for a written record, without waiting.
    pub fn fire(&self, log: &Path, record: &Sealed, reason: String, subject: Subject) {
        let Some(command) = &self.command else {
            return;
        };
        let failure = Failure {
            subject,
            seq: record.seq,
            hash: record.hash.clone(),
            reason,
            cause: String::new(),
        };
        match spawn(command, log, record, &failure.reason) {
            Ok(child) => self.pending.borrow_mut().push(Pending {
                child,
                started: Instant::now(),
                failure,
            }),
            Err(e) => self.failed.borrow_mut().push(Failure {
                cause: format!("could not start `/bin/sh -c {command}`: {e}"),
                ..failure
            }),
        }
    }

    /// Waits for the started alerts, each until its time is up, kills the
    /// ones still running and returns every failure.
    pub fn reap(&self) -> Vec<Failure> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let mut failed = std::mem::take(&mut *self.failed.borrow_mut());
        for mut p in pending {
            let deadline = p.started + self.timeout;
            let cause = loop {
                match p.child.try_wait() {
                    Ok(Some(status)) => break describe(status),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Ok(None) => {
                        let pgid = nix::unistd::Pid::from_raw(p.child.id() as i32);
                        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                        let _ = p.child.wait();
                        break Some(format!(
                            "timed out after {}; killed",
                            humantime::format_duration(self.timeout)
                        ));
                    }
                    Err(e) => break Some(format!("waiting for it: {e}")),
                }
            };
            if let Some(cause) = cause {
                failed.push(Failure { cause, ..p.failure });
            }
        }
        failed
    }
}

/// `None` for success, otherwise what went wrong.
fn describe(status: std::process::ExitStatus) -> Option<String> {
    if status.success() {
        None
    } else if let Some(code) = status.code() {
        Some(format!("exit status {code}"))
    } else {
        Some(format!(
            "killed by signal {}",
            status.signal().unwrap_or_default()
        ))
    }
}

fn spawn(command: &str, log: &Path, record: &Sealed, reason: &str) -> std::io::Result<Child> {
    // The record on stdin through a memfd: the command may read it or not,
    // and agentjail never blocks writing it.
    let fd = nix::sys::memfd::memfd_create(
        c"agentjail-alert",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )?;
    let mut stdin = std::fs::File::from(fd);
    stdin.write_all(&record.line)?;
    stdin.rewind()?;
    Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("AGENTJAIL_ALERT_REASON", reason)
        .env("AGENTJAIL_AUDIT_SEQ", record.seq.to_string())
        .env("AGENTJAIL_AUDIT_HASH", &record.hash)
        .env("AGENTJAIL_AUDIT_LOG", log)
        .process_group(0)
        .spawn()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::chain::object as rec;
    use serde_json::json;

    #[test]
    fn which_records_alert() {
        let cases = [
            (
                json!({"event_type": "decision", "risk_level": "read"}),
                None,
            ),
            (
                json!({"event_type": "decision", "risk_level": "delete", "dry_run": false}),
                Some("risk delete"),
            ),
            (
                json!({"event_type": "decision", "risk_level": "external"}),
                Some("risk external"),
            ),
            (
                json!({"event_type": "decision", "risk_level": "delete", "dry_run": true}),
                None,
            ),
            (
                json!({"event_type": "decision", "severity": "critical", "dry_run": true}),
                Some("critical"),
            ),
            (
                json!({"event_type": "decision", "severity": "warning"}),
                None,
            ),
            (json!({"event_type": "error"}), Some("error")),
            (
                json!({"event_type": "error", "alert_failed": {"seq": 1}}),
                None,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(reason(&rec(r.clone())).as_deref(), want, "{r}");
        }
    }

    fn sealed() -> Sealed {
        crate::audit::chain::seal(
            rec(json!({"event_type": "error"})),
            7,
            crate::audit::chain::GENESIS,
        )
    }

    #[test]
    fn alert_gets_the_record_on_stdin_and_failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got");
        let cmd = format!(
            "cat > {0}; echo \"$AGENTJAIL_ALERT_REASON $AGENTJAIL_AUDIT_SEQ\" >> {0}",
            out.display()
        );
        let a = Alerts::new(Some(cmd));
        let s = sealed();
        a.fire(dir.path(), &s, "error".into(), Subject::default());
        assert!(a.reap().is_empty());
        let got = std::fs::read(&out).unwrap();
        let mut want = s.line.clone();
        want.extend_from_slice(b"error 7\n");
        assert_eq!(got, want);

        let a = Alerts::new(Some("exit 3".into()));
        a.fire(dir.path(), &s, "error".into(), Subject::default());
        let f = a.reap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].cause, "exit status 3");
        assert_eq!(f[0].seq, 7);
    }

    #[test]
    fn slow_alerts_are_killed_after_the_timeout() {
        let mut a = Alerts::new(Some("sleep 30".into()));
        a.timeout = Duration::from_millis(200);
        let start = Instant::now();
        a.fire(
            Path::new("/x"),
            &sealed(),
            "error".into(),
            Subject::default(),
        );
        let f = a.reap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].cause.starts_with("timed out after 200ms"),
            "{}",
            f[0].cause
        );
    }
}
