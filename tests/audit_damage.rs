//! The audit log survives what a caller can do to it: a full disk under the
//! append-only flag, `kill -9` of agentjail in the middle of an append, and
//! records too large for a reader (an older agentjail's 65 MiB line, a call
//! with a multi-megabyte parameter). After each, the next call succeeds and
//! `audit verify` names the damaged line and the `recovered` record that
//! mended it.
//!
//! The full-disk test mounts a small tmpfs only inside a private mount
//! namespace (`unshare -m`); nothing is mounted on this machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
const MAX_RECORD: usize = 1 << 20;

/// A temporary directory with a log, a state directory and a profile
/// directory whose `big` tool takes four long parameters.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let profiles = dir.path().join("profiles");
        std::fs::create_dir_all(profiles.join("roles")).unwrap();
        std::fs::write(
            profiles.join("tools.toml"),
            r#"[tools.big]
risk = "read"
command = ["echo", "{a}", "{b}", "{c}", "{d}"]
params.a = { type = "string" }
params.b = { type = "string" }
params.c = { type = "string" }
params.d = { type = "string" }
"#,
        )
        .unwrap();
        std::fs::write(
            profiles.join("roles/bulk.toml"),
            "allowed_tools = [\"big\"]\n[screening]\ninjection_patterns = []\n\
             suspicious_values = []\nsuspicious_patterns = []\n",
        )
        .unwrap();
        Env { dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
            .env("AGENTJAIL_STATE_DIR", self.dir.path().join("state"))
            .env("NO_COLOR", "1")
            .arg("--audit-log")
            .arg(self.log())
            .stdin(Stdio::null());
        c
    }

    /// `check --role bulk big` with each of the four parameters `len` long.
    fn big_check(&self, len: usize) -> Command {
        let params = self.dir.path().join("params.json");
        let v: serde_json::Map<String, Value> = ["a", "b", "c", "d"]
            .iter()
            .map(|k| (k.to_string(), Value::from(k.repeat(len))))
            .collect();
        std::fs::write(&params, serde_json::to_vec(&v).unwrap()).unwrap();
        let mut c = self.cmd();
        c.arg("--profiles")
            .arg(self.dir.path().join("profiles"))
            .args(["check", "--role", "bulk", "big", "--params"])
            .arg(format!("@{}", params.display()));
        c
    }

    fn small_check(&self) -> Output {
        self.cmd()
            .args([
                "check",
                "--role",
                "files_agent",
                "echo_text",
                "--param",
                "text=after",
            ])
            .output()
            .unwrap()
    }

    fn verify(&self) -> Output {
        self.cmd().args(["audit", "verify"]).output().unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ends_in_newline(path: &Path) -> bool {
    let f = std::fs::File::open(path).unwrap();
    let size = f.metadata().unwrap().len();
    let mut b = [0u8; 1];
    size == 0 || (f.read_exact_at(&mut b, size - 1).is_ok() && b[0] == b'\n')
}

/// The line after the damage is a `recovered` record naming `bytes` bytes,
/// and `verify` exits 2 naming `line` of `log` as mended.
fn assert_mended(env: &Env, line: usize) {
    let out = env.verify();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stdout.starts_with("intact: "), "{}", text(&out));
    let want = format!("mended: {} line {line}: ", env.log().display());
    assert!(stdout.contains(&want), "no `{want}`: {}", text(&out));
    let all = std::fs::read_to_string(env.log()).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let rec: Value = serde_json::from_str(lines[line]).unwrap();
    assert_eq!(rec["event_type"], "recovered", "{rec}");
    assert_eq!(rec["recovered"]["bytes"], lines[line - 1].len(), "{rec}");
    let json = env
        .cmd()
        .args(["audit", "verify", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["mended"][0]["line"], line, "{v}");
    assert_eq!(v["mended"][0]["by_line"], line + 1, "{v}");
}

#[test]
fn partial_line_is_mended_and_chained() {
    // A full tmpfs with the append-only flag: the record cut short by the
    // full disk cannot be cut back, and must not stop the next call.
    if !nix::unistd::geteuid().is_root() {
        return common::skip("not root: the append-only flag needs CAP_LINUX_IMMUTABLE");
    }
    let env = Env::new();
    let mnt = env.dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let marker = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(marker.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (m, md, home) = (
        mnt.display(),
        marker.path().display(),
        env.dir.path().display(),
    );
    let text4k = "x".repeat(4000);
    let script = format!(
        r#"
export HOME={home} NO_COLOR=1 AGENTJAIL_STATE_DIR={home}/state AGENTJAIL_AUDIT_APPEND_ONLY=1
mount -t tmpfs -o size=64k,mode=0700 agentjail-test {m}
aj() {{ {BIN} --audit-log {m}/audit.jsonl "$@"; }}
aj check --role files_agent echo_text --param text=before >/dev/null
lsattr {m}/audit.jsonl | cut -c1-22 | grep -q a || {{ echo no-append-only-flag; exit 0; }}
# A log that ends mid-page, so a short write leaves bytes behind.
while [ $(( $(stat -c %s {m}/audit.jsonl) % 4096 )) -eq 0 ]; do
  aj check --role files_agent echo_text --param text=pad >/dev/null
done
dd if=/dev/zero of={m}/fill bs=1k count=1024 2>/dev/null || true
set +e
aj run --role files_agent echo_text --param text={text4k} >/dev/null 2>{m}.err
echo "full=$?"
tail -c 1 {m}/audit.jsonl | od -An -c | tr -d ' ' | sed 's/^/last=/'
truncate -s 0 {m}/audit.jsonl 2>/dev/null && echo truncated
rm {m}/fill
aj run --role files_agent touch_file --param dir={md} --param name=after >/dev/null
echo "after=$?"
aj audit verify
echo "verify=$?"
aj audit verify --format json
cp {m}/audit.jsonl {home}/copy.jsonl
"#
    );
    let Some(out) = in_private_mount_ns(&script) else {
        return common::skip("cannot make a private mount namespace (unshare -m)");
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let ctx = text(&out);
    assert!(out.status.success(), "{ctx}");
    if stdout.contains("no-append-only-flag") {
        return common::skip("tmpfs here does not take the append-only flag");
    }
    assert!(stdout.contains("full=125"), "{ctx}");
    assert!(
        !stdout.contains("last=\\n"),
        "no partial line was left: {ctx}"
    );
    assert!(
        !stdout.contains("truncated"),
        "append-only did not hold: {ctx}"
    );
    assert!(stdout.contains("after=0"), "the next call failed: {ctx}");
    assert!(marker.path().join("after").exists(), "the tool did not run");
    assert!(stdout.contains("verify=2"), "{ctx}");
    let copy = std::fs::read_to_string(env.dir.path().join("copy.jsonl")).unwrap();
    let lines: Vec<&str> = copy.lines().collect();
    let partial = lines
        .iter()
        .position(|l| serde_json::from_str::<Value>(l).is_err())
        .expect("no damaged line");
    let want = format!("mended: {m}/audit.jsonl line {}: ", partial + 1);
    assert!(stdout.contains(&want), "no `{want}`: {ctx}");
    let rec: Value = serde_json::from_str(lines[partial + 1]).unwrap();
    assert_eq!(rec["event_type"], "recovered", "{rec}");
    assert_eq!(rec["recovered"]["bytes"], lines[partial].len());
    assert_eq!(rec["log_append_only"], true);
    // Nothing was mounted here.
    assert!(std::fs::read_dir(&mnt).unwrap().next().is_none());
}

/// Runs `script` as root in a private mount namespace; `None` when that is
/// not possible here.
fn in_private_mount_ns(script: &str) -> Option<Output> {
    let probe = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", "true"])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    Some(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-ec", script])
            .output()
            .unwrap(),
    )
}

#[test]
fn kill_during_a_large_append_is_mended() {
    let env = Env::new();
    env.small_check();
    // About 480 KB a record (the parameters, and the argv built from them):
    // long enough to be caught in the middle of its write(2).
    const ATTEMPTS: usize = 40;
    let mut cut = None;
    for _ in 0..ATTEMPTS {
        let base = std::fs::metadata(env.log()).unwrap().len();
        let mut child = env.big_check(60_000).stdout(Stdio::null()).spawn().unwrap();
        let f = std::fs::File::open(env.log()).unwrap();
        let mut b = [0u8; 1];
        let killed = loop {
            let size = f.metadata().unwrap().len();
            if size > base && f.read_exact_at(&mut b, size - 1).is_ok() && b[0] != b'\n' {
                // In the middle of the append: kill -9.
                let _ = child.kill();
                break true;
            }
            if child.try_wait().unwrap().is_some() {
                break false;
            }
        };
        let status = child.wait().unwrap();
        if killed && !ends_in_newline(&env.log()) {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9));
            cut = Some(std::fs::read_to_string(env.log()).unwrap().lines().count());
            break;
        }
    }
    let Some(line) = cut else {
        panic!("no kill in {ATTEMPTS} attempts landed inside a write");
    };
    let out = env.small_check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_mended(&env, line);
}

#[test]
fn oversized_record_never_stops_log() {
    let env = Env::new();
    // An older agentjail wrote a 65 MiB record as the log's last line.
    let huge = "h".repeat(65 << 20);
    let mut m = serde_json::Map::new();
    m.insert("event_type".into(), "decision".into());
    m.insert("params".into(), serde_json::json!({ "text": huge }));
    let old = agentjail::audit::seal(m, 1, agentjail::audit::GENESIS);
    std::fs::File::create(env.log())
        .unwrap()
        .write_all(&old.line)
        .unwrap();
    drop(huge);
    let out = env.small_check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = env.verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("intact: 2 records"),
        "{}",
        text(&out)
    );
    // A call with 4 MiB of parameters (under --params' 8 MiB input limit) writes no line longer than the bound
    // (its parameters are refused, or stored as size and SHA-256).
    std::fs::remove_file(env.log()).unwrap();
    let out = env.big_check(1 << 20).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 65)), "{}", text(&out));
    let log = std::fs::read_to_string(env.log()).unwrap();
    for l in log.lines() {
        assert!(l.len() <= MAX_RECORD, "a line of {} bytes", l.len());
        let rec: Value = serde_json::from_str(l).unwrap();
        if let Some(f) = rec["oversized_fields"]["fields"].as_object() {
            assert!(f.contains_key("params") && f.contains_key("argv"), "{rec}");
            assert_eq!(rec["params"], Value::Null);
        }
    }
    assert!(!log.contains(&"a".repeat(1 << 20)));
    let out = env.small_check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.verify().status.code(), Some(0));
}
