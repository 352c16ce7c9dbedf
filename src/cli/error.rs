//! The front-end's error: a failed call, or a failure of the command line
//! itself (usage, reading parameters, writing output, an `audit` command).
//! `main` prints it as one line and exits with its code.

use crate::exit;
use crate::run::CallError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("reading parameters from {path}")]
    ParamsFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading --stdin-file {path}")]
    StdinFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--stdin-file {path} is larger than {max} bytes; pass a smaller file")]
    StdinTooLarge { path: String, max: u64 },
    #[error("{0}")]
    Usage(String),
    #[error("writing output")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    AuditCmd(#[from] crate::audit::verify::ReadError),
    /// The broker cannot be reached or broke off (see `cli::broker_client`).
    #[error("{0}")]
    Broker(String),
    /// The system configuration (`/etc/agentjail/config.toml`) is bad.
    #[error("{0}")]
    Config(String),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Call(e) => e.exit_code(),
            AppError::ParamsFile { .. }
            | AppError::StdinFile { .. }
            | AppError::StdinTooLarge { .. } => exit::BAD_PARAMETERS,
            AppError::Usage(_) => exit::USAGE,
            AppError::Output(_) => exit::LAUNCHER_FAILED,
            AppError::AuditCmd(e) => e.exit_code(),
            AppError::Broker(_) => exit::LAUNCHER_FAILED,
            AppError::Config(_) => exit::CONFIG,
        }
    }

    /// Prints the error as its one line and returns its exit code.
    pub fn report(self) -> i32 {
        let code = self.exit_code();
        let text = format!("{:#}", anyhow::Error::from(self));
        eprintln!("agentjail: {}", crate::text::printable(&text));
        code
    }
}

/// The domain's errors reach the front-end through the call core's error,
/// so each keeps one message and one exit code.
macro_rules! through_call_error {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self {
                AppError::Call(e.into())
            }
        }
    )*};
}
through_call_error!(
    crate::profile::ProfileErrors,
    crate::policy::params::ParamError,
    crate::audit::AuditError,
    crate::sandbox::SandboxError,
    crate::state::StateError,
    crate::approval::ApprovalError,
);
