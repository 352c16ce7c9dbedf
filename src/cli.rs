//! The command line: parsing and help text. Printing of results lives in
//! `report`; the work itself in `run`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0    the tool succeeded (check: the call is allowed)
  N    the tool's own exit code; 128+N when it was killed by signal N
  64   usage error          65   bad parameters       75   approval required
  77   denied by policy     78   bad profile or configuration
  124  timeout              125  agentjail itself failed
  126  tool not executable  127  tool command not found

Environment:
  AGENTJAIL_ROLE, AGENTJAIL_AGENT, AGENTJAIL_SESSION  stand in for --role, --agent, --session
  AGENTJAIL_PROFILES, AGENTJAIL_AUDIT_LOG            stand in for --profiles, --audit-log
  AGENTJAIL_LOG                                      log filter (e.g. debug, agentjail=trace)";

/// Run AI agents' tool calls under a policy, inside a sandbox, with an audit trail.
///
/// Each tool call names a role. The role's profile decides whether the tool may
/// run at all, checks its parameters, asks for human approval where the tool is
/// destructive or external, and sets the sandbox the tool runs in. Every decision
/// and result is appended to the audit log.
#[derive(Debug, Parser)]
#[command(name = "agentjail", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// Profile directory (tools.toml and roles/*.toml); default: the first of
    /// $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles
    #[arg(long, global = true, env = "AGENTJAIL_PROFILES", value_name = "DIR")]
    pub profiles: Option<PathBuf>,

    /// Audit log file; default: /var/log/agentjail/audit.jsonl for root,
    /// $XDG_STATE_HOME/agentjail/audit.jsonl for a user
    #[arg(long, global = true, env = "AGENTJAIL_AUDIT_LOG", value_name = "PATH")]
    pub audit_log: Option<PathBuf>,

    /// Parent of each run's cgroup, relative to the cgroup mount (under every
    /// v1 hierarchy alike); default: agentjail below the launcher's own cgroup (root)
    #[arg(
        long,
        global = true,
        env = "AGENTJAIL_CGROUP_PARENT",
        value_name = "PATH"
    )]
    pub cgroup_parent: Option<PathBuf>,

    /// More log output on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide, then run the tool inside the sandbox
    ///
    /// The tool inherits stdin, stdout and stderr and agentjail exits with the
    /// tool's exit code. With --json, its output is captured and one JSON object
    /// describing the run is printed instead.
    Run {
        #[command(flatten)]
        call: CallArgs,
        /// Capture the tool's output and print one JSON result object
        #[arg(long)]
        json: bool,
    },
    /// Decide without running: print the decision, its reasons, the argv and the sandbox plan
    ///
    /// Exits 0 when the call would run, 75 when it needs approval, 77 when it is
    /// denied, 65 for bad parameters.
    Check {
        #[command(flatten)]
        call: CallArgs,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List, show and validate role profiles
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Report what this host offers for sandboxing and how to fix what is missing
    Doctor {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a shell completion script
    Completions {
        /// The shell to generate for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): agentjail(1), or agentjail-COMMAND(1)
    Man {
        /// A command whose page to print (run, check, profiles, doctor, completions, man)
        #[arg(value_name = "COMMAND")]
        page: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// List the roles and where they were loaded from
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one role's profile with every default filled in
    Show {
        /// The role's name
        role: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Check profile directories and print every error (exit 78 on any)
    Validate {
        /// Profile directories, or single role/catalog files; default: the profiles in use
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    /// The agent's role, which selects the permission profile
    #[arg(long, env = "AGENTJAIL_ROLE", value_name = "ROLE")]
    pub role: Option<String>,
    /// The calling agent's id (recorded in the audit log)
    #[arg(long, env = "AGENTJAIL_AGENT", value_name = "ID")]
    pub agent: Option<String>,
    /// The agent's session id (recorded; budgets are kept per session)
    #[arg(long, env = "AGENTJAIL_SESSION", value_name = "ID")]
    pub session: Option<String>,
    /// One parameter; repeatable. VALUE is converted to the parameter's type
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub param: Vec<String>,
    /// All parameters as a JSON object, inline, from @FILE, or from stdin with -
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub params: Option<String>,
    /// Tokens the agent spent producing this call (recorded)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub tokens: u64,
    /// The tool to call, as named in the tool catalog
    #[arg(value_name = "TOOL")]
    pub tool: String,
    /// Extra arguments for tools that accept them (each checked against the tool's pattern)
    #[arg(last = true, value_name = "EXTRA_ARGS")]
    pub extra_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}
