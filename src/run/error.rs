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
