//! The parts of a diff about a role's own settings: data access,
//! screening, limits and budgets, the sandbox and approval.

use super::{size, Collector, Effect};
use crate::profile::{AccessGrant, BindMode, InjectionAction, NetworkMode, Role};
use crate::units;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn data_access_diff(
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
        let added: Vec<String> = nv.difference(&ov).cloned().collect();
        if !added.is_empty() {
            c.push(
                "data_access",
                key.clone(),
                Effect::Loosens,
                format!("{key}: widened by {}", added.join(", ")),
            );
        }
        let removed: Vec<String> = ov.difference(&nv).cloned().collect();
        if !removed.is_empty() {
            c.push(
                "data_access",
                key.clone(),
                Effect::Tightens,
                format!("{key}: narrowed, removed {}", removed.join(", ")),
            );
        }
    }
}

pub(super) fn screening_diff(c: &mut Collector, o: &Role, n: &Role) {
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
    let injection = |v: &Option<Vec<crate::profile::PatternRule>>| {
        v.as_ref().map(|v| {
            v.iter()
                .map(|r| match r {
                    crate::profile::PatternRule::Plain(p) => p.clone(),
                    crate::profile::PatternRule::WithAction { pattern, action } => {
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

pub(super) fn limits_diff(c: &mut Collector, o: &Role, n: &Role) {
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
    let secs = |d: &crate::profile::DurationSetting| d.secs().ok();
    c.limit(
        "approval",
        "limits.approval_timeout",
        secs(&ol.approval_timeout),
        secs(&nl.approval_timeout),
    );
}

pub(super) fn sandbox_diff(c: &mut Collector, o: &Role, n: &Role) {
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
    let mechs = |v: &[crate::profile::Mechanism]| {
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
        os.supplementary_groups == crate::profile::SupplementaryGroups::Keep,
        ns.supplementary_groups == crate::profile::SupplementaryGroups::Keep,
    );
    binds_diff(c, &os.binds, &ns.binds);
}

fn binds_diff(c: &mut Collector, o: &[crate::profile::BindSpec], n: &[crate::profile::BindSpec]) {
    let key = |b: &crate::profile::BindSpec| {
        let target = b.target.as_ref().unwrap_or(&b.source);
        format!("{} -> {}", b.source.display(), target.display())
    };
    let index = |v: &[crate::profile::BindSpec]| {
        v.iter()
            .map(|b| (key(b), b.clone()))
            .collect::<BTreeMap<String, crate::profile::BindSpec>>()
    };
    let (om, nm) = (index(o), index(n));
    let mode = |b: &crate::profile::BindSpec| if b.mode == BindMode::Rw { "rw" } else { "ro" };
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

pub(super) fn approval_diff(c: &mut Collector, o: &Role, n: &Role) {
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
    let secs = |d: &crate::profile::DurationSetting| d.secs().ok();
    c.limit("approval", "approval.ttl", secs(&oa.ttl), secs(&na.ttl));
    c.limit(
        "approval",
        "approval.request_ttl",
        secs(&oa.request_ttl),
        secs(&na.request_ttl),
    );
    c.flag("approval", "approval.prompt", oa.prompt, na.prompt);
}
