//! The log file: where it lives ([`default_path`], [`rotated_path`]), and
//! [`AuditLog`], which appends records under an exclusive `flock` (read the
//! last record, write the new line with `O_APPEND`, `fdatasync`), continues
//! the chain across rotation, sets the append-only flag, and starts the alert
//! command for records that call for one. The errors of writing are
//! [`AuditError`]. This is the only audit module that touches files.
//!
//! Size: about 660 lines: every write path (tail, mend, write, sync; the deferred
//! sync in log_unsynced.rs) keeps one lock discipline, kept in one file so it is
//! read and changed as one; the tests are in log_tests.rs.

use super::alert::{self, Alerts};
use super::bound::{bound_record, MAX_RECORD};
use super::chain::{hex, seal, Sealed, GENESIS};
use super::flags::{is_append_only, set_append_only};
use super::record::AuditRecord;
use super::redact::redact_record;
use super::tail::{find_tail, Damage, TailError, MAX_SCAN};
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long a writer waits for the log's lock by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("creating audit log directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "opening audit log {path} (set --audit-log or AGENTJAIL_AUDIT_LOG to a writable file)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("locking audit log {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "lock timeout: audit log {path} stayed locked by another process for {}",
        humantime::format_duration(*waited)
    )]
    LockTimeout { path: PathBuf, waited: Duration },
    #[error("reading the last record of audit log {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "audit log {path} cannot be extended: {why}; check it with `agentjail audit verify`, \
         then move it aside (not to PATH.1, which a new log continues) so a new chain can start"
    )]
    Damaged { path: PathBuf, why: String },
    #[error("appending to audit log {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("syncing audit log {path} to disk")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no audit log location: HOME and XDG_STATE_HOME are unset (use --audit-log)")]
    NoLocation,
}

/// The default log: `/var/log/agentjail/audit.jsonl` for root,
/// `$XDG_STATE_HOME/agentjail/audit.jsonl` (or `~/.local/state/...`) for a user.
pub fn default_path() -> Result<PathBuf, AuditError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from("/var/log/agentjail/audit.jsonl"));
    }
    let state = crate::state::user_state_home().ok_or(AuditError::NoLocation)?;
    Ok(state.join("agentjail/audit.jsonl"))
}

/// The name logrotate gives a log's N-th older file: `PATH.N`.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// What [`AuditLog::append`] wrote.
#[derive(Debug, Clone)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
}

/// Appends records to one log file, and runs the alert command for the
/// records that call for one.
pub struct AuditLog {
    path: PathBuf,
    lock_timeout: Duration,
    set_append_only: AppendOnly,
    alerts: Alerts,
}

/// When root sets the append-only flag on a log it creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOnly {
    /// Unless the log lies in a temporary directory ($TMPDIR, /tmp,
    /// /var/tmp, /dev/shm), whose cleaners must be able to remove it.
    Auto,
    Always,
    Never,
}

/// Whether root sets the append-only flag on a new log at `path` (the
/// rule of [`AuditLog::new`] and [`AppendOnly::Auto`]); for a process that
/// prepares a log before it gives up root (the broker's `user`).
pub fn append_only_wanted(path: &Path) -> bool {
    match AuditLog::new(path).set_append_only {
        AppendOnly::Never => false,
        AppendOnly::Always => true,
        AppendOnly::Auto => !path.parent().is_some_and(in_temp_dir),
    }
}

/// Whether `dir` lies in a temporary directory.
fn in_temp_dir(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    [
        std::env::temp_dir(),
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
        PathBuf::from("/dev/shm"),
    ]
    .iter()
    .filter_map(|t| t.canonicalize().ok())
    .any(|t| dir.starts_with(t))
}

impl AuditLog {
    /// A log at `path`. `AGENTJAIL_AUDIT_LOCK_TIMEOUT` (e.g. `10s`, `500ms`)
    /// bounds the wait for the lock; `AGENTJAIL_AUDIT_APPEND_ONLY` is `0`
    /// (root never sets the append-only flag on a new log), `1` (always,
    /// also in a temporary directory) or unset ([`AppendOnly::Auto`]).
    pub fn new(path: &Path) -> AuditLog {
        let lock_timeout = std::env::var("AGENTJAIL_AUDIT_LOCK_TIMEOUT")
            .ok()
            .and_then(|v| humantime::parse_duration(v.trim()).ok())
            .unwrap_or(DEFAULT_LOCK_TIMEOUT);
        let set_append_only = match std::env::var("AGENTJAIL_AUDIT_APPEND_ONLY").as_deref() {
            Ok("0" | "no" | "off" | "false") => AppendOnly::Never,
            Ok("1" | "yes" | "on" | "true") => AppendOnly::Always,
            _ => AppendOnly::Auto,
        };
        AuditLog {
            path: path.to_path_buf(),
            lock_timeout,
            set_append_only,
            alerts: Alerts::new(None),
        }
    }

    /// Runs `command` (with `/bin/sh -c`) for every record that calls for an
    /// alert; see [`super::alert`].
    pub fn with_alert_command(mut self, command: Option<String>) -> AuditLog {
        self.alerts = Alerts::new(command.filter(|c| !c.trim().is_empty()));
        self
    }

    /// When root sets the append-only flag on a log it creates.
    pub fn with_append_only_flag(mut self, when: AppendOnly) -> AuditLog {
        self.set_append_only = when;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, chained to the last one, and syncs it to disk
    /// before returning. Then starts the alert command when the record calls
    /// for one (without waiting for it).
    pub fn append(&self, record: &AuditRecord) -> Result<Appended, AuditError> {
        self.append_map(self.to_map(record)?)
    }

    fn to_map(&self, record: &AuditRecord) -> Result<Map<String, Value>, AuditError> {
        match serde_json::to_value(record) {
            Ok(Value::Object(map)) => Ok(map),
            _ => {
                let source = std::io::Error::other("the record is not a JSON object");
                let path = self.path.clone();
                Err(AuditError::Write { path, source })
            }
        }
    }

    /// Appends a record given as a JSON object (redacted here).
    pub fn append_map(&self, mut map: Map<String, Value>) -> Result<Appended, AuditError> {
        redact_and_bound(&mut map);
        let reason = alert::reason(&map);
        let who = reason.as_ref().map(|_| alert::Subject::of(&map));
        let sealed = self.write_chained(map)?;
        if let (Some(reason), Some(who)) = (reason, who) {
            // Only now that the record is durable.
            self.fire_alert(&sealed, reason, who);
        }
        Ok(Appended {
            seq: sealed.seq,
            hash: sealed.hash,
        })
    }

    /// One record that counts the alerts the rate limit suppressed.
    fn audit_suppressed(&self, s: &alert::Suppressed, who: &alert::Subject) {
        let mut r = AuditRecord::new("error", who.role.as_deref().unwrap_or(""));
        r.result = Some("alerts suppressed".into());
        let window = humantime::format_duration(s.window).to_string();
        r.detail(
            "error",
            format!(
                "{} alert(s) suppressed: more than {} in {window} from {}",
                s.count, s.max, s.since
            ),
        )
        .detail(
            "alert_suppressed",
            serde_json::json!({
                "count": s.count,
                "since": s.since,
                "max": s.max,
                "window": window,
            }),
        );
        if let Err(e) = self.append(&r) {
            tracing::warn!("could not audit {} suppressed alert(s): {e}", s.count);
        }
    }

    /// Waits (a bounded time) for the alert commands started so far and
    /// audits the ones that failed. Also done when the log is dropped.
    pub fn finish_alerts(&self) {
        for failure in self.alerts.reap() {
            let who = &failure.subject;
            let mut r = AuditRecord::new("error", who.role.as_deref().unwrap_or(""));
            r.tool = who.tool.clone();
            r.agent_id = who.agent_id.clone();
            r.session_id = who.session_id.clone();
            r.result = Some("alert failed".into());
            r.detail("error", format!("alert command failed: {}", failure.cause))
                .detail(
                    "alert_failed",
                    serde_json::json!({
                        "seq": failure.seq,
                        "hash": failure.hash,
                        "reason": failure.reason,
                        "cause": failure.cause,
                    }),
                );
            if let Err(e) = self.append(&r) {
                tracing::warn!("could not audit a failed alert: {e}");
            }
        }
    }

    /// Locks the log, finds the last record (and mends any damage after
    /// it), writes the new line with one `write(2)` and syncs it.
    fn write_chained(&self, map: Map<String, Value>) -> Result<Sealed, AuditError> {
        let w = self.write_locked(map)?;
        w.sync()?;
        Ok(w.sealed)
    }

    /// Appends one record like [`AuditLog::append`] but returns before the
    /// `fdatasync`, still holding the log's lock: the caller overlaps the
    /// sync with other work and calls [`Unsynced::sync`] (from any thread)
    /// before anything that depends on the record happens, then
    /// [`Unsynced::finish`]. No other record can be written (by anyone)
    /// until the sync released the lock; a failed sync removes the line.
    pub fn append_unsynced(&self, record: &AuditRecord) -> Result<Unsynced, AuditError> {
        let mut map = self.to_map(record)?;
        redact_and_bound(&mut map);
        let alert = alert::reason(&map).map(|r| (r, alert::Subject::of(&map)));
        let written = self.write_locked(map)?;
        let sealed = written.sealed.clone();
        // A record that alerts is synced now, so the alert is not held back
        // until the caller's work is done.
        let written = match alert {
            Some((reason, who)) => {
                written.sync()?;
                drop(written);
                self.fire_alert(&sealed, reason, who);
                None
            }
            None => Some(written),
        };
        Ok(Unsynced {
            sealed,
            path: self.path.clone(),
            written: std::sync::Mutex::new(written),
            failed: std::sync::Mutex::new(None),
        })
    }

    /// Starts the alert command for a durable record (and audits the alerts
    /// the rate limit suppressed).
    fn fire_alert(&self, sealed: &Sealed, reason: String, who: alert::Subject) {
        let subject = who.clone();
        if let Some(s) = self.alerts.fire(&self.path, sealed, reason, who) {
            self.audit_suppressed(&s, &subject);
        }
    }

    /// Locks the log, finds the last record (and mends any damage after
    /// it) and writes the new line with one `write(2)`; not yet synced.
    fn write_locked(&self, mut map: Map<String, Value>) -> Result<Written, AuditError> {
        let (file, created) = self.open_locked()?;
        let path = &self.path;
        let meta = file.metadata().map_err(|source| AuditError::Read {
            path: path.clone(),
            source,
        })?;
        let size = meta.len();
        let (chain, unterminated, damage) = if size > 0 {
            let tail = find_tail(&file, size).map_err(|e| tail_error(e, path))?;
            match (tail.last, tail.damage) {
                (Some((seq, hash)), damage) => (
                    (seq, hex(&hash)),
                    tail.unterminated,
                    damage.map(|d| (d, None)),
                ),
                (None, Some(d)) if d.cut => (self.continued_chain()?.0, false, Some((d, None))),
                (None, _) => return Err(AuditError::Damaged {
                    path: path.clone(),
                    why:
                        "its lines are not a chained audit record (written by an older agentjail?)"
                            .into(),
                }),
            }
        } else {
            let (chain, damage) = self.continued_chain()?;
            let older = rotated_path(path, 1);
            (chain, false, damage.map(|d| (d, Some(older))))
        };
        // (Only a log this writer created gets the flag: the temporary
        // directories' paths are resolved only then.)
        let flag = || match self.set_append_only {
            AppendOnly::Never => false,
            AppendOnly::Always => true,
            AppendOnly::Auto => !path.parent().is_some_and(in_temp_dir),
        };
        if created && nix::unistd::geteuid().is_root() && flag() {
            if let Err(e) = set_append_only(&file) {
                tracing::info!("append-only flag not set on {}: {e}", path.display());
            }
        }
        let append_only = is_append_only(&file);
        map.insert("log_append_only".into(), Value::Bool(append_only));
        // One buffer, one write: the end of a cut line, the record that
        // mends the damage, and the record.
        let mut buf = Vec::with_capacity(2048);
        let (mut seq, mut prev) = chain;
        let terminate = unterminated || damage.as_ref().is_some_and(|(d, f)| d.cut && f.is_none());
        if terminate {
            buf.push(b'\n');
        }
        if let Some((d, file_of)) = &damage {
            let mut r = recovered_record(d, file_of.as_deref(), terminate, path);
            r.insert("log_append_only".into(), Value::Bool(append_only));
            let mended = seal(r, seq + 1, &prev);
            tracing::warn!(
                "audit log {}: mended {} damaged byte(s) at offset {} with record {}",
                path.display(),
                d.bytes,
                d.offset,
                mended.seq
            );
            buf.extend_from_slice(&mended.line);
            seq = mended.seq;
            prev = mended.hash;
        }
        let sealed = seal(map, seq + 1, &prev);
        buf.extend_from_slice(&sealed.line);
        if let Err(source) = write_once(&file, &buf) {
            // Undo a partial line so the next writer finds a whole record.
            // Not possible once the file is append-only: then the next
            // writer mends it.
            let _ = file.set_len(size);
            return Err(AuditError::Write {
                path: path.clone(),
                source,
            });
        }
        Ok(Written {
            file,
            path: path.clone(),
            size,
            created,
            sealed,
        })
    }

    /// For a new or emptied log: the last record of the rotated `PATH.1`
    /// (and any damage after it), or the genesis.
    fn continued_chain(&self) -> Result<((u64, String), Option<Damage>), AuditError> {
        let genesis = || Ok(((0, GENESIS.to_string()), None));
        let older = rotated_path(&self.path, 1);
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&older)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return genesis(),
            Err(source) => {
                return Err(AuditError::Read {
                    path: older,
                    source,
                })
            }
        };
        // A writer that opened it before the rotation may still be writing.
        let file = lock_until(
            file,
            FlockArg::LockSharedNonblock,
            self.lock_timeout,
            &older,
        )?;
        let size = file
            .metadata()
            .map_err(|source| AuditError::Read {
                path: older.clone(),
                source,
            })?
            .len();
        if size == 0 {
            return genesis();
        }
        let tail = find_tail(&file, size).map_err(|e| tail_error(e, &older))?;
        match tail.last {
            Some((seq, hash)) => Ok(((seq, hex(&hash)), tail.damage)),
            None => Err(AuditError::Damaged {
                path: older,
                why: "the rotated log holds no chained audit record".into(),
            }),
        }
    }

    /// Creates the directory (0700) and the file (0600) when missing, opens
    /// the file for appending and takes its exclusive lock. Retries when the
    /// file was renamed (rotated) between opening and locking.
    fn open_locked(&self) -> Result<(Flock<File>, bool), AuditError> {
        let path = &self.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|source| AuditError::CreateDir {
                        path: dir.to_path_buf(),
                        source,
                    })?;
            }
        }
        let started = Instant::now();
        loop {
            let open = |create_new: bool| {
                let mut o = OpenOptions::new();
                o.read(true)
                    .append(true)
                    .mode(0o600)
                    .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW);
                if create_new {
                    o.create_new(true);
                }
                o.open(path)
            };
            let (file, created) = match open(true) {
                Ok(f) => (f, true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match open(false) {
                    Ok(f) => (f, false),
                    Err(source) => {
                        return Err(AuditError::Open {
                            path: path.clone(),
                            source,
                        })
                    }
                },
                Err(source) => {
                    return Err(AuditError::Open {
                        path: path.clone(),
                        source,
                    })
                }
            };
            let left = self.lock_timeout.saturating_sub(started.elapsed());
            let file = lock_until(file, FlockArg::LockExclusiveNonblock, left, path).map_err(
                |e| match e {
                    AuditError::LockTimeout { path, .. } => AuditError::LockTimeout {
                        path,
                        waited: self.lock_timeout,
                    },
                    other => other,
                },
            )?;
            // Still the file at `path`? Otherwise it was rotated meanwhile.
            let same = match (file.metadata(), std::fs::symlink_metadata(path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if same {
                return Ok((file, created));
            }
            if started.elapsed() >= self.lock_timeout {
                return Err(AuditError::LockTimeout {
                    path: path.clone(),
                    waited: self.lock_timeout,
                });
            }
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.finish_alerts();
    }
}

/// Redacts a record and replaces values that would make it too long.
fn redact_and_bound(map: &mut Map<String, Value>) {
    redact_record(map);
    let replaced = bound_record(map);
    if !replaced.is_empty() {
        tracing::warn!(
            "an audit record was longer than {MAX_RECORD} bytes: stored the size and SHA-256 \
             of {} instead",
            replaced.join(", ")
        );
    }
}

/// Takes a `flock`, polling without blocking until `timeout` has passed.
pub fn lock_until(
    file: File,
    arg: FlockArg,
    timeout: Duration,
    path: &Path,
) -> Result<Flock<File>, AuditError> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(500);
    let mut file = file;
    loop {
        match Flock::lock(file, arg) {
            Ok(locked) => return Ok(locked),
            Err((f, nix::errno::Errno::EWOULDBLOCK | nix::errno::Errno::EINTR)) => {
                if started.elapsed() >= timeout {
                    return Err(AuditError::LockTimeout {
                        path: path.to_path_buf(),
                        waited: timeout,
                    });
                }
                file = f;
                // Spread the retries of many waiting processes.
                let jitter = Duration::from_micros(u64::from(std::process::id() % 500));
                std::thread::sleep(pause + jitter);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err((_, errno)) => {
                return Err(AuditError::Lock {
                    path: path.to_path_buf(),
                    source: errno.into(),
                })
            }
        }
    }
}

fn tail_error(e: TailError, path: &Path) -> AuditError {
    let path = path.to_path_buf();
    match e {
        TailError::Io(source) => AuditError::Read { path, source },
        TailError::TooFar => AuditError::Damaged {
            path,
            why: format!("its last {MAX_SCAN} bytes hold no chained audit record"),
        },
    }
}

/// The `recovered` record that mends `damage` (in `file_of`, the rotated
/// file, when it is not the log itself).
fn recovered_record(
    damage: &Damage,
    file_of: Option<&Path>,
    terminated: bool,
    log: &Path,
) -> Map<String, Value> {
    let mut r = AuditRecord::new("recovered", "");
    let file = file_of.unwrap_or(log);
    r.result = Some("recovered".into());
    r.reasons.push(format!(
        "{} byte(s) at offset {} of {} were not a whole record: {}; the chain goes on from the \
         last whole record",
        damage.bytes,
        damage.offset,
        file.display(),
        damage.cause
    ));
    r.detail(
        "recovered",
        serde_json::json!({
            "file": file,
            "offset": damage.offset,
            "bytes": damage.bytes,
            "sha256": damage.sha256,
            "lines": damage.lines,
            "cut": damage.cut,
            "terminated": terminated,
            "cause": damage.cause,
        }),
    );
    match serde_json::to_value(&r) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Writes `buf` with a single `write(2)`: a record is either whole or cut
/// short, never interleaved with a second write of its own.
fn write_once(file: &File, buf: &[u8]) -> std::io::Result<()> {
    let n = nix::unistd::write(file, buf).map_err(std::io::Error::from)?;
    if n == buf.len() {
        return Ok(());
    }
    // A short write: the file system is full (or a file size limit).
    let full = nix::sys::statvfs::fstatvfs(file).is_ok_and(|s| s.blocks_available() == 0);
    if full {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    Err(std::io::Error::other(format!(
        "short write: {n} of {} bytes",
        buf.len()
    )))
}

#[path = "log_unsynced.rs"]
mod unsynced;
use unsynced::Written;
pub use unsynced::{Syncing, Unsynced};

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
