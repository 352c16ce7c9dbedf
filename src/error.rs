//! The top-level error: every failure maps to one exit code.

use crate::exit;
use crate::params::ParamError;
use crate::profile::ProfileErrors;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    #[error("{0}")]
    Profile(#[from] ProfileErrors),
    #[error("bad parameters: {0}")]
    Params(#[from] ParamError),
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
    #[error("tool command `{program}` not found on PATH ({path})")]
    NotFound { program: String, path: String },
    #[error("tool command {path} is not executable: {reason}")]
    NotExecutable { path: String, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("writing output")]
    Output(#[source] std::io::Error),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Profile(_) => exit::CONFIG,
            AppError::Params(_) | AppError::ParamsFile { .. } => exit::BAD_PARAMETERS,
            AppError::Usage(_) => exit::USAGE,
            AppError::NotFound { .. } => exit::NOT_FOUND,
            AppError::NotExecutable { .. } => exit::NOT_EXECUTABLE,
            AppError::Audit(_) | AppError::Sandbox(_) | AppError::Output(_) => {
                exit::LAUNCHER_FAILED
            }
        }
    }
}
