//! What the broker's worker runs for a served command ([`CliHandler`]),
//! with the caller's descriptors on 0, 1 and 2: the in-process commands
//! themselves, so every line printed is the one the in-process CLI prints,
//! narrowed to the peer's scope, with its `--stdin-file` descriptor and its
//! terminal. The client side is `broker_client`.

use super::prompt::{Prompt, Terminal};
use super::{AppError, ApprovalsCommand, AuditCommand, CallArgs, Format};
use crate::approval::Person;
use crate::run::Context;
use crate::serve::config::Scope;
use crate::serve::protocol::{Approvals, Ask, Audit, Call, Op};
use crate::serve::server::Caller;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// Runs a served operation in the broker's worker, as the in-process CLI
/// would, with the broker's context.
pub struct CliHandler;

impl crate::serve::Handler for CliHandler {
    fn handle(&self, ctx: &Context, op: &Op, caller: Caller) -> i32 {
        let Caller {
            who,
            scope,
            stdin_file,
            tty,
        } = caller;
        let result = match op {
            Op::Run {
                call, json, ask, ..
            } => cli_args(call, stdin_file).and_then(|(args, _copy)| {
                let human = terminal(*ask, tty, &who, &scope);
                super::run::run_asking(ctx, &args, *json, human, Some(who.clone()))
            }),
            Op::Check { call, json } => cli_args(call, stdin_file)
                .and_then(|(args, _copy)| super::run::check(ctx, &args, *json)),
            Op::Approvals(a) => {
                let cmd = match a {
                    Approvals::List { all, json } => ApprovalsCommand::List {
                        all: *all,
                        format: format(*json),
                    },
                    Approvals::Show { id, json } => ApprovalsCommand::Show {
                        id: id.clone(),
                        format: format(*json),
                    },
                    Approvals::Approve {
                        id,
                        ttl_secs,
                        reason,
                    } => ApprovalsCommand::Approve {
                        id: id.clone(),
                        ttl: ttl_secs.map(std::time::Duration::from_secs),
                        reason: reason.clone(),
                    },
                    Approvals::Deny { id, reason } => ApprovalsCommand::Deny {
                        id: id.clone(),
                        reason: reason.clone(),
                    },
                };
                super::approvals::dispatch_as(ctx, &cmd, who.clone(), Some(&scope))
            }
            Op::Budget {
                session,
                role,
                json,
            } => super::budget::show(
                ctx,
                session.as_deref(),
                role.as_deref(),
                format(*json),
                Some(&scope),
            ),
            Op::Audit(a) => super::audit::dispatch(ctx, &audit_command(a)),
        };
        match result {
            Ok(code) => code,
            Err(e) => e.report(),
        }
    }
}

/// The prompt for a call through the broker: on the caller's terminal
/// (only a descriptor that is one), answered by the peer, and only when
/// the broker's `[[approvers]]` let it approve the role.
fn terminal(ask: Ask, tty: Option<OwnedFd>, who: &Person, scope: &Scope) -> Terminal {
    let mode = match ask {
        Ask::Never => Prompt::Never,
        Ask::Auto => Prompt::Auto,
        Ask::Always => Prompt::Always,
    };
    let tty = tty
        .filter(|fd| nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false))
        .map(std::fs::File::from);
    Terminal::for_peer(mode, tty, who.clone(), scope.clone())
}

fn audit_command(a: &Audit) -> AuditCommand {
    match a {
        Audit::Verify { head, after, json } => AuditCommand::Verify {
            paths: Vec::new(),
            head: head.clone(),
            after: after.clone(),
            format: format(*json),
        },
        Audit::Head { json } => AuditCommand::Head {
            format: format(*json),
        },
        Audit::Tail {
            follow,
            lines,
            role,
            session,
            risk,
            event,
            json,
        } => AuditCommand::Tail {
            follow: *follow,
            lines: *lines,
            role: role.clone(),
            session: session.clone(),
            risk: risk.clone(),
            event: event.clone(),
            format: format(*json),
        },
    }
}

fn format(json: bool) -> Format {
    if json {
        Format::Json
    } else {
        Format::Text
    }
}

/// The call's arguments as the in-process command takes them. The client's
/// `--stdin-file` descriptor is read here (never reopened: the broker's
/// rights must not reach a file the client could not read), at most
/// [`super::run::MAX_STDIN_FILE`] bytes, into a memory file this process
/// owns; `--stdin-file` names that copy (`/proc/self/fd/N`), which the
/// in-process code reads, seals and hashes as it does a path. The copy is
/// returned to be kept open until then.
fn cli_args(c: &Call, file: Option<OwnedFd>) -> Result<(CallArgs, Option<OwnedFd>), AppError> {
    let copy = match (c.stdin_file, file) {
        (true, Some(fd)) => Some(stdin_copy(fd)?),
        (false, None) => None,
        _ => {
            return Err(AppError::Usage(
                "stdin_file and the descriptors passed disagree".into(),
            ))
        }
    };
    let path = copy
        .as_ref()
        .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())));
    Ok((call_args(c, path), copy))
}

fn stdin_copy(fd: OwnedFd) -> Result<OwnedFd, AppError> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    use std::io::Read;
    let shown = "--stdin-file (the descriptor the client passed)";
    let io = |source| AppError::StdinFile {
        path: shown.into(),
        source,
    };
    let max = super::run::MAX_STDIN_FILE;
    let mut data = Vec::new();
    std::fs::File::from(fd)
        .take(max + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > max {
        return Err(AppError::StdinTooLarge {
            path: shown.into(),
            max,
        });
    }
    let mem = memfd_create(c"agentjail-stdin-copy", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| io(e.into()))?;
    let mut mem = std::fs::File::from(mem);
    mem.write_all(&data).map_err(io)?;
    Ok(OwnedFd::from(mem))
}

fn call_args(c: &Call, stdin_file: Option<PathBuf>) -> CallArgs {
    CallArgs {
        role: c.role.clone(),
        agent: c.agent.clone(),
        session: c.session.clone(),
        param: c.param.clone(),
        params: c.params.clone(),
        stdin_file,
        tokens: c.tokens,
        tool: c.tool.clone(),
        extra_args: c.extra_args.clone(),
    }
}
