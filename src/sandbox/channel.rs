//! The setup channel: a SOCK_SEQPACKET socket pair carrying typed messages
//! between the launcher and the processes it starts, so a failed step reads
//! "mounting tmpfs on /tmp: Operation not permitted", not "child exited 1".

use nix::sys::socket::{
    recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the Landlock layer achieved, reported by the tool's process just before exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// The Landlock ABI whose rules were applied (0 when none were).
    pub landlock_abi: i32,
    /// "full", "partial" or "none".
    pub landlock: String,
    /// Why `landlock` is not "full"; null when it is.
    pub landlock_reason: Option<String>,
    pub seccomp: bool,
    pub no_new_privs: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// pid 1 (or a setup process) is in its namespaces: the launcher writes the id maps.
    Unshared,
    /// The launcher has written the id maps.
    MapsWritten,
    /// The run's cgroup files to join (`cgroups` descriptors ride along),
    /// for a one-shot pid 1 made before its cgroup (cgroup v1: the launcher
    /// makes the cgroup while pid 1 builds the view). pid 1 joins them, then
    /// unshares its cgroup namespace, in /proc's build (before the user
    /// namespace's limits).
    Join { cgroups: usize },
    /// The launcher's before-exec step succeeded: the tool's process may
    /// install its filter and exec (it waits for this; anything else ends it).
    Proceed,
    /// The sandbox's pid 1, as the launcher sees it (sent by a setup
    /// process, which forked it; see `super::fork::direct`).
    InitPid(i32),
    /// A setup step failed; `error` is the OS error text.
    SetupFailed { step: String, error: String },
    /// The tool's process is confined and about to exec.
    Confined(Confinement),
    /// execve of the tool failed with this errno.
    ExecFailed { errno: i32 },
    /// pid 1's egress listener (127.0.0.1 inside the sandbox) is attached.
    ProxyListener,
    /// The CPU time (user and system, in microseconds) of the tool and of
    /// every process it started, from pid 1's waits: sent just before the
    /// status, for a run whose cgroup does not measure CPU time.
    Used { cpu_usec: u64 },
    /// The tool exited with a code.
    Exited { code: i32 },
    /// The tool was killed by a signal.
    Signaled { signal: i32 },
    /// A prepared sandbox (see `super::pool`): its pid 1 has built the view
    /// and waits for a call.
    Ready,
    /// A call for a prepared sandbox, sent once by the process that claimed
    /// it. Descriptors ride along (SCM_RIGHTS), in this order: the tool's
    /// stdin, stdout and stderr, the claimer's lifeline (its end closes when
    /// the claimer goes) and `cgroups` files to join (`tasks` or `cgroup.procs`).
    Go {
        program: String,
        argv: Vec<String>,
        env: Vec<String>,
        cgroups: usize,
    },
}

/// The most descriptors one message carries (a `Go`: three stdio, the
/// lifeline and at most four cgroup files).
pub const MAX_FDS: usize = 8;

/// The largest message pid 1 takes as a `Go` (argv and environment).
pub const MAX_GO: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("creating the setup channel: {0}")]
    Create(nix::Error),
    #[error("sending on the setup channel: {0}")]
    Send(nix::Error),
    #[error("receiving on the setup channel: {0}")]
    Recv(nix::Error),
    #[error("malformed message on the setup channel: {0}")]
    Decode(String),
}

/// Creates the pair, close-on-exec on both ends so the tool never inherits it.
pub fn pair() -> Result<(OwnedFd, OwnedFd), ChannelError> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ChannelError::Create)
}

pub fn send_msg(fd: RawFd, msg: &Message) -> Result<(), ChannelError> {
    let bytes = serde_json::to_vec(msg).map_err(|e| ChannelError::Decode(e.to_string()))?;
    send(fd, &bytes, MsgFlags::MSG_NOSIGNAL).map_err(ChannelError::Send)?;
    Ok(())
}

/// Receives one message; `None` at end of stream (every sender has closed).
/// A descriptor passed along with it is closed; see `recv_msg_fd`.
pub fn recv_msg(fd: &impl AsRawFd) -> Result<Option<Message>, ChannelError> {
    Ok(recv_msg_fd(fd)?.map(|(m, _)| m))
}

/// Receives one message and the descriptor passed with it (SCM_RIGHTS), if any.
pub fn recv_msg_fd(fd: &impl AsRawFd) -> Result<Option<(Message, Option<OwnedFd>)>, ChannelError> {
    let mut buf = [0u8; 8192];
    Ok(recv_msg_fds(fd, &mut buf)?.map(|(m, fds)| (m, fds.into_iter().next())))
}

/// Receives one message of at most `max` bytes and every descriptor passed
/// with it, into a buffer of the message's own size. The size is peeked
/// first: a forked sandbox process that zeroed a buffer of `max` bytes would
/// copy or fault in every page of it (32 pages for a `Go`) for a message of
/// a few hundred bytes. A longer message is refused, as by [`recv_msg_fds`].
pub fn recv_msg_fds_sized(
    fd: &impl AsRawFd,
    max: usize,
) -> Result<Option<(Message, Vec<OwnedFd>)>, ChannelError> {
    let len = loop {
        let mut one = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut one)];
        // No room for descriptors: a peek leaves them with the message.
        match recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            None,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
        ) {
            Ok(msg) => break msg.bytes,
            Err(nix::Error::EINTR) => continue,
            Err(nix::Error::ECONNRESET) => return Ok(None),
            Err(e) => return Err(ChannelError::Recv(e)),
        }
    };
    let mut buf = vec![0u8; len.clamp(1, max)];
    recv_msg_fds(fd, &mut buf)
}

/// Receives one message into `buf` and every descriptor passed with it.
/// A message longer than `buf` is refused (it would arrive cut).
pub fn recv_msg_fds(
    fd: &impl AsRawFd,
    buf: &mut [u8],
) -> Result<Option<(Message, Vec<OwnedFd>)>, ChannelError> {
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let r = recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        );
        match r {
            Ok(msg) => {
                let n = msg.bytes;
                let cut = msg.flags.contains(MsgFlags::MSG_TRUNC);
                let mut passed = Vec::new();
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for f in fds {
                                // SAFETY: the kernel just installed this descriptor for us.
                                passed.push(unsafe { OwnedFd::from_raw_fd(f) });
                            }
                        }
                    }
                }
                if n == 0 {
                    return Ok(None);
                }
                if cut {
                    return Err(ChannelError::Decode(format!(
                        "a message over {} bytes",
                        buf.len()
                    )));
                }
                let m = serde_json::from_slice(&buf[..n])
                    .map_err(|e| ChannelError::Decode(e.to_string()))?;
                return Ok(Some((m, passed)));
            }
            Err(nix::Error::EINTR) => continue,
            // The other end closed with a message of ours still unread (a
            // prepared sandbox's pid 1 that ended, its armed tool process
            // gone, while `Proceed` was on its way): the channel's end, as
            // a read of 0 bytes is; what ended it is judged by the caller.
            Err(nix::Error::ECONNRESET) => return Ok(None),
            Err(e) => return Err(ChannelError::Recv(e)),
        }
    }
}

/// Sends a message with a descriptor attached (SCM_RIGHTS).
pub fn send_msg_fd(fd: RawFd, msg: &Message, passed: RawFd) -> Result<(), ChannelError> {
    send_msg_fds(fd, msg, &[passed])
}

/// Sends a message with descriptors attached (SCM_RIGHTS), at most [`MAX_FDS`].
pub fn send_msg_fds(fd: RawFd, msg: &Message, fds: &[RawFd]) -> Result<(), ChannelError> {
    let bytes = serde_json::to_vec(msg).map_err(|e| ChannelError::Decode(e.to_string()))?;
    send_bytes_fds(fd, &bytes, fds)
}

/// Sends an encoded message with descriptors attached.
pub fn send_bytes_fds(fd: RawFd, bytes: &[u8], fds: &[RawFd]) -> Result<(), ChannelError> {
    let iov = [std::io::IoSlice::new(bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    sendmsg::<()>(fd, &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).map_err(ChannelError::Send)?;
    Ok(())
}

/// Reports a failed step and ends the calling (child) process. Used only in
/// the forked children, where there is nobody else to return to.
pub fn fail(fd: RawFd, step: &str, error: impl std::fmt::Display) -> ! {
    let _ = send_msg(
        fd,
        &Message::SetupFailed {
            step: step.to_string(),
            error: error.to_string(),
        },
    );
    // SAFETY: _exit ends the process without running atexit handlers or
    // unwinding, which is what a forked child must do.
    unsafe { libc::_exit(125) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_closes_with_our_message_unread_is_the_channels_end() {
        let (a, b) = pair().unwrap();
        send_msg(a.as_raw_fd(), &Message::Proceed).unwrap();
        drop(b);
        assert!(matches!(recv_msg(&a), Ok(None)));
    }

    #[test]
    fn a_message_is_received_whole() {
        let (a, b) = pair().unwrap();
        send_msg(a.as_raw_fd(), &Message::Ready).unwrap();
        assert!(matches!(recv_msg(&b), Ok(Some(Message::Ready))));
    }

    fn go(argv: Vec<String>) -> Message {
        Message::Go {
            program: "/bin/true".into(),
            argv,
            env: vec![],
            cgroups: 0,
        }
    }

    #[test]
    fn a_sized_receive_takes_the_message_and_its_descriptors() {
        let (a, b) = pair().unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        let msg = go(vec!["x".repeat(5000)]);
        send_msg_fds(a.as_raw_fd(), &msg, &[r.as_raw_fd(), r.as_raw_fd()]).unwrap();
        send_msg(a.as_raw_fd(), &Message::Ready).unwrap();
        let (got, fds) = recv_msg_fds_sized(&b, MAX_GO).unwrap().unwrap();
        assert!(matches!(got, Message::Go { ref argv, .. } if argv[0].len() == 5000));
        assert_eq!(
            fds.len(),
            2,
            "the peek must leave the descriptors with the message"
        );
        // The next message is not disturbed by the peek.
        assert!(matches!(recv_msg(&b), Ok(Some(Message::Ready))));
    }

    #[test]
    fn a_sized_receive_refuses_a_message_over_its_bound_and_goes_on() {
        let (a, b) = pair().unwrap();
        send_msg(a.as_raw_fd(), &go(vec!["y".repeat(3000)])).unwrap();
        send_msg(a.as_raw_fd(), &Message::Ready).unwrap();
        let err = recv_msg_fds_sized(&b, 1024).unwrap_err();
        assert!(err.to_string().contains("over 1024 bytes"), "{err}");
        assert!(matches!(recv_msg(&b), Ok(Some(Message::Ready))));
        drop(a);
        assert!(matches!(recv_msg_fds_sized(&b, 1024), Ok(None)));
    }
}
