//! Tests against the real kernel: a forked child installs the filters and
//! makes raw system calls, so the answers (EPERM, ENOSYS, allowed) are the
//! kernel's. Also the helpers `arch.rs`'s test forks with.
//!
//! Nothing here changes the policy; a failing check names its entry of
//! [`KERNEL_CHECKS`].

#![allow(clippy::unwrap_used)]

use super::compile::{build_filters, build_filters_with, FilterOptions, SeccompFilters};
use std::ffi::CString;

fn errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// -1 with the given errno.
fn fails_with(ret: libc::c_long, want: i32) -> bool {
    ret == -1 && errno() == want
}

/// Forks; the child optionally installs `filters`, runs `body` and exits
/// with its result. Returns the raw wait status. The child only makes
/// async-signal-safe calls (raw system calls, `_exit`).
pub(super) fn in_child(filters: Option<&SeccompFilters>, body: fn() -> i32) -> i32 {
    // SAFETY: the child only makes raw system calls and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match filters {
            None => body(),
            Some(f) => {
                // SAFETY: plain prctl with integer arguments.
                let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                if nnp != 0 {
                    200
                } else if f.apply().is_err() {
                    201
                } else {
                    body()
                }
            }
        };
        // SAFETY: ends the forked child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        assert!(r == -1 && errno() == libc::EINTR, "waitpid failed");
    }
}

const KERNEL_CHECKS: &[&str] = &[
    "getpid works",
    "keyctl -> EPERM",
    "unshare(CLONE_NEWUSER) -> EPERM",
    "clone(CLONE_NEWUSER|CLONE_FS) -> EPERM",
    "clone(CLONE_NEWNS|CLONE_FS) -> EPERM",
    "ioctl(TIOCSTI with upper bits set) -> EPERM",
    "ioctl(TIOCLINUX with upper bits set) -> EPERM",
    "ioctl(TIOCSTI) -> EPERM",
    "ioctl(TIOCGWINSZ) reaches the kernel (EBADF)",
    "clone3 -> ENOSYS",
    "syscall 1000 -> ENOSYS",
    "sysfs (absent from table) -> ENOSYS",
    "x32 getpid -> ENOSYS",
    "personality(0xffffffff) works",
    "personality(ADDR_NO_RANDOMIZE) -> EPERM",
    "socket(AF_UNIX) works",
    "socket(AF_NETLINK, SOCK_RAW) works",
    "socket(AF_PACKET) -> EPERM",
    "socket(AF_INET, SOCK_RAW) -> EPERM",
    "socket(AF_INET6, SOCK_RAW|SOCK_CLOEXEC) -> EPERM",
    "mount -> EPERM",
    "bpf -> EPERM",
    "io_uring_setup -> EPERM",
    "ptrace -> EPERM",
    "userfaultfd -> EPERM",
    "pidfd_getfd -> EPERM",
    "open_tree -> EPERM",
];

/// Runs the checks named in KERNEL_CHECKS; returns the 1-based index of
/// the first that fails, 0 if all pass. Arguments are chosen so that the
/// unfiltered kernel would answer something other than EPERM.
fn kernel_checks() -> i32 {
    const HIGH: libc::c_ulong = 0xffff_ffff_0000_0000;
    let mut byte: u8 = 0;
    let bp = &mut byte as *mut u8;
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let wp = &mut ws as *mut libc::winsize;
    let nul = std::ptr::null::<libc::c_void>();
    let clone_userns = (libc::CLONE_NEWUSER | libc::CLONE_FS) as libc::c_ulong;
    let clone_mntns = (libc::CLONE_NEWNS | libc::CLONE_FS) as libc::c_ulong;
    // SAFETY: raw system calls with integer
    // arguments, null pointers, or pointers to live locals; the calls
    // that would create anything are made with invalid argument
    // combinations (fd -1, CLONE_FS with new namespaces, ...).
    let results: [bool; 27] = unsafe {
        [
            libc::syscall(libc::SYS_getpid) > 0,
            fails_with(libc::syscall(libc::SYS_keyctl, 9999, 0, 0), libc::EPERM),
            fails_with(
                libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(libc::SYS_clone, clone_userns, 0, 0, 0, 0),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(libc::SYS_clone, clone_mntns, 0, 0, 0, 0),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(libc::SYS_ioctl, -1, libc::TIOCSTI | HIGH, bp),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(libc::SYS_ioctl, -1, libc::TIOCLINUX | HIGH, bp),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(libc::SYS_ioctl, -1, libc::TIOCSTI, bp),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(libc::SYS_ioctl, -1, libc::TIOCGWINSZ, wp),
                libc::EBADF,
            ),
            fails_with(libc::syscall(libc::SYS_clone3, nul, 0), libc::ENOSYS),
            fails_with(libc::syscall(1000), libc::ENOSYS),
            fails_with(libc::syscall(libc::SYS_sysfs, 3), libc::ENOSYS),
            fails_with(libc::syscall(0x4000_0000 | libc::SYS_getpid), libc::ENOSYS),
            libc::syscall(libc::SYS_personality, 0xffff_ffff_u64) >= 0,
            fails_with(
                libc::syscall(libc::SYS_personality, libc::ADDR_NO_RANDOMIZE),
                libc::EPERM,
            ),
            libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0) >= 0,
            libc::syscall(
                libc::SYS_socket,
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            ) >= 0,
            fails_with(
                libc::syscall(libc::SYS_socket, libc::AF_PACKET, libc::SOCK_RAW, 0),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(
                    libc::SYS_socket,
                    libc::AF_INET,
                    libc::SOCK_RAW,
                    libc::IPPROTO_ICMP,
                ),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(
                    libc::SYS_socket,
                    libc::AF_INET6,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::IPPROTO_ICMPV6,
                ),
                libc::EPERM,
            ),
            fails_with(
                libc::syscall(libc::SYS_mount, nul, nul, nul, 0, nul),
                libc::EPERM,
            ),
            fails_with(libc::syscall(libc::SYS_bpf, 9999, nul, 0), libc::EPERM),
            fails_with(libc::syscall(libc::SYS_io_uring_setup, 0, nul), libc::EPERM),
            fails_with(
                libc::syscall(libc::SYS_ptrace, libc::PTRACE_PEEKDATA, -1, 0, 0),
                libc::EPERM,
            ),
            fails_with(libc::syscall(libc::SYS_userfaultfd, -1), libc::EPERM),
            fails_with(libc::syscall(libc::SYS_pidfd_getfd, -1, 0, 0), libc::EPERM),
            fails_with(libc::syscall(libc::SYS_open_tree, -1, nul, 0), libc::EPERM),
        ]
    };
    match results.iter().position(|ok| !ok) {
        Some(i) => i as i32 + 1,
        None => 0,
    }
}

/// Wait status in words; exit codes 1.. name an entry of `checks`.
pub(super) fn describe(status: i32, checks: &[&str]) -> String {
    if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        match code {
            0 => "all checks passed".into(),
            200 => "prctl(PR_SET_NO_NEW_PRIVS) failed".into(),
            201 => "installing the filters failed".into(),
            c => match checks.get(c as usize - 1) {
                Some(name) => format!("check {c} failed: {name}"),
                None => format!("exit code {c}"),
            },
        }
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}

#[test]
fn kernel_enforces_the_policy() {
    // The table alone (AF_UNIX allowed, as where Landlock governs unix sockets).
    let filters = build_filters_with(FilterOptions {
        deny_unix_sockets: false,
    })
    .unwrap();
    let status = in_child(Some(&filters), kernel_checks);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{}",
        describe(status, KERNEL_CHECKS)
    );
}

#[test]
fn unfiltered_kernel_does_not_answer_like_the_filter() {
    // Shows the EPERM/ENOSYS answers above come from the filters: without
    // them some check answers otherwise (here keyctl: EOPNOTSUPP).
    let status = in_child(None, kernel_checks);
    assert!(
        libc::WIFEXITED(status),
        "{}",
        describe(status, KERNEL_CHECKS)
    );
    assert_ne!(
        libc::WEXITSTATUS(status),
        0,
        "the checks do not discriminate"
    );
}

const SMOKE_SCRIPT: &str = r#"
fail() { echo "seccomp smoke test failed at: $1" >&2; exit 1; }
t=$(mktemp -d) || fail mktemp
ls -la / >/dev/null || fail ls
cat /etc/passwd >/dev/null || fail cat
sha256sum /etc/passwd >/dev/null || fail sha256sum
head -n 1 /etc/passwd >/dev/null || fail head
env >/dev/null || fail env
id >/dev/null || fail id
sleep 0.01 || fail sleep
echo hello >"$t/a" || fail redirect
dd if="$t/a" of="$t/b" bs=1 2>/dev/null || fail dd
[ "$(cat "$t/b")" = hello ] || fail dd-content
x=$(echo sub | cat) && [ "$x" = sub ] || fail pipeline
( sleep 0.01 & wait ) || fail background
if command -v bash >/dev/null; then
  bash -c 'a=(1 2); [ "${#a[@]}" = 2 ] && [ "$(echo hi)" = hi ]' || fail bash
fi
if command -v sqlite3 >/dev/null; then
  [ "$(sqlite3 "$t/db" 'create table t(x); insert into t values(42); select x from t;')" = 42 ] || fail sqlite3
fi
if command -v python3 >/dev/null; then
  python3 -c '
import hashlib, socket, sqlite3, subprocess, sys, tempfile, threading
t = threading.Thread(target=lambda: None); t.start(); t.join()
assert subprocess.run([sys.executable, "-c", "pass"]).returncode == 0
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); s.close()
db = sqlite3.connect(":memory:"); db.execute("create table t(x)")
hashlib.sha256(b"x").hexdigest()
' || fail python3
fi
if command -v kubectl >/dev/null; then
  kubectl version --client >/dev/null 2>&1 || fail kubectl
fi
rm -r "$t" || fail rm
exit 0
"#;

#[test]
fn common_programs_run_under_the_filter() {
    let filters = build_filters().unwrap();
    let sh = CString::new("/bin/sh").unwrap();
    let dash_c = CString::new("-c").unwrap();
    let script = CString::new(SMOKE_SCRIPT).unwrap();
    let argv = [
        sh.as_ptr(),
        dash_c.as_ptr(),
        script.as_ptr(),
        std::ptr::null(),
    ];
    // SAFETY: the child only makes raw system calls (prctl, seccomp via
    // apply, execv) on data prepared before the fork, then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: see above; argv is NULL-terminated and outlives the call.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(200);
            }
            if filters.apply().is_err() {
                libc::_exit(201);
            }
            libc::execv(sh.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "smoke script: {} (see stderr)",
        describe(status, &[])
    );
}

const UNIX_CHECKS: &[&str] = &[
    "socket(AF_UNIX, SOCK_STREAM) fails with EPERM",
    "socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC) fails with EPERM",
    "socketpair(AF_UNIX, SOCK_DGRAM) fails with EPERM",
    "socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) works",
    "socketpair(AF_UNIX, SOCK_SEQPACKET) works",
    "socket(AF_INET, SOCK_STREAM) works",
];

fn unix_checks() -> i32 {
    let mut sv = [0i32; 2];
    let svp = sv.as_mut_ptr();
    let eperm = |r: libc::c_long| {
        r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    };
    // SAFETY: raw socket calls with integer arguments and a pointer to a live
    // two-int array; whatever they create ends with the child.
    let results: [bool; 6] = unsafe {
        [
            eperm(libc::syscall(
                libc::SYS_socket,
                libc::AF_UNIX,
                libc::SOCK_STREAM,
                0,
            )),
            eperm(libc::syscall(
                libc::SYS_socket,
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
            )),
            eperm(libc::syscall(
                libc::SYS_socketpair,
                libc::AF_UNIX,
                libc::SOCK_DGRAM,
                0,
                svp,
            )),
            libc::syscall(
                libc::SYS_socketpair,
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                svp,
            ) == 0,
            libc::syscall(
                libc::SYS_socketpair,
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET,
                0,
                svp,
            ) == 0,
            libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) >= 0,
        ]
    };
    results
        .iter()
        .position(|ok| !ok)
        .map_or(0, |i| i as i32 + 1)
}

#[test]
fn kernel_denies_unix_sockets_by_default() {
    let filters = build_filters().unwrap();
    let status = in_child(Some(&filters), unix_checks);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{}",
        describe(status, UNIX_CHECKS)
    );
}
