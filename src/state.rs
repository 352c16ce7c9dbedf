//! The state directory: approval requests and budget counters, shared by
//! every agentjail process of a user (or of root).
//!
//! - `$XDG_STATE_HOME/agentjail` (or `~/.local/state/agentjail`) for a user,
//!   `/var/lib/agentjail` for root; `--state-dir` or `AGENTJAIL_STATE_DIR`
//!   name another one. Created with mode 0700.
//! - `lock`: every change happens under an exclusive `flock` on this file, so
//!   parallel launchers can never overspend a budget or consume an approval
//!   twice.
//! - `approvals/ID.json`, `budgets/KEY.json`: one JSON document each,
//!   replaced atomically (a new file, `fsync`, `rename`, `fsync` of the
//!   directory). A file that is not what agentjail wrote is an error naming
//!   it: agentjail fails closed and never starts over from zero.
//!
//! The sandbox never sees this directory: [`StateDir::exposed_by`] refuses a
//! bind that would show it (see `crate::approval::guard`).

use nix::fcntl::{Flock, FlockArg};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The state directory of root.
pub const ROOT_DEFAULT: &str = "/var/lib/agentjail";

/// How long a process waits for the state lock by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The entries agentjail keeps in the state directory.
pub const ENTRIES: &[&str] = &["lock", "approvals", "budgets", "hooks.json"];

/// The largest state file agentjail reads.
const MAX_FILE: u64 = 1 << 20;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("no state directory: HOME and XDG_STATE_HOME are unset (use --state-dir)")]
    NoLocation,
    #[error("creating state directory {path} (set --state-dir or AGENTJAIL_STATE_DIR to a writable directory)")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state directory {path} is writable by others (mode {mode:o}); make it 0700 (or 2770 for a group of operators)")]
    NotPrivate { path: PathBuf, mode: u32 },
    #[error("state directory {path} is not a directory")]
    NotDirectory { path: PathBuf },
    #[error("opening state lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "lock timeout: state lock {path} stayed locked by another process for {}",
        humantime::format_duration(*waited)
    )]
    LockTimeout { path: PathBuf, waited: Duration },
    #[error("reading state file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt: {why}; agentjail does not start it over (fail closed): inspect it, then repair or remove it")]
    Corrupt { path: PathBuf, why: String },
    #[error("writing state file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The default state directory for this process.
pub fn default_path() -> Result<PathBuf, StateError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from(ROOT_DEFAULT));
    }
    let base = user_state_home().ok_or(StateError::NoLocation)?;
    Ok(base.join("agentjail"))
}

/// A user's state home: `$XDG_STATE_HOME`, else `~/.local/state`.
pub fn user_state_home() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
}

/// Makes `path` absolute (against the working directory) and drops `.`
/// components, without touching the filesystem.
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The state directory (which need not exist yet).
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
    explicit: bool,
}

/// Held while the state is changed; writes require it.
pub struct StateLock {
    _lock: Flock<File>,
}

impl StateDir {
    /// `explicit` (from `--state-dir` or `AGENTJAIL_STATE_DIR`), or the default.
    pub fn locate(explicit: Option<&Path>) -> Result<StateDir, StateError> {
        Ok(match explicit {
            Some(p) => StateDir {
                path: absolute(p),
                explicit: true,
            },
            None => StateDir {
                path: default_path()?,
                explicit: false,
            },
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The global option that names this directory, for commands printed to
    /// the user: empty for the default directory.
    pub fn option(&self) -> String {
        if self.explicit {
            format!(
                "--state-dir {} ",
                crate::text::shell_quote(&self.path.to_string_lossy())
            )
        } else {
            String::new()
        }
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    /// A subdirectory's path.
    pub fn sub(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the directory (0700) and the subdirectory `sub` when missing,
    /// and refuses a directory others may write to.
    pub fn ensure(&self, sub: Option<&str>) -> Result<(), StateError> {
        let create = |path: &Path, mode: u32| -> Result<(), StateError> {
            match std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(path)
            {
                Ok(()) => Ok(()),
                Err(source) => Err(StateError::CreateDir {
                    path: path.to_path_buf(),
                    source,
                }),
            }
        };
        create(&self.path, 0o700)?;
        let meta = std::fs::metadata(&self.path).map_err(|source| StateError::CreateDir {
            path: self.path.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(StateError::NotDirectory {
                path: self.path.clone(),
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o002 != 0 {
            return Err(StateError::NotPrivate {
                path: self.path.clone(),
                mode,
            });
        }
        if let Some(sub) = sub {
            let p = self.sub(sub);
            if !p.is_dir() {
                // The group's bits follow the state directory's (a shared
                // directory of operators is 2770); others get nothing.
                create(&p, 0o700 | (mode & 0o070))?;
                let _ = std::fs::set_permissions(
                    &p,
                    std::fs::Permissions::from_mode(0o700 | (mode & 0o2070)),
                );
            }
        }
        Ok(())
    }

    /// Takes the exclusive state lock, waiting at most
    /// `AGENTJAIL_STATE_LOCK_TIMEOUT` (default 10 s).
    pub fn lock(&self) -> Result<StateLock, StateError> {
        self.ensure(None)?;
        let path = self.sub("lock");
        // flock needs only a descriptor: read-only, so that operators who may
        // only read the lock file (another user, the directory's group) can lock.
        let opened = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o640)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path),
            other => other,
        };
        let file = opened.map_err(|source| StateError::Lock {
            path: path.clone(),
            source,
        })?;
        let timeout = std::env::var("AGENTJAIL_STATE_LOCK_TIMEOUT")
            .ok()
            .and_then(|v| humantime::parse_duration(v.trim()).ok())
            .unwrap_or(DEFAULT_LOCK_TIMEOUT);
        let started = Instant::now();
        let mut pause = Duration::from_micros(500);
        let mut file = file;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(StateLock { _lock: lock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK | nix::errno::Errno::EINTR)) => {
                    if started.elapsed() >= timeout {
                        return Err(StateError::LockTimeout {
                            path,
                            waited: timeout,
                        });
                    }
                    file = f;
                    let jitter = Duration::from_micros(u64::from(std::process::id() % 500));
                    std::thread::sleep(pause + jitter);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Err((_, errno)) => {
                    return Err(StateError::Lock {
                        path,
                        source: errno.into(),
                    })
                }
            }
        }
    }

    /// Reads one JSON state file; `None` when it does not exist. Anything
    /// else that is not a valid document is [`StateError::Corrupt`].
    pub fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>, StateError> {
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(StateError::Corrupt {
                    path: path.to_path_buf(),
                    why: "it is a symbolic link".into(),
                })
            }
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let read_err = |source| StateError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(StateError::Corrupt {
                path: path.to_path_buf(),
                why: "it is not a regular file".into(),
            });
        }
        if meta.len() > MAX_FILE {
            return Err(StateError::Corrupt {
                path: path.to_path_buf(),
                why: format!("it is {} bytes long", meta.len()),
            });
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                StateError::Corrupt {
                    path: path.to_path_buf(),
                    why: "it is not UTF-8".into(),
                }
            } else {
                read_err(e)
            }
        })?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: path.to_path_buf(),
                why: e.to_string(),
            })
    }

    /// The owner (uid) of a state file.
    pub fn owner(&self, path: &Path) -> Result<u32, StateError> {
        std::fs::symlink_metadata(path)
            .map(|m| m.uid())
            .map_err(|source| StateError::Read {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Replaces `path` (inside this directory) with `value` as JSON,
    /// atomically and durably. Only under the lock.
    pub fn write_json<T: Serialize>(
        &self,
        _lock: &StateLock,
        path: &Path,
        value: &T,
    ) -> Result<(), StateError> {
        let werr = |source| StateError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(&self.path);
        let mode = std::fs::metadata(&self.path)
            .map(|m| m.mode())
            .unwrap_or(0o700);
        let mut text = serde_json::to_vec_pretty(value).map_err(|e| werr(e.into()))?;
        text.push(b'\n');
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| -> std::io::Result<()> {
            let _ = std::fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            // Readable by the state directory's group (operators), never by others.
            f.set_permissions(std::fs::Permissions::from_mode(0o600 | (mode & 0o040)))?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(werr)
    }

    /// Removes a state file. Only under the lock.
    pub fn remove(&self, _lock: &StateLock, path: &Path) -> Result<(), StateError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Write {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The `*.json` files of a subdirectory, sorted; none when it is missing.
    pub fn list(&self, sub: &str) -> Result<Vec<PathBuf>, StateError> {
        let dir = self.sub(sub);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Read { path: dir, source }),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|source| StateError::Read {
                path: dir.clone(),
                source,
            })?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".json") && !name.starts_with('.') {
                out.push(e.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether binding `source` into a sandbox would show the state: the
    /// source is the state directory, lies above it, or lies inside one of
    /// agentjail's own entries. Both the path as given and its resolved form
    /// are compared.
    pub fn exposed_by(&self, source: &Path) -> bool {
        let mut states = vec![self.path.clone()];
        if let Ok(c) = std::fs::canonicalize(&self.path) {
            states.push(c);
        }
        let mut sources = vec![absolute(source)];
        if let Ok(c) = std::fs::canonicalize(source) {
            sources.push(c);
        }
        states.iter().any(|state| {
            sources.iter().any(|src| {
                if state.starts_with(src) {
                    return true;
                }
                match src.strip_prefix(state) {
                    Ok(rest) => rest.components().next().map_or(true, |first| {
                        ENTRIES.iter().any(|e| first.as_os_str() == *e)
                    }),
                    Err(_) => false,
                }
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn exposure_of_the_state_directory() {
        let s = StateDir {
            path: PathBuf::from("/var/lib/agentjail"),
            explicit: true,
        };
        for (src, exposed) in [
            ("/", true),
            ("/var", true),
            ("/var/lib", true),
            ("/var/lib/agentjail", true),
            ("/var/lib/agentjail/", true),
            ("/var/lib/agentjail/approvals", true),
            ("/var/lib/agentjail/budgets/x.json", true),
            ("/var/lib/agentjail/lock", true),
            ("/var/lib/agentjail/data", false),
            ("/var/lib/agentjail-other", false),
            ("/var/log", false),
            ("/usr", false),
        ] {
            assert_eq!(s.exposed_by(Path::new(src)), exposed, "{src}");
        }
    }

    #[test]
    fn files_round_trip_and_corruption_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::locate(Some(&dir.path().join("st"))).unwrap();
        s.ensure(Some("budgets")).unwrap();
        let mode = std::fs::metadata(s.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let p = s.sub("budgets").join("a.json");
        assert_eq!(s.read_json::<serde_json::Value>(&p).unwrap(), None);
        let lock = s.lock().unwrap();
        s.write_json(&lock, &p, &serde_json::json!({"calls": 3}))
            .unwrap();
        drop(lock);
        let v: serde_json::Value = s.read_json(&p).unwrap().unwrap();
        assert_eq!(v["calls"], 3);
        assert_eq!(s.list("budgets").unwrap(), vec![p.clone()]);
        std::fs::write(&p, "{\"calls\": 3").unwrap();
        let e = s.read_json::<serde_json::Value>(&p).unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
    }

    #[test]
    fn a_world_writable_state_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("st");
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        let s = StateDir::locate(Some(&p)).unwrap();
        assert!(matches!(
            s.ensure(None).unwrap_err(),
            StateError::NotPrivate { .. }
        ));
    }
}
