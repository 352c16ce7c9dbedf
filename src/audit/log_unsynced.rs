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

/// An [`Unsynced`] record whose sync may already run on a thread of its
/// own, started as the record was written (a front-end whose calls need no
/// fork after it: the work before the exec overlaps the sync from the
/// start). [`Syncing::sync`] waits for that thread; without one it syncs
/// there and then. Dropped, it waits for the thread too.
pub struct Syncing {
    record: Option<std::sync::Arc<Unsynced>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Syncing {
    /// `record`, its sync started on a thread when `on_thread` (and a
    /// thread could be had; otherwise the sync waits for [`Syncing::sync`]).
    pub fn new(record: Unsynced, on_thread: bool) -> Syncing {
        let record = std::sync::Arc::new(record);
        let thread = if on_thread {
            let r = std::sync::Arc::clone(&record);
            // A small stack; the sync allocates nothing unless it fails.
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let _ = r.sync();
                })
                .ok()
        } else {
            None
        };
        Syncing {
            record: Some(record),
            thread: std::sync::Mutex::new(thread),
        }
    }

    /// The record's number in the chain.
    pub fn seq(&self) -> u64 {
        self.record.as_ref().map_or(0, |r| r.seq())
    }

    /// The sync runs on a thread of its own: the process must not fork
    /// before [`Syncing::sync`] returned.
    pub fn threaded(&self) -> bool {
        self.thread.lock().map(|t| t.is_some()).unwrap_or(false)
    }

    /// Waits for the sync (doing it here if no thread does) and returns its
    /// outcome, as [`Unsynced::sync`]; the thread has ended when it returns.
    pub fn sync(&self) -> Result<(), String> {
        self.join();
        match &self.record {
            Some(r) => r.sync(),
            None => Err(POISONED.into()),
        }
    }

    /// [`Unsynced::finish`], once the thread has ended.
    pub fn finish(mut self) -> Result<Appended, AuditError> {
        self.join();
        let Some(record) = self.record.take() else {
            return Err(AuditError::Sync {
                path: PathBuf::new(),
                source: std::io::Error::other(POISONED),
            });
        };
        match std::sync::Arc::try_unwrap(record) {
            Ok(u) => u.finish(),
            // (Cannot happen: the thread, the only other holder, has
            // ended. Failing closed, the call fails.)
            Err(shared) => Err(AuditError::Sync {
                path: shared.path.clone(),
                source: std::io::Error::other("the record's sync thread still holds it"),
            }),
        }
    }

    fn join(&self) {
        let handle = match self.thread.lock() {
            Ok(mut t) => t.take(),
            Err(_) => None,
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Syncing {
    fn drop(&mut self) {
        self.join();
    }
}
