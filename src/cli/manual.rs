//! The man pages: clap's rendering of the command line, plus the sections
//! clap cannot know (profile format, exit status, environment, files).

/// Hand-written sections appended to agentjail(1).
const EXTRA_SECTIONS: &str = include_str!("manual.roff");

/// The pages `agentjail man` can print: the main page and one per command.
pub const PAGES: &[&str] = &[
    "run",
    "check",
    "profiles",
    "doctor",
    "completions",
    "man",
    "audit",
    "approvals",
    "budget",
    "serve",
    "mcp",
];

/// Page titles, static because clap names are.
const TITLES: &[&str] = &[
    "agentjail-run",
    "agentjail-check",
    "agentjail-profiles",
    "agentjail-doctor",
    "agentjail-completions",
    "agentjail-man",
    "agentjail-audit",
    "agentjail-approvals",
    "agentjail-budget",
    "agentjail-serve",
    "agentjail-mcp",
];

/// Renders agentjail(1), or agentjail-COMMAND(1) when `page` names a command.
pub fn render(page: Option<&str>) -> std::io::Result<Vec<u8>> {
    // The exit codes live in their own section; the help's short table is not repeated.
    let mut cmd = crate::cli::command().after_help(None::<&'static str>);
    cmd.build();
    let mut buf = Vec::new();
    match page {
        None => {
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            buf.extend_from_slice(EXTRA_SECTIONS.as_bytes());
        }
        Some(name) => {
            let missing = || {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no man page for `{name}`; pages: {}", PAGES.join(", ")),
                )
            };
            let title = PAGES
                .iter()
                .position(|p| *p == name)
                .map(|i| TITLES[i])
                .ok_or_else(missing)?;
            let sub = cmd
                .get_subcommands()
                .find(|s| s.get_name() == name)
                .cloned()
                .ok_or_else(missing)?
                .name(title);
            clap_mangen::Man::new(sub).render(&mut buf)?;
        }
    }
    Ok(buf)
}
