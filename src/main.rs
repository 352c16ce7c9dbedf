use agentjail::cli::commands;
use agentjail::cli::AppError;
use agentjail::cli::{BudgetCommand, Cli, Command, Format, ProfilesCommand};
use agentjail::exit;
use agentjail::run::Context;
use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::OK,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => exit::USAGE,
                _ => exit::USAGE,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    init_logging(&cli);
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => e.report(),
    };
    std::process::exit(code);
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

fn dispatch(cli: Cli) -> Result<i32, AppError> {
    use agentjail::cli::broker_client;
    if broker_client::served(&cli.command) {
        if let Some(route) = broker_client::route(cli.broker.as_deref())? {
            return broker_client::dispatch(&route, &cli);
        }
    }
    let ctx = Context {
        profiles: cli.profiles,
        audit_log: cli.audit_log,
        cgroup_parent: cli.cgroup_parent.clone(),
        alert_command: cli.alert_command,
        state_dir: cli.state_dir,
        approval_hook: cli.approval_hook,
    };
    match cli.command {
        Command::Run {
            call,
            json,
            interactive,
            no_interactive,
        } => {
            use agentjail::cli::prompt::Prompt;
            let prompt = match (interactive, no_interactive) {
                (true, _) => Prompt::Always,
                (_, true) => Prompt::Never,
                _ => Prompt::Auto,
            };
            agentjail::cli::run::run(&ctx, &call, json, prompt)
        }
        Command::Check { call, format } => agentjail::cli::run::check(&ctx, &call, format),
        Command::Profiles(ProfilesCommand::List { format }) => {
            commands::profiles_list(&ctx, format)
        }
        Command::Profiles(ProfilesCommand::Show { role, format }) => {
            commands::profiles_show(&ctx, &role, format)
        }
        Command::Profiles(ProfilesCommand::Validate { paths }) => {
            commands::profiles_validate(&ctx, &paths)
        }
        Command::Doctor { format } => commands::doctor(&ctx, format == Format::Json),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "agentjail", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man { page } => {
            let buf = agentjail::cli::manual::render(page.as_deref())
                .map_err(|e| AppError::Usage(e.to_string()))?;
            std::io::Write::write_all(&mut std::io::stdout(), &buf).map_err(AppError::Output)?;
            Ok(exit::OK)
        }
        Command::Audit(cmd) => agentjail::cli::audit::dispatch(&ctx, &cmd),
        Command::Approvals(cmd) => agentjail::cli::approvals::dispatch(&ctx, &cmd),
        Command::Budget(BudgetCommand::Show {
            session,
            role,
            format,
        }) => agentjail::cli::budget::show(&ctx, session.as_deref(), role.as_deref(), format),
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
