//! The sandbox plan: everything the sandbox needs, as plain data. Built from
//! a role and a decision by pure functions; the mechanism modules take it
//! and never read TOML or decide.

use crate::policy::Decision;
use crate::profile::{BindMode, Mechanism, NetworkMode, ParamType, Role, ToolSpec};
use crate::units;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The PATH inside the sandbox, also used to resolve the tool's program on the host.
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Host paths bound read-only into every sandbox (a symlink is recreated as a symlink).
pub const SYSTEM_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The only `/etc` entries programs get: the dynamic linker's cache, name
/// service switch, time zone, TLS roots, Debian's alternatives, protocol tables.
pub const ETC_PATHS: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates.conf",
    "/etc/alternatives",
    "/etc/protocols",
    "/etc/services",
    "/etc/host.conf",
];

/// Places a bind may not target: the sandbox builds these itself.
const RESERVED_TARGETS: &[&str] = &["/proc", "/dev", "/sys", "/etc/passwd", "/etc/group"];

/// The port of the egress proxy inside the sandbox (its own network namespace, so always free).
pub const PROXY_PORT: u16 = 3128;

/// The working directory of the tool.
pub const WORKDIR: &str = "/tmp";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub writable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SandboxPlan {
    /// The tool's program, resolved on the host (None until resolved).
    pub program: Option<PathBuf>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub uid: u32,
    pub gid: u32,
    pub hostname: String,
    pub network: NetworkMode,
    /// Egress allow-list served by the proxy; empty means no connection leaves.
    pub egress: Vec<String>,
    pub max_connections: usize,
    pub namespaces: Vec<&'static str>,
    /// Binds from the profile and from path parameters (system paths are implied).
    pub binds: Vec<Bind>,
    pub tmp_size: u64,
    pub shm_size: u64,
    pub memory: u64,
    pub cpu_millis: u64,
    pub pids: u64,
    pub nofile: u64,
    pub max_file_size: u64,
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    pub max_output: u64,
    pub workdir: &'static str,
    pub optional: Vec<Mechanism>,
    /// Parent for the run's cgroup, relative to the cgroup mount(s).
    pub cgroup_parent: Option<PathBuf>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("sandbox.{key}: {message}")]
    Setting { key: &'static str, message: String },
    #[error("bind target {0} is reserved: the sandbox builds it itself")]
    ReservedTarget(String),
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
        })
        .collect();
    for (name, spec) in &tool.params {
        if let (ParamType::Path, Some(mode), Some(v)) =
            (spec.kind, spec.bind, decision.params.get(name))
        {
            let p = PathBuf::from(crate::policy::params::value_text(v));
            binds.push(Bind {
                source: p.clone(),
                target: p,
                writable: mode == BindMode::Rw,
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
    binds.dedup_by(|a, b| a.target == b.target && a.source == b.source && a.writable == b.writable);
    let mut namespaces = vec!["user", "mount", "pid", "ipc", "uts", "cgroup"];
    if s.network == NetworkMode::None {
        namespaces.insert(3, "net");
    }
    Ok(SandboxPlan {
        program: None,
        argv: decision.argv.clone(),
        env,
        uid: s.user,
        gid: s.user,
        hostname: s.hostname.clone(),
        network: s.network,
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
        optional: s.optional.clone(),
        cgroup_parent: None,
    })
}

/// Where a path inside the sandbox lives on the host: under the bind with the
/// longest matching target, else the same path (system paths).
pub fn host_path(plan: &SandboxPlan, inside: &Path) -> PathBuf {
    plan.binds
        .iter()
        .filter_map(|b| inside.strip_prefix(&b.target).ok().map(|rest| (b, rest)))
        .max_by_key(|(b, _)| b.target.components().count())
        .map(|(b, rest)| {
            if rest.as_os_str().is_empty() {
                b.source.clone()
            } else {
                b.source.join(rest)
            }
        })
        .unwrap_or_else(|| inside.to_path_buf())
}

/// Where a host path appears inside the sandbox, if it does.
pub fn inside_path(plan: &SandboxPlan, host: &Path) -> Option<PathBuf> {
    if SYSTEM_PATHS.iter().any(|p| host.starts_with(p)) {
        return Some(host.to_path_buf());
    }
    plan.binds
        .iter()
        .filter_map(|b| host.strip_prefix(&b.source).ok().map(|rest| (b, rest)))
        .max_by_key(|(b, _)| b.source.components().count())
        .map(|(b, rest)| {
            if rest.as_os_str().is_empty() {
                b.target.clone()
            } else {
                b.target.join(rest)
            }
        })
}

/// Is `path` visible inside the sandbox: under a system path or a bind?
pub fn visible_inside(plan: &SandboxPlan, path: &Path) -> bool {
    SYSTEM_PATHS.iter().any(|p| path.starts_with(p))
        || plan.binds.iter().any(|b| path.starts_with(&b.target))
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
                writable: false
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
    fn bind_targets_map_to_host_sources_and_back() {
        let mut p = tests_support::empty_plan();
        p.binds.push(Bind {
            source: "/srv/tools".into(),
            target: "/opt/t".into(),
            writable: false,
        });
        assert_eq!(
            host_path(&p, Path::new("/opt/t/bin/x")),
            PathBuf::from("/srv/tools/bin/x")
        );
        assert_eq!(
            host_path(&p, Path::new("/usr/bin/ls")),
            PathBuf::from("/usr/bin/ls")
        );
        assert_eq!(
            inside_path(&p, Path::new("/srv/tools/bin/x")),
            Some(PathBuf::from("/opt/t/bin/x"))
        );
        assert_eq!(
            inside_path(&p, Path::new("/usr/bin/ls")),
            Some(PathBuf::from("/usr/bin/ls"))
        );
        assert_eq!(inside_path(&p, Path::new("/root/x")), None);
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
            },
        );
        let e = build(&role, &set.catalog.tools["echo_text"], &d, vec![]).unwrap_err();
        assert_eq!(e, PlanError::ReservedTarget("/proc/1".into()));
    }
}

#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// A plan with the seed's defaults and nothing bound, for unit tests.
    pub fn empty_plan() -> SandboxPlan {
        SandboxPlan {
            program: None,
            argv: vec!["true".into()],
            env: vec![],
            uid: 65534,
            gid: 65534,
            hostname: "agentjail".into(),
            network: NetworkMode::None,
            egress: vec![],
            max_connections: 32,
            namespaces: vec![],
            binds: vec![],
            tmp_size: 50 << 20,
            shm_size: 50 << 20,
            memory: 256 << 20,
            cpu_millis: 500,
            pids: 128,
            nofile: 1024,
            max_file_size: 50 << 20,
            timeout: Duration::from_secs(300),
            max_output: 1 << 20,
            workdir: WORKDIR,
            optional: vec![],
            cgroup_parent: None,
        }
    }
}
