//! The committed shell completions and man page must be exactly what the
//! binary generates, so they never drift from the command line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use std::path::Path;

/// Runs `agentjail ARGS` in a clean environment and returns its stdout.
fn generate(args: &[&str]) -> Vec<u8> {
    let mut c = Command::cargo_bin("agentjail").unwrap();
    for v in [
        "AGENTJAIL_ROLE",
        "AGENTJAIL_AGENT",
        "AGENTJAIL_SESSION",
        "AGENTJAIL_PROFILES",
        "AGENTJAIL_AUDIT_LOG",
        "AGENTJAIL_LOG",
        "COLUMNS",
    ] {
        c.env_remove(v);
    }
    let out = c.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "agentjail {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.stdout.is_empty(),
        "agentjail {} printed nothing",
        args.join(" ")
    );
    out.stdout
}

/// The first line where two texts differ, for the failure message.
fn first_difference(committed: &[u8], generated: &[u8]) -> String {
    let a = String::from_utf8_lossy(committed);
    let b = String::from_utf8_lossy(generated);
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => {
                return format!(
                    "the texts differ only in line endings or a final newline ({} vs {} bytes)",
                    committed.len(),
                    generated.len()
                )
            }
            (x, y) => {
                return format!(
                    "first difference at line {n}:\n  committed: {}\n  generated: {}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>")
                )
            }
        }
    }
    unreachable!()
}

fn assert_committed(file: &str, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let committed = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); create it with `cargo run -- {} > {file}`",
            path.display(),
            args.join(" ")
        )
    });
    let generated = generate(args);
    assert!(
        committed == generated,
        "{file} is out of date with `agentjail {}`; regenerate it with\n\n    cargo run -- {} > {file}\n\n{}",
        args.join(" "),
        args.join(" "),
        first_difference(&committed, &generated)
    );
}

#[test]
fn bash_completions_are_up_to_date() {
    assert_committed("completions/agentjail.bash", &["completions", "bash"]);
}

#[test]
fn zsh_completions_are_up_to_date() {
    assert_committed("completions/agentjail.zsh", &["completions", "zsh"]);
}

#[test]
fn fish_completions_are_up_to_date() {
    assert_committed("completions/agentjail.fish", &["completions", "fish"]);
}

#[test]
fn man_page_is_up_to_date() {
    assert_committed("man/agentjail.1", &["man"]);
}

/// The generators must not depend on the environment (a value in
/// AGENTJAIL_* would otherwise leak into `[env: NAME=value]` help text).
#[test]
fn generated_text_does_not_depend_on_the_environment() {
    for args in [
        &["man"][..],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
    ] {
        let clean = generate(args);
        let out = Command::cargo_bin("agentjail")
            .unwrap()
            .args(args)
            .env("AGENTJAIL_ROLE", "leaked_role")
            .env("AGENTJAIL_PROFILES", "/leaked/profiles")
            .env("AGENTJAIL_AUDIT_LOG", "/leaked/audit.jsonl")
            .env("COLUMNS", "40")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            clean == out.stdout,
            "agentjail {} output changes with the environment: {}",
            args.join(" "),
            first_difference(&clean, &out.stdout)
        );
    }
}

/// The man page documents what the issue calls part of the interface.
#[test]
fn man_page_documents_exit_codes_and_environment() {
    let man = String::from_utf8(generate(&["man"])).unwrap();
    assert!(
        man.starts_with(".ie") || man.starts_with(".TH"),
        "not roff: {}",
        &man[..man.len().min(200)]
    );
    for needle in [
        "124",
        "125",
        "126",
        "127",
        "AGENTJAIL_ROLE",
        "AGENTJAIL_AUDIT_LOG",
    ] {
        assert!(
            man.contains(needle),
            "the man page does not mention {needle}"
        );
    }
}
