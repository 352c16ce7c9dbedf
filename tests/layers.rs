//! The layers of `src/` point down only. Every `crate::` path in a source
//! file names a top-level module; that module must sit strictly lower in
//! `LAYERS` than the file's own top-level module (the same module is
//! always fine). The README's Development section shows the same list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. Within a layer the order matters too: a module may use
/// only those listed before it, so no two modules can import each other.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["text", "units", "exit", "alloc"]),
    ("mechanisms", &["egress", "sandbox"]),
    (
        "domain",
        &["state", "audit", "profile", "policy", "budget", "approval"],
    ),
    ("core", &["run"]),
    ("front-ends", &["serve", "mcp", "k8s", "cli", "main"]),
];

fn rank(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .flat_map(|(_, mods)| mods.iter())
        .position(|m| *m == module)
}

fn layer_of(module: &str) -> &'static str {
    LAYERS
        .iter()
        .find(|(_, mods)| mods.contains(&module))
        .map(|(name, _)| *name)
        .unwrap_or("?")
}

/// The top-level module a file under `src/` belongs to.
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// Source text without `//` comments (doc comments name modules freely).
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules named by `crate::` paths in `code`, including
/// each branch of a `use crate::{a, b::c}` group.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `agentjail::crate::` cannot occur; skip identifiers ending in "crate".
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = true;
            for c in group.char_indices() {
                match c.1 {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c2 if start && !c2.is_whitespace() => {
                        start = false;
                        let id = ident_at(&group[c.0..]);
                        if !id.is_empty() && id != "self" {
                            out.insert(id);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(rest);
            if !id.is_empty() {
                out.insert(id);
            }
        }
    }
    out
}

/// Upward or sideways-up imports in one file of module `own`.
fn violations(own: &str, code: &str) -> Vec<String> {
    let Some(own_rank) = rank(own) else {
        return vec![format!(
            "module `{own}` is in no layer: add it to LAYERS and the README"
        )];
    };
    referenced(code)
        .into_iter()
        .filter(|m| m != own)
        .filter_map(|m| match rank(&m) {
            None => Some(format!(
                "names `crate::{m}`, which is in no layer (add it to LAYERS and the README)"
            )),
            Some(r) if r > own_rank => Some(format!(
                "`{own}` ({}) imports `{m}` ({}), which is above it",
                layer_of(own),
                layer_of(&m)
            )),
            _ => None,
        })
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    let mut problems = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap_or(f);
        if rel == Path::new("lib.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap_or_default();
        // main.rs names the library as `agentjail::`; it is the top.
        for v in violations(&module_of(rel), &code_only(&text)) {
            problems.push(format!("src/{}: {v}", rel.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the layers:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_top_level_module_is_in_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .unwrap_or_default();
    for line in lib.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
        {
            let name = name.trim_end_matches(';');
            assert!(rank(name).is_some(), "src/lib.rs: `{name}` is in no layer");
        }
    }
}

#[test]
fn the_checker_finds_upward_imports() {
    // A domain module that reaches up into the core and the front-end.
    let code = "use crate::run::Context;\nuse crate::{cli::Format, profile::Role};\nfn f() { crate::units::x(); }";
    let v = violations("budget", code);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].contains("`cli`") && v[1].contains("`run`"), "{v:?}");
    // A mechanism naming the domain.
    assert_eq!(
        violations("sandbox", "use crate::profile::NetworkMode;").len(),
        1
    );
    // Two domain modules importing each other: only one direction passes.
    assert!(violations("budget", "use crate::approval::x;").len() == 1);
    assert!(violations("approval", "use crate::budget::x;").is_empty());
    // Comments do not count.
    assert!(violations("sandbox", &code_only("//! see crate::run::call")).is_empty());
}
