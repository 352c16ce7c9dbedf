//! Why a call failed: every failure of the call core maps to one exit code.
//! Front-ends wrap it (see `crate::cli::AppError`); the core never prints it.

use crate::exit;
use crate::policy::params::ParamError;
use crate::profile::ProfileErrors;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CallError {
    #[error(transparent)]
    Profile(#[from] ProfileErrors),
    #[error("bad parameters: {0}")]
    Params(ParamError),
    #[error("writing the audit record; the tool was not run")]
    Audit(#[from] crate::audit::AuditError),
    #[error("the sandbox could not be built; the tool was not run")]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error("tool command {0}")]
    Resolve(crate::sandbox::ResolveError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Approval(#[from] crate::approval::ApprovalError),
    #[error("{0}")]
    BadRequest(String),
}

impl CallError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CallError::Profile(_) => exit::CONFIG,
            CallError::Params(_) => exit::BAD_PARAMETERS,
            CallError::Resolve(crate::sandbox::ResolveError::NotExecutable(_)) => {
                exit::NOT_EXECUTABLE
            }
            CallError::Resolve(_) => exit::NOT_FOUND,
            CallError::Audit(_) | CallError::Sandbox(_) | CallError::State(_) => {
                exit::LAUNCHER_FAILED
            }
            CallError::Approval(e) => e.exit_code(),
            CallError::BadRequest(_) => exit::USAGE,
        }
    }
}

// Written by hand, not `#[from]`: the message already carries the cause, so
// it must not be printed a second time as a source.
impl From<ParamError> for CallError {
    fn from(e: ParamError) -> Self {
        CallError::Params(e)
    }
}

#[cfg(test)]
mod tests {
    use super::CallError;
    use crate::audit::AuditError;
    use crate::sandbox::{self, SandboxError};
    use crate::state::StateError;
    use crate::text::{chain, repeated_cause};
    use nix::errno::Errno;
    use std::io;

    fn enoent() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOENT)
    }

    /// Representative errors of every kind that reaches a user, each as
    /// `main` and the audit log print it: no message repeats its cause.
    #[test]
    fn no_error_chain_repeats_itself() {
        let path = std::path::PathBuf::from("/usr/lib/nope");
        let landlock_path = match landlock::PathFd::new("/nonexistent/landlock") {
            Err(error) => sandbox::landlock::LandlockError::Path {
                path: "/nonexistent/landlock".into(),
                error,
            },
            Ok(_) => panic!("/nonexistent/landlock exists"),
        };
        let errors: Vec<CallError> = vec![
            SandboxError::BindSource(sandbox::mounts::SetupError {
                step: "opening bind source /usr/lib/nope".into(),
                source: Errno::ENOENT,
            })
            .into(),
            SandboxError::Os {
                what: "making the sandbox's pid 1 (clone3 with new namespaces)",
                source: Errno::EAGAIN,
            }
            .into(),
            SandboxError::IdMap(sandbox::namespaces::MapError {
                file: "uid_map".into(),
                pid: 7,
                source: io::Error::from_raw_os_error(libc::EPERM),
            })
            .into(),
            SandboxError::Cgroup(sandbox::cgroup::CgroupError::Io {
                step: "creating cgroup",
                path: path.clone(),
                source: enoent(),
            })
            .into(),
            SandboxError::Setup {
                step: "applying Landlock".into(),
                error: landlock_path.to_string(),
            }
            .into(),
            AuditError::Write {
                path: path.clone(),
                source: io::Error::from_raw_os_error(libc::ENOSPC),
            }
            .into(),
            AuditError::Open {
                path: path.clone(),
                source: enoent(),
            }
            .into(),
            StateError::Read {
                path: path.clone(),
                source: enoent(),
            }
            .into(),
            StateError::CreateDir {
                path: path.clone(),
                source: enoent(),
            }
            .into(),
            crate::approval::ApprovalError::NoTerminal(enoent()).into(),
            CallError::Resolve(sandbox::ResolveError::NotFound("/usr/lib/nope".into())),
            CallError::Params(crate::policy::params::ParamError::NotOnHost {
                name: "path".into(),
                reason: "/usr/lib/nope does not exist".into(),
            }),
        ];
        for e in &errors {
            assert_eq!(repeated_cause(e), None, "{}", chain(e));
        }
        assert_eq!(repeated_cause(&landlock_path), None, "{landlock_path}");
        // The bound file of the issue, as one clean line.
        assert_eq!(
            chain(&errors[0]),
            "the sandbox could not be built; the tool was not run: \
             opening bind source /usr/lib/nope: ENOENT: No such file or directory"
        );
    }

    /// An error (of another crate, say) that prints its source and also
    /// returns it: `chain` prints the cause once.
    #[test]
    fn chain_prints_a_repeated_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading x: {source}")]
        struct Twice {
            source: io::Error,
        }
        let e = Twice { source: enoent() };
        assert!(repeated_cause(&e).is_some());
        assert_eq!(chain(&e), format!("reading x: {}", enoent()),);
    }
}
