//! `agentjail mcp wrap --role ROLE [--name NAME] -- COMMAND [ARGS...]`: a
//! stdio MCP firewall in front of a third-party stdio MCP server, and
//! `agentjail mcp pins show|approve`.
//!
//! The server runs in the role's sandbox for the whole session
//! (`launch.rs`); every message between the agent's client (our stdin and
//! stdout) and the server passes the firewall (`firewall.rs`): tool calls
//! are decided like `run` calls (`check.rs`), tool definitions are pinned
//! (`pins.rs`), results go through the output guards
//! (`crate::policy::output`). Messages are handled as JSON values, framed
//! by `crate::mcp::rpc`, so fields the firewall does not look at pass unchanged.
//!
//! Threads: the launcher is forked first, while the process is
//! single-threaded; then one thread reads the server and the main thread
//! reads the client.

mod answers;
pub mod check;
pub mod firewall;
pub mod launch;
pub mod pins;
pub mod stderr;

use crate::audit::AuditRecord;
use crate::mcp::rpc::{self, Frame, LineReader};
use crate::run::{CallError, Context};
use firewall::{Firewall, Out};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Resolve(crate::sandbox::ResolveError),
    #[error("{what}")]
    Os {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("role `{role}`: [mcp] max_message_size: {message}")]
    Setting { role: String, message: String },
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Pins(#[from] pins::ApproveError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl WrapError {
    pub fn exit_code(&self) -> i32 {
        use crate::exit;
        match self {
            WrapError::Call(e) => e.exit_code(),
            WrapError::Resolve(crate::sandbox::ResolveError::NotExecutable(_)) => {
                exit::NOT_EXECUTABLE
            }
            WrapError::Resolve(_) => exit::NOT_FOUND,
            WrapError::Usage(_) => exit::USAGE,
            WrapError::UnknownRole(_) | WrapError::Denied(_) => exit::DENIED,
            WrapError::Setting { .. } => exit::CONFIG,
            WrapError::Pins(pins::ApproveError::NotPending(_) | pins::ApproveError::NoPins(_)) => {
                exit::BAD_PARAMETERS
            }
            _ => exit::LAUNCHER_FAILED,
        }
    }
}

/// What `mcp wrap` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub role: String,
    pub name: Option<String>,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub command: Vec<String>,
}

/// The server's name: `--name`, or the command's file name.
pub fn server_name(opts: &Options) -> Result<String, WrapError> {
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => {
            let first = opts.command.first().map(String::as_str).unwrap_or_default();
            std::path::Path::new(first)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    };
    pins::check_name(&name).map_err(WrapError::Usage)?;
    Ok(name)
}

/// Runs the firewall until the client or the server ends; returns the
/// server's exit code.
pub fn wrap(ctx: &Context, opts: &Options) -> Result<i32, WrapError> {
    // 0. Nothing inherited beyond stdio reaches the sandbox.
    crate::sandbox::close_inherited_fds();
    if opts.command.is_empty() {
        return Err(WrapError::Usage(
            "mcp wrap needs the server's command after --".into(),
        ));
    }
    let name = server_name(opts)?;
    // 1. The role and its [mcp] section.
    let set = ctx.load_profiles()?;
    let role = set
        .roles
        .get(&opts.role)
        .cloned()
        .ok_or_else(|| WrapError::UnknownRole(opts.role.clone()))?;
    let max = rpc::max_message(&role).map_err(|message| WrapError::Setting {
        role: role.name.clone(),
        message,
    })?;
    // 2. The session's record: no record, no server. A sandbox that would
    //    show the state directory or the log is refused (77).
    let denied = check::session_guard(ctx, &set, &role.name, &name, &opts.command)?;
    let log = ctx.audit_log()?;
    let mut session = AuditRecord::new("decision", &role.name);
    session.tool = Some(name.clone());
    session.session_id = opts.session.clone();
    session.agent_id = opts.agent.clone();
    session.params = Some(json!({"command": opts.command}));
    session.decision = Some("allow".into());
    session.reasons = vec!["mcp wrap: the server starts in the role's sandbox".into()];
    session
        .detail("dry_run", false)
        .detail("mcp", json!({"server": name, "event": "session_start"}));
    if let Some(why) = denied {
        session.decision = Some("deny".into());
        session.reasons = vec![why.clone()];
        log.append(&session)?;
        return Err(WrapError::Denied(why));
    }
    log.append(&session)?;
    // 3. The server, in its sandbox, before any thread exists.
    let server = launch::start(ctx, &role, &opts.command, &log, &session)?;
    let mut fw = Firewall::new(ctx.clone(), set, role, name, log);
    fw.session = opts.session.clone();
    fw.agent = opts.agent.clone();
    let fw = Arc::new(fw);
    let to_server: Arc<Mutex<Option<std::fs::File>>> = Arc::new(Mutex::new(Some(server.stdin)));
    let to_client = Arc::new(Mutex::new(std::io::stdout()));
    let send = {
        let to_server = Arc::clone(&to_server);
        let to_client = Arc::clone(&to_client);
        move |outs: Vec<Out>| -> bool {
            for o in outs {
                let ok = match o {
                    Out::Client(m) => {
                        let mut c = to_client.lock().unwrap_or_else(PoisonError::into_inner);
                        rpc::send(&mut *c, &m).is_ok()
                    }
                    Out::Server(m) => {
                        let mut s = to_server.lock().unwrap_or_else(PoisonError::into_inner);
                        match s.as_mut() {
                            Some(f) => rpc::send(f, &m).is_ok(),
                            None => true,
                        }
                    }
                };
                if !ok {
                    return false;
                }
            }
            true
        }
    };
    // 4. The server's stderr, bounded and escaped, on a thread of its own;
    //    the server's side on another; it ends the process when the server
    //    ends (after the last of its stderr is out).
    let errors = {
        let from = server.stderr;
        std::thread::spawn(move || stderr::forward(from, &mut std::io::stderr()))
    };
    let reader = {
        let fw = Arc::clone(&fw);
        let send = send.clone();
        let launcher = server.launcher;
        let stdout = server.stdout;
        std::thread::spawn(move || {
            let mut r = LineReader::new(stdout, max);
            loop {
                match r.next_frame() {
                    Ok(Frame::Line(l)) => {
                        if !send(fw.from_server(&l)) {
                            break;
                        }
                    }
                    Ok(Frame::TooLarge(n)) => fw.protocol_error(
                        "server",
                        &format!("a message of {n} bytes is over [mcp] max_message_size ({max} bytes): dropped"),
                    ),
                    Ok(Frame::Eof { partial }) => {
                        if partial > 0 {
                            fw.protocol_error("server", &format!("{partial} bytes of a last message without newline dropped"));
                        }
                        break;
                    }
                    Err(_) => break,
                }
            }
            send(fw.abandon());
            // The server is gone: so is the session, whatever the client does.
            let code = match nix::sys::wait::waitpid(launcher, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c,
                Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => {
                    crate::exit::for_signal(s as i32)
                }
                _ => crate::exit::LAUNCHER_FAILED,
            };
            let _ = std::io::stdout().flush();
            let started = Instant::now();
            while !errors.is_finished() && started.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(10));
            }
            fw.log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finish_alerts();
            std::process::exit(code)
        })
    };
    // 5. The client's side, here.
    let stdin = std::io::stdin();
    let mut r = LineReader::new(stdin.lock(), max);
    loop {
        match r.next_frame() {
            Ok(Frame::Line(l)) => {
                if !send(fw.from_client(&l)) {
                    break;
                }
            }
            Ok(Frame::TooLarge(n)) => {
                let e = rpc::error_response(
                    &serde_json::Value::Null,
                    rpc::INVALID_REQUEST,
                    &format!("a message of {n} bytes is over the limit of {max} bytes"),
                );
                fw.protocol_error(
                    "client",
                    &format!("a message of {n} bytes refused (over {max})"),
                );
                if !send(vec![Out::Client(e)]) {
                    break;
                }
            }
            Ok(Frame::Eof { .. }) | Err(_) => break,
        }
    }
    // 6. The client is gone: the server's stdin closes and it has a moment
    //    to end (the reader thread then exits with its code); after that the
    //    launcher is asked to stop it.
    to_server
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let started = Instant::now();
    while !reader.is_finished() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !reader.is_finished() {
        let _ = nix::sys::signal::kill(server.launcher, nix::sys::signal::Signal::SIGTERM);
    }
    let _ = reader.join();
    // The reader thread exits the process; reaching here means it failed.
    Err(WrapError::Failed(
        "mcp wrap: the thread reading the server ended without its exit code".into(),
    ))
}

/// `mcp pins show`: the pin file of a role and server as JSON.
pub fn pins_show(ctx: &Context, role: &str, name: &str) -> Result<serde_json::Value, WrapError> {
    pins::check_name(name).map_err(WrapError::Usage)?;
    let state = ctx.state()?;
    let file = pins::load(&state, role, name)?;
    Ok(json!({
        "role": role,
        "server": name,
        "path": pins::path(&state, role, name),
        "pins": file,
    }))
}

/// `mcp pins approve`: takes pending changes in, and audits it.
pub fn pins_approve(
    ctx: &Context,
    role: &str,
    name: &str,
    tools: &[String],
) -> Result<Vec<String>, WrapError> {
    pins::check_name(name).map_err(WrapError::Usage)?;
    let state = ctx.state()?;
    let done = pins::approve(&state, role, name, tools)?;
    let mut r = AuditRecord::new("approval", role);
    r.tool = Some(format!("{name}/tools/list"));
    r.approval_status = Some("approved".into());
    r.detail(
        "mcp",
        json!({"server": name, "event": "pins_approved", "tools": done}),
    );
    ctx.audit_log()?.append(&r)?;
    Ok(done)
}
