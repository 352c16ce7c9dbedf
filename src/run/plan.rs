//! The translation from a role, a tool and a decision to a sandbox plan:
//! profile settings become sizes, binds and the environment, TOML-facing
//! enums become the plan's own. Pure functions, tested without a sandbox.
//!
//! It may read the profile model and the decision; it may not run, audit or
//! decide anything. The sandbox (`crate::sandbox`) never sees a profile.

use crate::policy::params;
use crate::policy::Decision;
use crate::profile::{self, BindMode, ParamType, Role, ToolSpec};
use crate::sandbox::plan::{
    Bind, BindKind, Mechanism, NetworkMode, PlanError, SandboxPlan, UserLimits, PROXY_PORT,
    RESERVED_TARGETS, SANDBOX_PATH, WORKDIR,
};
use crate::units;
use std::path::{Path, PathBuf};
use std::time::Duration;

impl From<profile::NetworkMode> for NetworkMode {
    fn from(m: profile::NetworkMode) -> Self {
        match m {
            profile::NetworkMode::None => NetworkMode::None,
            profile::NetworkMode::Host => NetworkMode::Host,
        }
    }
}

impl From<profile::Mechanism> for Mechanism {
    fn from(m: profile::Mechanism) -> Self {
        match m {
            profile::Mechanism::Landlock => Mechanism::Landlock,
            profile::Mechanism::Seccomp => Mechanism::Seccomp,
            profile::Mechanism::Cgroup => Mechanism::Cgroup,
            profile::Mechanism::Memory => Mechanism::Memory,
            profile::Mechanism::Cpu => Mechanism::Cpu,
            profile::Mechanism::Pids => Mechanism::Pids,
        }
    }
}

impl From<Option<profile::SpecialBind>> for BindKind {
    fn from(k: Option<profile::SpecialBind>) -> Self {
        match k {
            None => BindKind::Path,
            Some(profile::SpecialBind::Socket) => BindKind::Socket,
            Some(profile::SpecialBind::Fifo) => BindKind::Fifo,
            Some(profile::SpecialBind::Device) => BindKind::Device,
        }
    }
}

fn size(key: &'static str, v: &str) -> Result<u64, PlanError> {
    units::parse_size(v).map_err(|e| PlanError::Setting {
        key,
        message: e.to_string(),
    })
}

/// The tool's environment: a clean one, then what the profile passes through and sets.
pub fn build_env(
    role: &Role,
    launcher_env: &dyn Fn(&str) -> Option<String>,
    on_terminal: bool,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), SANDBOX_PATH.into()),
        ("HOME".into(), WORKDIR.into()),
        (
            "LANG".into(),
            launcher_env("LANG").unwrap_or_else(|| "C.UTF-8".into()),
        ),
    ];
    if let Some(tz) = launcher_env("TZ") {
        env.push(("TZ".into(), tz));
    }
    if on_terminal {
        if let Some(term) = launcher_env("TERM") {
            env.push(("TERM".into(), term));
        }
    }
    let mut set = |k: &str, v: String| {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v));
    };
    for name in &role.sandbox.pass_env {
        if let Some(v) = launcher_env(name) {
            set(name, v);
        }
    }
    for (k, v) in &role.sandbox.env {
        set(k, v.clone());
    }
    env
}

/// Builds the plan for an allowed decision.
pub fn build(
    role: &Role,
    tool: &ToolSpec,
    decision: &Decision,
    mut env: Vec<(String, String)>,
) -> Result<SandboxPlan, PlanError> {
    let s = &role.sandbox;
    if !s.egress.is_empty() {
        // The tool reaches the network only through the proxy on its own loopback.
        let url = format!("http://127.0.0.1:{PROXY_PORT}");
        let socks = format!("socks5h://127.0.0.1:{PROXY_PORT}");
        for (k, v) in [
            ("HTTP_PROXY", &url),
            ("HTTPS_PROXY", &url),
            ("ALL_PROXY", &socks),
            ("http_proxy", &url),
            ("https_proxy", &url),
            ("all_proxy", &socks),
            ("NO_PROXY", &String::new()),
            ("no_proxy", &String::new()),
        ] {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.clone()));
        }
    }
    let tmp_size = size("tmp_size", &s.tmp_size)?;
    let ephemeral = size("ephemeral_storage", &s.ephemeral_storage)?;
    if tmp_size >= ephemeral {
        return Err(PlanError::Setting {
            key: "tmp_size",
            message: format!(
                "{} leaves no room for /dev/shm within ephemeral_storage {}",
                s.tmp_size, s.ephemeral_storage
            ),
        });
    }
    let mut binds: Vec<Bind> = s
        .binds
        .iter()
        .map(|b| Bind {
            source: b.source.clone(),
            target: b.target.clone().unwrap_or_else(|| b.source.clone()),
            writable: b.mode == BindMode::Rw,
            kind: b.kind.into(),
        })
        .collect();
    for (name, spec) in &tool.params {
        if let (ParamType::Path, Some(mode), Some(v)) =
            (spec.kind, spec.bind, decision.params.get(name))
        {
            let p = PathBuf::from(params::value_text(v));
            binds.push(Bind {
                source: p.clone(),
                target: p,
                writable: mode == BindMode::Rw,
                // A path parameter is only ever a directory or a regular file.
                kind: BindKind::Path,
            });
        }
    }
    for b in &binds {
        // A target inside a reserved path, or one that would cover it, is refused.
        if RESERVED_TARGETS
            .iter()
            .any(|r| b.target.starts_with(r) || Path::new(r).starts_with(&b.target))
        {
            return Err(PlanError::ReservedTarget(b.target.display().to_string()));
        }
    }
    // Shortest target first, so a bind inside another lands on top of it.
    binds.sort_by_key(|b| b.target.components().count());
    binds.dedup_by(|a, b| {
        a.target == b.target && a.source == b.source && a.writable == b.writable && a.kind == b.kind
    });
    let mut namespaces = vec!["user", "mount", "pid", "ipc", "uts", "cgroup"];
    let network = NetworkMode::from(s.network);
    if network == NetworkMode::None {
        namespaces.insert(3, "net");
    }
    Ok(SandboxPlan {
        program: None,
        argv: decision.argv.clone(),
        env,
        uid: s.user,
        gid: s.user,
        hostname: s.hostname.clone(),
        network,
        egress: s.egress.clone(),
        max_connections: s.max_connections,
        namespaces,
        binds,
        tmp_size,
        shm_size: ephemeral - tmp_size,
        memory: size("memory", &s.memory)?,
        cpu_millis: units::parse_cpu_millis(&s.cpu).map_err(|e| PlanError::Setting {
            key: "cpu",
            message: e.to_string(),
        })?,
        pids: s.pids,
        nofile: s.nofile,
        max_file_size: size("max_file_size", &s.max_file_size)?,
        timeout: Duration::from_secs(role.limits.timeout_seconds),
        max_output: units::parse_size(&role.limits.max_output).map_err(|e| PlanError::Setting {
            key: "max_output",
            message: e.to_string(),
        })?,
        workdir: WORKDIR,
        optional: s.optional.iter().map(|&m| m.into()).collect(),
        cgroup_parent: None,
        unix_sockets: s.unix_sockets,
        sys: s.sys,
        keep_groups: s.supplementary_groups == profile::SupplementaryGroups::Keep,
        max_ptys: s.max_ptys,
        user_limits: UserLimits {
            inotify_instances: s.user_limits.inotify_instances,
            inotify_watches: s.user_limits.inotify_watches,
            fanotify_groups: s.user_limits.fanotify_groups,
            fanotify_marks: s.user_limits.fanotify_marks,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::{decide, ToolCall};
    use crate::profile::load;
    use serde_json::Value;

    fn plan_for(role: &str, tool: &str, params: &[(&str, &str)]) -> SandboxPlan {
        let set = load(None).unwrap();
        let call = ToolCall {
            role: role.into(),
            tool: tool.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect(),
            extra_args: vec![],
            ..Default::default()
        };
        let d = decide(&set, &call);
        build(&set.roles[role], &set.catalog.tools[tool], &d, vec![]).unwrap()
    }

    #[test]
    fn seed_defaults() {
        let p = plan_for(
            "infrastructure_agent",
            "kubectl_get",
            &[("resource", "pods"), ("namespace", "monitoring")],
        );
        assert_eq!(p.uid, 65534);
        assert_eq!(p.memory, 256 << 20);
        assert_eq!(p.cpu_millis, 500);
        assert_eq!(p.tmp_size, 50 << 20);
        assert_eq!(p.shm_size, 50 << 20);
        assert!(p.namespaces.contains(&"net"));
        assert_eq!(p.timeout, Duration::from_secs(300));
    }

    #[test]
    fn path_parameters_become_binds() {
        let p = plan_for("files_agent", "hash_file", &[("path", "/tmp/x")]);
        assert_eq!(
            p.binds,
            [Bind {
                source: "/tmp/x".into(),
                target: "/tmp/x".into(),
                writable: false,
                kind: BindKind::Path,
            }]
        );
        let p = plan_for(
            "files_agent",
            "touch_file",
            &[("dir", "/tmp"), ("name", "n")],
        );
        assert!(p.binds[0].writable);
    }

    #[test]
    fn env_is_clean_plus_profile() {
        let mut role: Role =
            toml::from_str("[sandbox]\npass_env = [\"KUBECONFIG\"]\nenv = { A = \"1\" }").unwrap();
        role.name = "r".into();
        let host = |k: &str| match k {
            "KUBECONFIG" => Some("/k".to_string()),
            "SECRET" => Some("s".to_string()),
            "TERM" => Some("xterm".to_string()),
            _ => None,
        };
        let env = build_env(&role, &host, false);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["PATH", "HOME", "LANG", "KUBECONFIG", "A"]);
        assert!(build_env(&role, &host, true)
            .iter()
            .any(|(k, _)| k == "TERM"));
    }

    #[test]
    fn reserved_targets_are_refused() {
        let set = load(None).unwrap();
        let mut role = set.roles["files_agent"].clone();
        role.sandbox.binds.push(crate::profile::BindSpec {
            source: "/x".into(),
            target: Some("/proc/1".into()),
            mode: BindMode::Ro,
            kind: None,
        });
        let d = decide(
            &set,
            &ToolCall {
                role: "files_agent".into(),
                tool: "echo_text".into(),
                params: [("text".to_string(), Value::from("a"))]
                    .into_iter()
                    .collect(),
                extra_args: vec![],
                ..Default::default()
            },
        );
        let e = build(&role, &set.catalog.tools["echo_text"], &d, vec![]).unwrap_err();
        assert_eq!(e, PlanError::ReservedTarget("/proc/1".into()));
    }
}
