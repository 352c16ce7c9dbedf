//! The call core's side of the pool of prepared sandboxes
//! (`crate::sandbox::pool`): a call claims one built from its own plan, or
//! runs one-shot and wishes for some; the front-end that owns the pool turns
//! the wishes into plans between calls ([`tend`]).
//!
//! A wish is the call itself (role, tool, parameters): the owner decides it
//! again against the profiles as they are then and plans it, writing
//! nothing (no audit record, no budget, no approval), so a sandbox is only
//! ever prepared from what the policy would allow now. A prepared sandbox
//! is claimed only by a call whose own plan, made after its own decision,
//! equals the one it was built from.

use super::{plan_for, CallError, Context};
use crate::policy::{self, Outcome, ToolCall};
use crate::sandbox::{self, pool::Claimed, pool::Pool, Prepared};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a call sends its front-end so that the next call like it is served warm.
#[derive(Serialize, Deserialize)]
struct Wish {
    call: ToolCall,
    json_params: BTreeSet<String>,
}

/// For a front-end that forks a process per call (`serve`, `mcp serve`):
/// from now on it allocates from an arena (`crate::alloc::for_forking`),
/// and glibc's allocator, which still holds what was allocated before,
/// keeps no fast bins, so a forked call's first large allocation does not
/// consolidate, page by copied page, what the owner freed before the fork.
pub fn tune_allocator_for_forks() {
    // SAFETY: mallopt takes two integers and changes only this process's
    // allocator settings (it is called before any call is forked).
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
    crate::alloc::for_forking();
}

/// Whether a call may find a prepared sandbox: the front-end keeps a pool
/// and it held a ready one when this call's process was forked. (Without
/// one, the call forks a new sandbox, and work started before that fork
/// would have to end first.)
pub(super) fn may_claim(ctx: &Context) -> bool {
    ctx.pool
        .as_ref()
        .and_then(|p| p.lock().ok().map(|p| p.status().ready > 0))
        .unwrap_or(false)
}

/// Claims a prepared sandbox for this call's plan; on a miss, wishes for one.
pub(super) fn claim(ctx: &Context, call: &ToolCall, prepared: &Prepared) -> Option<Claimed> {
    let pool = ctx.pool.as_ref()?;
    let mut pool = pool.lock().ok()?;
    // (None: a plan that is never prepared, and then no wish either.)
    let key = sandbox::pool::key_of(prepared)?;
    if let Some(c) = pool.take(&key) {
        tracing::info!("sandbox: a prepared sandbox serves this call");
        return Some(c);
    }
    let wish = Wish {
        call: call.clone(),
        json_params: call.json_params.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec(&wish) {
        pool.wish(&bytes);
    }
    tracing::info!("sandbox: no prepared sandbox for this plan: a new one (and a wish for more)");
    None
}

/// The descriptors of `ctx`'s pool that its owner's loop polls (none
/// without a pool); when one is readable, [`tend`] has work.
pub fn poll_fds(ctx: &Context) -> Vec<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    let Some(Ok(pool)) = ctx.pool.as_ref().map(|p| p.lock()) else {
        return Vec::new();
    };
    pool.poll_fds().iter().map(AsRawFd::as_raw_fd).collect()
}

/// In the owner, after each poll and before forking any call: takes in
/// the sandboxes that reported ready since, so that the call sees them.
/// Cheap (it reads what their channels hold, nothing else); the slower
/// work, [`tend`], waits until the owner has answered and forked what
/// this poll brought, so that it runs beside the calls, not before them.
pub fn collect(ctx: &Context) {
    if let Some(Ok(mut pool)) = ctx.pool.as_ref().map(|p| p.lock()) {
        pool.collect();
    }
}

/// In the owner, after each poll, once it has answered and forked what
/// the poll brought: prepares the wished plans, reaps what the calls left
/// and starts building what the plans lack (never waiting for a sandbox).
/// A wish that does not decide to an allowed call with a plan is dropped
/// (logged at debug level).
pub fn tend(ctx: &Context) {
    if let Some(Ok(mut pool)) = ctx.pool.as_ref().map(|p| p.lock()) {
        tend_pool(ctx, &mut pool);
    }
}

/// In the owner, at its end: the unclaimed sandboxes go.
pub fn shutdown(ctx: &Context) {
    if let Some(Ok(mut pool)) = ctx.pool.as_ref().map(|p| p.lock()) {
        pool.shutdown();
    }
}

fn tend_pool(ctx: &Context, pool: &mut Pool) {
    for bytes in pool.wishes() {
        match plan_wish(ctx, &bytes) {
            Ok(Some(prep)) => pool.want(prep),
            Ok(None) => {}
            Err(e) => tracing::debug!("pool: a wish not prepared: {e}"),
        }
    }
    pool.maintain();
}

/// Decides and plans a wished call, as `call` would, without recording anything.
fn plan_wish(ctx: &Context, bytes: &[u8]) -> Result<Option<Prepared>, CallError> {
    let Ok(wish) = serde_json::from_slice::<Wish>(bytes) else {
        return Ok(None);
    };
    let mut call = wish.call;
    call.json_params = wish.json_params;
    let set = ctx.load_profiles()?;
    if !set.roles.contains_key(&call.role) || !set.catalog.tools.contains_key(&call.tool) {
        return Ok(None);
    }
    let d = policy::decide(&set, &call);
    // The output guards' patterns compiled here, in the owner, are
    // compiled once for every call it forks (caches are per process).
    let _ = crate::policy::output::guard_output(&set.roles[&call.role], "stdout", "primed");
    if !matches!(d.outcome, Outcome::Allow | Outcome::NeedsApproval) || d.argv.is_empty() {
        return Ok(None);
    }
    let mut p = plan_for(&set, &call, &d)?;
    let program = sandbox::resolve_program(&p).map_err(CallError::Resolve)?;
    p.program = Some(program.clone());
    p.cgroup_parent = ctx.cgroup_parent.clone();
    Ok(Some(sandbox::prepare(p, program)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            profiles: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/profiles").into()),
            audit_log: None,
            cgroup_parent: None,
            alert_command: None,
            state_dir: None,
            approval_hook: None,
            pool: None,
        }
    }

    /// A wish comes from a forked call through a pipe the owner reads:
    /// whatever bytes arrive, the owner drops what it cannot plan and
    /// carries on (no panic, no error that would stop its loop).
    #[test]
    fn a_malformed_or_foreign_wish_is_dropped() {
        let ctx = ctx();
        let nested = "[".repeat(10_000);
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\xff\xfe\x00".to_vec(),
            b"{not json".to_vec(),
            nested.into_bytes(),
            br#"{"call": 7, "json_params": []}"#.to_vec(),
            br#"{"call": {"role": "bench"}, "json_params": []}"#.to_vec(),
            br#"{"call": {"role": "nobody", "tool": "true", "params": {}, "extra_args": []}, "json_params": []}"#.to_vec(),
            br#"{"call": {"role": "bench", "tool": "rm", "params": {}, "extra_args": []}, "json_params": []}"#.to_vec(),
            vec![b'x'; 1 << 20],
        ];
        for bytes in cases {
            let got = plan_wish(&ctx, &bytes);
            assert!(
                matches!(got, Ok(None)),
                "{:?} was not dropped",
                String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
            );
        }
    }
}
