//! Admission: binding the socket, accepting a connection, and the pool of
//! running workers with the bounded queue of connections that wait for one
//! (`max_concurrent`, `max_concurrent_per_caller`, `queue`,
//! `queue_timeout_seconds`); a connection over a limit gets 125 "broker
//! busy".

use super::config::Config;
use super::protocol::{self, Response};
use super::server::ServeError;
use crate::exit;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// The running workers (and their callers' uids) and the connections that
/// wait for one.
#[derive(Default)]
pub(super) struct Pool {
    pub(super) workers: HashMap<Pid, u32>,
    pub(super) queue: VecDeque<Queued>,
}

pub(super) struct Queued {
    pub(super) conn: UnixStream,
    pub(super) uid: u32,
    pub(super) deadline: Instant,
}

impl Pool {
    /// Calls of this uid running or waiting.
    fn of(&self, uid: u32) -> usize {
        self.workers.values().filter(|u| **u == uid).count()
            + self.queue.iter().filter(|q| q.uid == uid).count()
    }

    /// Answers "broker busy" to the queued connections that waited too long.
    pub(super) fn expire(&mut self, cfg: &Config) {
        let now = Instant::now();
        while self.queue.front().is_some_and(|q| q.deadline <= now) {
            if let Some(q) = self.queue.pop_front() {
                busy(
                    &q.conn,
                    format!(
                        "broker busy: waited {}s (queue_timeout_seconds in {}) for one of {} workers (max_concurrent); try again",
                        cfg.queue_timeout_seconds,
                        cfg.path.display(),
                        cfg.max_concurrent
                    ),
                );
            }
        }
    }
}

fn busy(conn: &UnixStream, message: String) {
    tracing::debug!("{message}");
    let _ = conn.set_nonblocking(true);
    respond(conn, &Response::new(exit::LAUNCHER_FAILED, Some(message)));
}

pub(super) fn reap(workers: &mut HashMap<Pid, u32>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(st) => {
                if let Some(pid) = st.pid() {
                    workers.remove(&pid);
                }
            }
        }
    }
}

/// Binds the socket with the configured mode (created under a umask that
/// grants nothing, so it is never reachable with a wider mode) and group.
pub(super) fn bind(cfg: &Config) -> Result<UnixListener, ServeError> {
    let path = &cfg.socket;
    let shown = path.display();
    let err = |what: String| ServeError::Setup(what);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            err(format!(
                "creating the socket's directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_socket() {
                return Err(err(format!(
                    "{shown} exists and is not a socket; remove it or set `socket`"
                )));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(err(format!("another broker is listening on {shown}")));
            }
            // A stale socket of a broker that is gone.
            std::fs::remove_file(path)
                .map_err(|e| err(format!("removing the stale socket {shown}: {e}")))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(format!("{shown}: {e}"))),
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| err(format!("binding {shown}: {e}")))?;
    if let Some(gid) = cfg.socket_group {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|e| err(format!("giving {shown} to group {gid}: {e}")))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.socket_mode))
        .map_err(|e| err(format!("setting the mode of {shown}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| err(format!("{shown}: {e}")))?;
    Ok(listener)
}

/// Sends a response, best effort (the peer may be gone).
pub(super) fn respond(mut conn: &UnixStream, r: &Response) {
    if let Ok(frame) = protocol::encode(r) {
        let _ = conn.write_all(&frame);
    }
}

/// Accepts one connection: returns it when a worker may start now, queues
/// it when all are busy, or answers "broker busy" (queue full, or the
/// caller at its own limit).
pub(super) fn admit(
    listener: &UnixListener,
    cfg: &Config,
    pool: &mut Pool,
) -> Option<(UnixStream, u32)> {
    let conn = match listener.accept() {
        Ok((c, _)) => c,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                tracing::warn!("accepting a connection: {e}");
            }
            return None;
        }
    };
    // The worker checks the caller's identity fully; the uid is for limits.
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let uid = match getsockopt(&conn, PeerCredentials) {
        Ok(c) => c.uid(),
        Err(e) => {
            busy(&conn, format!("broker: SO_PEERCRED: {e}"));
            return None;
        }
    };
    if let Some(limit) = cfg.max_concurrent_per_caller {
        let mine = pool.of(uid);
        if mine >= limit {
            busy(
                &conn,
                format!(
                    "broker busy: uid {uid} has {mine} calls running or waiting (max_concurrent_per_caller = {limit} in {}); try again",
                    cfg.path.display()
                ),
            );
            return None;
        }
    }
    if pool.workers.len() < cfg.max_concurrent && pool.queue.is_empty() {
        return Some((conn, uid));
    }
    if pool.queue.len() >= cfg.queue {
        busy(
            &conn,
            format!(
                "broker busy: {} calls are running (max_concurrent = {}) and {} waiting (queue = {} in {}); try again",
                pool.workers.len(),
                cfg.max_concurrent,
                pool.queue.len(),
                cfg.queue,
                cfg.path.display()
            ),
        );
        return None;
    }
    pool.queue.push_back(Queued {
        conn,
        uid,
        deadline: Instant::now() + Duration::from_secs(cfg.queue_timeout_seconds),
    });
    None
}
