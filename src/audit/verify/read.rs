//! The bounded, lock-aware readers the `audit` commands share, their
//! error, and the chain's head (the last record's seq and hash).

use crate::audit;
use nix::fcntl::FlockArg;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("reading audit log {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the last record of audit log {path} is damaged: {why} (see `agentjail audit verify`)"
    )]
    Damaged { path: PathBuf, why: String },
    #[error("{option}: expected SEQ:HASH (a number, a colon and 64 hex digits), got `{given}`")]
    BadMark { option: &'static str, given: String },
    #[error(transparent)]
    Location(#[from] audit::AuditError),
}

impl ReadError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ReadError::BadMark { .. } => crate::exit::USAGE,
            _ => 1,
        }
    }
}

pub fn open_read(path: &Path) -> Result<File, ReadError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| ReadError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The size of a log once no writer is in the middle of a line: a shared
/// lock taken and released at once (or the size as it is, if the lock
/// cannot be had within a second).
pub fn settled_size(file: &File, path: &Path) -> Result<u64, ReadError> {
    let read_err = |source| ReadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let dup = file.try_clone().map_err(read_err)?;
    let size = match audit::lock_until(
        dup,
        FlockArg::LockSharedNonblock,
        Duration::from_secs(1),
        path,
    ) {
        Ok(locked) => locked.metadata().map_err(read_err)?.len(),
        Err(_) => file.metadata().map_err(read_err)?.len(),
    };
    Ok(size)
}

/// The seq and hash of the chain's last record: the log's last line, or for
/// an empty log the last record of `PATH.1`, or the genesis.
pub fn chain_head(path: &Path) -> Result<(u64, String), ReadError> {
    for candidate in [path.to_path_buf(), audit::rotated_path(path, 1)] {
        let f = match open_read(&candidate) {
            Ok(f) => f,
            Err(_) if candidate != path => break,
            Err(e) => return Err(e),
        };
        let size = settled_size(&f, &candidate)?;
        if size == 0 {
            continue;
        }
        let tail = audit::find_tail(&f, size).map_err(|e| match e {
            audit::tail::TailError::Io(source) => ReadError::Read {
                path: candidate.clone(),
                source,
            },
            audit::tail::TailError::TooFar => ReadError::Damaged {
                path: candidate.clone(),
                why: "no chained record near its end".into(),
            },
        })?;
        return match (tail.last, tail.last_hash_ok) {
            (Some(_), Some(false)) => Err(ReadError::Damaged {
                path: candidate,
                why: "its content does not match its hash".into(),
            }),
            (Some((seq, hash)), _) => Ok((seq, audit::hex(&hash))),
            (None, _) => Err(ReadError::Damaged {
                path: candidate,
                why: tail
                    .damage
                    .map_or_else(|| "no chained record".into(), |d| d.cause),
            }),
        };
    }
    Ok((0, audit::GENESIS.to_string()))
}
