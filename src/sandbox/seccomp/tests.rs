//! Root-free tests of the policy table and the filter compiler: the table's
//! shape, the calls the issue names, and the one program.
//!
//! Nothing here installs a filter (`kernel_tests.rs` does).

#![allow(clippy::unwrap_used)]

use super::compile::{build_filters, FILTER};
use super::rules::{EntryAction, SyscallEntry};
use super::table::policy_table;
use std::collections::HashSet;

fn find(name: &str) -> &'static SyscallEntry {
    policy_table()
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("`{name}` missing from the policy table"))
}

#[test]
fn table_has_no_duplicates_and_every_entry_has_a_reason() {
    let mut names = HashSet::new();
    let mut nrs = HashSet::new();
    for e in policy_table() {
        assert!(names.insert(e.name), "duplicate name {}", e.name);
        assert!(nrs.insert(e.nr), "duplicate number {} ({})", e.nr, e.name);
        assert!(!e.reason.trim().is_empty(), "{} has no reason", e.name);
        assert!(
            (0..1024).contains(&e.nr),
            "{} has odd number {}",
            e.name,
            e.nr
        );
        if let EntryAction::AllowUnless(denials) = e.action {
            assert!(!denials.is_empty(), "{} has no denials", e.name);
            for d in denials {
                assert!(!d.all.is_empty(), "{}: empty denial", e.name);
                assert!(!d.why.trim().is_empty(), "{}: denial without why", e.name);
                assert!(d.all.iter().all(|c| c.arg <= 5));
            }
        }
    }
}

#[test]
fn names_match_numbers() {
    assert_eq!(find("read").nr, 0);
    assert_eq!(find("getpid").nr, libc::SYS_getpid);
    assert_eq!(find("clone3").nr, libc::SYS_clone3);
    assert_eq!(find("io_pgetevents").nr, 333);
    assert_eq!(find("open_tree_attr").nr, 467);
}

#[test]
fn issue_denials_are_in_the_table() {
    let denied = [
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "userfaultfd",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "mount",
        "umount2",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "move_mount",
        "open_tree",
        "mount_setattr",
        "pivot_root",
        "chroot",
        "unshare",
        "setns",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "swapon",
        "swapoff",
        "acct",
        "clock_settime",
        "settimeofday",
        "adjtimex",
        "clock_adjtime",
        // `stime` has no x86_64 system call (i386 only).
        "open_by_handle_at",
        "name_to_handle_at",
        "iopl",
        "ioperm",
        "sethostname",
        "setdomainname",
        "lookup_dcookie",
        "quotactl",
        "nfsservctl",
        "vhangup",
        "pidfd_getfd",
        "kcmp",
    ];
    for name in denied {
        assert_eq!(find(name).action, EntryAction::Deny, "{name}");
    }
    for name in ["clone", "ioctl", "personality", "socket"] {
        assert!(
            matches!(find(name).action, EntryAction::AllowUnless(_)),
            "{name} should be conditional"
        );
    }
    assert_eq!(find("clone3").action, EntryAction::Enosys);
}

#[test]
fn common_calls_are_allowed() {
    let allowed = [
        "read",
        "write",
        "openat",
        "close",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "newfstatat",
        "statx",
        "readlinkat",
        "faccessat2",
        "getdents64",
        "futex",
        "epoll_pwait",
        "epoll_ctl",
        "sched_getaffinity",
        "sigaltstack",
        "rt_sigaction",
        "rt_sigprocmask",
        "madvise",
        "tgkill",
        "getrandom",
        "pipe2",
        "execve",
        "wait4",
        "waitid",
        "exit_group",
        "prctl",
        "seccomp",
        "connect",
        "sendto",
        "recvfrom",
        "accept4",
        "clock_nanosleep",
        "fcntl",
        "dup3",
        "unlinkat",
        "renameat2",
        "ftruncate",
        "fdatasync",
        "copy_file_range",
        "memfd_create",
        "close_range",
        "openat2",
        "pidfd_open",
        "pidfd_send_signal",
    ];
    for name in allowed {
        assert_eq!(find(name).action, EntryAction::Allow, "{name}");
    }
}

#[test]
fn builds_one_filter() {
    let filters = build_filters().unwrap();
    let sizes = filters.sizes();
    assert_eq!(sizes.len(), 1);
    assert_eq!(sizes[0].0, FILTER);
    assert!(sizes[0].1 > 100, "{sizes:?}");
}

#[test]
fn actions_display() {
    let s = find("ioctl").action.to_string();
    assert!(s.contains("arg1 == 0x5412"), "{s}");
    assert!(find("clone").action.to_string().contains("0x10000000"));
    assert_eq!(find("bpf").action.to_string(), "deny (EPERM)");
}
