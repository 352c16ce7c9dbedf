//! The command line of `agentjail k8s`: what a render may vary. Parsing
//! only; what the values mean is decided in the other files.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum K8sCommand {
    /// Print a role as Kubernetes manifests: ConfigMap, NetworkPolicy and the workload
    ///
    /// The workload's pod runs agentjail as its entrypoint with the role's
    /// profiles from the ConfigMap, so per-call policy, approvals, budgets,
    /// Landlock, the per-call sandbox and the audit log are enforced inside the
    /// pod; the manifests add what Kubernetes enforces around it: the pod and
    /// container securityContext, resource limits, a sized /tmp, and a
    /// NetworkPolicy with no ingress and egress only as the role's allow-list
    /// permits. Objects are typed for Kubernetes 1.33.
    Render(RenderArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The role to render
    #[arg(long, value_name = "ROLE", required_unless_present = "seed")]
    pub role: Option<String>,
    /// The seed's own sandbox (Pod agent-sandbox, NetworkPolicy agent-sandbox-policy:
    /// RuntimeDefault seccomp, egress only to namespace agent-tools on TCP 443)
    #[arg(long, conflicts_with = "role")]
    pub seed: bool,
    /// The workload: a Pod, a Job, a Deployment, or the agent-sandbox project's
    /// Sandbox (agents.x-k8s.io/v1beta1) or SandboxTemplate
    /// (extensions.agents.x-k8s.io/v1beta1)
    #[arg(long, value_enum, default_value_t = Kind::Pod)]
    pub kind: Kind,
    /// The container image, with agentjail on its PATH;
    /// default: registry.internal/agentjail:latest
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The namespace of every object; default: none (kubectl's current namespace)
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Output format: YAML documents, or one JSON List
    #[arg(long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub format: OutputFormat,
    /// The pod's seccomp profile: localhost (the rendered profile, installed on
    /// the nodes as agentjail/ROLE.json) or runtime-default; default: localhost
    /// (runtime-default with --seed)
    #[arg(long, value_enum, value_name = "MODE")]
    pub seccomp: Option<SeccompMode>,
    /// The pod's AppArmor profile: localhost (the rendered profile, loaded on the
    /// nodes as agentjail-ROLE: it allows the mounts agentjail needs for each call's
    /// sandbox), runtime-default (denies mount: agentjail then refuses every call) or
    /// unconfined; default: localhost (runtime-default with --seed)
    #[arg(long, value_enum, value_name = "MODE")]
    pub apparmor: Option<AppArmorMode>,
    /// Also write the AppArmor profile (apparmor_parser text) to FILE, for the nodes
    #[arg(long, value_name = "FILE")]
    pub apparmor_out: Option<PathBuf>,
    /// Per-call cgroup limits in the pod. pod-limits: the ConfigMap's role lists
    /// "cgroup" in sandbox.optional, because a pod rarely has a writable cgroup and
    /// the kubelet enforces the pod's resources.limits, rendered from the same
    /// memory, cpu and ephemeral-storage values (sandbox.pids is then not enforced
    /// per call: the pod's PID limit is the kubelet's podPidsLimit). required: the
    /// role as written; without a writable cgroup agentjail refuses every call
    #[arg(long, value_enum, value_name = "MODE", default_value_t = PerCallCgroup::PodLimits)]
    pub per_call_cgroup: PerCallCgroup,
    /// Also write the seccomp profile (OCI runtime-spec JSON) to FILE, for the
    /// nodes' kubelet seccomp directory
    #[arg(long, value_name = "FILE")]
    pub seccomp_out: Option<PathBuf>,
    /// The container's command: `agentjail mcp serve --role ROLE` or `agentjail serve`
    #[arg(long, value_enum, default_value_t = Entrypoint::Mcp)]
    pub entrypoint: Entrypoint,
    /// The namespace label NetworkPolicy selects a namespace by; default:
    /// kubernetes.io/metadata.name (`name` with --seed)
    #[arg(long, value_name = "KEY")]
    pub namespace_label: Option<String>,
    /// No DNS egress even when a name entry needs it (the proxy then needs
    /// addresses it can reach without the cluster's DNS)
    #[arg(long)]
    pub no_dns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Pod,
    Job,
    Deployment,
    Sandbox,
    SandboxTemplate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeccompMode {
    Localhost,
    RuntimeDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppArmorMode {
    Localhost,
    RuntimeDefault,
    Unconfined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PerCallCgroup {
    /// The role's cgroup limits are required for every call, as written
    Required,
    /// The pod's limits bound the calls; the role's cgroup limits are optional in the pod
    PodLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Entrypoint {
    /// agentjail mcp serve --role ROLE
    Mcp,
    /// agentjail serve (the broker)
    Serve,
}
