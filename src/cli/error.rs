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
    /// The JSON object describing this error is already on stdout (it carries
    /// more than the error: the audit id, the decision); `main` prints only
    /// the stderr line.
    #[error(transparent)]
    Reported(Box<AppError>),
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
            AppError::Reported(e) => e.exit_code(),
            AppError::Broker(_) => exit::LAUNCHER_FAILED,
            AppError::Config(_) => exit::CONFIG,
        }
    }

    /// The machine-readable kind of the failure: `error.kind` in JSON output.
    pub fn kind(&self) -> &'static str {
        use crate::approval::ApprovalError as A;
        match self {
            AppError::Reported(e) => e.kind(),
            AppError::AuditCmd(_) => "audit_log",
            AppError::Output(_) => "output",
            AppError::Call(CallError::Approval(e)) => match e {
                A::NotFound(_) => "no_request",
                A::NotPending { .. } => "not_pending",
                A::RoleUnknown { .. } => "unknown_role",
                A::NoBinding(_) => "not_approvable",
                A::NotApprover { .. } => "denied",
                A::BadId(_) | A::NoTerminal(_) => "usage",
            },
            e => kind_of_exit(e.exit_code()),
        }
    }

    /// Prints the error as its one line and returns its exit code (for a
    /// front-end without JSON output, such as a broker's worker).
    pub fn report(self) -> i32 {
        let code = self.exit_code();
        let text = format!("{:#}", anyhow::Error::from(self));
        eprintln!("agentjail: {}", crate::text::printable(&text));
        code
    }

    /// The JSON object printed on stdout for this error when JSON output was
    /// asked for: `exit_code` and `error` (`kind`, `message`).
    pub fn to_json(&self, message: &str) -> serde_json::Value {
        serde_json::json!({
            "exit_code": self.exit_code(),
            "error": error_json(self.kind(), message),
        })
    }
}

/// `error` in JSON output: `{"kind": ..., "message": ...}`.
pub fn error_json(kind: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "kind": kind, "message": message })
}

/// The kind of a failure that has only its exit code to go by.
pub fn kind_of_exit(code: i32) -> &'static str {
    match code {
        exit::USAGE => "usage",
        exit::BAD_PARAMETERS => "bad_parameters",
        exit::APPROVAL_REQUIRED => "approval_required",
        exit::DENIED => "denied",
        exit::CONFIG => "profile",
        exit::TIMEOUT => "timeout",
        exit::LAUNCHER_FAILED => "launcher",
        exit::NOT_EXECUTABLE => "not_executable",
        exit::NOT_FOUND => "not_found",
        _ => "failed",
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
