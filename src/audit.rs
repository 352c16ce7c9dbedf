//! The audit log: one JSON object per line for every decision and result,
//! hash-chained so that an edit, a deletion, an insertion or a reordering of
//! history shows up in `agentjail audit verify`.
//!
//! Each record carries `seq` (1, 2, 3, … across rotated files), `prev` (the
//! previous record's `hash`, or [`GENESIS`] for the first record of a log) and
//! `hash`: the hex SHA-256 of the record's canonical serialisation without
//! `hash` (see [`write_canonical`]). A line is that canonical serialisation
//! with `,"hash":"…"` added as the last member.
//!
//! Writing holds an exclusive `flock` on the log file across reading the last
//! record, writing the new line (`O_APPEND`) and `fdatasync`, so concurrent
//! launchers never interleave lines or fork the chain. A record that cannot be
//! written stops the run (fail closed).

use crate::alert::{self, Alerts};
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use thiserror::Error;

/// `prev` of the first record of a log that continues no other: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The event types a record can have.
pub const EVENT_TYPES: &[&str] = &["decision", "tool_call", "tool_result", "approval", "error"];

/// `,"hash":"` + 64 hex digits + `"}`: how every line ends.
pub const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// How long a writer waits for the log's lock by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest last line a writer reads back to find the previous hash.
const MAX_LINE: u64 = 64 << 20;

/// `FS_APPEND_FL` from linux/fs.h: the inode may only be appended to.
const FS_APPEND_FL: libc::c_int = 0x20;

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

/// The seed's AgentAuditEvent plus what agentjail knows about the call.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub timestamp: String,
    pub id: String,
    pub event_type: &'static str,
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
    pub role: String,
    pub tool: Option<String>,
    pub params: Option<Value>,
    pub result: Option<String>,
    pub tokens_used: u64,
    pub risk_level: Option<String>,
    pub approval_status: Option<String>,
    pub decision: Option<String>,
    pub reasons: Vec<String>,
    /// Everything else: argv, findings, sandbox, usage, exit status.
    #[serde(flatten)]
    pub details: Map<String, Value>,
    pub host: String,
    pub pid: u32,
    pub uid: u32,
}

impl AuditRecord {
    pub fn new(event_type: &'static str, role: &str) -> AuditRecord {
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        AuditRecord {
            timestamp: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            id: new_id(),
            event_type,
            agent_id: None,
            session_id: None,
            role: role.to_string(),
            tool: None,
            params: None,
            result: None,
            tokens_used: 0,
            risk_level: None,
            approval_status: None,
            decision: None,
            reasons: Vec::new(),
            details: Map::new(),
            host,
            pid: std::process::id(),
            uid: nix::unistd::getuid().as_raw(),
        }
    }

    /// A record of another event about the same call (an `error` after a
    /// decision, say): same agent, session, role, tool, parameters, risk and
    /// decision, with `decision_id` pointing at this record.
    pub fn follow_up(&self, event_type: &'static str) -> AuditRecord {
        let mut r = AuditRecord::new(event_type, &self.role);
        r.agent_id = self.agent_id.clone();
        r.session_id = self.session_id.clone();
        r.tool = self.tool.clone();
        r.params = self.params.clone();
        r.tokens_used = self.tokens_used;
        r.risk_level = self.risk_level.clone();
        r.decision = self.decision.clone();
        r.detail("decision_id", &self.id);
        r
    }

    /// The `error` record for a call that failed after this decision record
    /// (sandbox setup, program resolution, exec): `error` names the failure.
    pub fn error_after(&self, error: &str, exit_code: i32) -> AuditRecord {
        let mut r = self.follow_up("error");
        r.result = Some("error".into());
        r.detail("error", error).detail("exit_code", exit_code);
        r
    }

    pub fn detail(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        self.details.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

/// A record id unique enough to find a line: time in nanoseconds and pid.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{:x}", std::process::id())
}

// --------------------------------------------------------------------------
// Hashing and the canonical form
// --------------------------------------------------------------------------

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// The value of each lower-case hex digit; 0xff for every other byte.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes 64 lower-case hex digits.
pub fn parse_hash(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_VALUE[usize::from(pair[0])],
            HEX_VALUE[usize::from(pair[1])],
        );
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 15);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The canonical serialisation: compact JSON (no whitespace), object members
/// sorted by the UTF-8 bytes of their keys at every level, strings and numbers
/// written as serde_json writes them (only `"`, `\` and control characters
/// escaped; non-ASCII as UTF-8). It does not depend on serde_json's
/// `preserve_order` feature.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Writing a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// A record with its chain fields, ready to append.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The line, ending in `\n`.
    pub line: Vec<u8>,
    pub seq: u64,
    pub hash: String,
}

/// Adds `seq` and `prev` to a record, hashes its canonical form and appends
/// `hash` as the last member. Any `hash` already in the record is dropped.
pub fn seal(mut record: Map<String, Value>, seq: u64, prev: &str) -> Sealed {
    record.remove("hash");
    record.insert("seq".into(), Value::from(seq));
    record.insert("prev".into(), Value::from(prev));
    let mut line = Vec::with_capacity(1024);
    write_canonical(&Value::Object(record), &mut line);
    let hash = sha256_hex(&line);
    line.pop(); // the closing brace; `hash` goes last
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    Sealed { line, seq, hash }
}

/// What a line holds when it is a well-formed chained record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    pub seq: u64,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
    /// The recorded hash is the SHA-256 of the line's canonical bytes.
    pub hash_ok: bool,
}

/// Why a line is not a chained record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFault {
    /// Not JSON at all.
    NotJson(String),
    /// JSON, but not a record agentjail writes (a field missing, the wrong
    /// layout).
    NotRecord(String),
}

/// The top-level chain members of a line, as byte ranges.
#[derive(Default)]
struct Members {
    seq: Option<(usize, usize, bool)>,
    prev: Option<(usize, usize, bool)>,
    hash: Option<(usize, usize, bool)>,
}

/// The bytes that end a run of plain string content: `"`, `\` and the
/// control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any of eight bytes is `"`, `\` or a control character (SWAR:
/// a byte below 0x20, or equal to 0x22 or 0x5c, sets its high bit).
fn stops_run(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_0x20 = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_0x20 | zero(w ^ (ONES * 0x22)) | zero(w ^ (ONES * 0x5c))) != 0
}

/// A validating JSON scanner for one line (RFC 8259 grammar, nesting up to
/// 128 levels) that picks out the top-level `seq`, `prev` and `hash`
/// members without building anything: `audit verify` runs it over every
/// line, so it has to be fast.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

/// (start, end, is a string without escapes) of a value.
type Span = (usize, usize, bool);

impl Scan<'_> {
    fn fail(&self, what: &str) -> LineFault {
        LineFault::NotJson(format!("{what} at column {}", self.i + 1))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Whitespace within a line (a newline ends the line).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), LineFault> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.fail(what))
        }
    }

    /// A string, at its opening quote: the span of its content.
    fn string(&mut self) -> Result<Span, LineFault> {
        self.i += 1;
        let start = self.i;
        let mut plain = true;
        loop {
            // Eight bytes at a time while none of them ends the run.
            while let Some(chunk) = self.b.get(self.i..self.i + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                if stops_run(u64::from_le_bytes(w)) {
                    break;
                }
                self.i += 8;
            }
            while let Some(&c) = self.b.get(self.i) {
                if STRING_STOP[usize::from(c)] {
                    break;
                }
                self.i += 1;
            }
            match self.peek() {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => {
                    let end = self.i;
                    self.i += 1;
                    return Ok((start, end, plain));
                }
                Some(b'\\') => {
                    plain = false;
                    match self.b.get(self.i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                        Some(b'u') => {
                            let ok = self
                                .b
                                .get(self.i + 2..self.i + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                            if !ok {
                                return Err(self.fail("invalid \\u escape"));
                            }
                            self.i += 6;
                        }
                        _ => return Err(self.fail("invalid escape")),
                    }
                }
                Some(_) => return Err(self.fail("control character in a string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> Result<Span, LineFault> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.fail("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        Ok((start, self.i, false))
    }

    fn literal(&mut self, word: &[u8]) -> Result<Span, LineFault> {
        let start = self.i;
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok((start, self.i, false))
        } else {
            Err(self.fail("expected a value"))
        }
    }

    /// Any value; `members` collects the chain members of the top object.
    fn value(&mut self, depth: u32, members: Option<&mut Members>) -> Result<Span, LineFault> {
        if depth > 128 {
            return Err(self.fail("nested deeper than 128 levels"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth, members),
            Some(b'[') => {
                let start = self.i;
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok((start, self.i, false));
                }
                loop {
                    self.ws();
                    self.value(depth + 1, None)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok((start, self.i, false));
                        }
                        _ => return Err(self.fail("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.fail("unexpected end")),
            Some(_) => Err(self.fail("expected a value")),
        }
    }

    fn object(&mut self, depth: u32, mut members: Option<&mut Members>) -> Result<Span, LineFault> {
        let start = self.i;
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok((start, self.i, false));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.fail("expected a key"));
            }
            let (ks, ke, _) = self.string()?;
            self.ws();
            self.expect(b':', "expected `:`")?;
            self.ws();
            let span = self.value(depth + 1, None)?;
            if let Some(m) = members.as_deref_mut() {
                let slot = match &self.b[ks..ke] {
                    b"seq" => Some(&mut m.seq),
                    b"prev" => Some(&mut m.prev),
                    b"hash" => Some(&mut m.hash),
                    _ => None,
                };
                if let Some(slot) = slot {
                    if slot.is_some() {
                        let key = String::from_utf8_lossy(&self.b[ks..ke]).into_owned();
                        return Err(LineFault::NotRecord(format!("duplicate `{key}`")));
                    }
                    *slot = Some(span);
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok((start, self.i, false));
                }
                _ => return Err(self.fail("expected `,` or `}`")),
            }
        }
    }
}

fn scan_members(s: &mut Scan) -> Result<Option<Members>, LineFault> {
    s.ws();
    let members = if s.peek() == Some(b'{') {
        let mut m = Members::default();
        s.value(0, Some(&mut m))?;
        Some(m)
    } else {
        s.value(0, None)?;
        None
    };
    s.ws();
    match s.peek() {
        None | Some(b'\n') => Ok(members),
        Some(_) => Err(s.fail("trailing characters")),
    }
}

/// Scans the line at the start of `buf` (up to its first newline, or the
/// end): whether it is one JSON value (RFC 8259), the chain members of its
/// top-level object (`None` when it is not an object), and its length.
fn scan_line_in(buf: &[u8]) -> (Result<Option<Members>, LineFault>, usize) {
    let mut s = Scan { b: buf, i: 0 };
    let scanned = scan_members(&mut s);
    // The scanner never passes a newline, so the line ends at the first one
    // from where it stopped.
    let end = match scanned {
        Ok(_) => s.i,
        Err(_) => {
            s.i + buf[s.i.min(buf.len())..]
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(buf.len() - s.i.min(buf.len()))
        }
    };
    let scanned = scanned.and_then(|m| match std::str::from_utf8(&buf[..end]) {
        Ok(_) => Ok(m),
        Err(_) => Err(LineFault::NotJson("invalid UTF-8".into())),
    });
    (scanned, end)
}

#[cfg(test)]
fn scan_line(line: &[u8]) -> Result<Option<Members>, LineFault> {
    let (r, end) = scan_line_in(line);
    if end != line.len() {
        return Err(LineFault::NotJson("a newline inside the line".into()));
    }
    r
}

/// Parses one line (without its newline) and checks its own hash.
pub fn check_line(line: &[u8]) -> Result<LineInfo, LineFault> {
    let (r, end) = check_line_at(line);
    if end != line.len() {
        return Err(LineFault::NotJson("a newline inside the line".into()));
    }
    r
}

/// Checks the line at the start of `buf`, which ends at the first newline
/// (or the end of `buf`); returns the result and the line's length.
///
/// The hash is computed over the bytes as written, with the final
/// `,"hash":"…"` member removed: for every line agentjail writes, that is the
/// canonical serialisation of the record without `hash`.
pub fn check_line_at(buf: &[u8]) -> (Result<LineInfo, LineFault>, usize) {
    let (scanned, end) = scan_line_in(buf);
    let line = &buf[..end];
    (scanned.and_then(|m| check_members(line, m)), end)
}

fn check_members(line: &[u8], m: Option<Members>) -> Result<LineInfo, LineFault> {
    let bad = |why: &str| LineFault::NotRecord(why.to_string());
    let m = m.ok_or_else(|| bad("not a JSON object"))?;
    let (Some(seq), Some(prev), Some(hash)) = (m.seq, m.prev, m.hash) else {
        let missing: Vec<&str> = [("seq", m.seq), ("prev", m.prev), ("hash", m.hash)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        return Err(bad(&format!("missing `{}`", missing.join("`, `"))));
    };
    let seq_text = &line[seq.0..seq.1];
    let seq = if !seq_text.is_empty() && seq_text.iter().all(u8::is_ascii_digit) {
        std::str::from_utf8(seq_text)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
    } else {
        None
    }
    .ok_or_else(|| bad("`seq` is not an unsigned integer"))?;
    let hex_of = |span: Span| span.2.then(|| parse_hash(&line[span.0..span.1])).flatten();
    let prev_hash = hex_of(prev).ok_or_else(|| bad("`prev` is not a hash"))?;
    let own = hex_of(hash).ok_or_else(|| bad("`hash` is not a hash"))?;
    let n = line.len();
    let laid_out = n > HASH_SUFFIX_LEN
        && hash.0 == n - 66
        && &line[n - HASH_SUFFIX_LEN..n - HASH_SUFFIX_LEN + 9] == b",\"hash\":\""
        && &line[n - 2..] == b"\"}";
    if !laid_out {
        return Err(bad("`hash` is not the line's last member"));
    }
    let mut h = Sha256::new();
    h.update(&line[..n - HASH_SUFFIX_LEN]);
    h.update(b"}");
    let computed: [u8; 32] = h.finalize().into();
    Ok(LineInfo {
        seq,
        prev: prev_hash,
        hash: own,
        hash_ok: computed == own,
    })
}

/// The hash a line's content actually has (for error messages).
pub fn computed_hash(line: &[u8]) -> Option<String> {
    let n = line.len();
    (n > HASH_SUFFIX_LEN).then(|| {
        let mut h = Sha256::new();
        h.update(&line[..n - HASH_SUFFIX_LEN]);
        h.update(b"}");
        hex(&h.finalize())
    })
}

// --------------------------------------------------------------------------
// Redaction
// --------------------------------------------------------------------------

/// What replaces a secret: `[REDACTED:` + the first 12 hex digits of a
/// domain-separated SHA-256 of the value + `]`, so equal values can be
/// correlated without being shown.
pub fn redact_token(value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"agentjail redact v1\0");
    h.update(value.as_bytes());
    format!("[REDACTED:{}]", &hex(&h.finalize())[..12])
}

fn is_redacted(s: &str) -> bool {
    s.starts_with("[REDACTED:") && s.ends_with(']') && s.len() == 23
}

/// Parameter names whose values are secrets, whatever they look like.
pub fn sensitive_key(key: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "key",
        "keys",
        "apikey",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
        "privatekey",
        "secretkey",
        "accesskey",
    ];
    let lower = key.to_ascii_lowercase();
    if ["password", "passwd", "secret", "credential"]
        .iter()
        .any(|w| lower.contains(w))
        || lower.ends_with("token")
        || lower.ends_with("apikey")
    {
        return true;
    }
    // Words of snake_case, kebab-case, dotted and camelCase names.
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            words.push(std::mem::take(&mut cur));
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    words.push(cur);
    words.iter().any(|w| WORDS.contains(&w.as_str()))
}

/// A credential shape; `group` is the part replaced (0: the whole match).
struct Shape {
    re: regex::Regex,
    group: usize,
    guarded: bool,
}

/// Whether a word after `Bearer`/`Basic` looks like a credential rather
/// than prose: a digit, both cases, or a base64/token punctuation mark.
fn looks_random(s: &str) -> bool {
    s.bytes()
        .any(|b| b.is_ascii_digit() || b"+/=_-.~".contains(&b))
        || (s.bytes().any(|b| b.is_ascii_uppercase()) && s.bytes().any(|b| b.is_ascii_lowercase()))
}

/// (pattern, group replaced, the group must look random: see [`looks_random`]).
const SHAPES: &[(&str, usize, bool)] = &[
    // PEM private keys, up to their END line (or the end of the text).
    (
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\z)",
        0,
        false,
    ),
    // AWS access key ids.
    (
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[0-9A-Z]{16}\b",
        0,
        false,
    ),
    // GitHub, GitLab and Slack tokens.
    (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,})",
        0,
        false,
    ),
    // Google API keys.
    (r"\bAIza[0-9A-Za-z_-]{35}", 0, false),
    // OpenAI/Anthropic-style and Stripe keys.
    (
        r"\b(?:sk-[A-Za-z0-9_-]{20,}|[rsp]k_(?:live|test)_[0-9A-Za-z]{16,})",
        0,
        false,
    ),
    // JSON Web Tokens.
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        0,
        false,
    ),
    // Bearer and Basic credentials (Authorization headers).
    (
        r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/-]{8,}=*)",
        1,
        true,
    ),
    // Passwords in URLs: scheme://user:PASSWORD@host.
    (r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", 1, false),
    // NAME=VALUE and NAME: VALUE with a secret's name.
    (
        r#"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)["']?\s*[=:]\s*("[^"]+"|'[^']+'|[^\s"'&;,]+)"#,
        1,
        false,
    ),
];

static SHAPE_RES: LazyLock<Vec<Shape>> = LazyLock::new(|| {
    SHAPES
        .iter()
        .filter_map(|(p, group, guarded)| {
            regex::Regex::new(p).ok().map(|re| Shape {
                re,
                group: *group,
                guarded: *guarded,
            })
        })
        .collect()
});

/// Lower-case literals of which every credential shape contains at least one
/// (case-insensitively): a cheap prefilter for `SHAPES`.
const SHAPE_HINTS: &[&str] = &[
    "private key",
    "akia",
    "asia",
    "abia",
    "acca",
    "agpa",
    "aida",
    "aipa",
    "anpa",
    "anva",
    "apka",
    "aroa",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "aiza",
    "sk-",
    "k_live_",
    "k_test_",
    "eyj",
    "bearer",
    "basic",
    "://",
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "private-key",
];

/// Whether a text may match any credential shape (no false negatives).
fn might_hold_credentials(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    SHAPE_HINTS.iter().any(|h| lower.contains(h))
}

/// Replaces credentials in one text: the known secret values first, then
/// every credential shape. `None` when nothing changed.
pub fn redact_text(text: &str, secrets: &[String]) -> Option<String> {
    let mut out = Cow::Borrowed(text);
    for s in secrets {
        if s.len() >= 4 && out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), &redact_token(s)));
        }
    }
    // Most texts hold no hint of a credential: then the shapes are not even
    // compiled (building them costs more than a whole launch otherwise).
    let shapes: &[Shape] = if might_hold_credentials(&out) {
        &SHAPE_RES
    } else {
        &[]
    };
    for shape in shapes {
        if !shape.re.is_match(&out) {
            continue;
        }
        let replaced = shape
            .re
            .replace_all(&out, |c: &regex::Captures| {
                let Some(whole) = c.get(0) else {
                    return String::new();
                };
                match c.get(shape.group) {
                    Some(m)
                        if !is_redacted(m.as_str())
                            && (!shape.guarded || looks_random(m.as_str())) =>
                    {
                        let rel = m.start() - whole.start()..m.end() - whole.start();
                        let w = whole.as_str();
                        format!(
                            "{}{}{}",
                            &w[..rel.start],
                            redact_token(m.as_str()),
                            &w[rel.end..]
                        )
                    }
                    _ => whole.as_str().to_string(),
                }
            })
            .into_owned();
        if replaced != *out {
            out = Cow::Owned(replaced);
        }
    }
    match out {
        Cow::Borrowed(_) => None,
        Cow::Owned(s) => Some(s),
    }
}

/// Removes secrets from a record before it is written: values of parameters
/// with a secret's name (at any depth of `params`) are replaced whole, every
/// string anywhere in the record is cleared of those values and of credential
/// shapes (cloud keys, tokens, private keys, bearer credentials, URL
/// passwords, `password=…`).
pub fn redact_record(record: &mut Map<String, Value>) {
    let mut secrets = Vec::new();
    if let Some(p) = record.get_mut("params") {
        redact_keyed(p, &mut secrets);
    }
    secrets.sort_by_key(|s: &String| std::cmp::Reverse(s.len()));
    secrets.dedup();
    for (_, v) in record.iter_mut() {
        redact_strings(v, &secrets);
    }
}

fn redact_keyed(v: &mut Value, secrets: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if sensitive_key(k) && !x.is_null() && !x.is_boolean() {
                    if matches!(x, Value::String(s) if is_redacted(s)) {
                        continue;
                    }
                    collect_strings(x, secrets);
                    let text = match &*x {
                        Value::String(s) => s.clone(),
                        other => {
                            let mut b = Vec::new();
                            write_canonical(other, &mut b);
                            String::from_utf8_lossy(&b).into_owned()
                        }
                    };
                    *x = Value::String(redact_token(&text));
                } else {
                    redact_keyed(x, secrets);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_keyed(x, secrets)),
        _ => {}
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn redact_strings(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => {
            if let Some(new) = redact_text(s, secrets) {
                *s = new;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_strings(x, secrets)),
        Value::Object(m) => m.values_mut().for_each(|x| redact_strings(x, secrets)),
        _ => {}
    }
}

// --------------------------------------------------------------------------
// Writing
// --------------------------------------------------------------------------

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
    /// alert; see [`crate::alert`].
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
        let map = match serde_json::to_value(record) {
            Ok(Value::Object(m)) => m,
            Ok(_) | Err(_) => {
                return Err(AuditError::Write {
                    path: self.path.clone(),
                    source: std::io::Error::other("the record is not a JSON object"),
                })
            }
        };
        self.append_map(map)
    }

    /// Appends a record given as a JSON object (redacted here).
    pub fn append_map(&self, mut map: Map<String, Value>) -> Result<Appended, AuditError> {
        redact_record(&mut map);
        let reason = alert::reason(&map);
        let who = reason.as_ref().map(|_| alert::Subject::of(&map));
        let sealed = self.write_chained(map)?;
        if let (Some(reason), Some(who)) = (reason, who) {
            // Only now that the record is durable.
            self.alerts.fire(&self.path, &sealed, reason, who);
        }
        Ok(Appended {
            seq: sealed.seq,
            hash: sealed.hash,
        })
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

    /// Locks the log, reads the last hash, writes and syncs the new line.
    fn write_chained(&self, mut map: Map<String, Value>) -> Result<Sealed, AuditError> {
        let (file, created) = self.open_locked()?;
        let path = &self.path;
        let meta = file.metadata().map_err(|source| AuditError::Read {
            path: path.clone(),
            source,
        })?;
        let size = meta.len();
        let (last_seq, last_hash) = if size > 0 {
            last_record(&file, size, path)?
        } else {
            self.continued_chain()?
        };
        let flag = match self.set_append_only {
            AppendOnly::Never => false,
            AppendOnly::Always => true,
            AppendOnly::Auto => !path.parent().is_some_and(in_temp_dir),
        };
        if created && flag && nix::unistd::geteuid().is_root() {
            if let Err(e) = set_append_only(&file) {
                tracing::info!("append-only flag not set on {}: {e}", path.display());
            }
        }
        map.insert("log_append_only".into(), Value::Bool(is_append_only(&file)));
        let sealed = seal(map, last_seq + 1, &last_hash);
        let mut f = &*file;
        if let Err(source) = f.write_all(&sealed.line) {
            // Undo a partial line so the next writer finds a whole record
            // (not possible once the file is append-only).
            let _ = file.set_len(size);
            return Err(AuditError::Write {
                path: path.clone(),
                source,
            });
        }
        if let Err(source) = file.sync_data() {
            let _ = file.set_len(size);
            return Err(AuditError::Sync {
                path: path.clone(),
                source,
            });
        }
        if created {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(sealed)
        // The lock is released when `file` is dropped, after the sync.
    }

    /// For a new or emptied log: the last record of the rotated `PATH.1`, or
    /// the genesis.
    fn continued_chain(&self) -> Result<(u64, String), AuditError> {
        let older = rotated_path(&self.path, 1);
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&older)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((0, GENESIS.to_string()))
            }
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
            return Ok((0, GENESIS.to_string()));
        }
        last_record(&file, size, &older)
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

/// The last line of a file of `size` bytes, without its newline, read from
/// the end. `Err(why)` when the file does not end in a newline.
pub fn read_last_line(file: &File, size: u64) -> std::io::Result<Result<Vec<u8>, String>> {
    if size == 0 {
        return Ok(Err("the file is empty".into()));
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, size - 1)?;
    if last[0] != b'\n' {
        return Ok(Err(
            "the last line is incomplete (no newline at its end)".into()
        ));
    }
    let end = size - 1;
    let mut start = end;
    let mut tail: Vec<u8> = Vec::new();
    const CHUNK: u64 = 64 << 10;
    while start > 0 {
        let from = start.saturating_sub(CHUNK);
        let mut buf = vec![0u8; usize::try_from(start - from).unwrap_or(0)];
        file.read_exact_at(&mut buf, from)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            buf.drain(..=i);
            buf.extend_from_slice(&tail);
            return Ok(Ok(buf));
        }
        buf.extend_from_slice(&tail);
        tail = buf;
        start = from;
        if end - start > MAX_LINE {
            return Ok(Err(format!(
                "the last line is longer than {MAX_LINE} bytes"
            )));
        }
    }
    Ok(Ok(tail))
}

/// The seq and hash of a log's last record, read from the end of the file.
fn last_record(file: &File, size: u64, path: &Path) -> Result<(u64, String), AuditError> {
    let line = read_last_line(file, size)
        .map_err(|source| AuditError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .map_err(|why| AuditError::Damaged {
            path: path.to_path_buf(),
            why,
        })?;
    match check_line(&line) {
        Ok(info) => Ok((info.seq, hex(&info.hash))),
        Err(LineFault::NotJson(e)) => Err(AuditError::Damaged {
            path: path.to_path_buf(),
            why: format!("its last line is not JSON ({e})"),
        }),
        Err(LineFault::NotRecord(e)) => Err(AuditError::Damaged {
            path: path.to_path_buf(),
            why: format!(
                "its last line is not a chained audit record ({e}; written by an older agentjail?)"
            ),
        }),
    }
}

fn get_flags(file: &File) -> std::io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int to the pointer, which points at
    // a live, writable c_int for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(flags)
}

/// Whether the file's inode has the append-only flag (`chattr +a`).
pub fn is_append_only(file: &File) -> bool {
    get_flags(file).is_ok_and(|f| f & FS_APPEND_FL != 0)
}

/// Sets the append-only flag (needs CAP_LINUX_IMMUTABLE and a filesystem
/// that supports it).
pub fn set_append_only(file: &File) -> std::io::Result<()> {
    let flags = get_flags(file)? | FS_APPEND_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int from the pointer, which points at
    // a live c_int for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Clears the append-only flag (tests and tools that must remove a log).
pub fn clear_append_only(file: &File) -> std::io::Result<()> {
    let flags = get_flags(file)? & !FS_APPEND_FL;
    // SAFETY: as in `set_append_only`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn run_stops_match_the_table() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut w = [b'a'; 8];
                w[at] = b;
                assert_eq!(
                    stops_run(u64::from_le_bytes(w)),
                    STRING_STOP[usize::from(b)],
                    "{b}"
                );
            }
        }
        assert_eq!(parse_hash(GENESIS.as_bytes()), Some([0; 32]));
        assert_eq!(parse_hash(&[b'F'; 64]), None);
        assert_eq!(parse_hash(&[b'g'; 64]), None);
        let h = sha256_hex(b"x");
        assert_eq!(hex(&parse_hash(h.as_bytes()).unwrap()), h);
    }

    #[test]
    fn every_shape_compiles() {
        assert_eq!(SHAPE_RES.len(), SHAPES.len());
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": "é\n"}], "c": true}});
        let mut out = Vec::new();
        write_canonical(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":true,"z":[3,{"x":"é\n","y":null}]},"b":1}"#
        );
    }

    #[test]
    fn sealed_lines_check_and_chain() {
        let a = seal(map(json!({"event_type": "decision", "x": 1})), 1, GENESIS);
        let line = &a.line[..a.line.len() - 1];
        let info = check_line(line).unwrap();
        assert_eq!(info.seq, 1);
        assert!(info.hash_ok);
        assert_eq!(hex(&info.hash), a.hash);
        assert_eq!(hex(&info.prev), GENESIS);
        // The hash is the SHA-256 of the canonical form without `hash`.
        let mut v: Value = serde_json::from_slice(line).unwrap();
        v.as_object_mut().unwrap().remove("hash");
        let mut canon = Vec::new();
        write_canonical(&v, &mut canon);
        assert_eq!(sha256_hex(&canon), a.hash);
        let b = seal(map(json!({"event_type": "tool_result"})), 2, &a.hash);
        let info = check_line(&b.line[..b.line.len() - 1]).unwrap();
        assert_eq!(hex(&info.prev), a.hash);
        // One changed byte breaks the hash.
        let text = String::from_utf8(line.to_vec())
            .unwrap()
            .replace("\"x\":1", "\"x\":2");
        assert!(!check_line(text.as_bytes()).unwrap().hash_ok);
    }

    #[test]
    fn the_scanner_agrees_with_serde_json() {
        let cases: &[&str] = &[
            r#"{"a":1}"#,
            r#" { "a" : [1, -2.5e+3, true, false, null, "x\"\u00e9\n", {}] } "#,
            r#"[1,2]"#,
            r#""s""#,
            r#"0"#,
            r#"{"a":01}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":1}}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":tru}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            "{\"a\":\"\t\"}",
            "",
            "   ",
            r#"{"a":"é"}"#,
        ];
        for c in cases {
            let serde = serde_json::from_str::<serde::de::IgnoredAny>(c).is_ok();
            let ours = scan_line(c.as_bytes()).is_ok();
            assert_eq!(ours, serde, "{c:?}");
        }
        assert!(scan_line(b"{\"a\":\"\xff\"}").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(scan_line(deep.as_bytes()).is_err());
    }

    proptest::proptest! {
        /// One changed, removed or added ASCII byte anywhere in a record:
        /// the scanner calls it JSON exactly when serde_json does.
        #[test]
        fn the_scanner_agrees_with_serde_json_on_mutations(
            pos in 0usize..400, byte in 0u8..127, how in 0u8..3,
        ) {
            let s = seal(map(json!({"a": [1, -2.5, "x\u{1}y", {"b": null}], "t": true,
                                    "s": "q\"uote", "n": 1e10})), 3, GENESIS);
            let mut line = s.line[..s.line.len() - 1].to_vec();
            // A newline ends a line: never one inside.
            let byte = if byte == b'\n' { 127 } else { byte };
            let pos = pos % (line.len() + 1);
            match how {
                0 if pos < line.len() => line[pos] = byte,
                1 if pos < line.len() => { line.remove(pos); }
                _ => line.insert(pos, byte),
            }
            let serde = serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_ok();
            proptest::prop_assert_eq!(scan_line(&line).is_ok(), serde,
                "{}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn line_faults() {
        assert!(matches!(
            check_line(b"{not json"),
            Err(LineFault::NotJson(_))
        ));
        assert!(matches!(check_line(b""), Err(LineFault::NotJson(_))));
        assert!(matches!(
            check_line(br#"{"a":1}"#),
            Err(LineFault::NotRecord(_))
        ));
        let forged = format!(r#"{{"seq":1,"hash":"{GENESIS}","prev":"{GENESIS}"}}"#);
        assert!(matches!(
            check_line(forged.as_bytes()),
            Err(LineFault::NotRecord(_))
        ));
        let dup = format!(r#"{{"seq":1,"seq":2,"prev":"{GENESIS}","hash":"{GENESIS}"}}"#);
        assert_eq!(
            check_line(dup.as_bytes()),
            Err(LineFault::NotRecord("duplicate `seq`".into()))
        );
        let neg = format!(r#"{{"seq":-1,"prev":"{GENESIS}","hash":"{GENESIS}"}}"#);
        assert!(matches!(
            check_line(neg.as_bytes()),
            Err(LineFault::NotRecord(_))
        ));
        // A nested `hash` is not the record's.
        let nested = format!(r#"{{"x":{{"hash":"{GENESIS}"}},"seq":1,"prev":"{GENESIS}"}}"#);
        assert_eq!(
            check_line(nested.as_bytes()),
            Err(LineFault::NotRecord("missing `hash`".into()))
        );
    }

    #[test]
    fn keyed_parameters_are_redacted_with_a_correlatable_hash() {
        let mut r = map(json!({
            "params": {"password": "hunter2-x", "db_token": "abc12345", "user": "bob",
                        "nested": {"apiKey": 12345678, "max_tokens": 100}},
            "argv": ["login", "--user", "bob", "--pw", "hunter2-x"],
            "reasons": ["value hunter2-x rejected"],
        }));
        redact_record(&mut r);
        let tok = redact_token("hunter2-x");
        assert!(tok.starts_with("[REDACTED:") && tok.len() == 23, "{tok}");
        assert_eq!(r["params"]["password"], tok);
        assert_eq!(r["params"]["db_token"], redact_token("abc12345"));
        assert_eq!(r["params"]["nested"]["apiKey"], redact_token("12345678"));
        assert_eq!(r["params"]["nested"]["max_tokens"], 100);
        assert_eq!(r["params"]["user"], "bob");
        assert_eq!(r["argv"][4], tok);
        assert_eq!(r["reasons"][0], format!("value {tok} rejected"));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn the_prefilter_lets_every_credential_shape_through() {
        let samples = [
            "ASIAIOSFODNN7EXAMPLE",
            "AROAIOSFODNN7EXAMPLE",
            "gho_0123456789abcdefghijABCDEFGHIJ012345",
            "github_pat_0123456789abcdefghijABCD",
            "glpat-0123456789abcdefghij",
            "rk_live_0123456789abcdefgh",
            "pk_test_0123456789abcdefgh",
            "Authorization: BASIC dXNlcjpwYXNzd29yZA==",
            "https://bob:s3cr3tpass@example.com/x",
            "PASSWD=hunter22",
            "Client-Secret: abcdef",
            "API-KEY=abc123",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA",
        ];
        for s in samples {
            let matched = SHAPE_RES.iter().any(|sh| sh.re.is_match(s));
            assert!(matched, "sample matches no shape: {s}");
            assert!(might_hold_credentials(s), "prefilter hides {s}");
        }
        assert!(!might_hold_credentials(
            "risk class read: runs without approval"
        ));
    }

    #[test]
    fn credential_shapes_are_redacted_anywhere() {
        let cases = [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "xoxb-123456789012-abcdefghij",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
            "AIzaSyA-0123456789abcdefghijklmnopqrstu",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        ];
        for secret in cases {
            let mut r = map(json!({"params": {"text": format!("x {secret} y")},
                                   "argv": ["echo", format!("x {secret} y")]}));
            redact_record(&mut r);
            let want = format!("x {} y", redact_token(secret));
            assert_eq!(r["params"]["text"], want, "{secret}");
            assert_eq!(r["argv"][1], want, "{secret}");
        }
        // A private key without its END line is redacted to the end of the text.
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA";
        assert_eq!(
            redact_text(&format!("key: {cut}"), &[]).unwrap(),
            format!("key: {}", redact_token(cut))
        );
        let partial = [
            ("Authorization: Bearer abcdefgh12345678", "abcdefgh12345678"),
            ("curl https://bob:s3cr3tpw@example.com/x", "s3cr3tpw"),
            ("--password=hunter2", "hunter2"),
            ("API_KEY: 'q1w2e3r4'", "'q1w2e3r4'"),
        ];
        for (text, secret) in partial {
            let out = redact_text(text, &[]).unwrap_or_else(|| panic!("{text}"));
            assert!(!out.contains(secret), "{out}");
            assert!(out.contains(&redact_token(secret)), "{out}");
        }
        for clean in [
            "hello",
            "kubectl get pods",
            "sha256:abc",
            "max_tokens=100",
            "basic functionality",
            "Bearer considerations",
        ] {
            assert_eq!(redact_text(clean, &[]), None, "{clean}");
        }
    }

    #[test]
    fn sensitive_key_names() {
        for k in [
            "password",
            "db_password",
            "PASSWORD",
            "token",
            "githubToken",
            "api_key",
            "apiKey",
            "key",
            "secret_name",
            "client-secret",
            "Authorization",
            "aws.access_key",
            "ssh-key",
            "passphrase",
        ] {
            assert!(sensitive_key(k), "{k}");
        }
        for k in [
            "path",
            "text",
            "max_tokens",
            "monkey",
            "author",
            "keyword",
            "namespace",
        ] {
            assert!(!sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn last_line_is_read_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let long = "x".repeat(200_000);
        std::fs::write(&p, format!("first\n{long}\n")).unwrap();
        let f = File::open(&p).unwrap();
        let size = f.metadata().unwrap().len();
        assert_eq!(read_last_line(&f, size).unwrap().unwrap(), long.as_bytes());
        std::fs::write(&p, "only\n").unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(read_last_line(&f, 5).unwrap().unwrap(), b"only");
        std::fs::write(&p, "a\nhalf").unwrap();
        let f = File::open(&p).unwrap();
        assert!(read_last_line(&f, 6).unwrap().is_err());
    }

    #[test]
    fn appends_chain_and_continue_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/audit.jsonl");
        let log = AuditLog::new(&p).with_append_only_flag(AppendOnly::Never);
        let a = log.append(&AuditRecord::new("decision", "r")).unwrap();
        let b = log.append(&AuditRecord::new("tool_result", "r")).unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(p.parent().unwrap()), 0o700);
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let second = check_line(lines[1].as_bytes()).unwrap();
        assert_eq!(hex(&second.prev), a.hash);
        // logrotate: the log becomes PATH.1 and a new file continues the chain.
        std::fs::rename(&p, rotated_path(&p, 1)).unwrap();
        let c = log.append(&AuditRecord::new("decision", "r")).unwrap();
        assert_eq!(c.seq, 3);
        let text = std::fs::read_to_string(&p).unwrap();
        let first = check_line(text.trim_end().as_bytes()).unwrap();
        assert_eq!(hex(&first.prev), b.hash);
        // A damaged last line stops the next writer.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"half")
            .unwrap();
        let e = log.append(&AuditRecord::new("decision", "r")).unwrap_err();
        assert!(matches!(e, AuditError::Damaged { .. }), "{e}");
    }
}
