//! The CLI's side of the broker (`agentjail serve`, `crate::serve`):
//!
//! - the client: `agentjail --broker SOCKET run|check|approvals|budget|audit ...` (or
//!   `AGENTJAIL_BROKER`, or `broker = "..."` in `/etc/agentjail/config.toml`)
//!   sends the call, with its descriptors 0, 1 and 2, and exits with the
//!   call's exit code; with `require_broker` (`AGENTJAIL_REQUIRE_BROKER=1`
//!   or the system configuration) a broker that cannot be reached is 125,
//!   never an in-process run;
//! - [`CliHandler`] (in `broker_handler`), what the broker's worker runs
//!   with the caller's descriptors.

pub use super::broker_handler::CliHandler;
use super::{
    AppError, ApprovalsCommand, AuditCommand, BudgetCommand, CallArgs, Cli, Command, Format,
};
use crate::serve::config::DEFAULT_SOCKET;
use crate::serve::protocol::{self, Approvals, Ask, Audit, Call, Op, Request, Response, VERSION};
use serde::Deserialize;
use std::io::IsTerminal;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The system configuration every CLI reads.
pub const SYSTEM_CONFIG: &str = "/etc/agentjail/config.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemConfig {
    broker: Option<PathBuf>,
    #[serde(default)]
    require_broker: bool,
}

/// Where calls go when a broker is configured.
#[derive(Debug, Clone)]
pub struct Route {
    pub socket: PathBuf,
    /// Fail closed (125) when the broker cannot be reached.
    pub required: bool,
    /// What said so, for messages.
    pub why: String,
}

/// The broker to use, if any: `--broker`/`AGENTJAIL_BROKER`, then the
/// system configuration; `AGENTJAIL_REQUIRE_BROKER=1` or `require_broker`
/// make it required (at the default socket when none is named).
pub fn route(flag: Option<&Path>) -> Result<Option<Route>, AppError> {
    let sys = match std::fs::read_to_string(SYSTEM_CONFIG) {
        Ok(text) => toml::from_str::<SystemConfig>(&text)
            .map_err(|e| AppError::Config(format!("{SYSTEM_CONFIG}: {}", e.to_string().trim())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SystemConfig::default(),
        Err(e) => return Err(AppError::Config(format!("reading {SYSTEM_CONFIG}: {e}"))),
    };
    let env_required = std::env::var("AGENTJAIL_REQUIRE_BROKER").is_ok_and(|v| v == "1");
    let required = env_required || sys.require_broker;
    let why = if env_required {
        "AGENTJAIL_REQUIRE_BROKER=1".to_string()
    } else {
        format!("require_broker = true in {SYSTEM_CONFIG}")
    };
    let socket = match (flag, sys.broker) {
        (Some(p), _) => Some(p.to_path_buf()),
        (None, Some(p)) => Some(p),
        (None, None) if required => Some(PathBuf::from(DEFAULT_SOCKET)),
        (None, None) => None,
    };
    Ok(socket.map(|socket| Route {
        socket,
        required,
        why,
    }))
}

/// Whether the broker serves this command.
pub fn served(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Run { .. }
            | Command::Check { .. }
            | Command::Approvals(_)
            | Command::Budget(_)
            | Command::Audit(_)
    )
}

/// Sends the command to the broker and returns the call's exit code.
pub fn dispatch(route: &Route, cli: &Cli) -> Result<i32, AppError> {
    // Unreachable first: with require_broker that is the message that matters.
    let conn =
        UnixStream::connect(&route.socket).map_err(|e| unreachable_broker(route, e.to_string()))?;
    let mine = [
        ("--profiles", cli.profiles.is_some()),
        ("--state-dir", cli.state_dir.is_some()),
        ("--audit-log", cli.audit_log.is_some()),
        ("--alert-command", cli.alert_command.is_some()),
        ("--approval-hook", cli.approval_hook.is_some()),
        ("--cgroup-parent", cli.cgroup_parent.is_some()),
    ];
    if let Some((flag, _)) = mine.iter().find(|(_, given)| *given) {
        return Err(AppError::Usage(format!(
            "{flag} (or its AGENTJAIL_ variable) is not used with a broker ({}): the broker's configuration sets it",
            route.socket.display()
        )));
    }
    // `--stdin-file`, opened here with the caller's rights, and the
    // terminal for the prompt.
    let mut file = None;
    let mut tty = None;
    let op = match &cli.command {
        Command::Run {
            call,
            output,
            interactive,
            no_interactive,
        } => {
            let ask = match (*interactive, *no_interactive) {
                (true, _) => Ask::Always,
                (_, true) => Ask::Never,
                _ => Ask::Auto,
            };
            // The broker asks on the caller's own terminal: this process's
            // /dev/tty (with --interactive and none, the broker says so).
            if ask == Ask::Always || (ask == Ask::Auto && std::io::stdin().is_terminal()) {
                tty = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
                    .open("/dev/tty")
                    .ok();
            }
            Op::Run {
                call: wire_call(call, &mut file)?,
                json: output.json(),
                ask,
                tty: tty.is_some(),
            }
        }
        Command::Check { call, output } => Op::Check {
            call: wire_call(call, &mut file)?,
            json: output.json(),
        },
        Command::Approvals(a) => Op::Approvals(match a {
            ApprovalsCommand::List { all, format } => Approvals::List {
                all: *all,
                json: *format == Format::Json,
            },
            ApprovalsCommand::Show { id, format } => Approvals::Show {
                id: id.clone(),
                json: *format == Format::Json,
            },
            ApprovalsCommand::Approve { id, ttl, reason } => Approvals::Approve {
                id: id.clone(),
                ttl_secs: ttl.map(|t| t.as_secs().max(1)),
                reason: reason.clone(),
            },
            ApprovalsCommand::Deny { id, reason } => Approvals::Deny {
                id: id.clone(),
                reason: reason.clone(),
            },
        }),
        Command::Budget(BudgetCommand::Show {
            session,
            role,
            format,
        }) => Op::Budget {
            session: session.clone(),
            role: role.clone(),
            json: *format == Format::Json,
        },
        Command::Audit(a) => Op::Audit(wire_audit(route, a)?),
        _ => {
            return Err(AppError::Usage(
                "this command is not served by the broker".into(),
            ))
        }
    };
    let response = exchange(
        route,
        conn,
        &Request {
            version: VERSION,
            op,
        },
        &[file.as_ref(), tty.as_ref()]
            .into_iter()
            .flatten()
            .map(AsRawFd::as_raw_fd)
            .collect::<Vec<_>>(),
    )?;
    if let Some(m) = &response.message {
        eprintln!("agentjail: {}", crate::text::printable(m));
    }
    Ok(response.exit_code)
}

/// `audit verify|head|tail` as sent: on the broker's own log, never a path.
fn wire_audit(route: &Route, a: &AuditCommand) -> Result<Audit, AppError> {
    Ok(match a {
        AuditCommand::Verify {
            paths,
            head,
            after,
            format,
        } => {
            if !paths.is_empty() {
                return Err(AppError::Usage(format!(
                    "audit verify PATH is not used with a broker ({}): it verifies its own log; drop the paths, or verify a copy in-process without --broker",
                    route.socket.display()
                )));
            }
            Audit::Verify {
                head: head.clone(),
                after: after.clone(),
                json: *format == Format::Json,
            }
        }
        AuditCommand::Head { format } => Audit::Head {
            json: *format == Format::Json,
        },
        AuditCommand::Tail {
            follow,
            lines,
            role,
            session,
            risk,
            event,
            format,
        } => Audit::Tail {
            follow: *follow,
            lines: *lines,
            role: role.clone(),
            session: session.clone(),
            risk: risk.clone(),
            event: event.clone(),
            json: *format == Format::Json,
        },
    })
}

/// The call as sent: `--params` read here (stdin, @FILE) with the caller's
/// rights, merged with each `--param`, as inline JSON; `--stdin-file`
/// opened here too, into `file`, to go along as a descriptor.
fn wire_call(args: &CallArgs, file: &mut Option<std::fs::File>) -> Result<Call, AppError> {
    if let Some(path) = &args.stdin_file {
        *file = Some(
            std::fs::File::open(path).map_err(|source| AppError::StdinFile {
                path: path.display().to_string(),
                source,
            })?,
        );
    }
    let call = super::run::gather_call(args)?;
    // Values from --params keep their JSON type; --param text stays text to
    // be converted to the parameter's type, as in-process.
    let (json, text): (Vec<_>, Vec<_>) = call
        .params
        .into_iter()
        .partition(|(k, _)| call.json_params.contains(k));
    let json: serde_json::Map<String, serde_json::Value> = json.into_iter().collect();
    let param = text
        .into_iter()
        .map(|(k, v)| format!("{k}={}", crate::policy::params::value_text(&v)))
        .collect();
    let params = if json.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(&json)
                .map_err(|e| AppError::Usage(format!("encoding the parameters: {e}")))?,
        )
    };
    Ok(Call {
        role: args.role.clone(),
        tool: call.tool,
        param,
        params,
        extra_args: call.extra_args,
        agent: args.agent.clone(),
        session: args.session.clone(),
        tokens: args.tokens,
        stdin_file: file.is_some(),
    })
}

/// This process's descriptor `fd`, or `/dev/null` when it is closed.
fn stdio_fd(fd: RawFd, keep: &mut Vec<OwnedFd>) -> RawFd {
    if nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok() {
        return fd;
    }
    match std::fs::OpenOptions::new()
        .read(fd == 0)
        .write(fd != 0)
        .open("/dev/null")
    {
        Ok(f) => {
            let owned = OwnedFd::from(f);
            let raw = owned.as_raw_fd();
            keep.push(owned);
            raw
        }
        Err(_) => fd,
    }
}

fn unreachable_broker(route: &Route, what: String) -> AppError {
    let fix = if route.required {
        format!(
            "the call was not run ({} requires the broker); start it with `agentjail serve` or fix the socket path",
            route.why
        )
    } else {
        "start it with `agentjail serve`, or drop --broker/AGENTJAIL_BROKER to run in-process"
            .into()
    };
    AppError::Broker(format!(
        "the broker at {} cannot be reached: {what}; {fix}",
        route.socket.display()
    ))
}

/// One request, one response.
fn exchange(
    route: &Route,
    conn: UnixStream,
    req: &Request,
    extra: &[RawFd],
) -> Result<Response, AppError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let frame = protocol::encode(req).map_err(|e| AppError::Usage(e.to_string()))?;
    let mut keep = Vec::new();
    let mut fds = vec![
        stdio_fd(0, &mut keep),
        stdio_fd(1, &mut keep),
        stdio_fd(2, &mut keep),
    ];
    fds.extend_from_slice(extra);
    // SIGINT, SIGTERM and SIGHUP are for the call from here on: blocked,
    // read from a signalfd and sent to the worker (the call's descriptors are
    // the caller's, so its children inherit no blocked mask: the broker forks
    // the call, not this process).
    let sigfd = forwarded_signals();
    let cmsg = [ControlMessage::ScmRights(&fds)];
    // The descriptors ride on the first bytes; the rest follows plainly.
    let first = frame.len().min(4);
    let sent = loop {
        match sendmsg::<()>(
            conn.as_raw_fd(),
            &[std::io::IoSlice::new(&frame[..first])],
            &cmsg,
            MsgFlags::empty(),
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    drop(keep);
    let lost = |e: String| {
        AppError::Broker(format!(
            "the broker at {} closed the connection: {e}",
            route.socket.display()
        ))
    };
    // A write the broker refused (busy: it answered and closed) still
    // leaves its answer to read.
    let wrote = match sent {
        Ok(n) if n == first => (&conn).write_all(&frame[first..]).is_ok(),
        _ => false,
    };
    if wrote {
        forward_signals(&conn, &sigfd);
    }
    let mut reader = &conn;
    match protocol::read_frame(&mut reader as &mut dyn std::io::Read, &[]) {
        Ok(body) => protocol::decode::<Response>(&body).map_err(|e| lost(e.to_string())),
        Err(e) if !wrote => Err(lost(format!("sending the request: {e}"))),
        Err(e) => Err(lost(e.to_string())),
    }
}

fn forwarded_signals() -> Option<nix::sys::signalfd::SignalFd> {
    use nix::sys::signal::{SigSet, Signal};
    let mut mask = SigSet::empty();
    for s in protocol::FORWARDED {
        if let Ok(s) = Signal::try_from(s) {
            mask.add(s);
        }
    }
    mask.thread_block().ok()?;
    nix::sys::signalfd::SignalFd::with_flags(&mask, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC).ok()
}

/// Until the broker's answer starts to arrive, sends each signal this
/// process receives to the worker as a control frame.
fn forward_signals(conn: &UnixStream, sigfd: &Option<nix::sys::signalfd::SignalFd>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let Some(sigfd) = sigfd else { return };
    loop {
        let mut fds = [
            PollFd::new(conn.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            return;
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            if let Ok(Some(info)) = sigfd.read_signal() {
                let control = protocol::Control {
                    version: VERSION,
                    signal: info.ssi_signo as i32,
                };
                if let Ok(frame) = protocol::encode(&control) {
                    if (&*conn).write_all(&frame).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
