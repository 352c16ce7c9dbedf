//! `agentjail k8s render`: a role rendered as Kubernetes manifests, with
//! agentjail as the pod's entrypoint enforcing what Kubernetes cannot
//! express (per-call policy, approvals, budgets, Landlock, the per-call
//! sandbox, the hash-chained audit log).
//!
//! It owns the mapping from a role to manifests and nothing else: the role
//! comes from `profile`, the egress entries are checked by `egress`, and
//! the seccomp profile is written from the data `sandbox::seccomp` hands
//! out. The objects are built from typed structures (`k8s-openapi`,
//! Kubernetes 1.33; the agent-sandbox objects from `agent_sandbox.rs`), so a
//! misspelled field cannot be produced.
//!
//! Files: `args.rs` (the command line), `names.rs` (object names and the
//! checks Kubernetes makes of them), `workload.rs` (Pod, Job, Deployment,
//! the pod template), `network.rs` (NetworkPolicy), `config.rs`
//! (ConfigMap), `agent_sandbox.rs` (Sandbox, SandboxTemplate),
//! `seccomp.rs` (the OCI seccomp profile), `apparmor.rs` (the AppArmor
//! profile), `broker.rs` (broker.toml for `--entrypoint serve`), `output.rs` (YAML and JSON).

mod agent_sandbox;
pub mod apparmor;
mod args;
pub mod broker;
mod config;
mod names;
mod network;
mod output;
pub mod seccomp;
mod workload;

pub use agent_sandbox::{OperatingMode, Sandbox, SandboxTemplate};
pub use args::{
    AppArmorMode, Entrypoint, K8sCommand, Kind, OutputFormat, PerCallCgroup, RenderArgs,
    SeccompMode,
};

use crate::exit;
use crate::profile::{self, Catalog, ProfileSet, Role};
pub use output::Document;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The seed's own sandbox, as a role (see `--seed`).
pub const SEED_ROLE: &str = include_str!("../../profiles/k8s/agent_sandbox.toml");
/// The seed role's name: its objects are `agent-sandbox`, as in the seed.
pub const SEED_ROLE_NAME: &str = "agent_sandbox";
/// The seed's image.
pub const SEED_IMAGE: &str = "registry.internal/agent-sandbox:latest";
/// The image used when `--image` is not given.
pub const DEFAULT_IMAGE: &str = "registry.internal/agentjail:latest";

#[derive(Debug, Error)]
pub enum K8sError {
    #[error("{0}")]
    Profiles(#[from] profile::ProfileErrors),
    #[error("role `{0}` is not defined (see `agentjail profiles list`)")]
    UnknownRole(String),
    #[error("{0}")]
    Usage(String),
    /// A role setting Kubernetes cannot take as it is.
    #[error("role `{role}`: {message}")]
    Setting { role: String, message: String },
    #[error("writing {what}: {source}")]
    Output {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding the manifests: {0}")]
    Encode(String),
}

impl K8sError {
    pub fn exit_code(&self) -> i32 {
        match self {
            K8sError::Profiles(_) | K8sError::UnknownRole(_) | K8sError::Setting { .. } => {
                exit::CONFIG
            }
            K8sError::Usage(_) => exit::USAGE,
            K8sError::Output { .. } | K8sError::Encode(_) => exit::LAUNCHER_FAILED,
        }
    }

    fn setting(role: &Role, message: impl Into<String>) -> K8sError {
        K8sError::Setting {
            role: role.name.clone(),
            message: message.into(),
        }
    }
}

/// Everything a render needs, settled from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub kind: Kind,
    pub image: String,
    pub namespace: Option<String>,
    pub seccomp: SeccompMode,
    pub apparmor: AppArmorMode,
    pub entrypoint: Entrypoint,
    /// Whether the ConfigMap's role requires per-call cgroup limits.
    pub per_call_cgroup: PerCallCgroup,
    /// The label a namespace is selected by in the NetworkPolicy.
    pub namespace_label: String,
    /// Allow DNS to the cluster's DNS service when a name entry needs it.
    pub dns: bool,
    /// The seed's AppArmor annotation besides the securityContext field.
    pub apparmor_annotation: bool,
}

/// A role with the texts that go into its ConfigMap.
#[derive(Debug, Clone)]
pub struct Source {
    pub role: Role,
    /// The role file as written.
    pub role_text: String,
    /// The catalog, for the entries the role uses.
    pub catalog: Catalog,
}

/// Runs `agentjail k8s ...`; the exit code, or the one error that stops it.
pub fn run(profiles: Option<&Path>, cmd: &K8sCommand) -> Result<i32, K8sError> {
    match cmd {
        K8sCommand::Render(args) => {
            let (source, options) = settle(profiles, args)?;
            let docs = render(&source, &options)?;
            let text = output::encode(&docs, args.format)?;
            if let Some(path) = &args.seccomp_out {
                write_file(path, &seccomp::profile_json(&source.role)?)?;
            }
            if let Some(path) = &args.apparmor_out {
                let names = names::Names::new(&source.role, &options)?;
                write_file(path, &apparmor::profile_text(&names))?;
            }
            std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()).map_err(
                |source| K8sError::Output {
                    what: "the manifests".into(),
                    source,
                },
            )?;
            Ok(exit::OK)
        }
    }
}

fn write_file(path: &PathBuf, text: &str) -> Result<(), K8sError> {
    std::fs::write(path, text).map_err(|source| K8sError::Output {
        what: path.display().to_string(),
        source,
    })
}

/// The role and the options a command line asks for.
pub fn settle(profiles: Option<&Path>, args: &RenderArgs) -> Result<(Source, Options), K8sError> {
    let source = if args.seed {
        if args.role.is_some() {
            return Err(K8sError::Usage(
                "--seed renders the seed's own role; leave out --role".into(),
            ));
        }
        seed_source()?
    } else {
        let Some(role) = &args.role else {
            return Err(K8sError::Usage("give --role ROLE, or --seed".into()));
        };
        role_source(profiles, role)?
    };
    let apparmor = match (args.apparmor, args.seed) {
        (Some(AppArmorMode::RuntimeDefault) | None, true) => AppArmorMode::RuntimeDefault,
        (Some(_), true) => {
            return Err(K8sError::Usage(
                "--seed uses the seed's runtime/default AppArmor profile".into(),
            ))
        }
        (Some(mode), false) => mode,
        (None, false) => AppArmorMode::Localhost,
    };
    let seccomp = match (args.seccomp, args.seed) {
        (Some(mode), _) => mode,
        (None, true) => SeccompMode::RuntimeDefault,
        (None, false) => SeccompMode::Localhost,
    };
    let options = Options {
        kind: args.kind,
        image: args
            .image
            .clone()
            .unwrap_or_else(|| if args.seed { SEED_IMAGE } else { DEFAULT_IMAGE }.to_string()),
        namespace: args.namespace.clone(),
        seccomp,
        apparmor,
        entrypoint: args.entrypoint,
        per_call_cgroup: args.per_call_cgroup,
        namespace_label: args.namespace_label.clone().unwrap_or_else(|| {
            if args.seed {
                "name"
            } else {
                network::NAMESPACE_NAME_LABEL
            }
            .to_string()
        }),
        dns: !(args.no_dns || args.seed),
        apparmor_annotation: args.seed,
    };
    Ok((source, options))
}

/// The seed's role, checked against the bundled catalog.
pub fn seed_source() -> Result<Source, K8sError> {
    let set = profile::build_set(
        profile::ProfileSource::Bundled,
        "tools.toml",
        profile::BUNDLED_TOOLS,
        vec![(
            format!("k8s/{SEED_ROLE_NAME}.toml"),
            SEED_ROLE_NAME.to_string(),
            SEED_ROLE.to_string(),
        )],
        Vec::new(),
    )?;
    source_from(set, SEED_ROLE_NAME, SEED_ROLE.to_string())
}

fn role_source(profiles: Option<&Path>, name: &str) -> Result<Source, K8sError> {
    let dir = profile::locate(profiles)?;
    let set = profile::load(dir.as_deref())?;
    let text = match &dir {
        Some(d) => std::fs::read_to_string(d.join("roles").join(format!("{name}.toml"))).ok(),
        None => profile::BUNDLED_ROLES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string()),
    };
    match text {
        Some(text) => source_from(set, name, text),
        None => Err(K8sError::UnknownRole(name.to_string())),
    }
}

fn source_from(set: ProfileSet, name: &str, role_text: String) -> Result<Source, K8sError> {
    let role = set
        .roles
        .get(name)
        .cloned()
        .ok_or_else(|| K8sError::UnknownRole(name.to_string()))?;
    Ok(Source {
        role,
        role_text,
        catalog: set.catalog,
    })
}

/// The manifests of one role, in apply order: ConfigMap, NetworkPolicy,
/// workload.
pub fn render(source: &Source, options: &Options) -> Result<Vec<Document>, K8sError> {
    let names = names::Names::new(&source.role, options)?;
    let mut docs = Vec::new();
    docs.push(config::config_map(source, &names, options)?);
    docs.push(network::network_policy(&source.role, &names, options)?);
    docs.extend(workload::workload(source, &names, options)?);
    Ok(docs)
}
