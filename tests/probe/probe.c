/*
 * The escape probe of tests/escape.rs.
 *
 * HOSTILE CODE: it tries what a tool escaping its sandbox would try. It is
 * compiled by the test suite and only ever run INSIDE agentjail's sandbox,
 * bound read-only at /opt/probe. main() refuses to do anything (exit 99)
 * unless the process is in a user namespace, under a seccomp filter and with
 * no_new_privs set; never run it by hand.
 *
 * Usage: probe WHAT [ARGS...]. Every result is one line, `name=ok`,
 * `name=ok:DETAIL` or `name=ERRNO_NAME`; the last line is `done`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *errno_name(int e) {
  switch (e) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC)
    E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY)
    E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE)
    E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS)
    E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ELOOP) E(ENOKEY)
    E(EIDRM) E(ENOTSOCK) E(EOPNOTSUPP) E(EAFNOSUPPORT) E(EADDRINUSE)
    E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH) E(ECONNREFUSED) E(ECONNRESET)
    E(ETIMEDOUT) E(EHOSTUNREACH) E(ESTALE) E(EPROTONOSUPPORT) E(EDQUOT)
    E(EMEDIUMTYPE) E(EOWNERDEAD)
#undef E
  default: {
    static char buf[32];
    snprintf(buf, sizeof buf, "errno%d", e);
    return buf;
  }
  }
}

/* Prints `name=ok` for r >= 0, else `name=ERRNO_NAME` (errno read at once). */
static void report(const char *name, long r) {
  int e = errno;
  if (r >= 0)
    printf("%s=ok\n", name);
  else
    printf("%s=%s\n", name, errno_name(e));
}

static void report_path(const char *what, const char *path, long r) {
  int e = errno;
  if (r >= 0)
    printf("%s:%s=ok\n", what, path);
  else
    printf("%s:%s=%s\n", what, path, errno_name(e));
}

static int read_file(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, len - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return (int)n;
}

/* The guard: confined means a user namespace (uid_map is not the initial
 * namespace's identity map), seccomp filter mode and no_new_privs. */
static int confined(void) {
  char buf[8192], squeezed[256];
  if (read_file("/proc/self/uid_map", buf, sizeof buf) <= 0) return 0;
  size_t j = 0;
  int space = 1;
  for (size_t i = 0; buf[i] && j + 1 < sizeof squeezed; i++) {
    if (isspace((unsigned char)buf[i])) {
      if (!space) squeezed[j++] = ' ';
      space = 1;
    } else {
      squeezed[j++] = buf[i];
      space = 0;
    }
  }
  while (j > 0 && squeezed[j - 1] == ' ') j--;
  squeezed[j] = 0;
  if (strcmp(squeezed, "0 0 4294967295") == 0) return 0;
  if (read_file("/proc/self/status", buf, sizeof buf) <= 0) return 0;
  int seccomp = 0, nnp = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "Seccomp:", 8) == 0 && atoi(line + 8) == 2) seccomp = 1;
    if (strncmp(line, "NoNewPrivs:", 11) == 0 && atoi(line + 11) == 1) nnp = 1;
  }
  return seccomp && nnp;
}

/* Each call is chosen to be harmless even if it were allowed. */
static void syscalls(void) {
  char buf[256];
  long r;

  report("ptrace", syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
  report("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
  report("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
  int nsfd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
  report("setns", syscall(SYS_setns, nsfd, CLONE_NEWUTS));
  if (nsfd >= 0) close(nsfd);
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */,
                           -3 /* KEY_SPEC_SESSION_KEYRING */, 0));
  report("add_key", syscall(SYS_add_key, "user", "agentjail-probe", "x", 1,
                            -2 /* KEY_SPEC_PROCESS_KEYRING */));
  unsigned int bpf_attr[32] = {2 /* ARRAY */, 4, 4, 1};
  r = syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, bpf_attr, 72);
  report("bpf", r);
  if (r >= 0) close((int)r);
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.type = PERF_TYPE_SOFTWARE;
  pe.size = sizeof pe;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  pe.disabled = 1;
  pe.exclude_kernel = 1;
  pe.exclude_hv = 1;
  r = syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
  report("perf_event_open", r);
  if (r >= 0) close((int)r);
  r = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
  report("userfaultfd", r);
  if (r >= 0) close((int)r);
  unsigned char uring_params[120];
  memset(uring_params, 0, sizeof uring_params);
  r = syscall(SYS_io_uring_setup, 1, uring_params);
  report("io_uring_setup", r);
  if (r >= 0) close((int)r);
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  report("init_module", syscall(SYS_init_module, NULL, 0, ""));
  struct {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[8];
  } handle = {8, 1, {0}};
  r = syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
  report("open_by_handle_at", r);
  if (r >= 0) close((int)r);
  /* Invalid magic numbers: cannot reboot even if the call were allowed. */
  report("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
  report("swapon", syscall(SYS_swapon, "/nonexistent-agentjail-swap", 0));
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  report("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, &now));
  if (gethostname(buf, sizeof buf) != 0) strcpy(buf, "agentjail");
  report("sethostname", syscall(SYS_sethostname, buf, strlen(buf)));
  report("acct", syscall(SYS_acct, NULL));
  report("iopl", syscall(SYS_iopl, 0));
  /* Beyond the required list. */
  report("ioperm", syscall(SYS_ioperm, 0x80, 1, 0));
  r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  report("clone_newuser", r);
  if (r > 0) waitpid((pid_t)r, NULL, 0);
  char src[8] = "abc", dst[8];
  struct iovec lio = {dst, 4}, rio = {src, 4};
  report("process_vm_readv",
         syscall(SYS_process_vm_readv, getpid(), &lio, 1, &rio, 1, 0));
  struct {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[128];
  } h2 = {128, 0, {0}};
  int mount_id;
  report("name_to_handle_at",
         syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h2, &mount_id, 0));
  r = syscall(SYS_open_tree, AT_FDCWD, "/", 0);
  report("open_tree", r);
  if (r >= 0) close((int)r);
  r = syscall(SYS_fsopen, "tmpfs", 0);
  report("fsopen", r);
  if (r >= 0) close((int)r);
  report("chroot", syscall(SYS_chroot, "/"));
  report("pivot_root", syscall(SYS_pivot_root, ".", "."));
  report("kcmp", syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0));
}

/* Tries to push a character into the input queue of the terminal on fd 0:
 * first making it the controlling terminal, so that only the seccomp filter
 * (not the kernel's "not your controlling tty" check) stands in the way. */
static void tiocsti(void) {
  printf("stdin_tty=%d\n", isatty(0));
  report("tiocsctty", ioctl(0, TIOCSCTTY, 0));
  report("tiocsti", ioctl(0, TIOCSTI, "x"));
  /* The request with bits set above the low 32 (CVE-2017-5226 style). */
  report("tiocsti_high", syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1UL << 32), "x"));
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    report("devtty_open", -1);
  } else {
    report("devtty_open", fd);
    report("tiocsti_devtty", ioctl(fd, TIOCSTI, "x"));
    close(fd);
  }
}

static void fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    report("opendir", -1);
    return;
  }
  int own = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    int fd = atoi(e->d_name);
    if (fd == own) continue;
    char link[64], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = 0;
    printf("fd=%d:%s\n", fd, target);
  }
  closedir(d);
}

static void connect_tcp(const char *port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    report("connect_tcp", -1);
    return;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  report("connect_tcp", connect(s, (struct sockaddr *)&a, sizeof a));
  close(s);
}

static void connect_abstract(const char *name) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    report("connect_abstract", -1);
    return;
  }
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  size_t len = strlen(name);
  if (len > sizeof a.sun_path - 1) len = sizeof a.sun_path - 1;
  memcpy(a.sun_path + 1, name, len);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
  report("connect_abstract", connect(s, (struct sockaddr *)&a, alen));
  close(s);
}

static void proc1(void) {
  char target[512];
  report("readlink_exe", readlink("/proc/1/exe", target, sizeof target));
  report("readlink_cwd", readlink("/proc/1/cwd", target, sizeof target));
  report("readlink_root", readlink("/proc/1/root", target, sizeof target));
  const struct {
    const char *name, *path;
    int flags;
  } opens[] = {
      {"open_exe_w", "/proc/1/exe", O_WRONLY},
      {"open_exe_r", "/proc/1/exe", O_RDONLY},
      {"open_environ", "/proc/1/environ", O_RDONLY},
      {"open_mem", "/proc/1/mem", O_RDONLY},
      {"open_fd_dir", "/proc/1/fd", O_RDONLY | O_DIRECTORY},
  };
  for (size_t i = 0; i < sizeof opens / sizeof opens[0]; i++) {
    int fd = open(opens[i].path, opens[i].flags | O_CLOEXEC | O_NOCTTY);
    report(opens[i].name, fd);
    if (fd >= 0) close(fd);
  }
}

/* fd 0 is a host directory the caller passed: try to reach its files. */
static void stdin_dir(const char *name) {
  char buf[256];
  int fd = openat(0, name, O_RDONLY | O_CLOEXEC);
  report("openat0", fd);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    printf("content=%s\n", buf);
    close(fd);
  }
  fd = openat(0, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  report("openat0_parent", fd);
  if (fd >= 0) {
    int fd2 = openat(fd, "passwd", O_RDONLY | O_CLOEXEC);
    report("openat0_parent_file", fd2);
    if (fd2 >= 0) close(fd2);
    close(fd);
  }
  report("fchdir0", fchdir(0));
  fd = open(name, O_RDONLY | O_CLOEXEC);
  report("open_after_fchdir", fd);
  if (fd >= 0) close(fd);
}

/* Other ABIs' entry points: an x32 number, then i386's int 0x80 (unshare,
 * 310 on i386). The filter should answer ENOSYS for the first and kill the
 * process for the second. */
static void compat(void) {
  report("x32_unshare", syscall(0x40000000L | SYS_unshare, CLONE_NEWUSER));
  fflush(stdout);
  long ret;
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(310L), "b"((long)CLONE_NEWUSER)
                   : "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
  if (ret < 0) {
    errno = (int)-ret;
    report("int80_unshare", -1);
  } else {
    report("int80_unshare", 0);
  }
}

/* A pathname unix address; returns its length. */
static socklen_t unix_addr(struct sockaddr_un *a, const char *path) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len > sizeof a->sun_path - 1) len = sizeof a->sun_path - 1;
  memcpy(a->sun_path, path, len);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

/* Every way to reach a pathname unix socket at `path`: a stream connect, a
 * datagram socket's sendto and connect, and the ends of datagram, stream and
 * seqpacket socketpairs re-aimed with sendto and connect. Sends only the
 * bytes "probe". */
static void unix_reach(const char *path) {
  struct sockaddr_un a;
  socklen_t alen = unix_addr(&a, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  report("unix_stream_socket", s);
  if (s >= 0) {
    report("unix_stream_connect", connect(s, (struct sockaddr *)&a, alen));
    close(s);
  }
  s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  report("unix_dgram_socket", s);
  if (s >= 0) {
    report("unix_dgram_sendto", sendto(s, "probe", 5, 0, (struct sockaddr *)&a, alen));
    report("unix_dgram_connect", connect(s, (struct sockaddr *)&a, alen));
    close(s);
  }
  const struct {
    const char *name;
    int type;
  } pairs[] = {{"pair_dgram", SOCK_DGRAM},
               {"pair_stream", SOCK_STREAM},
               {"pair_seqpacket", SOCK_SEQPACKET}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    char name[64];
    int sv[2];
    int r = socketpair(AF_UNIX, pairs[i].type | SOCK_CLOEXEC, 0, sv);
    snprintf(name, sizeof name, "%s_socketpair", pairs[i].name);
    report(name, r);
    if (r < 0) continue;
    snprintf(name, sizeof name, "%s_sendto", pairs[i].name);
    report(name, sendto(sv[0], "probe", 5, 0, (struct sockaddr *)&a, alen));
    struct msghdr mh;
    struct iovec iov = {.iov_base = "probe", .iov_len = 5};
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &a;
    mh.msg_namelen = alen;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    snprintf(name, sizeof name, "%s_sendmsg", pairs[i].name);
    report(name, sendmsg(sv[0], &mh, 0));
    snprintf(name, sizeof name, "%s_connect", pairs[i].name);
    report(name, connect(sv[1], (struct sockaddr *)&a, alen));
    close(sv[0]);
    close(sv[1]);
  }
}

/* What keeps working: a stream socketpair carries bytes; a listener of the
 * tool's own in its /tmp accepts the tool's own connection. */
static void unix_local(void) {
  int sv[2];
  char buf[8] = {0};
  int r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  if (r == 0 && write(sv[0], "pair", 4) == 4 && read(sv[1], buf, 4) == 4 &&
      memcmp(buf, "pair", 4) == 0)
    printf("socketpair_stream=ok\n");
  else
    report("socketpair_stream", -1);
  struct sockaddr_un a;
  socklen_t alen = unix_addr(&a, "/tmp/own.sock");
  unlink("/tmp/own.sock");
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&a, alen) < 0 || listen(l, 1) < 0) {
    report("own_tmp_socket", -1);
    return;
  }
  int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  report("own_tmp_socket", c < 0 ? -1 : connect(c, (struct sockaddr *)&a, alen));
}

/* Opens up to `max` ptys; prints how many it got and the error that stopped it. */
static void ptys(int max) {
  int n = 0, e = 0;
  for (; n < max; n++) {
    int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      e = errno;
      break;
    }
  }
  printf("ptys=%d\nptys_stop=%s\n", n, e ? errno_name(e) : "none");
}

/* Creates up to `max` inotify instances; prints how many it got. */
static void inotifies(int max) {
  int n = 0, e = 0;
  for (; n < max; n++) {
    if (inotify_init1(IN_CLOEXEC) < 0) {
      e = errno;
      break;
    }
  }
  printf("inotify=%d\ninotify_stop=%s\n", n, e ? errno_name(e) : "none");
}

/* The sandbox's loopback: a datagram sent to itself on 127.0.0.1 comes back
   (loopback is up; TCP is Landlock's to refuse), then an attempt to take
   loopback down (the tool may not). */
static void loopback(void) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  struct timeval tv = {1, 0};
  char buf[8];
  int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  long r = u < 0 ? -1 : bind(u, (struct sockaddr *)&a, sizeof a);
  if (r == 0) r = getsockname(u, (struct sockaddr *)&a, &len);
  if (r == 0) r = setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (r == 0) r = sendto(u, "lo", 2, 0, (struct sockaddr *)&a, sizeof a);
  if (r >= 0) r = recv(u, buf, sizeof buf, 0) == 2 ? 0 : -1;
  report("lo_datagram", r);
  struct ifreq q;
  memset(&q, 0, sizeof q);
  strncpy(q.ifr_name, "lo", IFNAMSIZ - 1);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  r = s < 0 ? -1 : ioctl(s, SIOCGIFFLAGS, &q);
  printf("lo_up=%s\n", r == 0 && (q.ifr_flags & IFF_UP) ? "yes" : "no");
  q.ifr_flags &= ~IFF_UP;
  report("lo_down", r == 0 ? ioctl(s, SIOCSIFFLAGS, &q) : -1);
}

/* The network namespace's cookie: unlike its inode number, which the
   kernel hands out again once a namespace is freed, a cookie is never reused
   while the machine runs, so runs that never overlap can still be told apart. */
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
static void netns(void) {
  unsigned long long cookie = 0;
  socklen_t len = sizeof cookie;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  long r = s < 0 ? -1 : getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  if (r == 0)
    printf("netns_cookie=%llu\n", cookie);
  else
    report("netns_cookie", r);
}

/* Tries to truncate the caller's files through the tool's stdout and stderr. */
static void truncate_std(void) {
  report("ftruncate_stdout", ftruncate(1, 0));
  report("ftruncate_stderr", ftruncate(2, 0));
  struct stat st;
  if (fstat(1, &st) == 0)
    printf("stdout_type=%s\n", S_ISREG(st.st_mode) ? "file" : S_ISFIFO(st.st_mode) ? "pipe" : "other");
}

int main(int argc, char **argv) {
  if (!confined()) {
    fprintf(stderr, "probe: not confined by a sandbox, refusing to run\n");
    return 99;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: probe WHAT [ARGS...]\n");
    return 2;
  }
  const char *what = argv[1];
  char **args = argv + 2;
  int nargs = argc - 2;
  if (strcmp(what, "syscalls") == 0) {
    syscalls();
  } else if (strcmp(what, "tiocsti") == 0) {
    tiocsti();
  } else if (strcmp(what, "stdin_dir") == 0 && nargs == 1) {
    stdin_dir(args[0]);
  } else if (strcmp(what, "compat") == 0) {
    compat();
  } else if (strcmp(what, "fds") == 0) {
    fds();
  } else if (strcmp(what, "connect_tcp") == 0 && nargs == 1) {
    connect_tcp(args[0]);
  } else if (strcmp(what, "unix_reach") == 0 && nargs == 1) {
    unix_reach(args[0]);
  } else if (strcmp(what, "unix_local") == 0) {
    unix_local();
  } else if (strcmp(what, "ptys") == 0 && nargs == 1) {
    ptys(atoi(args[0]));
  } else if (strcmp(what, "inotify") == 0 && nargs == 1) {
    inotifies(atoi(args[0]));
  } else if (strcmp(what, "loopback") == 0) {
    loopback();
  } else if (strcmp(what, "netns") == 0) {
    netns();
  } else if (strcmp(what, "truncate_std") == 0) {
    truncate_std();
  } else if (strcmp(what, "connect_abstract") == 0 && nargs == 1) {
    connect_abstract(args[0]);
  } else if (strcmp(what, "shm_stat") == 0 && nargs == 1) {
    struct shmid_ds ds;
    report("shm_stat", shmctl(atoi(args[0]), IPC_STAT, &ds));
  } else if (strcmp(what, "kill") == 0 && nargs == 1) {
    report("kill", kill((pid_t)atoi(args[0]), 0));
  } else if (strcmp(what, "getpid") == 0) {
    printf("pid=%d\nppid=%d\n", (int)getpid(), (int)getppid());
  } else if (strcmp(what, "env") == 0) {
    for (char **e = environ; *e; e++) printf("env=%s\n", *e);
  } else if (strcmp(what, "proc1") == 0) {
    proc1();
  } else if (strcmp(what, "create") == 0) {
    for (int i = 0; i < nargs; i++) {
      int fd = open(args[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      report_path("create", args[i], fd);
      if (fd >= 0) {
        close(fd);
        unlink(args[i]);
      }
    }
  } else if (strcmp(what, "mkdir") == 0) {
    for (int i = 0; i < nargs; i++) {
      int r = mkdir(args[i], 0700);
      report_path("mkdir", args[i], r);
      if (r == 0) rmdir(args[i]);
    }
  } else if (strcmp(what, "openw") == 0) {
    /* Opens for writing and closes again: never writes a byte. */
    for (int i = 0; i < nargs; i++) {
      int fd = open(args[i], O_WRONLY | O_NOCTTY | O_CLOEXEC);
      report_path("openw", args[i], fd);
      if (fd >= 0) close(fd);
    }
  } else if (strcmp(what, "chmod") == 0) {
    /* Sets the mode a file already has. */
    for (int i = 0; i < nargs; i++) {
      struct stat st;
      int r = stat(args[i], &st);
      if (r == 0) r = chmod(args[i], st.st_mode & 07777);
      report_path("chmod", args[i], r);
    }
  } else if (strcmp(what, "rewrite") == 0) {
    /* Writes back exactly what the file holds: harmless wherever it lands. */
    for (int i = 0; i < nargs; i++) {
      char buf[4096];
      int n = read_file(args[i], buf, sizeof buf);
      if (n < 0) {
        report_path("rewrite_read", args[i], -1);
        continue;
      }
      int fd = open(args[i], O_WRONLY | O_NOCTTY | O_CLOEXEC);
      long r = fd;
      if (fd >= 0) {
        r = write(fd, buf, (size_t)n);
        close(fd);
      }
      report_path("rewrite", args[i], r);
    }
  } else if (strcmp(what, "read") == 0) {
    for (int i = 0; i < nargs; i++) {
      int fd = open(args[i], O_RDONLY | O_NOCTTY | O_CLOEXEC);
      if (fd < 0) {
        report_path("read", args[i], -1);
        continue;
      }
      char buf[65536];
      ssize_t n = read(fd, buf, sizeof buf);
      int e = errno;
      close(fd);
      if (n < 0)
        printf("read:%s=%s\n", args[i], errno_name(e));
      else
        printf("read:%s=ok:%zd\n", args[i], n);
    }
  } else if (strcmp(what, "mknod") == 0) {
    for (int i = 0; i < nargs; i++) {
      int r = mknod(args[i], S_IFBLK | 0600, makedev(8, 0));
      report_path("mknod", args[i], r);
      if (r == 0) unlink(args[i]);
    }
  } else {
    fprintf(stderr, "probe: unknown request %s\n", what);
    return 2;
  }
  printf("done\n");
  return 0;
}
