//! The ConfigMap with the role's profile: its role file as written and the
//! catalog entries it names, laid out as a profile directory
//! (`tools.toml`, `roles/ROLE.toml`) for the container's `--profiles`.

use super::names::Names;
use super::output::Document;
use super::{K8sError, Source};
use crate::profile::Catalog;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// The ConfigMap key of the catalog.
pub const TOOLS_KEY: &str = "tools.toml";

/// The ConfigMap key of the role file (a key cannot hold `/`).
pub fn role_key(names: &Names) -> String {
    format!("{}.toml", names.role)
}

/// The most a ConfigMap may hold (the API server refuses more).
pub const MAX_CONFIG_MAP: usize = 1 << 20;

pub fn config_map(source: &Source, names: &Names) -> Result<Document, K8sError> {
    let role = &source.role;
    let used = role.allowed_tools.iter().chain(&role.denied_tools);
    let tools = used
        .filter_map(|t| source.catalog.tools.get(t).map(|s| (t.clone(), s.clone())))
        .collect();
    let catalog = Catalog { tools };
    let tools_text = format!(
        "# The catalog entries role {} uses, written by agentjail k8s render.\n{}",
        names.role,
        toml::to_string(&catalog).map_err(|e| K8sError::Encode(e.to_string()))?
    );
    let size = tools_text.len() + source.role_text.len();
    if size > MAX_CONFIG_MAP {
        return Err(K8sError::setting(
            role,
            format!(
                "its role file and catalog entries are {size} bytes; a ConfigMap holds at most {MAX_CONFIG_MAP}"
            ),
        ));
    }
    let map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(names.config_map()),
            namespace: names.namespace.clone(),
            labels: Some(names.labels()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            (TOOLS_KEY.to_string(), tools_text),
            (role_key(names), source.role_text.clone()),
        ])),
        ..Default::default()
    };
    Document::new(
        vec![format!(
            "Profiles of role {}: mounted at {} in the pod.",
            names.role,
            super::names::PROFILES_DIR
        )],
        &map,
    )
}
