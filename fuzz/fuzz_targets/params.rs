//! What the agent controls in a call: `--params` JSON (`parse_json_object`),
//! resolved against a small fixed tool spec (`resolve`: coercion, patterns,
//! enums, lengths, ranges, path shape, defaults), extra arguments
//! (`check_extra_args`), the argv (`build_argv`), screening
//! (`screen_injection`, `screen_suspicious`) and the whole decision
//! (`policy::decide`) for the fixed role.
//!
//! Input: the tool's name on the first line, the `--params` JSON on the
//! second, one extra argument on each further line.
#![no_main]

use agentjail::policy::params::Params;
use agentjail::policy::params::{
    build_argv, check_extra_args, check_value, parse_assignment, parse_json_object, resolve,
};
use agentjail::policy::screening::{screen_injection, screen_suspicious};
use agentjail::policy::{decide, Outcome, ToolCall};
use agentjail::profile::{build_set, ProfileSet, ProfileSource, ToolSpec};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const TOOLS: &str = r#"
[tools.echo]
risk = "read"
command = ["echo", "{text}", "n={count}", "{ratio}", "--verbose={verbose}", "{dir}/{name}", "{mode}"]
params.text = { type = "string", max_length = 4096 }
params.count = { type = "integer", min = 0, max = 1000, default = 1 }
params.ratio = { type = "number", min = -1.5, max = 1e9, default = 0.5 }
params.verbose = { type = "boolean", default = false }
params.dir = { type = "path", access = "paths", default = "/tmp" }
params.name = { type = "string", pattern = "[A-Za-z0-9._-]{1,64}", min_length = 1, default = "out.txt" }
params.mode = { type = "string", enum = ["fast", "slow"], default = "fast" }
params.note = { type = "string", required = false }
extra_args = { pattern = "-{0,2}[a-z][a-z0-9-]*(=[A-Za-z0-9._/-]*)?", max = 4 }

[tools.remove]
risk = "delete"
command = ["rm", "--", "{path}"]
params.path = { type = "path", access = "writable_dirs" }

[tools.plain]
risk = "read"
command = ["true"]
"#;

const ROLE: &str = r#"
allowed_tools = ["echo", "remove", "plain"]
[data_access]
paths = ["/tmp", "/usr/share"]
writable_dirs = ["/tmp"]
[screening]
injection_patterns = [
  "ignore (all )?previous instructions",
  { pattern = "you are now", action = "filter" },
  { pattern = "<\\s*system\\s*>", action = "flag" },
]
"#;

fn set() -> &'static ProfileSet {
    static SET: OnceLock<ProfileSet> = OnceLock::new();
    SET.get_or_init(|| {
        build_set(
            ProfileSource::Bundled,
            "tools.toml",
            TOOLS,
            vec![("fuzz.toml".into(), "fuzz".into(), ROLE.into())],
            Vec::new(),
        )
        .unwrap_or_else(|e| panic!("the fixed profile is invalid: {e:?}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let tool_name = lines.next().unwrap_or_default();
    let json = lines.next().unwrap_or_default();
    let mut extra: Vec<String> = lines.map(str::to_string).collect();
    let _ = parse_assignment(json);

    let set = set();
    let role = &set.roles["fuzz"];
    let Ok(given) = parse_json_object(json) else {
        return;
    };
    let Some(tool) = set.catalog.tools.get(tool_name) else {
        // `decide` stops at an unknown tool: screen here.
        let mut given = given;
        screen_injection(&role.screening, &mut given, &mut extra);
        screen_suspicious(&role.screening, &given, &extra);
        return;
    };

    // The whole decision: screening, resolve, extra arguments, data
    // access, argv.
    // Values from --params JSON keep their JSON type.
    let typed: std::collections::BTreeSet<String> = given.keys().cloned().collect();
    let call = ToolCall {
        role: "fuzz".into(),
        tool: tool_name.into(),
        params: given.clone(),
        extra_args: extra.clone(),
        json_params: typed.clone(),
    };
    let decision = decide(set, &call);
    if matches!(decision.outcome, Outcome::Allow | Outcome::NeedsApproval) {
        check_resolved(tool, &decision.params);
        // One element per template element, then the extra arguments.
        assert_eq!(decision.argv.len(), tool.command.len() + extra.len());
    }

    // The same steps on the values as given (screening may have filtered
    // them in the decision).
    let Ok(params) = resolve(tool_name, tool, given, &typed) else {
        return;
    };
    check_resolved(tool, &params);
    if check_extra_args(tool_name, tool, &extra).is_err() {
        return;
    }
    let argv = build_argv(tool, &params, &extra);
    assert_eq!(argv.len(), tool.command.len() + extra.len());
    assert_eq!(&argv[tool.command.len()..], &extra[..]);
});

/// Resolved values are ones their specs accept.
fn check_resolved(tool: &ToolSpec, params: &Params) {
    for (name, v) in params {
        if let Err(e) = check_value(name, &tool.params[name], v) {
            panic!("resolved {name} = {v} fails its own check: {e}");
        }
    }
}
