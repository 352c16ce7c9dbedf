//! The parts of a diff about a tool's catalog entry: its risk class,
//! command, size limits, extra arguments and parameter rules, and the
//! structural rule for whether a changed pattern is narrower.

use super::{size, Collector, Effect};
use crate::profile::{BindMode, ParamSpec, ToolSpec};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn tool_diff(c: &mut Collector, name: &str, o: &ToolSpec, n: &ToolSpec) {
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
                .map(|x| crate::profile::toml_to_json(x).to_string())
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
