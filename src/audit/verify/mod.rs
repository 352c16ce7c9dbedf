//! Reading the chain back: `verify` over a log and its rotated files
//! (every line parsed, every hash and link checked, damage located), the
//! chain's head, and the bounded, lock-aware readers the `audit` commands
//! share. Pure reading: it never writes a log.

mod read;
mod scanner;

pub use read::{chain_head, open_read, settled_size, ReadError};
use scanner::{Kind, Scanner};

use super::{LineFault, LineInfo};
use crate::audit;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

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
