//! The smaller commands: `profiles list|show|validate` and `doctor`.

use super::AppError;
use crate::cli::Format;
use crate::exit;
use crate::profile::{self, ProfileError, ProfileErrors, ProfileSource};
use crate::run::Context;
use crate::text::count;
use serde::Serialize;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

fn out(text: &str) -> Result<(), AppError> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(AppError::Output)
}

pub fn profiles_list(ctx: &Context, format: Format) -> Result<i32, AppError> {
    let set = ctx.load_profiles()?;
    match format {
        Format::Json => {
            let roles: Vec<_> = set
                .roles
                .values()
                .map(|r| json!({"role": r.name, "description": r.description, "allowed_tools": r.allowed_tools}))
                .collect();
            out(&format!(
                "{}\n",
                json!({"source": set.source.to_string(), "roles": roles})
            ))?;
        }
        Format::Text => {
            let mut s = format!("# from {}\n", set.source);
            for r in set.roles.values() {
                s.push_str(&format!("{:<24} {}\n", r.name, r.description));
            }
            out(&s)?;
        }
    }
    Ok(exit::OK)
}

pub fn profiles_show(ctx: &Context, role: &str, format: Format) -> Result<i32, AppError> {
    let set = ctx.load_profiles()?;
    let Some(r) = set.roles.get(role) else {
        return Err(AppError::Usage(format!(
            "unknown role `{role}`; known roles: {}",
            set.role_names().join(", ")
        )));
    };
    let r = filled_role(r);
    let tools: std::collections::BTreeMap<_, _> = r
        .allowed_tools
        .iter()
        .filter_map(|t| {
            set.catalog
                .tools
                .get(t)
                .map(|s| (t.clone(), filled_tool(s)))
        })
        .collect();
    match format {
        Format::Json => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"role": r.name, "profile": r, "tools": tools}))
                .unwrap_or_default()
        ))?,
        Format::Text => {
            #[derive(Serialize)]
            struct Tools<'a> {
                tools: &'a std::collections::BTreeMap<String, profile::ToolSpec>,
            }
            let text = toml::to_string_pretty(&r).unwrap_or_default();
            let tools = toml::to_string_pretty(&Tools { tools: &tools }).unwrap_or_default();
            out(&format!(
                "# role {} (from {}), every default filled in\n{text}\n\
                 # the allowed tools, as the catalog defines them, every default filled in\n{tools}",
                r.name, set.source
            ))?;
        }
    }
    Ok(exit::OK)
}

/// The role with the screening lists it leaves unset (the built-in ones) written out.
fn filled_role(r: &profile::Role) -> profile::Role {
    use crate::policy::screening as builtin;
    use profile::{InjectionAction, PatternRule};
    let mut r = r.clone();
    let s = &mut r.screening;
    s.injection_action.get_or_insert(InjectionAction::Deny);
    s.injection_patterns.get_or_insert_with(|| {
        builtin::DEFAULT_INJECTION_PATTERNS
            .iter()
            .map(|(_, re)| PatternRule::Plain(re.to_string()))
            .collect()
    });
    s.suspicious_values.get_or_insert_with(|| {
        builtin::DEFAULT_SUSPICIOUS_VALUES
            .iter()
            .map(|v| v.to_string())
            .collect()
    });
    s.suspicious_patterns.get_or_insert_with(|| {
        builtin::DEFAULT_SUSPICIOUS_PATTERNS
            .iter()
            .map(|(_, re)| re.to_string())
            .collect()
    });
    r
}

/// A tool's catalog entry with its defaults written out: risk class, which
/// parameters are required, the size limits.
fn filled_tool(t: &profile::ToolSpec) -> profile::ToolSpec {
    use crate::policy::params::{DEFAULT_MAX_CALL, DEFAULT_MAX_VALUE};
    let mut t = t.clone();
    t.risk = Some(t.risk_class());
    for p in t.params.values_mut() {
        p.required = Some(p.is_required());
    }
    t.max_value_size
        .get_or_insert_with(|| format!("{}Ki", DEFAULT_MAX_VALUE / 1024));
    t.max_call_size
        .get_or_insert_with(|| format!("{}Ki", DEFAULT_MAX_CALL / 1024));
    t
}

/// Validates directories (tools.toml + roles/) or single files; prints every error.
pub fn profiles_validate(ctx: &Context, paths: &[PathBuf]) -> Result<i32, AppError> {
    let mut errors: Vec<ProfileError> = Vec::new();
    let mut warnings = Vec::new();
    let mut checked = Vec::new();
    let mut collect = |r: Result<profile::ProfileSet, ProfileErrors>, label: String| match r {
        Ok(set) => {
            // Whether each allowed tool's program resolves here (`run` exits 127 or 126).
            let programs = crate::run::program_warnings(&set);
            let lints = profile::lint_warnings(&set);
            warnings.extend(set.warnings);
            warnings.extend(programs);
            warnings.extend(lints);
            checked.push(format!(
                "{label}: {}, {}",
                count(set.roles.len() as u64, "role"),
                count(set.catalog.tools.len() as u64, "tool")
            ));
        }
        Err(e) => errors.extend(e.0),
    };
    if paths.is_empty() {
        let dir = profile::locate(ctx.profiles.as_deref())?;
        let label = dir
            .as_ref()
            .map_or("bundled profiles".into(), |d| d.display().to_string());
        collect(profile::load(dir.as_deref()), label);
    }
    for p in paths {
        if p.is_dir() {
            collect(profile::load(Some(p)), p.display().to_string());
        } else {
            collect(validate_file(ctx, p), p.display().to_string());
        }
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if errors.is_empty() {
        out(&checked
            .iter()
            .map(|c| format!("ok: {c}\n"))
            .collect::<String>())?;
        Ok(exit::OK)
    } else {
        for e in &errors {
            eprintln!("error: {e}");
        }
        eprintln!("{}", count(errors.len() as u64, "error"));
        Ok(exit::CONFIG)
    }
}

/// A single file: a catalog if it has `[tools]` or is named tools.toml, else a
/// role checked against the `tools.toml` beside its `roles/` directory, or
/// the catalog in use when there is none.
fn validate_file(ctx: &Context, path: &Path) -> Result<profile::ProfileSet, ProfileErrors> {
    let read_err = |e: std::io::Error| {
        ProfileErrors(vec![ProfileError::Read {
            file: path.display().to_string(),
            message: e.to_string(),
        }])
    };
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    let label = path.display().to_string();
    let is_catalog = path.file_name().is_some_and(|n| n == "tools.toml")
        || text.lines().any(|l| l.trim_start().starts_with("[tools"));
    if is_catalog {
        return profile::build_set(
            ProfileSource::Directory(path.to_path_buf()),
            &label,
            &text,
            vec![],
            vec![],
        );
    }
    // A role beside a catalog (`DIR/roles/x.toml` with `DIR/tools.toml`) is
    // checked against that catalog; any other against the catalog in use.
    let sibling = path
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "roles"))
        .and_then(Path::parent)
        .map(|d| d.join("tools.toml"))
        .filter(|t| t.is_file());
    let in_use = match sibling {
        Some(t) => t.parent().map(Path::to_path_buf),
        None => profile::locate(ctx.profiles.as_deref())?,
    };
    let (catalog_label, catalog_text) = match in_use {
        Some(dir) => {
            let p = dir.join("tools.toml");
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).map_err(read_err)?,
            )
        }
        None => ("tools.toml".to_string(), profile::BUNDLED_TOOLS.to_string()),
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    profile::build_set(
        ProfileSource::Directory(path.to_path_buf()),
        &catalog_label,
        &catalog_text,
        vec![(label, name, text)],
        vec![],
    )
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    required: bool,
    detail: String,
    fix: Option<String>,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Tries to create the namespaces a run needs, in a throwaway child.
fn try_unshare() -> Result<(), String> {
    use nix::sys::wait::{waitpid, WaitStatus};
    let flags = crate::sandbox::namespaces::clone_flags(crate::sandbox::plan::NetworkMode::None);
    // SAFETY: single-threaded here; the child only calls unshare and _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = match nix::sched::unshare(flags) {
                Ok(()) => 0,
                Err(e) => e as i32,
            };
            // SAFETY: end the probe child without unwinding.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(WaitStatus::Exited(_, e)) => Err(nix::errno::Errno::from_raw(e).desc().to_string()),
            other => Err(format!("probe ended unexpectedly: {other:?}")),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// Whether a broker is configured (`AGENTJAIL_BROKER`, the system
/// configuration) and reachable; required when `require_broker` says so.
fn broker_check() -> Check {
    let flag = std::env::var_os("AGENTJAIL_BROKER").map(std::path::PathBuf::from);
    let route = super::broker_client::route(flag.as_deref());
    let (ok, required, detail, fix) = match route {
        Err(e) => (false, true, e.to_string(), None),
        Ok(None) => (
            true,
            false,
            "no broker configured: calls run in-process (the embedded mode)".to_string(),
            None,
        ),
        Ok(Some(r)) => {
            let up = crate::serve::server::reachable(&r.socket);
            (
                up,
                r.required,
                format!(
                    "broker at {} is {}{}",
                    r.socket.display(),
                    if up { "reachable" } else { "not reachable" },
                    if r.required {
                        format!(" ({})", r.why)
                    } else {
                        String::new()
                    }
                ),
                (!up)
                    .then(|| "start it with `agentjail serve`, or fix the socket path".to_string()),
            )
        }
    };
    Check {
        name: "broker",
        ok,
        required,
        detail,
        fix,
    }
}

/// The pool of prepared sandboxes: its default settings, and what one
/// prepared sandbox costs while it waits (measured by making one).
fn pool_check(sandbox_works: bool) -> Check {
    let d = crate::sandbox::pool::Settings::default();
    let settings = format!(
        "prepared sandboxes: {} per plan, {} plans by default (broker.toml [pool] size/plans; mcp serve --pool/--pool-plans; 0 turns them off)",
        d.size, d.plans
    );
    let measured = if sandbox_works {
        crate::sandbox::pool::idle_cost()
    } else {
        Err(crate::sandbox::SandboxError::NoStatus(
            "no sandbox can be made here".into(),
        ))
    };
    match measured {
        Ok(kib) => Check {
            name: "pool",
            ok: true,
            required: false,
            detail: format!(
                "{settings}; one idles at {kib} KiB (Pss of its pid 1 and armed tool process, measured now), so the defaults keep at most {:.1} MiB",
                (kib * (d.size * d.plans) as u64) as f64 / 1024.0
            ),
            fix: None,
        },
        Err(e) => Check {
            name: "pool",
            ok: false,
            required: false,
            detail: format!("{settings}; none could be prepared: {e}"),
            fix: Some("fix the namespaces check above; calls then run one-shot".into()),
        },
    }
}

pub fn doctor(ctx: &Context, json_out: bool) -> Result<i32, AppError> {
    let mut checks = Vec::new();
    let root = nix::unistd::geteuid().is_root();
    let max_ns = read_trim("/proc/sys/user/max_user_namespaces");
    let unpriv = read_trim("/proc/sys/kernel/unprivileged_userns_clone");
    let apparmor = read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let probe = try_unshare();
    let mut fix = None;
    if max_ns.as_deref() == Some("0") {
        fix = Some("sysctl -w user.max_user_namespaces=15000".to_string());
    } else if unpriv.as_deref() == Some("0") {
        fix = Some("sysctl -w kernel.unprivileged_userns_clone=1".to_string());
    } else if apparmor.as_deref() == Some("1") {
        fix = Some("install an AppArmor profile granting `userns` to agentjail, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0".to_string());
    }
    checks.push(Check {
        name: "namespaces",
        ok: probe.is_ok(),
        required: true,
        detail: match &probe {
            Ok(()) => format!(
                "user, mount, pid, net, ipc, uts and cgroup namespaces can be created (as {}; max_user_namespaces={})",
                if root { "root" } else { "an unprivileged user" },
                max_ns.as_deref().unwrap_or("?")
            ),
            Err(e) => format!("unshare failed: {e}"),
        },
        fix: if probe.is_ok() { None } else { fix.or(Some("enable user namespaces (CONFIG_USER_NS) and check the sysctls above".into())) },
    });
    let seccomp = crate::sandbox::seccomp_available();
    checks.push(Check {
        name: "seccomp",
        ok: seccomp,
        required: true,
        detail: if seccomp {
            "seccomp filters available".into()
        } else {
            "no seccomp support".into()
        },
        fix: (!seccomp).then(|| "boot a kernel with CONFIG_SECCOMP_FILTER=y".into()),
    });
    let abi = crate::sandbox::landlock::kernel_abi();
    checks.push(Check {
        name: "landlock",
        ok: abi > 0,
        required: true,
        detail: if abi > 0 {
            format!("Landlock ABI {abi} (agentjail uses up to 6, and 9 for unix sockets)")
        } else {
            "Landlock unavailable".into()
        },
        fix: (abi == 0).then(|| {
            "boot with CONFIG_SECURITY_LANDLOCK=y and add landlock to the lsm= kernel parameter"
                .into()
        }),
    });
    let unix_by_landlock = abi >= crate::sandbox::landlock::RESOLVE_UNIX_ABI;
    checks.push(Check {
        name: "unix_sockets",
        ok: true,
        required: false,
        detail: if unix_by_landlock {
            "pathname unix sockets: Landlock lets the tool connect only to its own /tmp and granted sockets".into()
        } else {
            "pathname unix sockets: seccomp denies AF_UNIX sockets (Landlock below ABI 9); a role's sandbox.unix_sockets = true lets the tool reach every socket it can see".into()
        },
        fix: None,
    });
    let groups = crate::sandbox::extra_groups();
    let groups_ok = root || groups.is_empty();
    checks.push(Check {
        name: "groups",
        ok: groups_ok,
        required: false,
        detail: if root {
            "supplementary groups are dropped (setgroups(0), as root)".into()
        } else if groups.is_empty() {
            "no supplementary groups to drop".into()
        } else {
            format!(
                "supplementary groups {groups:?} cannot be dropped by an unprivileged caller: runs are refused unless the role sets sandbox.supplementary_groups = \"keep\""
            )
        },
        fix: (!groups_ok).then(|| {
            "run agentjail without supplementary groups (or as root), or opt a role in with sandbox.supplementary_groups = \"keep\"".into()
        }),
    });
    let (ok, detail, fix) = crate::sandbox::cgroup::doctor_report(ctx.cgroup_parent.as_deref());
    checks.push(Check {
        name: "cgroup",
        ok,
        required: true,
        detail,
        fix,
    });
    checks.push(broker_check());
    checks.push(pool_check(probe.is_ok()));
    let all_ok = checks.iter().all(|c| c.ok || !c.required);
    if json_out {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"ok": all_ok, "checks": checks}))
                .unwrap_or_default()
        ))?;
    } else {
        let mut s = String::new();
        for c in &checks {
            s.push_str(&format!(
                "{:<4} {:<11} {}\n",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.detail
            ));
            if let Some(f) = &c.fix {
                s.push_str(&format!("     fix: {f}\n"));
            }
        }
        out(&s)?;
    }
    Ok(if all_ok { exit::OK } else { 1 })
}
