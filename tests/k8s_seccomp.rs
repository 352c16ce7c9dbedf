//! The seccomp profile `agentjail k8s render --seccomp-out` writes for the
//! nodes, against agentjail's own filter (the same table):
//!
//! * for every system call in the table, the profile's rules say what the
//!   table says (a model of the OCI semantics, in this file);
//! * libseccomp (Debian's python3-seccomp, as runc and crun use it) takes
//!   every rule, and compiles the profile;
//! * the calls whose treatment depends on their arguments answer the same
//!   probes alike in the kernel, once under agentjail's filter and once
//!   under the profile loaded by libseccomp;
//! * agentjail itself runs a tool under the profile (the launcher's needs,
//!   `k8s::seccomp::LAUNCHER_NEEDS`, are allowed), also as the pod runs it:
//!   UID 65534, no capabilities, no_new_privs, the ConfigMap's profiles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use agentjail::k8s::seccomp::{OciArg, OciProfile, OciSyscall, LAUNCHER_NEEDS};
use agentjail::sandbox::seccomp::{
    build_filters, policy_view, ArgOp, DenyWhen, EntryAction, FilterOptions,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
const PYTHON: &str = "/usr/bin/python3";

/// Runs a command that must succeed; its output.
fn succeeded(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn rendered_profile(dir: &Path) -> (PathBuf, OciProfile) {
    let path = dir.join("profile.json");
    succeeded(
        Command::new(BIN)
            .args(["k8s", "render", "--role", "files_agent", "--seccomp-out"])
            .arg(&path)
            .env_remove("AGENTJAIL_PROFILES"),
    );
    let profile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, profile)
}

/// What a rule set answers for one call with these arguments, as libseccomp
/// orders it: a matching ERRNO rule before a matching ALLOW, no match the
/// default. `Ok(())` for allowed, `Err(errno)` otherwise.
fn oci_answer(p: &OciProfile, name: &str, args: &[u64; 6]) -> Result<(), u32> {
    let matches = |s: &&OciSyscall| {
        s.names.iter().any(|n| n == name) && s.args.iter().all(|a| arg_holds(a, args))
    };
    let hits: Vec<&OciSyscall> = p.syscalls.iter().filter(matches).collect();
    if let Some(e) = hits.iter().find(|s| s.action == "SCMP_ACT_ERRNO") {
        return Err(e.errno_ret.unwrap_or(1));
    }
    if hits.iter().any(|s| s.action == "SCMP_ACT_ALLOW") {
        return Ok(());
    }
    Err(p.default_errno_ret)
}

fn arg_holds(a: &OciArg, args: &[u64; 6]) -> bool {
    let v = args[a.index as usize];
    match a.op.as_str() {
        "SCMP_CMP_MASKED_EQ" => v & a.value == a.value_two,
        "SCMP_CMP_EQ" => v == a.value,
        "SCMP_CMP_NE" => v != a.value,
        "SCMP_CMP_GE" => v >= a.value,
        other => panic!("op {other} not modelled"),
    }
}

/// What agentjail's filter answers (the table's semantics, low 32 bits).
fn table_answer(denials: &[DenyWhen], args: &[u64; 6]) -> Result<(), u32> {
    let holds = |d: &DenyWhen| {
        d.all.iter().all(|c| {
            let v = args[c.arg as usize] as u32;
            match c.op {
                ArgOp::Eq(x) => v == x,
                ArgOp::Ne(x) => v != x,
                ArgOp::MaskedEq { mask, value } => v & mask == value,
            }
        })
    };
    if denials.iter().any(holds) {
        Err(1)
    } else {
        Ok(())
    }
}

/// A denial "argument not one of these values": its off-list values get the
/// profile's default ENOSYS instead of EPERM (see src/k8s/seccomp.rs).
fn not_one_of(denials: &[DenyWhen], args: &[u64; 6]) -> bool {
    denials.iter().any(|d| {
        d.all.len() > 1
            && d.all
                .iter()
                .all(|c| matches!(c.op, ArgOp::Ne(_)) && c.arg == d.all[0].arg)
            && table_answer(std::slice::from_ref(d), args).is_err()
    })
}

/// Argument vectors around every value a denial names: the value, with
/// the upper 32 bits set, with other low bits set, and zero.
fn probes(denials: &[DenyWhen]) -> Vec<[u64; 6]> {
    let mut out = vec![[0u64; 6]];
    let conds: Vec<_> = denials.iter().flat_map(|d| d.all.iter()).collect();
    for d in denials {
        let mut base = [0u64; 6];
        for c in d.all {
            base[c.arg as usize] = match c.op {
                ArgOp::Eq(x) => u64::from(x),
                ArgOp::MaskedEq { value, .. } => u64::from(value),
                ArgOp::Ne(x) => u64::from(x) ^ 0x4000,
            };
        }
        out.push(base);
        for c in &conds {
            let x = match c.op {
                ArgOp::Eq(x) | ArgOp::Ne(x) => u64::from(x),
                ArgOp::MaskedEq { value, .. } => u64::from(value),
            };
            for v in [x, x | 1 << 32, x | 0x80, x ^ 1] {
                let mut a = base;
                a[c.arg as usize] = v;
                out.push(a);
            }
        }
    }
    out
}

#[test]
fn the_profile_says_what_the_table_says_for_every_syscall() {
    let dir = tempfile::tempdir().unwrap();
    let (_, profile) = rendered_profile(dir.path());
    same_as_table(&profile, FilterOptions::default());
    // A role with `unix_sockets = true`: agentjail's filter and the profile
    // both leave AF_UNIX sockets alone.
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(profiles.join("roles")).unwrap();
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/tools.toml");
    std::fs::copy(tools, profiles.join("tools.toml")).unwrap();
    std::fs::write(
        profiles.join("roles/unix.toml"),
        "allowed_tools = [\"echo_text\"]\n[sandbox]\nunix_sockets = true\n",
    )
    .unwrap();
    let path = dir.path().join("unix.json");
    succeeded(
        Command::new(BIN)
            .arg("--profiles")
            .arg(&profiles)
            .args(["k8s", "render", "--role", "unix", "--seccomp-out"])
            .arg(&path),
    );
    let unix: OciProfile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_ne!(unix, profile);
    same_as_table(
        &unix,
        FilterOptions {
            deny_unix_sockets: false,
        },
    );
}

fn same_as_table(profile: &OciProfile, options: FilterOptions) {
    assert_eq!(profile.default_action, "SCMP_ACT_ERRNO");
    assert_eq!(profile.default_errno_ret, 38);
    assert_eq!(profile.architectures, ["SCMP_ARCH_X86_64"]);
    let view = policy_view(options);
    let mut checked = 0;
    for entry in view.table {
        let mut denials: Vec<DenyWhen> = match entry.action {
            EntryAction::AllowUnless(d) => d.to_vec(),
            _ => Vec::new(),
        };
        for e in view.extra.iter().filter(|e| e.name == entry.name) {
            denials.extend(e.denials.iter().copied());
        }
        let name = entry.name;
        let launcher = LAUNCHER_NEEDS.iter().any(|(n, _)| *n == name);
        let zero = [0u64; 6];
        match entry.action {
            EntryAction::Deny if launcher => assert_eq!(oci_answer(profile, name, &zero), Ok(())),
            EntryAction::Deny => assert_eq!(oci_answer(profile, name, &zero), Err(1), "{name}"),
            EntryAction::Enosys => {
                assert_eq!(oci_answer(profile, name, &zero), Err(38), "{name}");
                assert!(!profile
                    .syscalls
                    .iter()
                    .any(|s| s.names.iter().any(|n| n == name)));
            }
            EntryAction::Allow | EntryAction::AllowUnless(_) => {
                for args in probes(&denials) {
                    let want = table_answer(&denials, &args);
                    let got = oci_answer(profile, name, &args);
                    if want == Err(1) && got == Err(38) && not_one_of(&denials, &args) {
                        continue;
                    }
                    assert_eq!(got, want, "{name} {args:x?}");
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, view.table.len());
    // Only the launcher's needs differ from the table, and each is a Deny there.
    for (name, _) in LAUNCHER_NEEDS {
        let e = view.table.iter().find(|e| e.name == *name).unwrap();
        assert_eq!(e.action, EntryAction::Deny, "{name}");
    }
}

/// Builds the profile with libseccomp as runc does (names this libseccomp
/// does not know are skipped), then runs `then`.
const LOADER: &str = r#"
import ctypes, json, os, sys, seccomp
OPS = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_GE": seccomp.GE,
       "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
def action(name, errno):
    return seccomp.ALLOW if name == "SCMP_ACT_ALLOW" else seccomp.ERRNO(errno)
p = json.load(open(sys.argv[1]))
f = seccomp.SyscallFilter(defaction=action(p["defaultAction"], p["defaultErrnoRet"]))
rules = 0
for s in p["syscalls"]:
    args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in s.get("args", [])]
    for n in s["names"]:
        if seccomp.resolve_syscall(seccomp.Arch.NATIVE, n) < 0:
            continue
        f.add_rule(action(s["action"], s.get("errnoRet", 1)), n, *args)
        rules += 1
mode = sys.argv[2]
if mode == "compile":
    with open(os.devnull, "w") as null:
        f.export_bpf(null)
    print(rules)
elif mode == "probe":
    libc = ctypes.CDLL(None, use_errno=True)
    probes = json.loads(sys.argv[3])
    f.load()
    out = []
    for nr, args in probes:
        ctypes.set_errno(0)
        rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
        if rc == 0 and nr == 56:
            os._exit(0)
        out.append(0 if rc >= 0 else ctypes.get_errno())
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
elif mode == "exec":
    f.load()
    os.execv(sys.argv[3], sys.argv[3:])
"#;

fn has_libseccomp() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import seccomp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip("python3-seccomp for /usr/bin/python3 (.ci/setup.d/k8s.sh installs it)");
    }
    ok
}

#[test]
fn libseccomp_takes_every_rule_and_compiles_the_profile() {
    if !has_libseccomp() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, profile) = rendered_profile(dir.path());
    let out = succeeded(
        Command::new(PYTHON)
            .args(["-c", LOADER])
            .arg(&path)
            .arg("compile"),
    );
    let rules: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let names: usize = profile.syscalls.iter().map(|s| s.names.len()).sum();
    // Only names newer than this libseccomp may be skipped.
    assert!(
        rules + 8 >= names && rules > 200,
        "{rules} of {names} rules taken"
    );
}

/// The socket families probed.
const AF_UNIX: u64 = libc::AF_UNIX as u64;
const AF_INET: u64 = libc::AF_INET as u64;
const AF_INET6: u64 = libc::AF_INET6 as u64;
const AF_NETLINK: u64 = libc::AF_NETLINK as u64;
const AF_PACKET: u64 = libc::AF_PACKET as u64;
const AF_ALG: u64 = libc::AF_ALG as u64;
/// -1: every probed ioctl fails with EBADF when it is allowed.
const BAD_FD: u64 = u64::MAX;

/// (number, arguments) of calls that are safe to make whatever the answer.
fn kernel_probes() -> Vec<(i64, [u64; 6])> {
    let ioctl = |req: u64| (libc::SYS_ioctl, [BAD_FD, req, 0, 0, 0, 0]);
    let socket = |family: u64, ty: u64| (libc::SYS_socket, [family, ty, 0, 0, 0, 0]);
    let pair = |ty: u64| (libc::SYS_socketpair, [AF_UNIX, ty, 0, 0, 0, 0]);
    let clone = |flags: u64| {
        (
            libc::SYS_clone,
            [flags | libc::SIGCHLD as u64, 0, 0, 0, 0, 0],
        )
    };
    let tiocsti = libc::TIOCSTI;
    vec![
        ioctl(tiocsti),
        ioctl(tiocsti | 1 << 32),
        ioctl(libc::TIOCLINUX),
        ioctl(libc::TIOCSCTTY),
        ioctl(libc::FIONREAD),
        socket(AF_INET, libc::SOCK_STREAM as u64),
        socket(AF_INET, libc::SOCK_RAW as u64),
        socket(AF_INET, libc::SOCK_RAW as u64 | libc::SOCK_CLOEXEC as u64),
        socket(AF_INET6, libc::SOCK_DGRAM as u64),
        socket(AF_INET6, libc::SOCK_RAW as u64),
        socket(AF_UNIX, libc::SOCK_STREAM as u64),
        socket(AF_NETLINK, libc::SOCK_RAW as u64),
        socket(AF_PACKET, libc::SOCK_RAW as u64),
        socket(AF_ALG, 5),
        pair(libc::SOCK_DGRAM as u64),
        pair(libc::SOCK_STREAM as u64),
        (libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
        (libc::SYS_personality, [0x0040000, 0, 0, 0, 0, 0]),
        clone(libc::CLONE_NEWUSER as u64),
        clone(libc::CLONE_NEWNET as u64),
        clone(0),
    ]
}

/// The answers (0 or errno) under agentjail's own filter, in a forked child.
fn under_agentjail(probes: &[(i64, [u64; 6])]) -> Vec<i32> {
    let filters = build_filters().unwrap();
    let mut results = vec![0i32; probes.len()];
    let mut fds = [0; 2];
    // SAFETY: pipe with a two-element array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child makes only raw system calls and exits; it does not
    // allocate (the filters and the result buffer exist before the fork).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if filters.apply().is_err() {
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(2) };
        }
        for (i, (nr, a)) in probes.iter().enumerate() {
            // SAFETY: each probe is harmless whatever it is answered (bad
            // fds, null pointers, clones whose child exits at once).
            let rc = unsafe { libc::syscall(*nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
            if rc == 0 && *nr == libc::SYS_clone {
                // SAFETY: the clone's child leaves at once.
                unsafe { libc::_exit(0) };
            }
            results[i] = if rc >= 0 {
                if *nr == libc::SYS_socket {
                    // SAFETY: closing the socket just made.
                    unsafe { libc::close(rc as i32) };
                }
                0
            } else {
                std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
            };
        }
        let bytes = results.len() * 4;
        // SAFETY: writing the result buffer to the pipe, then leaving.
        unsafe {
            libc::write(fds[1], results.as_ptr().cast(), bytes);
            libc::_exit(0);
        }
    }
    // SAFETY: closing the write end in the parent.
    unsafe { libc::close(fds[1]) };
    let mut buf = vec![0u8; results.len() * 4];
    // SAFETY: reading into a buffer of that length.
    let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
    let mut status = 0;
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(n as usize, buf.len(), "child status {status}");
    buf.chunks(4)
        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn argument_dependent_calls_answer_alike_in_the_kernel() {
    if !has_libseccomp() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = rendered_profile(dir.path());
    let probes = kernel_probes();
    let ours = under_agentjail(&probes);
    let list: Vec<(i64, Vec<u64>)> = probes.iter().map(|(n, a)| (*n, a.to_vec())).collect();
    let out = succeeded(
        Command::new(PYTHON)
            .args(["-c", LOADER])
            .arg(&path)
            .arg("probe")
            .arg(serde_json::to_string(&list).unwrap()),
    );
    let theirs: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    // The probes mean something: agentjail refuses TIOCSTI (also with the
    // upper bits set) and raw sockets, and allows FIONREAD (EBADF).
    assert_eq!(&ours[..2], &[libc::EPERM, libc::EPERM]);
    assert_eq!(ours[4], libc::EBADF);
    assert_eq!(ours[6], libc::EPERM);
    for (i, (p, (a, b))) in probes.iter().zip(ours.iter().zip(&theirs)).enumerate() {
        // Off-list socket families and personas: ENOSYS in the profile.
        let off_list = matches!(i, 12 | 13 | 17);
        if off_list {
            assert_eq!((*a, *b), (libc::EPERM, libc::ENOSYS), "probe {i} {p:x?}");
        } else {
            assert_eq!(a, b, "probe {i} {p:x?}: agentjail {a}, profile {b}");
        }
    }
}

#[test]
fn agentjail_runs_a_tool_under_the_profile_it_renders() {
    if !has_libseccomp() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = rendered_profile(dir.path());
    let run = |under_profile: bool| {
        let mut c = if under_profile {
            let mut c = Command::new(PYTHON);
            c.args(["-c", LOADER]).arg(&path).arg("exec").arg(BIN);
            c
        } else {
            Command::new(BIN)
        };
        c.args([
            "run",
            "--role",
            "files_agent",
            "echo_text",
            "--param",
            "text=under-profile",
        ])
        .env_remove("AGENTJAIL_PROFILES")
        .env("AGENTJAIL_AUDIT_LOG", dir.path().join("audit.jsonl"))
        .env("AGENTJAIL_STATE_DIR", dir.path().join("state"))
        .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
        .output()
        .unwrap()
    };
    let plain = run(false);
    if !plain.status.success() {
        common::skip(&format!(
            "agentjail run does not work here ({})",
            String::from_utf8_lossy(&plain.stderr).trim()
        ));
        return;
    }
    let out = run(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "under-profile\n");
}

/// A call as the seed's pod makes it: the ConfigMap's profile directory,
/// UID and GID 65534, no capabilities, no_new_privs, the rendered profile.
#[test]
fn the_pods_launcher_runs_a_tool_as_nobody_without_capabilities() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        common::skip("root and /usr/bin/setpriv, to drop to the pod's UID and capabilities");
        return;
    }
    if !has_libseccomp() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = rendered_profile(dir.path());
    let manifests =
        succeeded(Command::new(BIN).args(["k8s", "render", "--seed", "--format", "json"]));
    let list: serde_json::Value = serde_json::from_slice(&manifests.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    let data = &items.iter().find(|i| i["kind"] == "ConfigMap").unwrap()["data"];
    let pod = items.iter().find(|i| i["kind"] == "Pod").unwrap();
    assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 65534);
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(profiles.join("roles")).unwrap();
    std::fs::write(
        profiles.join("tools.toml"),
        data["tools.toml"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        profiles.join("roles/agent_sandbox.toml"),
        data["agent_sandbox.toml"].as_str().unwrap(),
    )
    .unwrap();
    let writable = dir.path().join("var");
    std::fs::create_dir(&writable).unwrap();
    let chown = |p: &Path| std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    chown(&writable);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"])
        .arg(PYTHON)
        .args(["-c", LOADER])
        .arg(&path)
        .arg("exec")
        .arg(BIN)
        .args([
            "run",
            "--role",
            "agent_sandbox",
            "echo_text",
            "--param",
            "text=in-the-pod",
        ])
        .env("AGENTJAIL_PROFILES", &profiles)
        .env("AGENTJAIL_AUDIT_LOG", writable.join("audit.jsonl"))
        .env("AGENTJAIL_STATE_DIR", writable.join("state"))
        .env_remove("AGENTJAIL_CGROUP_PARENT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in-the-pod\n");
    // The call was audited, as the pod's audit sidecar would print it.
    let log = std::fs::read_to_string(writable.join("audit.jsonl")).unwrap();
    assert!(log.lines().count() >= 2, "{log}");
}
