//! Exit codes: part of the interface, documented in the README and the man page.

/// The tool ran and succeeded (or `check` allowed the call).
pub const OK: i32 = 0;
/// A human must approve the call first, or its approval is pending.
pub const APPROVAL_REQUIRED: i32 = 75;
/// Denied by policy.
pub const DENIED: i32 = 77;
/// Usage error: unknown flag, missing argument.
pub const USAGE: i32 = 64;
/// Parameters do not fit the tool's spec (or are not valid JSON).
pub const BAD_PARAMETERS: i32 = 65;
/// A profile or configuration is invalid.
pub const CONFIG: i32 = 78;
/// The role's timeout killed the tool.
pub const TIMEOUT: i32 = 124;
/// agentjail itself failed (sandbox setup, audit log, internal error).
pub const LAUNCHER_FAILED: i32 = 125;
/// The tool's program exists but cannot be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The tool's program was not found.
pub const NOT_FOUND: i32 = 127;

/// The exit code for a tool killed by signal `sig`.
pub fn for_signal(sig: i32) -> i32 {
    128 + sig
}
