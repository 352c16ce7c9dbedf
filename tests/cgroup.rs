//! cgroup v1 limits on this host, for real: each check runs the binary as
//! root and as an unprivileged user with an administrator-delegated parent.
//! (cgroup v2 runs in a VM: tests/cgroup_v2_vm.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
/// The uid the unprivileged runs use (no passwd entry needed).
const TEST_UID: u32 = 64100;

mod common;
use common::skip;

/// The v1 hierarchies of the controllers agentjail limits, or why not.
fn v1_mounts() -> Result<Vec<(String, PathBuf)>, String> {
    match agentjail::sandbox::cgroup::detect() {
        Some(agentjail::sandbox::cgroup::Layout::V1 { mounts }) => Ok(mounts),
        Some(_) => Err("this host runs cgroup v2 (covered by tests/cgroup_v2_vm.rs)".into()),
        None => Err("no cgroup hierarchy is mounted".into()),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Root,
    Delegated,
}

/// A profile directory with one `sh` tool and a role with the given sandbox table.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(sandbox: &str, timeout: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("roles")).unwrap();
        fs::write(
            dir.path().join("tools.toml"),
            "[tools.sh]\nrisk = \"read\"\ncommand = [\"/bin/sh\", \"-c\", \"{script}\"]\nparams.script = { type = \"string\" }\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("roles/limited.toml"),
            format!(
                "allowed_tools = [\"sh\"]\n[limits]\ntimeout_seconds = {timeout}\n[screening]\ninjection_patterns = []\nsuspicious_values = []\nsuspicious_patterns = []\n[sandbox]\n{sandbox}\n"
            ),
        )
        .unwrap();
        fs::create_dir(dir.path().join("log")).unwrap();
        for p in [dir.path().to_path_buf(), dir.path().join("roles")] {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        nix::unistd::chown(
            &dir.path().join("log"),
            Some(nix::unistd::Uid::from_raw(TEST_UID)),
            None,
        )
        .unwrap();
        Fixture { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A parent cgroup under every v1 hierarchy, owned by the test user, as an
/// administrator would delegate it; removed at the end.
struct Delegation {
    name: String,
    dirs: Vec<PathBuf>,
}

impl Delegation {
    fn new(mounts: &[(String, PathBuf)], tag: &str) -> Delegation {
        let name = format!("agentjail-test-{tag}-{}", std::process::id());
        let mut dirs = Vec::new();
        for (_, m) in mounts {
            let d = m.join(&name);
            if dirs.contains(&d) {
                continue;
            }
            fs::create_dir_all(&d).unwrap();
            Command::new("chown")
                .args(["-R", &TEST_UID.to_string()])
                .arg(&d)
                .status()
                .unwrap();
            dirs.push(d);
        }
        Delegation { name, dirs }
    }
}

impl Drop for Delegation {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

/// The directories in which this mode's run cgroups appear.
fn parents(mode: Mode, mounts: &[(String, PathBuf)], deleg: Option<&Delegation>) -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    mounts
        .iter()
        .map(|(c, m)| match (mode, deleg) {
            (Mode::Delegated, Some(d)) => m.join(&d.name),
            _ => {
                let p = agentjail_own_path(&own, c);
                m.join(p.trim_start_matches('/')).join("agentjail")
            }
        })
        .collect()
}

fn agentjail_own_path(proc_cgroup: &str, controller: &str) -> String {
    proc_cgroup
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".into())
}

fn leftover_runs(dirs: &[PathBuf], pid: u32) -> Vec<String> {
    let prefix = format!("run-{pid}-");
    dirs.iter()
        .filter_map(|d| fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

struct Outcome {
    /// The launcher's pid: its run cgroups are named `run-PID-*`.
    pid: u32,
    code: i32,
    json: Value,
    stderr: String,
}

fn run(mode: Mode, fx: &Fixture, deleg: Option<&Delegation>, script: &str) -> Outcome {
    let log = fx.path().join("log/audit.jsonl");
    let mut cmd = match mode {
        Mode::Root => Command::new(BIN),
        Mode::Delegated => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={TEST_UID}"),
                &format!("--regid={TEST_UID}"),
                "--clear-groups",
                BIN,
            ]);
            c
        }
    };
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", fx.path().join("log"))
        .arg("--profiles")
        .arg(fx.path())
        .arg("--audit-log")
        .arg(&log);
    if let Some(d) = deleg {
        cmd.arg("--cgroup-parent").arg(&d.name);
    }
    cmd.args(["run", "--json", "--role", "limited", "sh", "--param"])
        .arg(format!("script={script}"));
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // setpriv execs agentjail, so this is the launcher's pid in both modes.
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    Outcome {
        pid,
        code: out.status.code().unwrap_or(-1),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The tests share parent cgroups, so they run one at a time: "nothing left
/// behind" must see only its own run.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `check` in each mode this machine offers, then asserts no cgroup is left.
fn each_mode(sandbox: &str, timeout: u64, check: impl Fn(Mode, &Outcome)) -> Option<()> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mounts = match v1_mounts() {
        Ok(m) => m,
        Err(why) => {
            skip(&why);
            return None;
        }
    };
    if !is_root() {
        skip("not root: cannot delegate a cgroup parent or run as root");
        return None;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip("setpriv (util-linux) is not installed");
        return None;
    }
    for mode in [Mode::Root, Mode::Delegated] {
        let fx = Fixture::new(sandbox, timeout);
        let deleg = (mode == Mode::Delegated).then(|| Delegation::new(&mounts, "limits"));
        let out = run(
            mode,
            &fx,
            deleg.as_ref(),
            SCRIPT.with(|s| s.borrow().clone()).as_str(),
        );
        assert_ne!(
            out.code, 125,
            "{mode:?}: the sandbox was not built: {}",
            out.stderr
        );
        assert_eq!(
            out.json["cgroup"]["version"], "v1",
            "{mode:?}: {}",
            out.json
        );
        check(mode, &out);
        let left = leftover_runs(&parents(mode, &mounts, deleg.as_ref()), out.pid);
        assert!(left.is_empty(), "{mode:?}: cgroups left behind: {left:?}");
    }
    Some(())
}

thread_local! {
    static SCRIPT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn with_script(script: &str) {
    SCRIPT.with(|s| *s.borrow_mut() = script.to_string());
}

#[test]
fn memory_bomb_is_oom_killed() {
    with_script("x=a; while true; do x=$x$x; done");
    each_mode("memory = \"32Mi\"", 30, |mode, out| {
        assert_eq!(out.code, 137, "{mode:?}: {}", out.json);
        assert_eq!(out.json["oom_killed"], true, "{mode:?}: {}", out.json);
        let peak = out.json["usage"]["memory_peak"].as_u64().unwrap();
        assert!(peak <= 32 << 20, "{mode:?}: peak {peak} above the limit");
    });
}

#[test]
fn tmpfs_pages_count_against_the_memory_limit() {
    with_script("dd if=/dev/zero of=/tmp/fill bs=1M count=50 2>&1; echo after-dd");
    each_mode(
        "memory = \"32Mi\"\ntmp_size = \"60Mi\"\nephemeral_storage = \"100Mi\"",
        30,
        |mode, out| {
            assert_eq!(out.json["oom_killed"], true, "{mode:?}: {}", out.json);
            assert!(
                out.json["stdout"].as_str().unwrap().contains("Killed"),
                "{mode:?}: dd was not the one killed: {}",
                out.json
            );
        },
    );
}

#[test]
fn the_tool_sees_its_own_cgroup_as_the_root() {
    // pid 1 joins the run's cgroup before it unshares its cgroup namespace:
    // every hierarchy's path in /proc/self/cgroup is then "/", and no host
    // cgroup path (the launcher's, agentjail's parent) shows through.
    with_script("cat /proc/self/cgroup");
    each_mode("", 20, |mode, out| {
        assert_eq!(out.code, 0, "{mode:?}: {}", out.json);
        let stdout = out.json["stdout"].as_str().unwrap();
        assert!(stdout.lines().count() >= 3, "{mode:?}: {stdout:?}");
        for line in stdout.lines() {
            assert!(
                line.ends_with(":/"),
                "{mode:?}: {line:?} is not the namespace's root: {stdout}"
            );
        }
    });
}

#[test]
fn fork_bomb_is_capped_by_pids_max() {
    with_script("i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done");
    each_mode("pids = 16", 20, |mode, out| {
        assert_ne!(
            out.code, 124,
            "{mode:?}: the run hit its timeout: {}",
            out.json
        );
        let peak = out.json["usage"]["pids_peak"].as_u64().unwrap();
        // The limit itself: a one-shot run has no setup process in its
        // cgroup (pid 1 is the first process there).
        assert!(peak <= 16, "{mode:?}: pids peak {peak} above the cap");
        let stderr = out.json["stderr"].as_str().unwrap();
        assert!(
            stderr.contains("fork"),
            "{mode:?}: no fork failure seen: {stderr}"
        );
    });
}

#[test]
fn cpu_hog_is_held_at_its_quota() {
    with_script("timeout 2 sh -c 'while :; do :; done'; true");
    each_mode("cpu = \"500m\"", 30, |mode, out| {
        let cpu = out.json["usage"]["cpu_usec"].as_u64().unwrap() as f64 / 1e6;
        let wall = out.json["duration_ms"].as_u64().unwrap() as f64 / 1e3;
        let ratio = cpu / wall;
        assert!(
            (0.4..=0.6).contains(&ratio),
            "{mode:?}: {cpu:.3} CPU-s over {wall:.3} s = {ratio:.3}, not 0.4..0.6"
        );
    });
}

#[test]
fn a_child_left_holding_the_output_ends_with_the_tool_and_its_cpu_time_counts() {
    // The tool ends while a child it started still spins with the tool's
    // stdout open. pid 1 kills it when the tool ends, so the output ends and
    // the result is recorded (no timeout, all of the tool's output); the
    // child's CPU time is in the usage (pid 1's report here, where cpuacct
    // is not mounted with cpu, or the cgroup's).
    with_script("(while :; do :; done) & sleep 0.5; echo done");
    each_mode("cpu = \"1000m\"", 30, |mode, out| {
        assert_eq!(out.code, 0, "{mode:?}: {}", out.json);
        assert_eq!(out.json["stdout"], "done\n", "{mode:?}: {}", out.json);
        assert_eq!(out.json["timed_out"], false, "{mode:?}");
        let cpu = out.json["usage"]["cpu_usec"].as_u64().unwrap();
        assert!(
            cpu >= 200_000,
            "{mode:?}: {cpu} us: the spinning child's CPU time is missing"
        );
    });
}

#[test]
fn without_a_delegated_parent_an_unprivileged_run_fails_closed() {
    if let Err(why) = v1_mounts() {
        return skip(&why);
    }
    if !is_root() {
        return skip("not root: cannot switch to the test user");
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    with_script("echo ran");
    let fx = Fixture::new("memory = \"64Mi\"", 10);
    let out = run(Mode::Delegated, &fx, None, "echo ran");
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        !out.json.to_string().contains("\"stdout\":\"ran"),
        "the tool ran"
    );
    // One line of reason, then the fix on lines of its own.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert!(
        lines[0].starts_with("agentjail: the sandbox could not be built; the tool was not run: cgroup memory controller unavailable: creating /sys/fs/cgroup/memory/"),
        "{}",
        out.stderr
    );
    assert!(
        lines[0].ends_with("/agentjail: Permission denied (os error 13)"),
        "{}",
        out.stderr
    );
    let name = format!("agentjail-{TEST_UID}");
    let fix = lines[1]
        .strip_prefix("  fix: as root, once: ")
        .unwrap_or_else(|| panic!("no fix line: {}", out.stderr));
    assert_eq!(
        lines[2],
        format!("  then, as {TEST_UID}: export AGENTJAIL_CGROUP_PARENT={name} (or pass --cgroup-parent {name})")
    );
    // The fix, followed literally, makes a run work.
    let made = Delegation {
        name: name.clone(),
        dirs: v1_mounts()
            .unwrap()
            .iter()
            .map(|(_, m)| m.join(&name))
            .collect(),
    };
    let st = Command::new("sh").args(["-c", fix]).status().unwrap();
    assert!(st.success(), "{fix}: {st}");
    let out = run(Mode::Delegated, &fx, Some(&made), "echo ran");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["stdout"], "ran\n");
}

#[test]
fn optional_limits_are_skipped_and_recorded() {
    if let Err(why) = v1_mounts() {
        return skip(&why);
    }
    if !is_root() {
        return skip("not root: cannot switch to the test user");
    }
    let fx = Fixture::new("optional = [\"cgroup\"]", 10);
    let out = run(Mode::Delegated, &fx, None, "echo ran");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["stdout"], "ran\n");
    let skipped: Vec<&str> = out.json["cgroup"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(skipped, ["memory", "cpu", "pids"], "{}", out.json);
}

#[test]
fn a_stale_cgroup_from_a_killed_launcher_is_removed_by_the_next_run() {
    let mounts = match v1_mounts() {
        Ok(m) => m,
        Err(why) => return skip(&why),
    };
    if !is_root() {
        return skip("not root");
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let deleg = Delegation::new(&mounts, "stale");
    // A run directory named after a pid that cannot be alive.
    // In the hierarchies agentjail limits with (cpuacct only measures).
    let stale: Vec<PathBuf> = mounts
        .iter()
        .filter(|(c, _)| ["memory", "cpu", "pids"].contains(&c.as_str()))
        .map(|(_, m)| m.join(&deleg.name).join("run-999999999-00000000"))
        .collect();
    for s in &stale {
        fs::create_dir(s).unwrap();
        // Stale means older than a minute: age it.
        let ok = Command::new("touch")
            .args(["-d", "2 minutes ago"])
            .arg(s)
            .status()
            .unwrap()
            .success();
        assert!(ok, "could not age {}", s.display());
    }
    let fx = Fixture::new("", 10);
    let out = run(Mode::Delegated, &fx, Some(&deleg), "true");
    assert_eq!(out.code, 0, "{}", out.stderr);
    for s in &stale {
        assert!(!s.exists(), "{} survived", s.display());
    }
}

/// The run's cgroup goes after a timeout and after SIGTERM to the launcher.
#[test]
fn the_cgroup_is_removed_after_a_timeout_and_after_sigterm() {
    let mounts = match v1_mounts() {
        Ok(m) => m,
        Err(why) => return skip(&why),
    };
    if !is_root() {
        return skip("not root");
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dirs = parents(Mode::Root, &mounts, None);
    // Timeout: exit 124, nothing left.
    let fx = Fixture::new("", 1);
    let out = run(Mode::Root, &fx, None, "sleep 30");
    assert_eq!(out.code, 124, "{}", out.stderr);
    assert!(leftover_runs(&dirs, out.pid).is_empty());
    // SIGTERM to the launcher: forwarded to the tool, which dies of it (143).
    let fx = Fixture::new("", 30);
    let mut child = Command::new(BIN)
        .arg("--profiles")
        .arg(fx.path())
        .arg("--audit-log")
        .arg(fx.path().join("log/audit.jsonl"))
        .args([
            "run",
            "--role",
            "limited",
            "sh",
            "--param",
            "script=sleep 30",
        ])
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = std::time::Instant::now();
    while leftover_runs(&dirs, pid).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the run's cgroup never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Let the tool start before the signal arrives.
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    let left = leftover_runs(&dirs, pid);
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}
