//! The firewall's decisions about each message, in both directions, as
//! pure-ish functions from one message to what to send where: a message
//! for the server, an answer for the client, or nothing (a dropped
//! message). The loop that reads and writes the streams is in `mod.rs`.
//!
//! Client to server: `tools/call` is checked (`check.rs`), `tools/list`,
//! `initialize` and the resources and prompts methods are forwarded (the
//! latter by role setting), `server/discover` and anything not understood
//! are answered with -32601 and never forwarded. Server to client: the
//! answers to forwarded requests are matched by id; `tools/list` answers
//! are filtered (pins, policy), `tools/call` answers are audited and go
//! through the output guards (both in `answers.rs`); server requests (sampling, elicitation) pass
//! only by role setting. Batches are split and checked message by message.
//!
//! A `tools/call` for a tool not yet known that comes while the firewall's
//! own listing is in flight waits for that listing, then is checked.
//!
//! About 700 lines, over the usual bound: the routing of both directions
//! and the table of requests in flight are one state machine, kept in one
//! file so that no method is handled in two places; what is reviewed in
//! answers is in `answers.rs`.

use super::check;
use crate::audit::{AuditLog, AuditRecord};
use crate::mcp::rpc::{self, Kind};
use crate::policy::output::OutputGuard;
use crate::profile::mcp::Passthrough;
use crate::profile::{ProfileSet, Role};
use crate::run::Context;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// The protocol versions the firewall speaks, newest first.
use crate::mcp::rpc::PROTOCOL_VERSIONS as VERSIONS;

/// Requests from the client in flight at once; more are refused.
pub const MAX_IN_FLIGHT: usize = 1024;

/// The id of the firewall's own `tools/list` after `initialized` (its
/// later pages add `-N`).
const OWN_LIST_ID: &str = "agentjail-wrap-tools-list";

/// The most pages of the server's `tools/list` the firewall's own listing
/// follows (`nextCursor`); tools after them are not pinned, so their calls
/// are refused. Each page is at most `max_message_size`.
pub const MAX_OWN_PAGES: usize = 64;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Server(Value),
    Client(Value),
}

/// What the firewall knows of one listed tool.
#[derive(Debug, Clone)]
pub(super) struct ToolInfo {
    pub(super) definition: Value,
    /// Why a call is refused without a decision (not named, pin broken).
    pub(super) hidden: Option<String>,
}

enum Pending {
    Initialize,
    ToolsList {
        own: bool,
        /// Of the firewall's own listing: which page (0 = the first).
        page: usize,
    },
    ToolsCall {
        record: Box<AuditRecord>,
        started: Instant,
    },
    /// Text for the agent that is not a tool result (a resource, a prompt):
    /// it passes the output guards too.
    Content {
        method: &'static str,
    },
    Other,
}

#[derive(Default)]
pub(super) struct State {
    pending: HashMap<String, Pending>,
    from_server: HashSet<String>,
    pub(super) tools: BTreeMap<String, ToolInfo>,
    /// The firewall's own listing was started (it is made once).
    own_listed: bool,
    /// The tools of its pages so far: they are reviewed (pinned) together
    /// when the last page is in, so that a first pinning takes them all.
    own_tools: Vec<Value>,
    /// The firewall's own listing is in (or could not be made).
    own_done: bool,
    /// Calls (id, message) for a tool not yet known that came while the
    /// firewall's own listing was in flight: they wait for it, then are
    /// checked, so a client that calls at once is not refused by a race.
    held: Vec<(Value, Value)>,
}

impl State {
    /// Whether a client request with id `key` may go in flight: no request
    /// in flight (forwarded, or a call held for the own listing) has that
    /// id, and there is room for one more.
    fn room_for(&self, key: &str) -> Result<(), String> {
        if self.pending.contains_key(key) || self.held.iter().any(|(h, _)| rpc::id_key(h) == key) {
            return Err(format!(
                "request id {key} is already in use by a request in flight"
            ));
        }
        if self.pending.len() + self.held.len() >= MAX_IN_FLIGHT {
            return Err(format!("more than {MAX_IN_FLIGHT} requests in flight"));
        }
        Ok(())
    }
}

/// One session's firewall.
pub struct Firewall {
    pub ctx: Context,
    pub set: ProfileSet,
    pub role: Role,
    /// The server's name (`--name`): tools are recorded as `NAME/TOOL`.
    pub name: String,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub log: Mutex<AuditLog>,
    pub guard: OutputGuard,
    state: Mutex<State>,
}

fn pass(p: Passthrough) -> bool {
    p == Passthrough::Pass
}

impl Firewall {
    pub fn new(ctx: Context, set: ProfileSet, role: Role, name: String, log: AuditLog) -> Firewall {
        let guard = OutputGuard::new(&role);
        Firewall {
            ctx,
            set,
            role,
            name,
            session: None,
            agent: None,
            log: Mutex::new(log),
            guard,
            state: Mutex::new(State::default()),
        }
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn append(&self, rec: &AuditRecord) -> bool {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        match log.append(rec) {
            Ok(_) => true,
            Err(e) => {
                tracing::error!("mcp wrap: writing an audit record: {e}");
                false
            }
        }
    }

    pub(super) fn record(&self, event: &'static str, tool: &str) -> AuditRecord {
        let mut r = AuditRecord::new(event, &self.role.name);
        r.tool = Some(format!("{}/{tool}", self.name));
        r.session_id = self.session.clone();
        r.agent_id = self.agent.clone();
        r
    }

    /// An error record about the protocol (malformed, oversized messages).
    pub fn protocol_error(&self, side: &str, what: &str) {
        let mut r = self.record("error", "-");
        r.result = Some("error".into());
        r.detail("error", format!("{side}: {what}"))
            .detail("exit_code", 0)
            .detail(
                "mcp",
                json!({"server": self.name, "event": "protocol_error", "side": side}),
            );
        self.append(&r);
    }

    // ---- client to server ----

    /// One line from the client.
    pub fn from_client(&self, line: &[u8]) -> Vec<Out> {
        match serde_json::from_slice::<Value>(line) {
            Err(e) => vec![Out::Client(rpc::error_response(
                &Value::Null,
                rpc::PARSE_ERROR,
                &format!("parse error: {e}"),
            ))],
            Ok(Value::Array(items)) if items.is_empty() => vec![Out::Client(rpc::error_response(
                &Value::Null,
                rpc::INVALID_REQUEST,
                "an empty batch",
            ))],
            Ok(Value::Array(items)) => items
                .into_iter()
                .flat_map(|m| self.client_message(m))
                .collect(),
            Ok(m) => self.client_message(m),
        }
    }

    fn client_message(&self, msg: Value) -> Vec<Out> {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        match rpc::kind(&msg) {
            Kind::Invalid(why) => {
                vec![Out::Client(rpc::error_response(
                    &id,
                    rpc::INVALID_REQUEST,
                    why,
                ))]
            }
            Kind::Notification { method } => match method {
                "notifications/initialized" => std::iter::once(Out::Server(msg.clone()))
                    .chain(self.own_tools_list())
                    .collect(),
                "notifications/cancelled" => {
                    self.cancelled(&msg, "the client");
                    vec![Out::Server(msg.clone())]
                }
                "notifications/progress" | "notifications/roots/list_changed" => {
                    vec![Out::Server(msg.clone())]
                }
                other => {
                    tracing::warn!("mcp wrap: client notification {other:?} not forwarded");
                    vec![]
                }
            },
            Kind::Response => {
                let key = rpc::id_key(&id);
                if self.state().from_server.remove(&key) {
                    vec![Out::Server(msg)]
                } else {
                    tracing::warn!(
                        "mcp wrap: a client response to no server request ({key}) dropped"
                    );
                    vec![]
                }
            }
            Kind::Request { method } => {
                let method = method.to_string();
                self.client_request(&method, &id, msg)
            }
        }
    }

    /// The firewall's own `tools/list`, so that calls can be checked before
    /// the client lists tools itself.
    fn own_tools_list(&self) -> Option<Out> {
        let mut st = self.state();
        let key = rpc::id_key(&json!(OWN_LIST_ID));
        if st.own_listed || st.pending.contains_key(&key) || !st.tools.is_empty() {
            return None;
        }
        st.own_listed = true;
        st.pending
            .insert(key, Pending::ToolsList { own: true, page: 0 });
        Some(Out::Server(
            json!({"jsonrpc": "2.0", "id": OWN_LIST_ID, "method": "tools/list"}),
        ))
    }

    fn client_request(&self, method: &str, id: &Value, mut msg: Value) -> Vec<Out> {
        let mcp = &self.role.mcp;
        let deny = |why: String| {
            vec![Out::Client(rpc::error_response(
                id,
                rpc::METHOD_NOT_FOUND,
                &why,
            ))]
        };
        let pending = match method {
            "initialize" => {
                let asked = msg
                    .pointer("/params/protocolVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !VERSIONS.contains(&asked) {
                    // Ask the server for a version the firewall speaks.
                    if let Some(p) = msg.get_mut("params").and_then(Value::as_object_mut) {
                        p.insert("protocolVersion".into(), json!(VERSIONS[0]));
                    }
                }
                Pending::Initialize
            }
            "ping" | "logging/setLevel" => Pending::Other,
            "tools/list" => Pending::ToolsList {
                own: false,
                page: 0,
            },
            "tools/call" => return self.tools_call(id, msg),
            "resources/list" | "resources/templates/list" | "resources/read"
            | "resources/subscribe" | "resources/unsubscribe" => {
                if !pass(mcp.resources) {
                    return deny(format!("{method}: refused by role `{}` ([mcp] resources = \"deny\")", self.role.name));
                }
                if method == "resources/read" {
                    Pending::Content { method: "resources/read" }
                } else {
                    Pending::Other
                }
            }
            "prompts/list" | "prompts/get" => {
                if !pass(mcp.prompts) {
                    return deny(format!("{method}: refused by role `{}` ([mcp] prompts = \"deny\")", self.role.name));
                }
                if method == "prompts/get" {
                    Pending::Content { method: "prompts/get" }
                } else {
                    Pending::Other
                }
            }
            "completion/complete" => {
                if !pass(mcp.prompts) && !pass(mcp.resources) {
                    return deny(format!("{method}: refused by role `{}`", self.role.name));
                }
                Pending::Other
            }
            "server/discover" => {
                return deny("server/discover is not supported: use initialize".into())
            }
            other => {
                return deny(format!(
                    "method {other:?} is not understood by the agentjail firewall and was not forwarded"
                ))
            }
        };
        match self.track(id, pending) {
            Ok(()) => vec![Out::Server(msg)],
            Err(why) => vec![Out::Client(rpc::error_response(
                id,
                rpc::INVALID_REQUEST,
                &why,
            ))],
        }
    }

    fn track(&self, id: &Value, p: Pending) -> Result<(), String> {
        let mut st = self.state();
        let key = rpc::id_key(id);
        st.room_for(&key)?;
        st.pending.insert(key, p);
        Ok(())
    }

    /// A refused call that never got to the policy (malformed, unlisted,
    /// hidden): audited as a denial.
    fn refuse(&self, id: &Value, tool: &str, args: Option<&Value>, why: &str) -> Vec<Out> {
        let mut r = self.record("decision", tool);
        r.params = args.cloned();
        r.decision = Some("deny".into());
        r.reasons = vec![format!("mcp: {why}")];
        r.detail("dry_run", false).detail(
            "mcp",
            json!({"server": self.name, "tool": tool, "method": "tools/call"}),
        );
        self.append(&r);
        vec![Out::Client(rpc::refused_result(id, why))]
    }

    fn tools_call(&self, id: &Value, mut msg: Value) -> Vec<Out> {
        let bad = |why: &str| {
            vec![Out::Client(rpc::error_response(
                id,
                rpc::INVALID_PARAMS,
                why,
            ))]
        };
        let Some(params) = msg.get("params").and_then(Value::as_object) else {
            return bad("tools/call needs params");
        };
        let Some(tool) = params
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return bad("tools/call needs params.name, a string");
        };
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return bad("tools/call params.arguments must be an object"),
        };
        let args_value = Value::Object(args.clone());
        if params.contains_key("task") {
            return self.refuse(
                id,
                &tool,
                Some(&args_value),
                "task-augmented tool calls are not supported through the firewall",
            );
        }
        let info = {
            let mut st = self.state();
            let info = st.tools.get(&tool).cloned();
            if info.is_none() && st.own_listed && !st.own_done {
                if let Err(why) = st.room_for(&rpc::id_key(id)) {
                    drop(st);
                    return vec![Out::Client(rpc::error_response(
                        id,
                        rpc::INVALID_REQUEST,
                        &why,
                    ))];
                }
                st.held.push((id.clone(), msg));
                return vec![];
            }
            info
        };
        let Some(info) = info else {
            return self.refuse(
                id,
                &tool,
                Some(&args_value),
                &format!("tool `{tool}` was not listed by the server through the firewall (call tools/list first)"),
            );
        };
        if let Some(why) = &info.hidden {
            return self.refuse(id, &tool, Some(&args_value), why);
        }
        let spec = check::tool_spec(self.role.mcp.tools.get(&tool), &info.definition);
        let mut extra = Map::new();
        extra.insert(
            "mcp".into(),
            json!({"server": self.name, "tool": tool, "method": "tools/call"}),
        );
        let qualified = format!("{}/{tool}", self.name);
        let checked = check::check_call(
            &self.ctx,
            &self.set,
            &self.role.name,
            &qualified,
            spec,
            args.into_iter().collect(),
            self.session.as_deref(),
            self.agent.as_deref(),
            &extra,
        );
        if let Some(why) = checked.refusal {
            return vec![Out::Client(rpc::refused_result(id, &why))];
        }
        // The arguments as checked (defaults filled, filtered values) go on.
        let checked_args: Map<String, Value> =
            checked.decision.params.clone().into_iter().collect();
        if let Some(p) = msg.get_mut("params").and_then(Value::as_object_mut) {
            p.insert("arguments".into(), Value::Object(checked_args));
        }
        let pending = Pending::ToolsCall {
            record: Box::new(checked.record),
            started: Instant::now(),
        };
        match self.track(id, pending) {
            Ok(()) => vec![Out::Server(msg)],
            Err(why) => vec![Out::Client(rpc::refused_result(id, &why))],
        }
    }

    // ---- server to client ----

    /// One line from the server.
    pub fn from_server(&self, line: &[u8]) -> Vec<Out> {
        match serde_json::from_slice::<Value>(line) {
            Err(e) => {
                self.protocol_error("server", &format!("malformed message dropped: {e}"));
                vec![]
            }
            Ok(Value::Array(items)) => items
                .into_iter()
                .flat_map(|m| self.server_message(m))
                .collect(),
            Ok(m) => self.server_message(m),
        }
    }

    fn server_message(&self, msg: Value) -> Vec<Out> {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let mcp = &self.role.mcp;
        match rpc::kind(&msg) {
            Kind::Invalid(why) => {
                self.protocol_error("server", &format!("invalid message dropped: {why}"));
                vec![]
            }
            Kind::Notification { method } => {
                let ok = match method {
                    "notifications/cancelled" => {
                        self.cancelled(&msg, "the server");
                        true
                    }
                    "notifications/message"
                    | "notifications/progress"
                    | "notifications/tools/list_changed" => true,
                    "notifications/resources/updated" | "notifications/resources/list_changed" => {
                        pass(mcp.resources)
                    }
                    "notifications/prompts/list_changed" => pass(mcp.prompts),
                    _ => false,
                };
                if ok {
                    vec![Out::Client(msg)]
                } else {
                    tracing::warn!("mcp wrap: server notification {method:?} not forwarded");
                    vec![]
                }
            }
            Kind::Request { method } => {
                let ok = match method {
                    "ping" | "roots/list" => true,
                    "sampling/createMessage" => pass(mcp.sampling),
                    "elicitation/create" => pass(mcp.elicitation),
                    _ => false,
                };
                if ok {
                    let key = rpc::id_key(&id);
                    let mut st = self.state();
                    if st.from_server.len() < MAX_IN_FLIGHT && st.from_server.insert(key) {
                        return vec![Out::Client(msg)];
                    }
                }
                vec![Out::Server(rpc::error_response(
                    &id,
                    rpc::METHOD_NOT_FOUND,
                    &format!(
                        "{method}: refused by the agentjail firewall (role `{}`)",
                        self.role.name
                    ),
                ))]
            }
            Kind::Response => {
                let p = self.state().pending.remove(&rpc::id_key(&id));
                match p {
                    None => {
                        self.protocol_error(
                            "server",
                            &format!("a response to no request in flight ({id}) dropped"),
                        );
                        vec![]
                    }
                    Some(Pending::Other) => vec![Out::Client(msg)],
                    Some(Pending::Content { method }) => {
                        vec![Out::Client(self.content_result(msg, method))]
                    }
                    Some(Pending::Initialize) => vec![Out::Client(self.initialized(msg))],
                    Some(Pending::ToolsList { own: true, page }) => self.own_page(&msg, page),
                    Some(Pending::ToolsList { own: false, .. }) => {
                        vec![Out::Client(self.tools_listed(msg))]
                    }
                    Some(Pending::ToolsCall { record, started }) => {
                        vec![Out::Client(self.call_result(msg, &record, started))]
                    }
                }
            }
        }
    }

    /// A page of the firewall's own listing: the next page is asked for,
    /// or (after the last, or the bound) every tool is reviewed at once.
    fn own_page(&self, msg: &Value, page: usize) -> Vec<Out> {
        let tools = msg
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let cursor = msg
            .pointer("/result/nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut st = self.state();
        st.own_tools.extend(tools);
        if let Some(cursor) = &cursor {
            if page + 1 < MAX_OWN_PAGES {
                let id = json!(format!("{OWN_LIST_ID}-{}", page + 1));
                st.pending.insert(
                    rpc::id_key(&id),
                    Pending::ToolsList {
                        own: true,
                        page: page + 1,
                    },
                );
                return vec![Out::Server(json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/list",
                    "params": {"cursor": cursor}
                }))];
            }
        }
        let all = std::mem::take(&mut st.own_tools);
        drop(st);
        if cursor.is_some() {
            self.protocol_error(
                "server",
                &format!("tools/list has more than {MAX_OWN_PAGES} pages: the tools after them are not pinned, and their calls are refused"),
            );
        }
        self.tools_listed(json!({"result": {"tools": all}}));
        let held = {
            let mut st = self.state();
            st.own_done = true;
            std::mem::take(&mut st.held)
        };
        held.into_iter()
            .flat_map(|(id, msg)| self.tools_call(&id, msg))
            .collect()
    }

    fn initialized(&self, mut msg: Value) -> Value {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let Some(result) = msg.get_mut("result").and_then(Value::as_object_mut) else {
            return msg;
        };
        let v = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !VERSIONS.contains(&v.as_str()) {
            self.protocol_error("server", &format!("unsupported protocol version {v:?}"));
            return rpc::error_response(
                &id,
                rpc::INTERNAL_ERROR,
                &format!(
                    "the wrapped server speaks protocol version {:?}, which the agentjail firewall does not ({})",
                    crate::text::shorten(&v, 64),
                    VERSIONS.join(", ")
                ),
            );
        }
        if let Some(caps) = result
            .get_mut("capabilities")
            .and_then(Value::as_object_mut)
        {
            // What the firewall refuses is not offered.
            if !pass(self.role.mcp.resources) {
                caps.remove("resources");
            }
            if !pass(self.role.mcp.prompts) {
                caps.remove("prompts");
            }
            if !pass(self.role.mcp.prompts) && !pass(self.role.mcp.resources) {
                caps.remove("completions");
            }
            caps.remove("tasks");
        }
        msg
    }

    /// A request the client (or the server) cancelled is no longer in
    /// flight: a late answer is dropped, and a cancelled call is audited.
    fn cancelled(&self, msg: &Value, by: &str) {
        let Some(id) = msg.pointer("/params/requestId") else {
            return;
        };
        let key = rpc::id_key(id);
        let p = {
            let mut st = self.state();
            st.held.retain(|(h, _)| rpc::id_key(h) != key);
            st.pending.remove(&key)
        };
        if let Some(Pending::ToolsCall { record, .. }) = p {
            let mut e = record.error_after(&format!("cancelled by {by}"), 0);
            e.detail("mcp", json!({"server": self.name, "event": "cancelled"}));
            self.append(&e);
        }
    }

    /// Answers for every request still in flight when the server is gone.
    pub fn abandon(&self) -> Vec<Out> {
        let mut st = self.state();
        let held = std::mem::take(&mut st.held);
        let mut out: Vec<Out> = st
            .pending
            .drain()
            .filter_map(|(key, p)| {
                let id: Value = serde_json::from_str(&key).ok()?;
                if let Pending::ToolsCall { record, .. } = &p {
                    let mut e = record.error_after("the wrapped server ended before answering", 0);
                    e.detail("mcp", json!({"server": self.name}));
                    let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
                    let _ = log.append(&e);
                }
                match p {
                    Pending::ToolsList { own: true, .. } => None,
                    _ => Some(Out::Client(rpc::error_response(
                        &id,
                        rpc::INTERNAL_ERROR,
                        "the wrapped server ended before answering",
                    ))),
                }
            })
            .collect();
        drop(st);
        // Calls that waited for the firewall's listing were never checked:
        // each is refused, and audited as such.
        for (id, msg) in held {
            let tool = msg
                .pointer("/params/name")
                .and_then(Value::as_str)
                .unwrap_or("-");
            let why = "the wrapped server ended before the firewall's tools/list was answered";
            out.extend(self.refuse(&id, tool, msg.pointer("/params/arguments"), why));
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
#[path = "firewall_tests.rs"]
mod tests;
