//! `agentjail mcp serve --role ROLE`: a stdio MCP server whose tools are the
//! role's allowed catalog tools, each call going through the call core
//! (`crate::run::call`) exactly as `agentjail run --json` does.
//!
//! The server is one thread polling stdin (one message per line) and the
//! pipe of the call in flight, answering on stdout; it handles
//! `initialize`, `ping`, `tools/list`, `tools/call` and
//! `notifications/cancelled`, sends `elicitation/create` when a call asks
//! its human through the client (and takes the client's response to it),
//! ignores other notifications and responses, and answers anything else (`server/discover` included) with
//! -32601. Each `tools/call` runs in a forked child (see [`call`]): the
//! launcher forks and must be single-threaded, the tool must not read the
//! protocol's stdin, and a failure in one call cannot end the server.
//! Calls run one at a time; requests that arrive meanwhile wait their turn
//! (a `ping` is answered at once), and a cancelled call is stopped and not
//! answered. When stdin ends, a call in flight is stopped and the server
//! ends after it.
//!
//! Why not the `rmcp` SDK: it runs on tokio, whose threads would force a
//! separate single-threaded launcher process and a second protocol between
//! the two; the part of MCP a tools-only server speaks is five methods (the
//! measurement is in the commit that added this module).

mod call;
pub mod schema;

use super::rpc::{self, Line, LineBuffer, Message, RpcError};
use crate::profile::{ProfileSet, Role};
use crate::run::{Context, MAX_NAME};
use serde_json::{json, Value};
use std::collections::VecDeque;

use super::rpc::{LATEST_PROTOCOL, PROTOCOL_VERSIONS};

/// The most requests that wait while a call runs; more are refused at once
/// (memory stays bounded whatever a client sends).
pub const MAX_QUEUED: usize = 64;

/// `mcp serve`'s options.
#[derive(Debug, Clone)]
pub struct Options {
    pub role: String,
    pub agent: Option<String>,
    /// Fixes the agentjail session; default: one new session per server
    /// process (one MCP session over stdio).
    pub session: Option<String>,
    /// Prepared sandboxes per plan (`crate::sandbox::pool`; 0: none).
    pub pool: u8,
    /// Plans kept ready.
    pub pool_plans: u8,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error(transparent)]
    Call(#[from] crate::run::CallError),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Setup(String),
    #[error("role `{role}`: [mcp] max_message_size: {message}")]
    Setting { role: String, message: String },
    #[error("writing to stdout: {0}")]
    Output(std::io::Error),
}

impl McpError {
    pub fn exit_code(&self) -> i32 {
        match self {
            McpError::Call(e) => e.exit_code(),
            McpError::Denied(_) => crate::exit::DENIED,
            McpError::Usage(_) => crate::exit::USAGE,
            McpError::Setting { .. } => crate::exit::CONFIG,
            McpError::Setup(_) | McpError::Output(_) => crate::exit::LAUNCHER_FAILED,
        }
    }
}

/// The server's state across messages.
/// How long the pool's slower work waits, after an answer, for the
/// client's next request (milliseconds).
const OWED_MS: u16 = 3;

struct Server<'a> {
    ctx: &'a Context,
    opts: &'a Options,
    /// The agentjail session every call of this MCP session counts against.
    session: String,
    /// The client's name from `initialize`, the agent id when none is given.
    client: Option<String>,
    /// The client declared the `elicitation` capability.
    elicitation: bool,
    /// Numbers the server's own requests (`elicitation/create`).
    asked: u64,
    /// The longest line (message) read, the role's `[mcp] max_message_size`
    /// (4 MiB by default); longer ones are refused unread. Tool calls are
    /// bounded by `max_call_size` (at most 1 MiB) below it.
    max_message: usize,
    /// The profiles as of the last `tools/list` (or the start), for what a
    /// result looks like (a tool's `output`); each call loads its own.
    set: ProfileSet,
}

/// Runs the server until stdin ends; 0 then.
pub fn serve(ctx: &Context, opts: &Options) -> Result<i32, McpError> {
    // The role must exist and the profiles load before a client is told anything.
    let set = ctx.load_profiles()?;
    let role = role_of(&set, &opts.role)?;
    let max_message = rpc::max_message(role).map_err(|message| McpError::Setting {
        role: role.name.clone(),
        message,
    })?;
    if served(&set, role).next().is_none() {
        return Err(McpError::Denied(format!(
            "role `{}` allows no catalog tool: nothing to serve (a third-party MCP server's tools go through mcp wrap)",
            role.name
        )));
    }
    for (what, v) in [("--agent", &opts.agent), ("--session", &opts.session)] {
        if let Some(v) = v {
            if v.len() > MAX_NAME || v.chars().any(|c| c.is_control()) {
                return Err(McpError::Usage(format!(
                    "{what} must be at most {MAX_NAME} printable characters"
                )));
            }
        }
    }
    let threads = crate::sandbox::thread_count();
    if threads != "1" {
        return Err(McpError::Setup(format!(
            "mcp serve must be single-threaded before it forks a call; it has {threads:?} threads"
        )));
    }
    crate::run::warm::tune_allocator_for_forks();
    let session = match &opts.session {
        Some(s) => s.clone(),
        None => format!(
            "mcp-{}",
            crate::approval::new_id().map_err(|e| McpError::Setup(e.to_string()))?
        ),
    };
    tracing::info!("mcp serve: role {}, session {session}", opts.role);
    // Prepared sandboxes, claimed by the forked calls (src/sandbox/pool.rs).
    let mut ctx = ctx.clone();
    if opts.pool > 0 {
        let settings =
            crate::sandbox::pool::Settings::checked(opts.pool.into(), opts.pool_plans.into())
                .map_err(|e| McpError::Usage(format!("--pool: {e}")))?;
        let pool = crate::sandbox::pool::Pool::new(settings).map_err(|e| {
            McpError::Setup(format!("starting the pool of prepared sandboxes: {e}"))
        })?;
        ctx.pool = Some(std::sync::Arc::new(std::sync::Mutex::new(pool)));
    }
    let mut server = Server {
        ctx: &ctx,
        opts,
        session,
        client: None,
        elicitation: false,
        asked: 0,
        max_message,
        set,
    };
    let served = server.run();
    crate::run::warm::shutdown(&ctx);
    served
}

/// A request waiting for the call in flight to end.
struct Queued {
    id: Value,
    method: String,
    params: Value,
}

/// What handling a message leads to.
enum Step {
    Answer(Value),
    Started(call::Running),
}

/// The catalog tools a role is served: allowed, not denied, in the catalog.
fn served<'s>(
    set: &'s ProfileSet,
    role: &'s Role,
) -> impl Iterator<Item = (&'s str, &'s crate::profile::ToolSpec)> {
    role.allowed_tools
        .iter()
        .filter(|t| !role.denied_tools.contains(t))
        .filter_map(|t| set.catalog.tools.get(t).map(|spec| (t.as_str(), spec)))
}

/// The role, or why `mcp serve` cannot serve it.
fn role_of<'s>(set: &'s ProfileSet, name: &str) -> Result<&'s Role, McpError> {
    set.roles
        .get(name)
        .filter(|_| !name.is_empty())
        .ok_or_else(|| {
            McpError::Denied(format!(
                "unknown role `{name}`; known roles: {}",
                set.role_names().join(", ")
            ))
        })
}

impl Server<'_> {
    /// Serves until stdin ends (and the call in flight with it).
    fn run(&mut self) -> Result<i32, McpError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let stdin = std::io::stdin();
        let mut lines = LineBuffer::new(self.max_message);
        let mut queue: VecDeque<Queued> = VecDeque::new();
        let mut running: Option<call::Running> = None;
        let mut eof = false;
        let mut out = std::io::stdout();
        let mut chunk = vec![0u8; 65536];
        // Calls that answered and are exiting, reaped as they end.
        let mut answered: Vec<nix::unistd::Pid> = Vec::new();
        // The pool's slower work is owed: it waits a moment for the next
        // request, so that a client's next call is forked before it.
        let mut owed = false;
        loop {
            // Start what waits, in order, while no call is in flight.
            while running.is_none() {
                let Some(q) = queue.pop_front() else { break };
                match self.request_step(q) {
                    Step::Answer(v) => self.send(&mut out, &v)?,
                    Step::Started(r) => running = Some(r),
                }
            }
            if eof && running.is_none() {
                call::reap(&mut answered, true);
                return Ok(crate::exit::OK);
            }
            let pool_fds = crate::run::warm::poll_fds(self.ctx);
            let stdin_fd = stdin.as_fd();
            let mut fds = Vec::with_capacity(2);
            if !eof {
                fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
            }
            if let Some(r) = &running {
                fds.push(PollFd::new(r.fd(), PollFlags::POLLIN));
            }
            let ours = fds.len();
            for w in &pool_fds {
                // SAFETY: `w` belongs to the pool, which lives as long as
                // the server; it changes only in `tend`, after this poll.
                let w = unsafe { std::os::fd::BorrowedFd::borrow_raw(*w) };
                fds.push(PollFd::new(w, PollFlags::POLLIN));
            }
            let timeout = if owed {
                PollTimeout::from(OWED_MS)
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(McpError::Setup(format!("poll: {e}"))),
            }
            let mut replied = false;
            // Sandboxes that reported ready join the pool before any call
            // is forked (it sees every one made ready so far); the rest of
            // the pool's work waits until this turn's answer is out.
            crate::run::warm::collect(self.ctx);
            let ready = |f: &PollFd| {
                f.revents().is_some_and(|r| {
                    // POLLNVAL too: a closed stdin then fails its read, not spins.
                    r.intersects(
                        PollFlags::POLLIN
                            | PollFlags::POLLHUP
                            | PollFlags::POLLERR
                            | PollFlags::POLLNVAL,
                    )
                })
            };
            let stdin_ready = !eof && ready(&fds[0]);
            let call_ready = running.is_some() && fds[..ours].last().is_some_and(ready);
            drop(fds);
            if call_ready {
                let event = match running.as_mut() {
                    Some(r) => r.read(),
                    None => call::Event::Nothing,
                };
                match event {
                    call::Event::Nothing => {}
                    call::Event::Ask(message) => {
                        if let Some(r) = running.as_mut() {
                            let v = self.elicit(r, &message);
                            self.send(&mut out, &v)?;
                        }
                    }
                    call::Event::Done(result) => {
                        if let Some(r) = running.take() {
                            answered.extend(r.unreaped());
                            if !r.cancelled {
                                self.send(&mut out, &rpc::result(&r.id, result))?;
                                replied = true;
                            }
                        }
                    }
                }
            }
            if stdin_ready {
                let n = match nix::unistd::read(libc::STDIN_FILENO, &mut chunk) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                    Err(e) => return Err(McpError::Setup(format!("reading stdin: {e}"))),
                };
                let mut got = if n == 0 {
                    eof = true;
                    // The client has gone: stop the call in flight, then end.
                    if let Some(r) = &running {
                        r.stop();
                    }
                    lines.finish().into_iter().collect()
                } else {
                    lines.feed(&chunk[..n])
                };
                for line in got.drain(..) {
                    if let Some(v) = self.arrived(line, &mut queue, &mut running) {
                        self.send(&mut out, &v)?;
                    }
                }
            }
            call::reap(&mut answered, false);
            // Beside the call just forked, not before it: the wishes
            // planned, what the calls left reaped, and what the plans lack
            // started (never waiting for a sandbox: its steps come in on
            // its channel). Right after an answer, with no call running, it
            // waits up to OWED_MS for the client's next request.
            owed = replied && running.is_none();
            if !owed {
                crate::run::warm::tend(self.ctx);
            }
        }
    }

    /// The `elicitation/create` request that asks the client's human about
    /// the running call (a yes/no form).
    fn elicit(&mut self, r: &mut call::Running, message: &str) -> Value {
        self.asked += 1;
        let id = json!(format!("agentjail-approval-{}", self.asked));
        r.asking = Some(id.clone());
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "elicitation/create",
            "params": {
                "message": message,
                "requestedSchema": {
                    "type": "object",
                    "properties": {
                        "approve": {
                            "type": "boolean",
                            "title": "Approve",
                            "description": "Run this call once",
                        }
                    },
                    "required": ["approve"],
                },
            },
        })
    }

    /// Writes one message; a client that has gone is not an error.
    fn send(&self, out: &mut std::io::Stdout, v: &Value) -> Result<(), McpError> {
        match rpc::send(out, v) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(McpError::Output(e)),
        }
    }

    /// A line as it arrives: answered at once, queued, or a cancellation.
    fn arrived(
        &mut self,
        line: Line,
        queue: &mut VecDeque<Queued>,
        running: &mut Option<call::Running>,
    ) -> Option<Value> {
        let text = match line {
            Line::Text(t) => t,
            Line::TooLong(n) => {
                return Some(rpc::error(&RpcError::new(
                    Value::Null,
                    rpc::INVALID_REQUEST,
                    format!(
                        "message of {n} bytes refused: at most {} are read",
                        self.max_message
                    ),
                )))
            }
        };
        match rpc::parse(&text) {
            Err(e) => Some(rpc::error(&e)),
            Ok(Message::Empty) => None,
            Ok(Message::Response { id, result }) => {
                // The answer to an elicitation: accepted with approve = true, or not.
                if let Some(r) = running.as_mut().filter(|r| r.asking.as_ref() == Some(&id)) {
                    let approved = result["action"] == json!("accept")
                        && result["content"]["approve"] == json!(true);
                    r.answer(approved);
                }
                None
            }
            Ok(Message::Notification { method, params }) => {
                if method == "notifications/cancelled" {
                    if let Some(id) = params.get("requestId") {
                        cancel(id, queue, running);
                    }
                } else {
                    tracing::debug!("mcp: notification {}", crate::text::printable(&method));
                }
                None
            }
            // A ping is answered even while a call runs.
            Ok(Message::Request { id, method, .. }) if method == "ping" => {
                Some(rpc::result(&id, json!({})))
            }
            Ok(Message::Request { id, .. }) if queue.len() >= MAX_QUEUED => {
                Some(rpc::error(&RpcError::new(
                    id,
                    rpc::SERVER_BUSY,
                    format!(
                        "server busy: {MAX_QUEUED} requests already wait for the call in flight"
                    ),
                )))
            }
            Ok(Message::Request { id, method, params }) => {
                queue.push_back(Queued { id, method, params });
                None
            }
        }
    }

    /// Handles one queued request.
    fn request_step(&mut self, q: Queued) -> Step {
        if q.method == "tools/call" {
            return match self.tools_call(&q.id, &q.params) {
                Ok(Ok(r)) => Step::Started(r),
                Ok(Err(result)) => Step::Answer(rpc::result(&q.id, result)),
                Err(m) => Step::Answer(rpc::error(&RpcError::new(q.id, rpc::INVALID_PARAMS, m))),
            };
        }
        match self.request(&q.id, &q.method, &q.params) {
            Ok(v) => Step::Answer(rpc::result(&q.id, v)),
            Err(e) => Step::Answer(rpc::error(&e)),
        }
    }

    fn request(&mut self, id: &Value, method: &str, params: &Value) -> Result<Value, RpcError> {
        let err = |code, m: String| RpcError::new(id.clone(), code, m);
        match method {
            "initialize" => self
                .initialize(params)
                .map_err(|m| err(rpc::INVALID_PARAMS, m)),
            "ping" => Ok(json!({})),
            "tools/list" => self.tools_list().map_err(|m| err(rpc::INTERNAL_ERROR, m)),
            other => Err(err(
                rpc::METHOD_NOT_FOUND,
                format!(
                    "method not found: {}",
                    crate::text::printable(&crate::text::shorten(other, 100))
                ),
            )),
        }
    }

    fn initialize(&mut self, params: &Value) -> Result<Value, String> {
        let Some(asked) = params.get("protocolVersion").and_then(Value::as_str) else {
            return Err("initialize: `protocolVersion` (a string) is required".into());
        };
        // The client's version when this server speaks it, else the latest
        // it speaks (the client then decides): never one it does not.
        let version = PROTOCOL_VERSIONS
            .iter()
            .find(|v| **v == asked)
            .unwrap_or(&LATEST_PROTOCOL);
        let name = params
            .pointer("/clientInfo/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && n.len() <= 64 && !n.chars().any(char::is_control));
        self.client = name.map(str::to_string);
        self.elicitation = params
            .pointer("/capabilities/elicitation")
            .is_some_and(Value::is_object);
        Ok(json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {
                "name": "agentjail",
                "title": format!("agentjail (role {})", self.opts.role),
                "version": env!("CARGO_PKG_VERSION"),
            },
            "instructions": format!(
                "Tools of agentjail role `{}`: each call is checked against the role's policy, \
                 audited, and run in a sandbox. A call that needs a human's approval fails \
                 with the approval request's id; call it again with the same arguments after \
                 it is approved.",
                self.opts.role
            ),
        }))
    }

    fn tools_list(&mut self) -> Result<Value, String> {
        // Loaded for each list, so the list follows the profiles as every call does.
        self.set = self.ctx.load_profiles().map_err(|e| e.to_string())?;
        let set = &self.set;
        let role = role_of(set, &self.opts.role).map_err(|e| e.to_string())?;
        let tools: Vec<Value> = served(set, role)
            .map(|(t, spec)| schema::tool_entry(t, spec))
            .collect();
        Ok(json!({ "tools": tools }))
    }

    /// Starts a call: the running call, or the error result when it could
    /// not start; `Err` for params that are not a call at all.
    fn tools_call(
        &self,
        id: &Value,
        params: &Value,
    ) -> Result<Result<call::Running, Value>, String> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err("tools/call: `name` (a string) is required".into());
        };
        let mut arguments = match params.get("arguments") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("tools/call: `arguments` must be an object".into()),
        };
        let agent = self.opts.agent.clone().or_else(|| self.client.clone());
        let spec = self.set.catalog.tools.get(name);
        let format = spec.map(|t| t.output).unwrap_or_default();
        // The extra arguments, for a tool that takes them; the policy
        // checks them (pattern, count, screening) like `run`'s.
        let mut extra_args = Vec::new();
        if spec.is_some_and(schema::takes_extra_args) {
            match arguments.remove(schema::EXTRA_ARGS) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for item in items {
                        let Value::String(a) = item else {
                            return Err(
                                "tools/call: `extra_args` must be an array of strings".into()
                            );
                        };
                        extra_args.push(a);
                    }
                }
                Some(_) => {
                    return Err("tools/call: `extra_args` must be an array of strings".into())
                }
            }
        }
        Ok(call::start(
            self.ctx,
            call::Call {
                role: &self.opts.role,
                tool: name,
                arguments,
                extra_args,
                agent,
                session: &self.session,
                format,
                elicitation: self.elicitation,
            },
            id.clone(),
        ))
    }
}

/// `notifications/cancelled` for request `id`: a queued request is dropped,
/// the call in flight is stopped; neither is answered.
fn cancel(id: &Value, queue: &mut VecDeque<Queued>, running: &mut Option<call::Running>) {
    queue.retain(|q| &q.id != id);
    if let Some(r) = running.as_mut().filter(|r| &r.id == id) {
        tracing::info!("mcp: request {id} cancelled; stopping its call");
        r.cancelled = true;
        r.stop();
    }
}
