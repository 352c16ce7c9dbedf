//! What a call needs from this host before it can run: every bound path
//! exists and is a directory or a regular file (else bad parameters, 65),
//! and each allowed tool's program resolves (`profiles validate` warns).

use super::*;

/// A path parameter the sandbox binds must name, on this host, something a
/// path parameter binds: a directory or a regular file. A missing path (or a
/// socket, a FIFO, a device node, a symbolic link) is bad parameters (65),
/// found before the state, the budget or the sandbox is touched. Only a call
/// the policy let through is looked at, so only paths its data access allows.
pub(super) fn check_bound_paths(set: &ProfileSet, call: &ToolCall, d: &mut Decision) {
    use std::os::unix::fs::FileTypeExt;
    if !matches!(d.outcome, Outcome::Allow | Outcome::NeedsApproval) {
        return;
    }
    let Some(tool) = set.catalog.tools.get(&call.tool) else {
        return;
    };
    for (name, spec) in &tool.params {
        if spec.kind != profile::ParamType::Path || spec.bind.is_none() {
            continue;
        }
        let Some(value) = d.params.get(name) else {
            continue;
        };
        let path = policy::params::value_text(value);
        // A default the call did not give is named as such: the caller can give another.
        let default = if call.params.contains_key(name) {
            String::new()
        } else {
            format!(" (the tool's default; give --param {name}=PATH)")
        };
        let found = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() || m.is_file() => continue,
            Ok(m) => {
                let t = m.file_type();
                if t.is_symlink() {
                    "a symbolic link"
                } else if t.is_socket() {
                    "a socket"
                } else if t.is_fifo() {
                    "a FIFO"
                } else if t.is_char_device() || t.is_block_device() {
                    "a device node"
                } else {
                    "a special file"
                }
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                let e = policy::params::ParamError::NotOnHost {
                    name: name.clone(),
                    reason: format!("{path} does not exist{default}"),
                };
                return bad_parameter(d, e);
            }
            // Anything else (a permission, say) is the launch's to report.
            Err(_) => continue,
        };
        let e = policy::params::ParamError::NotOnHost {
            name: name.clone(),
            reason: format!(
                "{path} is {found}; a path parameter binds only a directory or a regular file{default}"
            ),
        };
        return bad_parameter(d, e);
    }
}

/// Turns `d` into bad parameters for `e`, as the policy's own refusal reads.
fn bad_parameter(d: &mut Decision, e: policy::params::ParamError) {
    d.outcome = Outcome::BadParameters;
    d.reasons = vec![policy::Reason {
        rule: "bad_parameter",
        message: e.to_string(),
    }];
    d.params.clear();
    d.argv.clear();
    d.parameter_error = Some(e);
}

/// For `profiles validate`: each tool some role allows whose program does
/// not resolve on this host (`run` would exit 127 or 126), once per tool
/// and problem, with the roles. Resolved with each role's sandbox (its
/// binds can hold a program), without the call's path parameters.
pub fn program_warnings(set: &ProfileSet) -> Vec<String> {
    let mut found: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for (role_name, role) in &set.roles {
        for tool_name in &role.allowed_tools {
            let Some(tool) = set.catalog.tools.get(tool_name) else {
                continue;
            };
            let Some(program) = tool.command.first() else {
                continue;
            };
            let d = Decision {
                outcome: Outcome::Allow,
                reasons: Vec::new(),
                risk: None,
                params: Default::default(),
                argv: vec![program.clone()],
                findings: Vec::new(),
                parameter_error: None,
            };
            let Ok(p) = plan::build(role, tool, &d, Vec::new()) else {
                continue;
            };
            if let Err(e) = sandbox::resolve_program(&p) {
                let e = CallError::Resolve(e);
                let why = format!("{e} on this host, so `run` would exit {}", e.exit_code());
                found
                    .entry((tool_name.clone(), why))
                    .or_default()
                    .push(role_name.clone());
            }
        }
    }
    found
        .into_iter()
        .map(|((tool, why), roles)| {
            let label = if roles.len() == 1 { "role" } else { "roles" };
            format!("tool `{tool}` ({label} {}): {why}", roles.join(", "))
        })
        .collect()
}
