//! The top-level error: every failure maps to one exit code.

use crate::exit;
use crate::policy::params::ParamError;
use crate::profile::ProfileErrors;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Profile(#[from] ProfileErrors),
    #[error("bad parameters: {0}")]
    Params(ParamError),
    #[error("reading parameters from {path}")]
    ParamsFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the audit record; the tool was not run")]
    Audit(#[from] crate::audit::AuditError),
    #[error("the sandbox could not be built; the tool was not run")]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error("tool command {0}")]
    Resolve(crate::sandbox::ResolveError),
    #[error("{0}")]
    Usage(String),
    #[error("writing output")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    AuditCmd(#[from] crate::audit_cmd::AuditCmdError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Approval(#[from] crate::approval::ApprovalError),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Profile(_) => exit::CONFIG,
            AppError::Params(_) | AppError::ParamsFile { .. } => exit::BAD_PARAMETERS,
            AppError::Usage(_) => exit::USAGE,
            AppError::Resolve(crate::sandbox::ResolveError::NotExecutable(_)) => {
                exit::NOT_EXECUTABLE
            }
            AppError::Resolve(_) => exit::NOT_FOUND,
            AppError::Audit(_) | AppError::Sandbox(_) | AppError::Output(_) => {
                exit::LAUNCHER_FAILED
            }
            AppError::AuditCmd(e) => e.exit_code(),
            AppError::State(_) => exit::LAUNCHER_FAILED,
            AppError::Approval(e) => e.exit_code(),
        }
    }
}

// Written by hand, not `#[from]`: the message already carries the cause, so
// it must not be printed a second time as a source.
impl From<ParamError> for AppError {
    fn from(e: ParamError) -> Self {
        AppError::Params(e)
    }
}
