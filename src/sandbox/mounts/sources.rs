//! Everything the view takes from the host, opened before the view changes:
//! the system paths and `/etc` entries (each a detached mount tree, or a
//! symlink to recreate), the plan's bind sources (checked against what the
//! launcher saw) and the device nodes. Also the launcher's own check of a
//! bind source ([`check_bind_source`]).

use super::kernel::{clone_tree, cstr, file_type, open_no_symlinks, snapshot, type_at};
use super::{step, SetupError, SourceId};
use crate::sandbox::plan::{Bind, BindKind, SandboxPlan, ETC_PATHS, SYSTEM_PATHS};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Device nodes bound from the host into `/dev`.
pub(super) const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// A system or `/etc` entry as found on the host.
pub(super) enum Entry {
    Dir(PathBuf, OwnedFd),
    File(PathBuf, OwnedFd),
    Symlink(PathBuf, PathBuf),
}

/// Everything opened on the host before the view changes.
pub struct Sources {
    pub(super) system: Vec<Entry>,
    pub(super) etc: Vec<Entry>,
    pub(super) binds: Vec<(Bind, OwnedFd, bool)>,
    pub(super) dev: Vec<(&'static str, OwnedFd)>,
}

impl Sources {
    /// The host's /dev/null, opened before the view changed.
    pub(super) fn null(&self) -> Result<&OwnedFd, SetupError> {
        self.dev
            .iter()
            .find(|(n, _)| *n == "null")
            .map(|(_, fd)| fd)
            .ok_or(SetupError {
                step: "finding /dev/null".into(),
                source: Errno::ENOENT,
            })
    }
}

/// Checks a bind source in the launcher: it must exist and no component of
/// its path may be a symlink. Returns its identity for the re-check.
pub fn check_bind_source(path: &Path) -> Result<SourceId, SetupError> {
    let fd =
        open_no_symlinks(path).map_err(step(format!("opening bind source {}", path.display())))?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd())
        .map_err(step(format!("stat of bind source {}", path.display())))?;
    Ok(SourceId {
        dev: st.st_dev,
        ino: st.st_ino,
        file_type: st.st_mode & libc::S_IFMT,
    })
}

/// The directories the host entries are looked up in, each opened once with
/// no symlink on its path, so that an entry is one name beneath one of them.
#[derive(Default)]
struct Parents(Vec<(PathBuf, OwnedFd)>);

impl Parents {
    /// The parent of `path` (opened on first use) and `path`'s last component.
    fn of(&mut self, path: &Path) -> Result<(&OwnedFd, CString), SetupError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(step(format!("looking up {}", path.display()))(
                Errno::EINVAL,
            ));
        };
        let name = cstr(Path::new(name)).map_err(step(format!("naming {}", path.display())))?;
        let at = match self.0.iter().position(|(p, _)| p == parent) {
            Some(i) => i,
            None => {
                let fd = open_no_symlinks(parent)
                    .map_err(step(format!("opening {}", parent.display())))?;
                self.0.push((parent.to_path_buf(), fd));
                self.0.len() - 1
            }
        };
        Ok((&self.0[at].1, name))
    }
}

/// Looks at a host path for the default view: absent, symlink (recreated),
/// directory or file (cloned for a bind). Two calls: a stat of the name
/// beneath its parent, then its clone or its link text.
fn probe_entry(parents: &mut Parents, path: &Path) -> Result<Option<Entry>, SetupError> {
    // A host without the entry's directory (no /etc/ssl) lacks the entry.
    let (dir, name) = match parents.of(path) {
        Err(e) if e.source == Errno::ENOENT => return Ok(None),
        other => other?,
    };
    let kind = match type_at(dir, &name) {
        Ok(None) => return Ok(None),
        Ok(Some(k)) => k,
        Err(e) => return Err(step(format!("stat of {}", path.display()))(e)),
    };
    if kind == libc::S_IFLNK {
        let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name.as_c_str())
            .map_err(step(format!("reading symlink {}", path.display())))?;
        return Ok(Some(Entry::Symlink(path.to_path_buf(), target.into())));
    }
    // Not following a symlink: were the name swapped for one since the
    // stat, the clone is of the link itself, which resolves inside the view.
    let fd = clone_tree(dir.as_raw_fd(), &name)
        .map_err(step(format!("cloning the mount of {}", path.display())))?;
    Ok(Some(if kind == libc::S_IFDIR {
        Entry::Dir(path.to_path_buf(), fd)
    } else {
        Entry::File(path.to_path_buf(), fd)
    }))
}

/// Opens every source; a bind source whose identity differs from what the
/// launcher checked is refused.
pub fn open_sources(plan: &SandboxPlan, checked: &[SourceId]) -> Result<Sources, SetupError> {
    // Nothing done here may propagate back to the host, nor into the clones.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(step("making / private"))?;
    let mut parents = Parents::default();
    let mut system = Vec::new();
    for p in SYSTEM_PATHS {
        system.extend(probe_entry(&mut parents, Path::new(p))?);
    }
    let mut etc = Vec::new();
    for p in ETC_PATHS {
        etc.extend(probe_entry(&mut parents, Path::new(p))?);
    }
    let mut binds = Vec::new();
    for (b, want) in plan.binds.iter().zip(checked) {
        binds.push(open_bind(b, want)?);
    }
    let mut dev = Vec::new();
    for n in DEV_NODES {
        let p = PathBuf::from(format!("/dev/{n}"));
        let (dir, name) = parents.of(&p)?;
        let fd = clone_tree(dir.as_raw_fd(), &name)
            .map_err(step(format!("cloning the mount of {}", p.display())))?;
        // Only a device node is bound (a symlink is not followed, so it is refused here).
        let kind = file_type(&fd).map_err(step(format!("stat of {}", p.display())))?;
        if kind != libc::S_IFCHR {
            return Err(SetupError {
                step: format!(
                    "{} is a {}, not a character device",
                    p.display(),
                    BindKind::type_name(kind)
                ),
                source: Errno::EPERM,
            });
        }
        dev.push((*n, fd));
    }
    Ok(Sources {
        system,
        etc,
        binds,
        dev,
    })
}

/// Opens and clones one bind source, refusing a swap since the launcher's check.
fn open_bind(b: &Bind, want: &SourceId) -> Result<(Bind, OwnedFd, bool), SetupError> {
    let fd = open_no_symlinks(&b.source)
        .map_err(step(format!("opening bind source {}", b.source.display())))?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd())
        .map_err(step(format!("stat of bind source {}", b.source.display())))?;
    let file_type = st.st_mode & libc::S_IFMT;
    if st.st_dev != want.dev || st.st_ino != want.ino || file_type != want.file_type {
        return Err(SetupError {
            step: format!("bind source {} changed during setup", b.source.display()),
            source: Errno::ESTALE,
        });
    }
    if !b.kind.accepts(file_type) {
        return Err(SetupError {
            step: format!(
                "bind source {} is a {}, not what the plan grants",
                b.source.display(),
                BindKind::type_name(file_type)
            ),
            source: Errno::EPERM,
        });
    }
    let tree =
        snapshot(&fd).map_err(step(format!("cloning the mount of {}", b.source.display())))?;
    Ok((b.clone(), tree, file_type == libc::S_IFDIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_source_is_refused() {
        let dir = std::env::temp_dir().join(format!("aj-mounts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/usr", &link).ok();
        assert!(check_bind_source(&link).is_err());
        assert!(check_bind_source(&link.join("bin")).is_err());
        assert!(check_bind_source(Path::new("/usr")).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
