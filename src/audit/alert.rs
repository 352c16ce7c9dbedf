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
//!
//! Alerts are rate limited across every process that writes the log:
//! at most N a window (`AGENTJAIL_ALERT_RATE`, `N/DURATION`, default
//! `10/1m`), counted in `PATH.alert-rate` beside the log (`START_MS COUNT
//! SUPPRESSED`, under its own `flock`). An alert over the limit does not run;
//! the alerts suppressed in a window are counted and audited as one `error`
//! record with `alert_suppressed`, written with the first alert of a later
//! window. When the counter file cannot be used, the alert runs (and a
//! process runs at most N alerts of its own).

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

/// Alerts run at most this many times a window by default.
pub const DEFAULT_RATE: (u32, Duration) = (10, Duration::from_secs(60));

/// How long a process waits for the counter file's lock.
const RATE_LOCK_WAIT: Duration = Duration::from_secs(1);

/// `N/DURATION` (e.g. `10/1m`).
fn parse_rate(text: &str) -> Option<(u32, Duration)> {
    let (n, d) = text.trim().split_once('/')?;
    let d = humantime::parse_duration(d.trim()).ok()?;
    (!d.is_zero()).then_some(())?;
    Some((n.trim().parse().ok()?, d))
}

/// Alerts that the rate limit kept from running in an earlier window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub count: u64,
    /// When their window started (RFC 3339).
    pub since: String,
    pub max: u32,
    pub window: Duration,
}

/// The counter file beside the log.
pub fn rate_path(log: &Path) -> std::path::PathBuf {
    let mut s = log.as_os_str().to_os_string();
    s.push(".alert-rate");
    std::path::PathBuf::from(s)
}

/// Why a record calls for an alert, or `None`.
pub fn reason(record: &Map<String, Value>) -> Option<String> {
    let s = |k: &str| record.get(k).and_then(Value::as_str);
    if s("event_type") == Some("error") {
        let about_alerts =
            record.contains_key("alert_failed") || record.contains_key("alert_suppressed");
        return (!about_alerts).then(|| "error".to_string());
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
    rate: (u32, Duration),
    /// Alerts this process started (bounded by the rate's count).
    started: std::cell::Cell<u32>,
    pending: RefCell<Vec<Pending>>,
    failed: RefCell<Vec<Failure>>,
}

impl Alerts {
    pub fn new(command: Option<String>) -> Alerts {
        let timeout = std::env::var("AGENTJAIL_ALERT_TIMEOUT")
            .ok()
            .and_then(|v| humantime::parse_duration(v.trim()).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        let rate = std::env::var("AGENTJAIL_ALERT_RATE")
            .ok()
            .and_then(|v| parse_rate(&v))
            .unwrap_or(DEFAULT_RATE);
        Alerts {
            command,
            timeout,
            rate,
            started: std::cell::Cell::new(0),
            pending: RefCell::new(Vec::new()),
            failed: RefCell::new(Vec::new()),
        }
    }

    /// Whether an alert may run now, and the alerts suppressed in an
    /// earlier window that are still to be audited.
    fn admit(&self, log: &Path) -> (bool, Option<Suppressed>) {
        let own = self.started.get() < self.rate.0;
        match count_alert(&rate_path(log), self.rate) {
            Ok(admitted) => admitted,
            Err(e) => {
                tracing::warn!("alert rate limit: {}: {e}", rate_path(log).display());
                (own, None)
            }
        }
    }

    /// Starts the alert command for a written record, without waiting,
    /// unless the rate limit holds it back. Returns the alerts suppressed
    /// in an earlier window, for the caller to audit.
    pub fn fire(
        &self,
        log: &Path,
        record: &Sealed,
        reason: String,
        subject: Subject,
    ) -> Option<Suppressed> {
        let Some(command) = &self.command else {
            return None;
        };
        let (run, suppressed) = self.admit(log);
        if !run {
            return suppressed;
        }
        self.started.set(self.started.get().saturating_add(1));
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
        suppressed
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

/// Counts one alert in the counter file: whether it may run, and the
/// suppressed alerts of an earlier window.
fn count_alert(
    path: &Path,
    (max, window): (u32, Duration),
) -> std::io::Result<(bool, Option<Suppressed>)> {
    use std::io::Read;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)?;
    let started = Instant::now();
    let mut file = file;
    let mut locked = loop {
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(l) => break l,
            Err((f, nix::errno::Errno::EWOULDBLOCK | nix::errno::Errno::EINTR))
                if started.elapsed() < RATE_LOCK_WAIT =>
            {
                file = f;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((_, e)) => return Err(e.into()),
        }
    };
    let mut text = String::new();
    (&mut *locked).take(256).read_to_string(&mut text)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let fields: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (mut start, mut count, mut suppressed) = match fields[..] {
        [a, b, c] if a <= now => (a, b, c),
        _ => (now, 0, 0),
    };
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    let mut earlier = None;
    if now - start >= window_ms {
        if suppressed > 0 {
            earlier = Some(Suppressed {
                count: suppressed,
                since: humantime::format_rfc3339_millis(
                    std::time::UNIX_EPOCH + Duration::from_millis(start),
                )
                .to_string(),
                max,
                window,
            });
        }
        (start, count, suppressed) = (now, 0, 0);
    }
    let run = count < u64::from(max);
    if run {
        count += 1;
    } else {
        suppressed += 1;
    }
    let line = format!("{start} {count} {suppressed}\n");
    locked.set_len(0)?;
    locked.write_all_at(line.as_bytes(), 0)?;
    Ok((run, earlier))
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
        a.fire(
            &dir.path().join("log"),
            &s,
            "error".into(),
            Subject::default(),
        );
        assert!(a.reap().is_empty());
        let got = std::fs::read(&out).unwrap();
        let mut want = s.line.clone();
        want.extend_from_slice(b"error 7\n");
        assert_eq!(got, want);

        let a = Alerts::new(Some("exit 3".into()));
        a.fire(
            &dir.path().join("log"),
            &s,
            "error".into(),
            Subject::default(),
        );
        let f = a.reap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].cause, "exit status 3");
        assert_eq!(f[0].seq, 7);
    }

    #[test]
    fn slow_alerts_are_killed_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Alerts::new(Some("sleep 30".into()));
        a.timeout = Duration::from_millis(200);
        let start = Instant::now();
        a.fire(
            &dir.path().join("log"),
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

    #[test]
    fn rate_is_parsed_and_counted_across_windows() {
        assert_eq!(parse_rate("10/1m"), Some((10, Duration::from_secs(60))));
        assert_eq!(
            parse_rate(" 3 / 500ms "),
            Some((3, Duration::from_millis(500)))
        );
        assert_eq!(parse_rate("3/0s"), None);
        assert_eq!(parse_rate("x/1m"), None);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.alert-rate");
        let rate = (2, Duration::from_secs(3600));
        let runs: Vec<bool> = (0..5).map(|_| count_alert(&p, rate).unwrap().0).collect();
        assert_eq!(runs, [true, true, false, false, false]);
        // The window is over: the next alert runs and reports the three.
        let text = std::fs::read_to_string(&p).unwrap();
        let rest = text.split_once(' ').unwrap().1;
        std::fs::write(&p, format!("0 {rest}")).unwrap();
        let (run, earlier) = count_alert(&p, rate).unwrap();
        assert!(run);
        let e = earlier.unwrap();
        assert_eq!((e.count, e.max), (3, 2));
        assert_eq!(e.since, "1970-01-01T00:00:00.000Z");
        assert_eq!(count_alert(&p, rate).unwrap(), (true, None));
    }
}
