//! Shared helpers for the sandbox tests: the fixture (profiles, the compiled
//! probe), the two modes a check runs in (root, an unprivileged uid), running
//! a tool through agentjail and checking that it really ran confined, skips.
//!
//! Safety rule: hostile code (the probe, the probe scripts) is only ever run
//! through agentjail, never directly. Every shell script gets [`GUARD`] in
//! front, the probe has the same check in its `main`, and [`Mode::execute`]
//! refuses a result whose `confinement` is missing or without seccomp.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// When set to 1, a test that would be skipped fails instead.
pub const REQUIRE_ENV: &str = "AGENTJAIL_REQUIRE_PRIVILEGED_TESTS";

/// The host uid of the unprivileged mode (needs no passwd entry).
pub const UNPRIVILEGED_UID: u32 = 64000;

/// The role that keeps the host's network namespace.
pub const HOSTNET_ROLE: &str = "hostnet";

/// Where the probe's directory is bound inside the sandbox.
pub const PROBE_TARGET: &str = "/opt/probe";

/// Exits 99 unless the shell runs in a user namespace, under a seccomp
/// filter and with no_new_privs: put in front of every sandboxed script.
pub const GUARD: &str = "[ \"$(cat /proc/self/uid_map | tr -s ' ')\" != \" 0 0 4294967295\" ] \
&& grep -q '^Seccomp:[[:space:]]*2' /proc/self/status \
&& grep -q '^NoNewPrivs:[[:space:]]*1' /proc/self/status || exit 99;\n";

/// The exit code of the guard (script and probe) when not confined.
pub const GUARD_EXIT: i64 = 99;

/// Every run of agentjail made through [`Mode::output`] holds this shared. A
/// run cleans up what earlier, killed runs left behind (their cgroups), so a
/// test that watches a killed run's leftovers holds it exclusively.
static RUNS: RwLock<()> = RwLock::new(());

fn runs_shared() -> RwLockReadGuard<'static, ()> {
    RUNS.read().unwrap_or_else(|e| e.into_inner())
}

/// Keeps every other test's agentjail runs waiting while the guard lives.
pub fn no_other_runs() -> RwLockWriteGuard<'static, ()> {
    RUNS.write().unwrap_or_else(|e| e.into_inner())
}

/// Reports a missing mechanism: prints `skipped: ...`, or fails the test when
/// [`REQUIRE_ENV`] is 1.
pub fn skip(what: &str) {
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("skipped: {what} (a skip is a failure because {REQUIRE_ENV}=1)");
    }
    say_skipped(what);
}

/// Writes `skipped: WHAT (test NAME)` to the stderr handle itself: libtest
/// captures the print macros of a passing test (and shows them only when it
/// fails), not writes to the handle, so the skip shows in the normal
/// `cargo test` output.
pub fn say_skipped(what: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" => format!(" (test {name})"),
        _ => String::new(),
    };
    let _ = writeln!(std::io::stderr(), "skipped: {what}{test}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    set_mode(path, 0o644);
}

/// A random number with nine digits, to make host-side names unique.
pub fn unique_number() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    100_000_000 + u64::from_le_bytes(b) % 800_000_000
}

/// Everything the tests share, built once per test process.
pub struct Fixture {
    /// World-readable directory holding everything below.
    pub base: PathBuf,
    pub profiles: PathBuf,
    /// The same tools, and only the [`HOSTNET_ROLE`] role.
    pub profiles_hostnet: PathBuf,
    /// Bound read-only at [`PROBE_TARGET`] and at its own path.
    pub probe_dir: PathBuf,
    /// Why the probe could not be built, if it could not.
    pub probe_error: Option<String>,
}

/// The tool catalog. `probe` runs the probe by its host path, bound at the
/// same path; `probe_opt` by its path under [`PROBE_TARGET`] (the bind's
/// target differs from its source there).
fn tools_toml(probe_dir: &Path) -> String {
    format!(
        r#"
[tools.sh]
risk = "read"
command = ["/bin/sh", "-c", "{{script}}"]
params.script = {{ type = "string" }}

[tools.probe]
risk = "read"
command = ["{dir}/probe", "{{what}}"]
params.what = {{ type = "string" }}
extra_args = {{ pattern = "[A-Za-z0-9_./:=-]*", max = 8 }}

[tools.probe_path]
risk = "read"
command = ["{dir}/probe", "{{what}}", "{{path}}"]
params.what = {{ type = "string" }}
params.path = {{ type = "path", bind = "ro" }}

[tools.probe_opt]
risk = "read"
command = ["{PROBE_TARGET}/probe", "{{what}}"]
params.what = {{ type = "string" }}
extra_args = {{ pattern = "[A-Za-z0-9_./:=-]*", max = 8 }}
"#,
        dir = probe_dir.display()
    )
}

/// A role of the fixture: name, timeout in seconds, network mode.
type RoleSpec = (&'static str, u32, &'static str);

/// Mechanisms the test roles list as optional (and `doctor` may lack).
const OPTIONAL_MECHANISMS: &[&str] = &["cgroup"];

/// Roles: `probe` (10 s), `short` (2 s, for the timeout tests) and `long`
/// (300 s, so that only the launcher's death can end its runs early). The
/// probe's directory is bound at [`PROBE_TARGET`] and at its own path.
/// `hostnet` is `probe` with the host's network namespace. Resource limits
/// (cgroups) are not what these tests check, and an unprivileged uid has no
/// delegated cgroup here: they are optional.
fn role_toml(timeout: u32, network: &str, probe_dir: &Path) -> String {
    role_toml_with(timeout, network, probe_dir, "", "")
}

/// [`role_toml`] with more binds (inline tables, each followed by a comma)
/// and more lines in its `[sandbox]` table.
fn role_toml_with(
    timeout: u32,
    network: &str,
    probe_dir: &Path,
    extra_binds: &str,
    extra_sandbox: &str,
) -> String {
    format!(
        r#"allowed_tools = ["sh", "probe", "probe_opt", "probe_path"]
[limits]
timeout_seconds = {timeout}
[screening]
injection_patterns = []
suspicious_values = []
suspicious_patterns = []
[sandbox]
tmp_size = "4Mi"
ephemeral_storage = "8Mi"
network = "{network}"
optional = {optional:?}
{extra_sandbox}
binds = [
    {{ source = "{dir}", target = "{PROBE_TARGET}", mode = "ro" }},
    {{ source = "{dir}", mode = "ro" }},
    {extra_binds}
]
"#,
        dir = probe_dir.display(),
        optional = OPTIONAL_MECHANISMS,
    )
}

/// A profile directory of one test's own under the fixture: the fixture's
/// tools and the role `probe` (10 s, no network) with `extra_binds` (inline
/// tables, each followed by a comma) and `extra_sandbox` (lines of its
/// `[sandbox]` table).
pub fn profiles_with(name: &str, extra_binds: &str, extra_sandbox: &str) -> PathBuf {
    profiles_with_in(&fixture().base, name, extra_binds, extra_sandbox)
}

/// [`profiles_with`] in a directory `base` of the caller's.
pub fn profiles_with_in(
    base: &Path,
    name: &str,
    extra_binds: &str,
    extra_sandbox: &str,
) -> PathBuf {
    let f = fixture();
    let dir = base.join(format!("profiles-{name}"));
    std::fs::create_dir_all(dir.join("roles")).expect("creating a profile directory");
    set_mode(&dir, 0o755);
    set_mode(&dir.join("roles"), 0o755);
    write(&dir.join("tools.toml"), &tools_toml(&f.probe_dir));
    write(
        &dir.join("roles/probe.toml"),
        &role_toml_with(10, "none", &f.probe_dir, extra_binds, extra_sandbox),
    );
    dir
}

/// A directory of one test's own under the fixture, searchable by every uid.
pub fn test_dir(name: &str) -> PathBuf {
    let d = fixture()
        .base
        .join(format!("dir-{name}-{}", unique_number()));
    std::fs::create_dir_all(&d).expect("creating a test directory");
    set_mode(&d, 0o755);
    d
}

/// Removes the directories of earlier test processes that are gone.
fn remove_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("agentjail-escape-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn build_probe(dir: &Path) -> Option<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
    let out = dir.join("probe");
    let mut last = String::new();
    for static_link in [true, false] {
        let mut cmd = Command::new("gcc");
        cmd.arg("-O2");
        if static_link {
            cmd.arg("-static");
        }
        cmd.arg("-o").arg(&out).arg(&src);
        match cmd.output() {
            Ok(o) if o.status.success() => {
                set_mode(&out, 0o755);
                return None;
            }
            Ok(o) => last = String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => return Some(format!("gcc not available ({e})")),
        }
    }
    Some(format!("gcc failed to build tests/probe/probe.c: {last}"))
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = std::env::temp_dir();
        remove_stale(&tmp);
        let base = tempfile::Builder::new()
            .prefix(&format!("agentjail-escape-{}-", std::process::id()))
            .tempdir_in(&tmp)
            .expect("creating the fixture directory")
            .keep();
        set_mode(&base, 0o755);
        let probe_dir = base.join("probe");
        std::fs::create_dir_all(&probe_dir).expect("creating the probe directory");
        set_mode(&probe_dir, 0o755);
        let profiles = base.join("profiles");
        let profiles_hostnet = base.join("profiles-hostnet");
        let sets: [(&Path, &[RoleSpec]); 2] = [
            (
                &profiles,
                &[
                    ("probe", 10, "none"),
                    ("short", 2, "none"),
                    ("long", 300, "none"),
                ],
            ),
            // Apart, so that its warning does not show in every other run.
            (&profiles_hostnet, &[(HOSTNET_ROLE, 10, "host")]),
        ];
        for (dir, roles) in sets {
            std::fs::create_dir_all(dir.join("roles")).expect("creating a profile directory");
            set_mode(dir, 0o755);
            set_mode(&dir.join("roles"), 0o755);
            write(&dir.join("tools.toml"), &tools_toml(&probe_dir));
            for (role, timeout, network) in roles {
                write(
                    &dir.join(format!("roles/{role}.toml")),
                    &role_toml(*timeout, network, &probe_dir),
                );
            }
        }
        let probe_error = build_probe(&probe_dir);
        Fixture {
            base,
            profiles,
            profiles_hostnet,
            probe_dir,
            probe_error,
        }
    })
}

/// This process's network namespace cookie (`SO_NETNS_COOKIE`), to compare
/// with the probe's `netns` answer: a cookie, unlike the namespace's inode
/// number, is never handed out again after the namespace is freed.
pub fn host_netns_cookie() -> u64 {
    // SAFETY: a plain socket call; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `cookie` and `len` are live locals of the sizes passed.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    assert_eq!(r, 0, "getsockopt(SO_NETNS_COOKIE): {err}");
    cookie
}

/// True when the probe was built; otherwise reports the skip.
pub fn probe_available() -> bool {
    match &fixture().probe_error {
        None => true,
        Some(e) => {
            skip(e);
            false
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeKind {
    /// agentjail run by root (the test process's own uid).
    Root,
    /// agentjail run by an unprivileged uid (through setpriv when the tests run as root).
    Unprivileged,
}

/// One way of running agentjail.
#[derive(Debug)]
pub struct Mode {
    pub kind: ModeKind,
    pub name: &'static str,
    /// The host uid agentjail runs as.
    pub uid: u32,
    /// The mode's own directory (HOME, audit log), owned by `uid`.
    pub state: PathBuf,
    /// The agentjail binary this mode runs.
    bin: PathBuf,
    /// Run through `setpriv` to become `uid`.
    setpriv: bool,
}

impl Mode {
    /// agentjail as this mode's user, with the fixture's profiles and a clean environment.
    pub fn command(&self) -> Command {
        self.command_in(&fixture().profiles)
    }

    /// agentjail as this mode's user with the profile directory `profiles`.
    pub fn command_in(&self, profiles: &Path) -> Command {
        self.command_at(profiles, &self.state)
    }

    /// agentjail as this mode's user with the profile directory `profiles`
    /// and `state` (owned by the mode's uid) as HOME, state directory and
    /// audit log directory.
    pub fn command_at(&self, profiles: &Path, state: &Path) -> Command {
        let mut cmd = if self.setpriv {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={}", self.uid))
                .arg(format!("--regid={}", self.uid))
                .arg("--clear-groups")
                .arg("--")
                .arg(&self.bin);
            c
        } else {
            Command::new(&self.bin)
        };
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            // The log lies outside /tmp; as root it would get the append-only
            // flag, and the test's directory could not be removed afterwards.
            .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
            .env("HOME", state)
            .arg("--profiles")
            .arg(profiles)
            .arg("--audit-log")
            .arg(state.join("audit.jsonl"));
        if state != self.state {
            cmd.arg("--state-dir").arg(state.join("state"));
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// A directory for this mode's HOME, state and audit log under `base`.
    pub fn state_in(&self, base: &Path) -> PathBuf {
        let d = base.join(format!("state-{}", self.name));
        std::fs::create_dir_all(&d).expect("creating a state directory");
        if is_root() {
            std::os::unix::fs::chown(&d, Some(self.uid), Some(self.uid))
                .expect("chown of a state directory");
        }
        set_mode(&d, 0o700);
        d
    }

    /// `run --json` of `tool` in the role `probe` of the profile directory `profiles`.
    pub fn run_in(
        &self,
        profiles: &Path,
        tool: &str,
        params: &[(&str, &str)],
        extra: &[&str],
    ) -> Command {
        let mut cmd = self.command_in(profiles);
        run_args(&mut cmd, "probe", tool, params, extra);
        cmd
    }

    /// agentjail as this mode's user, holding the supplementary groups
    /// `groups` (comma-separated gids; setpriv as root).
    pub fn command_with_groups(&self, profiles: &Path, groups: &str) -> Command {
        let mut c = Command::new("setpriv");
        if self.kind == ModeKind::Unprivileged {
            c.arg(format!("--reuid={}", self.uid))
                .arg(format!("--regid={}", self.uid));
        }
        c.arg(format!("--groups={groups}")).arg("--").arg(&self.bin);
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &self.state)
            .arg("--profiles")
            .arg(profiles)
            .arg("--audit-log")
            .arg(self.state.join("audit.jsonl"))
            .stdin(Stdio::null());
        c
    }

    /// `agentjail run --json --role ROLE TOOL --param ... -- EXTRA...`.
    pub fn run_command(
        &self,
        role: &str,
        tool: &str,
        params: &[(&str, &str)],
        extra: &[&str],
    ) -> Command {
        let f = fixture();
        let mut cmd = if role == HOSTNET_ROLE {
            self.command_in(&f.profiles_hostnet)
        } else {
            self.command_in(&f.profiles)
        };
        run_args(&mut cmd, role, tool, params, extra);
        cmd
    }

    /// Runs agentjail to its end, capturing its output (see [`RUNS`]).
    pub fn output(&self, mut cmd: Command) -> std::process::Output {
        let _shared = runs_shared();
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("[{}] starting agentjail: {e}", self.name))
    }

    /// Runs agentjail to its end with the stdio `cmd` was given (see [`RUNS`]).
    pub fn output_as_set(&self, mut cmd: Command) -> std::process::Output {
        let _shared = runs_shared();
        cmd.output()
            .unwrap_or_else(|e| panic!("[{}] starting agentjail: {e}", self.name))
    }

    /// Runs a prepared `run --json` command and checks that the tool ran
    /// confined: no setup failure (125), `confinement` present with seccomp
    /// and no_new_privs, and the guard (99) did not refuse.
    pub fn execute(&self, cmd: Command) -> Outcome {
        let out = self.output(cmd);
        let exit = out.status.code().unwrap_or(-1);
        let launcher_stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if exit == 125 {
            panic!(
                "[{}] agentjail could not build the sandbox (exit 125), the tool did not run:\n{launcher_stderr}{text}",
                self.name
            );
        }
        let json: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
            panic!(
                "[{}] agentjail (exit {exit}) printed no JSON result ({e}):\nstdout: {text}\nstderr: {launcher_stderr}",
                self.name
            )
        });
        let o = Outcome {
            mode: self.name,
            stdout: json["stdout"].as_str().unwrap_or_default().to_string(),
            stderr: json["stderr"].as_str().unwrap_or_default().to_string(),
            json,
            exit,
            launcher_stderr,
        };
        let c = &o.json["confinement"];
        assert!(
            !c.is_null(),
            "[{}] the run reports no confinement: {}",
            self.name,
            o.describe()
        );
        assert_eq!(
            c["seccomp"],
            Value::Bool(true),
            "[{}] the run was not under seccomp: {}",
            self.name,
            o.describe()
        );
        assert_eq!(
            c["no_new_privs"],
            Value::Bool(true),
            "[{}] the run did not set no_new_privs: {}",
            self.name,
            o.describe()
        );
        assert_ne!(
            o.json["exit_code"].as_i64(),
            Some(GUARD_EXIT),
            "[{}] the guard found the tool unconfined: {}",
            self.name,
            o.describe()
        );
        o
    }

    /// Runs a shell script (with [`GUARD`] in front) in `role`.
    pub fn sh_in(&self, role: &str, script: &str) -> Outcome {
        let script = format!("{GUARD}{script}");
        self.execute(self.run_command(role, "sh", &[("script", &script)], &[]))
    }

    /// Runs a shell script (with [`GUARD`] in front) in the `probe` role.
    pub fn sh(&self, script: &str) -> Outcome {
        self.sh_in("probe", script)
    }

    /// Prepares `probe WHAT ARGS...` (for callers that set up stdin etc.).
    pub fn probe_command(&self, what: &str, args: &[&str]) -> Command {
        self.run_command("probe", "probe", &[("what", what)], args)
    }

    /// Runs `probe WHAT ARGS...`; it must finish (`done`) with exit 0.
    pub fn probe(&self, what: &str, args: &[&str]) -> Outcome {
        let o = self.execute(self.probe_command(what, args));
        o.assert_probe_done();
        o
    }
}

/// Adds `run --json --role ROLE TOOL --param ... -- EXTRA...` to `cmd`.
fn run_args(cmd: &mut Command, role: &str, tool: &str, params: &[(&str, &str)], extra: &[&str]) {
    cmd.args(["run", "--json", "--role", role, tool]);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
}

/// What one `run --json` reported.
#[derive(Debug)]
pub struct Outcome {
    pub mode: &'static str,
    /// The JSON result object.
    pub json: Value,
    /// agentjail's own exit code.
    pub exit: i32,
    /// The tool's captured output.
    pub stdout: String,
    pub stderr: String,
    /// agentjail's own stderr.
    pub launcher_stderr: String,
}

impl Outcome {
    pub fn describe(&self) -> String {
        format!(
            "agentjail exit {}\n--- result: {}\n--- tool stdout:\n{}\n--- tool stderr:\n{}\n--- agentjail stderr:\n{}",
            self.exit, self.json, self.stdout, self.stderr, self.launcher_stderr
        )
    }

    /// The tool's exit code as reported in the JSON.
    pub fn exit_code(&self) -> Option<i64> {
        self.json["exit_code"].as_i64()
    }

    pub fn assert_exit(&self, code: i64) {
        assert_eq!(
            self.exit_code(),
            Some(code),
            "[{}] unexpected exit code: {}",
            self.mode,
            self.describe()
        );
        assert_eq!(
            self.exit as i64,
            code,
            "[{}] {}",
            self.mode,
            self.describe()
        );
    }

    pub fn assert_probe_done(&self) {
        assert!(
            self.exit_code() == Some(0) && self.stdout.lines().any(|l| l == "done"),
            "[{}] the probe did not finish: {}",
            self.mode,
            self.describe()
        );
    }

    /// The probe's `key=value` lines.
    pub fn lines(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The value of one probe line; fails when the probe did not print it.
    pub fn get(&self, key: &str) -> String {
        self.lines().remove(key).unwrap_or_else(|| {
            panic!(
                "[{}] the probe printed no `{key}=` line: {}",
                self.mode,
                self.describe()
            )
        })
    }

    /// Asserts a probe line's value is one of `allowed`.
    pub fn assert_one_of(&self, key: &str, allowed: &[&str]) {
        let v = self.get(key);
        assert!(
            allowed.contains(&v.as_str()),
            "[{}] {key}={v}, expected one of {allowed:?}: {}",
            self.mode,
            self.describe()
        );
    }

    /// Asserts a probe line reports a failure (anything but `ok...`).
    pub fn assert_failed(&self, key: &str) {
        let v = self.get(key);
        assert!(
            !v.starts_with("ok"),
            "[{}] {key} succeeded inside the sandbox ({v}): {}",
            self.mode,
            self.describe()
        );
    }
}

/// A mode that can be used, or why not.
type Slot = (&'static str, Result<Mode, String>);

fn doctor(mode: &Mode) -> Result<(), String> {
    let out = mode
        .command()
        .args(["doctor", "--format", "json"])
        .output()
        .map_err(|e| format!("running agentjail doctor: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "agentjail doctor printed no JSON ({e}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let missing: Vec<String> = v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] != Value::Bool(true) && c["required"] != Value::Bool(false))
        .filter(|c| !OPTIONAL_MECHANISMS.iter().any(|m| c["name"] == *m))
        .map(|c| format!("{}: {} (fix: {})", c["name"], c["detail"], c["fix"]))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "agentjail doctor reports missing mechanisms: {}",
        missing.join("; ")
    ))
}

fn state_dir(name: &str, uid: u32) -> PathBuf {
    let d = fixture().base.join(format!("state-{name}"));
    std::fs::create_dir_all(&d).expect("creating a state directory");
    if is_root() {
        std::os::unix::fs::chown(&d, Some(uid), Some(uid)).expect("chown of a state directory");
    }
    set_mode(&d, 0o700);
    d
}

fn root_mode() -> Result<Mode, String> {
    if !is_root() {
        return Err("the tests do not run as root, so root mode is unavailable".into());
    }
    let m = Mode {
        kind: ModeKind::Root,
        name: "root",
        uid: 0,
        state: state_dir("root", 0),
        bin: PathBuf::from(env!("CARGO_BIN_EXE_agentjail")),
        setpriv: false,
    };
    doctor(&m)?;
    Ok(m)
}

fn unprivileged_mode() -> Result<Mode, String> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_agentjail"));
    if !is_root() {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let m = Mode {
            kind: ModeKind::Unprivileged,
            name: "unprivileged",
            uid,
            state: state_dir("unprivileged", uid),
            bin,
            setpriv: false,
        };
        doctor(&m)?;
        return Ok(m);
    }
    let setpriv_ok = Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !setpriv_ok {
        return Err("setpriv (util-linux) is not installed".into());
    }
    let mut m = Mode {
        kind: ModeKind::Unprivileged,
        name: "unprivileged",
        uid: UNPRIVILEGED_UID,
        state: state_dir("unprivileged", UNPRIVILEGED_UID),
        bin,
        setpriv: true,
    };
    // The build directory may sit under a directory the uid cannot search
    // (e.g. /root): then run a copy from the world-readable fixture.
    let reachable = m
        .command()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !reachable {
        let copy = fixture().base.join("agentjail");
        std::fs::copy(&m.bin, &copy).map_err(|e| format!("copying agentjail: {e}"))?;
        set_mode(&copy, 0o755);
        m.bin = copy;
    }
    doctor(&m)?;
    Ok(m)
}

fn slots() -> &'static [Slot] {
    static S: OnceLock<Vec<Slot>> = OnceLock::new();
    S.get_or_init(|| vec![("root", root_mode()), ("unprivileged", unprivileged_mode())])
}

/// Runs `check` once per available mode. A mode that is unavailable is
/// skipped (see [`skip`]); a failing mode does not stop the other, and the
/// test fails at the end naming every failing mode.
pub fn for_each_mode(check: impl Fn(&Mode)) {
    let mut failed = Vec::new();
    for (name, slot) in slots() {
        match slot {
            Err(why) => skip(&format!("{name} mode: {why}")),
            Ok(mode) => {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(mode)));
                match r {
                    Ok(()) => eprintln!("mode {name}: passed"),
                    Err(p) => {
                        let msg = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        eprintln!("mode {name}: FAILED");
                        failed.push(format!("{name}: {msg}"));
                    }
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "failed in {} mode(s):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Host processes whose argv is exactly `argv`.
pub fn host_processes(argv: &[&str]) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.len() == argv.len() && args.iter().zip(argv).all(|(a, b)| a == b) {
            found.push(pid);
        }
    }
    found
}

/// Polls (every 50 ms, at most `bound`) until `done` is true; returns its last value.
pub fn poll_until(bound: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > bound {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// SIGKILLs processes this test started (found by their unique argv).
pub fn kill_pids(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: kill(2) with a positive pid and a valid signal number.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// The server's descendants whose command line contains `needle`.
pub fn descendants_with(root: u32, needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for c in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let cmd = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(needle) {
                found.push(c);
            }
            queue.push(c);
        }
    }
    found
}

/// Waits until at least `n` prepared sandboxes under `owner` wait for a
/// call (their pid 1 and its armed tool process both blocked in recvmsg:
/// pid 1 sends `Ready` once the tool's process is armed), so that the next
/// call can be served by one.
pub fn wait_prepared(owner: u32, n: usize) {
    for _ in 0..400 {
        let in_recvmsg = |p: &u32| {
            std::fs::read_to_string(format!("/proc/{p}/syscall"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
                == Some(libc::SYS_recvmsg)
        };
        // pid 1 waits for the call, and so does its armed tool process
        // (pid 1 also waits in recvmsg while that process arms).
        let waiting = descendants_with(owner, "agentjail-init")
            .into_iter()
            .filter(|p| {
                in_recvmsg(p)
                    && descendants_with(*p, "agentjail-tool")
                        .iter()
                        .any(in_recvmsg)
            })
            .count();
        if waiting >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no {n} prepared sandboxes under {owner} after 4 s");
}

/// Builds, in `dir`, a shared object for `LD_PRELOAD` whose `fdatasync`
/// fails with EIO while `flag` exists and is the real one otherwise (so a
/// test can fail one chosen sync: nothing in agentjail is faked). None
/// without a C compiler.
pub fn flagged_sync_failure(dir: &Path, flag: &Path) -> Option<PathBuf> {
    let src = dir.join("failsync-flag.c");
    let so = dir.join("failsync-flag.so");
    std::fs::write(
        &src,
        format!(
            "#include <errno.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
             int fdatasync(int fd) {{\n  if (access(\"{}\", F_OK) == 0) {{ errno = EIO; return -1; }}\n\
             return (int)syscall(SYS_fdatasync, fd);\n}}\n",
            flag.display()
        ),
    )
    .ok()?;
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .ok()?;
    built.success().then_some(so)
}
