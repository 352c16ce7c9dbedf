//! A catalog tool as MCP describes it: the `inputSchema` generated from its
//! parameter specs and the `annotations` its risk class implies.
//!
//! The schema says what `crate::policy::params` will enforce (types,
//! required, defaults, whole-value patterns, enums, lengths, ranges, no
//! unknown properties); it is a guide for the client, the policy still
//! checks every call.

use crate::profile::{toml_to_json, ParamSpec, ParamType, RiskClass, ToolSpec};
use serde_json::{json, Map, Value};

/// The `tools/list` entry of catalog tool `name`.
pub fn tool_entry(name: &str, tool: &ToolSpec) -> Value {
    let risk = tool.risk_class();
    let mut description = tool.description.clone();
    if description.is_empty() {
        description = format!("catalog tool `{name}`");
    }
    description.push_str(&format!(" (risk class: {risk}"));
    if matches!(risk, RiskClass::Delete | RiskClass::External) {
        description.push_str("; needs a human's approval for each call");
    }
    description.push(')');
    json!({
        "name": name,
        "title": name,
        "description": description,
        "inputSchema": input_schema(tool),
        "annotations": annotations(name, risk),
    })
}

/// The argument that carries a tool's extra arguments, when its catalog
/// entry allows them (`extra_args`) and no parameter has the name.
pub const EXTRA_ARGS: &str = "extra_args";

/// Whether `tool` takes extra arguments over MCP (as [`EXTRA_ARGS`]).
pub fn takes_extra_args(tool: &ToolSpec) -> bool {
    tool.extra_args.is_some() && !tool.params.contains_key(EXTRA_ARGS)
}

/// The JSON Schema of a tool's parameters (and of its extra arguments).
pub fn input_schema(tool: &ToolSpec) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, spec) in &tool.params {
        properties.insert(name.clone(), param_schema(spec));
        if spec.is_required() {
            required.push(Value::String(name.clone()));
        }
    }
    if let (Some(rule), true) = (&tool.extra_args, takes_extra_args(tool)) {
        properties.insert(
            EXTRA_ARGS.into(),
            json!({
                "type": "array",
                "items": {"type": "string", "pattern": format!("^(?:{})$", rule.pattern)},
                "maxItems": rule.max,
                "description": "extra arguments appended to the command, each one argument",
            }),
        );
    }
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    schema
}

/// The schema of one parameter.
fn param_schema(spec: &ParamSpec) -> Value {
    let mut s = Map::new();
    let kind = match spec.kind {
        ParamType::String | ParamType::Path => "string",
        ParamType::Integer => "integer",
        ParamType::Number => "number",
        ParamType::Boolean => "boolean",
    };
    s.insert("type".into(), json!(kind));
    let mut description = spec.description.clone();
    if spec.kind == ParamType::Path {
        let note = "an absolute path (normalised; `..` is refused)";
        description = if description.is_empty() {
            note.to_string()
        } else {
            format!("{description}; {note}")
        };
    }
    if let Some(access) = &spec.access {
        description.push_str(&format!(
            "{}must be allowed by the role's data_access.{access}",
            if description.is_empty() { "" } else { "; " }
        ));
    }
    if !description.is_empty() {
        s.insert("description".into(), json!(description));
    }
    if let Some(d) = &spec.default {
        s.insert("default".into(), toml_to_json(d));
    }
    if let Some(p) = &spec.pattern {
        // The policy matches the whole value; JSON Schema patterns match anywhere.
        s.insert("pattern".into(), json!(format!("^(?:{p})$")));
    }
    if let Some(values) = &spec.allowed {
        s.insert(
            "enum".into(),
            Value::Array(values.iter().map(toml_to_json).collect()),
        );
    }
    if let Some(n) = spec.min_length {
        s.insert("minLength".into(), json!(n));
    }
    if let Some(n) = spec.max_length {
        s.insert("maxLength".into(), json!(n));
    }
    let number = |x: f64| match spec.kind {
        ParamType::Integer if x.fract() == 0.0 && x.abs() < 9.0e15 => json!(x as i64),
        _ => json!(x),
    };
    if let Some(x) = spec.min {
        s.insert("minimum".into(), number(x));
    }
    if let Some(x) = spec.max {
        s.insert("maximum".into(), number(x));
    }
    Value::Object(s)
}

/// MCP's tool annotations for a risk class (hints for the client; the
/// policy decides).
pub fn annotations(name: &str, risk: RiskClass) -> Value {
    let (read_only, destructive, open_world) = match risk {
        RiskClass::Read => (true, false, false),
        RiskClass::Modify => (false, false, false),
        RiskClass::Delete => (false, true, false),
        RiskClass::External => (false, true, true),
    };
    let mut a = json!({
        "title": name,
        "readOnlyHint": read_only,
        "openWorldHint": open_world,
    });
    if !read_only {
        // Only meaningful when not read-only (the spec's wording).
        a["destructiveHint"] = json!(destructive);
        a["idempotentHint"] = json!(false);
    }
    a
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tool(text: &str) -> ToolSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn schema_carries_every_constraint() {
        let t = tool(
            r#"
command = ["x", "{a}", "{n}", "{mode}"]
params.a = { type = "string", pattern = "[a-z]+", min_length = 1, max_length = 9, description = "word" }
params.n = { type = "integer", min = 0, max = 10, default = 3 }
params.mode = { type = "string", enum = ["fast", "slow"] }
params.p = { type = "path", required = false }
"#,
        );
        let s = input_schema(&t);
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["required"], json!(["a", "mode"]));
        let a = &s["properties"]["a"];
        assert_eq!(a["pattern"], json!("^(?:[a-z]+)$"));
        assert_eq!(a["minLength"], json!(1));
        assert_eq!(a["maxLength"], json!(9));
        assert_eq!(a["description"], json!("word"));
        let n = &s["properties"]["n"];
        assert_eq!(n["type"], json!("integer"));
        assert_eq!(n["minimum"], json!(0));
        assert_eq!(n["maximum"], json!(10));
        assert_eq!(n["default"], json!(3));
        assert_eq!(s["properties"]["mode"]["enum"], json!(["fast", "slow"]));
        assert_eq!(s["properties"]["p"]["type"], json!("string"));
    }

    #[test]
    fn extra_args_are_an_array_with_the_catalogs_rules() {
        let t = tool(
            "command = [\"ls\"]\nextra_args = { pattern = \"-[a-z]\", max = 2 }\nparams.a = { type = \"string\" }",
        );
        let s = input_schema(&t);
        let x = &s["properties"]["extra_args"];
        assert_eq!(x["type"], json!("array"));
        assert_eq!(x["maxItems"], json!(2));
        assert_eq!(x["items"]["pattern"], json!("^(?:-[a-z])$"));
        assert!(s["required"]
            .as_array()
            .map_or(true, |r| !r.contains(&json!("extra_args"))));
        let plain = input_schema(&tool("command = [\"ls\"]"));
        assert!(plain["properties"].get("extra_args").is_none());
        // A parameter of that name wins: no extra arguments over MCP.
        let named = tool(
            "command = [\"ls\", \"{extra_args}\"]\nextra_args = { pattern = \"x\" }\nparams.extra_args = { type = \"string\" }",
        );
        assert!(!takes_extra_args(&named));
        assert_eq!(
            input_schema(&named)["properties"]["extra_args"]["type"],
            json!("string")
        );
    }

    #[test]
    fn no_params_is_an_empty_closed_object() {
        let s = input_schema(&tool(r#"command = ["true"]"#));
        assert_eq!(
            s,
            json!({"type": "object", "properties": {}, "additionalProperties": false})
        );
    }

    #[test]
    fn annotations_follow_the_risk_class() {
        let a = annotations("t", RiskClass::Read);
        assert_eq!(a["readOnlyHint"], json!(true));
        assert!(a.get("destructiveHint").is_none());
        let a = annotations("t", RiskClass::Modify);
        assert_eq!(a["readOnlyHint"], json!(false));
        assert_eq!(a["destructiveHint"], json!(false));
        let a = annotations("t", RiskClass::Delete);
        assert_eq!(a["destructiveHint"], json!(true));
        assert_eq!(a["openWorldHint"], json!(false));
        let a = annotations("t", RiskClass::External);
        assert_eq!(a["openWorldHint"], json!(true));
    }

    #[test]
    fn a_tool_without_risk_is_described_as_delete() {
        let e = tool_entry("t", &tool(r#"command = ["true"]"#));
        assert_eq!(e["annotations"]["destructiveHint"], json!(true));
        assert!(e["description"].as_str().unwrap().contains("approval"));
    }
}
