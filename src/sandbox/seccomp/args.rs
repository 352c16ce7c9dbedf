//! The argument denials of the conditional table entries: `clone` with a
//! namespace flag, terminal-driving `ioctl`s, unusual `personality` values,
//! and `socket` families and types tools do not need. Each denial says why.
//!
//! Conditions look at the low 32 bits of an argument only (see the module
//! top comment of `seccomp`). Data only: it may not compile or install
//! anything.

use super::rules::{ArgCond, ArgOp, DenyWhen};

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
pub(super) const CLONE_DENIALS: &[DenyWhen] = &[
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
pub(super) const IOCTL_DENIALS: &[DenyWhen] = &[
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
pub(super) const PERSONALITY_DENIALS: &[DenyWhen] = &[DenyWhen {
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

/// A denial of one socket type (arg 1, flags ignored) in one family (arg 0).
macro_rules! family_type {
    ($family:expr, $ty:expr, $why:expr) => {
        DenyWhen {
            all: &[
                ArgCond {
                    arg: 0,
                    op: ArgOp::Eq($family as u32),
                },
                ArgCond {
                    arg: 1,
                    op: ArgOp::MaskedEq {
                        mask: SOCK_TYPE_MASK,
                        value: $ty as u32,
                    },
                },
            ],
            why: $why,
        }
    };
}

/// `socket` outside the families tools need, and raw IP / packet sockets.
/// Raw netlink sockets stay allowed: `SOCK_RAW` is netlink's ordinary type
/// (glibc's getaddrinfo and Go's net package use it).
pub(super) const SOCKET_DENIALS: &[DenyWhen] = &[
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
    family_type!(libc::AF_INET, libc::SOCK_RAW, "raw IPv4 socket"),
    family_type!(libc::AF_INET, SOCK_PACKET, "obsolete SOCK_PACKET socket"),
    family_type!(libc::AF_INET6, libc::SOCK_RAW, "raw IPv6 socket"),
    family_type!(libc::AF_INET6, SOCK_PACKET, "obsolete SOCK_PACKET socket"),
];

/// `socket(AF_UNIX, ...)`, denied when nothing else keeps the tool off the
/// host's pathname sockets (Landlock below ABI 9 cannot govern `connect`).
pub(super) const UNIX_SOCKET_DENIALS: &[DenyWhen] = &[DenyWhen {
    all: &[ArgCond {
        arg: 0,
        op: ArgOp::Eq(libc::AF_UNIX as u32),
    }],
    why: "AF_UNIX socket: could connect to a host socket visible through a bind \
          (denied below Landlock ABI 9 unless the plan allows unix sockets)",
}];

/// Datagram socketpairs, denied with [`UNIX_SOCKET_DENIALS`]: an end of one
/// can `sendto` or `connect` any pathname datagram socket. Stream and
/// seqpacket pairs are connected for good (EISCONN) and stay allowed.
pub(super) const UNIX_SOCKETPAIR_DENIALS: &[DenyWhen] = &[family_type!(
    libc::AF_UNIX,
    libc::SOCK_DGRAM,
    "datagram socketpair: an end can sendto() a host socket visible through a bind"
)];
