//! The `agentjail` binary: its entry (without Rust's runtime start, see
//! [`main`]), argument parsing, logging set-up and the dispatch of each
//! command to the front-ends.

#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use agentjail::cli::commands;
use agentjail::cli::AppError;
use agentjail::cli::{BudgetCommand, Cli, Command, Format, ProfilesCommand};
use agentjail::exit;
use agentjail::run::Context;
use serde_json::json;
use std::io::Write;
use tracing_subscriber::EnvFilter;

/// Forked children allocate from pages of their own (`agentjail::alloc`).
#[global_allocator]
static ALLOCATOR: agentjail::alloc::ForkAware = agentjail::alloc::ForkAware;

/// The process's entry on glibc, in place of the one Rust's runtime makes
/// (`#![no_main]` above): that one reads the main thread's stack bounds
/// from /proc/self/maps (with `sscanf`, line by line) and installs a stack
/// overflow handler with its alternate signal stack, about 0.1 ms of every
/// start here (a do-nothing program: 0.78 ms with it, 0.67 ms without,
/// `/bin/true` 0.55 ms; hyperfine, 1,500 runs) and a dozen system calls.
/// What of it this program needs is done here: descriptors 0 to 2 open,
/// SIGPIPE ignored, a panic ending the process with 101. The arguments
/// come as before: glibc hands them to the standard library through
/// `.init_array`. What is lost: the message on a stack overflow (the
/// process is killed by SIGSEGV instead), and the main thread's name in a
/// panic's message.
#[cfg(all(not(test), target_os = "linux", target_env = "gnu"))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    if let Err(e) = standard_start() {
        // Nothing may be opened before descriptors 0 to 2 are: stderr may be
        // the one missing, so the line may go nowhere, but the exit says it.
        eprintln!("agentjail: {e}");
        std::process::exit(exit::LAUNCHER_FAILED);
    }
    let code = std::panic::catch_unwind(agentjail_main).unwrap_or(101);
    std::process::exit(code)
}

#[cfg(not(all(not(test), target_os = "linux", target_env = "gnu")))]
fn main() {
    std::process::exit(agentjail_main())
}

fn agentjail_main() -> i32 {
    // A shell asking for completions (AGENTJAIL_COMPLETE set): answer and exit.
    agentjail::cli::complete::complete_if_asked();
    version_fast_path();
    let cli = match agentjail::cli::parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::OK,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => exit::USAGE,
                _ => exit::USAGE,
            };
            let _ = e.print();
            if code != exit::OK && agentjail::cli::asks_for_json(std::env::args_os().skip(1)) {
                // clap's first line, without its `error: `.
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                let message = first.strip_prefix("error: ").unwrap_or(first);
                let v = json!({
                    "exit_code": code,
                    "error": agentjail::cli::error_json("usage", message),
                });
                let _ = writeln!(std::io::stdout(), "{v}");
            }
            std::process::exit(code);
        }
    };
    init_logging(&cli);
    let json_out = cli.json_output();
    let is_run = matches!(cli.command, Command::Run { .. });
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            // With JSON output asked for, stdout holds one object whatever failed.
            let object = match &e {
                // Already printed, or stdout is what failed.
                AppError::Reported(_) | AppError::Output(_) => None,
                _ if json_out => Some(e.kind()),
                _ => None,
            };
            let text = format!("{:#}", anyhow::Error::from(e));
            let text = agentjail::text::printable(&text);
            eprintln!("agentjail: {text}");
            if let Some(kind) = object {
                let mut v = json!({
                    "exit_code": code,
                    "error": agentjail::cli::error_json(kind, &text),
                });
                if is_run {
                    v["verdict_by"] = json!("agentjail");
                }
                let _ = writeln!(std::io::stdout(), "{v}");
            }
            code
        }
    };
    code
}

/// The line `--version` prints: the same as clap's (tests/cli.rs compares them).
const VERSION_LINE: &str = concat!("agentjail ", env!("CARGO_PKG_VERSION"), "\n");

/// `agentjail --version` (or `-V`) alone, answered before `main`: glibc
/// calls the functions in `.init_array` with the program's
/// argc, argv and envp before `main` (Rust's standard library reads its
/// arguments the same way on glibc). What this skips beyond what [`main`]
/// skips: collecting the arguments and the completion check, about 0.04 ms
/// (hyperfine, 500 runs: 0.73 ms against 0.78 ms).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
static VERSION_BEFORE_MAIN: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = version_before_main;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn version_before_main(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    if argc != 2 || argv.is_null() {
        return;
    }
    // SAFETY: glibc passes the argv of `argc` entries that execve gave,
    // each a NUL-terminated string that lives as long as the process.
    let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(1)) };
    if arg != c"--version" && arg != c"-V" {
        return;
    }
    // A shell asking for completions gets them from main, not a version.
    // SAFETY: getenv with a NUL-terminated name; environ is set up before
    // .init_array runs, and nothing else runs in the process yet.
    if !unsafe { libc::getenv(c"AGENTJAIL_COMPLETE".as_ptr()) }.is_null() {
        return;
    }
    // SAFETY: plain system calls on the process's own descriptor 1 and
    // signal disposition. SIGPIPE ignored as the runtime would have: a
    // failed write of the version line is not an error, as with clap.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let _ = libc::write(1, VERSION_LINE.as_ptr().cast(), VERSION_LINE.len());
        libc::_exit(exit::OK);
    }
}

/// What Rust's runtime start does that this program needs (see [`main`]):
/// descriptors 0 to 2 open, each one that is closed opened on /dev/null, so
/// that no file agentjail opens (its audit log first) takes one of their
/// numbers and receives what is printed; and SIGPIPE ignored, so that a
/// write to a closed pipe is an error (EPIPE) the caller handles rather than
/// the end of the process. Run first, before anything opens a file.
#[cfg(all(not(test), target_os = "linux", target_env = "gnu"))]
fn standard_start() -> Result<(), String> {
    for fd in 0..=2 {
        // SAFETY: F_GETFD on a descriptor number reads its flags; nothing
        // is passed by pointer.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EBADF) {
            continue;
        }
        // SAFETY: open with a NUL-terminated path. The lowest free number
        // is `fd` itself, as those below it are open (checked above).
        if unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } < 0 {
            return Err(format!(
                "descriptor {fd} (stdin, stdout or stderr) is closed and /dev/null could not be \
                 opened in its place: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    // SAFETY: sets a signal's disposition to "ignore"; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    Ok(())
}

/// `agentjail --version` (or `-V`) alone, where the answer before `main`
/// does not apply: printed before clap builds its command tree, which is
/// about half the instructions of such a start (callgrind).
fn version_fast_path() {
    let mut args = std::env::args_os().skip(1);
    let (Some(a), None) = (args.next(), args.next()) else {
        return;
    };
    if a == "--version" || a == "-V" {
        // As clap does: a failed write of the version line is not an error.
        let _ = std::io::stdout().write_all(VERSION_LINE.as_bytes());
        std::process::exit(exit::OK);
    }
}

fn init_logging(cli: &Cli) {
    let level = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_env("AGENTJAIL_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// `agentjail mcp ...`: its errors are one line on stderr and an exit code.
fn mcp(ctx: &Context, cmd: agentjail::cli::McpCommand) -> i32 {
    use agentjail::cli::{McpCommand, PinsCommand};
    use agentjail::mcp::wrap;
    let result = match cmd {
        McpCommand::Serve {
            role,
            agent,
            session,
            pool,
            pool_plans,
        } => {
            let opts = agentjail::mcp::serve::Options {
                role,
                agent,
                session,
                pool,
                pool_plans,
            };
            return agentjail::mcp::serve::serve(ctx, &opts).unwrap_or_else(|e| {
                let code = e.exit_code();
                let text = format!("{:#}", anyhow::Error::from(e));
                eprintln!("agentjail: {}", agentjail::text::printable(&text));
                code
            });
        }
        McpCommand::Wrap {
            role,
            name,
            session,
            agent,
            command,
        } => wrap::wrap(
            ctx,
            &wrap::Options {
                role,
                name,
                session,
                agent,
                command,
            },
        ),
        McpCommand::Pins(PinsCommand::Show { role, name }) => wrap::pins_show(ctx, &role, &name)
            .map(|v| {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                exit::OK
            }),
        McpCommand::Pins(PinsCommand::Approve { role, name, tools }) => {
            wrap::pins_approve(ctx, &role, &name, &tools).map(|done| {
                println!("approved: {}", done.join(", "));
                exit::OK
            })
        }
    };
    result.unwrap_or_else(|e| {
        let code = e.exit_code();
        let text = format!("{:#}", anyhow::Error::from(e));
        eprintln!("agentjail: {}", agentjail::text::printable(&text));
        code
    })
}

fn dispatch(cli: Cli) -> Result<i32, AppError> {
    use agentjail::cli::broker_client;
    if broker_client::served(&cli.command) {
        if let Some(route) = broker_client::route(cli.broker.as_deref())? {
            return broker_client::dispatch(&route, &cli);
        }
    }
    // One call, made here: what its sandbox can use is started at once.
    if matches!(cli.command, Command::Run { .. }) {
        agentjail::run::prepare_one_shot();
    }
    let ctx = Context {
        profiles: cli.profiles,
        audit_log: cli.audit_log,
        cgroup_parent: cli.cgroup_parent.clone(),
        alert_command: cli.alert_command,
        state_dir: cli.state_dir,
        approval_hook: cli.approval_hook,
        pool: None,
    };
    match cli.command {
        Command::Run {
            call,
            output,
            interactive,
            no_interactive,
        } => {
            use agentjail::cli::prompt::Prompt;
            let prompt = match (interactive, no_interactive) {
                (true, _) => Prompt::Always,
                (_, true) => Prompt::Never,
                _ => Prompt::Auto,
            };
            agentjail::cli::run::run(&ctx, &call, output.json(), prompt)
        }
        Command::Check { call, output } => agentjail::cli::run::check(&ctx, &call, output.json()),
        Command::Profiles(ProfilesCommand::List { format }) => {
            commands::profiles_list(&ctx, format)
        }
        Command::Profiles(ProfilesCommand::Show { role, format }) => {
            commands::profiles_show(&ctx, &role, format)
        }
        Command::Profiles(ProfilesCommand::Validate { paths }) => {
            commands::profiles_validate(&ctx, &paths)
        }
        Command::Profiles(ProfilesCommand::Test { paths, format }) => {
            agentjail::cli::profiles_test::test(&ctx, &paths, format)
        }
        Command::Profiles(ProfilesCommand::Diff { old, new, format }) => {
            agentjail::cli::profiles_diff::diff(&old, &new, format)
        }
        Command::Profiles(ProfilesCommand::Learn {
            from,
            role,
            write,
            format,
        }) => {
            use agentjail::cli::profiles_learn::{learn, LearnArgs};
            let args = LearnArgs {
                from: &from,
                role: role.as_deref(),
                write,
                format,
            };
            learn(&ctx, &args)
        }
        Command::Doctor { format } => commands::doctor(&ctx, format == Format::Json),
        Command::Completions { shell } => {
            agentjail::cli::complete::write_script(shell, &mut std::io::stdout())
                .map_err(AppError::Output)?;
            Ok(exit::OK)
        }
        Command::Man { page } => {
            let buf = agentjail::cli::manual::render(page.as_deref())
                .map_err(|e| AppError::Usage(e.to_string()))?;
            std::io::Write::write_all(&mut std::io::stdout(), &buf).map_err(AppError::Output)?;
            Ok(exit::OK)
        }
        Command::Audit(cmd) => agentjail::cli::audit::dispatch(&ctx, &cmd),
        Command::Mcp(cmd) => Ok(mcp(&ctx, cmd)),
        Command::Approvals(cmd) => agentjail::cli::approvals::dispatch(&ctx, &cmd),
        Command::Budget(BudgetCommand::Show {
            session,
            role,
            format,
        }) => agentjail::cli::budget::show(&ctx, session.as_deref(), role.as_deref(), format, None),
        Command::K8s(cmd) => match agentjail::k8s::run(ctx.profiles.as_deref(), &cmd) {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("agentjail: {}", agentjail::text::printable(&e.to_string()));
                Ok(e.exit_code())
            }
        },
        Command::Serve {
            config,
            socket,
            check_config,
        } => {
            let opts = agentjail::serve::Options {
                config,
                socket,
                check_config,
            };
            match agentjail::serve::serve(&opts, &broker_client::CliHandler) {
                Ok(code) => Ok(code),
                Err(e) => {
                    let code = e.exit_code();
                    let text = format!("{:#}", anyhow::Error::from(e));
                    eprintln!("agentjail: {}", agentjail::text::printable(&text));
                    Ok(code)
                }
            }
        }
    }
}
