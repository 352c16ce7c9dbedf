//! Serving a run's egress allow-list: starts the proxy on the listener the
//! sandbox hands over and turns each connection into a `network` record.

use super::Context;
use crate::audit::AuditLog;
use crate::audit::AuditRecord;
use crate::sandbox::plan::SandboxPlan;
use serde_json::Value;

/// Starts the egress proxy on the sandbox's listener; every connection
/// attempt becomes a `network` audit record.
pub(super) fn start_proxy(
    ctx: &Context,
    listener: std::net::TcpListener,
    plan: &SandboxPlan,
    log_path: &std::path::Path,
    decision: &AuditRecord,
) -> Result<crate::egress::Proxy, String> {
    let rules = crate::egress::EgressRules::parse(&plan.egress).map_err(|e| e.to_string())?;
    // Connection threads share one writer; the file lock orders them with other launchers.
    let log = std::sync::Mutex::new(
        AuditLog::new(log_path).with_alert_command(ctx.alert_command.clone()),
    );
    let template = decision.follow_up("network");
    let on_event = std::sync::Arc::new(move |ev: crate::egress::NetworkEvent| {
        let mut r = template.clone();
        r.id = crate::audit::AuditRecord::new("network", &template.role).id;
        r.result = Some(if ev.allowed { "allowed" } else { "denied" }.into());
        if let Ok(Value::Object(fields)) = serde_json::to_value(&ev) {
            for (k, v) in fields {
                r.detail(&k, v);
            }
        }
        let log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = log.append(&r) {
            tracing::error!("auditing a network connection: {e}");
        }
    });
    let mut config = crate::egress::ProxyConfig::new(rules, on_event);
    config.max_connections = plan.max_connections;
    crate::egress::Proxy::start(listener, config).map_err(|e| e.to_string())
}
