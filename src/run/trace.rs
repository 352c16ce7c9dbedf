//! The `-v` / `-vv` lines of the run path: each step with its duration.

use super::*;

/// The time since `started`, for the `-v` step lines (only formatted when
/// the line is logged).
pub(super) fn ms(started: Instant) -> String {
    format!("{:.2} ms", started.elapsed().as_secs_f64() * 1000.0)
}

/// Logs the decision (`-v`), and its details (`-vv`).
pub(super) fn log_decision(d: &Decision, started: Instant) {
    tracing::info!(
        "decision: {}{} in {}: {}",
        d.outcome.as_str(),
        d.risk.map(|r| format!(" (risk {r})")).unwrap_or_default(),
        ms(started),
        crate::text::printable(d.headline())
    );
    for r in &d.reasons {
        tracing::debug!(
            "decision reason: [{}] {}",
            r.rule,
            crate::text::printable(&r.message)
        );
    }
    if !d.argv.is_empty() {
        tracing::debug!(
            "decision argv: {}",
            crate::text::printable(
                &d.argv
                    .iter()
                    .map(|a| crate::text::shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        );
    }
}

/// Logs an audit append (`-v`).
pub(super) fn log_append(what: &str, log: &AuditLog, at: &audit::Appended, started: Instant) {
    tracing::info!(
        "audit: {what} record #{} appended to {} and synced in {}",
        at.seq,
        log.path().display(),
        ms(started)
    );
}
