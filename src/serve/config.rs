//! The broker's configuration (`/etc/agentjail/broker.toml`, or
//! `serve --config PATH`): where its policy, state and log are, where it
//! listens, and which uids and groups may use and approve which roles.
//!
//! ```toml
//! profiles = "/etc/agentjail/profiles"
//! state_dir = "/var/lib/agentjail"
//! audit_log = "/var/log/agentjail/audit.jsonl"
//! socket = "/run/agentjail/agentjail.sock"
//! socket_mode = "0660"
//! socket_group = "agents"
//! max_concurrent = 16
//! max_concurrent_per_caller = 4
//! queue = 64
//! queue_timeout_seconds = 10
//!
//! [[callers]]
//! uid = "agentsvc"
//! roles = ["infrastructure_agent"]
//!
//! [[approvers]]
//! group = "sre"
//! roles = ["*"]
//!
//! [[auditors]]            # `audit verify|head|tail` on the broker's log
//! group = "sre"
//!
//! [pool]                  # prepared sandboxes (0 turns them off)
//! size = 2                # ready per plan
//! plans = 4               # plans kept ready, least recently used out first
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/agentjail/broker.toml";
pub const DEFAULT_SOCKET: &str = "/run/agentjail/agentjail.sock";
const DEFAULT_STATE: &str = "/var/lib/agentjail";
const DEFAULT_LOG: &str = "/var/log/agentjail/audit.jsonl";

/// A uid or gid, by name or number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Number(u32),
    Name(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    uid: Option<Id>,
    group: Option<Id>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    size: Option<usize>,
    plans: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    profiles: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    audit_log: Option<PathBuf>,
    socket: Option<PathBuf>,
    socket_mode: Option<String>,
    socket_group: Option<Id>,
    max_concurrent: Option<usize>,
    max_concurrent_per_caller: Option<usize>,
    queue: Option<usize>,
    queue_timeout_seconds: Option<u64>,
    grace_seconds: Option<u64>,
    request_timeout_seconds: Option<u64>,
    alert_command: Option<String>,
    approval_hook: Option<String>,
    cgroup_parent: Option<PathBuf>,
    user: Option<Id>,
    group: Option<Id>,
    pool: Option<RawPool>,
    #[serde(default)]
    callers: Vec<RawGrant>,
    #[serde(default)]
    approvers: Vec<RawGrant>,
    #[serde(default)]
    auditors: Vec<RawGrant>,
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Uid(u32),
    Gid(u32),
}

/// `[[callers]]` or `[[approvers]]`: a principal and its roles (`*`: all).
#[derive(Debug, Clone)]
pub struct Grant {
    pub who: Principal,
    /// As written, for messages (`uid = "agentsvc"`).
    pub written: String,
    pub roles: Vec<String>,
}

/// The kernel's word on a peer: `SO_PEERCRED` and `SO_PEERGROUPS`.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    pub groups: Vec<u32>,
}

/// A peer's rights by the mappings, handed to the served command: a
/// listing shows only what they cover.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub uid: u32,
    /// Roles it may call (`*`: all).
    pub calls: Vec<String>,
    /// Roles it may approve (`*`: all).
    pub approves: Vec<String>,
    pub auditor: bool,
    /// The broker's socket, for the commands a listing prints.
    pub socket: PathBuf,
}

impl Scope {
    fn covers(list: &[String], role: &str) -> bool {
        list.iter().any(|r| r == "*" || r == role)
    }

    pub fn may_approve(&self, role: &str) -> bool {
        Scope::covers(&self.approves, role)
    }

    /// A role whose counters and requests the peer may see: one it may
    /// call or approve.
    pub fn may_see(&self, role: &str) -> bool {
        Scope::covers(&self.calls, role) || self.may_approve(role)
    }
}

impl Grant {
    fn matches(&self, p: &Peer) -> bool {
        match self.who {
            Principal::Uid(u) => p.uid == u,
            Principal::Gid(g) => p.gid == g || p.groups.contains(&g),
        }
    }

    fn allows(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == "*" || r == role)
    }
}

/// The loaded, resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub profiles: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub audit_log: PathBuf,
    pub socket: PathBuf,
    pub socket_mode: u32,
    pub socket_group: Option<u32>,
    pub max_concurrent: usize,
    /// Calls at once from one uid (`None`: only `max_concurrent`).
    pub max_concurrent_per_caller: Option<usize>,
    /// Connections that wait for a free worker; one more is "broker busy".
    pub queue: usize,
    /// How long a connection waits in the queue before "broker busy".
    pub queue_timeout_seconds: u64,
    pub grace_seconds: u64,
    pub request_timeout_seconds: u64,
    pub alert_command: Option<String>,
    pub approval_hook: Option<String>,
    pub cgroup_parent: Option<PathBuf>,
    /// `user` (and `group`): the account the broker runs as once its
    /// socket is bound.
    pub user: Option<Account>,
    /// `[pool]`: prepared sandboxes kept ready for the calls.
    pub pool: crate::sandbox::pool::Settings,
    pub callers: Vec<Grant>,
    pub approvers: Vec<Grant>,
    /// `[[auditors]]`: who may read and verify the whole log (no roles).
    pub auditors: Vec<Grant>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the broker configuration {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("broker configuration {path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let bad = |message: String| ConfigError::Invalid {
            path: shown.clone(),
            message,
        };
        // One line: where, and what (toml's own text quotes the line).
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            bad(match line {
                Some(n) => format!("line {n}: {}", e.message().trim()),
                None => e.message().trim().to_string(),
            })
        })?;
        let mode = match &raw.socket_mode {
            None => 0o666,
            Some(m) => u32::from_str_radix(m.trim_start_matches("0o"), 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| {
                    bad(format!(
                        "socket_mode {m:?} is not an octal mode such as \"0660\""
                    ))
                })?,
        };
        let socket_group = match &raw.socket_group {
            None => None,
            Some(g) => Some(resolve(g, false).map_err(|m| bad(format!("socket_group: {m}")))?),
        };
        let grants = |list: &[RawGrant], what: &str| -> Result<Vec<Grant>, ConfigError> {
            let mut out = Vec::new();
            for (i, g) in list.iter().enumerate() {
                let at = format!("[[{what}]] #{}", i + 1);
                let (who, written) = match (&g.uid, &g.group) {
                    (Some(u), None) => (
                        Principal::Uid(
                            resolve(u, true).map_err(|m| bad(format!("{at}: uid: {m}")))?,
                        ),
                        format!("uid = {}", shown_id(u)),
                    ),
                    (None, Some(gr)) => (
                        Principal::Gid(
                            resolve(gr, false).map_err(|m| bad(format!("{at}: group: {m}")))?,
                        ),
                        format!("group = {}", shown_id(gr)),
                    ),
                    _ => return Err(bad(format!("{at}: give exactly one of uid and group"))),
                };
                let roles = match (what, g.roles.is_empty()) {
                    ("auditors", true) => vec!["*".to_string()],
                    ("auditors", false) => {
                        return Err(bad(format!(
                        "{at}: roles: an auditor reads the whole log; [[auditors]] takes no roles"
                    )))
                    }
                    (_, true) => return Err(bad(format!("{at}: roles is empty"))),
                    (_, false) => g.roles.clone(),
                };
                out.push(Grant {
                    who,
                    written,
                    roles,
                });
            }
            Ok(out)
        };
        let max_concurrent = raw.max_concurrent.unwrap_or(16);
        if max_concurrent == 0 || max_concurrent > 4096 {
            return Err(bad(format!(
                "max_concurrent = {max_concurrent}: must be 1 to 4096"
            )));
        }
        if raw.max_concurrent_per_caller == Some(0) {
            return Err(bad(
                "max_concurrent_per_caller = 0: must be at least 1".into()
            ));
        }
        let queue = raw.queue.unwrap_or(64);
        if queue > 65536 {
            return Err(bad(format!("queue = {queue}: must be 0 to 65536")));
        }
        Ok(Config {
            path: path.to_path_buf(),
            profiles: raw.profiles,
            state_dir: raw.state_dir.unwrap_or_else(|| DEFAULT_STATE.into()),
            audit_log: raw.audit_log.unwrap_or_else(|| DEFAULT_LOG.into()),
            socket: raw.socket.unwrap_or_else(|| DEFAULT_SOCKET.into()),
            socket_mode: mode,
            socket_group,
            max_concurrent,
            max_concurrent_per_caller: raw.max_concurrent_per_caller,
            queue,
            queue_timeout_seconds: raw.queue_timeout_seconds.unwrap_or(10),
            grace_seconds: raw.grace_seconds.unwrap_or(10),
            request_timeout_seconds: raw.request_timeout_seconds.unwrap_or(10).max(1),
            alert_command: raw.alert_command,
            approval_hook: raw.approval_hook,
            cgroup_parent: raw.cgroup_parent,
            user: account(raw.user.as_ref(), raw.group.as_ref()).map_err(bad)?,
            pool: pool_settings(raw.pool.as_ref()).map_err(bad)?,
            callers: grants(&raw.callers, "callers")?,
            approvers: grants(&raw.approvers, "approvers")?,
            auditors: grants(&raw.auditors, "auditors")?,
        })
    }

    /// The roles a peer may call, and the mappings that say so.
    pub fn caller_roles(&self, p: &Peer) -> Vec<&Grant> {
        self.callers.iter().filter(|g| g.matches(p)).collect()
    }

    pub fn may_call(&self, p: &Peer, role: &str) -> bool {
        self.caller_roles(p).iter().any(|g| g.allows(role))
    }

    pub fn may_approve(&self, p: &Peer, role: &str) -> bool {
        self.approvers
            .iter()
            .any(|g| g.matches(p) && g.allows(role))
    }

    /// Whether the peer is named anywhere (callers, approvers or auditors).
    pub fn knows(&self, p: &Peer) -> bool {
        self.callers
            .iter()
            .chain(&self.approvers)
            .chain(&self.auditors)
            .any(|g| g.matches(p))
    }

    pub fn may_audit(&self, p: &Peer) -> bool {
        self.auditors.iter().any(|g| g.matches(p))
    }

    /// The roles of the peer's grants in `list` (`*` when one covers all).
    fn roles_in(list: &[Grant], p: &Peer) -> Vec<String> {
        let mut roles: Vec<String> = list
            .iter()
            .filter(|g| g.matches(p))
            .flat_map(|g| g.roles.iter().cloned())
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// What the peer may see and do, for the served commands to narrow
    /// what they print.
    pub fn scope(&self, p: &Peer) -> Scope {
        Scope {
            uid: p.uid,
            calls: Config::roles_in(&self.callers, p),
            approves: Config::roles_in(&self.approvers, p),
            auditor: self.may_audit(p),
            socket: self.socket.clone(),
        }
    }

    /// `uid = 64010 (roles files_agent), group = "sre" (roles *)`, for messages.
    pub fn describe(grants: &[&Grant]) -> String {
        if grants.is_empty() {
            return "none".into();
        }
        grants
            .iter()
            .map(|g| format!("{} (roles {})", g.written, g.roles.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The approvers' grants that cover a role, for messages.
    pub fn approvers_of(&self, role: &str) -> Vec<&Grant> {
        self.approvers.iter().filter(|g| g.allows(role)).collect()
    }
}

fn shown_id(id: &Id) -> String {
    match id {
        Id::Number(n) => n.to_string(),
        Id::Name(s) => format!("{s:?}"),
    }
}

/// The account a broker drops to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    /// As written, for messages.
    pub written: String,
}

/// `user` and `group` resolved; the group defaults to the user's primary
/// group in the passwd database.
fn account(user: Option<&Id>, group: Option<&Id>) -> Result<Option<Account>, String> {
    let Some(user) = user else {
        return match group {
            None => Ok(None),
            Some(_) => Err("group is set without user".into()),
        };
    };
    let uid = resolve(user, true).map_err(|m| format!("user: {m}"))?;
    if uid == 0 {
        return Err("user: the broker drops privileges to a user other than root".into());
    }
    let gid = match group {
        Some(g) => resolve(g, false).map_err(|m| format!("group: {m}"))?,
        None => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.gid.as_raw())
            .ok_or_else(|| {
                format!("user: uid {uid} has no passwd entry to take its group from; set `group`")
            })?,
    };
    if gid == 0 {
        return Err("group: the broker drops privileges to a group other than root's".into());
    }
    Ok(Some(Account {
        uid,
        gid,
        written: shown_id(user),
    }))
}

/// A name or number as a uid (`user`) or gid.
fn resolve(id: &Id, user: bool) -> Result<u32, String> {
    let name = match id {
        Id::Number(n) => return Ok(*n),
        Id::Name(s) => s,
    };
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let found = if user {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    } else {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    };
    found.ok_or_else(|| {
        format!(
            "no {} named {name:?} on this host",
            if user { "user" } else { "group" }
        )
    })
}

/// `[pool]`, with the defaults for what it leaves out.
fn pool_settings(raw: Option<&RawPool>) -> Result<crate::sandbox::pool::Settings, String> {
    let d = crate::sandbox::pool::Settings::default();
    let size = raw.and_then(|p| p.size).unwrap_or(d.size);
    let plans = raw.and_then(|p| p.plans).unwrap_or(d.plans);
    crate::sandbox::pool::Settings::checked(size, plans).map_err(|e| format!("[pool] {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("broker.toml"), text)
    }

    #[test]
    fn full_config() {
        let c = parse(
            r#"
profiles = "/p"
state_dir = "/s"
audit_log = "/l/audit.jsonl"
socket = "/r/a.sock"
socket_mode = "0660"
socket_group = 0
max_concurrent = 4
[[callers]]
uid = "64010"
roles = ["files_agent"]
[[callers]]
group = 64100
roles = ["data_agent"]
[[approvers]]
uid = "root"
roles = ["*"]
[[auditors]]
uid = 0
"#,
        )
        .unwrap();
        assert_eq!(c.socket_mode, 0o660);
        assert_eq!(c.socket_group, Some(0));
        let agent = Peer {
            uid: 64010,
            gid: 64010,
            groups: vec![64100],
            ..Peer::default()
        };
        assert!(c.may_call(&agent, "files_agent"));
        assert!(c.may_call(&agent, "data_agent"));
        assert!(!c.may_call(&agent, "infrastructure_agent"));
        assert!(!c.may_approve(&agent, "files_agent"));
        let root = Peer::default();
        assert!(c.may_approve(&root, "anything"));
        let scope = c.scope(&agent);
        assert!(scope.may_see("files_agent") && scope.may_see("data_agent"));
        assert!(!scope.may_see("infrastructure_agent") && !scope.may_approve("files_agent"));
        assert!(!scope.auditor && !c.may_audit(&agent));
        assert!(c.scope(&root).may_see("anything") && c.scope(&root).auditor);
        assert!(!c.knows(&Peer {
            uid: 5,
            gid: 5,
            ..Peer::default()
        }));
        assert_eq!(
            Config::describe(&c.caller_roles(&agent)),
            "uid = \"64010\" (roles files_agent); group = 64100 (roles data_agent)"
        );
    }

    #[test]
    fn errors() {
        for (text, want) in [
            ("profile = \"/p\"", "unknown field `profile`"),
            ("socket_mode = \"999\"", "socket_mode"),
            ("max_concurrent = 0", "max_concurrent"),
            ("max_concurrent_per_caller = 0", "max_concurrent_per_caller"),
            ("queue = 100000", "queue = 100000"),
            (
                "[[callers]]\nroles = [\"a\"]",
                "exactly one of uid and group",
            ),
            (
                "[[callers]]\nuid = 1\ngroup = 1\nroles = [\"a\"]",
                "exactly one",
            ),
            ("[[callers]]\nuid = 1\nroles = []", "roles is empty"),
            (
                "[[approvers]]\nuid = \"no-such-user-xyz\"\nroles = [\"*\"]",
                "no user named",
            ),
            (
                "[[approvers]]\nuid = 1\nroles = [\"*\"]\nextra = 1",
                "unknown field `extra`",
            ),
            ("[[auditors]]\nuid = 1\nroles = [\"a\"]", "takes no roles"),
            ("[[auditors]]\nroles = []", "exactly one of uid and group"),
            ("user = 0", "other than root"),
            ("user = 64030\ngroup = 0", "other than root's"),
            ("group = 5", "without user"),
            ("user = 4000000000", "no passwd entry"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        // Defaults.
        let c = parse("").unwrap();
        assert_eq!(c.socket, Path::new(DEFAULT_SOCKET));
        assert_eq!(c.socket_mode, 0o666);
        assert_eq!(c.max_concurrent, 16);
        assert_eq!((c.queue, c.queue_timeout_seconds), (64, 10));
        assert_eq!(c.max_concurrent_per_caller, None);
    }
}
