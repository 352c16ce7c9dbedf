//! `agentjail profiles diff`: pairs of profile trees, one kind of change
//! each, every change labelled loosens or tightens and the exit code 1
//! exactly when something loosens; a `git:` pair in a temporary repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

const TOOLS: &str = r#"[tools.get]
risk = "read"
command = ["get", "--n={n}", "--kind={kind}", "--", "{name}", "{path}"]
params.name = { type = "string", pattern = "[a-z]{1,10}", max_length = 10 }
params.n = { type = "integer", min = 1, max = 10 }
params.kind = { type = "string", enum = ["a", "b"] }
params.path = { type = "path", access = "paths", bind = "ro" }

[tools.del]
risk = "delete"
command = ["del", "--", "{name}"]
params.name = { type = "string", pattern = "[a-z]+" }

[tools.other]
risk = "read"
command = ["true"]

[tools.extra]
risk = "read"
command = ["true"]
"#;

const ROLE: &str = r#"allowed_tools = ["get", "del"]
denied_tools = ["other"]

[limits]
max_api_calls = 10
max_tokens = 1000
timeout_seconds = 60

[data_access]
paths = ["/srv/a"]
secrets = false

[sandbox]
memory = "128Mi"
cpu = "500m"
pids = 32
network = "none"
egress = ["example.com:443"]
binds = [{ source = "/srv/data", mode = "ro" }]
optional = ["landlock"]

[approval]
approvers = ["alice"]
ttl = "10m"
"#;

fn write_tree(dir: &Path, tools: &str, roles: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("roles")).unwrap();
    std::fs::write(dir.join("tools.toml"), tools).unwrap();
    for (name, text) in roles {
        std::fs::write(dir.join(format!("roles/{name}.toml")), text).unwrap();
    }
}

fn agentjail(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentjail"));
    c.current_dir(cwd)
        .env_remove("AGENTJAIL_PROFILES")
        .env("HOME", cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    c
}

fn diff_json(cwd: &Path, old: &str, new: &str) -> (i32, Value) {
    let o = agentjail(cwd)
        .args(["profiles", "diff", "--format", "json", old, new])
        .output()
        .unwrap();
    let code = o.status.code().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON ({code}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (code, v)
}

/// (what changes, tools.toml edit (from, to), role edit (from, to), key, effect)
type Case = (
    &'static str,
    (&'static str, &'static str),
    (&'static str, &'static str),
    &'static str,
    &'static str,
);

const NONE: (&str, &str) = ("", "");

const CASES: &[Case] = &[
    (
        "tool allowed",
        NONE,
        (r#"["get", "del"]"#, r#"["get", "del", "extra"]"#),
        "allowed_tools",
        "loosens",
    ),
    (
        "tool no longer allowed",
        NONE,
        (r#"["get", "del"]"#, r#"["get"]"#),
        "allowed_tools",
        "tightens",
    ),
    (
        "tool denied",
        NONE,
        (
            r#"denied_tools = ["other"]"#,
            r#"denied_tools = ["other", "extra"]"#,
        ),
        "denied_tools",
        "tightens",
    ),
    (
        "tool no longer denied",
        NONE,
        (r#"denied_tools = ["other"]"#, "denied_tools = []"),
        "denied_tools",
        "loosens",
    ),
    (
        "risk lowered",
        ("risk = \"delete\"", "risk = \"modify\""),
        NONE,
        "del",
        "loosens",
    ),
    (
        "risk raised",
        (
            "[tools.get]\nrisk = \"read\"",
            "[tools.get]\nrisk = \"external\"",
        ),
        NONE,
        "get",
        "tightens",
    ),
    (
        "pattern anchored",
        ("\"[a-z]{1,10}\"", "\"^[a-z]{1,10}$\""),
        NONE,
        "get.name.pattern",
        "tightens",
    ),
    (
        "pattern bound narrowed",
        ("\"[a-z]{1,10}\"", "\"[a-z]{2,8}\""),
        NONE,
        "get.name.pattern",
        "tightens",
    ),
    (
        "pattern class widened",
        ("\"[a-z]{1,10}\"", "\"[a-z0-9]{1,10}\""),
        NONE,
        "get.name.pattern",
        "loosens",
    ),
    (
        "pattern rewritten",
        ("\"[a-z]{1,10}\"", "\"[a-z]{1,5}|x+\""),
        NONE,
        "get.name.pattern",
        "loosens",
    ),
    (
        "pattern removed",
        ("pattern = \"[a-z]+\"", "max_length = 9"),
        NONE,
        "del.name.pattern",
        "loosens",
    ),
    (
        "enum narrowed",
        ("enum = [\"a\", \"b\"]", "enum = [\"a\"]"),
        NONE,
        "get.kind.enum",
        "tightens",
    ),
    (
        "enum widened",
        ("enum = [\"a\", \"b\"]", "enum = [\"a\", \"b\", \"c\"]"),
        NONE,
        "get.kind.enum",
        "loosens",
    ),
    (
        "range widened",
        ("max = 10 }", "max = 100 }"),
        NONE,
        "get.n.range",
        "loosens",
    ),
    (
        "range narrowed",
        ("min = 1,", "min = 2,"),
        NONE,
        "get.n.range",
        "tightens",
    ),
    (
        "length narrowed",
        ("max_length = 10", "max_length = 5"),
        NONE,
        "get.name.length",
        "tightens",
    ),
    (
        "length widened",
        ("max_length = 10", "max_length = 20"),
        NONE,
        "get.name.length",
        "loosens",
    ),
    (
        "access dropped",
        ("access = \"paths\", ", ""),
        NONE,
        "get.path.access",
        "loosens",
    ),
    (
        "parameter bind rw",
        ("bind = \"ro\"", "bind = \"rw\""),
        NONE,
        "get.path.bind",
        "loosens",
    ),
    (
        "command changed",
        (
            "[\"del\", \"--\", \"{name}\"]",
            "[\"del\", \"-f\", \"--\", \"{name}\"]",
        ),
        NONE,
        "del.command",
        "loosens",
    ),
    (
        "data access widened",
        NONE,
        ("paths = [\"/srv/a\"]", "paths = [\"/srv/a\", \"/srv/b\"]"),
        "data_access.paths",
        "loosens",
    ),
    (
        "data access narrowed",
        NONE,
        ("paths = [\"/srv/a\"]", "paths = []"),
        "data_access.paths",
        "tightens",
    ),
    (
        "data access grant",
        NONE,
        ("secrets = false", "secrets = true"),
        "data_access.secrets",
        "loosens",
    ),
    (
        "network host",
        NONE,
        (
            "network = \"none\"\negress = [\"example.com:443\"]",
            "network = \"host\"\negress = []",
        ),
        "sandbox.network",
        "loosens",
    ),
    (
        "egress added",
        NONE,
        (
            "egress = [\"example.com:443\"]",
            "egress = [\"example.com:443\", \"example.org:443\"]",
        ),
        "sandbox.egress",
        "loosens",
    ),
    (
        "egress removed",
        NONE,
        ("egress = [\"example.com:443\"]", "egress = []"),
        "sandbox.egress",
        "tightens",
    ),
    (
        "bind rw",
        NONE,
        ("mode = \"ro\"", "mode = \"rw\""),
        "sandbox.binds",
        "loosens",
    ),
    (
        "bind removed",
        NONE,
        (
            "binds = [{ source = \"/srv/data\", mode = \"ro\" }]",
            "binds = []",
        ),
        "sandbox.binds",
        "tightens",
    ),
    (
        "bind added",
        NONE,
        ("binds = [{", "binds = [{ source = \"/srv/more\" }, {"),
        "sandbox.binds",
        "loosens",
    ),
    (
        "memory raised",
        NONE,
        ("memory = \"128Mi\"", "memory = \"1Gi\""),
        "sandbox.memory",
        "loosens",
    ),
    (
        "memory same in other units",
        NONE,
        ("memory = \"128Mi\"", "memory = \"134217728\""),
        "",
        "",
    ),
    (
        "pids lowered",
        NONE,
        ("pids = 32", "pids = 16"),
        "sandbox.pids",
        "tightens",
    ),
    (
        "cpu raised",
        NONE,
        ("cpu = \"500m\"", "cpu = \"1\""),
        "sandbox.cpu",
        "loosens",
    ),
    (
        "mechanism made optional",
        NONE,
        (
            "optional = [\"landlock\"]",
            "optional = [\"landlock\", \"seccomp\"]",
        ),
        "sandbox.optional",
        "loosens",
    ),
    (
        "mechanism required",
        NONE,
        ("optional = [\"landlock\"]", "optional = []"),
        "sandbox.optional",
        "tightens",
    ),
    (
        "approver added",
        NONE,
        (
            "approvers = [\"alice\"]",
            "approvers = [\"alice\", \"bob\"]",
        ),
        "approval.approvers",
        "loosens",
    ),
    (
        "anyone approves",
        NONE,
        ("approvers = [\"alice\"]", "approvers = []"),
        "approval.approvers",
        "loosens",
    ),
    (
        "approval ttl shorter",
        NONE,
        ("ttl = \"10m\"", "ttl = \"1m\""),
        "approval.ttl",
        "tightens",
    ),
    (
        "budget raised",
        NONE,
        ("max_api_calls = 10", "max_api_calls = 20"),
        "limits.max_api_calls",
        "loosens",
    ),
    (
        "budget removed",
        NONE,
        ("max_api_calls = 10\n", ""),
        "limits.max_api_calls",
        "loosens",
    ),
    (
        "token budget lowered",
        NONE,
        ("max_tokens = 1000", "max_tokens = 500"),
        "limits.max_tokens",
        "tightens",
    ),
    (
        "timeout raised",
        NONE,
        ("timeout_seconds = 60", "timeout_seconds = 600"),
        "limits.timeout_seconds",
        "loosens",
    ),
];

fn edit(text: &str, (from, to): (&str, &str)) -> String {
    if from.is_empty() {
        return text.to_string();
    }
    assert!(text.contains(from), "{from:?} not in the base profiles");
    text.replacen(from, to, 1)
}

#[test]
fn every_kind_of_change_is_labelled() {
    let base = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let old = base.path().join("old");
    write_tree(&old, TOOLS, &[("r", ROLE)]);
    let (code, v) = diff_json(base.path(), old.to_str().unwrap(), old.to_str().unwrap());
    assert_eq!(
        (code, v["changes"].as_array().unwrap().len()),
        (0, 0),
        "{v}"
    );
    for (i, (what, tools_edit, role_edit, key, effect)) in CASES.iter().enumerate() {
        let new = base.path().join(format!("new{i}"));
        write_tree(
            &new,
            &edit(TOOLS, *tools_edit),
            &[("r", &edit(ROLE, *role_edit))],
        );
        let (code, v) = diff_json(base.path(), old.to_str().unwrap(), new.to_str().unwrap());
        let changes = v["changes"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {v}"));
        if key.is_empty() {
            assert!(changes.is_empty(), "{what}: {v}");
            assert_eq!(code, 0, "{what}");
            continue;
        }
        let hit: Vec<&Value> = changes.iter().filter(|c| c["key"] == *key).collect();
        assert!(!hit.is_empty(), "{what}: no change of {key}: {v}");
        for c in &hit {
            assert_eq!(c["effect"], *effect, "{what}: {c}");
            assert_eq!(c["role"], "r", "{what}: {c}");
        }
        let loosens = changes.iter().any(|c| c["effect"] == "loosens");
        assert_eq!(v["loosens"], loosens, "{what}");
        assert_eq!(code, if loosens { 1 } else { 0 }, "{what}: {v}");
        // The reverse change is labelled the other way (where it is one change).
        if changes.len() == 1
            && !what.starts_with("pattern")
            && *what != "command changed"
            && *what != "access dropped"
            && *what != "anyone approves"
        {
            let (code, back) = diff_json(base.path(), new.to_str().unwrap(), old.to_str().unwrap());
            let other = if *effect == "loosens" {
                "tightens"
            } else {
                "loosens"
            };
            let c = &back["changes"][0];
            assert_eq!(c["effect"], other, "{what} reversed: {back}");
            assert_eq!(
                code,
                if other == "loosens" { 1 } else { 0 },
                "{what} reversed"
            );
        }
    }
}

#[test]
fn roles_added_and_removed() {
    let base = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    write_tree(&a, TOOLS, &[("r", ROLE)]);
    write_tree(
        &b,
        TOOLS,
        &[("r", ROLE), ("s", "allowed_tools = [\"extra\"]\n")],
    );
    let (code, v) = diff_json(base.path(), a.to_str().unwrap(), b.to_str().unwrap());
    assert_eq!(code, 1);
    assert_eq!(v["changes"][0]["role"], "s");
    assert_eq!(v["changes"][0]["effect"], "loosens");
    let (code, v) = diff_json(base.path(), b.to_str().unwrap(), a.to_str().unwrap());
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["changes"][0]["effect"], "tightens");
}

#[test]
fn text_output_names_each_change() {
    let base = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    write_tree(&a, TOOLS, &[("r", ROLE)]);
    write_tree(
        &b,
        TOOLS,
        &[(
            "r",
            &ROLE.replace("pids = 32", "pids = 16").replace(
                "network = \"none\"\negress = [\"example.com:443\"]",
                "network = \"host\"\negress = []",
            ),
        )],
    );
    let o = agentjail(base.path())
        .args(["profiles", "diff", a.to_str().unwrap(), b.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        text,
        "role r:\n  tightens sandbox.pids: 32 -> 16\n  loosens  sandbox.network: none -> host\n  tightens sandbox.egress: removed example.com:443\n3 changes: 1 loosen, 2 tighten\n"
    );
}

fn git(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn git_revisions_in_a_temporary_repository() {
    if std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("AGENTJAIL_REQUIRE_PRIVILEGED_TESTS").as_deref() == Ok("1") {
            panic!("skipped: git (a skip is a failure in CI)");
        }
        eprintln!("skipped: git (test git_revisions_in_a_temporary_repository)");
        return;
    }
    let repo = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let r = repo.path();
    git(r, &["init", "-q"]);
    write_tree(&r.join("profiles"), TOOLS, &[("r", ROLE)]);
    std::fs::write(r.join("README"), "x").unwrap();
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "base"]);
    write_tree(
        &r.join("profiles"),
        TOOLS,
        &[(
            "r",
            &ROLE.replace(
                "network = \"none\"\negress = [\"example.com:443\"]",
                "network = \"host\"\negress = []",
            ),
        )],
    );
    git(r, &["commit", "-q", "-a", "-m", "host network"]);
    let (code, v) = diff_json(r, "git:HEAD~1:profiles", "git:HEAD:profiles/");
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["changes"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["changes"][0]["key"], "sandbox.network");
    assert_eq!(v["changes"][1]["key"], "sandbox.egress");
    // A revision against the work tree, from a subdirectory.
    std::fs::create_dir(r.join("sub")).unwrap();
    let (code, v) = diff_json(&r.join("sub"), "git:HEAD:../profiles", "../profiles");
    assert_eq!(
        (code, v["changes"].as_array().unwrap().len()),
        (0, 0),
        "{v}"
    );
    // Back: the network tightens, the egress entry it drops comes back.
    let (code, v) = diff_json(r, "git:HEAD:profiles", "git:HEAD~1:profiles");
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["changes"][0]["effect"], "tightens");
    assert_eq!(v["changes"][1]["effect"], "loosens");
    // Bad revisions, paths and specs: one line, 78 or 64; never a panic.
    for (old, want) in [
        ("git:nope:profiles", 78),
        ("git:HEAD:missing", 78),
        ("git:HEAD", 64),
        ("git:-x:profiles", 64),
        ("git::profiles", 64),
        ("/nonexistent", 78),
    ] {
        let o = agentjail(r)
            .args(["profiles", "diff", old, "profiles"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(want), "{old}: {err}");
        assert_eq!(err.lines().count(), 1, "{old}: {err}");
        assert!(err.starts_with("agentjail: "), "{old}: {err}");
    }
    // A broken profile on one side is a configuration error.
    write_tree(&r.join("profiles"), TOOLS, &[("r", "allowed_tools = 5\n")]);
    let o = agentjail(r)
        .args(["profiles", "diff", "git:HEAD:profiles", "profiles"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(78));
}
