//! Shell completion. The scripts `agentjail completions SHELL` prints are
//! clap_complete's dynamic registrations: for each completion the shell
//! runs `agentjail` again with `AGENTJAIL_COMPLETE=SHELL` and the words of
//! the command line, and this module answers. Role names (after `--role`),
//! tool names (the role's allowed tools) and parameter names (after
//! `--param`) come from the profiles the command line being completed uses:
//! its `--profiles`, else `AGENTJAIL_PROFILES`, else the default.

use super::Cli;
use crate::profile::ProfileSet;
use crate::run::Context;
use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::CompleteEnv;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// The variable that asks for a completion (clap_complete's default,
/// `COMPLETE`, is too common a name to act on).
pub const VAR: &str = "AGENTJAIL_COMPLETE";

/// The name the scripts complete and call back.
const BIN: &str = "agentjail";

/// Answers a completion request and exits when the shell made one
/// (`AGENTJAIL_COMPLETE` is set); returns at once otherwise.
pub fn complete_if_asked() {
    if std::env::var_os(VAR).is_none() {
        return;
    }
    CompleteEnv::with_factory(completion_command)
        .var(VAR)
        .bin(BIN)
        .completer(BIN)
        .complete();
}

/// The command completions are computed from: the derived one, global
/// options offered after every command name too.
fn completion_command() -> clap::Command {
    Cli::command()
}

/// Writes the registration script for `shell` (what `AGENTJAIL_COMPLETE=SHELL
/// agentjail` prints).
pub fn write_script(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let Some(completer) = shells.completer(&name) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("no completion script for {name}"),
        ));
    };
    completer.write_registration(VAR, BIN, BIN, BIN, out)
}

/// The words of the command line being completed but the one under the
/// cursor (the binary's name first), as the registration script passes them:
/// after `--`, with the cursor's index in `_CLAP_COMPLETE_INDEX` (fish: the
/// last word is the current one).
fn words_but_current() -> Vec<OsString> {
    let mut args = std::env::args_os().skip_while(|a| a != "--");
    args.next();
    let mut words: Vec<OsString> = args.collect();
    let index = std::env::var("_CLAP_COMPLETE_INDEX")
        .ok()
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(words.len().saturating_sub(1));
    if index < words.len() {
        words.remove(index);
    }
    words
}

/// What the command line typed so far names: the profiles, the role, the tool.
#[derive(Debug, Default)]
struct Typed {
    profiles: Option<PathBuf>,
    role: Option<String>,
    tool: Option<String>,
}

fn typed() -> Typed {
    let Ok(m) = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(words_but_current())
    else {
        return Typed::default();
    };
    let mut t = Typed {
        profiles: m.get_one::<PathBuf>("profiles").cloned(),
        ..Typed::default()
    };
    if let Some((_, sub)) = m.subcommand() {
        let one = |id: &str| sub.try_get_one::<String>(id).ok().flatten().cloned();
        t.role = one("role");
        t.tool = one("tool");
        if let Ok(Some(p)) = sub.try_get_one::<PathBuf>("profiles") {
            t.profiles = Some(p.clone());
        }
    }
    t
}

fn profiles(t: &Typed) -> Option<ProfileSet> {
    let ctx = Context {
        profiles: t.profiles.clone(),
        ..Context::default()
    };
    ctx.load_profiles().ok()
}

fn starting_with<'a>(
    current: &OsStr,
    items: impl IntoIterator<Item = (String, &'a str)>,
) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    items
        .into_iter()
        .filter(|(name, _)| name.starts_with(current.as_ref()))
        .map(|(name, help)| {
            let c = CompletionCandidate::new(name);
            if help.is_empty() {
                c
            } else {
                c.help(Some(help.to_string().into()))
            }
        })
        .collect()
}

/// Role names, for `--role` and `profiles show`.
pub fn roles(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(set) = profiles(&typed()) else {
        return vec![];
    };
    starting_with(
        current,
        set.roles
            .values()
            .map(|r| (r.name.clone(), r.description.as_str())),
    )
}

/// Tool names: the role's allowed tools, or every tool in the catalog when
/// no role is typed yet.
pub fn tools(current: &OsStr) -> Vec<CompletionCandidate> {
    let t = typed();
    let Some(set) = profiles(&t) else {
        return vec![];
    };
    let names: Vec<String> = match t.role.as_deref().and_then(|r| set.roles.get(r)) {
        Some(role) => role.allowed_tools.clone(),
        None => set.catalog.tools.keys().cloned().collect(),
    };
    starting_with(
        current,
        names.into_iter().map(|n| {
            let help = set
                .catalog
                .tools
                .get(&n)
                .map_or("", |s| s.description.as_str());
            (n, help)
        }),
    )
}

/// `NAME=` for each parameter of the tool typed so far.
pub fn params(current: &OsStr) -> Vec<CompletionCandidate> {
    let t = typed();
    let (Some(set), Some(tool)) = (profiles(&t), t.tool.as_deref()) else {
        return vec![];
    };
    let Some(spec) = set.catalog.tools.get(tool) else {
        return vec![];
    };
    starting_with(
        current,
        spec.params
            .iter()
            .map(|(name, p)| (format!("{name}="), p.description.as_str())),
    )
}
