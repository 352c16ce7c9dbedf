//! `agentjail audit verify | head | tail`: checking and reading the
//! hash-chained audit log written by [`crate::audit`].

use super::AppError;
use crate::audit::{self, check_line, LineFault, LineInfo};
use crate::cli::{AuditCommand, Format};
use crate::run::Context;
use crate::text::printable;
use nix::fcntl::FlockArg;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuditCmdError {
    #[error("reading audit log {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the last record of audit log {path} is damaged: {why} (see `agentjail audit verify`)"
    )]
    Damaged { path: PathBuf, why: String },
    #[error("{option}: expected SEQ:HASH (a number, a colon and 64 hex digits), got `{given}`")]
    BadMark { option: &'static str, given: String },
    #[error("no audit log location: {0}")]
    Location(#[from] audit::AuditError),
}

impl AuditCmdError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AuditCmdError::BadMark { .. } => crate::exit::USAGE,
            _ => 1,
        }
    }
}

/// Runs one `agentjail audit` command.
pub fn dispatch(ctx: &Context, cmd: &AuditCommand) -> Result<i32, AppError> {
    match cmd {
        AuditCommand::Verify {
            paths,
            head,
            after,
            format,
        } => verify(ctx, paths, head.as_deref(), after.as_deref(), *format),
        AuditCommand::Head { format } => head(ctx, *format),
        AuditCommand::Tail {
            follow,
            lines,
            role,
            session,
            risk,
            event,
            format,
        } => {
            let filter = Filter {
                role: role.clone(),
                session: session.clone(),
                risk: risk.clone(),
                event: event.clone(),
            };
            tail(ctx, *follow, *lines, &filter, *format)
        }
    }
}

fn log_path(ctx: &Context) -> Result<PathBuf, AuditCmdError> {
    match &ctx.audit_log {
        Some(p) => Ok(p.clone()),
        None => Ok(audit::default_path()?),
    }
}

fn open_read(path: &Path) -> Result<File, AuditCmdError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| AuditCmdError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The size of a log once no writer is in the middle of a line: a shared
/// lock taken and released at once (or the size as it is, if the lock
/// cannot be had within a second).
fn settled_size(file: &File, path: &Path) -> Result<u64, AuditCmdError> {
    let read_err = |source| AuditCmdError::Read {
        path: path.to_path_buf(),
        source,
    };
    let dup = file.try_clone().map_err(read_err)?;
    let size = match audit::lock_until(
        dup,
        FlockArg::LockSharedNonblock,
        Duration::from_secs(1),
        path,
    ) {
        Ok(locked) => locked.metadata().map_err(read_err)?.len(),
        Err(_) => file.metadata().map_err(read_err)?.len(),
    };
    Ok(size)
}

// --------------------------------------------------------------------------
// verify
// --------------------------------------------------------------------------

/// A saved position in the chain: `SEQ:HASH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub seq: u64,
    pub hash: [u8; 32],
}

pub fn parse_mark(option: &'static str, text: &str) -> Result<Mark, AuditCmdError> {
    let bad = || AuditCmdError::BadMark {
        option,
        given: text.to_string(),
    };
    let (seq, hash) = text.trim().split_once(':').ok_or_else(bad)?;
    Ok(Mark {
        seq: seq.parse().map_err(|_| bad())?,
        hash: audit::parse_hash(hash.as_bytes()).ok_or_else(bad)?,
    })
}

/// What one line of a log turned out to be.
#[derive(Debug, Clone)]
enum Kind {
    Record(LineInfo),
    Fault(LineFault),
    /// The file's last line has no newline.
    Cut,
}

#[derive(Debug, Clone)]
struct Entry {
    file: usize,
    line: u64,
    kind: Kind,
}

impl Entry {
    fn record(&self) -> Option<&LineInfo> {
        match &self.kind {
            Kind::Record(r) => Some(r),
            _ => None,
        }
    }
}

/// Reads the files in order, in chunks, and checks the lines of each chunk
/// on every core; hands out the results in order.
struct Scanner {
    paths: Vec<PathBuf>,
    next_file: usize,
    current: Option<(File, u64)>,
    file: usize,
    line: u64,
    carry: Vec<u8>,
    queue: VecDeque<Entry>,
    threads: usize,
}

const CHUNK: usize = 8 << 20;

impl Scanner {
    fn new(paths: Vec<PathBuf>) -> Scanner {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        Scanner {
            paths,
            next_file: 0,
            current: None,
            file: 0,
            line: 0,
            carry: Vec::new(),
            queue: VecDeque::new(),
            threads,
        }
    }

    /// Queues more entries; `false` at the end of the last file.
    fn fill(&mut self) -> Result<bool, (usize, AuditCmdError)> {
        loop {
            if self.current.is_none() {
                if self.next_file >= self.paths.len() {
                    return Ok(false);
                }
                let i = self.next_file;
                self.next_file += 1;
                let path = &self.paths[i];
                let f = open_read(path).map_err(|e| (i, e))?;
                let size = settled_size(&f, path).map_err(|e| (i, e))?;
                self.current = Some((f, size));
                self.file = i;
                self.line = 0;
                self.carry.clear();
            }
            let Some((f, left)) = self.current.as_mut() else {
                continue;
            };
            let want = (*left).min(CHUNK as u64);
            self.carry.reserve(CHUNK);
            let got = match f.take(want).read_to_end(&mut self.carry) {
                Ok(n) => n,
                Err(source) => {
                    let path = self.paths[self.file].clone();
                    return Err((self.file, AuditCmdError::Read { path, source }));
                }
            };
            *left -= got as u64;
            let at_end = *left == 0 || got == 0;
            let cut = match self.carry.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if at_end => 0,
                None => continue, // a line longer than a chunk: read on
            };
            let rest = self.carry.split_off(cut);
            let whole = std::mem::replace(&mut self.carry, rest);
            self.check_lines(&whole);
            if at_end {
                if !self.carry.is_empty() {
                    self.line += 1;
                    self.queue.push_back(Entry {
                        file: self.file,
                        line: self.line,
                        kind: Kind::Cut,
                    });
                    self.carry.clear();
                }
                self.current = None;
            }
            if !self.queue.is_empty() {
                return Ok(true);
            }
        }
    }

    /// Checks complete lines (`buf` ends in a newline) in parallel.
    fn check_lines(&mut self, buf: &[u8]) {
        if buf.is_empty() {
            return;
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.threads);
        let mut rest = buf;
        for k in (1..=self.threads).rev() {
            if rest.is_empty() {
                break;
            }
            let want = rest.len() / k;
            let split = if k == 1 {
                rest.len()
            } else {
                match rest[want..].iter().position(|&b| b == b'\n') {
                    Some(i) => want + i + 1,
                    None => rest.len(),
                }
            };
            let (a, b) = rest.split_at(split);
            parts.push(a);
            rest = b;
        }
        // Each part ends in a newline; the scanner finds the line ends.
        let check = |part: &[u8]| -> Vec<Kind> {
            let mut out = Vec::with_capacity(part.len() / 512 + 1);
            let mut i = 0;
            while i < part.len() {
                let (r, len) = audit::check_line_at(&part[i..]);
                out.push(match r {
                    Ok(r) => Kind::Record(r),
                    Err(f) => Kind::Fault(f),
                });
                i += len + 1;
            }
            out
        };
        let results: Vec<Vec<Kind>> = if parts.len() == 1 {
            parts.iter().map(|p| check(p)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = parts.iter().map(|p| s.spawn(move || check(p))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect()
            })
        };
        for kind in results.into_iter().flatten() {
            self.line += 1;
            self.queue.push_back(Entry {
                file: self.file,
                line: self.line,
                kind,
            });
        }
    }

    fn next(&mut self) -> Result<Option<Entry>, (usize, AuditCmdError)> {
        if self.queue.is_empty() && !self.fill()? {
            return Ok(None);
        }
        Ok(self.queue.pop_front())
    }

    /// The entry after the next `n` ones, without taking it.
    fn peek(&mut self, n: usize) -> Option<Entry> {
        while self.queue.len() <= n {
            match self.fill() {
                Ok(true) => {}
                _ => return None,
            }
        }
        self.queue.get(n).cloned()
    }
}

/// Where and how the chain breaks.
#[derive(Debug, Clone)]
pub struct Break {
    pub path: PathBuf,
    pub line: u64,
    pub seq: Option<u64>,
    /// edited, deleted, inserted, reordered, truncated, not JSON, not a
    /// record, unreadable.
    pub problem: &'static str,
    pub message: String,
}

/// The result of checking a chain.
#[derive(Debug, Clone)]
pub enum Verdict {
    Intact {
        records: u64,
        first_seq: Option<u64>,
        head: (u64, String),
    },
    Broken(Break),
}

fn short(h: &[u8; 32]) -> String {
    audit::hex(&h[..6])
}

/// How far ahead `verify` looks for a record that is out of its place.
const REORDER_LOOKAHEAD: usize = 100_000;

/// Recomputes the chain over `paths`, oldest first.
pub fn verify_files(paths: &[PathBuf], after: Option<Mark>, head: Option<Mark>) -> Verdict {
    let mut scan = Scanner::new(paths.to_vec());
    let genesis = [0u8; 32];
    let mut exp_seq = after.map_or(1, |m| m.seq.saturating_add(1));
    let mut exp_prev = after.map_or(genesis, |m| m.hash);
    let mut last_prev: Option<[u8; 32]> = None;
    let mut last_pos: Option<(usize, u64)> = None;
    let mut records = 0u64;
    let mut first_seq = None;
    let mut head_seen = false;
    let at = |file: usize, line: u64, seq: Option<u64>, problem: &'static str, message: String| {
        Verdict::Broken(Break {
            path: paths.get(file).cloned().unwrap_or_default(),
            line,
            seq,
            problem,
            message,
        })
    };
    loop {
        let e = match scan.next() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err((file, err)) => {
                return at(file, 0, None, "unreadable", crate::text::chain(&err));
            }
        };
        // Does the line after this one continue the chain as if this one
        // were not there?
        let next_continues = |scan: &mut Scanner, seq: u64, prev: [u8; 32]| {
            scan.peek(0)
                .and_then(|n| n.record().copied())
                .is_some_and(|n| n.hash_ok && n.seq == seq && n.prev == prev)
        };
        let r = match &e.kind {
            Kind::Cut => {
                return at(
                    e.file,
                    e.line,
                    None,
                    "truncated",
                    "the line is cut off mid-line (no newline at its end)".into(),
                )
            }
            Kind::Fault(f) => {
                let (problem, detail) = match f {
                    LineFault::NotJson(m) => ("not JSON", m),
                    LineFault::NotRecord(m) => ("not a record", m),
                };
                if next_continues(&mut scan, exp_seq, exp_prev) {
                    return at(
                        e.file,
                        e.line,
                        None,
                        "inserted",
                        format!(
                            "{problem} ({detail}); the next line continues the chain without it"
                        ),
                    );
                }
                return at(e.file, e.line, None, problem, detail.clone());
            }
            Kind::Record(r) => *r,
        };
        if !r.hash_ok {
            if next_continues(&mut scan, exp_seq, exp_prev) {
                return at(
                    e.file,
                    e.line,
                    Some(r.seq),
                    "inserted",
                    "its hash does not match its content, and the next line continues the \
                     chain without it"
                        .into(),
                );
            }
            return at(
                e.file,
                e.line,
                Some(r.seq),
                "edited",
                "its content does not match its recorded hash".into(),
            );
        }
        if r.seq == exp_seq && r.prev == exp_prev {
            if first_seq.is_none() {
                first_seq = Some(r.seq);
            }
            if let Some(h) = head {
                if h.seq == r.seq {
                    if h.hash != r.hash {
                        return at(
                            e.file,
                            e.line,
                            Some(r.seq),
                            "edited",
                            format!(
                                "the saved head {}:{}… is not in the log: seq {} has hash {}… \
                                 here (the log was rewritten)",
                                h.seq,
                                short(&h.hash),
                                r.seq,
                                short(&r.hash)
                            ),
                        );
                    }
                    head_seen = true;
                }
            }
            records += 1;
            exp_seq = r.seq.saturating_add(1);
            last_prev = Some(r.prev);
            exp_prev = r.hash;
            last_pos = Some((e.file, e.line));
            continue;
        }
        // The record is intact in itself but not in its place.
        let previous = |what: &str| match last_pos {
            Some((f, l)) => format!("{what} (line {l} of {})", paths[f].display()),
            None => what.to_string(),
        };
        if r.seq == exp_seq {
            let next_chains = scan
                .peek(0)
                .and_then(|n| n.record().copied())
                .is_some_and(|n| n.hash_ok && n.seq == r.seq.saturating_add(1) && n.prev == r.hash);
            if let (true, Some((f, l))) = (next_chains, last_pos) {
                return at(
                    f,
                    l,
                    Some(r.seq - 1),
                    "edited",
                    format!(
                        "the record was changed and its hash recomputed: line {} still chains \
                         from its original hash {}…",
                        e.line,
                        short(&r.prev)
                    ),
                );
            }
            return at(
                e.file,
                e.line,
                Some(r.seq),
                "inserted",
                format!(
                    "a forged record: it chains from {}…, not from {}",
                    short(&r.prev),
                    previous("the previous record")
                ),
            );
        }
        if r.seq > exp_seq {
            // Is the expected record further down (reordered) or gone (deleted)?
            let mut found = None;
            let mut k = 0;
            while let Some(n) = scan.peek(k).filter(|_| k < REORDER_LOOKAHEAD) {
                if let Some(x) = n.record() {
                    if x.hash_ok && x.seq == exp_seq && x.prev == exp_prev {
                        found = Some(n.line);
                        break;
                    }
                }
                k += 1;
            }
            if let Some(line) = found {
                return at(
                    e.file,
                    e.line,
                    Some(r.seq),
                    "reordered",
                    format!(
                        "seq {} comes before seq {exp_seq}, which is on line {line}",
                        r.seq
                    ),
                );
            }
            let missing = r.seq - exp_seq;
            let mut message = format!(
                "{missing} record(s) missing before this line: seq jumps from {} to {}",
                exp_seq - 1,
                r.seq
            );
            if records == 0 && after.is_none() {
                message.push_str(&format!(
                    " (if an earlier, rotated file holds them, give it first, or pass --after {}:{})",
                    r.seq - 1,
                    audit::hex(&r.prev)
                ));
            }
            return at(e.file, e.line, Some(r.seq), "deleted", message);
        }
        // r.seq < exp_seq: a record out of its place.
        if records > 0 && r.seq.saturating_add(1) == exp_seq && Some(r.prev) == last_prev {
            let next_chains = scan
                .peek(0)
                .and_then(|n| n.record().copied())
                .is_some_and(|n| n.hash_ok && n.seq == exp_seq && n.prev == r.hash);
            if let (true, Some((f, l))) = (next_chains, last_pos) {
                return at(
                    f,
                    l,
                    Some(r.seq),
                    "inserted",
                    format!(
                        "lines {l} and {} both claim seq {}; the chain goes on from line {}, so \
                         line {l} was inserted",
                        e.line, r.seq, e.line
                    ),
                );
            }
            return at(
                e.file,
                e.line,
                Some(r.seq),
                "inserted",
                format!("a second record with seq {}", r.seq) + &previous(""),
            );
        }
        if next_continues(&mut scan, exp_seq, exp_prev) {
            return at(
                e.file,
                e.line,
                Some(r.seq),
                "inserted",
                format!(
                    "a copy of an earlier record (seq {}) after seq {}",
                    r.seq,
                    exp_seq - 1
                ),
            );
        }
        return at(
            e.file,
            e.line,
            Some(r.seq),
            "reordered",
            format!("seq goes back from {} to {}", exp_seq - 1, r.seq),
        );
    }
    if let Some(h) = head {
        if !head_seen {
            let (file, line) = last_pos.unwrap_or((paths.len().saturating_sub(1), 0));
            let last = exp_seq - 1;
            let message = if h.seq > last {
                format!(
                    "the saved head {}:{}… is missing: the log ends at seq {last}; {} record(s) \
                     were cut from the end",
                    h.seq,
                    short(&h.hash),
                    h.seq - last
                )
            } else {
                format!(
                    "the saved head seq {} lies before the records checked (which start at seq {})",
                    h.seq,
                    first_seq.unwrap_or(exp_seq)
                )
            };
            return at(file, line + 1, None, "truncated", message);
        }
    }
    Verdict::Intact {
        records,
        first_seq,
        head: (exp_seq - 1, audit::hex(&exp_prev)),
    }
}

/// The files `verify` checks by default: the rotated `PATH.N` … `PATH.1`
/// that exist (uncompressed, without a gap), then the log itself.
pub fn default_series(path: &Path) -> Vec<PathBuf> {
    let mut older = Vec::new();
    for n in 1.. {
        let p = audit::rotated_path(path, n);
        if !p.is_file() {
            break;
        }
        older.push(p);
    }
    older.reverse();
    older.push(path.to_path_buf());
    older
}

fn verify(
    ctx: &Context,
    paths: &[PathBuf],
    head: Option<&str>,
    after: Option<&str>,
    format: Format,
) -> Result<i32, AppError> {
    let head = head.map(|h| parse_mark("--head", h)).transpose()?;
    let after = after.map(|h| parse_mark("--after", h)).transpose()?;
    let paths = if paths.is_empty() {
        default_series(&log_path(ctx)?)
    } else {
        paths.to_vec()
    };
    let verdict = verify_files(&paths, after, head);
    let mut out = std::io::stdout().lock();
    let code = match &verdict {
        Verdict::Intact {
            records,
            first_seq,
            head,
        } => {
            match format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    json!({
                        "intact": true,
                        "records": records,
                        "files": paths,
                        "first_seq": first_seq,
                        "head": {"seq": head.0, "hash": head.1},
                    })
                ),
                Format::Text => writeln!(
                    out,
                    "intact: {records} records{} in {} file{}; head {}:{}",
                    first_seq
                        .map(|f| format!(" (seq {f}..{})", head.0))
                        .unwrap_or_default(),
                    paths.len(),
                    if paths.len() == 1 { "" } else { "s" },
                    head.0,
                    head.1
                ),
            }
            .map_err(AppError::Output)?;
            crate::exit::OK
        }
        Verdict::Broken(b) => {
            match format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    json!({
                        "intact": false,
                        "path": b.path,
                        "line": b.line,
                        "seq": b.seq,
                        "problem": b.problem,
                        "message": b.message,
                    })
                ),
                Format::Text => writeln!(
                    out,
                    "{}",
                    printable(&format!(
                        "broken: {}{}{}: {}: {}",
                        b.path.display(),
                        if b.line > 0 {
                            format!(" line {}", b.line)
                        } else {
                            String::new()
                        },
                        b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
                        b.problem,
                        b.message
                    ))
                ),
            }
            .map_err(AppError::Output)?;
            1
        }
    };
    Ok(code)
}

// --------------------------------------------------------------------------
// head
// --------------------------------------------------------------------------

/// The seq and hash of the chain's last record: the log's last line, or for
/// an empty log the last record of `PATH.1`, or the genesis.
pub fn chain_head(path: &Path) -> Result<(u64, String), AuditCmdError> {
    for candidate in [path.to_path_buf(), audit::rotated_path(path, 1)] {
        let f = match open_read(&candidate) {
            Ok(f) => f,
            Err(_) if candidate != path => break,
            Err(e) => return Err(e),
        };
        let size = settled_size(&f, &candidate)?;
        if size == 0 {
            continue;
        }
        let line = audit::read_last_line(&f, size)
            .map_err(|source| AuditCmdError::Read {
                path: candidate.clone(),
                source,
            })?
            .map_err(|why| AuditCmdError::Damaged {
                path: candidate.clone(),
                why,
            })?;
        return match check_line(&line) {
            Ok(r) if r.hash_ok => Ok((r.seq, audit::hex(&r.hash))),
            Ok(_) => Err(AuditCmdError::Damaged {
                path: candidate,
                why: "its content does not match its hash".into(),
            }),
            Err(LineFault::NotJson(m) | LineFault::NotRecord(m)) => Err(AuditCmdError::Damaged {
                path: candidate,
                why: m,
            }),
        };
    }
    Ok((0, audit::GENESIS.to_string()))
}

fn head(ctx: &Context, format: Format) -> Result<i32, AppError> {
    let path = log_path(ctx)?;
    let (seq, hash) = chain_head(&path)?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", json!({"seq": seq, "hash": hash, "path": path})),
        Format::Text => writeln!(out, "{seq}:{hash}"),
    }
    .map_err(AppError::Output)?;
    Ok(crate::exit::OK)
}

// --------------------------------------------------------------------------
// tail
// --------------------------------------------------------------------------

/// Which records `tail` shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub role: Option<String>,
    pub session: Option<String>,
    pub risk: Option<String>,
    pub event: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.session.is_none() && self.risk.is_none() && self.event.is_none()
    }

    pub fn matches(&self, r: &Value) -> bool {
        let is = |key: &str, want: &Option<String>| {
            want.as_deref()
                .map_or(true, |w| r.get(key).and_then(Value::as_str) == Some(w))
        };
        is("role", &self.role)
            && is("session_id", &self.session)
            && is("risk_level", &self.risk)
            && is("event_type", &self.event)
    }
}

struct Style {
    colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// One line for one record.
pub fn render_text(r: &Value, colour: bool) -> String {
    let style = Style { colour };
    let s = |k: &str| -> String {
        match r.get(k) {
            Some(Value::String(v)) => printable(v).replace('\n', "\\n"),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    };
    let event = s("event_type");
    let mut status = match event.as_str() {
        "decision" => {
            let d = s("decision");
            let code = match d.as_str() {
                "allow" => "32",
                "needs_approval" => "33",
                _ => "31",
            };
            let mut t = style.paint(code, &d);
            if r.get("severity").and_then(Value::as_str) == Some("critical") {
                t.push(' ');
                t.push_str(&style.paint("1;31", "CRITICAL"));
            }
            if r.get("dry_run").and_then(Value::as_bool) == Some(true) {
                t.push_str(" (check)");
            }
            if d != "allow" {
                if let Some(first) = r["reasons"].as_array().and_then(|a| a.first()) {
                    t.push_str(": ");
                    t.push_str(&printable(first.as_str().unwrap_or_default()).replace('\n', "\\n"));
                }
            }
            t
        }
        "tool_result" => {
            let res = s("result");
            let code = if res == "success" { "32" } else { "31" };
            let mut t = style.paint(code, &res);
            if let Some(ms) = r.get("duration_ms").and_then(Value::as_u64) {
                t.push_str(&format!(" {ms}ms"));
            }
            if r.get("oom_killed").and_then(Value::as_bool) == Some(true) {
                t.push_str(" oom");
            }
            t
        }
        "error" => style.paint("31", &format!("error: {}", s("error"))),
        _ => [s("approval_status"), s("result")]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    };
    for (key, label) in [("agent_id", "agent"), ("session_id", "session")] {
        let v = s(key);
        if !v.is_empty() {
            status.push_str(&format!(" {label}={v}"));
        }
    }
    let risk = s("risk_level");
    format!(
        "{} {:>6} {:<11} {}/{}{} {}",
        s("timestamp"),
        format!("#{}", s("seq")),
        event,
        s("role"),
        s("tool"),
        if risk.is_empty() {
            String::new()
        } else {
            format!(" [{risk}]")
        },
        status
    )
}

fn tail(
    ctx: &Context,
    follow: bool,
    lines: usize,
    filter: &Filter,
    format: Format,
) -> Result<i32, AppError> {
    let path = log_path(ctx)?;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let emit = |line: &[u8], out: &mut std::io::StdoutLock| -> Result<(), AppError> {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            tracing::warn!("skipping a line of {} that is not JSON", path.display());
            return Ok(());
        };
        if !filter.matches(&v) {
            return Ok(());
        }
        match format {
            Format::Json => out.write_all(line).and_then(|()| out.write_all(b"\n")),
            Format::Text => writeln!(out, "{}", render_text(&v, colour)),
        }
        .map_err(AppError::Output)
    };
    let mut file = match open_read(&path) {
        Ok(f) => Some(f),
        Err(AuditCmdError::Read { source, .. })
            if follow && source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut pos = 0u64;
    if let Some(f) = &mut file {
        let size = settled_size(f, &path)?;
        let read_err = |source| AuditCmdError::Read {
            path: path.clone(),
            source,
        };
        // Stream the file; keep only the last `lines` matching lines.
        let mut reader = std::io::BufReader::with_capacity(1 << 20, f.take(size));
        let mut last: VecDeque<Vec<u8>> = VecDeque::with_capacity(lines.min(4096) + 1);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(read_err)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break; // the end, or an incomplete last line
            }
            pos += n as u64;
            line.pop();
            if line.is_empty() || lines == 0 {
                continue;
            }
            let wanted = filter.is_empty()
                || serde_json::from_slice::<Value>(&line).is_ok_and(|v| filter.matches(&v));
            if wanted {
                if last.len() == lines {
                    last.pop_front();
                }
                last.push_back(line.clone());
            }
        }
        let mut out = std::io::stdout().lock();
        for line in last {
            emit(&line, &mut out)?;
        }
    }
    if !follow {
        return Ok(crate::exit::OK);
    }
    let mut pending: Vec<u8> = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = std::fs::metadata(&path).ok();
        let reopened = match (&file, &now) {
            (Some(f), Some(m)) => f
                .metadata()
                .map(|fm| fm.ino() != m.ino() || fm.dev() != m.dev() || m.len() < pos)
                .unwrap_or(true),
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let mut out = std::io::stdout().lock();
        // Read what is left in the current file first (a rotated file may
        // still have gained its last lines).
        if let Some(f) = &mut file {
            let mut more = Vec::new();
            if f.seek(SeekFrom::Start(pos)).is_ok() && f.read_to_end(&mut more).is_ok() {
                pos += more.len() as u64;
                pending.extend_from_slice(&more);
                while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    let line = &line[..line.len() - 1];
                    if !line.is_empty() {
                        emit(line, &mut out)?;
                    }
                }
            }
        }
        if reopened {
            file = open_read(&path).ok();
            pos = 0;
            pending.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn marks_parse() {
        let m = parse_mark("--head", &format!("12:{}", audit::GENESIS)).unwrap();
        assert_eq!(m.seq, 12);
        for bad in ["12", "x:00", "1:abc", ""] {
            assert!(parse_mark("--head", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_lines_are_plain_without_a_terminal() {
        let r = json!({"timestamp": "2024-01-01T00:00:00.000Z", "seq": 3, "event_type": "decision",
            "role": "r", "tool": "t", "risk_level": "read", "decision": "deny",
            "reasons": ["tool: \u{1b}[31mbad"], "severity": "critical", "session_id": "S"});
        assert_eq!(
            render_text(&r, false),
            "2024-01-01T00:00:00.000Z     #3 decision    r/t [read] deny CRITICAL: tool: \\u{1b}[31mbad session=S"
        );
        assert!(render_text(&r, true).contains("\x1b[31mdeny\x1b[0m"));
    }
}
