//! The workload of a role: the pod template (securityContext, limits,
//! volumes, agentjail as the entrypoint, the audit log to stdout) and the
//! object that runs it: Pod, Job, Deployment, or an agent-sandbox
//! Sandbox or SandboxTemplate.

use super::agent_sandbox::{self, OperatingMode};
use super::names::{self, Names};
use super::output::Document;
use super::{apparmor, broker};
use super::{
    config, AppArmorMode, Entrypoint, K8sError, Kind, Options, PerCallCgroup, SeccompMode, Source,
};
use crate::profile::Role;
use crate::units;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar,
    KeyToPath, Pod, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// The main container's name (the seed's).
pub const CONTAINER: &str = "sandbox";
/// The sidecar that prints the audit log on stdout.
pub const AUDIT_CONTAINER: &str = "audit";
/// The seed's AppArmor annotation, for the main container.
pub const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/sandbox";

/// `bytes` as a Kubernetes quantity in the largest binary unit that divides it.
pub fn size_quantity(bytes: u64) -> String {
    for (unit, size) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// CPU millis as a quantity: whole cores plainly, else in `m`.
pub fn cpu_quantity(millis: u64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

fn size(role: &Role, key: &str, text: &str) -> Result<Quantity, K8sError> {
    units::parse_size(text)
        .map(|b| Quantity(size_quantity(b)))
        .map_err(|e| K8sError::setting(role, format!("sandbox.{key}: {e}")))
}

/// The pod's limits: the role's memory, cpu and ephemeral storage.
pub fn limits(role: &Role) -> Result<BTreeMap<String, Quantity>, K8sError> {
    let s = &role.sandbox;
    let cpu = units::parse_cpu_millis(&s.cpu)
        .map_err(|e| K8sError::setting(role, format!("sandbox.cpu: {e}")))?;
    Ok(BTreeMap::from([
        ("memory".to_string(), size(role, "memory", &s.memory)?),
        ("cpu".to_string(), Quantity(cpu_quantity(cpu))),
        (
            "ephemeral-storage".to_string(),
            size(role, "ephemeral_storage", &s.ephemeral_storage)?,
        ),
    ]))
}

fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn empty_dir(name: &str, size_limit: Option<Quantity>) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit,
        }),
        ..Default::default()
    }
}

fn command(names: &Names, entrypoint: Entrypoint) -> Vec<String> {
    let mut c = vec!["agentjail".to_string()];
    match entrypoint {
        Entrypoint::Mcp => c.extend(["mcp", "serve", "--role"].map(String::from)),
        Entrypoint::Serve => c.extend(["serve".into(), "--config".into(), broker::path()]),
    }
    if entrypoint == Entrypoint::Mcp {
        c.push(names.role.clone());
    }
    c
}

/// A volume of some of the ConfigMap's keys, each at its path.
fn config_map_volume(name: &str, names: &Names, items: Vec<(String, String)>) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: names.config_map(),
            items: Some(
                items
                    .into_iter()
                    .map(|(key, path)| KeyToPath {
                        key,
                        path,
                        mode: None,
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pod's spec, the same for every kind of workload.
pub fn pod_spec(source: &Source, names: &Names, options: &Options) -> Result<PodSpec, K8sError> {
    let role = &source.role;
    let uid = i64::from(role.sandbox.user);
    let seccomp = match options.seccomp {
        SeccompMode::Localhost => SeccompProfile {
            type_: "Localhost".into(),
            localhost_profile: Some(names.seccomp_profile()),
        },
        SeccompMode::RuntimeDefault => SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        },
    };
    let serve = options.entrypoint == Entrypoint::Serve;
    let common_env = vec![
        env("AGENTJAIL_PROFILES", names::PROFILES_DIR),
        env("AGENTJAIL_AUDIT_LOG", names::AUDIT_LOG),
        env("AGENTJAIL_STATE_DIR", names::STATE_DIR),
    ];
    let main = Container {
        name: CONTAINER.into(),
        image: Some(options.image.clone()),
        command: Some(command(names, options.entrypoint)),
        env: Some(common_env.clone()),
        stdin: (options.entrypoint == Entrypoint::Mcp).then_some(true),
        security_context: Some(container_security()),
        resources: Some(ResourceRequirements {
            limits: Some(limits(role)?),
            ..Default::default()
        }),
        volume_mounts: Some({
            let mut mounts = vec![
                mount("tmp", "/tmp", false),
                mount("profiles", names::PROFILES_DIR, true),
                mount("audit", names::AUDIT_DIR, false),
                mount("state", names::STATE_DIR, false),
            ];
            if serve {
                mounts.push(mount("broker", broker::DIR, true));
                mounts.push(mount("run", broker::RUN_DIR, false));
            }
            mounts
        }),
        ..Default::default()
    };
    // A native sidecar (an init container that keeps running): the audit
    // log on stdout for the cluster's log collector, in Jobs too.
    let audit = Container {
        name: AUDIT_CONTAINER.into(),
        image: Some(options.image.clone()),
        command: Some(
            [
                "agentjail",
                "audit",
                "tail",
                "--follow",
                "--format",
                "json",
                "-n",
                "0",
            ]
            .map(String::from)
            .to_vec(),
        ),
        env: Some(common_env),
        restart_policy: Some("Always".into()),
        security_context: Some(container_security()),
        resources: Some(ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("memory".to_string(), Quantity("32Mi".into())),
                ("cpu".to_string(), Quantity("50m".into())),
                ("ephemeral-storage".to_string(), Quantity("8Mi".into())),
            ])),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            mount("audit", names::AUDIT_DIR, true),
            mount("profiles", names::PROFILES_DIR, true),
        ]),
        ..Default::default()
    };
    let profiles = config_map_volume(
        "profiles",
        names,
        vec![
            (config::TOOLS_KEY.to_string(), config::TOOLS_KEY.to_string()),
            (
                config::role_key(names),
                format!("roles/{}", config::role_key(names)),
            ),
        ],
    );
    Ok(PodSpec {
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(uid),
            run_as_group: Some(uid),
            fs_group: Some(uid),
            seccomp_profile: Some(seccomp),
            app_armor_profile: Some(match options.apparmor {
                AppArmorMode::Localhost => AppArmorProfile {
                    type_: "Localhost".into(),
                    localhost_profile: Some(apparmor::profile_name(names)),
                },
                AppArmorMode::RuntimeDefault => AppArmorProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                },
                AppArmorMode::Unconfined => AppArmorProfile {
                    type_: "Unconfined".into(),
                    localhost_profile: None,
                },
            }),
            ..Default::default()
        }),
        // Every call's sandbox is a user namespace: the pod gets its own.
        host_users: Some(false),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        init_containers: Some(vec![audit]),
        containers: vec![main],
        volumes: Some({
            let mut volumes = vec![
                empty_dir("tmp", Some(size(role, "tmp_size", &role.sandbox.tmp_size)?)),
                profiles,
                empty_dir("audit", None),
                empty_dir("state", None),
            ];
            if serve {
                volumes.push(config_map_volume(
                    "broker",
                    names,
                    vec![(broker::KEY.to_string(), broker::KEY.to_string())],
                ));
                volumes.push(empty_dir("run", None));
            }
            volumes
        }),
        ..Default::default()
    })
}

fn pod_annotations(options: &Options) -> Option<BTreeMap<String, String>> {
    options.apparmor_annotation.then(|| {
        BTreeMap::from([(
            APPARMOR_ANNOTATION.to_string(),
            "runtime/default".to_string(),
        )])
    })
}

/// What the pod means for per-call cgroup limits (see `config.rs`).
fn cgroup_comment(role: &Role, options: &Options) -> String {
    if config::cgroups_optional(role) {
        "Per-call cgroup limits: optional in the role; the pod's limits bound every call."
            .to_string()
    } else if options.per_call_cgroup == PerCallCgroup::PodLimits {
        "Per-call cgroup limits: the ConfigMap's role lists \"cgroup\" in sandbox.optional \
         (--per-call-cgroup pod-limits) because the kubelet enforces this pod's limits, \
         rendered from the same values; sandbox.pids is not enforced per call (the pod's PID \
         limit is the kubelet's podPidsLimit)."
            .to_string()
    } else {
        "Per-call cgroup limits are required (--per-call-cgroup required): without a writable \
         cgroup in the pod agentjail refuses every call (fail closed)."
            .to_string()
    }
}

/// What the runtime's default profiles mean for the per-call sandbox (not
/// for the seed, which reproduces the seed's pod as it is).
fn confinement_warnings(options: &Options) -> Vec<String> {
    let mut lines = Vec::new();
    if options.apparmor_annotation {
        return lines;
    }
    if options.apparmor == AppArmorMode::RuntimeDefault {
        lines.push(
            "Warning: AppArmor runtime/default denies mount, so agentjail cannot build a \
             call's sandbox and refuses every call (fail closed); use --apparmor localhost."
                .to_string(),
        );
    }
    if options.seccomp == SeccompMode::RuntimeDefault {
        lines.push(
            "Warning: seccomp RuntimeDefault denies unshare, mount and pivot_root to a pod \
             without CAP_SYS_ADMIN, so agentjail refuses every call (fail closed); use \
             --seccomp localhost."
                .to_string(),
        );
    }
    lines
}

/// The workload documents of a role (one object).
pub fn workload(
    source: &Source,
    names: &Names,
    options: &Options,
) -> Result<Vec<Document>, K8sError> {
    let spec = pod_spec(source, names, options)?;
    let metadata = ObjectMeta {
        name: Some(names.base.clone()),
        namespace: names.namespace.clone(),
        labels: Some(names.labels()),
        ..Default::default()
    };
    let template_meta = ObjectMeta {
        labels: Some(names.labels()),
        annotations: pod_annotations(options),
        ..Default::default()
    };
    let mut comments = vec![format!(
        "Role {}: agentjail enforces per-call policy, approvals, budgets, Landlock and the \
         per-call sandbox inside the pod; its audit log is on volume `audit` and on the \
         `{AUDIT_CONTAINER}` container's stdout.",
        names.role
    )];
    comments.push(cgroup_comment(&source.role, options));
    comments.extend(confinement_warnings(options));
    let doc = match options.kind {
        Kind::Pod => Document::new(
            comments,
            &Pod {
                metadata: ObjectMeta {
                    annotations: pod_annotations(options),
                    ..metadata
                },
                spec: Some(spec),
                status: None,
            },
        )?,
        Kind::Job => Document::new(
            comments,
            &Job {
                metadata,
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    template: PodTemplateSpec {
                        metadata: Some(template_meta),
                        spec: Some(PodSpec {
                            restart_policy: Some("Never".into()),
                            ..spec
                        }),
                    },
                    ..Default::default()
                }),
                status: None,
            },
        )?,
        Kind::Deployment => Document::new(
            comments,
            &Deployment {
                metadata,
                spec: Some(DeploymentSpec {
                    replicas: Some(1),
                    selector: LabelSelector {
                        match_labels: Some(names.labels()),
                        ..Default::default()
                    },
                    template: PodTemplateSpec {
                        metadata: Some(template_meta),
                        spec: Some(spec),
                    },
                    ..Default::default()
                }),
                status: None,
            },
        )?,
        Kind::Sandbox => Document::new(
            comments,
            &agent_sandbox::Sandbox::new(
                metadata,
                agent_sandbox::pod_template(template_meta, spec),
                OperatingMode::Running,
            ),
        )?,
        Kind::SandboxTemplate => Document::new(
            comments,
            &agent_sandbox::SandboxTemplate::new(
                metadata,
                agent_sandbox::pod_template(template_meta, spec),
            ),
        )?,
    };
    Ok(vec![doc])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quantities_take_the_largest_unit_that_divides() {
        assert_eq!(size_quantity(256 << 20), "256Mi");
        assert_eq!(size_quantity(1 << 30), "1Gi");
        assert_eq!(size_quantity(1536 << 20), "1536Mi");
        assert_eq!(size_quantity(1_000_000), "1000000");
        assert_eq!(size_quantity(2048), "2Ki");
        assert_eq!(cpu_quantity(500), "500m");
        assert_eq!(cpu_quantity(2000), "2");
    }
}
