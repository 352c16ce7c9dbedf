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
        }
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

#[cfg(test)]
mod tests {
    use super::AppError;
    use crate::audit::verify::ReadError;
    use crate::text::repeated_cause;

    /// The front-end's own errors print each cause once, as `main` shows them.
    #[test]
    fn no_front_end_error_repeats_itself() {
        let enoent = || std::io::Error::from_raw_os_error(libc::ENOENT);
        let errors = [
            AppError::ParamsFile {
                path: "p.json".into(),
                source: enoent(),
            },
            AppError::StdinFile {
                path: "in".into(),
                source: enoent(),
            },
            AppError::Output(std::io::Error::from_raw_os_error(libc::EPIPE)),
            AppError::AuditCmd(ReadError::Location(crate::audit::AuditError::NoLocation)),
            AppError::AuditCmd(ReadError::Read {
                path: "/var/log/x".into(),
                source: enoent(),
            }),
        ];
        for e in &errors {
            assert_eq!(repeated_cause(e), None, "{}", crate::text::chain(e));
        }
    }
}
