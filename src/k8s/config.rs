//! The ConfigMap with the role's profile: its role file as written and the
//! catalog entries it names, laid out as a profile directory
//! (`tools.toml`, `roles/ROLE.toml`) for the container's `--profiles`.
//!
//! With `--per-call-cgroup pod-limits` (the default) the role file gains
//! "cgroup" in `sandbox.optional`, edited with `toml_edit` so the rest stays
//! as written, under a comment saying why: a pod rarely has a writable
//! cgroup, and the kubelet enforces the pod's limits, which `workload.rs`
//! renders from the same values.

use super::names::Names;
use super::output::Document;
use super::{broker, workload, Entrypoint, K8sError, Options, PerCallCgroup, Source};
use crate::profile::{Catalog, Mechanism, Role};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The ConfigMap key of the catalog.
pub const TOOLS_KEY: &str = "tools.toml";

/// The ConfigMap key of the role file (a key cannot hold `/`).
pub fn role_key(names: &Names) -> String {
    format!("{}.toml", names.role)
}

/// The most a ConfigMap may hold (the API server refuses more).
pub const MAX_CONFIG_MAP: usize = 1 << 20;

/// Whether the role already runs calls without any per-call cgroup limit.
pub fn cgroups_optional(role: &Role) -> bool {
    let optional = &role.sandbox.optional;
    optional.contains(&Mechanism::Cgroup)
        || [Mechanism::Memory, Mechanism::Cpu, Mechanism::Pids]
            .iter()
            .all(|m| optional.contains(m))
}

/// The role file as the pod gets it: as written, or with "cgroup" added to
/// `sandbox.optional` (see the top of this file).
pub fn role_file(source: &Source, options: &Options) -> Result<String, K8sError> {
    let role = &source.role;
    if options.per_call_cgroup == PerCallCgroup::Required || cgroups_optional(role) {
        return Ok(source.role_text.clone());
    }
    let doc = with_cgroup_optional(&source.role_text).map_err(|what| {
        K8sError::setting(
            role,
            format!("adding \"cgroup\" to sandbox.optional: {what}"),
        )
    })?;
    let limits = workload::limits(role)?;
    let q = |k: &str| limits.get(k).map(|v| v.0.as_str()).unwrap_or("?");
    Ok(format!(
        "# agentjail k8s render --per-call-cgroup pod-limits: \"cgroup\" is added to\n\
         # sandbox.optional below. A pod rarely has a writable cgroup, so agentjail cannot\n\
         # set per-call limits; the kubelet enforces the pod's resources.limits (memory {},\n\
         # cpu {}, ephemeral-storage {}), rendered from this role's values, over agentjail\n\
         # and all its calls together. Not enforced per call: sandbox.pids ({}); the pod's\n\
         # PID limit is the kubelet's podPidsLimit. Render with --per-call-cgroup required\n\
         # where the pod has a writable cgroup.\n{doc}",
        q("memory"),
        q("cpu"),
        q("ephemeral-storage"),
        role.sandbox.pids
    ))
}

/// The role file with "cgroup" appended to `sandbox.optional`, the rest as
/// written (comments, order, layout).
fn with_cgroup_optional(text: &str) -> Result<toml_edit::DocumentMut, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    doc.entry("sandbox")
        .or_insert(toml_edit::table())
        .as_table_like_mut()
        .ok_or("`sandbox` is not a table")?
        .entry("optional")
        .or_insert(toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .ok_or("`sandbox.optional` is not an array")?
        .push("cgroup");
    Ok(doc)
}

pub fn config_map(source: &Source, names: &Names, options: &Options) -> Result<Document, K8sError> {
    let role = &source.role;
    let role_text = role_file(source, options)?;
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
    let broker_text = match options.entrypoint {
        Entrypoint::Serve => Some(broker::config_text(role, names)?),
        Entrypoint::Mcp => None,
    };
    let size = tools_text.len() + role_text.len() + broker_text.as_ref().map_or(0, String::len);
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
        data: Some(
            [
                Some((TOOLS_KEY.to_string(), tools_text)),
                Some((role_key(names), role_text)),
                broker_text.map(|t| (broker::KEY.to_string(), t)),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::with_cgroup_optional;

    fn optional(text: &str) -> toml::Value {
        let doc = with_cgroup_optional(text).unwrap().to_string();
        let value: toml::Table = toml::from_str(&doc).unwrap();
        value["sandbox"]["optional"].clone()
    }

    #[test]
    fn cgroup_is_added_to_whatever_the_role_writes() {
        let want = |list: &[&str]| toml::Value::Array(list.iter().map(|s| (*s).into()).collect());
        assert_eq!(optional("description = \"x\"\n"), want(&["cgroup"]));
        assert_eq!(optional("[sandbox]\nmemory = \"1Mi\"\n"), want(&["cgroup"]));
        assert_eq!(
            optional("[sandbox]\noptional = [\"landlock\"] # kept\n"),
            want(&["landlock", "cgroup"])
        );
        assert_eq!(optional("sandbox = { pids = 3 }\n"), want(&["cgroup"]));
        assert_eq!(optional("sandbox.optional = []\n"), want(&["cgroup"]));
        // Comments stay.
        let doc = with_cgroup_optional("# why\n[sandbox] # here\npids = 3\n").unwrap();
        assert!(doc.to_string().contains("# why") && doc.to_string().contains("# here"));
        // A shape the loader would refuse is refused here too, not mended.
        assert!(with_cgroup_optional("sandbox = 3\n").is_err());
        assert!(with_cgroup_optional("[sandbox]\noptional = \"cgroup\"\n").is_err());
        assert!(with_cgroup_optional("[sandbox\n").is_err());
    }
}
