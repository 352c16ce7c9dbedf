//! The line scanner of `verify`: reads a log in bounded chunks and
//! classifies each line (a record, a fault, a cut tail).

use super::read::{open_read, settled_size, ReadError};
use super::{LineFault, LineInfo};
use crate::audit;
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

/// What one line of a log turned out to be.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    Record(LineInfo),
    Fault(LineFault),
    /// The file's last line has no newline.
    Cut,
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) file: usize,
    pub(super) line: u64,
    pub(super) kind: Kind,
    /// The line's bytes, kept for damaged lines and for a record that may
    /// mend them (the first line of a part, a line after a damaged one).
    pub(super) bytes: Option<Vec<u8>>,
}

impl Entry {
    pub(super) fn record(&self) -> Option<&LineInfo> {
        match &self.kind {
            Kind::Record(r) => Some(r),
            _ => None,
        }
    }
}

/// Reads the files in order, in chunks, and checks the lines of each chunk
/// on every core; hands out the results in order.
pub(super) struct Scanner {
    pub(super) paths: Vec<PathBuf>,
    pub(super) next_file: usize,
    pub(super) current: Option<(File, u64)>,
    pub(super) file: usize,
    pub(super) line: u64,
    pub(super) carry: Vec<u8>,
    pub(super) queue: VecDeque<Entry>,
    pub(super) threads: usize,
}

const CHUNK: usize = 8 << 20;

impl Scanner {
    pub(super) fn new(paths: Vec<PathBuf>) -> Scanner {
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

    pub(super) fn next(&mut self) -> Result<Option<Entry>, (usize, ReadError)> {
        if self.queue.is_empty() && !self.fill()? {
            return Ok(None);
        }
        Ok(self.queue.pop_front())
    }

    /// The entry after the next `n` ones, without taking it.
    pub(super) fn peek(&mut self, n: usize) -> Option<Entry> {
        while self.queue.len() <= n {
            match self.fill() {
                Ok(true) => {}
                _ => return None,
            }
        }
        self.queue.get(n).cloned()
    }
}
