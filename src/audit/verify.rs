//! Reading the chain back: `verify` over a log and its rotated files
//! (every line parsed, every hash and link checked, damage located), the
//! chain's head, and the bounded, lock-aware readers the `audit` commands
//! share. Pure reading: it never writes a log.

use super::{LineFault, LineInfo};
use crate::audit;
use nix::fcntl::FlockArg;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReadError {
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
    #[error(transparent)]
    Location(#[from] audit::AuditError),
}

impl ReadError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ReadError::BadMark { .. } => crate::exit::USAGE,
            _ => 1,
        }
    }
}

pub fn open_read(path: &Path) -> Result<File, ReadError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| ReadError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The size of a log once no writer is in the middle of a line: a shared
/// lock taken and released at once (or the size as it is, if the lock
/// cannot be had within a second).
pub fn settled_size(file: &File, path: &Path) -> Result<u64, ReadError> {
    let read_err = |source| ReadError::Read {
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

/// A saved position in the chain: `SEQ:HASH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub seq: u64,
    pub hash: [u8; 32],
}

pub fn parse_mark(option: &'static str, text: &str) -> Result<Mark, ReadError> {
    let bad = || ReadError::BadMark {
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
    /// The line's bytes, kept for damaged lines and for a record that may
    /// mend them (the first line of a part, a line after a damaged one).
    bytes: Option<Vec<u8>>,
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
    fn fill(&mut self) -> Result<bool, (usize, ReadError)> {
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
                    return Err((self.file, ReadError::Read { path, source }));
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
                    let bytes = std::mem::take(&mut self.carry);
                    self.queue.push_back(Entry {
                        file: self.file,
                        line: self.line,
                        kind: Kind::Cut,
                        bytes: Some(bytes),
                    });
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
        let check = |part: &[u8]| -> Vec<(Kind, Option<Vec<u8>>)> {
            let mut out = Vec::with_capacity(part.len() / 512 + 1);
            let mut i = 0;
            let mut keep = true;
            while i < part.len() {
                let (r, len) = audit::check_line_at(&part[i..]);
                let line = &part[i..i + len];
                let (kind, fault) = match r {
                    Ok(r) => (Kind::Record(r), false),
                    Err(f) => (Kind::Fault(f), true),
                };
                out.push((kind, (keep || fault).then(|| line.to_vec())));
                keep = fault;
                i += len + 1;
            }
            out
        };
        let results: Vec<Vec<(Kind, Option<Vec<u8>>)>> = if parts.len() == 1 {
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
        for (kind, bytes) in results.into_iter().flatten() {
            self.line += 1;
            self.queue.push_back(Entry {
                file: self.file,
                line: self.line,
                kind,
                bytes,
            });
        }
    }

    fn next(&mut self) -> Result<Option<Entry>, (usize, ReadError)> {
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

/// Damage that a `recovered` record mends: lines cut off or not records,
/// followed by a record that names exactly their bytes and chains on.
#[derive(Debug, Clone)]
pub struct Mended {
    /// The file and line where the damage starts.
    pub path: PathBuf,
    pub line: u64,
    /// How many lines are damaged.
    pub lines: u64,
    /// The damaged bytes (without the newline the mender added).
    pub bytes: u64,
    pub sha256: String,
    pub cause: String,
    /// The `recovered` record: its seq, file and line.
    pub by_seq: u64,
    pub by_path: PathBuf,
    pub by_line: u64,
}

/// The result of checking a chain.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The chain holds; `mended` lists damage (a crash or a full disk cut a
    /// write short) that a `recovered` record names and the chain goes on
    /// past.
    Intact {
        records: u64,
        first_seq: Option<u64>,
        head: (u64, String),
        mended: Vec<Mended>,
    },
    Broken(Break),
}

/// Damaged lines seen and not yet mended.
struct Pending {
    file: usize,
    line: u64,
    /// The first damaged line's problem and detail (reported when nothing
    /// mends it).
    problem: &'static str,
    detail: String,
    lines: u64,
    bytes: u64,
    hasher: Sha256,
    /// A newline ends the bytes hashed so far (not hashed yet: the mender
    /// may have added it).
    newline: bool,
}

impl Pending {
    fn add(&mut self, bytes: &[u8], newline: bool) {
        if self.newline {
            self.hasher.update(b"\n");
        }
        self.hasher.update(bytes);
        self.newline = newline;
        self.lines += 1;
        self.bytes += bytes.len() as u64 + u64::from(newline);
    }

    /// Whether `line` is a `recovered` record naming exactly these bytes.
    /// The recovered record's cause and the damaged bytes it names.
    fn mended_by(&self, line: Option<&[u8]>) -> Option<(String, u64)> {
        let v: serde_json::Value = serde_json::from_slice(line?).ok()?;
        if v["event_type"] != "recovered" {
            return None;
        }
        let r = &v["recovered"];
        let terminated = r["terminated"].as_bool()?;
        let bytes = r["bytes"].as_u64()?;
        if bytes + u64::from(terminated) != self.bytes || (terminated && !self.newline) {
            return None;
        }
        let mut h = self.hasher.clone();
        if self.newline && !terminated {
            h.update(b"\n");
        }
        let sha = audit::hex(&h.finalize());
        (r["sha256"].as_str() == Some(sha.as_str()))
            .then(|| (r["cause"].as_str().unwrap_or("").to_string(), bytes))
    }
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
    let mut mended = Vec::new();
    let mut pending: Option<Pending> = None;
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
        let last_file = e.file + 1 == paths.len();
        // Damage is collected until a record mends it or shows that nothing
        // did.
        let damaged = match &e.kind {
            Kind::Cut if !last_file || pending.is_some() => Some((
                "truncated",
                "the line is cut off mid-line (no newline at its end)".to_string(),
                false,
            )),
            Kind::Fault(LineFault::NotJson(m)) => Some(("not JSON", m.clone(), true)),
            Kind::Fault(LineFault::NotRecord(m)) => Some(("not a record", m.clone(), true)),
            _ => None,
        };
        if let Some((problem, detail, newline)) = damaged {
            let p = pending.get_or_insert_with(|| Pending {
                file: e.file,
                line: e.line,
                problem,
                detail,
                lines: 0,
                bytes: 0,
                hasher: Sha256::new(),
                newline: false,
            });
            p.add(e.bytes.as_deref().unwrap_or_default(), newline);
            if !last_file || !matches!(e.kind, Kind::Cut) {
                continue;
            }
        }
        if let Some(p) = pending.take() {
            let chains = e
                .record()
                .is_some_and(|r| r.hash_ok && r.seq == exp_seq && r.prev == exp_prev);
            if chains {
                if let Some((cause, bytes)) = p.mended_by(e.bytes.as_deref()) {
                    let mut h = p.hasher.clone();
                    if p.newline && bytes == p.bytes {
                        h.update(b"\n");
                    }
                    let sha = audit::hex(&h.finalize());
                    mended.push(Mended {
                        path: paths.get(p.file).cloned().unwrap_or_default(),
                        line: p.line,
                        lines: p.lines,
                        bytes,
                        sha256: sha,
                        cause,
                        by_seq: exp_seq,
                        by_path: paths.get(e.file).cloned().unwrap_or_default(),
                        by_line: e.line,
                    });
                    // The mending record itself is checked below.
                } else if p.lines == 1 && p.problem != "truncated" {
                    return at(
                        p.file,
                        p.line,
                        None,
                        "inserted",
                        format!(
                            "{} ({}); the next line continues the chain without it",
                            p.problem, p.detail
                        ),
                    );
                } else {
                    return at(p.file, p.line, None, p.problem, p.detail);
                }
            } else {
                return at(p.file, p.line, None, p.problem, p.detail);
            }
        }
        // Does the line after this one continue the chain as if this one
        // were not there?
        let next_continues = |scan: &mut Scanner, seq: u64, prev: [u8; 32]| {
            scan.peek(0)
                .and_then(|n| n.record().copied())
                .is_some_and(|n| n.hash_ok && n.seq == seq && n.prev == prev)
        };
        let r =
            match &e.kind {
                Kind::Cut => return at(
                    e.file,
                    e.line,
                    None,
                    "truncated",
                    "the line is cut off mid-line (no newline at its end: a write cut short by \
                     a crash or a full disk; the next record agentjail writes mends it)"
                        .into(),
                ),
                // Collected above.
                Kind::Fault(_) => continue,
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
    if let Some(p) = pending {
        return at(p.file, p.line, None, p.problem, p.detail);
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
        mended,
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

/// The seq and hash of the chain's last record: the log's last line, or for
/// an empty log the last record of `PATH.1`, or the genesis.
pub fn chain_head(path: &Path) -> Result<(u64, String), ReadError> {
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
        let tail = audit::find_tail(&f, size).map_err(|e| match e {
            audit::tail::TailError::Io(source) => ReadError::Read {
                path: candidate.clone(),
                source,
            },
            audit::tail::TailError::TooFar => ReadError::Damaged {
                path: candidate.clone(),
                why: "no chained record near its end".into(),
            },
        })?;
        return match (tail.last, tail.last_hash_ok) {
            (Some(_), Some(false)) => Err(ReadError::Damaged {
                path: candidate,
                why: "its content does not match its hash".into(),
            }),
            (Some((seq, hash)), _) => Ok((seq, audit::hex(&hash))),
            (None, _) => Err(ReadError::Damaged {
                path: candidate,
                why: tail
                    .damage
                    .map_or_else(|| "no chained record".into(), |d| d.cause),
            }),
        };
    }
    Ok((0, audit::GENESIS.to_string()))
}
