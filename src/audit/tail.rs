//! The end of a log, as a writer needs it: the last record to chain from
//! and any damage after it, found by reading backwards in bounded chunks
//! ([`find_tail`]). Never reads more than [`MAX_READ`] bytes into memory and
//! never looks further back than [`MAX_SCAN`] bytes, so that no earlier line,
//! however long or damaged, can stop a writer for good.
//!
//! Damage is what follows the last record: a line cut off by a crash or a
//! full disk (no newline at its end), and complete lines that are not
//! records. The writer mends it with a `recovered` record (see
//! [`super::log`]), which names the damaged bytes by offset, length and
//! SHA-256.

use super::chain::{parse_hash, HASH_SUFFIX_LEN};
use super::scan::check_line;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The longest line agentjail writes (a record and, before it, a
/// `recovered` record, are each at most this long).
pub const MAX_RECORD: usize = 1 << 20;

/// A line up to this long is read whole and checked; a longer one (written
/// by an older agentjail, which had no bound) is streamed through for its
/// `seq` and read from its fixed-size tail for its `hash`.
pub const MAX_READ: u64 = 2 << 20;

/// How far back from the end of the file a writer looks for the last
/// record. Only a writer other than agentjail can leave more damage.
pub const MAX_SCAN: u64 = 256 << 20;

const CHUNK: usize = 64 << 10;

/// The first look back for a line's start: a record is well under this, so
/// one append reads (and zeroes a buffer of) 4 KiB, not 64 KiB; a longer
/// line is searched on in [`CHUNK`]s.
const FIRST_CHUNK: usize = 4 << 10;

/// The bytes after the last record that are not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Where the damage starts (the byte after the last record's newline).
    pub offset: u64,
    /// How many bytes, up to the end of the file.
    pub bytes: u64,
    /// Hex SHA-256 of those bytes.
    pub sha256: String,
    /// The last of them has no newline: a write was cut short.
    pub cut: bool,
    /// How many lines (a cut one included).
    pub lines: u64,
    /// What the damage is, in words.
    pub cause: String,
}

/// What [`find_tail`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// The seq and hash of the last record, if the file holds one.
    pub last: Option<(u64, [u8; 32])>,
    /// Whether the last record's content matches its hash (`None` when it
    /// was too long to check here).
    pub last_hash_ok: Option<bool>,
    /// The last record is whole but lacks its newline (a write cut short
    /// just before it): the next line must start with one.
    pub unterminated: bool,
    pub damage: Option<Damage>,
}

/// Why no record to chain from could be found.
#[derive(Debug)]
pub enum TailError {
    Io(io::Error),
    /// More than [`MAX_SCAN`] bytes at the end are not records.
    TooFar,
}

impl From<io::Error> for TailError {
    fn from(e: io::Error) -> Self {
        TailError::Io(e)
    }
}

/// The start of the line that ends just before `end` (the byte after the
/// previous newline, or 0), searching back no further than `limit`.
fn line_start(file: &File, end: u64, limit: u64) -> Result<Option<u64>, io::Error> {
    let mut pos = end;
    let mut buf = vec![0u8; FIRST_CHUNK];
    while pos > limit {
        let size = buf.len();
        let from = pos.saturating_sub(size as u64).max(limit);
        let n = usize::try_from(pos - from).unwrap_or(size).min(size);
        let part = &mut buf[..n];
        file.read_exact_at(part, from)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(from + i as u64 + 1));
        }
        pos = from;
        if size < CHUNK {
            buf = vec![0u8; CHUNK];
        }
    }
    Ok((limit == 0).then_some(0))
}

/// Finds the top-level `"seq":N` of a JSON object fed in pieces. Only
/// correct for valid JSON, which is all it is used on (a line that ends as
/// a record does); anything else yields no seq or a record that `verify`
/// reports.
#[derive(Default)]
struct SeqFinder {
    depth: u32,
    in_string: bool,
    escape: bool,
    /// The content of the current string at depth 1, while short.
    key: Vec<u8>,
    /// The last string closed at depth 1 was `seq` (and a `:` may follow).
    after_seq: u8,
    digits: Option<String>,
    found: Option<u64>,
}

impl SeqFinder {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.found.is_some() {
                return;
            }
            if let Some(d) = &mut self.digits {
                if b.is_ascii_digit() && d.len() < 20 {
                    d.push(char::from(b));
                    continue;
                }
                self.found = d.parse().ok();
                self.digits = None;
                if self.found.is_some() {
                    return;
                }
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                    self.key.push(b);
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 1 && self.key == b"seq" {
                        self.after_seq = 1;
                    }
                } else if self.depth == 1 && self.key.len() < 4 {
                    self.key.push(b);
                }
                continue;
            }
            if self.after_seq == 1 {
                self.after_seq = 0;
                if b == b':' {
                    self.digits = Some(String::new());
                    continue;
                }
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.key.clear();
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

/// A record's seq and hash.
type Link = (u64, [u8; 32]);

/// The seq and hash of the line `[start, end)` (without its newline) if it
/// is a record; a line longer than [`MAX_READ`] is streamed.
fn record_at(file: &File, start: u64, end: u64) -> Result<Option<(Link, Option<bool>)>, io::Error> {
    let len = end - start;
    if len <= MAX_READ {
        let mut line = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.read_exact_at(&mut line, start)?;
        // A record whose content does not match its hash is still chained
        // from: `verify` reports it as edited.
        return Ok(check_line(&line)
            .ok()
            .map(|i| ((i.seq, i.hash), Some(i.hash_ok))));
    }
    let mut suffix = [0u8; HASH_SUFFIX_LEN];
    file.read_exact_at(&mut suffix, end - HASH_SUFFIX_LEN as u64)?;
    if &suffix[..9] != b",\"hash\":\"" || &suffix[HASH_SUFFIX_LEN - 2..] != b"\"}" {
        return Ok(None);
    }
    let Some(hash) = parse_hash(&suffix[9..9 + 64]) else {
        return Ok(None);
    };
    let mut first = [0u8; 1];
    file.read_exact_at(&mut first, start)?;
    if first[0] != b'{' {
        return Ok(None);
    }
    let mut finder = SeqFinder::default();
    let mut buf = vec![0u8; CHUNK];
    let mut pos = start;
    while pos < end && finder.found.is_none() {
        let n = usize::try_from(end - pos).unwrap_or(CHUNK).min(CHUNK);
        file.read_exact_at(&mut buf[..n], pos)?;
        finder.feed(&buf[..n]);
        pos += n as u64;
    }
    Ok(finder.found.map(|seq| ((seq, hash), None)))
}

/// Hex SHA-256 of the bytes `[from, to)`.
fn hash_range(file: &File, from: u64, to: u64) -> Result<String, io::Error> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut pos = from;
    while pos < to {
        let n = usize::try_from(to - pos).unwrap_or(CHUNK).min(CHUNK);
        file.read_exact_at(&mut buf[..n], pos)?;
        h.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(super::chain::hex(&h.finalize()))
}

/// The last record of a file of `size` bytes and the damage after it.
pub fn find_tail(file: &File, size: u64) -> Result<Tail, TailError> {
    let none = Tail {
        last: None,
        last_hash_ok: None,
        unterminated: false,
        damage: None,
    };
    if size == 0 {
        return Ok(none);
    }
    let limit = size.saturating_sub(MAX_SCAN);
    let mut last_byte = [0u8; 1];
    file.read_exact_at(&mut last_byte, size - 1)?;
    let mut end = size; // the region before `end` is still to be looked at
    let mut damage_start = size;
    let mut lines = 0u64;
    let mut cut = false;
    let mut not_records = 0u64;
    if last_byte[0] != b'\n' {
        let start = line_start(file, size, limit)?.ok_or(TailError::TooFar)?;
        if let Some((last, ok)) = record_at(file, start, size)? {
            return Ok(Tail {
                last: Some(last),
                last_hash_ok: ok,
                unterminated: true,
                damage: None,
            });
        }
        cut = true;
        lines = 1;
        damage_start = start;
        end = start;
    }
    let mut last = None;
    let mut last_hash_ok = None;
    while end > 0 {
        let nl = end - 1; // the newline that ends the line
        let start = line_start(file, nl, limit)?.ok_or(TailError::TooFar)?;
        if let Some((found, ok)) = record_at(file, start, nl)? {
            last = Some(found);
            last_hash_ok = ok;
            break;
        }
        lines += 1;
        not_records += 1;
        damage_start = start;
        end = start;
    }
    if damage_start == size {
        return Ok(Tail {
            last,
            last_hash_ok,
            ..none
        });
    }
    let mut cause = Vec::new();
    if cut {
        cause.push(
            "a line cut off before its end (a write cut short by a crash or a full disk)"
                .to_string(),
        );
    }
    if not_records > 0 {
        cause.push(format!("{not_records} line(s) that are not records"));
    }
    Ok(Tail {
        last,
        last_hash_ok,
        unterminated: false,
        damage: Some(Damage {
            offset: damage_start,
            bytes: size - damage_start,
            sha256: hash_range(file, damage_start, size)?,
            cut,
            lines,
            cause: cause.join(" and "),
        }),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::chain::{hex, object, seal, sha256_hex, GENESIS};
    use serde_json::json;

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let t = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(t.path(), bytes).unwrap();
        let f = File::open(t.path()).unwrap();
        (t, f)
    }

    fn tail_of(bytes: &[u8]) -> Tail {
        let (_t, f) = file_with(bytes);
        find_tail(&f, bytes.len() as u64).unwrap()
    }

    #[test]
    fn finds_the_last_record_and_the_damage_after_it() {
        let a = seal(object(json!({"n": 1})), 1, GENESIS);
        let b = seal(object(json!({"n": 2})), 2, &a.hash);
        let mut log = [a.line.clone(), b.line.clone()].concat();
        let t = tail_of(&log);
        assert_eq!(t.last.map(|l| (l.0, hex(&l.1))), Some((2, b.hash.clone())));
        assert_eq!(t.damage, None);
        // A cut write, then garbage, then another cut write.
        let partial = &b.line[..40];
        log.truncate(a.line.len());
        log.extend_from_slice(partial);
        log.extend_from_slice(b"\nnot json\n{\"seq\":");
        let t = tail_of(&log);
        assert_eq!(t.last.map(|l| l.0), Some(1));
        let d = t.damage.unwrap();
        assert_eq!(d.offset, a.line.len() as u64);
        assert_eq!(d.bytes, log.len() as u64 - d.offset);
        assert_eq!(d.sha256, sha256_hex(&log[a.line.len()..]));
        assert!(d.cut);
        assert_eq!(d.lines, 3);
        // A whole record without its newline.
        let t = tail_of(&b.line[..b.line.len() - 1]);
        assert!(t.unterminated);
        assert_eq!(t.last.map(|l| l.0), Some(2));
        // Nothing but a cut line.
        let t = tail_of(partial);
        assert_eq!(t.last, None);
        assert!(t.damage.unwrap().cut);
    }

    #[test]
    fn a_line_longer_than_the_read_bound_is_streamed() {
        let big = "x".repeat(usize::try_from(MAX_READ).unwrap() + 10);
        let a = seal(
            object(json!({"params": {"seq": 99, "t": big}, "z": "\"seq\":7"})),
            41,
            GENESIS,
        );
        let t = tail_of(&a.line);
        assert_eq!(t.last.map(|l| (l.0, hex(&l.1))), Some((41, a.hash)));
        assert_eq!(t.damage, None);
        let mut junk = vec![b'{'; usize::try_from(MAX_READ).unwrap() + 10];
        junk.push(b'\n');
        assert!(tail_of(&junk).last.is_none());
    }

    #[test]
    fn a_line_start_is_found_however_long_the_line() {
        let mut bytes = Vec::new();
        // Lines shorter than the first look back, longer than it, and
        // longer than a whole chunk.
        let lines = [
            "a".repeat(10),
            "b".repeat(FIRST_CHUNK + 5),
            "c".repeat(CHUNK * 2 + 7),
            "d".repeat(3),
        ];
        let mut starts = Vec::new();
        let mut at = 0u64;
        for l in &lines {
            starts.push(at);
            bytes.extend_from_slice(l.as_bytes());
            bytes.push(b'\n');
            at += l.len() as u64 + 1;
        }
        let (_t, f) = file_with(&bytes);
        for (i, l) in lines.iter().enumerate() {
            let end = starts[i] + l.len() as u64; // the line's newline
            assert_eq!(line_start(&f, end, 0).unwrap(), Some(starts[i]), "line {i}");
        }
        // Not searched past `limit`: no start found within it.
        let end = starts[2] + lines[2].len() as u64;
        assert_eq!(line_start(&f, end, starts[2] + 1).unwrap(), None);
    }
}
