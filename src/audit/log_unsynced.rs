//! A record written but not yet synced ([`Unsynced`], from
//! [`super::AuditLog::append_unsynced`]): the caller overlaps the `fdatasync` with
//! other work, and whatever depends on the record waits for [`Unsynced::sync`].
//! Kept apart from `log.rs` to keep that file's length down.

use super::{Appended, AuditError};
use crate::audit::chain::Sealed;
use nix::fcntl::Flock;
use std::fs::File;
use std::path::PathBuf;

/// A written record not yet synced; the log's lock is held by `file`.
pub(super) struct Written {
    pub(super) file: Flock<File>,
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) created: bool,
    pub(super) sealed: Sealed,
}

impl Written {
    /// `fdatasync`s the line (a failure cuts it off again), and a new
    /// file's directory. The lock is released when `self` is dropped.
    pub(super) fn sync(&self) -> Result<(), AuditError> {
        if let Err(source) = self.file.sync_data() {
            let _ = self.file.set_len(self.size);
            return Err(AuditError::Sync {
                path: self.path.clone(),
                source,
            });
        }
        // A new file's directory entry is made durable too.
        let dir = self
            .path
            .parent()
            .filter(|d| self.created && !d.as_os_str().is_empty());
        if let Some(d) = dir.and_then(|d| File::open(d).ok()) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// A record written by [`super::AuditLog::append_unsynced`], its sync still to come.
pub struct Unsynced {
    pub(super) written: std::sync::Mutex<Option<Written>>,
    pub(super) failed: std::sync::Mutex<Option<AuditError>>,
    pub(super) sealed: Sealed,
    pub(super) path: PathBuf,
}

const POISONED: &str = "the sync's state was lost (a panic)";

impl Unsynced {
    /// The record's number in the chain.
    pub fn seq(&self) -> u64 {
        self.sealed.seq
    }

    /// Syncs the record (once; later calls repeat the first answer) and
    /// releases the log's lock. On failure the line is removed again and
    /// the error's text is returned; [`Unsynced::finish`] returns the error.
    pub fn sync(&self) -> Result<(), String> {
        // (A poisoned lock cannot happen: nothing panics while one is held;
        // it would fail the call.)
        let Ok(mut failed) = self.failed.lock() else {
            return Err(POISONED.into());
        };
        let Ok(mut written) = self.written.lock() else {
            return Err(POISONED.into());
        };
        if let Some(w) = written.take() {
            if let Err(e) = w.sync() {
                *failed = Some(e);
            }
        }
        match failed.as_ref() {
            Some(e) => Err(crate::text::chain(e)),
            None => Ok(()),
        }
    }

    /// Syncs the record if that has not happened yet. (A record that calls
    /// for an alert was synced, and its alert started, when it was written.)
    pub fn finish(self) -> Result<Appended, AuditError> {
        let synced = self.sync();
        match self.failed.into_inner() {
            Ok(Some(e)) => return Err(e),
            Ok(None) if synced.is_ok() => {}
            _ => {
                return Err(AuditError::Sync {
                    path: self.path,
                    source: std::io::Error::other(POISONED),
                })
            }
        }
        Ok(Appended {
            seq: self.sealed.seq,
            hash: self.sealed.hash,
        })
    }
}
