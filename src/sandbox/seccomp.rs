//! Seccomp-BPF policy for sandboxed agent tools.
//!
//! The policy is an allow-list in the spirit of the container runtimes' default
//! profiles (moby's `default.json`, Firecracker's JSON filters), tightened for
//! agent tools. It is kept as data, [`policy_table`], one [`SyscallEntry`] per
//! system call with the reason for its treatment; both BPF programs are built
//! from that table, so the table is the single source of truth (it is also what
//! `agentjail check` and the docs print).
//!
//! # Outcomes
//!
//! * allowed calls run;
//! * denied calls ([`EntryAction::Deny`], and [`EntryAction::AllowUnless`] calls
//!   whose arguments match a denial) fail with `EPERM`;
//! * everything else — calls absent from the table, calls newer than it, calls
//!   marked [`EntryAction::Enosys`] such as `clone3`, and x32 calls (numbers
//!   with bit `0x40000000` set) — fails with `ENOSYS`, as if the kernel lacked
//!   them, so libraries fall back (glibc falls back from `clone3` to `clone`,
//!   whose flags a filter can inspect);
//! * calls made through a foreign architecture's entry point (i386 `int 0x80`)
//!   kill the process with `SIGSYS` (seccompiler's architecture check).
//!
//! # Two filters
//!
//! seccompiler gives every filter a single match action and a single mismatch
//! action, so the policy is split in two programs, installed in this order:
//!
//! 1. the allow-list: table entries `Allow`/`AllowUnless` → `ALLOW`, anything
//!    else → `ERRNO(ENOSYS)`;
//! 2. the deny-list: table entries `Deny`, and `AllowUnless` calls whose
//!    arguments match → `ERRNO(EPERM)`, anything else → `ALLOW`.
//!
//! The kernel runs every installed filter, newest first, and keeps a result
//! only when its action is strictly more restrictive than the one it already
//! has (`seccomp_run_filters` in `kernel/seccomp.c`:
//! `if (ACTION_ONLY(cur_ret) < ACTION_ONLY(ret))`, starting from `ALLOW`).
//! For a denied call both filters answer `ERRNO`; the deny-list, installed
//! last, is evaluated first and its `EPERM` is kept. For a call that is in
//! neither list, the deny-list allows and the allow-list's `ENOSYS` wins. The
//! real-kernel test below checks this.
//!
//! Because the deny-list is installed after the allow-list, the allow-list must
//! allow `prctl` and `seccomp` (it does: a filter can only restrict further).
//!
//! # Arguments
//!
//! Argument conditions compare the low 32 bits of an argument only. That is
//! what the kernel itself looks at for every call conditioned here: `ioctl`'s
//! request is an `unsigned int` (a 64-bit compare of `TIOCSTI` could be evaded
//! by setting the upper bits, CVE-2017-5226), `clone` uses
//! `lower_32_bits(clone_flags)`, `personality` takes an `unsigned int` and
//! `socket` takes `int`s.

use std::collections::BTreeMap;
use std::fmt;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

#[cfg(not(target_arch = "x86_64"))]
compile_error!("agentjail's seccomp policy table is written for x86_64 only");

/// The errno returned by denied system calls.
pub const DENY_ERRNO: i32 = libc::EPERM;

/// The errno returned by system calls absent from the allow-list.
pub const ABSENT_ERRNO: i32 = libc::ENOSYS;

const TARGET_ARCH: TargetArch = TargetArch::x86_64;

/// Name of the first program (the allow-list), as used in errors.
const ALLOW_FILTER: &str = "allow-list";
/// Name of the second program (the deny-list), as used in errors.
const DENY_FILTER: &str = "deny-list";

/// Errors from building or installing the seccomp filters.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// An argument condition of a table entry could not be turned into a rule.
    #[error("seccomp: building the argument rule for `{syscall}`")]
    BuildRule {
        /// The system call whose rule failed.
        syscall: &'static str,
        /// The seccompiler error.
        source: BackendError,
    },
    /// A filter could not be assembled from the table.
    #[error("seccomp: building the {filter} filter")]
    BuildFilter {
        /// Which filter ("allow-list" or "deny-list").
        filter: &'static str,
        /// The seccompiler error.
        source: BackendError,
    },
    /// A filter could not be compiled to BPF.
    #[error("seccomp: compiling the {filter} filter to BPF")]
    Compile {
        /// Which filter ("allow-list" or "deny-list").
        filter: &'static str,
        /// The seccompiler error.
        source: BackendError,
    },
    /// The kernel refused a filter.
    #[error("seccomp: installing the {filter} filter")]
    Apply {
        /// Which filter ("allow-list" or "deny-list").
        filter: &'static str,
        /// The seccompiler error (wrapping the `prctl`/`seccomp` errno).
        source: seccompiler::Error,
    },
}

/// A comparison on the low 32 bits of one system call argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgOp {
    /// The argument equals the value.
    Eq(u32),
    /// The argument differs from the value.
    Ne(u32),
    /// `argument & mask == value`.
    MaskedEq {
        /// Bits of the argument that are compared.
        mask: u32,
        /// Expected value of those bits.
        value: u32,
    },
}

/// A condition on one argument (numbered from 0) of a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCond {
    /// Index of the argument, 0..=5.
    pub arg: u8,
    /// The comparison on its low 32 bits.
    pub op: ArgOp,
}

/// A denial: the call fails with `EPERM` when ALL of the conditions hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyWhen {
    /// Conditions, all of which must hold.
    pub all: &'static [ArgCond],
    /// What the denial is about, for humans.
    pub why: &'static str,
}

/// What the policy does with one system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryAction {
    /// Allowed whatever the arguments.
    Allow,
    /// Allowed, except that it fails with `EPERM` when the arguments match any
    /// of these denials.
    AllowUnless(&'static [DenyWhen]),
    /// Fails with `EPERM`.
    Deny,
    /// Fails with `ENOSYS`, as if the kernel did not have it, so that callers
    /// fall back to an older call the policy can inspect.
    Enosys,
}

/// One entry of the policy table: the syscall, what is done with it, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallEntry {
    /// The system call's name, as in `libc::SYS_<name>`.
    pub name: &'static str,
    /// The system call's number on this architecture.
    pub nr: i64,
    /// What the policy does with it.
    pub action: EntryAction,
    /// Why.
    pub reason: &'static str,
}

impl fmt::Display for ArgCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            ArgOp::Eq(v) => write!(f, "arg{} == {v:#x}", self.arg),
            ArgOp::Ne(v) => write!(f, "arg{} != {v:#x}", self.arg),
            ArgOp::MaskedEq { mask, value } => {
                write!(f, "arg{} & {mask:#x} == {value:#x}", self.arg)
            }
        }
    }
}

impl fmt::Display for DenyWhen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.why)?;
        f.write_str(" (")?;
        for (i, cond) in self.all.iter().enumerate() {
            if i > 0 {
                f.write_str(" && ")?;
            }
            write!(f, "{cond}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for EntryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryAction::Allow => f.write_str("allow"),
            EntryAction::Deny => f.write_str("deny (EPERM)"),
            EntryAction::Enosys => f.write_str("absent (ENOSYS)"),
            EntryAction::AllowUnless(denials) => {
                f.write_str("allow, except EPERM when: ")?;
                for (i, d) in denials.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{d}")?;
                }
                Ok(())
            }
        }
    }
}

/// System call numbers: libc's, plus the x86_64 ones libc 0.2 does not name.
#[allow(non_upper_case_globals)]
mod nr {
    pub(super) use libc::*;

    pub(super) const SYS_create_module: i64 = 174;
    pub(super) const SYS_get_kernel_syms: i64 = 177;
    pub(super) const SYS_query_module: i64 = 178;
    pub(super) const SYS_io_pgetevents: i64 = 333;
    pub(super) const SYS_uretprobe: i64 = 335;
    pub(super) const SYS_uprobe: i64 = 336;
    pub(super) const SYS_cachestat: i64 = 451;
    pub(super) const SYS_map_shadow_stack: i64 = 453;
    pub(super) const SYS_futex_wake: i64 = 454;
    pub(super) const SYS_futex_wait: i64 = 455;
    pub(super) const SYS_futex_requeue: i64 = 456;
    pub(super) const SYS_open_tree_attr: i64 = 467;
}

/// `"SYS_read"` → `"read"`, at compile time.
const fn strip_sys(s: &'static str) -> &'static str {
    let bytes = s.as_bytes();
    assert!(
        bytes.len() > 4
            && bytes[0] == b'S'
            && bytes[1] == b'Y'
            && bytes[2] == b'S'
            && bytes[3] == b'_'
    );
    let (_, rest) = bytes.split_at(4);
    match std::str::from_utf8(rest) {
        Ok(name) => name,
        Err(_) => panic!("syscall constant name is not UTF-8"),
    }
}

/// One table entry; the name is derived from the constant, so they cannot drift.
macro_rules! entry {
    ($sys:ident, $action:expr, $reason:expr) => {
        SyscallEntry {
            name: strip_sys(stringify!($sys)),
            nr: nr::$sys,
            action: $action,
            reason: $reason,
        }
    };
}

/// A denial on a single flag bit of an argument.
macro_rules! flag_set {
    ($arg:expr, $flag:expr, $why:expr) => {
        DenyWhen {
            all: &[ArgCond {
                arg: $arg,
                op: ArgOp::MaskedEq {
                    mask: $flag as u32,
                    value: $flag as u32,
                },
            }],
            why: $why,
        }
    };
}

/// `clone` with any namespace flag. (`CLONE_NEWTIME` cannot be passed to
/// `clone`: its bit is part of the exit-signal byte there.)
const CLONE_DENIALS: &[DenyWhen] = &[
    flag_set!(0, libc::CLONE_NEWNS, "CLONE_NEWNS: new mount namespace"),
    flag_set!(
        0,
        libc::CLONE_NEWCGROUP,
        "CLONE_NEWCGROUP: new cgroup namespace"
    ),
    flag_set!(0, libc::CLONE_NEWUTS, "CLONE_NEWUTS: new UTS namespace"),
    flag_set!(0, libc::CLONE_NEWIPC, "CLONE_NEWIPC: new IPC namespace"),
    flag_set!(0, libc::CLONE_NEWUSER, "CLONE_NEWUSER: new user namespace"),
    flag_set!(0, libc::CLONE_NEWPID, "CLONE_NEWPID: new PID namespace"),
    flag_set!(0, libc::CLONE_NEWNET, "CLONE_NEWNET: new network namespace"),
];

/// `ioctl` requests that push input into or drive a terminal.
const IOCTL_DENIALS: &[DenyWhen] = &[
    DenyWhen {
        all: &[ArgCond {
            arg: 1,
            op: ArgOp::Eq(libc::TIOCSTI as u32),
        }],
        why: "TIOCSTI: fakes terminal input for the controlling shell (CVE-2017-5226)",
    },
    DenyWhen {
        all: &[ArgCond {
            arg: 1,
            op: ArgOp::Eq(libc::TIOCLINUX as u32),
        }],
        why: "TIOCLINUX: console selection paste and other virtual-console controls",
    },
    DenyWhen {
        all: &[ArgCond {
            arg: 1,
            op: ArgOp::Eq(libc::TIOCSCTTY as u32),
        }],
        why:
            "TIOCSCTTY: taking the caller's terminal as the sandbox session's controlling terminal",
    },
];

/// `personality` values other than the harmless ones moby allows.
const PERSONALITY_DENIALS: &[DenyWhen] = &[DenyWhen {
    all: &[
        ArgCond {
            arg: 0,
            op: ArgOp::Ne(0x0), // PER_LINUX
        },
        ArgCond {
            arg: 0,
            op: ArgOp::Ne(0x8), // PER_LINUX32
        },
        ArgCond {
            arg: 0,
            op: ArgOp::Ne(0x20000), // UNAME26
        },
        ArgCond {
            arg: 0,
            op: ArgOp::Ne(0x20008), // UNAME26 | PER_LINUX32
        },
        ArgCond {
            arg: 0,
            op: ArgOp::Ne(0xffff_ffff), // query the current persona
        },
    ],
    why: "persona other than 0x0, 0x8, 0x20000, 0x20008 or the 0xffffffff query \
          (e.g. ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC)",
}];

/// Mask of the socket type (the rest of the argument holds SOCK_CLOEXEC etc.).
const SOCK_TYPE_MASK: u32 = 0xf;
/// The obsolete packet socket type (libc deprecates its constant).
const SOCK_PACKET: u32 = 10;

/// `socket` outside the families tools need, and raw IP / packet sockets.
/// Raw netlink sockets stay allowed: `SOCK_RAW` is netlink's ordinary type
/// (glibc's getaddrinfo and Go's net package use it).
const SOCKET_DENIALS: &[DenyWhen] = &[
    DenyWhen {
        all: &[
            ArgCond {
                arg: 0,
                op: ArgOp::Ne(libc::AF_UNIX as u32),
            },
            ArgCond {
                arg: 0,
                op: ArgOp::Ne(libc::AF_INET as u32),
            },
            ArgCond {
                arg: 0,
                op: ArgOp::Ne(libc::AF_INET6 as u32),
            },
            ArgCond {
                arg: 0,
                op: ArgOp::Ne(libc::AF_NETLINK as u32),
            },
        ],
        why: "address family other than AF_UNIX, AF_INET, AF_INET6, AF_NETLINK \
              (AF_PACKET, AF_ALG, AF_VSOCK, ... are kernel attack surface)",
    },
    DenyWhen {
        all: &[
            ArgCond {
                arg: 0,
                op: ArgOp::Eq(libc::AF_INET as u32),
            },
            ArgCond {
                arg: 1,
                op: ArgOp::MaskedEq {
                    mask: SOCK_TYPE_MASK,
                    value: libc::SOCK_RAW as u32,
                },
            },
        ],
        why: "raw IPv4 socket",
    },
    DenyWhen {
        all: &[
            ArgCond {
                arg: 0,
                op: ArgOp::Eq(libc::AF_INET as u32),
            },
            ArgCond {
                arg: 1,
                op: ArgOp::MaskedEq {
                    mask: SOCK_TYPE_MASK,
                    value: SOCK_PACKET,
                },
            },
        ],
        why: "obsolete SOCK_PACKET socket",
    },
    DenyWhen {
        all: &[
            ArgCond {
                arg: 0,
                op: ArgOp::Eq(libc::AF_INET6 as u32),
            },
            ArgCond {
                arg: 1,
                op: ArgOp::MaskedEq {
                    mask: SOCK_TYPE_MASK,
                    value: libc::SOCK_RAW as u32,
                },
            },
        ],
        why: "raw IPv6 socket",
    },
    DenyWhen {
        all: &[
            ArgCond {
                arg: 0,
                op: ArgOp::Eq(libc::AF_INET6 as u32),
            },
            ArgCond {
                arg: 1,
                op: ArgOp::MaskedEq {
                    mask: SOCK_TYPE_MASK,
                    value: SOCK_PACKET,
                },
            },
        ],
        why: "obsolete SOCK_PACKET socket",
    },
];

use EntryAction::{Allow, AllowUnless, Deny, Enosys};

static POLICY: &[SyscallEntry] = &[
    // ---- File descriptors and I/O ----
    entry!(SYS_read, Allow, "basic I/O"),
    entry!(SYS_write, Allow, "basic I/O"),
    entry!(SYS_readv, Allow, "vectored I/O"),
    entry!(SYS_writev, Allow, "vectored I/O"),
    entry!(SYS_pread64, Allow, "positional I/O (sqlite, linkers)"),
    entry!(SYS_pwrite64, Allow, "positional I/O (sqlite)"),
    entry!(SYS_preadv, Allow, "positional vectored I/O"),
    entry!(SYS_pwritev, Allow, "positional vectored I/O"),
    entry!(SYS_preadv2, Allow, "positional vectored I/O with flags"),
    entry!(SYS_pwritev2, Allow, "positional vectored I/O with flags"),
    entry!(SYS_lseek, Allow, "file offsets"),
    entry!(SYS_close, Allow, "closing descriptors"),
    entry!(SYS_close_range, Allow, "closing descriptor ranges before exec"),
    entry!(SYS_dup, Allow, "descriptor duplication"),
    entry!(SYS_dup2, Allow, "descriptor duplication (shell redirections)"),
    entry!(SYS_dup3, Allow, "descriptor duplication with flags"),
    entry!(SYS_fcntl, Allow, "descriptor flags and POSIX locks (sqlite)"),
    entry!(SYS_flock, Allow, "advisory file locks"),
    entry!(
        SYS_ioctl,
        AllowUnless(IOCTL_DENIALS),
        "terminal size and modes, FIONREAD, FIONBIO, ...; terminal-injection requests are denied"
    ),
    entry!(SYS_pipe, Allow, "pipes"),
    entry!(SYS_pipe2, Allow, "pipes with flags (Go, shells)"),
    entry!(SYS_sendfile, Allow, "in-kernel copy between descriptors"),
    entry!(SYS_copy_file_range, Allow, "in-kernel file copy (cp, cat)"),
    entry!(SYS_splice, Allow, "pipe splicing"),
    entry!(SYS_tee, Allow, "pipe duplication"),
    entry!(SYS_vmsplice, Allow, "user pages into a pipe"),
    entry!(SYS_readahead, Allow, "page-cache hint"),
    entry!(SYS_fadvise64, Allow, "page-cache hint (sha256sum, dd)"),
    entry!(SYS_fsync, Allow, "durability (sqlite)"),
    entry!(SYS_fdatasync, Allow, "durability (sqlite)"),
    entry!(SYS_sync, Allow, "flush file systems; harmless"),
    entry!(SYS_syncfs, Allow, "flush one file system"),
    entry!(SYS_sync_file_range, Allow, "partial flush"),
    entry!(SYS_memfd_create, Allow, "anonymous files (JITs, sealing)"),
    // ---- Polling, events, timers ----
    entry!(SYS_poll, Allow, "I/O multiplexing"),
    entry!(SYS_ppoll, Allow, "I/O multiplexing"),
    entry!(SYS_select, Allow, "I/O multiplexing"),
    entry!(SYS_pselect6, Allow, "I/O multiplexing"),
    entry!(SYS_epoll_create, Allow, "epoll"),
    entry!(SYS_epoll_create1, Allow, "epoll (Go runtime)"),
    entry!(SYS_epoll_ctl, Allow, "epoll"),
    entry!(SYS_epoll_wait, Allow, "epoll"),
    entry!(SYS_epoll_pwait, Allow, "epoll (Go runtime)"),
    entry!(SYS_epoll_pwait2, Allow, "epoll with timespec timeout"),
    entry!(SYS_eventfd, Allow, "event notification"),
    entry!(SYS_eventfd2, Allow, "event notification (Go runtime)"),
    entry!(SYS_signalfd, Allow, "signals as descriptors"),
    entry!(SYS_signalfd4, Allow, "signals as descriptors"),
    entry!(SYS_timerfd_create, Allow, "timers as descriptors"),
    entry!(SYS_timerfd_settime, Allow, "timers as descriptors"),
    entry!(SYS_timerfd_gettime, Allow, "timers as descriptors"),
    entry!(SYS_inotify_init, Allow, "file watching"),
    entry!(SYS_inotify_init1, Allow, "file watching"),
    entry!(SYS_inotify_add_watch, Allow, "file watching"),
    entry!(SYS_inotify_rm_watch, Allow, "file watching"),
    entry!(SYS_io_setup, Allow, "legacy AIO (libaio users)"),
    entry!(SYS_io_destroy, Allow, "legacy AIO"),
    entry!(SYS_io_submit, Allow, "legacy AIO"),
    entry!(SYS_io_cancel, Allow, "legacy AIO"),
    entry!(SYS_io_getevents, Allow, "legacy AIO"),
    entry!(SYS_io_pgetevents, Allow, "legacy AIO"),
    // ---- Paths and metadata ----
    entry!(SYS_open, Allow, "opening files"),
    entry!(SYS_openat, Allow, "opening files (dynamic linker, everything)"),
    entry!(SYS_openat2, Allow, "opening files with resolve flags"),
    entry!(SYS_creat, Allow, "creating files"),
    entry!(SYS_stat, Allow, "file status"),
    entry!(SYS_fstat, Allow, "file status"),
    entry!(SYS_lstat, Allow, "file status"),
    entry!(SYS_newfstatat, Allow, "file status (glibc stat)"),
    entry!(SYS_statx, Allow, "file status (coreutils ls)"),
    entry!(SYS_statfs, Allow, "file-system status (df, coreutils)"),
    entry!(SYS_fstatfs, Allow, "file-system status"),
    entry!(SYS_access, Allow, "permission checks"),
    entry!(SYS_faccessat, Allow, "permission checks"),
    entry!(SYS_faccessat2, Allow, "permission checks (glibc)"),
    entry!(SYS_readlink, Allow, "symlink targets"),
    entry!(SYS_readlinkat, Allow, "symlink targets (Go os.Executable)"),
    entry!(SYS_getdents, Allow, "directory listing"),
    entry!(SYS_getdents64, Allow, "directory listing"),
    entry!(SYS_getcwd, Allow, "working directory"),
    entry!(SYS_chdir, Allow, "working directory"),
    entry!(SYS_fchdir, Allow, "working directory"),
    entry!(SYS_mkdir, Allow, "directory creation"),
    entry!(SYS_mkdirat, Allow, "directory creation"),
    entry!(SYS_rmdir, Allow, "directory removal"),
    entry!(SYS_rename, Allow, "renaming"),
    entry!(SYS_renameat, Allow, "renaming"),
    entry!(SYS_renameat2, Allow, "renaming (mv, atomic replace)"),
    entry!(SYS_unlink, Allow, "file removal"),
    entry!(SYS_unlinkat, Allow, "file removal (rm)"),
    entry!(SYS_link, Allow, "hard links"),
    entry!(SYS_linkat, Allow, "hard links"),
    entry!(SYS_symlink, Allow, "symbolic links"),
    entry!(SYS_symlinkat, Allow, "symbolic links"),
    entry!(
        SYS_mknod,
        Allow,
        "FIFOs and sockets (mkfifo); device nodes need CAP_MKNOD, which is dropped"
    ),
    entry!(SYS_mknodat, Allow, "FIFOs (glibc mkfifo); devices need CAP_MKNOD"),
    entry!(SYS_chmod, Allow, "permissions"),
    entry!(SYS_fchmod, Allow, "permissions"),
    entry!(SYS_fchmodat, Allow, "permissions"),
    entry!(SYS_fchmodat2, Allow, "permissions with flags (newer glibc)"),
    entry!(SYS_chown, Allow, "ownership (limited by dropped capabilities)"),
    entry!(SYS_fchown, Allow, "ownership"),
    entry!(SYS_lchown, Allow, "ownership"),
    entry!(SYS_fchownat, Allow, "ownership"),
    entry!(SYS_umask, Allow, "file-creation mask"),
    entry!(SYS_utime, Allow, "timestamps"),
    entry!(SYS_utimes, Allow, "timestamps"),
    entry!(SYS_futimesat, Allow, "timestamps"),
    entry!(SYS_utimensat, Allow, "timestamps (touch)"),
    entry!(SYS_truncate, Allow, "file size"),
    entry!(SYS_ftruncate, Allow, "file size (sqlite, dd)"),
    entry!(SYS_fallocate, Allow, "space reservation"),
    entry!(SYS_setxattr, Allow, "extended attributes (cp -a)"),
    entry!(SYS_lsetxattr, Allow, "extended attributes"),
    entry!(SYS_fsetxattr, Allow, "extended attributes"),
    entry!(SYS_getxattr, Allow, "extended attributes (ls ACL check)"),
    entry!(SYS_lgetxattr, Allow, "extended attributes"),
    entry!(SYS_fgetxattr, Allow, "extended attributes"),
    entry!(SYS_listxattr, Allow, "extended attributes"),
    entry!(SYS_llistxattr, Allow, "extended attributes"),
    entry!(SYS_flistxattr, Allow, "extended attributes"),
    entry!(SYS_removexattr, Allow, "extended attributes"),
    entry!(SYS_lremovexattr, Allow, "extended attributes"),
    entry!(SYS_fremovexattr, Allow, "extended attributes"),
    entry!(SYS_cachestat, Allow, "page-cache statistics of own files"),
    // ---- Memory ----
    entry!(SYS_brk, Allow, "heap"),
    entry!(SYS_mmap, Allow, "mappings (dynamic linker, allocators)"),
    entry!(SYS_munmap, Allow, "mappings"),
    entry!(SYS_mprotect, Allow, "mapping protection (dynamic linker, JITs)"),
    entry!(SYS_mremap, Allow, "growing mappings (realloc)"),
    entry!(SYS_msync, Allow, "flushing file mappings"),
    entry!(SYS_mincore, Allow, "page residency"),
    entry!(SYS_madvise, Allow, "memory advice (Go runtime, allocators)"),
    entry!(SYS_remap_file_pages, Allow, "legacy nonlinear mappings (emulated)"),
    entry!(SYS_mlock, Allow, "page locking, bounded by RLIMIT_MEMLOCK"),
    entry!(SYS_mlock2, Allow, "page locking, bounded by RLIMIT_MEMLOCK"),
    entry!(SYS_munlock, Allow, "page unlocking"),
    entry!(SYS_mlockall, Allow, "page locking, bounded by RLIMIT_MEMLOCK"),
    entry!(SYS_munlockall, Allow, "page unlocking"),
    entry!(SYS_membarrier, Allow, "memory barriers (JITs, userspace RCU)"),
    entry!(SYS_mbind, Allow, "NUMA policy of own memory"),
    entry!(SYS_set_mempolicy, Allow, "NUMA policy of own memory"),
    entry!(SYS_get_mempolicy, Allow, "NUMA policy query (JVM, jemalloc)"),
    entry!(SYS_set_mempolicy_home_node, Allow, "NUMA policy of own memory"),
    entry!(SYS_pkey_mprotect, Allow, "memory protection keys"),
    entry!(SYS_pkey_alloc, Allow, "memory protection keys"),
    entry!(SYS_pkey_free, Allow, "memory protection keys"),
    entry!(SYS_mseal, Allow, "sealing own mappings; only restricts"),
    entry!(SYS_map_shadow_stack, Allow, "CET shadow stacks (glibc)"),
    // ---- Processes and threads ----
    entry!(
        SYS_clone,
        AllowUnless(CLONE_DENIALS),
        "fork and threads (Go, pthreads); namespace flags are denied"
    ),
    entry!(
        SYS_clone3,
        Enosys,
        "its flags live in memory a filter cannot read; ENOSYS makes glibc and others fall back to clone"
    ),
    entry!(SYS_fork, Allow, "process creation"),
    entry!(SYS_vfork, Allow, "process creation (posix_spawn)"),
    entry!(SYS_execve, Allow, "running programs"),
    entry!(SYS_execveat, Allow, "running programs (fexecve)"),
    entry!(SYS_exit, Allow, "thread exit"),
    entry!(SYS_exit_group, Allow, "process exit"),
    entry!(SYS_wait4, Allow, "reaping children"),
    entry!(SYS_waitid, Allow, "reaping children (Go os/exec)"),
    entry!(SYS_kill, Allow, "signals, confined by the PID namespace"),
    entry!(SYS_tkill, Allow, "signals to threads"),
    entry!(SYS_tgkill, Allow, "signals to threads (Go runtime preemption)"),
    entry!(SYS_rt_sigqueueinfo, Allow, "queued signals"),
    entry!(SYS_rt_tgsigqueueinfo, Allow, "queued signals"),
    entry!(SYS_pidfd_open, Allow, "process descriptors (Go os/exec)"),
    entry!(SYS_pidfd_send_signal, Allow, "signals via process descriptors"),
    entry!(SYS_getpid, Allow, "identity"),
    entry!(SYS_getppid, Allow, "identity"),
    entry!(SYS_gettid, Allow, "identity"),
    entry!(SYS_getpgid, Allow, "process groups"),
    entry!(SYS_getpgrp, Allow, "process groups (shells)"),
    entry!(SYS_setpgid, Allow, "process groups (shell job control)"),
    entry!(SYS_getsid, Allow, "sessions"),
    entry!(SYS_setsid, Allow, "sessions (daemons, setsid)"),
    entry!(SYS_set_tid_address, Allow, "thread start-up (glibc)"),
    entry!(SYS_set_robust_list, Allow, "thread start-up (glibc)"),
    entry!(SYS_rseq, Allow, "restartable sequences (glibc)"),
    entry!(SYS_arch_prctl, Allow, "TLS setup (dynamic linker)"),
    entry!(SYS_set_thread_area, Allow, "legacy TLS setup"),
    entry!(SYS_get_thread_area, Allow, "legacy TLS query"),
    entry!(
        SYS_prctl,
        Allow,
        "process attributes (names, no_new_privs, dumpable); needed to install the second filter"
    ),
    entry!(
        SYS_seccomp,
        Allow,
        "nested filters can only restrict further; needed to install the second filter"
    ),
    entry!(SYS_landlock_create_ruleset, Allow, "nested Landlock can only restrict"),
    entry!(SYS_landlock_add_rule, Allow, "nested Landlock can only restrict"),
    entry!(SYS_landlock_restrict_self, Allow, "nested Landlock can only restrict"),
    entry!(SYS_futex, Allow, "locking (every threaded program)"),
    entry!(SYS_futex_waitv, Allow, "locking"),
    entry!(SYS_futex_wake, Allow, "locking"),
    entry!(SYS_futex_wait, Allow, "locking"),
    entry!(SYS_futex_requeue, Allow, "locking"),
    entry!(SYS_sched_yield, Allow, "scheduling"),
    entry!(SYS_sched_getaffinity, Allow, "CPU count (Go runtime, nproc)"),
    entry!(SYS_sched_setaffinity, Allow, "CPU pinning of own threads"),
    entry!(SYS_sched_getparam, Allow, "scheduling"),
    entry!(SYS_sched_setparam, Allow, "scheduling; raising needs CAP_SYS_NICE"),
    entry!(SYS_sched_getscheduler, Allow, "scheduling"),
    entry!(SYS_sched_setscheduler, Allow, "scheduling; real-time needs CAP_SYS_NICE"),
    entry!(SYS_sched_getattr, Allow, "scheduling"),
    entry!(SYS_sched_setattr, Allow, "scheduling; raising needs CAP_SYS_NICE"),
    entry!(SYS_sched_get_priority_max, Allow, "scheduling"),
    entry!(SYS_sched_get_priority_min, Allow, "scheduling"),
    entry!(SYS_sched_rr_get_interval, Allow, "scheduling"),
    entry!(SYS_getpriority, Allow, "nice values"),
    entry!(SYS_setpriority, Allow, "nice values; raising needs CAP_SYS_NICE"),
    entry!(SYS_ioprio_get, Allow, "I/O priority"),
    entry!(SYS_ioprio_set, Allow, "I/O priority (ionice)"),
    entry!(SYS_getrlimit, Allow, "resource limits"),
    entry!(SYS_setrlimit, Allow, "resource limits; raising hard limits needs CAP_SYS_RESOURCE"),
    entry!(SYS_prlimit64, Allow, "resource limits (Go raises RLIMIT_NOFILE, glibc)"),
    entry!(SYS_getrusage, Allow, "resource usage (shells' time)"),
    entry!(SYS_times, Allow, "process times"),
    entry!(SYS_getcpu, Allow, "current CPU"),
    entry!(SYS_restart_syscall, Allow, "kernel-internal restart after signals"),
    entry!(SYS_uretprobe, Allow, "only callable from the kernel's uretprobe trampoline"),
    entry!(SYS_uprobe, Allow, "only callable from the kernel's uprobe trampoline"),
    // ---- Credentials ----
    entry!(SYS_getuid, Allow, "identity"),
    entry!(SYS_geteuid, Allow, "identity"),
    entry!(SYS_getgid, Allow, "identity"),
    entry!(SYS_getegid, Allow, "identity"),
    entry!(SYS_getresuid, Allow, "identity"),
    entry!(SYS_getresgid, Allow, "identity"),
    entry!(SYS_getgroups, Allow, "identity (id)"),
    entry!(SYS_setuid, Allow, "dropping privileges; gaining needs CAP_SETUID"),
    entry!(SYS_setgid, Allow, "dropping privileges; gaining needs CAP_SETGID"),
    entry!(SYS_setreuid, Allow, "dropping privileges"),
    entry!(SYS_setregid, Allow, "dropping privileges"),
    entry!(SYS_setresuid, Allow, "dropping privileges"),
    entry!(SYS_setresgid, Allow, "dropping privileges"),
    entry!(SYS_setfsuid, Allow, "dropping privileges"),
    entry!(SYS_setfsgid, Allow, "dropping privileges"),
    entry!(SYS_setgroups, Allow, "dropping privileges; needs CAP_SETGID"),
    entry!(SYS_capget, Allow, "capability query"),
    entry!(SYS_capset, Allow, "capabilities can only be dropped without CAP_SETPCAP"),
    // ---- Signals ----
    entry!(SYS_rt_sigaction, Allow, "signal handlers"),
    entry!(SYS_rt_sigprocmask, Allow, "signal masks"),
    entry!(SYS_rt_sigreturn, Allow, "return from signal handlers"),
    entry!(SYS_rt_sigpending, Allow, "pending signals"),
    entry!(SYS_rt_sigtimedwait, Allow, "waiting for signals"),
    entry!(SYS_rt_sigsuspend, Allow, "waiting for signals (shells)"),
    entry!(SYS_sigaltstack, Allow, "alternate signal stacks (Go runtime)"),
    entry!(SYS_pause, Allow, "waiting for signals"),
    // ---- Time ----
    entry!(SYS_clock_gettime, Allow, "reading clocks (vDSO fallback)"),
    entry!(SYS_clock_getres, Allow, "reading clocks"),
    entry!(SYS_gettimeofday, Allow, "reading clocks"),
    entry!(SYS_time, Allow, "reading clocks"),
    entry!(SYS_nanosleep, Allow, "sleeping"),
    entry!(SYS_clock_nanosleep, Allow, "sleeping (sleep)"),
    entry!(SYS_alarm, Allow, "timers"),
    entry!(SYS_getitimer, Allow, "timers"),
    entry!(SYS_setitimer, Allow, "timers (profilers)"),
    entry!(SYS_timer_create, Allow, "POSIX timers (Go profiler)"),
    entry!(SYS_timer_settime, Allow, "POSIX timers"),
    entry!(SYS_timer_gettime, Allow, "POSIX timers"),
    entry!(SYS_timer_getoverrun, Allow, "POSIX timers"),
    entry!(SYS_timer_delete, Allow, "POSIX timers"),
    // ---- System information ----
    entry!(SYS_uname, Allow, "system identification"),
    entry!(SYS_sysinfo, Allow, "memory and load figures"),
    entry!(SYS_getrandom, Allow, "randomness (Python, Go, hash seeds)"),
    // ---- Sockets ----
    entry!(
        SYS_socket,
        AllowUnless(SOCKET_DENIALS),
        "networking; unusual families and raw IP sockets are denied"
    ),
    entry!(SYS_socketpair, Allow, "local socket pairs"),
    entry!(SYS_connect, Allow, "networking"),
    entry!(SYS_bind, Allow, "networking"),
    entry!(SYS_listen, Allow, "networking"),
    entry!(SYS_accept, Allow, "networking"),
    entry!(SYS_accept4, Allow, "networking"),
    entry!(SYS_sendto, Allow, "networking"),
    entry!(SYS_recvfrom, Allow, "networking"),
    entry!(SYS_sendmsg, Allow, "networking, descriptor passing"),
    entry!(SYS_recvmsg, Allow, "networking, descriptor passing"),
    entry!(SYS_sendmmsg, Allow, "networking (glibc resolver)"),
    entry!(SYS_recvmmsg, Allow, "networking"),
    entry!(SYS_getsockopt, Allow, "networking"),
    entry!(SYS_setsockopt, Allow, "networking"),
    entry!(SYS_getsockname, Allow, "networking"),
    entry!(SYS_getpeername, Allow, "networking"),
    entry!(SYS_shutdown, Allow, "networking"),
    // ---- System V and POSIX IPC (confined by the IPC namespace) ----
    entry!(SYS_shmget, Allow, "System V shared memory"),
    entry!(SYS_shmat, Allow, "System V shared memory"),
    entry!(SYS_shmdt, Allow, "System V shared memory"),
    entry!(SYS_shmctl, Allow, "System V shared memory"),
    entry!(SYS_semget, Allow, "System V semaphores"),
    entry!(SYS_semop, Allow, "System V semaphores"),
    entry!(SYS_semtimedop, Allow, "System V semaphores"),
    entry!(SYS_semctl, Allow, "System V semaphores"),
    entry!(SYS_msgget, Allow, "System V message queues"),
    entry!(SYS_msgsnd, Allow, "System V message queues"),
    entry!(SYS_msgrcv, Allow, "System V message queues"),
    entry!(SYS_msgctl, Allow, "System V message queues"),
    entry!(SYS_mq_open, Allow, "POSIX message queues"),
    entry!(SYS_mq_unlink, Allow, "POSIX message queues"),
    entry!(SYS_mq_timedsend, Allow, "POSIX message queues"),
    entry!(SYS_mq_timedreceive, Allow, "POSIX message queues"),
    entry!(SYS_mq_notify, Allow, "POSIX message queues"),
    entry!(SYS_mq_getsetattr, Allow, "POSIX message queues"),
    // ---- Conditionally allowed ----
    entry!(
        SYS_personality,
        AllowUnless(PERSONALITY_DENIALS),
        "query and harmless personas only; others weaken ASLR or NX"
    ),
    // ---- Denied: kernel attack surface ----
    entry!(SYS_io_uring_setup, Deny, "io_uring bypasses seccomp and is a large attack surface"),
    entry!(SYS_io_uring_enter, Deny, "io_uring bypasses seccomp and is a large attack surface"),
    entry!(SYS_io_uring_register, Deny, "io_uring bypasses seccomp and is a large attack surface"),
    entry!(SYS_userfaultfd, Deny, "used to win kernel race conditions in exploits"),
    entry!(SYS_bpf, Deny, "eBPF programs are kernel attack surface"),
    entry!(SYS_perf_event_open, Deny, "perf events leak kernel data and are attack surface"),
    entry!(SYS_keyctl, Deny, "kernel keyrings are not namespaced"),
    entry!(SYS_add_key, Deny, "kernel keyrings are not namespaced"),
    entry!(SYS_request_key, Deny, "kernel keyrings are not namespaced"),
    entry!(SYS_modify_ldt, Deny, "16-bit segments; old exploit vector"),
    entry!(SYS_lookup_dcookie, Deny, "profiling interface; reveals kernel data"),
    entry!(SYS_syslog, Deny, "kernel log leaks kernel addresses"),
    entry!(SYS__sysctl, Deny, "removed sysctl interface"),
    entry!(SYS_fanotify_init, Deny, "file-system-wide event monitoring"),
    entry!(SYS_fanotify_mark, Deny, "file-system-wide event monitoring"),
    // ---- Denied: other processes ----
    entry!(SYS_ptrace, Deny, "tracing other processes escapes seccomp and reads their memory"),
    entry!(SYS_process_vm_readv, Deny, "reads another process's memory"),
    entry!(SYS_process_vm_writev, Deny, "writes another process's memory"),
    entry!(SYS_kcmp, Deny, "compares kernel objects of other processes; info leak"),
    entry!(SYS_pidfd_getfd, Deny, "steals descriptors from other processes"),
    entry!(SYS_get_robust_list, Deny, "reads another thread's robust-futex list; not needed"),
    entry!(SYS_process_madvise, Deny, "acts on another process's memory"),
    entry!(SYS_process_mrelease, Deny, "acts on another process's memory"),
    entry!(SYS_migrate_pages, Deny, "moves another process's pages"),
    entry!(SYS_move_pages, Deny, "moves another process's pages"),
    // ---- Denied: namespaces and mounts ----
    entry!(SYS_unshare, Deny, "new namespaces would undo the sandbox's view"),
    entry!(SYS_setns, Deny, "joining other namespaces"),
    entry!(SYS_mount, Deny, "mount family: changes the file-system view"),
    entry!(SYS_umount2, Deny, "mount family: could expose what a mount hides"),
    entry!(SYS_fsopen, Deny, "mount family"),
    entry!(SYS_fsconfig, Deny, "mount family"),
    entry!(SYS_fsmount, Deny, "mount family"),
    entry!(SYS_fspick, Deny, "mount family"),
    entry!(SYS_move_mount, Deny, "mount family"),
    entry!(SYS_open_tree, Deny, "mount family"),
    entry!(SYS_open_tree_attr, Deny, "mount family"),
    entry!(SYS_mount_setattr, Deny, "mount family"),
    entry!(SYS_pivot_root, Deny, "changes the root of the mount namespace"),
    entry!(SYS_chroot, Deny, "changes the root directory"),
    entry!(SYS_name_to_handle_at, Deny, "file handles bypass path-based confinement"),
    entry!(SYS_open_by_handle_at, Deny, "file handles bypass path-based confinement (shocker)"),
    // ---- Denied: whole-system administration ----
    entry!(SYS_kexec_load, Deny, "loads a new kernel"),
    entry!(SYS_kexec_file_load, Deny, "loads a new kernel"),
    entry!(SYS_init_module, Deny, "kernel module loading"),
    entry!(SYS_finit_module, Deny, "kernel module loading"),
    entry!(SYS_delete_module, Deny, "kernel module unloading"),
    entry!(SYS_create_module, Deny, "kernel module loading (removed)"),
    entry!(SYS_get_kernel_syms, Deny, "kernel module symbols (removed)"),
    entry!(SYS_query_module, Deny, "kernel module query (removed)"),
    entry!(SYS_reboot, Deny, "reboots the machine"),
    entry!(SYS_swapon, Deny, "swap administration"),
    entry!(SYS_swapoff, Deny, "swap administration"),
    entry!(SYS_acct, Deny, "process accounting administration"),
    entry!(SYS_clock_settime, Deny, "sets the system clock"),
    entry!(SYS_settimeofday, Deny, "sets the system clock"),
    entry!(SYS_adjtimex, Deny, "adjusts the system clock"),
    entry!(SYS_clock_adjtime, Deny, "adjusts the system clock"),
    entry!(SYS_sethostname, Deny, "changes the host name"),
    entry!(SYS_setdomainname, Deny, "changes the domain name"),
    entry!(SYS_iopl, Deny, "raw I/O port access"),
    entry!(SYS_ioperm, Deny, "raw I/O port access"),
    entry!(SYS_quotactl, Deny, "disk quota administration"),
    entry!(SYS_quotactl_fd, Deny, "disk quota administration"),
    entry!(SYS_nfsservctl, Deny, "NFS server administration (removed)"),
    entry!(SYS_vhangup, Deny, "hangs up the terminal of other processes"),
];

/// The whole policy table, as data, each entry with a reason.
///
/// System calls not in the table fail with `ENOSYS`.
pub fn policy_table() -> &'static [SyscallEntry] {
    POLICY
}

/// Compiled filters, in install order (allow-list first, deny-list second).
#[derive(Debug, Clone)]
pub struct SeccompFilters {
    programs: Vec<(&'static str, BpfProgram)>,
}

fn to_condition(syscall: &'static str, cond: &ArgCond) -> Result<SeccompCondition, SeccompError> {
    let (op, value) = match cond.op {
        ArgOp::Eq(v) => (SeccompCmpOp::Eq, v),
        ArgOp::Ne(v) => (SeccompCmpOp::Ne, v),
        ArgOp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(u64::from(mask)), value),
    };
    // Dword: compare the low 32 bits only, as the kernel does for these arguments.
    SeccompCondition::new(cond.arg, SeccompCmpArgLen::Dword, op, u64::from(value))
        .map_err(|source| SeccompError::BuildRule { syscall, source })
}

fn to_rule(syscall: &'static str, denial: &DenyWhen) -> Result<SeccompRule, SeccompError> {
    let conditions = denial
        .all
        .iter()
        .map(|c| to_condition(syscall, c))
        .collect::<Result<Vec<_>, _>>()?;
    SeccompRule::new(conditions).map_err(|source| SeccompError::BuildRule { syscall, source })
}

fn compile(
    filter: &'static str,
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    on_match: SeccompAction,
) -> Result<(&'static str, BpfProgram), SeccompError> {
    let built = SeccompFilter::new(rules, mismatch, on_match, TARGET_ARCH)
        .map_err(|source| SeccompError::BuildFilter { filter, source })?;
    let program =
        BpfProgram::try_from(built).map_err(|source| SeccompError::Compile { filter, source })?;
    Ok((filter, program))
}

/// Builds both BPF programs from [`policy_table`]. Call before forking.
pub fn build_filters() -> Result<SeccompFilters, SeccompError> {
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for entry in policy_table() {
        match entry.action {
            EntryAction::Allow => {
                allowed.insert(entry.nr, Vec::new());
            }
            EntryAction::AllowUnless(denials) => {
                allowed.insert(entry.nr, Vec::new());
                // An empty rule list would deny unconditionally in the deny-list.
                if !denials.is_empty() {
                    let rules = denials
                        .iter()
                        .map(|d| to_rule(entry.name, d))
                        .collect::<Result<Vec<_>, _>>()?;
                    denied.insert(entry.nr, rules);
                }
            }
            EntryAction::Deny => {
                denied.insert(entry.nr, Vec::new());
            }
            EntryAction::Enosys => {}
        }
    }
    let allow_list = compile(
        ALLOW_FILTER,
        allowed,
        SeccompAction::Errno(ABSENT_ERRNO as u32),
        SeccompAction::Allow,
    )?;
    let deny_list = compile(
        DENY_FILTER,
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(DENY_ERRNO as u32),
    )?;
    Ok(SeccompFilters {
        programs: vec![allow_list, deny_list],
    })
}

impl SeccompFilters {
    /// Installs the filters on the calling thread, allow-list first.
    ///
    /// Meant for the forked child right before `execve`: it does not allocate
    /// (it hands the prebuilt programs to the kernel). seccompiler sets
    /// `no_new_privs` itself before each filter, so calling this also sets it.
    /// After it returns, only table-allowed calls work (`execve`, `write`,
    /// `close`, `_exit` all are).
    pub fn apply(&self) -> Result<(), SeccompError> {
        for (filter, program) in &self.programs {
            seccompiler::apply_filter(program)
                .map_err(|source| SeccompError::Apply { filter, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::ffi::CString;

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
    fn builds_two_filters_in_install_order() {
        let filters = build_filters().unwrap();
        let names: Vec<_> = filters.programs.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [ALLOW_FILTER, DENY_FILTER]);
        assert!(filters.programs.iter().all(|(_, p)| !p.is_empty()));
    }

    #[test]
    fn actions_display() {
        let s = find("ioctl").action.to_string();
        assert!(s.contains("arg1 == 0x5412"), "{s}");
        assert!(find("clone").action.to_string().contains("0x10000000"));
        assert_eq!(find("bpf").action.to_string(), "deny (EPERM)");
    }

    // ---- Real kernel ----

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
    fn in_child(filters: Option<&SeccompFilters>, body: fn() -> i32) -> i32 {
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
    fn describe(status: i32, checks: &[&str]) -> String {
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
        let filters = build_filters().unwrap();
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

    /// getpid through the i386 entry point; returns the kernel's answer.
    fn int80_getpid() -> i64 {
        let mut ret: i64 = 20; // __NR_getpid on i386
                               // SAFETY: `int 0x80` with eax = getpid takes no pointers; the
                               // registers the 32-bit entry may clobber are declared.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inout("rax") ret,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                options(nostack)
            );
        }
        ret
    }

    fn int80_body() -> i32 {
        // SAFETY: plain getpid.
        let pid = unsafe { libc::getpid() };
        i32::from(int80_getpid() != i64::from(pid))
    }

    #[test]
    fn foreign_architecture_calls_are_refused() {
        // Only meaningful where the kernel runs i386 calls at all.
        let probe = in_child(None, int80_body);
        if !(libc::WIFEXITED(probe) && libc::WEXITSTATUS(probe) == 0) {
            eprintln!(
                "skipping: no i386 emulation here ({})",
                describe(probe, &[])
            );
            return;
        }
        let filters = build_filters().unwrap();
        let status = in_child(Some(&filters), int80_body);
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
            "{}",
            describe(status, &[])
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
}
