//! `agentjail profiles diff OLD NEW`: what a change of profiles grants or
//! revokes, per role (the comparison is `profile::diff`). OLD and NEW are
//! profile directories or `git:REV:PATH`, read with the git binary
//! (`git ls-tree`, `git show`) into a private temporary directory.

use super::profiles_test::ScratchDir;
use super::{AppError, Format};
use crate::exit;
use crate::profile::{self, diff};
use std::io::Write;
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Result<Vec<u8>, AppError> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| AppError::Config(format!("running git: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(AppError::Config(format!(
            "git {}: {}",
            args.join(" "),
            crate::text::printable(err.lines().next().unwrap_or("failed"))
        )));
    }
    Ok(out.stdout)
}

/// Copies the `.toml` files of PATH at REV into a new temporary directory.
fn from_git(spec: &str, rev: &str, path: &str) -> Result<ScratchDir, AppError> {
    if rev.is_empty() || rev.starts_with('-') {
        return Err(AppError::Usage(format!("{spec}: expected git:REV:PATH")));
    }
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "." } else { path };
    let listing = git(&["ls-tree", "-r", "-z", "--name-only", rev, "--", path])?;
    let tmp = std::env::temp_dir();
    let tree = ScratchDir::new(&[tmp.as_path()], "agentjail-diff")?;
    let mut found = 0;
    for name in listing.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let rel = if path == "." {
            name.as_str()
        } else {
            match name.strip_prefix(&format!("{path}/")) {
                Some(r) => r,
                None => continue,
            }
        };
        // Only the catalog and the roles: a profile set has nothing else.
        let wanted = rel == "tools.toml"
            || (rel.starts_with("roles/")
                && rel.ends_with(".toml")
                && rel.matches('/').count() == 1);
        if !wanted {
            continue;
        }
        let text = git(&["show", &format!("{rev}:./{name}")])?;
        let dest = tree.dir.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| AppError::Config(format!("writing {}: {e}", dest.display())))?;
        }
        std::fs::write(&dest, text)
            .map_err(|e| AppError::Config(format!("writing {}: {e}", dest.display())))?;
        found += 1;
    }
    if found == 0 {
        return Err(AppError::Config(format!(
            "{spec}: no tools.toml or roles/*.toml at {path} in {rev}"
        )));
    }
    Ok(tree)
}

/// Loads OLD or NEW; a git tree's temporary copy lives until the set is loaded.
fn load(spec: &str) -> Result<profile::ProfileSet, AppError> {
    let loaded = match spec.strip_prefix("git:") {
        Some(rest) => {
            let (rev, path) = rest
                .rsplit_once(':')
                .ok_or_else(|| AppError::Usage(format!("{spec}: expected git:REV:PATH")))?;
            let tree = from_git(spec, rev, path)?;
            profile::load(Some(&tree.dir))
        }
        None => {
            let p = Path::new(spec);
            if !p.is_dir() {
                return Err(AppError::Config(format!(
                    "{spec}: not a profile directory (or use git:REV:PATH)"
                )));
            }
            profile::load(Some(p))
        }
    };
    loaded.map_err(|e| {
        let first = e.0.first().map(|e| e.to_string()).unwrap_or_default();
        AppError::Config(format!("{spec}: {first}"))
    })
}

pub fn diff(old: &str, new: &str, format: Format) -> Result<i32, AppError> {
    let (o, n) = (load(old)?, load(new)?);
    let changes = diff::diff(&o, &n);
    let loosens = diff::loosens(&changes);
    let text = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({"old": old, "new": new, "loosens": loosens, "changes": changes})
        ),
        Format::Text => text(&changes),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(AppError::Output)?;
    Ok(if loosens { 1 } else { exit::OK })
}

fn text(changes: &[diff::Change]) -> String {
    if changes.is_empty() {
        return "no changes\n".into();
    }
    let mut s = String::new();
    let mut role = None;
    for c in changes {
        if role != Some(&c.role) {
            s.push_str(&format!("role {}:\n", c.role));
            role = Some(&c.role);
        }
        s.push_str(&format!("  {:<8} {}\n", c.effect.as_str(), c.what));
    }
    let loose = changes
        .iter()
        .filter(|c| c.effect == diff::Effect::Loosens)
        .count();
    s.push_str(&format!(
        "{}: {loose} loosen, {} tighten\n",
        crate::text::count(changes.len() as u64, "change"),
        changes.len() - loose
    ));
    crate::text::printable(&s)
}
