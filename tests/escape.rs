#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Escape tests: a tool inside agentjail's sandbox tries to reach the host.
//!
//! Every check runs in two modes (agentjail started by root, and by an
//! unprivileged uid through setpriv); see `common::for_each_mode`. Hostile
//! code only ever runs inside the sandbox: shell scripts start with
//! `common::GUARD`, the C probe (tests/probe/probe.c) has the same guard in
//! its `main`, and `Mode::execute` fails a run whose result does not report
//! seccomp and no_new_privs before any of its output is looked at.

mod common;

use common::{
    fixture, for_each_mode, host_processes, kill_pids, poll_until, probe_available, unique_number,
    Mode, Outcome, GUARD,
};
use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

// ---------------------------------------------------------------------------
// The table of simple checks: one sandboxed script, one verdict on its output.
// ---------------------------------------------------------------------------

/// A named check: a shell script run in the sandbox and a verdict on its output.
struct ScriptCheck {
    name: &'static str,
    script: &'static str,
    verify: fn(&Outcome),
}

const SCRIPT_CHECKS: &[ScriptCheck] = &[
    ScriptCheck {
        name: "uid_gid_65534",
        script: "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo id=$(id -u):$(id -g)",
        verify: verify_ids,
    },
    ScriptCheck {
        name: "capabilities_zero",
        script: "grep '^Cap' /proc/self/status",
        verify: verify_caps,
    },
    ScriptCheck {
        name: "no_new_privs",
        script: "grep '^NoNewPrivs:' /proc/self/status",
        verify: |o| assert_eq!(status_field(o, "NoNewPrivs"), ["1"], "{}", o.describe()),
    },
    ScriptCheck {
        name: "seccomp_filter",
        script: "grep '^Seccomp:' /proc/self/status",
        verify: |o| assert_eq!(status_field(o, "Seccomp"), ["2"], "{}", o.describe()),
    },
    ScriptCheck {
        name: "tmp_bounded",
        script: "echo small > /tmp/small && echo small=$(cat /tmp/small); \
                 dd if=/dev/zero of=/tmp/big bs=65536 count=128 2>/dev/null; echo dd=$?; \
                 echo big=$(wc -c < /tmp/big); \
                 echo shm_small > /dev/shm/small && echo shm=$(cat /dev/shm/small); \
                 dd if=/dev/zero of=/dev/shm/big bs=65536 count=128 2>/dev/null; echo shm_dd=$?",
        verify: verify_tmp,
    },
    ScriptCheck {
        name: "only_loopback",
        // (/sys is not mounted by default: /proc/net/dev lists the namespace's interfaces.)
        script:
            "sed -n '3,$p' /proc/net/dev | cut -d: -f1 | tr -d ' ' | sed 's/^/if=/'; echo end=1",
        verify: verify_loopback,
    },
    ScriptCheck {
        name: "minimal_dev",
        script: "for d in /dev/* /dev/pts/*; do echo dev=${d#/dev/}; done; \
                 find /dev -type b -print | sed 's/^/block=/'; \
                 for d in kvm mem kmem port sda vda nvme0n1 loop0 loop-control console kmsg \
                          hwrng cpu fuse net tty0 tty1 autofs btrfs-control; do \
                   [ -e /dev/$d ] && echo present=$d; done; echo end=1",
        verify: verify_dev,
    },
];

fn run_script_check(name: &str) {
    let check = SCRIPT_CHECKS
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check named {name}"));
    for_each_mode(|m| {
        let o = m.sh(check.script);
        o.assert_exit(0);
        (check.verify)(&o);
    });
}

/// The values of a `Name:` line of /proc/self/status printed by the script.
fn status_field(o: &Outcome, name: &str) -> Vec<String> {
    let prefix = format!("{name}:");
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("[{}] no {name}: line: {}", o.mode, o.describe()));
    line[prefix.len()..]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn verify_ids(o: &Outcome) {
    assert_eq!(status_field(o, "Uid"), ["65534"; 4], "{}", o.describe());
    assert_eq!(status_field(o, "Gid"), ["65534"; 4], "{}", o.describe());
    let groups = status_field(o, "Groups");
    assert!(
        groups.iter().all(|g| g == "65534"),
        "[{}] supplementary groups {groups:?}: {}",
        o.mode,
        o.describe()
    );
    assert_eq!(o.get("id"), "65534:65534", "{}", o.describe());
}

fn verify_caps(o: &Outcome) {
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            status_field(o, set),
            ["0000000000000000"],
            "[{}] {set} is not empty: {}",
            o.mode,
            o.describe()
        );
    }
}

fn verify_tmp(o: &Outcome) {
    assert_eq!(
        o.get("small"),
        "small",
        "/tmp is not writable: {}",
        o.describe()
    );
    assert_ne!(
        o.get("dd"),
        "0",
        "8 MiB fit into the 4 MiB /tmp: {}",
        o.describe()
    );
    let big: u64 = o.get("big").trim().parse().unwrap_or(u64::MAX);
    assert!(
        big <= 4 << 20,
        "/tmp/big holds {big} bytes: {}",
        o.describe()
    );
    assert_eq!(
        o.get("shm"),
        "shm_small",
        "/dev/shm is not writable: {}",
        o.describe()
    );
    assert_ne!(
        o.get("shm_dd"),
        "0",
        "8 MiB fit into /dev/shm (ephemeral_storage 8Mi less tmp 4Mi): {}",
        o.describe()
    );
}

fn verify_loopback(o: &Outcome) {
    assert_eq!(o.get("end"), "1", "{}", o.describe());
    let ifs: Vec<&str> = o
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("if="))
        .collect();
    assert_eq!(ifs, ["lo"], "[{}] interfaces: {}", o.mode, o.describe());
}

/// What /dev may hold: the sandbox's own minimal set.
const DEV_ALLOWED: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin",
    "stdout", "stderr", "pts/ptmx",
];

fn verify_dev(o: &Outcome) {
    assert_eq!(o.get("end"), "1", "{}", o.describe());
    let bad: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| match l.strip_prefix("dev=") {
            Some(d) => !DEV_ALLOWED.contains(&d),
            None => l.starts_with("block=") || l.starts_with("present="),
        })
        .collect();
    assert!(
        bad.is_empty(),
        "[{}] unexpected entries in /dev: {bad:?}\n{}",
        o.mode,
        o.describe()
    );
}

#[test]
fn uid_and_gid_are_65534() {
    run_script_check("uid_gid_65534");
}

#[test]
fn all_capability_sets_are_empty() {
    run_script_check("capabilities_zero");
}

#[test]
fn no_new_privs_is_set() {
    run_script_check("no_new_privs");
}

#[test]
fn seccomp_is_in_filter_mode() {
    run_script_check("seccomp_filter");
}

#[test]
fn tmp_is_writable_but_bounded_by_its_size() {
    run_script_check("tmp_bounded");
}

#[test]
fn only_loopback_in_sys_class_net() {
    run_script_check("only_loopback");
}

#[test]
fn dev_holds_only_the_minimal_set() {
    run_script_check("minimal_dev");
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let o = m.probe("mknod", &["/tmp/blk", "/dev/shm/blk"]);
        o.assert_failed("mknod:/tmp/blk");
        o.assert_failed("mknod:/dev/shm/blk");
        let o = m.probe(
            "read",
            &["/dev/kvm", "/dev/mem", "/dev/kmsg", "/dev/console"],
        );
        for d in ["kvm", "mem", "kmsg", "console"] {
            o.assert_failed(&format!("read:/dev/{d}"));
        }
    });
}

// ---------------------------------------------------------------------------
// The filesystem.
// ---------------------------------------------------------------------------

#[test]
fn root_usr_and_etc_are_not_writable() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let n = unique_number();
        let new: Vec<String> = [
            "/",
            "/usr/",
            "/usr/bin/",
            "/etc/",
            "/lib/",
            "/bin/",
            "/opt/probe/",
            "/opt/",
        ]
        .iter()
        .map(|d| format!("{d}agentjail-probe-{n}"))
        .collect();
        let new_refs: Vec<&str> = new.iter().map(String::as_str).collect();
        let existing = [
            "/usr/bin/env",
            "/bin/sh",
            "/etc/passwd",
            "/etc/hosts",
            "/opt/probe/probe",
        ];
        let o = m.probe("create", &new_refs);
        for p in &new {
            o.assert_failed(&format!("create:{p}"));
        }
        let o = m.probe("mkdir", &new_refs);
        for p in &new {
            o.assert_failed(&format!("mkdir:{p}"));
        }
        let o = m.probe("openw", &existing);
        for p in existing {
            o.assert_failed(&format!("openw:{p}"));
        }
        let o = m.probe("chmod", &existing);
        for p in existing {
            o.assert_failed(&format!("chmod:{p}"));
        }
        for p in &new {
            assert!(
                !Path::new(p).exists() || p.starts_with("/opt/probe"),
                "[{}] {p} appeared on the host",
                m.name
            );
        }
    });
}

/// Files planted on the host; removed again when dropped.
struct Planted(Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn host_secret_files_are_invisible() {
    let n = unique_number();
    let content = format!("agentjail-secret-content-{n}");
    let name = format!("agentjail-test-secret-{n}");
    let mut paths = vec![
        PathBuf::from("/var/tmp").join(&name),
        // Next to the bound probe directory, in the same host directory.
        fixture().base.join(&name),
    ];
    if Path::new("/root").is_dir() {
        paths.push(PathBuf::from("/root").join(&name));
    }
    let mut planted = Planted(Vec::new());
    for p in &paths {
        if std::fs::write(p, &content).is_ok() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644));
            planted.0.push(p.clone());
        }
    }
    assert!(
        !planted.0.is_empty(),
        "could not plant a secret file on the host"
    );
    let mut candidates: Vec<String> = planted.0.iter().map(|p| p.display().to_string()).collect();
    for p in &planted.0 {
        candidates.push(format!("/proc/self/root{}", p.display()));
        candidates.push(format!("/proc/1/root{}", p.display()));
    }
    candidates.push(format!("/opt/probe/../{name}"));
    candidates.push(format!("/opt/{name}"));
    candidates.push("/etc/shadow".into());
    candidates.push("/etc/gshadow".into());
    candidates.push("/etc/sudoers".into());
    let list = candidates
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "for p in {list}; do [ -e \"$p\" ] && echo \"visible=$p\"; cat \"$p\" 2>/dev/null; done; \
         find / -path /proc -prune -o -path /sys -prune -o -path /usr -prune -o -name '{name}' -print 2>/dev/null \
           | sed 's/^/found=/'; \
         echo end=1"
    );
    for_each_mode(|m| {
        let o = m.sh(&script);
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        assert!(
            !o.stdout.contains(&content)
                && !o.stdout.contains("visible=")
                && !o.stdout.contains("found="),
            "[{}] a host secret is visible inside the sandbox: {}",
            m.name,
            o.describe()
        );
    });
}

// ---------------------------------------------------------------------------
// What the launcher holds: environment, descriptors.
// ---------------------------------------------------------------------------

/// The variables agentjail itself gives a tool (with an empty role env).
const ENV_ALLOWED: &[&str] = &["PATH", "HOME", "LANG", "TZ", "TERM"];

#[test]
fn launcher_environment_does_not_leak() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let secret = format!("xyz-{}", unique_number());
        let mut cmd = m.probe_command("env", &[]);
        cmd.env("AGENTJAIL_TEST_SECRET", &secret)
            .env("AWS_SECRET_ACCESS_KEY", &secret);
        let o = m.execute(cmd);
        o.assert_probe_done();
        let names: Vec<&str> = o
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("env="))
            .map(|kv| kv.split('=').next().unwrap_or(kv))
            .collect();
        let unexpected: Vec<&&str> = names.iter().filter(|n| !ENV_ALLOWED.contains(n)).collect();
        assert!(
            unexpected.is_empty() && !o.stdout.contains(&secret),
            "[{}] unexpected variables {unexpected:?} in the tool's environment: {}",
            m.name,
            o.describe()
        );
        // Nor in any process of the sandbox (pid 1 is a fork of the launcher).
        let script = "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done 2>/dev/null; \
                      cat /proc/1/environ /proc/1/cmdline; echo; echo end=1";
        let mut cmd = m.run_command(
            "probe",
            "sh",
            &[("script", &format!("{GUARD}{script}"))],
            &[],
        );
        cmd.env("AGENTJAIL_TEST_SECRET", &secret);
        let o = m.execute(cmd);
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        assert!(
            !o.stdout.contains(&secret) && !o.stderr.contains(&secret),
            "[{}] the launcher's environment is readable in the sandbox: {}",
            m.name,
            o.describe()
        );
    });
}

#[test]
fn no_descriptor_above_2_reaches_the_tool() {
    if !probe_available() {
        return;
    }
    let with_fd9 = |cmd: &mut Command| {
        let dir = std::fs::File::open("/var/tmp").expect("opening /var/tmp");
        let raw = dir.as_raw_fd();
        // SAFETY: the closure runs between fork and exec and only calls the
        // async-signal-safe dup2 and fcntl on descriptors that are open.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(raw, 9) < 0 || libc::fcntl(9, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        dir
    };
    // Control, on the host and harmless: a child started this way does get fd 9.
    let mut control = Command::new("/bin/sh");
    control.args(["-c", "[ -d /proc/$$/fd/9 ]"]);
    let _dir = with_fd9(&mut control);
    assert!(
        control.status().expect("running the control").success(),
        "the control child did not get the directory on fd 9"
    );
    for_each_mode(|m| {
        let mut cmd = m.probe_command("fds", &[]);
        let _dir = with_fd9(&mut cmd);
        let o = m.execute(cmd);
        o.assert_probe_done();
        let extra: Vec<&str> = o
            .stdout
            .lines()
            .filter(|l| {
                l.strip_prefix("fd=")
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse::<i32>().ok())
                    .is_some_and(|n| n > 2)
            })
            .collect();
        assert!(
            extra.is_empty(),
            "[{}] descriptors above 2 inside the sandbox: {extra:?}\n{}",
            m.name,
            o.describe()
        );
    });
}

// ---------------------------------------------------------------------------
// Processes.
// ---------------------------------------------------------------------------

/// A host process started by a test, killed and reaped when dropped.
struct HostChild(std::process::Child);

impl Drop for HostChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn own_pid_namespace_hides_host_processes() {
    if !probe_available() {
        return;
    }
    let n = unique_number().to_string();
    let host = HostChild(
        Command::new("sleep")
            .arg(&n)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting a host sleep"),
    );
    let host_pid = host.0.id().to_string();
    for_each_mode(|m| {
        let o = m.probe("getpid", &[]);
        let pid: i64 = o.get("pid").parse().unwrap_or(i64::MAX);
        assert!(
            pid < 100,
            "[{}] the tool's pid is {pid}: {}",
            m.name,
            o.describe()
        );
        let o = m.probe("kill", &[&host_pid]);
        o.assert_one_of("kill", &["ESRCH"]);
        let o = m.sh(&format!(
            "for f in /proc/[0-9]*/cmdline; do echo \"proc=$(tr '\\0' ' ' < $f)\"; done; \
             [ -e /proc/{host_pid} ] && echo present={host_pid}; echo count=$(ls -d /proc/[0-9]* | wc -l); echo end=1"
        ));
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        // Only whole lines count: pid 1's command line holds the script itself.
        let visible = o
            .stdout
            .lines()
            .any(|l| l.starts_with("present=") || l.starts_with(&format!("proc=sleep {n}")));
        assert!(
            !visible,
            "[{}] a host process is visible: {}",
            m.name,
            o.describe()
        );
        let count: u32 = o.get("count").trim().parse().unwrap_or(u32::MAX);
        assert!(
            count < 10,
            "[{}] {count} processes visible: {}",
            m.name,
            o.describe()
        );
    });
    drop(host);
}

/// Calls the probe makes that must fail with EPERM or ENOSYS: the required
/// list, then further ones the policy also denies.
const DENIED_SYSCALLS: &[&str] = &[
    "ptrace",
    "mount",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "kexec_load",
    "init_module",
    "open_by_handle_at",
    "reboot",
    "swapon",
    "clock_settime",
    "sethostname",
    "acct",
    "iopl",
    "ioperm",
    "clone_newuser",
    "process_vm_readv",
    "name_to_handle_at",
    "open_tree",
    "fsopen",
    "chroot",
    "pivot_root",
    "kcmp",
];

#[test]
fn dangerous_syscalls_fail_with_eperm_or_enosys() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let o = m.probe("syscalls", &[]);
        let lines = o.lines();
        let wrong: Vec<String> = DENIED_SYSCALLS
            .iter()
            .filter_map(|s| match lines.get(*s).map(String::as_str) {
                Some("EPERM" | "ENOSYS") => None,
                Some(v) => Some(format!("{s}={v}")),
                None => Some(format!("{s}: not reported")),
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "[{}] calls that did not fail with EPERM/ENOSYS: {wrong:?}\n{}",
            m.name,
            o.describe()
        );
    });
}

#[test]
fn tiocsti_cannot_inject_into_the_terminal() {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        // Raw mode: a single injected byte would be readable at once.
        let mut t = tcgetattr(&pty.slave).expect("tcgetattr");
        cfmakeraw(&mut t);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).expect("tcsetattr");
        let stdin = pty.slave.try_clone().expect("dup of the pty slave");
        let mut cmd = m.probe_command("tiocsti", &[]);
        cmd.stdin(Stdio::from(stdin));
        let o = m.execute(cmd);
        o.assert_probe_done();
        for key in ["tiocsti", "tiocsti_high"] {
            o.assert_one_of(key, &["EPERM", "EIO", "ENOTTY"]);
        }
        if o.get("devtty_open").starts_with("ok") {
            o.assert_one_of("tiocsti_devtty", &["EPERM", "EIO", "ENOTTY"]);
        }
        // Independently of what the probe says: nothing reached the input queue.
        let mut fds = [PollFd::new(pty.slave.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::ZERO).expect("poll");
        let injected = ready > 0
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN));
        assert!(
            !injected,
            "[{}] a character was injected into the terminal: {}",
            m.name,
            o.describe()
        );
    });
}

#[test]
fn proc_sys_sysrq_and_kcore_are_protected() {
    if !probe_available() {
        return;
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let before: Vec<String> = ["/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern"]
        .iter()
        .map(|p| read(p))
        .collect();
    for_each_mode(|m| {
        // Writes back each file's own content: harmless wherever it lands.
        let sys = [
            "/proc/sys/kernel/hostname",
            "/proc/sys/kernel/domainname",
            "/proc/sys/kernel/core_pattern",
            "/proc/sys/kernel/modprobe",
            "/proc/sys/kernel/sysrq",
        ];
        let o = m.probe("rewrite", &sys);
        for p in sys {
            let v = o.lines().get(&format!("rewrite:{p}")).cloned();
            let read_failed = o.lines().contains_key(&format!("rewrite_read:{p}"));
            assert!(
                read_failed || v.as_deref().is_some_and(|v| !v.starts_with("ok")),
                "[{}] {p} is writable: {}",
                m.name,
                o.describe()
            );
        }
        // Opened for writing and closed, never written.
        let o = m.probe(
            "openw",
            &["/proc/sysrq-trigger", "/proc/sys/kernel/hostname"],
        );
        o.assert_failed("openw:/proc/sysrq-trigger");
        o.assert_failed("openw:/proc/sys/kernel/hostname");
        let o = m.probe("read", &["/proc/kcore"]);
        let v = o.get("read:/proc/kcore");
        assert!(
            !v.starts_with("ok") || v == "ok:0",
            "[{}] /proc/kcore is readable ({v}): {}",
            m.name,
            o.describe()
        );
    });
    let after: Vec<String> = ["/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern"]
        .iter()
        .map(|p| read(p))
        .collect();
    assert_eq!(before, after, "host sysctls changed");
}

#[test]
fn hostname_is_agentjail_and_the_hosts_is_unchanged() {
    let host_before = nix::unistd::gethostname().expect("gethostname");
    assert_ne!(
        host_before.to_str(),
        Some("agentjail"),
        "the host is itself called agentjail: this check cannot tell them apart"
    );
    for_each_mode(|m| {
        let o = m.sh("echo uname=$(uname -n); echo proc=$(cat /proc/sys/kernel/hostname)");
        assert_eq!(o.get("uname"), "agentjail", "{}", o.describe());
        assert_eq!(o.get("proc"), "agentjail", "{}", o.describe());
    });
    let host_after = nix::unistd::gethostname().expect("gethostname");
    assert_eq!(host_before, host_after, "the host's hostname changed");
}

#[test]
fn proc_1_is_neither_writable_nor_readable() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let o = m.probe("proc1", &[]);
        for key in [
            "readlink_exe",
            "open_exe_w",
            "open_exe_r",
            "open_environ",
            "open_mem",
            "readlink_cwd",
            "readlink_root",
            "open_fd_dir",
        ] {
            o.assert_failed(key);
        }
    });
}

// ---------------------------------------------------------------------------
// The network and IPC.
// ---------------------------------------------------------------------------

#[test]
fn host_tcp_listener_is_unreachable() {
    if !probe_available() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a host listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener
        .local_addr()
        .expect("local_addr")
        .port()
        .to_string();
    for_each_mode(|m| {
        let o = m.probe("connect_tcp", &[&port]);
        o.assert_failed("connect_tcp");
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!(
                "[{}] the host listener saw a connection ({other:?}): {}",
                m.name,
                o.describe()
            ),
        }
    });
}

#[test]
fn host_abstract_unix_socket_is_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    if !probe_available() {
        return;
    }
    let name = format!("agentjail-test-{}", unique_number());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .expect("abstract address");
    let listener =
        std::os::unix::net::UnixListener::bind_addr(&addr).expect("binding an abstract socket");
    listener.set_nonblocking(true).expect("nonblocking");
    for_each_mode(|m| {
        let o = m.probe("connect_abstract", &[&name]);
        o.assert_failed("connect_abstract");
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!(
                "[{}] the host socket saw a connection ({other:?}): {}",
                m.name,
                o.describe()
            ),
        }
    });
}

/// A SysV shared memory segment of the host, removed when dropped.
struct HostShm(i32);

impl Drop for HostShm {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID on a segment id this test created; no buffer is used.
        unsafe { libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

#[test]
fn host_sysv_shared_memory_is_invisible() {
    if !probe_available() {
        return;
    }
    // SAFETY: shmget with IPC_PRIVATE creates a new segment; no memory is mapped.
    let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o666) };
    assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
    let shm = HostShm(id);
    let id_text = id.to_string();
    for_each_mode(|m| {
        let o = m.probe("shm_stat", &[&id_text]);
        o.assert_one_of("shm_stat", &["EINVAL", "EIDRM"]);
        let o = m.sh("cat /proc/sysvipc/shm; echo end=1");
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        let listed = o
            .stdout
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some(id_text.as_str()));
        assert!(
            !listed,
            "[{}] the host segment is listed: {}",
            m.name,
            o.describe()
        );
    });
    drop(shm);
}

// ---------------------------------------------------------------------------
// Lifetime: nothing of a sandbox outlives its run.
// ---------------------------------------------------------------------------

/// Host processes whose command line mentions `needle` (the sleeps, and
/// agentjail's own processes whose script contains them).
fn host_processes_mentioning(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(raw) = std::fs::read(e.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&raw).replace('\0', " ");
            if text.contains(needle) {
                found.push(pid);
            }
        }
    }
    found
}

/// Shell that waits (bounded) until every `sleep N` of `numbers` runs in the
/// sandbox, then prints `seen=COUNT`.
fn wait_for_sleeps(numbers: &[u64]) -> String {
    let cases = numbers
        .iter()
        .map(|n| format!("'sleep {n} '"))
        .collect::<Vec<_>>()
        .join("|");
    format!(
        "i=0; while [ $i -lt 200 ]; do n=0; \
           for f in /proc/[0-9]*/cmdline; do case \"$(tr '\\0' ' ' < $f 2>/dev/null)\" in {cases}) n=$((n+1));; esac; done; \
           [ $n -ge {} ] && break; i=$((i+1)); sleep 0.05; done; echo seen=$n;",
        numbers.len()
    )
}

/// Fails naming the leftovers (after killing them) if any process mentions a number.
fn assert_none_left(mode: &Mode, numbers: &[u64], o: &Outcome) {
    let left: Vec<i32> = numbers
        .iter()
        .flat_map(|n| host_processes_mentioning(&n.to_string()))
        .collect();
    let described: Vec<String> = left
        .iter()
        .map(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|r| String::from_utf8_lossy(&r).replace('\0', " "))
                .unwrap_or_default();
            format!("{p}: {cmd}")
        })
        .collect();
    kill_pids(&left);
    assert!(
        left.is_empty(),
        "[{}] sandbox processes survived the run: {described:?}\n{}",
        mode.name,
        o.describe()
    );
}

#[test]
fn timeout_kills_a_double_forked_daemon() {
    for_each_mode(|m| {
        let (daemon, fg) = (unique_number(), unique_number());
        let script = format!(
            "(setsid sleep {daemon} &) ; {} sleep {fg}",
            wait_for_sleeps(&[daemon])
        );
        let o = m.sh_in("short", &script);
        o.assert_exit(124);
        assert_eq!(
            o.json["timed_out"],
            serde_json::Value::Bool(true),
            "{}",
            o.describe()
        );
        assert_eq!(
            o.get("seen"),
            "1",
            "the daemon never started: {}",
            o.describe()
        );
        assert_none_left(m, &[daemon, fg], &o);
    });
}

#[test]
fn no_sandbox_process_survives_the_run() {
    for_each_mode(|m| {
        let n: Vec<u64> = (0..4).map(|_| unique_number()).collect();
        let script = format!(
            "sleep {} & (setsid sleep {} &) ; nohup sleep {} >/dev/null 2>&1 & \
             (trap '' HUP INT TERM; exec sleep {}) >/dev/null 2>&1 & {} exit 0",
            n[0],
            n[1],
            n[2],
            n[3],
            wait_for_sleeps(&n)
        );
        let o = m.sh(&script);
        o.assert_exit(0);
        assert_eq!(
            o.get("seen"),
            "4",
            "the background processes never started: {}",
            o.describe()
        );
        assert_none_left(m, &n, &o);
    });
}

/// The kernel clears a parent-death signal when the effective uid changes
/// (prctl(2)), and run by root pid 1's host uid does change (0 -> 65534):
/// pid 1 sets the signal again after the switch and then checks that the
/// launcher's end of its channel is still open, so a killed launcher takes
/// the whole sandbox down in both modes.
#[test]
fn sigkill_to_the_launcher_takes_the_sandbox_down() {
    for_each_mode(|m| {
        // Another run would clean up this one's leftovers (agentjail removes
        // the cgroups of killed launchers): no other test may run meanwhile.
        let _alone = common::no_other_runs();
        let n = unique_number();
        let sleep_argv = ["sleep".to_string(), n.to_string()];
        let argv: Vec<&str> = sleep_argv.iter().map(String::as_str).collect();
        let script = format!("{GUARD}sleep {n}; echo after");
        let mut launcher = m
            .run_command("long", "sh", &[("script", &script)], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting agentjail");
        let started = poll_until(Duration::from_secs(30), || {
            !host_processes(&argv).is_empty()
        });
        if !started {
            let _ = launcher.kill();
            let status = launcher.wait();
            panic!(
                "[{}] the sandboxed `sleep {n}` never appeared on the host (agentjail: {status:?})",
                m.name
            );
        }
        launcher.kill().expect("SIGKILL to agentjail");
        let _ = launcher.wait();
        let gone = poll_until(Duration::from_secs(10), || {
            host_processes_mentioning(&n.to_string()).is_empty()
        });
        let left = host_processes_mentioning(&n.to_string());
        kill_pids(&left);
        assert!(
            gone,
            "[{}] WEAKNESS: sandbox processes {left:?} outlived the SIGKILLed launcher by 10 s",
            m.name
        );
    });
}

// ---------------------------------------------------------------------------
// Beyond the required list.
// ---------------------------------------------------------------------------

/// Regression: a program under a bind whose target differs from its source
/// (`/opt/probe/probe`, bound from the fixture's directory) is looked up on
/// the host at its source and executed at its target; it once exited 127.
#[test]
fn program_under_a_retargeted_bind_runs() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let cmd = m.run_command("probe", "probe_opt", &[("what", "getpid")], &[]);
        let out = m.output(cmd);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !(out.status.code() == Some(127) && text.contains("not found")),
            "[{}] {}/probe, bound at {}, is not found: {text}",
            m.name,
            fixture().probe_dir.display(),
            common::PROBE_TARGET
        );
        let o = m.execute(m.run_command("probe", "probe_opt", &[("what", "getpid")], &[]));
        o.assert_probe_done();
    });
}

/// A host directory handed to the tool as its stdin gives no way to its
/// files (Landlock: they are not beneath the sandbox's root).
#[test]
fn stdin_directory_gives_no_access_to_host_files() {
    if !probe_available() {
        return;
    }
    let n = unique_number();
    let dir = tempfile::Builder::new()
        .prefix("agentjail-stdin-dir-")
        .tempdir()
        .expect("tempdir");
    let content = format!("stdin-dir-secret-{n}");
    let name = "secret";
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join(name), &content).unwrap();
        std::fs::set_permissions(
            dir.path().join(name),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    for_each_mode(|m| {
        let mut cmd = m.probe_command("stdin_dir", &[name]);
        cmd.stdin(std::fs::File::open(dir.path()).expect("opening the directory"));
        let o = m.execute(cmd);
        o.assert_probe_done();
        o.assert_failed("openat0");
        o.assert_failed("open_after_fchdir");
        let parent_file = o.lines().get("openat0_parent_file").cloned();
        assert!(
            parent_file.is_none_or(|v| !v.starts_with("ok")),
            "[{}] a file next to the directory was opened: {}",
            m.name,
            o.describe()
        );
        assert!(
            !o.stdout.contains(&content),
            "[{}] the host file was read: {}",
            m.name,
            o.describe()
        );
    });
}

/// The x32 and i386 entry points do not bypass the filter: an x32 call gets
/// ENOSYS or EPERM, `int 0x80` kills the process (SIGSYS, or SIGSEGV where
/// the kernel has no 32-bit emulation) or fails.
#[test]
fn foreign_abi_syscalls_are_refused() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let o = m.execute(m.probe_command("compat", &[]));
        o.assert_one_of("x32_unshare", &["ENOSYS", "EPERM"]);
        match o.lines().get("int80_unshare") {
            Some(v) => assert!(
                !v.starts_with("ok"),
                "[{}] i386 unshare succeeded: {}",
                m.name,
                o.describe()
            ),
            None => {
                let sig = o.json["signal"].as_i64();
                assert!(
                    sig == Some(libc::SIGSYS as i64) || sig == Some(libc::SIGSEGV as i64),
                    "[{}] the probe ended without a result for int 0x80: {}",
                    m.name,
                    o.describe()
                );
            }
        }
    });
}

/// With the host's network (`network = "host"`), Landlock's scope (ABI 6)
/// still keeps the tool off the host's abstract unix sockets.
#[test]
fn host_abstract_socket_unreachable_even_with_host_network() {
    use std::os::linux::net::SocketAddrExt;
    if !probe_available() {
        return;
    }
    let name = format!("agentjail-test-{}", unique_number());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .expect("abstract address");
    let listener =
        std::os::unix::net::UnixListener::bind_addr(&addr).expect("binding an abstract socket");
    listener.set_nonblocking(true).expect("nonblocking");
    for_each_mode(|m| {
        let o = m.execute(m.run_command(
            common::HOSTNET_ROLE,
            "probe",
            &[("what", "connect_abstract")],
            &[&name],
        ));
        o.assert_probe_done();
        if o.json["confinement"]["landlock_abi"].as_i64().unwrap_or(0) < 6 {
            common::skip("Landlock ABI 6 (abstract socket scoping) is not available");
            return;
        }
        o.assert_failed("connect_abstract");
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!(
                "[{}] the host socket saw a connection ({other:?}): {}",
                m.name,
                o.describe()
            ),
        }
    });
}
