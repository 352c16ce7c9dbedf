//! cgroup v2 resource limits, checked in a VM: `tests/vm/run.sh` boots
//! Debian's linux-image-amd64 kernel under qemu (TCG) with only cgroup2
//! mounted, runs the memory, fork-bomb, CPU-quota and tmpfs checks through
//! the agentjail built here, and exits 0 only when every check passed.
//!
//! Skips (`skipped: ...`) when qemu-system-x86_64, busybox-static, cpio or
//! the kernel package cannot be had, or when `AGENTJAIL_SKIP_VM=1`; with
//! `AGENTJAIL_REQUIRE_PRIVILEGED_TESTS=1` a skip is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const REQUIRE_ENV: &str = "AGENTJAIL_REQUIRE_PRIVILEGED_TESTS";
const SKIP_ENV: &str = "AGENTJAIL_SKIP_VM";
/// run.sh's exit code for a missing prerequisite.
const MISSING: i32 = 77;

fn skip(what: &str) {
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("skipped: {what} (a skip is a failure because {REQUIRE_ENV}=1)");
    }
    {
        use std::io::Write;
        // The handle, not eprintln!: libtest captures the macros of a passing test.
        let _ = writeln!(std::io::stderr(), "skipped: {what}");
    }
}

#[test]
fn cgroup_v2_limits_hold_in_a_vm() {
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        skip(&format!("the cgroup v2 VM ({SKIP_ENV}=1)"));
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/run.sh");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cgroup_v2_vm-serial.log");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--agentjail")
        .arg(env!("CARGO_BIN_EXE_agentjail"))
        .arg("--log")
        .arg(&log)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            for line in stdout.lines().chain(stderr.lines()) {
                if line.starts_with("AJTEST ") || line.starts_with("vm: ") {
                    eprintln!("{line}");
                }
            }
        }
        Some(MISSING) => {
            let what = stderr
                .lines()
                .find_map(|l| l.strip_prefix("skipped: "))
                .unwrap_or("a prerequisite of tests/vm/run.sh")
                .to_string();
            skip(&what);
        }
        _ => panic!(
            "tests/vm/run.sh failed ({}); serial log ({}):\n{stdout}\n--- run.sh stderr:\n{stderr}",
            out.status,
            log.display()
        ),
    }
}
