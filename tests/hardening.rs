#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hardening tests of issue 11, items 5 to 7: binds open no channel to the
//! host (unix sockets, FIFOs, device nodes, a bind of `/tmp` itself), the
//! tool holds no more than the sandbox user (supplementary groups, the
//! caller's output files), and what a tool can learn or exhaust of the host
//! (`/sys`, `/proc` information, ptys, inotify instances).
//!
//! Same rules as `tests/escape.rs`: hostile code runs only inside the
//! sandbox (scripts start with `common::GUARD`, the probe has its own guard),
//! and `Mode::execute` checks confinement before any result is read. Host
//! fixtures (sockets, FIFOs, files) live in directories of the test's own
//! under the fixture, and every listener is the test's own.

mod common;

use common::{
    for_each_mode, probe_available, profiles_with, test_dir, unique_number, Mode, ModeKind, GUARD,
};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The test's own host services in a directory of its own: a stream
/// listener and a datagram socket, both 0777 (as a careless daemon's would
/// be), and a FIFO. Nothing else listens there.
struct HostSockets {
    dir: PathBuf,
    stream: UnixListener,
    dgram: UnixDatagram,
}

impl HostSockets {
    fn new(name: &str) -> HostSockets {
        let dir = test_dir(name);
        let stream = UnixListener::bind(dir.join("host.sock")).expect("binding a host socket");
        stream.set_nonblocking(true).unwrap();
        let dgram = UnixDatagram::bind(dir.join("host.dgram")).expect("binding a host socket");
        dgram.set_nonblocking(true).unwrap();
        chmod(&dir.join("host.sock"), 0o777);
        chmod(&dir.join("host.dgram"), 0o777);
        let fifo = std::ffi::CString::new(dir.join("host.fifo").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path in the test's own directory.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);
        chmod(&dir.join("host.fifo"), 0o666);
        HostSockets { dir, stream, dgram }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Fails when anything reached the host's sockets.
    fn assert_untouched(&self, m: &Mode, what: &str) {
        match self.stream.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!(
                "[{}] {what}: the host's stream socket saw a connection ({other:?})",
                m.name
            ),
        }
        let mut buf = [0u8; 64];
        match self.dgram.recv(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!(
                "[{}] {what}: the host's datagram socket received data ({other:?})",
                m.name
            ),
        }
    }
}

/// Every way of `unix_reach` failed.
fn assert_nothing_reached(o: &common::Outcome) {
    for key in [
        "unix_stream_connect",
        "unix_dgram_sendto",
        "unix_dgram_connect",
        "pair_dgram_sendto",
        "pair_dgram_sendmsg",
        "pair_dgram_connect",
        "pair_stream_sendto",
        "pair_stream_sendmsg",
        "pair_stream_connect",
        // (A seqpacket pair's sendto ignores the address and reaches its own
        // peer: the host-side check covers it.)
        "pair_seqpacket_connect",
    ] {
        if let Some(v) = o.lines().get(key) {
            assert!(
                !v.starts_with("ok"),
                "[{}] {key} reached a host socket: {}",
                o.mode,
                o.describe()
            );
        }
    }
}

/// A run that must be refused before the tool starts: exit 125, a message
/// that contains every one of `needles`, and no JSON result of a tool.
fn assert_refused(m: &Mode, cmd: Command, needles: &[&str]) {
    assert_refused_with(m, cmd, 125, needles)
}

/// [`assert_refused`] with another exit code (65 for a bad parameter).
fn assert_refused_with(m: &Mode, cmd: Command, code: i32, needles: &[&str]) {
    let out = m.output(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "[{}] expected a refusal ({code}): stdout {stdout} stderr {stderr}",
        m.name
    );
    for n in needles {
        assert!(
            stderr.contains(n) || stdout.contains(n),
            "[{}] the refusal does not say {n:?}: stdout {stdout} stderr {stderr}",
            m.name
        );
    }
    assert!(
        !stdout.contains("\"confinement\":{"),
        "[{}] the tool ran: {stdout}",
        m.name
    );
}

// ---------------------------------------------------------------------------
// Item 5: binds never open a channel to the host.
// ---------------------------------------------------------------------------

/// A bind whose source is a socket, a FIFO or a device node is refused
/// unless the role grants that exact path with its `kind`; a path parameter
/// naming one is refused too.
#[test]
fn bind_refuses_host_socket() {
    if !probe_available() {
        return;
    }
    let host = HostSockets::new("bind-socket");
    for (name, source) in [
        ("socket", host.path("host.sock")),
        ("fifo", host.path("host.fifo")),
        ("device", "/dev/null".to_string()),
    ] {
        let profiles = profiles_with(
            &format!("bind-{name}-{}", unique_number()),
            &format!("{{ source = \"{source}\", target = \"/opt/x\" }},"),
            "",
        );
        for_each_mode(|m| {
            assert_refused(
                m,
                m.run_in(&profiles, "probe", &[("what", "unix_reach")], &["/opt/x"]),
                &[&source, name, "kind"],
            );
            host.assert_untouched(m, name);
        });
    }
    // The same through a path parameter (bound read-only by the catalog):
    // a bad parameter (65), found before the launch.
    let profiles = profiles_with(&format!("bind-param-{}", unique_number()), "", "");
    let sock = host.path("host.sock");
    for_each_mode(|m| {
        assert_refused_with(
            m,
            m.run_in(
                &profiles,
                "probe_path",
                &[("what", "unix_reach"), ("path", &sock)],
                &[],
            ),
            65,
            &[&sock, "is a socket"],
        );
        host.assert_untouched(m, "path parameter");
    });
}

/// A socket inside a bound directory (read-only or read-write) cannot be
/// reached by any means: stream connect, datagram sendto or connect, or a
/// socketpair end re-aimed at it.
#[test]
fn connect_to_host_socket_in_bound_dir_refused() {
    if !probe_available() {
        return;
    }
    let host = HostSockets::new("in-dir");
    let dir = host.dir.display().to_string();
    for mode in ["ro", "rw"] {
        let profiles = profiles_with(
            &format!("in-dir-{mode}-{}", unique_number()),
            &format!("{{ source = \"{dir}\", mode = \"{mode}\" }},"),
            "",
        );
        for_each_mode(|m| {
            for target in ["host.sock", "host.dgram"] {
                let path = host.path(target);
                let o =
                    m.execute(m.run_in(&profiles, "probe", &[("what", "unix_reach")], &[&path]));
                o.assert_probe_done();
                assert_nothing_reached(&o);
                host.assert_untouched(m, &format!("{mode} bind, {target}"));
            }
        });
    }
}

/// What keeps working without the opt-in: stream socketpairs. With
/// `unix_sockets = true`, a socket the tool binds in its own /tmp works, and
/// a socket granted with `kind = "socket"` is reachable (and nothing else
/// changes about other binds' kinds).
#[test]
fn unix_socketpair_and_granted_socket_work() {
    if !probe_available() {
        return;
    }
    let host = HostSockets::new("granted");
    let default = profiles_with(&format!("unix-default-{}", unique_number()), "", "");
    let granted = profiles_with(
        &format!("unix-granted-{}", unique_number()),
        &format!(
            "{{ source = \"{}\", target = \"/run/host.sock\", kind = \"socket\" }},",
            host.path("host.sock")
        ),
        "unix_sockets = true",
    );
    for_each_mode(|m| {
        let o = m.execute(m.run_in(&default, "probe", &[("what", "unix_local")], &[]));
        o.assert_probe_done();
        assert_eq!(o.get("socketpair_stream"), "ok", "{}", o.describe());
        o.assert_failed("own_tmp_socket");
        let o = m.execute(m.run_in(&granted, "probe", &[("what", "unix_local")], &[]));
        o.assert_probe_done();
        assert_eq!(o.get("own_tmp_socket"), "ok", "{}", o.describe());
        let o = m.execute(m.run_in(
            &granted,
            "probe",
            &[("what", "unix_reach")],
            &["/run/host.sock"],
        ));
        o.assert_probe_done();
        assert_eq!(o.get("unix_stream_connect"), "ok", "{}", o.describe());
        assert!(
            host.stream.accept().is_ok(),
            "[{}] the granted socket saw no connection",
            m.name
        );
    });
    // A socket bind without the opt-in is a profile error that says why.
    let bad = profiles_with(
        &format!("unix-no-optin-{}", unique_number()),
        &format!(
            "{{ source = \"{}\", kind = \"socket\" }},",
            host.path("host.sock")
        ),
        "",
    );
    for_each_mode(|m| {
        let out = m.output(m.run_in(&bad, "probe", &[("what", "getpid")], &[]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "[{}] {stderr}", m.name);
        assert!(stderr.contains("unix_sockets"), "[{}] {stderr}", m.name);
    });
}

/// A bind of `/tmp` itself shows the host's `/tmp`, not the sandbox's own
/// root; read-write, it gives no way to rewrite the sandbox's `/etc`.
#[test]
fn bind_of_tmp_shows_host_tmp() {
    if !probe_available() {
        return;
    }
    let n = unique_number();
    let marker = tempfile::Builder::new()
        .prefix(&format!("agentjail-tmp-marker-{n}-"))
        .tempdir_in("/tmp")
        .expect("a marker directory in the host's /tmp");
    chmod(marker.path(), 0o755);
    std::fs::write(marker.path().join("m"), format!("host-tmp-{n}")).unwrap();
    chmod(&marker.path().join("m"), 0o644);
    let inside = marker.path().display().to_string();
    // Profiles, state and audit log outside /tmp, which the tool sees.
    let base = tempfile::Builder::new()
        .prefix("agentjail-tmp-bind-")
        .tempdir_in("/var/tmp")
        .expect("a directory in /var/tmp");
    chmod(base.path(), 0o755);
    for mode in ["ro", "rw"] {
        let profiles = common::profiles_with_in(
            base.path(),
            &format!("tmp-{mode}-{n}"),
            &format!("{{ source = \"/tmp\", mode = \"{mode}\" }},"),
            "",
        );
        let script = format!(
            "{GUARD}echo marker=$(cat {inside}/m); \
             [ /etc/passwd -ef /tmp/etc/passwd ] && echo same_etc=1; \
             [ -d /tmp/usr/bin ] && [ /usr/bin -ef /tmp/usr/bin ] && echo same_usr=1; \
             echo hostile >> /tmp/etc/passwd 2>/dev/null; \
             echo pwned=$(grep -c hostile /etc/passwd); echo end=1"
        );
        for_each_mode(|m| {
            let mut cmd = m.command_at(&profiles, &m.state_in(base.path()));
            cmd.args(["run", "--json", "--role", "probe", "sh", "--param"])
                .arg(format!("script={script}"));
            let o = m.execute(cmd);
            assert_eq!(o.get("end"), "1", "{}", o.describe());
            assert_eq!(
                o.get("marker"),
                format!("host-tmp-{n}"),
                "[{}] {mode} bind of /tmp does not show the host's /tmp: {}",
                m.name,
                o.describe()
            );
            for k in ["same_etc", "same_usr"] {
                assert!(
                    !o.lines().contains_key(k),
                    "[{}] {mode} bind of /tmp shows the sandbox's root ({k}): {}",
                    m.name,
                    o.describe()
                );
            }
            assert_eq!(o.get("pwned"), "0", "{}", o.describe());
        });
    }
}

// ---------------------------------------------------------------------------
// Item 6: identity.
// ---------------------------------------------------------------------------

/// The caller's supplementary groups are not the tool's: as root they are
/// dropped; unprivileged (where they cannot be dropped) the run is refused
/// unless the role opts in, and `doctor` says so.
#[test]
fn supplementary_groups_dropped() {
    if !probe_available() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        common::skip("setting supplementary groups for agentjail needs root");
        return;
    }
    let dir = test_dir("groups");
    let secret = dir.join("group-secret");
    std::fs::write(&secret, "group-secret-content").unwrap();
    std::os::unix::fs::chown(&secret, Some(0), Some(1500)).unwrap();
    chmod(&secret, 0o640);
    let bind = format!("{{ source = \"{}\" }},", dir.display());
    let plain = profiles_with(&format!("groups-{}", unique_number()), &bind, "");
    let keep = profiles_with(
        &format!("groups-keep-{}", unique_number()),
        &bind,
        "supplementary_groups = \"keep\"",
    );
    let script = format!(
        "{GUARD}grep '^Groups:' /proc/self/status; cat {} 2>/dev/null; echo; echo end=1",
        secret.display()
    );
    for_each_mode(|m| {
        let mut cmd = m.command_with_groups(&plain, "1500");
        cmd.args(["run", "--json", "--role", "probe", "sh", "--param"])
            .arg(format!("script={script}"));
        match m.kind {
            ModeKind::Root => {
                let o = m.execute(cmd);
                assert_eq!(o.get("end"), "1", "{}", o.describe());
                assert!(
                    !o.stdout.contains("group-secret-content"),
                    "[{}] the tool read a file of the caller's supplementary group: {}",
                    m.name,
                    o.describe()
                );
            }
            ModeKind::Unprivileged => {
                assert_refused(m, cmd, &["supplementary groups", "supplementary_groups"]);
                let mut doc = m.command_with_groups(&plain, "1500");
                doc.args(["doctor"]);
                let out = m.output(doc);
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    text.contains("supplementary groups"),
                    "[{}] doctor says nothing of the groups: {text}",
                    m.name
                );
                // Opted in: runs, and the README says the groups stay.
                let mut cmd = m.command_with_groups(&keep, "1500");
                cmd.args(["run", "--json", "--role", "probe", "sh", "--param"])
                    .arg(format!("script={script}"));
                let o = m.execute(cmd);
                assert_eq!(o.get("end"), "1", "{}", o.describe());
            }
        }
    });
}

/// When the caller's stdout and stderr are regular files, the tool gets
/// pipes: it cannot truncate the caller's files, and its output still lands
/// in them.
#[test]
fn stdout_file_cannot_be_truncated() {
    if !probe_available() {
        return;
    }
    let dir = test_dir("stdout-file");
    let profiles = profiles_with(&format!("stdout-{}", unique_number()), "", "");
    for_each_mode(|m| {
        let out_path = dir.join(format!("out-{}", m.name));
        let err_path = dir.join(format!("err-{}", m.name));
        for p in [&out_path, &err_path] {
            std::fs::write(p, "precious\n").unwrap();
            chmod(p, 0o666);
        }
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .expect("opening an output file")
        };
        let mut cmd = m.command_in(&profiles);
        cmd.args([
            "run",
            "--role",
            "probe",
            "probe",
            "--param",
            "what=truncate_std",
        ])
        .stdout(Stdio::from(open(&out_path)))
        .stderr(Stdio::from(open(&err_path)));
        let out = m.output_as_set(cmd);
        let text = std::fs::read_to_string(&out_path).unwrap();
        let err = std::fs::read_to_string(&err_path).unwrap();
        assert!(
            text.starts_with("precious\n") && err.starts_with("precious\n"),
            "[{}] the caller's file was truncated (exit {:?}): stdout file {text:?}, stderr file {err:?}",
            m.name,
            out.status.code()
        );
        assert!(
            text.contains("stdout_type=pipe") && text.contains("done"),
            "[{}] the tool's output did not reach the file: {text:?} {err:?}",
            m.name
        );
    });
}

// ---------------------------------------------------------------------------
// Item 7: information and shared resources.
// ---------------------------------------------------------------------------

/// `/sys` is not mounted unless the role asks for it; when it does,
/// `/sys/kernel/vmcoreinfo` and the firmware tables stay masked.
#[test]
fn sys_hidden_by_default() {
    if !probe_available() {
        return;
    }
    let with_sys = profiles_with(&format!("sys-{}", unique_number()), "", "sys = true");
    let script = "ls -A /sys 2>/dev/null | sed 's/^/sys=/'; \
                  echo vmcoreinfo=$(cat /sys/kernel/vmcoreinfo 2>/dev/null | wc -c); \
                  echo firmware=$(ls -A /sys/firmware 2>/dev/null | wc -l); echo end=1";
    for_each_mode(|m| {
        let o = m.sh(script);
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        assert!(
            !o.stdout.lines().any(|l| l.starts_with("sys=")),
            "[{}] /sys is visible by default: {}",
            m.name,
            o.describe()
        );
        let o = m.execute(m.run_in(
            &with_sys,
            "sh",
            &[("script", &format!("{GUARD}{script}"))],
            &[],
        ));
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        assert!(
            o.stdout.lines().any(|l| l == "sys=class"),
            "[{}] sys = true mounts no /sys: {}",
            m.name,
            o.describe()
        );
        assert_eq!(o.get("vmcoreinfo"), "0", "{}", o.describe());
        assert_eq!(o.get("firmware"), "0", "{}", o.describe());
    });
}

/// /proc tells the tool nothing of the host's boot, kernel configuration or
/// memory layout, and pid 1 is not called `agentjail`.
#[test]
fn proc_host_information_masked() {
    if !probe_available() {
        return;
    }
    let host_boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap_or_default()
        .trim()
        .to_string();
    let script = "for f in cmdline config.gz zoneinfo buddyinfo pagetypeinfo vmallocinfo \
                  iomem ioports modules slabinfo sched_debug timer_list kallsyms \
                  sys/kernel/random/boot_id; do \
                    echo size:$f=$(cat /proc/$f 2>/dev/null | wc -c); done; \
                  echo boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null); \
                  grep '^Name:' /proc/1/status | sed 's/^Name:[[:space:]]*/name=/'; \
                  echo comm=$(cat /proc/1/comm); echo end=1";
    for_each_mode(|m| {
        let o = m.sh(script);
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        for (k, v) in o.lines() {
            if let Some(f) = k.strip_prefix("size:") {
                assert_eq!(
                    v,
                    "0",
                    "[{}] /proc/{f} shows host data: {}",
                    m.name,
                    o.describe()
                );
            }
        }
        assert!(
            host_boot_id.is_empty() || !o.stdout.contains(&host_boot_id),
            "[{}] the host's boot_id is visible: {}",
            m.name,
            o.describe()
        );
        assert_ne!(o.get("name"), "agentjail", "{}", o.describe());
        assert_ne!(o.get("comm"), "agentjail", "{}", o.describe());
    });
}

/// The sandbox's devpts instance holds a bounded number of ptys.
#[test]
fn pty_pool_bounded() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let o = m.probe("ptys", &["64"]);
        let n: u32 = o.get("ptys").parse().unwrap();
        assert!(
            n <= 16,
            "[{}] the tool opened {n} ptys: {}",
            m.name,
            o.describe()
        );
        assert!(n >= 1, "[{}] no pty at all: {}", m.name, o.describe());
    });
}

/// The sandbox's user namespace bounds inotify instances (and the other
/// per-namespace counters), so a tool cannot use up the caller's.
#[test]
fn inotify_instances_bounded() {
    if !probe_available() {
        return;
    }
    let raised = profiles_with(
        &format!("inotify-{}", unique_number()),
        "",
        "user_limits = { inotify_instances = 24 }",
    );
    for_each_mode(|m| {
        let o = m.probe("inotify", &["200"]);
        let n: u32 = o.get("inotify").parse().unwrap();
        assert!(
            (1..=16).contains(&n),
            "[{}] the tool created {n} inotify instances: {}",
            m.name,
            o.describe()
        );
        let o = m.execute(m.run_in(&raised, "probe", &[("what", "inotify")], &["200"]));
        o.assert_probe_done();
        let n: u32 = o.get("inotify").parse().unwrap();
        assert!(
            n > 16 && n <= 24,
            "[{}] the role's limit of 24 gave {n}: {}",
            m.name,
            o.describe()
        );
        let o = m.sh("for f in /proc/sys/user/max_*; do echo ${f##*/}=$(cat $f); done");
        for ns in ["user", "mnt", "net", "pid", "ipc", "uts", "cgroup", "time"] {
            let key = format!("max_{ns}_namespaces");
            if let Some(v) = o.lines().get(&key) {
                assert_eq!(v, "0", "[{}] {key}: {}", m.name, o.describe());
            }
        }
    });
}
