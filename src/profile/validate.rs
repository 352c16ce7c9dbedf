//! The checks a loaded catalog and role must pass beyond their TOML types:
//! placeholders, patterns, defaults, durations, binds, egress, limits.
//! Every problem becomes a `ProfileError` naming its file and key.

use super::*;

pub(super) fn validate_catalog(
    file: &str,
    catalog: &Catalog,
    errors: &mut Vec<ProfileError>,
    warnings: &mut Vec<String>,
) {
    let mut err = |message: String| {
        errors.push(ProfileError::Invalid {
            file: file.to_string(),
            message,
        })
    };
    for (name, tool) in &catalog.tools {
        for (key, value, ceiling) in [
            ("max_value_size", &tool.max_value_size, 120 * 1024),
            ("max_call_size", &tool.max_call_size, 1024 * 1024),
        ] {
            if let Some(text) = value {
                match units::parse_size(text) {
                    Ok(0) => err(format!("tool `{name}`: {key} must be at least 1 byte")),
                    Ok(n) if n > ceiling => err(format!(
                        "tool `{name}`: {key} = {text:?} is over the ceiling of {} (the kernel's argv limits)",
                        units::format_size(ceiling)
                    )),
                    Ok(_) => {}
                    Err(e) => err(format!("tool `{name}`: {key}: {e}")),
                }
            }
        }
        if tool.risk.is_none() {
            warnings.push(format!(
                "{file}: tool `{name}` has no risk class; it is treated as `delete`, the highest"
            ));
        }
        if tool.command.is_empty() || tool.command[0].is_empty() {
            err(format!("tool `{name}`: command is empty"));
        } else if !placeholders(&tool.command[0]).is_empty() {
            err(format!(
                "tool `{name}`: the program (command[0]) cannot come from a parameter"
            ));
        }
        for element in &tool.command {
            for p in placeholders(element) {
                match tool.params.get(p) {
                    None => err(format!(
                        "tool `{name}`: command uses `{{{p}}}` but no parameter `{p}` is defined"
                    )),
                    Some(spec) if !spec.is_required() && spec.default.is_none() => err(format!(
                        "tool `{name}`: parameter `{p}` is used in the command, so it must be required or have a default"
                    )),
                    _ => {}
                }
            }
        }
        for (p, element) in spec::option_slot_params(tool) {
            if tool.params.get(p).is_some_and(|s| s.allow_leading_dash) {
                warnings.push(format!(
                    "{file}: tool `{name}`: parameter `{p}` starts command element {element}, which is not after `--`, and has allow_leading_dash = true: a value such as `--help` is read as an option"
                ));
            }
        }
        if let Some(x) = &tool.extra_args {
            if let Err(e) = check_pattern(&x.pattern) {
                err(format!("tool `{name}`: extra_args.pattern: {e}"));
            }
        }
        for (pname, spec) in &tool.params {
            if let Some(p) = &spec.pattern {
                if let Err(e) = check_pattern(p) {
                    err(format!("tool `{name}`: parameter `{pname}`: pattern: {e}"));
                }
                if !matches!(spec.kind, ParamType::String | ParamType::Path) {
                    err(format!(
                        "tool `{name}`: parameter `{pname}`: pattern only applies to string and path parameters"
                    ));
                }
            }
            if spec.bind.is_some() && spec.kind != ParamType::Path {
                err(format!(
                    "tool `{name}`: parameter `{pname}`: bind only applies to path parameters"
                ));
            }
            if let Some(p) = &spec.pattern_with_params {
                let names: Vec<&str> = tool.params.keys().map(String::as_str).collect();
                match spec::fill_pattern(p, &names, |_| Some("x".into())) {
                    Ok((_, used)) if used.is_empty() => err(format!(
                        "tool `{name}`: parameter `{pname}`: pattern_with_params names no parameter of the tool (use pattern)"
                    )),
                    Ok((_, used)) if used.contains(&pname.as_str()) => err(format!(
                        "tool `{name}`: parameter `{pname}`: pattern_with_params cannot name the parameter itself"
                    )),
                    Ok((filled, _)) => {
                        if let Err(e) = check_pattern(&filled) {
                            err(format!("tool `{name}`: parameter `{pname}`: pattern_with_params: {e}"));
                        }
                    }
                    Err(_) => {}
                }
                if !matches!(spec.kind, ParamType::String | ParamType::Path) {
                    err(format!(
                        "tool `{name}`: parameter `{pname}`: pattern_with_params only applies to string and path parameters"
                    ));
                }
            }
            if let Some(d) = &spec.default {
                let json = toml_to_json(d);
                if let Err(e) = spec::check_value(pname, spec, &json) {
                    err(format!("tool `{name}`: default: {e}"));
                }
            }
        }
    }
}

pub(super) fn validate_role(
    file: &str,
    role: &Role,
    catalog: &Catalog,
    errors: &mut Vec<ProfileError>,
    warnings: &mut Vec<String>,
) {
    let mut err = |message: String| {
        errors.push(ProfileError::Invalid {
            file: file.to_string(),
            message,
        })
    };
    for t in &role.allowed_tools {
        if role.denied_tools.contains(t) {
            err(format!(
                "tool `{t}` is in both allowed_tools and denied_tools"
            ));
        }
        if !catalog.tools.contains_key(t) {
            err(format!(
                "allowed tool `{t}` is not defined in the tool catalog"
            ));
        }
    }
    let s = &role.sandbox;
    if s.user == 0 {
        err("sandbox.user = 0: tools never run as root inside the sandbox".into());
    }
    let mut size = |key: &str, v: &str| -> Option<u64> {
        match units::parse_size(v) {
            Ok(n) => Some(n),
            Err(e) => {
                err(format!("sandbox.{key}: {e}"));
                None
            }
        }
    };
    size("memory", &s.memory);
    let tmp = size("tmp_size", &s.tmp_size);
    let eph = size("ephemeral_storage", &s.ephemeral_storage);
    size("max_file_size", &s.max_file_size);
    if let (Some(t), Some(e)) = (tmp, eph) {
        if t > e {
            err(format!(
                "sandbox.tmp_size ({}) exceeds sandbox.ephemeral_storage ({})",
                s.tmp_size, s.ephemeral_storage
            ));
        }
    }
    if let Err(e) = units::parse_size(&role.limits.max_output) {
        err(format!("limits.max_output: {e}"));
    }
    if let Err(e) = units::parse_cpu_millis(&s.cpu) {
        err(format!("sandbox.cpu: {e}"));
    }
    if s.pids == 0 {
        err("sandbox.pids must be at least 1".into());
    }
    if role.limits.timeout_seconds == 0 {
        err("limits.timeout_seconds must be at least 1".into());
    }
    for e in approval::validate_role(role) {
        err(e);
    }
    if s.hostname.is_empty() || s.hostname.len() > 64 {
        err("sandbox.hostname must be 1 to 64 characters".into());
    }
    for b in &s.binds {
        for p in std::iter::once(&b.source).chain(b.target.as_ref()) {
            if !p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                err(format!(
                    "sandbox.binds: {} must be an absolute path without `..`",
                    p.display()
                ));
            }
        }
    }
    for b in &s.binds {
        if b.kind == Some(SpecialBind::Socket) && !s.unix_sockets {
            err(format!(
                "sandbox.binds: {} has kind = \"socket\", which needs sandbox.unix_sockets = true (the tool must be able to create a unix socket to connect to it)",
                b.source.display()
            ));
        }
    }
    if s.sys && s.network == NetworkMode::Host {
        err("sandbox.sys needs network = \"none\": sysfs can only be mounted for a network namespace of the sandbox's own".into());
    }
    if s.max_ptys == 0 || s.max_ptys > 4096 {
        err("sandbox.max_ptys must be 1 to 4096".into());
    }
    let u = &s.user_limits;
    if u.inotify_instances > 1024 || u.inotify_watches > 1 << 20 {
        err(
            "sandbox.user_limits: inotify_instances at most 1024, inotify_watches at most 1048576"
                .into(),
        );
    }
    if s.unix_sockets {
        warnings.push(format!(
            "{file}: sandbox.unix_sockets = true: below Landlock ABI 9, tools of this role can connect to any unix socket they can see, including inside bound directories"
        ));
    }
    if s.network == NetworkMode::Host && !s.egress.is_empty() {
        err("sandbox.egress needs network = \"none\": with the host's network there is nothing to filter".into());
    }
    if let Err(e) = crate::egress::EgressRules::parse(&s.egress) {
        err(format!("sandbox.egress: {e}"));
    }
    if s.max_connections == 0 {
        err("sandbox.max_connections must be at least 1".into());
    }
    if s.network == NetworkMode::Host {
        warnings.push(format!(
            "{file}: sandbox.network = \"host\": tools of this role share the host's network"
        ));
    }
    let screening = &role.screening;
    for rule in screening.injection_patterns.iter().flatten() {
        let p = match rule {
            PatternRule::Plain(p) | PatternRule::WithAction { pattern: p, .. } => p,
        };
        if let Err(e) = check_pattern(p) {
            err(format!("screening.injection_patterns: {e}"));
        }
    }
    for p in screening.suspicious_patterns.iter().flatten() {
        if let Err(e) = check_pattern(p) {
            err(format!("screening.suspicious_patterns: {e}"));
        }
    }
    super::mcp::validate(file, &role.mcp, errors, warnings);
}

/// Checks a regular expression's syntax without compiling it: loading a
/// profile set must stay cheap (every run loads it); the patterns a call
/// uses are compiled when it uses them.
fn check_pattern(pattern: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Profile default values are TOML; parameters travel as JSON.
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// What `profiles validate` adds to the loader's warnings, per tool of the
/// catalog: parameters that take any string or any number (no pattern,
/// enum, access list or range), and parameters that start an option slot
/// of the template (not after `--`) while their rules admit a value
/// starting with `-` (for an `access` parameter: a role's list holds one).
/// Not loader warnings: every call would print them.
pub fn lint_warnings(set: &ProfileSet) -> Vec<String> {
    let mut out = Vec::new();
    let listed_dash = |key: &str| {
        set.roles.values().any(|r| match r.data_access.get(key) {
            Some(AccessGrant::List(v)) => v.iter().any(|x| x.starts_with('-')),
            _ => false,
        })
    };
    for (name, tool) in &set.catalog.tools {
        for (pname, spec) in &tool.params {
            let constrained = match spec.kind {
                ParamType::String => {
                    spec.pattern.is_some()
                        || spec.pattern_with_params.is_some()
                        || spec.allowed.is_some()
                        || spec.access.is_some()
                }
                ParamType::Integer | ParamType::Number => {
                    spec.allowed.is_some() || (spec.min.is_some() && spec.max.is_some())
                }
                ParamType::Boolean | ParamType::Path => true,
            };
            if !constrained {
                let what = if spec.kind == ParamType::String {
                    "an unconstrained string: no pattern, enum or access list"
                } else {
                    "an unconstrained number: no enum, or no min and max"
                };
                out.push(format!("tool `{name}`: parameter `{pname}` is {what}"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (p, element) in spec::option_slot_params(tool) {
            let Some(s) = tool.params.get(p) else {
                continue;
            };
            // allow_leading_dash already warns in validate_catalog.
            if s.allow_leading_dash || !seen.insert(p) || !may_start_with_dash(s) {
                continue;
            }
            if s.access.as_deref().is_some_and(|k| !listed_dash(k)) {
                continue;
            }
            out.push(format!(
                "tool `{name}`: parameter `{p}` starts command element {element}, not after `--`, and its rules admit a value starting with `-`, which the program would read as an option (run refuses such values; put `--` before the element or give a pattern that excludes a leading `-`)"
            ));
        }
    }
    out
}

/// Whether a value the spec admits can start with `-`, erring towards yes.
fn may_start_with_dash(spec: &ParamSpec) -> bool {
    match spec.kind {
        ParamType::Boolean | ParamType::Path => false,
        _ if spec.allowed.is_some() => spec.allowed.iter().flatten().any(|v| {
            let v = toml_to_json(v);
            super::spec::value_text(&v).starts_with('-')
        }),
        ParamType::Integer | ParamType::Number => spec.min.map_or(true, |m| m < 0.0),
        ParamType::String => {
            let p = spec
                .pattern
                .as_deref()
                .or(spec.pattern_with_params.as_deref());
            match p.and_then(|p| regex_syntax::Parser::new().parse(p).ok()) {
                None => true,
                Some(h) => first_may_be(&h, b'-').0,
            }
        }
    }
}

/// (whether a match of `h` may start with byte `b`, whether `h` may match
/// the empty string).
fn first_may_be(h: &regex_syntax::hir::Hir, b: u8) -> (bool, bool) {
    use regex_syntax::hir::{Class, HirKind};
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (false, true),
        HirKind::Literal(l) => (l.0.first() == Some(&b), l.0.is_empty()),
        HirKind::Class(Class::Unicode(c)) => (
            c.ranges()
                .iter()
                .any(|r| r.start() <= b as char && b as char <= r.end()),
            false,
        ),
        HirKind::Class(Class::Bytes(c)) => (
            c.ranges().iter().any(|r| r.start() <= b && b <= r.end()),
            false,
        ),
        HirKind::Repetition(r) => {
            let (may, empty) = first_may_be(&r.sub, b);
            (may && r.max != Some(0), empty || r.min == 0)
        }
        HirKind::Capture(c) => first_may_be(&c.sub, b),
        HirKind::Concat(parts) => {
            for p in parts {
                let (may, empty) = first_may_be(p, b);
                if may {
                    return (true, false);
                }
                if !empty {
                    return (false, false);
                }
            }
            (false, true)
        }
        HirKind::Alternation(alts) => alts.iter().fold((false, false), |(m, e), a| {
            let (am, ae) = first_may_be(a, b);
            (m || am, e || ae)
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod lint_tests {
    use super::*;

    fn lints(tools: &str, role: &str) -> Vec<String> {
        let set = build_set(
            ProfileSource::Bundled,
            "tools.toml",
            tools,
            vec![("roles/r.toml".into(), "r".into(), role.into())],
            vec![],
        )
        .unwrap();
        lint_warnings(&set)
    }

    #[test]
    fn unconstrained_parameters_and_option_slots_warn() {
        let tools = r#"
[tools.t]
risk = "read"
command = ["t", "{free}", "{dashless}", "{n}", "--ns", "{ns}", "{kind}", "{p}", "--", "{after}"]
params.free = { type = "string" }
params.dashless = { type = "string", pattern = "[a-z][a-z-]*" }
params.n = { type = "integer", min = 0, max = 9 }
params.ns = { type = "string", pattern = "[a-z-]+", access = "namespaces" }
params.kind = { type = "string", enum = ["a", "-b"] }
params.p = { type = "path" }
params.after = { type = "string", pattern = "-.*|x" }
params.count = { type = "integer", default = 1 }
"#;
        let w = lints(
            tools,
            "allowed_tools = [\"t\"]\n[data_access]\nnamespaces = [\"ok\"]\n",
        );
        let about = |p: &str| w.iter().filter(|l| l.contains(&format!("`{p}`"))).count();
        assert_eq!(about("free"), 2, "{w:#?}");
        assert_eq!(about("dashless"), 0, "{w:#?}");
        assert_eq!(about("n"), 0, "{w:#?}");
        assert_eq!(about("ns"), 0, "{w:#?}");
        assert_eq!(about("kind"), 1, "{w:#?}");
        assert_eq!(about("p"), 0, "{w:#?}");
        assert_eq!(about("after"), 0, "{w:#?}");
        assert_eq!(about("count"), 1, "{w:#?}");
        assert!(w
            .iter()
            .any(|l| l.contains("`count` is an unconstrained number")));
        // A role that lists a value starting with `-` makes the access parameter warn.
        let w = lints(
            tools,
            "allowed_tools = [\"t\"]\n[data_access]\nnamespaces = [\"-x\"]\n",
        );
        assert_eq!(
            w.iter().filter(|l| l.contains("`ns` starts")).count(),
            1,
            "{w:#?}"
        );
    }

    #[test]
    fn first_character_analysis() {
        let may = |p: &str| {
            let h = regex_syntax::Parser::new().parse(p).unwrap();
            first_may_be(&h, b'-').0
        };
        assert!(may("-x"));
        assert!(may("[a-z-]+"));
        assert!(may("a?-"));
        assert!(may("(?:x|-)"));
        assert!(!may("[a-z][a-z-]*"));
        assert!(!may("(?s)[^-.].*"));
        assert!(!may("^[a-z]"));
        assert!(!may("a*b-"));
    }
}
