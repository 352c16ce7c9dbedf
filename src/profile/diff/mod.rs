//! What a change of profiles grants or revokes: the differences between two
//! profile sets, per role, each labelled `loosens` or `tightens`. Pure
//! over the profile model; `agentjail profiles diff` prints it.
//!
//! A tool's catalog entry (risk class, parameters, command) counts for every
//! role that allows the tool in the new set (in the old one, for a role that
//! is gone). The rules, where a change is not plainly a widening or a
//! narrowing, err towards `loosens`:
//!
//! - a pattern that changed loosens unless it is provably narrower: its
//!   parsed form is the old one's with anchors added, repetition bounds
//!   inside the old ones, character classes inside the old ones, or
//!   alternatives a subset of the old ones (structurally, branch by branch);
//! - an enum, a range or a length loosens when any value it admits was not
//!   admitted before; removing it loosens, adding it tightens;
//! - a changed command template, parameter type, `access` key or uid loosens;
//! - a risk class lowered (read < modify < delete < external) loosens;
//! - larger limits, budgets and TTLs loosen, no limit is the largest.

use super::{ProfileSet, Role};
use crate::units;

mod settings;
mod tool;
use serde::Serialize;
use std::collections::BTreeSet;
pub use tool::pattern_narrower;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Loosens,
    Tightens,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Loosens => "loosens",
            Effect::Tightens => "tightens",
        }
    }

    fn when(loosens: bool) -> Effect {
        if loosens {
            Effect::Loosens
        } else {
            Effect::Tightens
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub role: String,
    /// `role`, `allowed_tools`, `denied_tools`, `risk`, `params`, `tool`,
    /// `data_access`, `screening`, `limits`, `sandbox` or `approval`.
    pub area: &'static str,
    /// The setting, e.g. `sandbox.memory` or `kubectl_get.namespace.pattern`.
    pub key: String,
    pub effect: Effect,
    /// In plain words.
    pub what: String,
}

/// Every difference from `old` to `new`, role by role (sorted by role name).
pub fn diff(old: &ProfileSet, new: &ProfileSet) -> Vec<Change> {
    let names: BTreeSet<&String> = old.roles.keys().chain(new.roles.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let mut c = Collector {
            role: name,
            out: &mut out,
        };
        match (old.roles.get(name), new.roles.get(name)) {
            (None, Some(r)) => c.push(
                "role",
                name.clone(),
                Effect::Loosens,
                format!("role added, allowing {}", list(&r.allowed_tools)),
            ),
            (Some(_), None) => c.push(
                "role",
                name.clone(),
                Effect::Tightens,
                "role removed".into(),
            ),
            (Some(o), Some(n)) => role_diff(&mut c, old, o, new, n),
            (None, None) => {}
        }
    }
    out
}

/// Whether any change loosens.
pub fn loosens(changes: &[Change]) -> bool {
    changes.iter().any(|c| c.effect == Effect::Loosens)
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "no tools".into()
    } else {
        v.join(", ")
    }
}

pub(super) struct Collector<'a> {
    role: &'a str,
    out: &'a mut Vec<Change>,
}

impl Collector<'_> {
    pub(super) fn push(&mut self, area: &'static str, key: String, effect: Effect, what: String) {
        self.out.push(Change {
            role: self.role.to_string(),
            area,
            key,
            effect,
            what,
        });
    }

    /// A set that grants more as it grows (`grows_loosens`) or less.
    pub(super) fn set<T: Ord + std::fmt::Display>(
        &mut self,
        area: &'static str,
        key: &str,
        old: &BTreeSet<T>,
        new: &BTreeSet<T>,
        grows_loosens: bool,
    ) {
        let join = |v: Vec<&T>| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let added: Vec<&T> = new.difference(old).collect();
        if !added.is_empty() {
            self.push(
                area,
                key.to_string(),
                Effect::when(grows_loosens),
                format!("{key}: added {}", join(added)),
            );
        }
        let removed: Vec<&T> = old.difference(new).collect();
        if !removed.is_empty() {
            self.push(
                area,
                key.to_string(),
                Effect::when(!grows_loosens),
                format!("{key}: removed {}", join(removed)),
            );
        }
    }

    /// A limit where `None` is unlimited and a larger value loosens.
    pub(super) fn limit(
        &mut self,
        area: &'static str,
        key: &str,
        old: Option<u64>,
        new: Option<u64>,
    ) {
        let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |v| v.to_string());
        let (o, n) = (old.unwrap_or(u64::MAX), new.unwrap_or(u64::MAX));
        if o != n {
            self.push(
                area,
                key.to_string(),
                Effect::when(n > o),
                format!("{key}: {} -> {}", show(old), show(new)),
            );
        }
    }

    /// A flag that grants something when true.
    pub(super) fn flag(&mut self, area: &'static str, key: &str, old: bool, new: bool) {
        if old != new {
            self.push(
                area,
                key.to_string(),
                Effect::when(new),
                format!("{key}: {old} -> {new}"),
            );
        }
    }

    /// A size, CPU or duration setting as text: compared in its unit.
    pub(super) fn sized(
        &mut self,
        area: &'static str,
        key: &str,
        old: &str,
        new: &str,
        parse: impl Fn(&str) -> Option<u64>,
    ) {
        if old == new {
            return;
        }
        match (parse(old), parse(new)) {
            (Some(o), Some(n)) if o == n => {}
            (Some(o), Some(n)) => self.push(
                area,
                key.to_string(),
                Effect::when(n > o),
                format!("{key}: {old} -> {new}"),
            ),
            _ => self.push(
                area,
                key.to_string(),
                Effect::Loosens,
                format!("{key}: {old} -> {new} (not comparable)"),
            ),
        }
    }
}

pub(super) fn size(t: &str) -> Option<u64> {
    units::parse_size(t).ok()
}

fn role_diff(c: &mut Collector, old_set: &ProfileSet, o: &Role, new_set: &ProfileSet, n: &Role) {
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
    c.set(
        "allowed_tools",
        "allowed_tools",
        &set(&o.allowed_tools),
        &set(&n.allowed_tools),
        true,
    );
    c.set(
        "denied_tools",
        "denied_tools",
        &set(&o.denied_tools),
        &set(&n.denied_tools),
        false,
    );
    for tool in n
        .allowed_tools
        .iter()
        .filter(|t| o.allowed_tools.contains(t))
    {
        match (
            old_set.catalog.tools.get(tool),
            new_set.catalog.tools.get(tool),
        ) {
            (Some(ot), Some(nt)) => tool::tool_diff(c, tool, ot, nt),
            (None, Some(_)) => c.push(
                "tool",
                tool.clone(),
                Effect::Loosens,
                format!("tool {tool} is now defined in the catalog"),
            ),
            (Some(_), None) => c.push(
                "tool",
                tool.clone(),
                Effect::Tightens,
                format!("tool {tool} is no longer defined in the catalog"),
            ),
            (None, None) => {}
        }
    }
    settings::data_access_diff(c, &o.data_access, &n.data_access);
    settings::screening_diff(c, o, n);
    settings::limits_diff(c, o, n);
    settings::sandbox_diff(c, o, n);
    settings::approval_diff(c, o, n);
}
