//! Serving a run's egress allow-list: starts the proxy on the listener the
//! sandbox hands over and turns its connections into `network` records.
//!
//! - An allowed connection is recorded (stage `open`, synced) before the
//!   proxy connects out; when that record cannot be written (lock timeout,
//!   full disk) or the run's record budget is spent, the connection is
//!   refused (503 / SOCKS 0x01). Its `end` record, with the byte counts,
//!   names the `open` record (`open_id`).
//! - Records name the decision (`decision_id`) and do not repeat the call's
//!   parameters.
//! - A run writes at most [`BURST`] network records at once and [`RATE`] a
//!   second after that. `end` records and denials over that rate (and those
//!   that could not be written) are counted instead, and the counts are
//!   written as one record (`coalesced`) when the budget allows again, and
//!   when the proxy stops.

use super::Context;
use crate::audit::AuditLog;
use crate::audit::AuditRecord;
use crate::egress::NetworkEvent;
use crate::sandbox::plan::SandboxPlan;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Network records a run may write at once.
pub const BURST: f64 = 128.0;
/// Network records a run may write a second, after the burst.
pub const RATE: f64 = 32.0;
/// Destinations named one by one in a `coalesced` record.
const MAX_DESTINATIONS: usize = 16;

/// Events counted instead of recorded one by one.
#[derive(Default)]
struct Coalesced {
    events: u64,
    allowed: u64,
    denied: u64,
    /// Connections refused because they could not be recorded.
    refused: u64,
    /// `end` records that could not be written.
    unrecorded: u64,
    bytes_up: u64,
    bytes_down: u64,
    destinations: BTreeMap<String, u64>,
    other_destinations: u64,
}

impl Coalesced {
    fn count(&mut self, ev: &NetworkEvent) {
        self.events += 1;
        if ev.allowed {
            self.allowed += 1;
        } else {
            self.denied += 1;
        }
        self.bytes_up += ev.bytes_up;
        self.bytes_down += ev.bytes_down;
        let n = self.destinations.len();
        match self.destinations.get_mut(&ev.destination) {
            Some(c) => *c += 1,
            None if n < MAX_DESTINATIONS => {
                self.destinations.insert(ev.destination.clone(), 1);
            }
            None => self.other_destinations += 1,
        }
    }
}

struct State {
    /// Connection threads share one writer; the file lock orders them
    /// with other launchers.
    log: AuditLog,
    tokens: f64,
    refilled: Instant,
    /// The `open` record's id of each connection still open.
    opened: HashMap<u64, String>,
    coalesced: Coalesced,
}

impl State {
    fn take(&mut self, n: f64) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * RATE).min(BURST);
        self.refilled = now;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// Writes a run's network records (see the module comment).
struct Recorder {
    template: AuditRecord,
    state: Mutex<State>,
}

impl Recorder {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, ev: &NetworkEvent) -> AuditRecord {
        let mut r = self.template.clone();
        r.id = AuditRecord::new("network", &self.template.role).id;
        r.timestamp = AuditRecord::new("network", "").timestamp;
        r.result = Some(
            match (ev.stage, ev.allowed) {
                ("open", _) => "opening",
                (_, true) => "allowed",
                (_, false) => "denied",
            }
            .into(),
        );
        if let Ok(Value::Object(fields)) = serde_json::to_value(ev) {
            for (k, v) in fields {
                r.detail(&k, v);
            }
        }
        r
    }

    /// Before connecting out: `Err` refuses the connection.
    fn open(&self, ev: &NetworkEvent) -> Result<(), String> {
        let mut st = self.state();
        if !st.take(1.0) {
            st.coalesced.refused += 1;
            return Err(format!(
                "refused: this run opened connections faster than their audit records may be \
                 written ({BURST} at once, {RATE} a second)"
            ));
        }
        let r = self.record(ev);
        match st.log.append(&r) {
            Ok(_) => {
                st.opened.insert(ev.connection, r.id);
                Ok(())
            }
            Err(e) => {
                st.coalesced.refused += 1;
                let why = format!(
                    "refused: the connection could not be audited: {}",
                    crate::text::chain(&e)
                );
                tracing::error!("egress: {} to {}", why, ev.destination);
                Err(why)
            }
        }
    }

    /// The end of a connection attempt: recorded, or counted.
    fn end(&self, ev: &NetworkEvent) {
        let mut st = self.state();
        let open_id = st.opened.remove(&ev.connection);
        if st.coalesced.events + st.coalesced.refused > 0 && st.take(2.0) {
            self.flush(&mut st);
        }
        if !st.take(1.0) {
            st.coalesced.count(ev);
            return;
        }
        let mut r = self.record(ev);
        if let Some(id) = open_id {
            r.detail("open_id", id);
        }
        if let Err(e) = st.log.append(&r) {
            tracing::error!("auditing a network connection: {}", crate::text::chain(&e));
            st.coalesced.count(ev);
            st.coalesced.unrecorded += 1;
        }
    }

    /// Writes the counted events as one record.
    fn flush(&self, st: &mut State) {
        let c = std::mem::take(&mut st.coalesced);
        if c.events + c.refused == 0 {
            return;
        }
        let mut r = self.template.clone();
        r.id = AuditRecord::new("network", "").id;
        r.result = Some("coalesced".into());
        r.detail(
            "coalesced",
            json!({
                "events": c.events,
                "allowed": c.allowed,
                "denied": c.denied,
                "refused": c.refused,
                "unrecorded": c.unrecorded,
                "bytes_up": c.bytes_up,
                "bytes_down": c.bytes_down,
                "destinations": c.destinations,
                "other_destinations": c.other_destinations,
                "note": format!(
                    "network records are rate limited ({BURST} at once, {RATE} a second per run): \
                     these connection attempts are counted here instead of one record each; \
                     `refused` connections could not be recorded and were not made, \
                     `unrecorded` ones ended when their record could not be written"
                ),
            }),
        );
        if let Err(e) = st.log.append(&r) {
            tracing::error!(
                "auditing {} coalesced network event(s): {}",
                c.events + c.refused,
                crate::text::chain(&e)
            );
            // Kept for the next try.
            st.coalesced = c;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.flush(&mut st);
    }
}

/// Starts the egress proxy on the sandbox's listener; every connection
/// attempt becomes a `network` audit record (see the module comment).
pub fn start_proxy(
    ctx: &Context,
    listener: std::net::TcpListener,
    plan: &SandboxPlan,
    log_path: &std::path::Path,
    decision: &AuditRecord,
) -> Result<crate::egress::Proxy, String> {
    let rules = crate::egress::EgressRules::parse(&plan.egress).map_err(|e| e.to_string())?;
    // The decision record holds the parameters; network records name it.
    let mut template = decision.follow_up("network");
    template.params = None;
    let recorder = Arc::new(Recorder {
        template,
        state: Mutex::new(State {
            log: AuditLog::new(log_path).with_alert_command(ctx.alert_command.clone()),
            tokens: BURST,
            refilled: Instant::now(),
            opened: HashMap::new(),
            coalesced: Coalesced::default(),
        }),
    });
    let on_end = Arc::clone(&recorder);
    let mut config =
        crate::egress::ProxyConfig::new(rules, Arc::new(move |ev: NetworkEvent| on_end.end(&ev)));
    config.on_open = Arc::new(move |ev: &NetworkEvent| recorder.open(ev));
    config.max_connections = plan.max_connections;
    crate::egress::Proxy::start(listener, config).map_err(|e| e.to_string())
}
