//! The allow-list table: every system call the policy names, with what is
//! done with it and why. It is the single source of truth for both BPF
//! programs and for what `agentjail check` and the docs print; calls absent
//! from it fail with `ENOSYS`.
//!
//! Data only: it may not compile or install filters (`compile.rs`), and the
//! argument conditions live in `args.rs`.

use super::args::{CLONE_DENIALS, IOCTL_DENIALS, PERSONALITY_DENIALS, SOCKET_DENIALS};
use super::rules::{EntryAction, SyscallEntry};

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
        "networking; unusual families and raw IP sockets are denied (AF_UNIX too, by FilterOptions)"
    ),
    entry!(
        SYS_socketpair,
        Allow,
        "local socket pairs (datagram pairs denied by FilterOptions)"
    ),
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
