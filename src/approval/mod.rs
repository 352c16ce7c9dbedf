//! Human approval for delete- and external-class calls: the requests kept in
//! the state directory, who may decide them, the digest that binds an
//! approval to one call, and the approval hook. The gate that applies them
//! to a call is `crate::run::gate`; the `approvals` commands and the
//! terminal prompt are front-ends (`crate::cli`). Domain layer: imports
//! `audit`, `policy`, `profile`, `state` and the base, never `run` or `cli`.
//!
//! A call that needs approval runs only with one of:
//!
//! - an **approval** of exactly this call: `agentjail approvals approve ID`
//!   turns a pending request into an approval bound to a digest of role,
//!   tool, parameters, extra arguments, argv and session. The first `run`
//!   with the same digest consumes it (under the state lock); it expires
//!   after its TTL (default 10 minutes).
//! - a **yes at the terminal**: with a terminal (`/dev/tty`, and stdin a
//!   terminal, or `run --interactive`) agentjail shows the request and asks.
//!   The default answer is no, and no answer within the role's
//!   `limits.approval_timeout` (default 120 s) is a denial (77).
//!
//! Otherwise `run` records a pending request in the state directory, runs the
//! approval hook for a new one, prints the request id and the command that
//! approves it, and exits 75. Requests, approvals, denials, expiries and
//! consumptions are all audited (`approval_status`).

pub mod binding;
pub mod hook;
pub mod request;

pub use request::*;

use crate::exit;
use std::time::Duration;
use thiserror::Error;

/// How long the approval hook may run by default.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// The exit code of `approvals` for an unknown request or one no longer pending.
pub const FAILED: i32 = 1;
/// Finished requests (denied, consumed, expired) are removed this long after
/// their last change.
pub(crate) const KEEP_FINISHED: Duration = Duration::from_secs(7 * 86_400);

// --------------------------------------------------------------------------
// Errors
// --------------------------------------------------------------------------

#[derive(Debug, Error)]
pub enum ApprovalError {
    #[error("no approval request `{0}` (see `agentjail approvals list --all`)")]
    NotFound(String),
    #[error("bad request id {0:?}: expected 12 hexadecimal digits")]
    BadId(String),
    #[error("approval request `{id}` is {status}, not pending")]
    NotPending { id: String, status: Status },
    #[error(
        "denied: {who} may not decide requests of role `{role}`; approval.approvers: {approvers}"
    )]
    NotApprover {
        who: String,
        role: String,
        approvers: String,
    },
    #[error("cannot decide request `{id}`: role `{role}` is not in the profiles this process loads (approvers and lifetimes come from the role, not the request)")]
    RoleUnknown { id: String, role: String },
    #[error("cannot approve request `{0}`: it was written by an older agentjail and binds nothing; deny it and run the call again")]
    NoBinding(String),
    #[error("--interactive: no terminal to ask on (/dev/tty)")]
    NoTerminal(#[source] std::io::Error),
}

impl ApprovalError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ApprovalError::NotFound(_)
            | ApprovalError::NotPending { .. }
            | ApprovalError::RoleUnknown { .. }
            | ApprovalError::NoBinding(_) => FAILED,
            ApprovalError::BadId(_) | ApprovalError::NoTerminal(_) => exit::USAGE,
            ApprovalError::NotApprover { .. } => exit::DENIED,
        }
    }
}
