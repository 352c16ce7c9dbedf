//! The rendered pod's pieces used as the pod uses them, offline:
//!
//! * the ConfigMap's profiles load, and a call made as the pod makes it
//!   (UID and GID 65534, no capabilities, no_new_privs, no cgroup it can
//!   write) runs a tool with `--per-call-cgroup pod-limits` (the default)
//!   and is refused, fail closed, with `--per-call-cgroup required`;
//! * the pod's limits are the role's own values;
//! * with `--entrypoint serve` the ConfigMap's broker.toml is mounted where
//!   the container's command reads it, and `agentjail serve --check-config`
//!   takes it with the ConfigMap's profiles;
//! * the AppArmor profile `--apparmor-out` writes parses with Debian's
//!   apparmor_parser (-QT: compiled, not loaded; there is no AppArmor here)
//!   and is the one the pod names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");

/// `agentjail k8s render ARGS`, which must succeed: its stdout.
fn render_text(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["k8s", "render"])
        .args(args)
        .env_remove("AGENTJAIL_PROFILES")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The objects of a JSON render.
fn render(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "json"];
    all.extend(args);
    let list: Value = serde_json::from_str(&render_text(&all)).unwrap();
    list["items"].as_array().unwrap().clone()
}

fn of_kind<'a>(items: &'a [Value], kind: &str) -> &'a Value {
    items.iter().find(|i| i["kind"] == kind).unwrap()
}

/// Writes every file a ConfigMap volume of the pod projects, at the path the
/// container sees under `root` (the volume's mountPath below `root`).
fn project_config_map(items: &[Value], root: &Path) {
    let data = &of_kind(items, "ConfigMap")["data"];
    let pod = of_kind(items, "Pod");
    let container = &pod["spec"]["containers"][0];
    for volume in pod["spec"]["volumes"].as_array().unwrap() {
        let Some(cm) = volume.get("configMap") else {
            continue;
        };
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume["name"])
            .unwrap();
        let dir = root.join(mount["mountPath"].as_str().unwrap().trim_start_matches('/'));
        for item in cm["items"].as_array().unwrap() {
            let path = dir.join(item["path"].as_str().unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data[item["key"].as_str().unwrap()].as_str().unwrap()).unwrap();
        }
    }
}

/// The container's environment variable `name`.
fn env_of(pod: &Value, name: &str) -> String {
    pod["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Root and setpriv, to make calls as the pod makes them.
fn can_drop_to_the_pod() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        common::skip("root and /usr/bin/setpriv, to drop to the pod's UID and capabilities");
        return false;
    }
    true
}

/// A directory tree the pod's UID can read, with a writable `var`.
fn pod_dirs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let var = dir.path().join("var");
    std::fs::create_dir(&var).unwrap();
    std::os::unix::fs::chown(&var, Some(65534), Some(65534)).unwrap();
    (dir, var)
}

/// `agentjail ARGS` as UID and GID 65534, no capabilities, no_new_privs,
/// with the pod's profile directory and the state and log in `var`.
fn as_the_pod(profiles: &Path, var: &Path, args: &[&str]) -> Output {
    Command::new("/usr/bin/setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"])
        .arg(BIN)
        .args(args)
        .env("AGENTJAIL_PROFILES", profiles)
        .env("AGENTJAIL_AUDIT_LOG", var.join("audit.jsonl"))
        .env("AGENTJAIL_STATE_DIR", var.join("state"))
        .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
        .env_remove("AGENTJAIL_CGROUP_PARENT")
        .output()
        .unwrap()
}

/// The pod's UID cannot create a cgroup on this machine (as in a pod).
fn no_writable_cgroup() -> bool {
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["--inh-caps=-all", "--bounding-set=-all"])
        .args(["sh", "-c"])
        .arg("for d in /sys/fs/cgroup /sys/fs/cgroup/*; do mkdir \"$d/agentjail-k8s-probe-$$\" 2>/dev/null && { rmdir \"$d/agentjail-k8s-probe-$$\"; exit 1; }; done; exit 0")
        .status()
        .unwrap();
    out.success()
}

const CALL: &[&str] = &[
    "run",
    "--role",
    "files_agent",
    "echo_text",
    "--param",
    "text=in-the-pod",
];

#[test]
fn pod_limits_run_calls_without_a_writable_cgroup_and_required_refuses_them() {
    if !can_drop_to_the_pod() {
        return;
    }
    assert!(
        no_writable_cgroup(),
        "UID 65534 can create a cgroup here: the test would not show what a pod sees"
    );
    for (mode, runs) in [("pod-limits", true), ("required", false)] {
        let items = render(&["--role", "files_agent", "--per-call-cgroup", mode]);
        let (dir, var) = pod_dirs();
        project_config_map(&items, dir.path());
        let pod = of_kind(&items, "Pod");
        let profiles = dir
            .path()
            .join(env_of(pod, "AGENTJAIL_PROFILES").trim_start_matches('/'));
        let check = as_the_pod(
            &profiles,
            &var,
            &[
                "check",
                "--role",
                "files_agent",
                "echo_text",
                "--param",
                "text=x",
            ],
        );
        assert!(
            check.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let out = as_the_pod(&profiles, &var, CALL);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if runs {
            assert!(out.status.success(), "{mode}: {stderr}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "in-the-pod\n");
        } else {
            // Fail closed: agentjail's own failure, its first line naming
            // cgroups (then the fix), and the tool did not run.
            assert_eq!(out.status.code(), Some(125), "{mode}: {stderr}");
            let first = stderr.lines().next().unwrap_or("");
            assert!(
                first.contains("cgroup") && first.contains("not run"),
                "{stderr}"
            );
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn the_pods_limits_are_the_roles_and_pod_limits_says_so() {
    let set = agentjail::profile::load(None).unwrap();
    for role in ["files_agent", "data_agent", "infrastructure_agent"] {
        let want = &set.roles[role].sandbox;
        for (mode, edited) in [("pod-limits", true), ("required", false)] {
            let items = render(&["--role", role, "--per-call-cgroup", mode]);
            let limits = &of_kind(&items, "Pod")["spec"]["containers"][0]["resources"]["limits"];
            let size = |v: &Value| agentjail::units::parse_size(v.as_str().unwrap()).unwrap();
            let size_of = |s: &str| agentjail::units::parse_size(s).unwrap();
            assert_eq!(size(&limits["memory"]), size_of(&want.memory), "{role}");
            assert_eq!(
                size(&limits["ephemeral-storage"]),
                size_of(&want.ephemeral_storage),
                "{role}"
            );
            assert_eq!(
                agentjail::units::parse_cpu_millis(limits["cpu"].as_str().unwrap()).unwrap(),
                agentjail::units::parse_cpu_millis(&want.cpu).unwrap(),
                "{role}"
            );
            // The ConfigMap's role is the bundled one but for "cgroup" in
            // sandbox.optional, under a comment saying why.
            let (pdir, _var) = pod_dirs();
            project_config_map(&items, pdir.path());
            let text = std::fs::read_to_string(
                pdir.path()
                    .join(format!("etc/agentjail/profiles/roles/{role}.toml")),
            )
            .unwrap();
            assert_eq!(text.contains("--per-call-cgroup pod-limits"), edited);
            let loaded =
                agentjail::profile::load(Some(&pdir.path().join("etc/agentjail/profiles")))
                    .unwrap();
            let got = &loaded.roles[role].sandbox;
            let cgroup = agentjail::profile::Mechanism::Cgroup;
            assert_eq!(got.optional.contains(&cgroup), edited, "{role} {mode}");
            assert_eq!(
                (&got.memory, &got.cpu, got.pids),
                (&want.memory, &want.cpu, want.pids)
            );
        }
    }
}

/// `apparmor_parser`, unpacked into the test venv by .ci/setup.d/k8s.sh.
fn apparmor_parser() -> Option<PathBuf> {
    let venv = std::env::var_os("AGENTJAIL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci/venv"));
    let parser = venv.join("apparmor/sbin/apparmor_parser");
    if parser.exists() {
        return Some(venv.join("apparmor"));
    }
    common::skip(&format!(
        "{} (run .ci/setup.d/k8s.sh with AGENTJAIL_TEST_VENV set)",
        parser.display()
    ));
    None
}

/// Whether apparmor_parser compiles the profile text (without loading it).
fn parses(apparmor: &Path, text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(apparmor.join("sbin/apparmor_parser"))
        .args(["-Q", "-T", "--config-file", "/dev/null", "-I"])
        .arg(apparmor.join("etc/apparmor.d"))
        .arg(&file)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_apparmor_profile_parses_and_is_the_one_the_pod_names() {
    let Some(apparmor) = apparmor_parser() else {
        return;
    };
    for role in ["files_agent", "data_agent", "infrastructure_agent"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("profile");
        render_text(&["--role", role, "--apparmor-out", file.to_str().unwrap()]);
        let text = std::fs::read_to_string(&file).unwrap();
        parses(&apparmor, &text).unwrap_or_else(|e| panic!("{role}: {e}"));
        // The pod names the profile the file defines (Localhost, the default).
        let items = render(&["--role", role]);
        let want = &of_kind(&items, "Pod")["spec"]["securityContext"]["appArmorProfile"];
        assert_eq!(want["type"], "Localhost");
        let name = want["localhostProfile"].as_str().unwrap();
        assert!(text.contains(&format!("\nprofile {name} flags=")), "{text}");
        // What the launcher needs is allowed, and what is denied stays denied.
        for rule in [
            "  mount,",
            "  umount,",
            "  pivot_root,",
            "deny /proc/kcore rwklx,",
        ] {
            assert!(text.contains(rule), "{role}: {rule}");
        }
        // The parser is a real check: a profile with a rule it does not
        // know, or cut short, is refused.
        assert!(parses(&apparmor, &text.replace("  mount,", "  mount_everything,")).is_err());
        assert!(parses(&apparmor, text.trim_end().trim_end_matches('}')).is_err());
    }
}

#[test]
fn the_seed_keeps_runtime_default_apparmor_and_the_defaults_warn_when_asked_for() {
    let seed = render(&["--seed"]);
    assert_eq!(
        of_kind(&seed, "Pod")["spec"]["securityContext"]["appArmorProfile"],
        serde_json::json!({"type": "RuntimeDefault"})
    );
    let out = Command::new(BIN)
        .args(["k8s", "render", "--seed", "--apparmor", "localhost"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    // Runtime defaults are rendered when asked for, with a warning that
    // agentjail then refuses every call.
    let text = render_text(&[
        "--role",
        "files_agent",
        "--apparmor",
        "runtime-default",
        "--seccomp",
        "runtime-default",
    ]);
    assert!(text.contains("# Warning: AppArmor runtime/default denies mount"));
    assert!(text.contains("# Warning: seccomp RuntimeDefault denies unshare"));
    let plain = render_text(&["--role", "files_agent"]);
    assert!(!plain.contains("Warning:"));
}

/// The container's mounts: (mountPath, volume name, read-only).
fn mounts(pod: &Value) -> Vec<(String, String, bool)> {
    pod["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap().to_string(),
                m["name"].as_str().unwrap().to_string(),
                m["readOnly"] == true,
            )
        })
        .collect()
}

#[test]
fn the_brokers_config_is_mounted_on_the_pods_volumes_and_loads() {
    let items = render(&["--role", "files_agent", "--entrypoint", "serve"]);
    let pod = of_kind(&items, "Pod");
    let command: Vec<&str> = pod["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(command[..3], ["agentjail", "serve", "--config"]);
    let config_path = command[3];
    let data = &of_kind(&items, "ConfigMap")["data"];
    let text = data["broker.toml"].as_str().unwrap();
    let config: toml::Table = toml::from_str(text).unwrap();
    // Every path the broker reads or writes is on one of the container's
    // volumes: the profiles read-only, the rest writable.
    let serve_mounts = mounts(pod);
    let on_volume = |path: &str, writable: bool| {
        let m = serve_mounts
            .iter()
            .filter(|(at, _, _)| Path::new(path).starts_with(at))
            .max_by_key(|(at, _, _)| at.len())
            .unwrap_or_else(|| panic!("{path} is on no volume"));
        assert!(!writable || !m.2, "{path} is on read-only volume {}", m.1);
    };
    on_volume(config_path, false);
    on_volume(config["profiles"].as_str().unwrap(), false);
    for key in ["state_dir", "audit_log", "socket"] {
        on_volume(config[key].as_str().unwrap(), true);
    }
    // The audit log is the one the audit sidecar prints.
    assert_eq!(
        config["audit_log"].as_str().unwrap(),
        env_of(pod, "AGENTJAIL_AUDIT_LOG")
    );
    // The pod's uid is the one caller, for the role.
    let callers = config["callers"].as_array().unwrap();
    assert_eq!(callers.len(), 1);
    assert_eq!(callers[0]["uid"].as_integer(), Some(65534));
    assert_eq!(
        callers[0]["roles"].as_array().unwrap()[0].as_str(),
        Some("files_agent")
    );
    // Without serve, no broker.toml and no broker volumes.
    let mcp = render(&["--role", "files_agent"]);
    assert!(of_kind(&mcp, "ConfigMap")["data"]
        .get("broker.toml")
        .is_none());
    assert!(!mounts(of_kind(&mcp, "Pod"))
        .iter()
        .any(|m| m.1 == "broker" || m.1 == "run"));

    // `serve --check-config` takes it, with the ConfigMap's profiles, each
    // path rebased under a directory standing for the container's root.
    let (dir, _var) = pod_dirs();
    project_config_map(&items, dir.path());
    let root = dir.path();
    let rebase = |p: &str| root.join(p.trim_start_matches('/'));
    let mut rebased = config.clone();
    for key in ["profiles", "state_dir", "audit_log", "socket"] {
        let path = rebase(config[key].as_str().unwrap());
        rebased.insert(key.into(), path.to_str().unwrap().into());
    }
    let file = rebase(config_path);
    std::fs::write(&file, toml::to_string(&rebased).unwrap()).unwrap();
    let check = |path: &Path| {
        Command::new(BIN)
            .args(["serve", "--check-config", "--config"])
            .arg(path)
            .env_remove("AGENTJAIL_PROFILES")
            .output()
            .unwrap()
    };
    let out = check(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(" 1 roles,") && said.contains("1 caller"),
        "{said}"
    );
    // The check is real: the rendered file with a misspelled key is refused.
    std::fs::write(
        &file,
        toml::to_string(&rebased)
            .unwrap()
            .replace("socket_mode", "socket_mod"),
    )
    .unwrap();
    assert_eq!(check(&file).status.code(), Some(78));
}
