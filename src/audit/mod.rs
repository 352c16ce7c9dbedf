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
//!
//! # What this module owns, and what it may not touch
//!
//! It owns the record format, the chain, redaction, the log file and the
//! alerts fired for written records. It is a bottom layer: it uses only the
//! crate's [`crate::state`] (for the user's state home) and never the
//! commands, the policy or the sandbox; `audit_cmd` (the `audit` subcommand)
//! and the runners call it, not the other way round.
//!
//! Its submodules, one job each, import one another in one direction only:
//!
//! ```text
//! log ─┬─> alert ──> chain
//!      ├─> redact ─> chain
//!      ├─> scan ───> chain
//!      ├─> record
//!      └─> chain
//! ```
//!
//! - [`record`]: the [`AuditRecord`] model.
//! - [`chain`]: canonical JSON, SHA-256 and hex, [`seal`], [`GENESIS`].
//! - [`scan`]: the line checker ([`check_line`], [`check_line_at`]).
//! - [`redact`]: secret redaction.
//! - [`bound`]: the size bound of one record ([`MAX_RECORD`]).
//! - [`tail`]: the last record of a log and the damage after it, read
//!   backwards in bounded chunks.
//! - [`log`]: the log file, its lock, appending (one `write(2)` a record),
//!   mending damage with a `recovered` record, and the append-only flag.
//! - [`alert`]: the alert command for records that call for a human.
//!
//! Every public item of the submodules but [`alert`]'s is re-exported here,
//! so callers name them `crate::audit::NAME`.

pub mod alert;
pub mod bound;
pub mod chain;
pub mod flags;
pub mod log;
pub mod record;
pub mod redact;
pub mod scan;
pub mod tail;
pub mod verify;

pub use chain::{
    hex, parse_hash, seal, sha256_hex, write_canonical, Sealed, GENESIS, HASH_SUFFIX_LEN,
};
pub use flags::{clear_append_only, is_append_only, set_append_only};
pub use log::{
    default_path, lock_until, rotated_path, AppendOnly, Appended, AuditError, AuditLog,
    DEFAULT_LOCK_TIMEOUT,
};
pub use record::{AuditRecord, EVENT_TYPES};
pub use redact::{redact_record, redact_text, redact_token, sensitive_key};
pub use scan::{check_line, check_line_at, computed_hash, LineFault, LineInfo};
pub use tail::{find_tail, Damage, Tail, MAX_RECORD};
