//! The parameters of one call: reading them from the command line and
//! JSON, resolving them against the tool's spec (defaults, coercion, the
//! checks of `crate::profile::spec`), extra arguments, and argv building
//! from the tool's template.
//!
//! A parameter value always fills exactly one argv element: there is no
//! shell, no word splitting and no glob expansion anywhere.

pub use crate::profile::spec::{check_value, value_text, ParamError, Params};
use crate::profile::spec::{coerce, fill_pattern, full_match, kind_of, normalize};
use crate::profile::{ParamSpec, ParamType, ToolSpec};
use serde_json::Value;
use std::collections::BTreeSet;

/// The largest parameter value or extra argument when the tool sets none.
pub const DEFAULT_MAX_VALUE: u64 = 64 * 1024;
/// The largest call (all values and extra arguments) when the tool sets none.
pub const DEFAULT_MAX_CALL: u64 = 256 * 1024;
/// The ceiling of `max_value_size`: under the kernel's 128 KiB per argv string.
pub const CEILING_MAX_VALUE: u64 = 120 * 1024;
/// The ceiling of `max_call_size`: under the kernel's 2 MiB for argv and environment.
pub const CEILING_MAX_CALL: u64 = 1024 * 1024;
/// The most `--params -` and `--params @FILE` read.
pub const MAX_PARAMS_INPUT: u64 = 8 * 1024 * 1024;

/// The bytes a value contributes: a string's own, anything else's JSON text.
pub fn value_size(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.len() as u64,
        other => other.to_string().len() as u64,
    }
}

/// A tool's size limits: (per value, per call).
pub fn size_limits(tool: &ToolSpec) -> (u64, u64) {
    let parse = |s: &Option<String>, default: u64| {
        s.as_deref()
            .and_then(|t| crate::units::parse_size(t).ok())
            .unwrap_or(default)
    };
    (
        parse(&tool.max_value_size, DEFAULT_MAX_VALUE),
        parse(&tool.max_call_size, DEFAULT_MAX_CALL),
    )
}

/// Refuses a call whose values are too large for the tool, before anything
/// else reads them.
pub fn check_sizes(
    tool_name: &str,
    tool: &ToolSpec,
    given: &Params,
    extra: &[String],
) -> Result<(), ParamError> {
    let (per_value, per_call) = size_limits(tool);
    let mut total = 0u64;
    for (name, v) in given {
        let size = value_size(v) + name.len() as u64;
        if size > per_value {
            return Err(ParamError::TooLarge {
                name: crate::text::shorten(name, 64),
                tool: tool_name.to_string(),
                size,
                limit: per_value,
            });
        }
        total += size;
    }
    for (index, a) in extra.iter().enumerate() {
        let size = a.len() as u64;
        if size > per_value {
            return Err(ParamError::ExtraTooLarge {
                index,
                tool: tool_name.to_string(),
                size,
                limit: per_value,
            });
        }
        total += size;
    }
    if total > per_call {
        return Err(ParamError::CallTooLarge {
            tool: tool_name.to_string(),
            size: total,
            limit: per_call,
        });
    }
    Ok(())
}

/// Parses `NAME=VALUE` from `--param`.
pub fn parse_assignment(text: &str) -> Result<(String, String), ParamError> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(ParamError::Syntax(text.to_string())),
    }
}

/// Parses the JSON object given with `--params`.
pub fn parse_json_object(text: &str) -> Result<Params, ParamError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ParamError::Json(e.to_string()))?;
    match v {
        Value::Object(m) => Ok(m.into_iter().collect()),
        other => Err(ParamError::Json(format!(
            "expected a JSON object of parameters, got {}",
            kind_of(&other)
        ))),
    }
}

/// Checks the given parameters against the tool: unknown names are refused,
/// missing required ones too; defaults fill the rest. A value whose name is
/// in `typed` came as JSON and must already have the parameter's type; the
/// others are command-line text (`--param n=5`), converted to it.
pub fn resolve(
    tool_name: &str,
    tool: &ToolSpec,
    given: Params,
    typed: &BTreeSet<String>,
) -> Result<Params, ParamError> {
    let mut out = Params::new();
    for (name, v) in given {
        let Some(spec) = tool.params.get(&name) else {
            return Err(ParamError::Unknown {
                name,
                tool: tool_name.into(),
                known: if tool.params.is_empty() {
                    "none".into()
                } else {
                    tool.params.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            });
        };
        let v = if typed.contains(&name) {
            refuse_quoted(&name, spec, &v)?;
            v
        } else {
            coerce(&name, spec, v)?
        };
        let v = normalize(spec, v);
        check_value(&name, spec, &v)?;
        out.insert(name, v);
    }
    for (name, spec) in &tool.params {
        if out.contains_key(name) {
            continue;
        }
        match &spec.default {
            Some(d) => {
                out.insert(name.clone(), crate::profile::toml_to_json(d));
            }
            None if spec.is_required() => return Err(ParamError::Missing { name: name.clone() }),
            None => {}
        }
    }
    Ok(out)
}

/// A JSON string where the parameter takes a number or a boolean is
/// refused, saying how to write it, even when its text would convert:
/// `--params` values keep their JSON type.
fn refuse_quoted(name: &str, spec: &ParamSpec, v: &Value) -> Result<(), ParamError> {
    let Value::String(s) = v else { return Ok(()) };
    if matches!(spec.kind, ParamType::String | ParamType::Path) {
        return Ok(());
    }
    let expected = match spec.kind {
        ParamType::Integer => "an integer",
        ParamType::Number => "a number",
        _ => "true or false",
    };
    let hint = match coerce(name, spec, v.clone()) {
        Ok(typed) => format!("; write {typed} without quotes"),
        Err(_) => String::new(),
    };
    Err(ParamError::Type {
        name: name.to_string(),
        expected,
        got: format!("the string {s:?} (--params values keep their JSON type{hint})"),
    })
}

/// Checks each `pattern_with_params`: the value against a pattern filled with
/// the other parameters' values (after their own checks). A parameter the
/// pattern names that has no value fails it.
pub fn check_cross(tool: &ToolSpec, params: &Params) -> Result<(), ParamError> {
    let names: Vec<&str> = tool.params.keys().map(String::as_str).collect();
    for (name, spec) in &tool.params {
        let (Some(pattern), Some(v)) = (&spec.pattern_with_params, params.get(name)) else {
            continue;
        };
        let filled = fill_pattern(pattern, &names, |n| params.get(n).map(value_text));
        let fail = |pattern: String, from: String| ParamError::CrossPattern {
            name: name.clone(),
            pattern,
            from,
        };
        match filled {
            Ok((p, used)) => {
                if !full_match(&p, &value_text(v)) {
                    let from = used
                        .iter()
                        .map(|u| {
                            format!(
                                "`{u}` = {:?}",
                                params.get(*u).map(value_text).unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(fail(pattern.clone(), from));
                }
            }
            Err(missing) => {
                return Err(fail(
                    pattern.clone(),
                    format!("`{missing}`, which has no value"),
                ))
            }
        }
    }
    Ok(())
}

/// Refuses a value that the program would read as an option: one that
/// starts a command element (after empty values before it) that is not
/// after a `--` element, unless its spec has `allow_leading_dash`.
pub fn check_option_slots(tool: &ToolSpec, params: &Params) -> Result<(), ParamError> {
    for (i, element) in tool.command.iter().enumerate().skip(1) {
        if element == "--" {
            break;
        }
        if let Some(name) = option_slot(element, params) {
            let allowed = tool.params.get(name).is_some_and(|s| s.allow_leading_dash);
            if !allowed {
                return Err(ParamError::LeadingDash {
                    name: name.to_string(),
                    element: i + 1,
                });
            }
        }
    }
    Ok(())
}

/// The parameter whose value starts `element`, when that value starts with
/// `-`. Parameters with empty values before it are skipped.
fn option_slot<'a>(element: &'a str, params: &Params) -> Option<&'a str> {
    let mut rest = element;
    while let Some(after) = rest.strip_prefix('{') {
        let close = after.find('}')?;
        let name = &after[..close];
        let text = params.get(name).map(value_text)?;
        if text.starts_with('-') {
            return Some(name);
        }
        if !text.is_empty() {
            return None;
        }
        rest = &after[close + 1..];
    }
    None
}

/// Checks the arguments given after `--` against the tool's rule.
pub fn check_extra_args(
    tool_name: &str,
    tool: &ToolSpec,
    extra: &[String],
) -> Result<(), ParamError> {
    if extra.is_empty() {
        return Ok(());
    }
    let Some(rule) = &tool.extra_args else {
        return Err(ParamError::ExtraNotAllowed {
            tool: tool_name.into(),
        });
    };
    if extra.len() > rule.max {
        return Err(ParamError::TooManyExtra {
            tool: tool_name.into(),
            count: extra.len(),
            max: rule.max,
        });
    }
    for (i, arg) in extra.iter().enumerate() {
        if arg.contains('\0') || !full_match(&rule.pattern, arg) {
            return Err(ParamError::ExtraPattern {
                index: i + 1,
                arg: crate::text::shorten(arg, 200),
                pattern: rule.pattern.clone(),
            });
        }
    }
    Ok(())
}

/// Fills one template element in a single pass: text that a value brings in
/// is never scanned for placeholders again.
fn fill(element: &str, params: &Params) -> String {
    let mut out = String::new();
    let mut rest = element;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match params.get(name) {
                    Some(v) => out.push_str(&value_text(v)),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Builds the argv: the template with each element filled, then the extra arguments.
pub fn build_argv(tool: &ToolSpec, params: &Params, extra: &[String]) -> Vec<String> {
    tool.command
        .iter()
        .map(|e| fill(e, params))
        .chain(extra.iter().cloned())
        .collect()
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
