//! `agentjail profiles test`: the bundled seed file passes, a failing file
//! shows expected vs. got with the reasons, malformed files exit 78 with
//! file:line:column, and the JSON and JUnit reports parse back (JUnit with
//! `junitparser` from PyPI, installed by .ci/setup.d/proftest.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled profiles for the seed file's cases, and a home (audit log,
/// state) for the run: the repository's profiles and a directory in
/// CARGO_TARGET_TMPDIR, or, where either lies in a temporary directory, a
/// place outside one under $HOME (removed on drop). Otherwise the cases that
/// bind /tmp would show the profile directory or the audit log, and
/// agentjail rightly refuses every such call.
struct Bundled {
    dir: PathBuf,
    home: TempDir,
    /// The directory made under $HOME, if one was.
    outside: Option<PathBuf>,
}

fn in_temp_dir(p: &Path) -> bool {
    let canon = p.canonicalize().unwrap();
    let temp = [
        std::env::temp_dir(),
        "/tmp".into(),
        "/var/tmp".into(),
        "/dev/shm".into(),
    ];
    temp.iter()
        .filter_map(|t| t.canonicalize().ok())
        .any(|t| canon.starts_with(t))
}

impl Bundled {
    fn new() -> Bundled {
        let own = repo().join("profiles");
        let target_tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let outside = (in_temp_dir(&own) || in_temp_dir(&target_tmp)).then(|| {
            // One per test (the tests of this file run on threads of one process).
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap();
            let dir = home.join(format!(".agentjail-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        });
        let dir = match &outside {
            Some(o) if in_temp_dir(&own) => {
                copy_tree(&own, &o.join("profiles"));
                o.join("profiles")
            }
            _ => own,
        };
        let home_base = match &outside {
            Some(o) if in_temp_dir(&target_tmp) => o.clone(),
            _ => target_tmp,
        };
        Bundled {
            dir,
            home: TempDir::new_in(home_base).unwrap(),
            outside,
        }
    }
}

impl Drop for Bundled {
    fn drop(&mut self) {
        if let Some(o) = &self.outside {
            let _ = std::fs::remove_dir_all(o);
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// agentjail with a clean environment: HOME and XDG_* in `home`.
fn agentjail(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentjail"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("AGENTJAIL_AUDIT_LOG", home.join("audit.jsonl"));
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(home: &Path, args: &[&str]) -> Out {
    let o = agentjail(home).args(args).output().unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "panic: {}", out.stderr);
    out
}

/// A test file against the repository's profiles.
fn test_file(dir: &Path, name: &str, cases: &str) -> PathBuf {
    let p = dir.join(name);
    let text = format!(
        "profiles = {:?}\n{cases}",
        repo().join("profiles").display().to_string()
    );
    std::fs::write(&p, text).unwrap();
    p
}

const PASSING: &str = r#"
[[case]]
name = "echo is read"
role = "files_agent"
tool = "echo_text"
params = { text = "hello" }
expect = "allow"
rule = "risk_read"
[case.sandbox]
network = "none"
max = { memory = "128Mi", pids = 32 }
no_binds = ["/etc"]

[[case]]
role = "files_agent"
tool = "shell_exec"
params = { command = "id" }
expect = "deny"
rule = "denied_tools"
"#;

const FAILING: &str = r#"
[[case]]
name = "shell is not allowed"
role = "files_agent"
tool = "shell_exec"
params = { command = "id" }
expect = "allow"

[[case]]
name = "echo with a tight limit"
role = "files_agent"
tool = "echo_text"
params = { text = "hello" }
expect = "allow"
rule = "data_access"
[case.sandbox]
network = "host"
max = { memory = "64Mi" }
binds = ["/srv"]

[[case]]
name = "sleep is read"
role = "files_agent"
tool = "sleep"
params = { seconds = 1 }
expect = "allow"
"#;

#[test]
fn the_bundled_seed_file_passes() {
    let bundled = Bundled::new();
    let seed = bundled.dir.join("tests");
    let out = run(
        bundled.home.path(),
        &["profiles", "test", seed.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{}", out.stdout);
    // Nothing was left behind in the profile directory (by this run: a
    // scratch directory is named after its process, and another test's
    // run may be using its own at this moment).
    let left: Vec<_> = std::fs::read_dir(&bundled.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(".agentjail-test-state-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            match pid {
                Some(p) => !std::path::Path::new(&format!("/proc/{p}")).exists(),
                None => name.starts_with(".agentjail-test-state"),
            }
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_passing_file_exits_0() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let f = test_file(home.path(), "ok.toml", PASSING);
    let out = run(home.path(), &["profiles", "test", f.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "2 passed, 0 failed\n");
}

#[test]
fn a_failing_file_shows_expected_and_got_with_reasons() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let f = test_file(home.path(), "bad.toml", FAILING);
    let out = run(home.path(), &["profiles", "test", f.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let file = f.display().to_string();
    assert!(
        lines[0].starts_with(&format!(
            "FAIL {file}:3: shell is not allowed: expected allow, got deny;"
        )),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("[denied_tool]"), "{}", lines[0]);
    let second = lines[1];
    for needle in [
        &format!("FAIL {file}:10: echo with a tight limit:") as &str,
        "expected rule data_access, got rule risk_read",
        "expected network host, got network none",
        "expected memory at most 67108864, got 134217728",
        "expected bind /srv",
        "[risk_read]",
    ] {
        assert!(second.contains(needle), "{needle:?} not in {second}");
    }
    assert_eq!(lines[2], "1 passed, 2 failed");
}

#[test]
fn json_report_lists_every_case() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let f = test_file(home.path(), "bad.toml", FAILING);
    let out = run(
        home.path(),
        &["profiles", "test", "--format", "json", f.to_str().unwrap()],
    );
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["passed"], 1);
    assert_eq!(v["failed"], 2);
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0]["expected"], "allow");
    assert_eq!(cases[0]["got"], "deny");
    assert_eq!(cases[0]["rule"], "denied_tool");
    assert_eq!(cases[0]["passed"], false);
    assert_eq!(cases[2]["passed"], true);
}

#[test]
fn budget_state_and_tokens_decide() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let f = test_file(
        home.path(),
        "budget.toml",
        r#"
[[case]]
role = "files_agent"
tool = "echo_text"
params = { text = "x" }
session = "a"
budget = { calls = 200 }
expect = "deny"
rule = "budget"

[[case]]
name = "another session is not counted"
role = "files_agent"
tool = "echo_text"
params = { text = "x" }
session = "b"
expect = "allow"

[[case]]
role = "files_agent"
tool = "echo_text"
params = { text = "x" }
tokens = 100001
expect = "deny"
rule = "budget"
"#,
    );
    let out = run(home.path(), &["profiles", "test", f.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

/// (file text, the `file:line:column` the error must name, text it must contain)
const MALFORMED: &[(&str, &str, &str)] = &[
    ("[[case]]\nrole = \"a\"\ntool = \n", ":3:", ""),
    (
        "[[case]]\nrole = \"a\"\ntool = \"b\"\nexpect = \"maybe\"\n",
        ":4:10:",
        "unknown variant",
    ),
    (
        "[[case]]\nrole = \"a\"\ntool = \"b\"\nexpect = \"allow\"\nexpct = 1\n",
        ":5:1:",
        "expct",
    ),
    (
        "[[case]]\nrole = \"a\"\nexpect = \"allow\"\n",
        ":1:1:",
        "tool",
    ),
    ("", "", "no [[case]] tables"),
    ("[[case]]\nrole = 5\n", ":2:8:", "role"),
    ("\u{0}\u{1}", ":1:1:", ""),
];

#[test]
fn malformed_files_exit_78_with_file_line_column() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for (i, (text, at, needle)) in MALFORMED.iter().enumerate() {
        let p = home.path().join(format!("m{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let out = run(home.path(), &["profiles", "test", p.to_str().unwrap()]);
        assert_eq!(out.code, 78, "{text:?}: {}{}", out.stdout, out.stderr);
        let first = out.stderr.lines().next().unwrap_or_default();
        let want = format!("agentjail: {}{at}", p.display());
        assert!(first.starts_with(&want), "{text:?}: {first}");
        assert!(first.contains(needle), "{text:?}: {first}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    // Not UTF-8, missing, a directory without test files, bad profiles.
    let p = home.path().join("bin.toml");
    std::fs::write(&p, [0xff, 0xfe, b'\n']).unwrap();
    assert_eq!(
        run(home.path(), &["profiles", "test", p.to_str().unwrap()]).code,
        78
    );
    let missing = home.path().join("missing.toml");
    assert_eq!(
        run(
            home.path(),
            &["profiles", "test", missing.to_str().unwrap()]
        )
        .code,
        78
    );
    let empty = home.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        run(home.path(), &["profiles", "test", empty.to_str().unwrap()]).code,
        64
    );
    // No PATH: DIR/tests of the profiles in use, which has none here.
    let o = agentjail(home.path())
        .args(["--profiles", empty.to_str().unwrap(), "profiles", "test"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // No PATH, a profile directory with tests/: they run.
    let bundled = Bundled::new();
    let o = agentjail(bundled.home.path())
        .args([
            "--profiles",
            bundled.dir.to_str().unwrap(),
            "profiles",
            "test",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let p = home.path().join("noprof.toml");
    std::fs::write(
        &p,
        format!("profiles = {:?}\n{PASSING}", empty.display().to_string()),
    )
    .unwrap();
    let out = run(home.path(), &["profiles", "test", p.to_str().unwrap()]);
    assert_eq!(out.code, 78, "{}", out.stderr);
}

#[test]
fn hostile_case_values_are_reported_not_crashed() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let long = "r".repeat(100_000);
    let f = test_file(
        home.path(),
        "hostile.toml",
        &format!(
            r#"
[[case]]
role = "{long}"
tool = "echo_text"
expect = "deny"

[[case]]
name = "<case> & \"quotes\" \u0007"
role = "files_agent"
tool = "echo_text"
params = {{ text = "x", unknown = [1, {{ a = 2 }}] }}
expect = "allow"

[[case]]
role = "files_agent"
tool = "sleep"
params = {{ seconds = 99999999999 }}
expect = "bad_parameters"
"#
        ),
    );
    let out = run(
        home.path(),
        &["profiles", "test", "--format", "junit", f.to_str().unwrap()],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out
        .stdout
        .contains("&lt;case&gt; &amp; &quot;quotes&quot; \u{FFFD}"));
    assert!(
        out.stdout.contains("tests=\"3\" failures=\"2\""),
        "{}",
        out.stdout
    );
}

fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("AGENTJAIL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/ci/venv"));
    let py = venv.join("bin/python");
    let ok = std::process::Command::new(&py)
        .args(["-c", "import junitparser"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

#[test]
fn junit_report_parses_back_with_junitparser() {
    let Some(py) = python() else {
        let what = "junitparser in $AGENTJAIL_TEST_VENV (run .ci/setup.d/proftest.sh)";
        if std::env::var("AGENTJAIL_REQUIRE_PRIVILEGED_TESTS").as_deref() == Ok("1") {
            panic!("skipped: {what} (a skip is a failure in CI)");
        }
        eprintln!("skipped: {what} (test junit_report_parses_back_with_junitparser)");
        return;
    };
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let bad = test_file(home.path(), "bad.toml", FAILING);
    let ok = test_file(home.path(), "ok.toml", PASSING);
    let out = run(
        home.path(),
        &[
            "profiles",
            "test",
            "--format",
            "junit",
            bad.to_str().unwrap(),
            ok.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let xml = home.path().join("report.xml");
    std::fs::write(&xml, &out.stdout).unwrap();
    let script = r#"
import sys, json
from junitparser import JUnitXml, Failure
xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = []
    for case in suite:
        failures = [r.message for r in case.result if isinstance(r, Failure)]
        cases.append({"name": case.name, "failures": failures})
    suites.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures, "cases": cases})
print(json.dumps(suites))
"#;
    let o = std::process::Command::new(py)
        .args(["-c", script, xml.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v[0]["name"], bad.display().to_string());
    assert_eq!(v[0]["tests"], 3);
    assert_eq!(v[0]["failures"], 2);
    assert_eq!(v[0]["cases"][0]["name"], "shell is not allowed");
    let msg = v[0]["cases"][0]["failures"][0].as_str().unwrap();
    assert_eq!(msg, "expected allow, got deny");
    assert_eq!(v[0]["cases"][2]["failures"].as_array().unwrap().len(), 0);
    assert_eq!(v[1]["tests"], 2);
    assert_eq!(v[1]["failures"], 0);
}

#[test]
fn not_runnable_is_told_apart_from_the_decision() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let prof = home.path().join("p");
    std::fs::create_dir_all(prof.join("roles")).unwrap();
    std::fs::write(
        prof.join("tools.toml"),
        "[tools.gone]\nrisk = \"read\"\ncommand = [\"no-such-program-xyz\"]\n[tools.here]\nrisk = \"read\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    std::fs::write(
        prof.join("roles/r.toml"),
        "allowed_tools = [\"gone\", \"here\"]\n",
    )
    .unwrap();
    let f = home.path().join("t.toml");
    std::fs::write(
        &f,
        "profiles = \"p\"\n\
         [[case]]\nrole = \"r\"\ntool = \"gone\"\nexpect = \"not_runnable\"\n\
         [[case]]\nrole = \"r\"\ntool = \"gone\"\nexpect = \"allow\"\n\
         [[case]]\nrole = \"r\"\ntool = \"here\"\nexpect = \"not_runnable\"\n",
    )
    .unwrap();
    let out = run(home.path(), &["profiles", "test", f.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines[0].contains(":10: r here: expected not_runnable, got allow"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "2 passed, 1 failed");
    // Nothing was left in the profile directory.
    let left: Vec<_> = std::fs::read_dir(&prof)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn an_oversized_test_file_is_refused() {
    let home = TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let f = home.path().join("big.toml");
    let file = std::fs::File::create(&f).unwrap();
    file.set_len(17 << 20).unwrap();
    let out = run(home.path(), &["profiles", "test", f.to_str().unwrap()]);
    assert_eq!(out.code, 78, "{}", out.stderr);
    assert!(out.stderr.contains("at most"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1);
}
