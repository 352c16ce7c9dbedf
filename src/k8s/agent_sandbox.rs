//! The agent-sandbox project's objects, as far as a render uses them:
//! `Sandbox` (agents.x-k8s.io/v1beta1) and `SandboxTemplate`
//! (extensions.agents.x-k8s.io/v1beta1), each with a pod template. Local
//! types with `deny_unknown_fields`, written from the project's API
//! reference for the fields used here (not generated from its CRDs); the
//! pod spec inside is k8s-openapi's. tests/k8s_schema/ holds the JSON
//! schema the tests check them against.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SANDBOX_API_VERSION: &str = "agents.x-k8s.io/v1beta1";
pub const TEMPLATE_API_VERSION: &str = "extensions.agents.x-k8s.io/v1beta1";

/// The pod's labels and annotations (a pod template has no name of its own).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodTemplate {
    pub metadata: PodMetadata,
    pub spec: PodSpec,
}

/// Whether the sandbox's pod runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatingMode {
    Running,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxSpec {
    pub pod_template: PodTemplate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_mode: Option<OperatingMode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sandbox {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: SandboxSpec,
}

/// Who writes the NetworkPolicy of a template's sandboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkPolicyManagement {
    Managed,
    /// The render's own NetworkPolicy applies (it selects the pods by label).
    Unmanaged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxTemplateSpec {
    pub pod_template: PodTemplate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy_management: Option<NetworkPolicyManagement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxTemplate {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: SandboxTemplateSpec,
}

/// A pod template from the workload's template metadata and spec.
pub fn pod_template(meta: ObjectMeta, spec: PodSpec) -> PodTemplate {
    PodTemplate {
        metadata: PodMetadata {
            labels: meta.labels.unwrap_or_default(),
            annotations: meta.annotations.unwrap_or_default(),
        },
        spec,
    }
}

impl Sandbox {
    pub fn new(metadata: ObjectMeta, pod_template: PodTemplate, mode: OperatingMode) -> Sandbox {
        Sandbox {
            api_version: SANDBOX_API_VERSION.into(),
            kind: "Sandbox".into(),
            metadata,
            spec: SandboxSpec {
                pod_template,
                operating_mode: Some(mode),
            },
        }
    }
}

impl SandboxTemplate {
    pub fn new(metadata: ObjectMeta, pod_template: PodTemplate) -> SandboxTemplate {
        SandboxTemplate {
            api_version: TEMPLATE_API_VERSION.into(),
            kind: "SandboxTemplate".into(),
            metadata,
            spec: SandboxTemplateSpec {
                pod_template,
                network_policy_management: Some(NetworkPolicyManagement::Unmanaged),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_modes_are_refused() {
        let ok = r#"{"apiVersion":"agents.x-k8s.io/v1beta1","kind":"Sandbox","metadata":{},
            "spec":{"podTemplate":{"metadata":{},"spec":{"containers":[]}},"operatingMode":"Running"}}"#;
        serde_json::from_str::<Sandbox>(ok).unwrap();
        let bad_mode = ok.replace("\"Running\"", "\"Paused\"");
        assert!(serde_json::from_str::<Sandbox>(&bad_mode).is_err());
        let extra = ok.replace("\"operatingMode\"", "\"replicas\":1,\"operatingMode\"");
        assert!(serde_json::from_str::<Sandbox>(&extra).is_err());
        let no_template = r#"{"apiVersion":"agents.x-k8s.io/v1beta1","kind":"Sandbox",
            "metadata":{},"spec":{"operatingMode":"Running"}}"#;
        assert!(serde_json::from_str::<Sandbox>(no_template).is_err());
    }
}
