//! The broker's configuration for `--entrypoint serve`: `broker.toml` in
//! the ConfigMap, mounted where the container's `agentjail serve --config`
//! reads it. Its profiles, state directory and audit log are the pod's
//! volumes, its socket is on the `run` volume (for a container of the pod
//! that shares it), and `[[callers]]` maps the pod's uid to the role.

use super::names::{self, Names};
use super::K8sError;
use crate::profile::Role;
use serde::Serialize;

/// The ConfigMap key, and the file's name in its volume.
pub const KEY: &str = "broker.toml";
/// Where the broker's volume is mounted.
pub const DIR: &str = "/etc/agentjail/broker";
/// The broker's socket, on the `run` volume.
pub const RUN_DIR: &str = "/run/agentjail";
pub const SOCKET: &str = "/run/agentjail/agentjail.sock";

/// The file the container's command reads.
pub fn path() -> String {
    format!("{DIR}/{KEY}")
}

/// The keys written, as `serve::config` reads them.
#[derive(Serialize)]
struct BrokerToml {
    profiles: &'static str,
    state_dir: &'static str,
    audit_log: &'static str,
    socket: &'static str,
    socket_mode: &'static str,
    callers: Vec<Grant>,
}

#[derive(Serialize)]
struct Grant {
    uid: u32,
    roles: Vec<String>,
}

/// The text of `broker.toml`.
pub fn config_text(role: &Role, names: &Names) -> Result<String, K8sError> {
    let config = BrokerToml {
        profiles: names::PROFILES_DIR,
        state_dir: names::STATE_DIR,
        audit_log: names::AUDIT_LOG,
        socket: SOCKET,
        socket_mode: "0600",
        callers: vec![Grant {
            uid: role.sandbox.user,
            roles: vec![names.role.clone()],
        }],
    };
    let text = toml::to_string(&config).map_err(|e| K8sError::Encode(e.to_string()))?;
    Ok(format!(
        "# The broker of role {role}'s pod, written by agentjail k8s render --entrypoint serve;\n\
         # the container runs agentjail serve --config {path}.\n\
         # Its profiles, state and audit log are the pod's volumes; the socket is on volume\n\
         # `run`, mode 0600: only uid {uid}, the one caller mapped. No [[approvers]]: a call\n\
         # that needs approval stays pending (75) until an [[approvers]] mapping names a\n\
         # uid other than the agent's.\n{text}",
        role = names.role,
        path = path(),
        uid = role.sandbox.user,
    ))
}
