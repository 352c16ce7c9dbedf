//! The edits `profiles learn` proposes: what each does to the profile
//! model (to check a proposal before it is shown), and `--write`, which
//! applies them to the profile files with `toml_edit`, so comments, order
//! and layout stay as the operator wrote them. Every file is rewritten
//! atomically; when the edited set does not load, the old files are put
//! back and nothing changes.

use super::AppError;
use crate::profile::{self, AccessGrant, ParamType, ProfileSet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

/// One proposed edit of the profile files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum Edit {
    AllowTool {
        role: String,
        tool: String,
    },
    GrantValue {
        role: String,
        key: String,
        value: String,
    },
    GrantFlag {
        role: String,
        key: String,
    },
    DropAllowedTool {
        role: String,
        tool: String,
    },
    DropAccessValue {
        role: String,
        key: String,
        value: String,
    },
    DropBind {
        role: String,
        source: String,
    },
    Enum {
        tool: String,
        param: String,
        values: Vec<String>,
    },
}

/// Applies an edit to the model (what `--write` does to the files).
pub fn apply(set: &mut ProfileSet, e: &Edit) {
    match e {
        Edit::AllowTool { role, tool } => {
            if let Some(r) = set.roles.get_mut(role) {
                r.allowed_tools.push(tool.clone());
            }
        }
        Edit::GrantValue { role, key, value } => {
            if let Some(r) = set.roles.get_mut(role) {
                match r.data_access.get_mut(key) {
                    Some(AccessGrant::List(l)) => l.push(value.clone()),
                    _ => {
                        r.data_access
                            .insert(key.clone(), AccessGrant::List(vec![value.clone()]));
                    }
                }
            }
        }
        Edit::GrantFlag { role, key } => {
            if let Some(r) = set.roles.get_mut(role) {
                r.data_access.insert(key.clone(), AccessGrant::Flag(true));
            }
        }
        Edit::DropAllowedTool { role, tool } => {
            if let Some(r) = set.roles.get_mut(role) {
                r.allowed_tools.retain(|t| t != tool);
            }
        }
        Edit::DropAccessValue { role, key, value } => {
            if let Some(AccessGrant::List(l)) = set
                .roles
                .get_mut(role)
                .and_then(|r| r.data_access.get_mut(key))
            {
                l.retain(|v| v != value);
            }
        }
        Edit::DropBind { role, source } => {
            if let Some(r) = set.roles.get_mut(role) {
                r.sandbox.binds.retain(|b| b.source != Path::new(source));
            }
        }
        Edit::Enum {
            tool,
            param,
            values,
        } => {
            if let Some(p) = set
                .catalog
                .tools
                .get_mut(tool)
                .and_then(|t| t.params.get_mut(param))
            {
                p.allowed = Some(enum_values(p.kind, values));
            }
        }
    }
}

/// Enum values in the parameter's type.
pub fn enum_values(kind: ParamType, values: &[String]) -> Vec<toml::Value> {
    values
        .iter()
        .map(|v| match kind {
            ParamType::Integer => v
                .parse::<i64>()
                .map(toml::Value::Integer)
                .unwrap_or_else(|_| toml::Value::String(v.clone())),
            ParamType::Number => v
                .parse::<f64>()
                .map(toml::Value::Float)
                .unwrap_or_else(|_| toml::Value::String(v.clone())),
            _ => toml::Value::String(v.clone()),
        })
        .collect()
}

fn bad(path: &Path, why: impl std::fmt::Display) -> AppError {
    AppError::Config(format!("{}: {why}", path.display()))
}

/// The table at `key` of `t`, made when missing.
fn table<'a>(t: &'a mut Table, key: &str) -> Option<&'a mut Table> {
    if !t.contains_key(key) {
        t.insert(key, Item::Table(Table::new()));
    }
    t.get_mut(key)?.as_table_mut()
}

fn array<'a>(t: &'a mut Table, key: &str) -> Option<&'a mut Array> {
    if !t.contains_key(key) {
        t.insert(key, Item::Value(Value::Array(Array::new())));
    }
    t.get_mut(key)?.as_array_mut()
}

fn drop_string(a: &mut Array, s: &str) {
    a.retain(|v| v.as_str() != Some(s));
}

fn edit_role(doc: &mut DocumentMut, e: &Edit) -> Option<()> {
    let root = doc.as_table_mut();
    match e {
        Edit::AllowTool { tool, .. } => array(root, "allowed_tools")?.push(tool.as_str()),
        Edit::DropAllowedTool { tool, .. } => drop_string(array(root, "allowed_tools")?, tool),
        Edit::GrantValue { key, value, .. } => {
            let da = table(root, "data_access")?;
            match da.get_mut(key).and_then(Item::as_array_mut) {
                Some(a) => a.push(value.as_str()),
                None => {
                    let mut a = Array::new();
                    a.push(value.as_str());
                    da.insert(key, Item::Value(Value::Array(a)));
                }
            }
        }
        Edit::GrantFlag { key, .. } => {
            table(root, "data_access")?.insert(key, toml_edit::value(true));
        }
        Edit::DropAccessValue { key, value, .. } => {
            let a = table(root, "data_access")?
                .get_mut(key)
                .and_then(Item::as_array_mut)?;
            drop_string(a, value);
        }
        Edit::DropBind { source, .. } => {
            let binds = table(root, "sandbox")?.get_mut("binds")?;
            let same =
                |t: Option<&toml_edit::Item>| t.and_then(|s| s.as_str()) == Some(source.as_str());
            if let Some(a) = binds.as_array_mut() {
                a.retain(|v| {
                    v.as_inline_table()
                        .and_then(|t| t.get("source"))
                        .and_then(|s| s.as_str())
                        != Some(source.as_str())
                });
            } else if let Some(a) = binds.as_array_of_tables_mut() {
                a.retain(|t| !same(t.get("source")));
            }
        }
        Edit::Enum { .. } => {}
    }
    Some(())
}

fn edit_tools(doc: &mut DocumentMut, set: &profile::ProfileSet, e: &Edit) -> Option<()> {
    let Edit::Enum {
        tool,
        param,
        values,
    } = e
    else {
        return Some(());
    };
    let kind = set.catalog.tools.get(tool)?.params.get(param)?.kind;
    let mut a = Array::new();
    for v in enum_values(kind, values) {
        match v {
            toml::Value::Integer(i) => a.push(i),
            toml::Value::Float(f) => a.push(f),
            toml::Value::String(s) => a.push(s),
            _ => {}
        }
    }
    let spec = doc
        .get_mut("tools")?
        .get_mut(tool.as_str())?
        .get_mut("params")?
        .get_mut(param.as_str())?;
    if let Some(t) = spec.as_inline_table_mut() {
        t.insert("enum", Value::Array(a));
    } else if let Some(t) = spec.as_table_mut() {
        t.insert("enum", Item::Value(Value::Array(a)));
    } else {
        return None;
    }
    Some(())
}

fn role_of(e: &Edit) -> Option<&str> {
    match e {
        Edit::AllowTool { role, .. }
        | Edit::GrantValue { role, .. }
        | Edit::GrantFlag { role, .. }
        | Edit::DropAllowedTool { role, .. }
        | Edit::DropAccessValue { role, .. }
        | Edit::DropBind { role, .. } => Some(role),
        Edit::Enum { .. } => None,
    }
}

fn replace(path: &Path, text: &str) -> Result<(), AppError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| bad(&tmp, e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .map_err(|e| bad(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        bad(path, e)
    })
}

/// Applies `edits` to the files of the profile directory `dir`; returns the files written.
pub fn write(dir: &Path, edits: &[Edit]) -> Result<Vec<PathBuf>, AppError> {
    let set = profile::load(Some(dir)).map_err(|e| AppError::Config(e.to_string()))?;
    let mut files: BTreeMap<PathBuf, (String, DocumentMut)> = BTreeMap::new();
    let mut open = |path: PathBuf| -> Result<PathBuf, AppError> {
        if !files.contains_key(&path) {
            let text = std::fs::read_to_string(&path).map_err(|e| bad(&path, e))?;
            let doc = text.parse::<DocumentMut>().map_err(|e| bad(&path, e))?;
            files.insert(path.clone(), (text, doc));
        }
        Ok(path)
    };
    let mut planned = Vec::new();
    for e in edits {
        let path = match role_of(e) {
            Some(r) => open(dir.join("roles").join(format!("{r}.toml")))?,
            None => open(dir.join("tools.toml"))?,
        };
        planned.push((path, e));
    }
    for (path, e) in planned {
        let Some((_, doc)) = files.get_mut(&path) else {
            continue;
        };
        let done = match role_of(e) {
            Some(_) => edit_role(doc, e),
            None => edit_tools(doc, &set, e),
        };
        if done.is_none() {
            return Err(bad(
                &path,
                format!("cannot apply {e:?}: the file's layout is not one learn can edit"),
            ));
        }
    }
    let mut written = Vec::new();
    for (path, (_, doc)) in &files {
        replace(path, &doc.to_string())?;
        written.push(path.clone());
    }
    if let Err(e) = profile::load(Some(dir)) {
        for (path, (old, _)) in &files {
            let _ = replace(path, old);
        }
        return Err(AppError::Config(format!(
            "the edited profiles do not load, nothing changed: {e}"
        )));
    }
    Ok(written)
}
