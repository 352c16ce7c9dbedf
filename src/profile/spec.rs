//! The typed parameter schema of a tool (`ParamSpec`) and the checks a
//! value must pass against it: type, length, pattern, enum, range, path
//! shape. Pure functions over the profile model; used by the loader for
//! defaults and by `crate::policy::params` for calls.

use super::{ParamSpec, ParamType, ToolSpec};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

pub type Params = BTreeMap<String, Value>;

#[derive(Debug, Clone, Error, PartialEq)]
pub enum ParamError {
    #[error("parameter `{name}` is not known to tool `{tool}` (known: {known})")]
    Unknown {
        name: String,
        tool: String,
        known: String,
    },
    #[error("parameter `{name}` is required")]
    Missing { name: String },
    #[error("parameter `{name}`: expected {expected}, got {got}")]
    Type {
        name: String,
        expected: &'static str,
        got: String,
    },
    #[error("parameter `{name}`: value does not match pattern {pattern}")]
    Pattern { name: String, pattern: String },
    #[error("parameter `{name}`: value is not one of {allowed}")]
    Enum { name: String, allowed: String },
    #[error("parameter `{name}`: length {len} is outside {min}..={max}")]
    Length {
        name: String,
        len: usize,
        min: usize,
        max: usize,
    },
    #[error("parameter `{name}`: {value} is outside {min}..={max}")]
    Range {
        name: String,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("parameter `{name}`: {reason}")]
    Path { name: String, reason: &'static str },
    /// What the value names on this host cannot be bound (it does not exist, say).
    #[error("parameter `{name}`: {reason}")]
    NotOnHost { name: String, reason: String },
    #[error("parameter `{name}`: contains a NUL byte")]
    Nul { name: String },
    #[error("parameter `{name}`: the value starts with `-`, so the program would read it as an option (command element {element} is not after `--`; the tool's parameter spec can set allow_leading_dash = true)")]
    LeadingDash { name: String, element: usize },
    #[error("parameter `{name}`: value does not match pattern {pattern} (its pattern_with_params, filled from {from})")]
    CrossPattern {
        name: String,
        pattern: String,
        from: String,
    },
    #[error("tool `{tool}` takes no extra arguments after `--`")]
    ExtraNotAllowed { tool: String },
    #[error("extra argument {index} ({arg:?}) does not match pattern {pattern}")]
    ExtraPattern {
        index: usize,
        arg: String,
        pattern: String,
    },
    #[error("{count} extra arguments given; tool `{tool}` takes at most {max}")]
    TooManyExtra {
        tool: String,
        count: usize,
        max: usize,
    },
    #[error("parameter `{name}` is {size} bytes; tool `{tool}` takes at most {limit} bytes per value (max_value_size)")]
    TooLarge {
        name: String,
        tool: String,
        size: u64,
        limit: u64,
    },
    #[error("extra argument {index} is {size} bytes; tool `{tool}` takes at most {limit} bytes per value (max_value_size)")]
    ExtraTooLarge {
        index: usize,
        tool: String,
        size: u64,
        limit: u64,
    },
    #[error("the call's parameters and extra arguments are {size} bytes; tool `{tool}` takes at most {limit} bytes in all (max_call_size)")]
    CallTooLarge { tool: String, size: u64, limit: u64 },
    #[error("--params: {from} is larger than {limit} bytes")]
    InputTooLarge { from: String, limit: u64 },
    #[error("--param {0:?}: expected NAME=VALUE")]
    Syntax(String),
    #[error("--params: {0}")]
    Json(String),
}

impl ParamError {
    /// The parameter an error is about, when there is one.
    pub fn param(&self) -> Option<&str> {
        match self {
            ParamError::Unknown { name, .. }
            | ParamError::Missing { name }
            | ParamError::Type { name, .. }
            | ParamError::Pattern { name, .. }
            | ParamError::Enum { name, .. }
            | ParamError::Length { name, .. }
            | ParamError::Range { name, .. }
            | ParamError::Path { name, .. }
            | ParamError::NotOnHost { name, .. }
            | ParamError::Nul { name }
            | ParamError::TooLarge { name, .. }
            | ParamError::LeadingDash { name, .. }
            | ParamError::CrossPattern { name, .. } => Some(name),
            _ => None,
        }
    }
}

pub(crate) fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The text a value contributes to argv.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A command-line string becomes the parameter's type (`--param n=5` for an integer).
pub(crate) fn coerce(name: &str, spec: &ParamSpec, v: Value) -> Result<Value, ParamError> {
    let Value::String(s) = &v else { return Ok(v) };
    let bad = |expected| ParamError::Type {
        name: name.to_string(),
        expected,
        got: format!("{s:?}"),
    };
    Ok(match spec.kind {
        ParamType::Integer => Value::from(s.trim().parse::<i64>().map_err(|_| bad("an integer"))?),
        ParamType::Number => {
            let f: f64 = s.trim().parse().map_err(|_| bad("a number"))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| bad("a finite number"))?
        }
        ParamType::Boolean => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        ParamType::String | ParamType::Path => v,
    })
}

/// A call's path value without its trailing `/` (`/tmp/x/` is `/tmp/x`),
/// so that it is compared, bound and passed in one form; `/` itself, and a
/// value ending in `//` (refused by `check_value`), stay as they are.
pub(crate) fn normalize(spec: &ParamSpec, v: Value) -> Value {
    match &v {
        Value::String(s)
            if spec.kind == ParamType::Path
                && s.len() > 1
                && s.ends_with('/')
                && !s.ends_with("//") =>
        {
            Value::String(s[..s.len() - 1].to_string())
        }
        _ => v,
    }
}

pub(crate) fn full_match(pattern: &str, value: &str) -> bool {
    Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(value))
}

/// Checks one value against its spec (type, pattern, enum, length, range, path shape).
pub fn check_value(name: &str, spec: &ParamSpec, v: &Value) -> Result<(), ParamError> {
    let type_err = |expected| ParamError::Type {
        name: name.to_string(),
        expected,
        got: kind_of(v),
    };
    match (spec.kind, v) {
        (ParamType::String | ParamType::Path, Value::String(s)) => {
            if s.contains('\0') {
                return Err(ParamError::Nul { name: name.into() });
            }
            let len = s.chars().count();
            let (min, max) = (
                spec.min_length.unwrap_or(0),
                spec.max_length.unwrap_or(usize::MAX),
            );
            if len < min || len > max {
                return Err(ParamError::Length {
                    name: name.into(),
                    len,
                    min,
                    max,
                });
            }
            if let Some(p) = &spec.pattern {
                if !full_match(p, s) {
                    return Err(ParamError::Pattern {
                        name: name.into(),
                        pattern: p.clone(),
                    });
                }
            }
            if spec.kind == ParamType::Path {
                check_path(name, s)?;
            }
        }
        (ParamType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            check_range(name, spec, n.as_f64().unwrap_or(f64::NAN))?
        }
        (ParamType::Number, Value::Number(n)) => {
            check_range(name, spec, n.as_f64().unwrap_or(f64::NAN))?
        }
        (ParamType::Boolean, Value::Bool(_)) => {}
        (ParamType::String, _) => return Err(type_err("a string")),
        (ParamType::Path, _) => return Err(type_err("a path string")),
        (ParamType::Integer, _) => return Err(type_err("an integer")),
        (ParamType::Number, _) => return Err(type_err("a number")),
        (ParamType::Boolean, _) => return Err(type_err("true or false")),
    }
    if let Some(allowed) = &spec.allowed {
        let allowed: Vec<Value> = allowed.iter().map(crate::profile::toml_to_json).collect();
        if !allowed.iter().any(|a| values_equal(a, v)) {
            return Err(ParamError::Enum {
                name: name.into(),
                allowed: allowed
                    .iter()
                    .map(value_text)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// Fills the `{NAME}` placeholders of a `pattern_with_params` that name one
/// of `names`, each with `value(NAME)` regex-escaped; other braces (regex
/// repetitions such as `{1,63}`) stay. Returns the pattern and the names
/// used, or the first name that has no value.
pub fn fill_pattern<'a>(
    pattern: &str,
    names: &[&'a str],
    value: impl Fn(&str) -> Option<String>,
) -> Result<(String, Vec<&'a str>), String> {
    let mut out = String::new();
    let mut used = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after.find('}').map(|close| &after[..close]);
        match name.and_then(|n| names.iter().find(|m| **m == n)) {
            Some(&n) => {
                let v = value(n).ok_or_else(|| n.to_string())?;
                out.push_str(&regex::escape(&v));
                if !used.contains(&n) {
                    used.push(n);
                }
                rest = &after[n.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok((out, used))
}

/// The parameters that can start an option slot of the template (see
/// `crate::policy::params::check_option_slots`): (parameter, command element counted from 1).
pub fn option_slot_params(tool: &ToolSpec) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    for (i, element) in tool.command.iter().enumerate().skip(1) {
        if element == "--" {
            break;
        }
        let mut rest = element.as_str();
        while let Some(after) = rest.strip_prefix('{') {
            let Some(close) = after.find('}') else { break };
            let name = &after[..close];
            out.push((name, i + 1));
            // A later placeholder starts the element only when this value
            // can be empty.
            let can_be_empty = tool
                .params
                .get(name)
                .is_some_and(|s| s.min_length.unwrap_or(0) == 0);
            if !can_be_empty {
                break;
            }
            rest = &after[close + 1..];
        }
    }
    out
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn check_range(name: &str, spec: &ParamSpec, x: f64) -> Result<(), ParamError> {
    let (min, max) = (
        spec.min.unwrap_or(f64::NEG_INFINITY),
        spec.max.unwrap_or(f64::INFINITY),
    );
    if x.is_nan() || x < min || x > max {
        return Err(ParamError::Range {
            name: name.into(),
            value: x,
            min,
            max,
        });
    }
    Ok(())
}

fn check_path(name: &str, s: &str) -> Result<(), ParamError> {
    let err = |reason| ParamError::Path {
        name: name.into(),
        reason,
    };
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(err("must be an absolute path"));
    }
    for segment in s.split('/').skip(1) {
        match segment {
            ".." => return Err(err("must not contain `..`")),
            "." => return Err(err("must not contain `.`")),
            _ => {}
        }
    }
    if s.contains("//") {
        return Err(err("must not contain `//`"));
    }
    // A call's value has lost its trailing `/` already (`normalize`); a
    // default in the catalog is written without it.
    if s.len() > 1 && s.ends_with('/') {
        return Err(err("must not end with `/`"));
    }
    Ok(())
}
