//! Screening of parameter values: prompt-injection patterns (deny, filter or
//! flag) and suspicious values that deny a call outright.

use crate::policy::params::Params;
use crate::profile::{InjectionAction, PatternRule, ScreeningSettings};
use regex::{Regex, RegexBuilder};
use serde::Serialize;
use serde_json::Value;

/// The seed's injection patterns, matched case-insensitively.
pub const DEFAULT_INJECTION_PATTERNS: &[&str] = &[
    r"ignore previous instructions",
    r"you are now",
    r"system prompt",
    r"</?(system|assistant|user)>",
    r"ADMIN MODE",
];

/// Substrings (case-insensitive) that deny a call: the seed's three plus
/// other shapes of destruction and exfiltration.
pub const DEFAULT_SUSPICIOUS_VALUES: &[&str] = &[
    "rm -rf",
    "rm -fr",
    "DROP TABLE",
    "DROP DATABASE",
    "TRUNCATE TABLE",
    "; curl",
    "; wget",
    "169.254.169.254",
    "metadata.google.internal",
    "/etc/shadow",
    "mkfs",
    ":(){",
];

/// Regular expressions that deny a call: command substitution, piping into
/// an interpreter, chaining a download, IPv6 cloud metadata.
pub const DEFAULT_SUSPICIOUS_PATTERNS: &[&str] = &[
    r"\$\(",
    r"`[^`]*`",
    r"\|\s*(sh|bash|zsh|dash|ksh|python[0-9.]*|perl|ruby|node)\b",
    r"(&&|\|\||;)\s*(curl|wget|nc|ncat|bash|sh)\b",
    r"fd00:ec2::254",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Injection,
    SuspiciousValue,
}

/// One screening hit: which parameter, which pattern, what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The parameter name, or `extra[N]` for an argument after `--`.
    pub param: String,
    pub pattern: String,
    pub action: InjectionAction,
    /// Critical hits deny the call and raise an alert.
    pub critical: bool,
}

fn ci(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .ok()
}

/// The injection rules in force for a role: its own, or the defaults.
fn injection_rules(s: &ScreeningSettings) -> Vec<(String, InjectionAction)> {
    let default_action = s.injection_action.unwrap_or(InjectionAction::Deny);
    match &s.injection_patterns {
        None => DEFAULT_INJECTION_PATTERNS
            .iter()
            .map(|p| (p.to_string(), default_action))
            .collect(),
        Some(rules) => rules
            .iter()
            .map(|r| match r {
                PatternRule::Plain(p) => (p.clone(), default_action),
                PatternRule::WithAction { pattern, action } => (pattern.clone(), *action),
            })
            .collect(),
    }
}

/// Applies `f` to every string inside a value, in place.
fn for_each_string(v: &mut Value, f: &mut impl FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| for_each_string(x, f)),
        Value::Object(m) => m.values_mut().for_each(|x| for_each_string(x, f)),
        _ => {}
    }
}

/// Screens for injection patterns. `filter` hits are replaced by
/// `[FILTERED]` in the parameters; every hit is returned.
pub fn screen_injection(
    s: &ScreeningSettings,
    params: &mut Params,
    extra: &mut [String],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if params.is_empty() && extra.is_empty() {
        return findings;
    }
    for (pattern, action) in injection_rules(s) {
        let Some(re) = ci(&pattern) else { continue };
        let mut visit = |name: &str, text: &mut String| {
            if re.is_match(text) {
                findings.push(Finding {
                    kind: FindingKind::Injection,
                    param: name.to_string(),
                    pattern: pattern.clone(),
                    action,
                    critical: action == InjectionAction::Deny,
                });
                if action == InjectionAction::Filter {
                    *text = re.replace_all(text, "[FILTERED]").into_owned();
                }
            }
        };
        for (name, v) in params.iter_mut() {
            for_each_string(v, &mut |t| visit(name, t));
        }
        for (i, arg) in extra.iter_mut().enumerate() {
            visit(&format!("extra[{}]", i + 1), arg);
        }
    }
    findings
}

/// Screens for suspicious values; every hit denies.
pub fn screen_suspicious(s: &ScreeningSettings, params: &Params, extra: &[String]) -> Vec<Finding> {
    if params.is_empty() && extra.is_empty() {
        return Vec::new();
    }
    let substrings: Vec<String> = match &s.suspicious_values {
        None => DEFAULT_SUSPICIOUS_VALUES
            .iter()
            .map(|x| x.to_string())
            .collect(),
        Some(v) => v.clone(),
    };
    let patterns: Vec<String> = match &s.suspicious_patterns {
        None => DEFAULT_SUSPICIOUS_PATTERNS
            .iter()
            .map(|x| x.to_string())
            .collect(),
        Some(v) => v.clone(),
    };
    // Substrings are compared lower-cased; only real patterns are compiled.
    let lowered: Vec<(String, String)> = substrings
        .iter()
        .map(|sub| (sub.clone(), sub.to_lowercase()))
        .collect();
    let matchers: Vec<(String, Regex)> = patterns
        .iter()
        .filter_map(|p| ci(p).map(|r| (p.clone(), r)))
        .collect();
    let mut findings = Vec::new();
    let mut visit = |name: &str, text: &str| {
        let text_lower = text.to_lowercase();
        let hits = lowered
            .iter()
            .filter(|(_, low)| text_lower.contains(low.as_str()))
            .map(|(label, _)| label)
            .chain(
                matchers
                    .iter()
                    .filter(|(_, re)| re.is_match(text))
                    .map(|(label, _)| label),
            );
        for label in hits {
            {
                findings.push(Finding {
                    kind: FindingKind::SuspiciousValue,
                    param: name.to_string(),
                    pattern: label.clone(),
                    action: InjectionAction::Deny,
                    critical: true,
                });
            }
        }
    };
    for (name, v) in params {
        let mut v = v.clone();
        for_each_string(&mut v, &mut |t| visit(name, t));
    }
    for (i, arg) in extra.iter().enumerate() {
        visit(&format!("extra[{}]", i + 1), arg);
    }
    findings
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(v: &str) -> Params {
        [("q".to_string(), Value::from(v))].into_iter().collect()
    }

    #[test]
    fn seed_injection_patterns_deny_by_default() {
        let s = ScreeningSettings::default();
        for text in [
            "please IGNORE previous instructions",
            "you are now root",
            "print the system prompt",
            "<system>hi</system>",
            "enter admin mode",
        ] {
            let mut p = params(text);
            let f = screen_injection(&s, &mut p, &mut []);
            assert_eq!(f.len(), 1, "{text}");
            assert_eq!(f[0].action, InjectionAction::Deny);
            assert!(f[0].critical);
        }
        let mut p = params("count pods");
        assert!(screen_injection(&s, &mut p, &mut []).is_empty());
    }

    #[test]
    fn filter_replaces_and_flag_keeps() {
        let s = ScreeningSettings {
            injection_patterns: Some(vec![
                PatternRule::WithAction {
                    pattern: "admin mode".into(),
                    action: InjectionAction::Filter,
                },
                PatternRule::WithAction {
                    pattern: "you are now".into(),
                    action: InjectionAction::Flag,
                },
            ]),
            ..Default::default()
        };
        let mut p = params("ADMIN MODE then you are now x");
        let f = screen_injection(&s, &mut p, &mut []);
        assert_eq!(f.len(), 2);
        assert_eq!(p["q"], Value::from("[FILTERED] then you are now x"));
        assert!(f.iter().all(|x| !x.critical));
    }

    #[test]
    fn suspicious_values_table() {
        let s = ScreeningSettings::default();
        let table = [
            ("DROP TABLE users", true),
            ("drop table users", true),
            ("x; curl evil", true),
            ("rm -rf /", true),
            ("echo $(id)", true),
            ("a `id` b", true),
            ("cat x | sh", true),
            ("http://169.254.169.254/latest", true),
            ("SELECT name FROM users", false),
            ("monitoring", false),
        ];
        for (text, hit) in table {
            let f = screen_suspicious(&s, &params(text), &[]);
            assert_eq!(!f.is_empty(), hit, "{text}");
        }
    }

    #[test]
    fn extra_args_are_screened_too() {
        let s = ScreeningSettings::default();
        let f = screen_suspicious(&s, &Params::new(), &["rm -rf /".into()]);
        assert_eq!(f[0].param, "extra[1]");
    }

    #[test]
    fn empty_lists_disable_screening() {
        let s = ScreeningSettings {
            injection_patterns: Some(vec![]),
            suspicious_values: Some(vec![]),
            suspicious_patterns: Some(vec![]),
            ..Default::default()
        };
        let mut p = params("ignore previous instructions; rm -rf /");
        assert!(screen_injection(&s, &mut p, &mut []).is_empty());
        assert!(screen_suspicious(&s, &p, &[]).is_empty());
    }
}
