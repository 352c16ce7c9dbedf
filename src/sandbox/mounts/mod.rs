//! The filesystem view: a new root on tmpfs holding read-only binds of the
//! system paths and the few `/etc` files programs need, a sized `/tmp`, a
//! minimal `/dev`, a fresh masked `/proc`, a read-only `/sys`; then
//! `pivot_root`. This module owns the view's public face (the error type,
//! the bind-source identity, [`open_sources`], [`build_root`]); its parts:
//!
//! - `kernel`: thin wrappers of the mount API and the `*at` calls used here;
//! - `sources`: everything opened on the host before the view changes;
//! - `root`: the new root, its read-only binds, `/etc`, `/tmp`, the plan's
//!   binds and the pivot;
//! - `dev`: the minimal `/dev`;
//! - `proc`: `/proc` (masks, read-only parts, the user namespace's limits)
//!   and the optional `/sys`.
//!
//! Runs in the sandbox's pid 1 after the namespaces exist. Every source (the
//! system paths, `/etc` entries, device nodes and binds) is opened first (no
//! symlink on its path) and cloned with `open_tree` into a detached mount
//! tree before the new root exists; each tree is then moved into place. So
//! what was checked is what gets mounted, and no bind (of `/tmp`, of `/`, of
//! any directory above the new root's mount point) can show the sandbox's own
//! root: the trees were copied before it was there.
//!
//! Each step is one system call where the kernel allows it (issue 15): no
//! directory is created twice, mount points that are files are made with
//! `mknod`, the read-only parts of the root and of `/dev` get their
//! attributes in one recursive `mount_setattr` each, and `/proc` is listed
//! once instead of opened name by name.

mod dev;
mod kernel;
mod proc;
mod root;
mod sources;

use nix::errno::Errno;

pub use root::build_root;
pub use sources::{check_bind_source, open_sources, Sources};

/// Where the new root is assembled, inside the sandbox's own mount namespace.
const NEW_ROOT: &str = "/tmp";

/// A failed step and the OS error it met (its source, printed after it in
/// an error chain).
#[derive(Debug, thiserror::Error)]
#[error("{step}")]
pub struct SetupError {
    pub step: String,
    pub source: Errno,
}

fn step(step: impl Into<String>) -> impl FnOnce(Errno) -> SetupError {
    let step = step.into();
    move |source| SetupError { step, source }
}

/// An `std::io::Error` of `step` as a [`SetupError`].
fn io_step(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> SetupError {
    let step = step.into();
    move |e| SetupError {
        step,
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// What the launcher saw of a bind source (device, inode and file type), to detect a swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceId {
    pub dev: u64,
    pub ino: u64,
    /// `st_mode & S_IFMT`.
    pub file_type: u32,
}
