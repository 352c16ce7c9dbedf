//! Tool-definition pinning: the SHA-256 of each tool's name, description,
//! input schema and annotations, kept per role and server in the state
//! directory (`mcp-pins/ROLE.NAME.json`).
//!
//! The first `tools/list` a server ever answers records every tool (trust
//! on first use), unless the role fixes hashes itself (`[mcp.pins]`). After
//! that, a tool whose definition changed, or a tool that was not there, is
//! refused (hidden) and kept as a pending change until `agentjail mcp pins
//! approve` takes it in.

use crate::audit::{sha256_hex, write_canonical};
use crate::state::{StateDir, StateError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The state subdirectory.
pub const SUB: &str = "mcp-pins";

/// One pinned (or pending) definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    pub sha256: String,
    pub definition: Value,
    #[serde(default)]
    pub since: String,
}

/// The pin file of one role and server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PinFile {
    #[serde(default)]
    pub tools: BTreeMap<String, Pin>,
    /// Changed or new definitions waiting for `mcp pins approve`.
    #[serde(default)]
    pub pending: BTreeMap<String, Pin>,
}

/// What pinning says about one listed tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Matches its pin.
    Pinned,
    /// Recorded now (first list of this server).
    Recorded,
    /// Refused: the definition differs from its pin.
    Changed { pinned: String, now: String },
    /// Refused: a tool the server did not list when it was pinned.
    Added,
}

impl Verdict {
    pub fn refused(&self) -> bool {
        matches!(self, Verdict::Changed { .. } | Verdict::Added)
    }

    pub fn reason(&self, tool: &str) -> Option<String> {
        match self {
            Verdict::Changed { pinned, now } => Some(format!(
                "the definition of tool `{tool}` changed since it was pinned (sha256 {} -> {}): refused until `agentjail mcp pins approve` takes it",
                short(pinned),
                short(now)
            )),
            Verdict::Added => Some(format!(
                "tool `{tool}` was not listed when this server's tools were pinned: refused until `agentjail mcp pins approve` takes it"
            )),
            _ => None,
        }
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// The part of a tool's definition that is pinned, and its hash.
pub fn definition(tool: &Value) -> (Value, String) {
    let field = |k: &str| tool.get(k).cloned().unwrap_or(Value::Null);
    let def = json!({
        "name": field("name"),
        "description": field("description"),
        "inputSchema": field("inputSchema"),
        "annotations": field("annotations"),
    });
    let mut bytes = Vec::new();
    write_canonical(&def, &mut bytes);
    let hash = sha256_hex(&bytes);
    (def, hash)
}

/// A name usable in a file name: letters, digits, `-`, `_` and `.`, not
/// starting with a dot.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "server name {name:?} must be 1-128 letters, digits, '-', '_' or '.' (not starting with '.'); set it with --name"
        ))
    }
}

/// Where the pins of `role` and server `name` live.
pub fn path(state: &StateDir, role: &str, name: &str) -> PathBuf {
    state.sub(SUB).join(format!("{role}.{name}.json"))
}

pub fn load(state: &StateDir, role: &str, name: &str) -> Result<Option<PinFile>, StateError> {
    state.read_json(&path(state, role, name))
}

/// Reviews one `tools/list` page against the role's fixed pins and the
/// stored ones, under the state lock; records a first list and every new
/// pending change. Returns a verdict per tool name.
pub fn review(
    state: &StateDir,
    role: &str,
    name: &str,
    role_pins: &BTreeMap<String, String>,
    tools: &[(String, Value, String)],
) -> Result<BTreeMap<String, Verdict>, StateError> {
    state.ensure(Some(SUB))?;
    let lock = state.lock()?;
    let p = path(state, role, name);
    let stored: Option<PinFile> = state.read_json(&p)?;
    let first = stored.is_none();
    let mut file = stored.unwrap_or_default();
    let before = file.clone();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut out = BTreeMap::new();
    for (tool, def, hash) in tools {
        let pin = |h: &str| Pin {
            sha256: h.to_string(),
            definition: def.clone(),
            since: now.clone(),
        };
        let verdict = match (role_pins.get(tool), file.tools.get(tool)) {
            (Some(fixed), _) if fixed.eq_ignore_ascii_case(hash) => Verdict::Pinned,
            (Some(fixed), _) => Verdict::Changed {
                pinned: fixed.clone(),
                now: hash.clone(),
            },
            (None, Some(p)) if &p.sha256 == hash => Verdict::Pinned,
            (None, Some(p)) => Verdict::Changed {
                pinned: p.sha256.clone(),
                now: hash.clone(),
            },
            (None, None) if first => {
                file.tools.insert(tool.clone(), pin(hash));
                Verdict::Recorded
            }
            (None, None) => Verdict::Added,
        };
        if verdict.refused() && file.pending.get(tool).map(|p| &p.sha256) != Some(hash) {
            file.pending.insert(tool.clone(), pin(hash));
        }
        if !verdict.refused() {
            file.pending.remove(tool);
        }
        out.insert(tool.clone(), verdict);
    }
    if first || file != before {
        state.write_json(&lock, &p, &file)?;
    }
    Ok(out)
}

/// Takes pending changes in (`tools` empty: all of them); returns the
/// names approved.
pub fn approve(
    state: &StateDir,
    role: &str,
    name: &str,
    tools: &[String],
) -> Result<Vec<String>, ApproveError> {
    let lock = state.lock()?;
    let p = path(state, role, name);
    let mut file: PinFile = state
        .read_json(&p)?
        .ok_or_else(|| ApproveError::NoPins(p.display().to_string()))?;
    let names: Vec<String> = if tools.is_empty() {
        file.pending.keys().cloned().collect()
    } else {
        tools.to_vec()
    };
    for t in &names {
        let Some(pin) = file.pending.remove(t) else {
            return Err(ApproveError::NotPending(t.clone()));
        };
        file.tools.insert(t.clone(), pin);
    }
    state.write_json(&lock, &p, &file)?;
    Ok(names)
}

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("no pins recorded at {0} (run the server under `agentjail mcp wrap` first)")]
    NoPins(String),
    #[error("tool `{0}` has no pending change (see `agentjail mcp pins show`)")]
    NotPending(String),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tool(desc: &str) -> (String, Value, String) {
        let t = json!({"name": "t", "description": desc, "inputSchema": {"type": "object"}, "_meta": {"x": 1}});
        let (d, h) = definition(&t);
        ("t".into(), d, h)
    }

    #[test]
    fn hash_covers_the_definition_not_meta() {
        let a = json!({"name": "t", "description": "d", "_meta": {"a": 1}});
        let b = json!({"name": "t", "description": "d", "_meta": {"a": 2}});
        assert_eq!(definition(&a).1, definition(&b).1);
        let c = json!({"name": "t", "description": "d", "annotations": {"readOnlyHint": false}});
        assert_ne!(definition(&a).1, definition(&c).1);
    }

    #[test]
    fn first_list_records_then_changes_and_additions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::locate(Some(dir.path())).unwrap();
        let none = BTreeMap::new();
        let v = review(&state, "r", "s", &none, &[tool("a")]).unwrap();
        assert_eq!(v["t"], Verdict::Recorded);
        let v = review(&state, "r", "s", &none, &[tool("a")]).unwrap();
        assert_eq!(v["t"], Verdict::Pinned);
        let v = review(&state, "r", "s", &none, &[tool("b")]).unwrap();
        assert!(matches!(v["t"], Verdict::Changed { .. }));
        let mut extra = tool("x");
        extra.0 = "u".into();
        let v = review(&state, "r", "s", &none, &[extra.clone()]).unwrap();
        assert_eq!(v["u"], Verdict::Added);
        assert_eq!(approve(&state, "r", "s", &["t".into()]).unwrap(), ["t"]);
        let v = review(&state, "r", "s", &none, &[tool("b")]).unwrap();
        assert_eq!(v["t"], Verdict::Pinned);
        assert!(approve(&state, "r", "s", &["t".into()]).is_err());
        // The role's fixed pin wins over the stored one.
        let fixed: BTreeMap<String, String> = [("t".to_string(), "00".to_string())].into();
        let v = review(&state, "r", "s", &fixed, &[tool("b")]).unwrap();
        assert!(v["t"].refused());
    }

    #[test]
    fn names() {
        assert!(check_name("filesystem").is_ok());
        assert!(check_name("../x").is_err());
        assert!(check_name(".x").is_err());
        assert!(check_name("").is_err());
    }
}
