//! `agentjail k8s render`: golden files for the seed and every bundled role,
//! the seed's two manifests reproduced field for field, every rendered
//! manifest validated offline (kubernetes-validate --strict for Kubernetes
//! 1.33, the agent-sandbox objects against tests/k8s_schema/), and broken
//! role settings refused before any of that.
//!
//! Golden files: tests/k8s_golden/. After an intended change, regenerate
//! them with `AGENTJAIL_UPDATE_GOLDEN=1 cargo test --test k8s` and review
//! the diff. The validators come from .ci/setup.d/k8s.sh (in
//! $AGENTJAIL_TEST_VENV, default target/ci/venv).
//!
//! Over 600 lines: the render's tests share its helpers (render, documents,
//! the validators); the seccomp profile's tests are in tests/k8s_seccomp.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
const ROLES: &[&str] = &["data_agent", "files_agent", "infrastructure_agent"];
const KINDS: &[&str] = &["pod", "job", "deployment", "sandbox", "sandbox-template"];
/// The Kubernetes version the objects are typed for (k8s-openapi feature v1_33).
const K8S_VERSION: &str = "1.33.0";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn agentjail(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("AGENTJAIL_PROFILES")
        .output()
        .unwrap()
}

fn render(args: &[&str]) -> String {
    let mut all = vec!["k8s", "render"];
    all.extend_from_slice(args);
    let out = agentjail(&all);
    assert!(
        out.status.success(),
        "agentjail {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The YAML documents of a render, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml_ng::from_str(d).unwrap())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the render"))
}

fn golden(name: &str, actual: &str) {
    let path = repo().join("tests/k8s_golden").join(name);
    if std::env::var("AGENTJAIL_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (AGENTJAIL_UPDATE_GOLDEN=1 cargo test --test k8s writes it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the render (AGENTJAIL_UPDATE_GOLDEN=1 cargo test --test k8s \
         regenerates it):\n{}",
        path.display(),
        first_difference(&expected, actual)
    );
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n- {x}\n+ {y}", i + 1);
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn golden_files_for_the_seed_and_every_bundled_role() {
    golden("seed.yaml", &render(&["--seed"]));
    for role in ROLES {
        golden(&format!("{role}.pod.yaml"), &render(&["--role", role]));
    }
    for kind in &KINDS[1..] {
        golden(
            &format!("files_agent.{kind}.yaml"),
            &render(&["--role", "files_agent", "--kind", kind]),
        );
    }
    golden(
        "files_agent.serve.pod.yaml",
        &render(&["--role", "files_agent", "--entrypoint", "serve"]),
    );
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    render(&[
        "--role",
        "files_agent",
        "--seccomp-out",
        profile.to_str().unwrap(),
    ]);
    golden("seccomp.json", &std::fs::read_to_string(&profile).unwrap());
    let apparmor = dir.path().join("p.aa");
    render(&[
        "--role",
        "files_agent",
        "--apparmor-out",
        apparmor.to_str().unwrap(),
    ]);
    golden("apparmor.txt", &std::fs::read_to_string(&apparmor).unwrap());
    golden(
        "files_agent.pod.json",
        &render(&["--role", "files_agent", "--format", "json"]),
    );
}

/// Volumes and mounts agentjail adds to the seed's pod: the profiles, the
/// audit log, the state directory.
const AGENTJAIL_VOLUMES: &[&str] = &["profiles", "audit", "state"];

/// Every field of `want` is in `got` with the same value. Lists match
/// element by element with the same length, except lists of named items
/// (volumes, mounts), which Kubernetes keys by name: each of `want`'s is in
/// `got` under its name, and `got` may add only [`AGENTJAIL_VOLUMES`].
fn contains(got: &Value, want: &Value, at: &str) -> Result<(), String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, v) in w {
                let here = format!("{at}.{k}");
                let Some(gv) = g.get(k) else {
                    return Err(format!("{here}: missing"));
                };
                contains(gv, v, &here)?;
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(w))
            if at.ends_with("volumes") || at.ends_with("volumeMounts") =>
        {
            for wv in w {
                let name = &wv["name"];
                let Some(gv) = g.iter().find(|gv| gv["name"] == *name) else {
                    return Err(format!("{at}: no item named {name}"));
                };
                contains(gv, wv, &format!("{at}[{name}]"))?;
            }
            for gv in g {
                let name = gv["name"].as_str().unwrap_or("");
                if !w.iter().any(|wv| wv["name"] == name) && !AGENTJAIL_VOLUMES.contains(&name) {
                    return Err(format!("{at}: unexpected item {name}"));
                }
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                return Err(format!("{at}: {} items, the seed has {}", g.len(), w.len()));
            }
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                contains(gv, wv, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ if got == want => Ok(()),
        _ => Err(format!("{at}: {got} where the seed has {want}")),
    }
}

#[test]
fn the_seed_is_reproduced_field_for_field() {
    // tests/k8s_golden/seed_manifests.yaml is the seed's Pod and
    // NetworkPolicy transcribed by hand, not rendered.
    let seed =
        std::fs::read_to_string(repo().join("tests/k8s_golden/seed_manifests.yaml")).unwrap();
    let seed = documents(&seed);
    let ours = documents(&render(&["--seed"]));
    for kind in ["Pod", "NetworkPolicy"] {
        let want = of_kind(&seed, kind);
        let got = of_kind(&ours, kind);
        if let Err(e) = contains(got, want, kind) {
            panic!("{e}");
        }
    }
    // The policy's rules are exactly the seed's: nothing more is reachable.
    assert_eq!(
        of_kind(&ours, "NetworkPolicy")["spec"],
        of_kind(&seed, "NetworkPolicy")["spec"]
    );
    // And the check can fail: a seed value the render does not have.
    let mut changed = of_kind(&seed, "Pod").clone();
    changed["spec"]["containers"][0]["resources"]["limits"]["memory"] = "512Mi".into();
    assert!(contains(of_kind(&ours, "Pod"), &changed, "Pod").is_err());
}

#[test]
fn role_settings_map_to_the_pod() {
    let docs = documents(&render(&[
        "--role",
        "infrastructure_agent",
        "--namespace",
        "agents",
    ]));
    let pod = of_kind(&docs, "Pod");
    let spec = &pod["spec"];
    assert_eq!(pod["metadata"]["namespace"], "agents");
    assert_eq!(spec["hostUsers"], false);
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["securityContext"]["runAsUser"], 65534);
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        "Localhost"
    );
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["localhostProfile"],
        "agentjail/infrastructure_agent.json"
    );
    let main = &spec["containers"][0];
    assert_eq!(
        main["command"],
        serde_json::json!([
            "agentjail",
            "mcp",
            "serve",
            "--role",
            "infrastructure_agent"
        ])
    );
    assert_eq!(main["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(spec["volumes"][0]["emptyDir"]["sizeLimit"], "50Mi");
    // Name entries: their namespaces, DNS, and the comment saying who enforces them.
    let policy = of_kind(&docs, "NetworkPolicy");
    let egress = policy["spec"]["egress"].as_array().unwrap();
    let namespaces: Vec<&Value> = egress
        .iter()
        .filter_map(|r| {
            r["to"][0]["namespaceSelector"]["matchLabels"].get("kubernetes.io/metadata.name")
        })
        .collect();
    assert_eq!(namespaces, ["default", "monitoring", "kube-system"]);
    assert_eq!(egress[1]["ports"][0]["port"], 9090);
    assert_eq!(policy["spec"]["ingress"], serde_json::json!([]));
    let text = render(&["--role", "infrastructure_agent"]);
    assert!(text.contains("enforced by agentjail's egress proxy in the pod"));
    // Cgroup limits: the pod's limits stand in for them (the default), or
    // required, and the render says what that means in a pod.
    assert!(text.contains("(--per-call-cgroup pod-limits) because the kubelet enforces"));
    let required = render(&[
        "--role",
        "infrastructure_agent",
        "--per-call-cgroup",
        "required",
    ]);
    assert!(required.contains("agentjail refuses every call (fail closed)"));
    assert!(render(&["--seed"]).contains("Per-call cgroup limits: optional in the role"));
    // No egress entries: no egress at all, and no DNS.
    let docs = documents(&render(&[
        "--role",
        "files_agent",
        "--seccomp",
        "runtime-default",
        "--apparmor",
        "unconfined",
    ]));
    assert_eq!(
        of_kind(&docs, "Pod")["spec"]["securityContext"]["appArmorProfile"],
        serde_json::json!({"type": "Unconfined"})
    );
    assert_eq!(
        of_kind(&docs, "NetworkPolicy")["spec"]["egress"],
        serde_json::json!([])
    );
    assert_eq!(
        of_kind(&docs, "Pod")["spec"]["securityContext"]["seccompProfile"],
        serde_json::json!({"type": "RuntimeDefault"})
    );
}

#[test]
fn the_config_map_is_a_working_profile_directory() {
    for (role, mode) in ROLES
        .iter()
        .flat_map(|r| [(r, "required"), (r, "pod-limits")])
    {
        let docs = documents(&render(&["--role", role, "--per-call-cgroup", mode]));
        let data = &of_kind(&docs, "ConfigMap")["data"];
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("roles")).unwrap();
        std::fs::write(
            dir.path().join("tools.toml"),
            data["tools.toml"].as_str().unwrap(),
        )
        .unwrap();
        let file = format!("{role}.toml");
        std::fs::write(
            dir.path().join("roles").join(&file),
            data[file.as_str()].as_str().unwrap(),
        )
        .unwrap();
        let path = dir.path().to_str().unwrap();
        let out = agentjail(&["profiles", "validate", path]);
        assert!(
            out.status.success(),
            "{role}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let show = |extra: &[&str]| {
            let mut args = extra.to_vec();
            args.extend(["profiles", "show", role, "--format", "json"]);
            let out = agentjail(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        // The role reads the same from the ConfigMap as from the bundle,
        // with pod-limits but for "cgroup" in sandbox.optional.
        let mut got = show(&["--profiles", path]);
        let optional = &mut got["profile"]["sandbox"]["optional"];
        if mode == "pod-limits" {
            let list = optional.as_array_mut().unwrap();
            assert_eq!(list.pop(), Some(Value::from("cgroup")), "{role}");
        }
        assert_eq!(got, show(&[]), "{role} {mode}");
    }
}

/// A profile directory with the bundled catalog and one role file.
fn profiles_with_role(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("profiles/tools.toml"),
        dir.path().join("tools.toml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("roles")).unwrap();
    std::fs::write(dir.path().join("roles").join(format!("{name}.toml")), text).unwrap();
    dir
}

#[test]
fn broken_role_settings_are_refused_before_validation() {
    let good = "allowed_tools = [\"echo_text\"]\n[sandbox]\n";
    let cases: &[(&str, String, &str)] = &[
        ("r", format!("{good}memory = \"lots\"\n"), "memory"),
        (
            "r",
            format!("{good}egress = [\"10.0.0.1/8:443\"]\n"),
            "10.0.0.1/8",
        ),
        (
            "r",
            format!("{good}egress = [\"api.example.com\"]\n"),
            "port",
        ),
        ("r", format!("{good}user = 0\n"), "user"),
        ("Bad_Role", good.to_string(), "lowercase"),
        (&"r".repeat(60), good.to_string(), "longer"),
        // Too large for a ConfigMap.
        (
            "big",
            format!("description = \"{}\"\n{good}", "x".repeat(1 << 20)),
            "ConfigMap",
        ),
    ];
    for (name, text, says) in cases {
        let dir = profiles_with_role(name, text);
        let out = agentjail(&[
            "--profiles",
            dir.path().to_str().unwrap(),
            "k8s",
            "render",
            "--role",
            name,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{name}: {text}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: printed a manifest");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
    // Usage errors (64), an unknown role (78), an unwritable --seccomp-out (125).
    let unwritable = "/nonexistent-dir/profile.json";
    for (args, code) in [
        (&["k8s", "render"][..], 64),
        (&["k8s", "render", "--role", "files_agent", "--seed"], 64),
        (&["k8s", "render", "--seed", "--apparmor", "unconfined"], 64),
        (
            &[
                "k8s",
                "render",
                "--role",
                "files_agent",
                "--namespace",
                "No_NS",
            ],
            64,
        ),
        (
            &["k8s", "render", "--role", "files_agent", "--image", ""],
            64,
        ),
        (
            &["k8s", "render", "--role", "files_agent", "--image", "a b"],
            64,
        ),
        (
            &[
                "k8s",
                "render",
                "--role",
                "files_agent",
                "--namespace-label",
                "a b",
            ],
            64,
        ),
        (
            &[
                "k8s",
                "render",
                "--role",
                "files_agent",
                "--kind",
                "statefulset",
            ],
            64,
        ),
        (&["k8s", "render", "--role", "nope"], 78),
        (
            &[
                "k8s",
                "render",
                "--role",
                "files_agent",
                "--seccomp-out",
                unwritable,
            ],
            125,
        ),
    ] {
        let out = agentjail(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a manifest");
        if code != 64 {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

fn venv() -> PathBuf {
    std::env::var_os("AGENTJAIL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/ci/venv"))
}

/// kubernetes-validate --strict on files; None when it is not installed.
fn kubernetes_validate(files: &[PathBuf]) -> Option<Output> {
    let exe = venv().join("bin/kubernetes-validate");
    if !exe.is_file() {
        common::skip(&format!(
            "{} (.ci/setup.d/k8s.sh installs it)",
            exe.display()
        ));
        return None;
    }
    Some(
        Command::new(exe)
            .args(["--strict", "--quiet", "-k", K8S_VERSION])
            .args(files)
            .output()
            .unwrap(),
    )
}

fn write_yaml(dir: &Path, name: &str, docs: &[Value]) -> PathBuf {
    let path = dir.join(name);
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).unwrap()))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// An agent-sandbox object's pod template as a Pod, for kubernetes-validate.
fn template_as_pod(object: &Value) -> Value {
    let t = &object["spec"]["podTemplate"];
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": object["metadata"]["name"], "labels": t["metadata"]["labels"]},
        "spec": t["spec"],
    })
}

#[test]
fn every_rendered_manifest_validates_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut renders: Vec<(String, String)> = vec![
        ("seed".into(), render(&["--seed"])),
        (
            "unconfined".into(),
            render(&[
                "--role",
                "data_agent",
                "--apparmor",
                "unconfined",
                "--seccomp",
                "runtime-default",
            ]),
        ),
        (
            "serve".into(),
            render(&[
                "--role",
                "infrastructure_agent",
                "--entrypoint",
                "serve",
                "--kind",
                "deployment",
                "--per-call-cgroup",
                "required",
            ]),
        ),
    ];
    for role in ROLES {
        for kind in KINDS {
            renders.push((
                format!("{role}.{kind}"),
                render(&["--role", role, "--kind", kind, "--namespace", "agents"]),
            ));
        }
    }
    for (name, text) in &renders {
        let docs: Vec<Value> = documents(text)
            .into_iter()
            .map(|d| match d["kind"].as_str() {
                Some("Sandbox" | "SandboxTemplate") => template_as_pod(&d),
                _ => d,
            })
            .collect();
        files.push(write_yaml(dir.path(), &format!("{name}.yaml"), &docs));
    }
    let Some(out) = kubernetes_validate(&files) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator refuses what is wrong: a misspelled field, a bad type.
    let mut pod = of_kind(&documents(&render(&["--role", "files_agent"])), "Pod").clone();
    pod["spec"]["securityContext"]["runAsNonRot"] = true.into();
    let misspelled = write_yaml(dir.path(), "misspelled.yaml", &[pod.clone()]);
    pod["spec"]["securityContext"]
        .as_object_mut()
        .unwrap()
        .remove("runAsNonRot");
    pod["spec"]["securityContext"]["runAsUser"] = "nobody".into();
    let mistyped = write_yaml(dir.path(), "mistyped.yaml", &[pod]);
    for f in [misspelled, mistyped] {
        let out = kubernetes_validate(std::slice::from_ref(&f)).unwrap();
        assert!(!out.status.success(), "{} passed", f.display());
    }
}

/// Validates each JSON value against the repository's agent-sandbox schema;
/// one line per value, "ok" or the first error. None without jsonschema.
fn sandbox_schema(objects: &[Value]) -> Option<Vec<String>> {
    let python = venv().join("bin/python");
    let has = python.is_file()
        && Command::new(&python)
            .args(["-c", "import jsonschema"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !has {
        common::skip("jsonschema in the test venv (.ci/setup.d/k8s.sh installs it)");
        return None;
    }
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for line in sys.stdin:
    errors = sorted(v.iter_errors(json.loads(line)), key=lambda e: e.path)
    print("ok" if not errors else "error: " + errors[0].message.replace("\n", " "))
"#;
    let input: String = objects.iter().map(|o| format!("{o}\n")).collect();
    let mut child = Command::new(python)
        .args(["-c", script])
        .arg(repo().join("tests/k8s_schema/agent-sandbox.schema.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
    )
}

#[test]
fn agent_sandbox_objects_follow_the_schema() {
    let mut objects = Vec::new();
    for role in ROLES {
        for (kind, k) in [
            ("sandbox", "Sandbox"),
            ("sandbox-template", "SandboxTemplate"),
        ] {
            let docs = documents(&render(&["--role", role, "--kind", kind]));
            objects.push(of_kind(&docs, k).clone());
        }
    }
    let sandbox = objects[0].clone();
    let template = objects[1].clone();
    let good = objects.len();
    let mut wrong_mode = sandbox.clone();
    wrong_mode["spec"]["operatingMode"] = "Paused".into();
    let mut no_template = sandbox.clone();
    no_template["spec"]
        .as_object_mut()
        .unwrap()
        .remove("podTemplate");
    let mut template_no_pod = template.clone();
    template_no_pod["spec"]
        .as_object_mut()
        .unwrap()
        .remove("podTemplate");
    let mut wrong_group = template.clone();
    wrong_group["apiVersion"] = "agents.x-k8s.io/v1beta1".into();
    let mut extra = sandbox.clone();
    extra["spec"]["replicas"] = 2.into();
    objects.extend([wrong_mode, no_template, template_no_pod, wrong_group, extra]);
    let Some(verdicts) = sandbox_schema(&objects) else {
        return;
    };
    assert_eq!(verdicts.len(), objects.len());
    for (i, v) in verdicts.iter().enumerate() {
        if i < good {
            assert_eq!(v, "ok", "{}", objects[i]);
        } else {
            assert!(v.starts_with("error"), "broken object {} passed", i - good);
        }
    }
    // The local types refuse the same two mistakes on reading.
    assert!(serde_json::from_value::<agentjail::k8s::Sandbox>(sandbox).is_ok());
    assert!(serde_json::from_value::<agentjail::k8s::SandboxTemplate>(template).is_ok());
    assert!(serde_json::from_value::<agentjail::k8s::Sandbox>(objects[good].clone()).is_err());
    assert!(serde_json::from_value::<agentjail::k8s::Sandbox>(objects[good + 1].clone()).is_err());
}
