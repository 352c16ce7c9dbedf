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

use super::{
    AccessGrant, BindMode, InjectionAction, NetworkMode, ParamSpec, ProfileSet, Role, ToolSpec,
};
use crate::units;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

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

struct Collector<'a> {
    role: &'a str,
    out: &'a mut Vec<Change>,
}

impl Collector<'_> {
    fn push(&mut self, area: &'static str, key: String, effect: Effect, what: String) {
        self.out.push(Change {
            role: self.role.to_string(),
            area,
            key,
            effect,
            what,
        });
    }

    /// A set that grants more as it grows (`grows_loosens`) or less.
    fn set<T: Ord + std::fmt::Display>(
        &mut self,
        area: &'static str,
        key: &str,
        old: &BTreeSet<T>,
        new: &BTreeSet<T>,
        grows_loosens: bool,
    ) {
        for added in new.difference(old) {
            self.push(
                area,
                key.to_string(),
                Effect::when(grows_loosens),
                format!("{key}: added {added}"),
            );
        }
        for removed in old.difference(new) {
            self.push(
                area,
                key.to_string(),
                Effect::when(!grows_loosens),
                format!("{key}: removed {removed}"),
            );
        }
    }

    /// A limit where `None` is unlimited and a larger value loosens.
    fn limit(&mut self, area: &'static str, key: &str, old: Option<u64>, new: Option<u64>) {
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
    fn flag(&mut self, area: &'static str, key: &str, old: bool, new: bool) {
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
    fn sized(
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

fn size(t: &str) -> Option<u64> {
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
            (Some(ot), Some(nt)) => tool_diff(c, tool, ot, nt),
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
    data_access_diff(c, &o.data_access, &n.data_access);
    screening_diff(c, o, n);
    limits_diff(c, o, n);
    sandbox_diff(c, o, n);
    approval_diff(c, o, n);
}

fn tool_diff(c: &mut Collector, name: &str, o: &ToolSpec, n: &ToolSpec) {
    let (or, nr) = (o.risk_class(), n.risk_class());
    if or != nr {
        c.push(
            "risk",
            name.to_string(),
            Effect::when(nr < or),
            format!(
                "{name}: risk class {or} -> {nr} ({})",
                if nr < or { "lowered" } else { "raised" }
            ),
        );
    }
    if o.command != n.command {
        c.push(
            "tool",
            format!("{name}.command"),
            Effect::Loosens,
            format!(
                "{name}: command template changed: {:?} -> {:?}",
                o.command, n.command
            ),
        );
    }
    for (key, old, new, default) in [
        (
            "max_value_size",
            &o.max_value_size,
            &n.max_value_size,
            "64Ki",
        ),
        ("max_call_size", &o.max_call_size, &n.max_call_size, "256Ki"),
    ] {
        let (old, new) = (
            old.as_deref().unwrap_or(default),
            new.as_deref().unwrap_or(default),
        );
        c.sized("tool", &format!("{name}.{key}"), old, new, size);
    }
    match (&o.extra_args, &n.extra_args) {
        (None, Some(x)) => c.push(
            "params",
            format!("{name}.extra_args"),
            Effect::Loosens,
            format!("{name}: now takes extra arguments matching {}", x.pattern),
        ),
        (Some(_), None) => c.push(
            "params",
            format!("{name}.extra_args"),
            Effect::Tightens,
            format!("{name}: no longer takes extra arguments"),
        ),
        (Some(ox), Some(nx)) => {
            pattern_change(
                c,
                &format!("{name}.extra_args.pattern"),
                Some(&ox.pattern),
                Some(&nx.pattern),
            );
            c.limit(
                "params",
                &format!("{name}.extra_args.max"),
                Some(ox.max as u64),
                Some(nx.max as u64),
            );
        }
        (None, None) => {}
    }
    let names: BTreeSet<&String> = o.params.keys().chain(n.params.keys()).collect();
    for p in names {
        let key = format!("{name}.{p}");
        match (o.params.get(p), n.params.get(p)) {
            (None, Some(_)) => c.push(
                "params",
                key,
                Effect::Loosens,
                format!("{name}: parameter {p} added"),
            ),
            (Some(_), None) => c.push(
                "params",
                key,
                Effect::Tightens,
                format!("{name}: parameter {p} removed"),
            ),
            (Some(os), Some(ns)) => param_diff(c, &key, os, ns),
            (None, None) => {}
        }
    }
}

fn param_diff(c: &mut Collector, key: &str, o: &ParamSpec, n: &ParamSpec) {
    if o.kind != n.kind {
        c.push(
            "params",
            format!("{key}.type"),
            Effect::Loosens,
            format!("{key}: type {:?} -> {:?}", o.kind, n.kind).to_lowercase(),
        );
    }
    pattern_change(
        c,
        &format!("{key}.pattern"),
        o.pattern.as_deref(),
        n.pattern.as_deref(),
    );
    pattern_change(
        c,
        &format!("{key}.pattern_with_params"),
        o.pattern_with_params.as_deref(),
        n.pattern_with_params.as_deref(),
    );
    let values = |v: &Option<Vec<toml::Value>>| {
        v.as_ref().map(|v| {
            v.iter()
                .map(|x| super::toml_to_json(x).to_string())
                .collect::<BTreeSet<_>>()
        })
    };
    match (values(&o.allowed), values(&n.allowed)) {
        (Some(_), None) => c.push(
            "params",
            format!("{key}.enum"),
            Effect::Loosens,
            format!("{key}: enum removed"),
        ),
        (None, Some(v)) => c.push(
            "params",
            format!("{key}.enum"),
            Effect::Tightens,
            format!(
                "{key}: enum added: {}",
                v.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ),
        (Some(ov), Some(nv)) => c.set("params", &format!("{key}.enum"), &ov, &nv, true),
        (None, None) => {}
    }
    let len = |v: Option<usize>| v.map(|v| v as f64);
    range_change(
        c,
        &format!("{key}.length"),
        (len(o.min_length), len(o.max_length)),
        (len(n.min_length), len(n.max_length)),
    );
    range_change(c, &format!("{key}.range"), (o.min, o.max), (n.min, n.max));
    match (&o.access, &n.access) {
        (a, b) if a == b => {}
        (Some(a), None) => c.push(
            "params",
            format!("{key}.access"),
            Effect::Loosens,
            format!("{key}: no longer checked against data_access.{a}"),
        ),
        (None, Some(b)) => c.push(
            "params",
            format!("{key}.access"),
            Effect::Tightens,
            format!("{key}: now checked against data_access.{b}"),
        ),
        (Some(a), Some(b)) => c.push(
            "params",
            format!("{key}.access"),
            Effect::Loosens,
            format!("{key}: checked against data_access.{b} instead of data_access.{a}"),
        ),
        _ => {}
    }
    let gates = |g: &BTreeMap<String, String>| {
        g.iter()
            .map(|(k, v)| format!("{k} (needs {v})"))
            .collect::<BTreeSet<_>>()
    };
    c.set(
        "params",
        &format!("{key}.gates"),
        &gates(&o.gates),
        &gates(&n.gates),
        false,
    );
    let rank = |b: Option<BindMode>| match b {
        None => 0,
        Some(BindMode::Ro) => 1,
        Some(BindMode::Rw) => 2,
    };
    if o.bind != n.bind {
        let show = |b: Option<BindMode>| match b {
            None => "none",
            Some(BindMode::Ro) => "ro",
            Some(BindMode::Rw) => "rw",
        };
        c.push(
            "params",
            format!("{key}.bind"),
            Effect::when(rank(n.bind) > rank(o.bind)),
            format!("{key}: bind {} -> {}", show(o.bind), show(n.bind)),
        );
    }
    c.flag(
        "params",
        &format!("{key}.allow_leading_dash"),
        o.allow_leading_dash,
        n.allow_leading_dash,
    );
}

/// A range (min, max), `None` open; loosens when the new one admits anything
/// the old one did not.
fn range_change(
    c: &mut Collector,
    key: &str,
    o: (Option<f64>, Option<f64>),
    n: (Option<f64>, Option<f64>),
) {
    if o == n {
        return;
    }
    let lo = |v: Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
    let hi = |v: Option<f64>| v.unwrap_or(f64::INFINITY);
    let inside = lo(n.0) >= lo(o.0) && hi(n.1) <= hi(o.1);
    let show = |r: (Option<f64>, Option<f64>)| {
        format!(
            "{}..={}",
            r.0.map_or(String::new(), |v| v.to_string()),
            r.1.map_or(String::new(), |v| v.to_string())
        )
    };
    c.push(
        "params",
        key.to_string(),
        Effect::when(!inside),
        format!("{key}: {} -> {}", show(o), show(n)),
    );
}

fn pattern_change(c: &mut Collector, key: &str, o: Option<&str>, n: Option<&str>) {
    match (o, n) {
        (a, b) if a == b => {}
        (Some(_), None) => c.push(
            "params",
            key.to_string(),
            Effect::Loosens,
            format!("{key}: pattern removed"),
        ),
        (None, Some(p)) => c.push(
            "params",
            key.to_string(),
            Effect::Tightens,
            format!("{key}: pattern added: {p}"),
        ),
        (Some(a), Some(b)) => {
            let narrower = pattern_narrower(a, b);
            c.push(
                "params",
                key.to_string(),
                Effect::when(!narrower),
                format!(
                    "{key}: pattern {a} -> {b} ({})",
                    if narrower {
                        "provably narrower"
                    } else {
                        "not provably narrower"
                    }
                ),
            );
        }
        _ => {}
    }
}

/// Whether every whole-value match of `new` is one of `old` by the
/// structural rule in the module comment. False when in doubt.
pub fn pattern_narrower(old: &str, new: &str) -> bool {
    let parse = |p: &str| regex_syntax::Parser::new().parse(p).ok();
    match (parse(old), parse(new)) {
        (Some(o), Some(n)) => hir_within(&strip_anchors(o), &strip_anchors(n)),
        _ => false,
    }
}

/// A pattern always matches the whole value, so anchors at its ends say nothing.
fn strip_anchors(h: regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Hir, HirKind, Look};
    let edge = |h: &Hir| {
        matches!(
            h.kind(),
            HirKind::Look(Look::Start | Look::End | Look::StartLF | Look::EndLF)
        )
    };
    match h.kind() {
        HirKind::Concat(parts) => {
            let mut parts: Vec<Hir> = parts.clone();
            while parts.first().is_some_and(edge) {
                parts.remove(0);
            }
            while parts.last().is_some_and(edge) {
                parts.pop();
            }
            Hir::concat(parts)
        }
        _ if edge(&h) => Hir::empty(),
        _ => h,
    }
}

/// Whether `n` matches only what `o` matches (structurally).
fn hir_within(o: &regex_syntax::hir::Hir, n: &regex_syntax::hir::Hir) -> bool {
    use regex_syntax::hir::{Class, HirKind};
    if o == n {
        return true;
    }
    match (o.kind(), n.kind()) {
        (HirKind::Capture(a), _) => hir_within(&a.sub, n),
        (_, HirKind::Capture(b)) => hir_within(o, &b.sub),
        (HirKind::Repetition(a), HirKind::Repetition(b)) => {
            b.min >= a.min
                && match (a.max, b.max) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(x), Some(y)) => y <= x,
                }
                && hir_within(&a.sub, &b.sub)
        }
        (HirKind::Class(Class::Unicode(a)), HirKind::Class(Class::Unicode(b))) => {
            let mut i = b.clone();
            i.intersect(a);
            &i == b
        }
        (HirKind::Class(Class::Bytes(a)), HirKind::Class(Class::Bytes(b))) => {
            let mut i = b.clone();
            i.intersect(a);
            &i == b
        }
        (HirKind::Concat(a), HirKind::Concat(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| hir_within(x, y))
        }
        (HirKind::Alternation(a), HirKind::Alternation(b)) => {
            b.iter().all(|y| a.iter().any(|x| hir_within(x, y)))
        }
        (HirKind::Alternation(a), _) => a.iter().any(|x| hir_within(x, n)),
        _ => false,
    }
}

fn data_access_diff(
    c: &mut Collector,
    o: &BTreeMap<String, AccessGrant>,
    n: &BTreeMap<String, AccessGrant>,
) {
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    for k in keys {
        let key = format!("data_access.{k}");
        let values = |g: Option<&AccessGrant>| match g {
            Some(AccessGrant::List(v)) => v.iter().cloned().collect::<BTreeSet<_>>(),
            _ => BTreeSet::new(),
        };
        let flag = |g: Option<&AccessGrant>| matches!(g, Some(AccessGrant::Flag(true)));
        let (og, ng) = (o.get(k), n.get(k));
        if og == ng {
            continue;
        }
        let is_flag = |g: Option<&AccessGrant>| matches!(g, Some(AccessGrant::Flag(_)));
        if is_flag(og) || is_flag(ng) {
            c.flag("data_access", &key, flag(og), flag(ng));
        }
        let (ov, nv) = (values(og), values(ng));
        for added in nv.difference(&ov) {
            c.push(
                "data_access",
                key.clone(),
                Effect::Loosens,
                format!("{key}: widened by {added}"),
            );
        }
        for removed in ov.difference(&nv) {
            c.push(
                "data_access",
                key.clone(),
                Effect::Tightens,
                format!("{key}: narrowed, {removed} removed"),
            );
        }
    }
}

fn screening_diff(c: &mut Collector, o: &Role, n: &Role) {
    let (os, ns) = (&o.screening, &n.screening);
    let strength = |a: Option<InjectionAction>| match a.unwrap_or(InjectionAction::Deny) {
        InjectionAction::Deny => 2,
        InjectionAction::Filter => 1,
        InjectionAction::Flag => 0,
    };
    let (oa, na) = (strength(os.injection_action), strength(ns.injection_action));
    if oa != na {
        c.push(
            "screening",
            "screening.injection_action".into(),
            Effect::when(na < oa),
            format!(
                "screening.injection_action: {:?} -> {:?}",
                os.injection_action, ns.injection_action
            )
            .to_lowercase(),
        );
    }
    let injection = |v: &Option<Vec<super::PatternRule>>| {
        v.as_ref().map(|v| {
            v.iter()
                .map(|r| match r {
                    super::PatternRule::Plain(p) => p.clone(),
                    super::PatternRule::WithAction { pattern, action } => {
                        format!("{pattern} ({})", format!("{action:?}").to_lowercase())
                    }
                })
                .collect::<BTreeSet<_>>()
        })
    };
    let strings = |v: &Option<Vec<String>>| {
        v.as_ref()
            .map(|v| v.iter().cloned().collect::<BTreeSet<_>>())
    };
    for (key, ov, nv) in [
        (
            "screening.injection_patterns",
            injection(&os.injection_patterns),
            injection(&ns.injection_patterns),
        ),
        (
            "screening.suspicious_values",
            strings(&os.suspicious_values),
            strings(&ns.suspicious_values),
        ),
        (
            "screening.suspicious_patterns",
            strings(&os.suspicious_patterns),
            strings(&ns.suspicious_patterns),
        ),
    ] {
        match (ov, nv) {
            (None, None) => {}
            // The built-in defaults replaced by a list, or back: not comparable here.
            (None, Some(_)) => c.push(
                "screening",
                key.into(),
                Effect::Loosens,
                format!("{key}: the built-in defaults replaced by the role's own list"),
            ),
            (Some(_), None) => c.push(
                "screening",
                key.into(),
                Effect::Loosens,
                format!("{key}: the role's own list replaced by the built-in defaults"),
            ),
            (Some(a), Some(b)) => c.set("screening", key, &a, &b, false),
        }
    }
}

fn limits_diff(c: &mut Collector, o: &Role, n: &Role) {
    let (ol, nl) = (&o.limits, &n.limits);
    c.limit(
        "limits",
        "limits.max_api_calls",
        ol.max_api_calls,
        nl.max_api_calls,
    );
    c.limit("limits", "limits.max_tokens", ol.max_tokens, nl.max_tokens);
    c.limit(
        "limits",
        "limits.timeout_seconds",
        Some(ol.timeout_seconds),
        Some(nl.timeout_seconds),
    );
    c.sized(
        "limits",
        "limits.max_output",
        &ol.max_output,
        &nl.max_output,
        size,
    );
    let secs = |d: &super::DurationSetting| d.secs().ok();
    c.limit(
        "approval",
        "limits.approval_timeout",
        secs(&ol.approval_timeout),
        secs(&nl.approval_timeout),
    );
}

fn sandbox_diff(c: &mut Collector, o: &Role, n: &Role) {
    let (os, ns) = (&o.sandbox, &n.sandbox);
    if os.user != ns.user {
        c.push(
            "sandbox",
            "sandbox.user".into(),
            Effect::when(ns.user == 0 || os.user != 0),
            format!("sandbox.user: {} -> {}", os.user, ns.user),
        );
    }
    for (key, a, b) in [
        ("sandbox.memory", &os.memory, &ns.memory),
        ("sandbox.tmp_size", &os.tmp_size, &ns.tmp_size),
        (
            "sandbox.ephemeral_storage",
            &os.ephemeral_storage,
            &ns.ephemeral_storage,
        ),
        (
            "sandbox.max_file_size",
            &os.max_file_size,
            &ns.max_file_size,
        ),
    ] {
        c.sized("sandbox", key, a, b, size);
    }
    c.sized("sandbox", "sandbox.cpu", &os.cpu, &ns.cpu, |t| {
        units::parse_cpu_millis(t).ok()
    });
    for (key, a, b) in [
        ("sandbox.pids", os.pids, ns.pids),
        ("sandbox.nofile", os.nofile, ns.nofile),
        (
            "sandbox.max_connections",
            os.max_connections as u64,
            ns.max_connections as u64,
        ),
        (
            "sandbox.max_ptys",
            u64::from(os.max_ptys),
            u64::from(ns.max_ptys),
        ),
        (
            "sandbox.user_limits.inotify_instances",
            os.user_limits.inotify_instances,
            ns.user_limits.inotify_instances,
        ),
        (
            "sandbox.user_limits.inotify_watches",
            os.user_limits.inotify_watches,
            ns.user_limits.inotify_watches,
        ),
        (
            "sandbox.user_limits.fanotify_groups",
            os.user_limits.fanotify_groups,
            ns.user_limits.fanotify_groups,
        ),
        (
            "sandbox.user_limits.fanotify_marks",
            os.user_limits.fanotify_marks,
            ns.user_limits.fanotify_marks,
        ),
    ] {
        c.limit("sandbox", key, Some(a), Some(b));
    }
    if os.network != ns.network {
        let show = |m: NetworkMode| match m {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        };
        c.push(
            "sandbox",
            "sandbox.network".into(),
            Effect::when(ns.network == NetworkMode::Host),
            format!(
                "sandbox.network: {} -> {}",
                show(os.network),
                show(ns.network)
            ),
        );
    }
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
    c.set(
        "sandbox",
        "sandbox.egress",
        &set(&os.egress),
        &set(&ns.egress),
        true,
    );
    c.set(
        "sandbox",
        "sandbox.pass_env",
        &set(&os.pass_env),
        &set(&ns.pass_env),
        true,
    );
    let env = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<BTreeSet<_>>()
    };
    c.set("sandbox", "sandbox.env", &env(&os.env), &env(&ns.env), true);
    let mechs = |v: &[super::Mechanism]| {
        v.iter()
            .map(|m| format!("{m:?}").to_lowercase())
            .collect::<BTreeSet<_>>()
    };
    c.set(
        "sandbox",
        "sandbox.optional",
        &mechs(&os.optional),
        &mechs(&ns.optional),
        true,
    );
    c.flag(
        "sandbox",
        "sandbox.unix_sockets",
        os.unix_sockets,
        ns.unix_sockets,
    );
    c.flag("sandbox", "sandbox.sys", os.sys, ns.sys);
    c.flag(
        "sandbox",
        "sandbox.supplementary_groups (keep)",
        os.supplementary_groups == super::SupplementaryGroups::Keep,
        ns.supplementary_groups == super::SupplementaryGroups::Keep,
    );
    binds_diff(c, &os.binds, &ns.binds);
}

fn binds_diff(c: &mut Collector, o: &[super::BindSpec], n: &[super::BindSpec]) {
    let key = |b: &super::BindSpec| {
        let target = b.target.as_ref().unwrap_or(&b.source);
        format!("{} -> {}", b.source.display(), target.display())
    };
    let index = |v: &[super::BindSpec]| {
        v.iter()
            .map(|b| (key(b), b.clone()))
            .collect::<BTreeMap<String, super::BindSpec>>()
    };
    let (om, nm) = (index(o), index(n));
    let mode = |b: &super::BindSpec| if b.mode == BindMode::Rw { "rw" } else { "ro" };
    for (k, b) in &nm {
        match om.get(k) {
            None => c.push(
                "sandbox",
                "sandbox.binds".into(),
                Effect::Loosens,
                format!("sandbox.binds: added {k} ({})", mode(b)),
            ),
            Some(ob) => {
                if ob.mode != b.mode {
                    c.push(
                        "sandbox",
                        "sandbox.binds".into(),
                        Effect::when(b.mode == BindMode::Rw),
                        format!("sandbox.binds: {k} {} -> {}", mode(ob), mode(b)),
                    );
                }
                if ob.kind != b.kind {
                    c.push(
                        "sandbox",
                        "sandbox.binds".into(),
                        Effect::when(b.kind.is_some()),
                        format!("sandbox.binds: {k} kind {:?} -> {:?}", ob.kind, b.kind)
                            .to_lowercase(),
                    );
                }
            }
        }
    }
    for (k, b) in &om {
        if !nm.contains_key(k) {
            c.push(
                "sandbox",
                "sandbox.binds".into(),
                Effect::Tightens,
                format!("sandbox.binds: removed {k} ({})", mode(b)),
            );
        }
    }
}

fn approval_diff(c: &mut Collector, o: &Role, n: &Role) {
    let (oa, na) = (&o.approval, &n.approval);
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
    match (oa.approvers.is_empty(), na.approvers.is_empty()) {
        (true, false) => c.push(
            "approval",
            "approval.approvers".into(),
            Effect::Tightens,
            format!(
                "approval.approvers: anyone who can write the state directory -> {}",
                na.approvers.join(", ")
            ),
        ),
        (false, true) => c.push(
            "approval",
            "approval.approvers".into(),
            Effect::Loosens,
            format!(
                "approval.approvers: {} -> anyone who can write the state directory",
                oa.approvers.join(", ")
            ),
        ),
        _ => c.set(
            "approval",
            "approval.approvers",
            &set(&oa.approvers),
            &set(&na.approvers),
            true,
        ),
    }
    let secs = |d: &super::DurationSetting| d.secs().ok();
    c.limit("approval", "approval.ttl", secs(&oa.ttl), secs(&na.ttl));
    c.limit(
        "approval",
        "approval.request_ttl",
        secs(&oa.request_ttl),
        secs(&na.request_ttl),
    );
    c.flag("approval", "approval.prompt", oa.prompt, na.prompt);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn patterns_narrower_only_when_provable() {
        assert!(pattern_narrower("[a-z0-9-]{1,63}", "^[a-z0-9-]{1,63}$"));
        assert!(pattern_narrower("[a-z0-9-]{1,63}", "[a-z0-9]{1,20}"));
        assert!(pattern_narrower("a|b|c", "a|c"));
        assert!(pattern_narrower("(?:pods|services)", "pods"));
        assert!(!pattern_narrower("[a-z]{1,63}", "[a-z0-9]{1,63}"));
        assert!(!pattern_narrower("[a-z]{1,63}", "[a-z]{1,64}"));
        assert!(!pattern_narrower("a|b", "a|d"));
        assert!(!pattern_narrower("[a-z]+", ".*"));
        assert!(!pattern_narrower("[a-z]+", "("));
    }
}
