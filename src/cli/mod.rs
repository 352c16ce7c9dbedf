//! The command-line front-end: argument parsing and help text (this file),
//! and one submodule per command group that parses, calls the layers
//! below, prints and returns an exit code. Front-end layer: it may import
//! anything below it; nothing below imports it.
//!
//! Size: about 690 lines, nearly all clap declarations and their help text (rendered
//! by `man`, `completions` and checked by tests/generated.rs); one argument tree reads
//! best in one place. Splitting it per command group is the step if it grows further.

pub mod approvals;
pub mod audit;
pub mod broker_client;
pub mod broker_handler;
pub mod budget;
pub mod commands;
pub mod complete;
mod error;
pub mod manual;
pub mod profiles_diff;
pub mod profiles_learn;
pub mod profiles_report;
pub mod profiles_test;
pub mod profiles_write;
pub mod prompt;
pub mod run;

pub use error::{error_json, kind_of_exit, AppError};

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0    the tool succeeded (check: the call is allowed)
  N    the tool's own exit code; 128+N when it was killed by signal N
  64   usage error          65   bad parameters       75   approval required
  77   denied by policy     78   bad profile or configuration
  124  timeout              125  agentjail itself failed
  126  tool not executable  127  tool command not found
  1    audit verify: the chain is broken; audit head, tail: the log cannot be read;
       approvals: no such request, or it is no longer pending
  A tool may itself exit 75, 77 or 124-127: without --json that cannot be told
  from agentjail's own verdict; run --json says which in verdict_by (agentjail, tool)

Environment:
  AGENTJAIL_ROLE, AGENTJAIL_AGENT, AGENTJAIL_SESSION  stand in for --role, --agent, --session
  AGENTJAIL_PROFILES, AGENTJAIL_AUDIT_LOG            stand in for --profiles, --audit-log
  AGENTJAIL_STATE_DIR, AGENTJAIL_APPROVAL_HOOK       stand in for --state-dir, --approval-hook
  AGENTJAIL_ALERT_COMMAND                            stands in for --alert-command
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
    #[arg(long, global = true, env = "AGENTJAIL_PROFILES", value_name = "DIR", help_heading = GLOBAL)]
    pub profiles: Option<PathBuf>,

    /// Audit log file; default: /var/log/agentjail/audit.jsonl for root,
    /// $XDG_STATE_HOME/agentjail/audit.jsonl for a user
    #[arg(long, global = true, env = "AGENTJAIL_AUDIT_LOG", value_name = "PATH", help_heading = GLOBAL)]
    pub audit_log: Option<PathBuf>,

    /// Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk
    /// delete or external, critical denials, errors; killed after 2s, its failure audited
    #[arg(
        long,
        global = true,
        env = "AGENTJAIL_ALERT_COMMAND",
        help_heading = GLOBAL,
        value_name = "CMD"
    )]
    pub alert_command: Option<String>,

    /// Parent of each run's cgroup, relative to the cgroup mount (under every
    /// v1 hierarchy alike); default: agentjail below the launcher's own cgroup (root).
    /// Unprivileged callers need it on cgroup v1: a parent in every hierarchy they may write to
    #[arg(
        long,
        global = true,
        env = "AGENTJAIL_CGROUP_PARENT",
        help_heading = GLOBAL,
        value_name = "PATH"
    )]
    pub cgroup_parent: Option<PathBuf>,

    /// State directory (approval requests, budget counters); default: /var/lib/agentjail
    /// for root, $XDG_STATE_HOME/agentjail for a user
    #[arg(long, global = true, env = "AGENTJAIL_STATE_DIR", value_name = "DIR", help_heading = GLOBAL)]
    pub state_dir: Option<PathBuf>,

    /// Shell command run (sh -c) for each new pending approval request, with the
    /// request as JSON on stdin; killed after 5s, its failure audited
    #[arg(
        long,
        global = true,
        env = "AGENTJAIL_APPROVAL_HOOK",
        help_heading = GLOBAL,
        value_name = "CMD"
    )]
    pub approval_hook: Option<String>,

    /// Send run, check, approvals, budget and audit to the broker listening on this socket (agentjail serve)
    #[arg(long, global = true, env = "AGENTJAIL_BROKER", value_name = "SOCKET")]
    pub broker: Option<PathBuf>,

    /// More log output on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand's arguments are built only when it is the one parsed
/// (`defer`): building all of them was about a third of a `check` call's
/// instructions (callgrind). Help, man pages and completions build the tree first.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Decide, then run the tool inside the sandbox
    ///
    /// The tool inherits stdin, stdout and stderr and agentjail exits with the
    /// tool's exit code. With --format json (or --json), its output is captured and
    /// one JSON object describing the run is printed instead.
    ///
    /// A delete- or external-class call runs once with a matching approval; else
    /// agentjail asks at the terminal (when stdin is one), or queues a request and
    /// exits 75. A call beyond the role's budget for the session exits 77.
    Run {
        #[command(flatten)]
        call: CallArgs,
        /// Ask for approval at the terminal (/dev/tty) even when stdin is not one
        #[arg(long, conflicts_with = "no_interactive")]
        interactive: bool,
        /// Never ask at the terminal: queue an approval request and exit 75
        #[arg(long)]
        no_interactive: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Decide without running: print the decision, its reasons, the argv and the sandbox plan
    ///
    /// Exits 0 when the call would run, 75 when it needs approval, 77 when it is
    /// denied, 65 for bad parameters.
    Check {
        #[command(flatten)]
        call: CallArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List, show and validate role profiles
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Report what this host offers for sandboxing and how to fix what is missing
    Doctor {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Print a shell completion script
    ///
    /// The script calls agentjail back for each completion, so role names
    /// (after --role), tool names and parameter names (after --param) come from
    /// the profiles in use. Load it with `source <(agentjail completions bash)`,
    /// or install it where the shell looks (completions/ has all three).
    Completions {
        /// The shell to generate for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): agentjail(1), or agentjail-COMMAND(1)
    Man {
        /// A command whose page to print (run, check, profiles, doctor, completions, man, audit,
        /// approvals, budget, serve, mcp, k8s)
        #[arg(value_name = "COMMAND")]
        page: Option<String>,
    },
    /// Verify the audit log's hash chain, print its head, or follow it
    #[command(subcommand)]
    Audit(AuditCommand),
    /// List, show, approve and deny approval requests
    ///
    /// An approval grants exactly one run of exactly the requested call (role,
    /// tool, parameters, extra arguments, session), and expires.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Show usage against the roles' per-session budgets
    #[command(subcommand)]
    Budget(BudgetCommand),
    /// Model Context Protocol (MCP) on stdio: serve a role's tools, or firewall a third-party server
    ///
    /// For agent frameworks that start MCP servers as subprocesses (Claude
    /// Desktop and Code, the OpenAI Agents SDK, LangChain): see the README's MCP
    /// section for their configuration.
    ///
    /// `mcp serve --pool N` (default 2; 0 turns it off) keeps N prepared sandboxes ready per
    /// plan for the `--pool-plans` (default 4) most recently used plans: namespaces, id maps,
    /// filesystem view, cgroup and the tool's process (confined but for seccomp) made before
    /// the call; each serves exactly one tools/call and is then destroyed. A call whose plan
    /// differs builds its own sandbox.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Run the broker: serve calls on a unix socket with its own policy, state and log
    ///
    /// The configuration (`/etc/agentjail/broker.toml`) names the profiles, state directory,
    /// audit log and socket, maps caller, approver and auditor uids and groups to roles, and
    /// sizes the pool of prepared sandboxes (`[pool] size`, ready per plan, default 2, 0 turns
    /// it off; `plans`, default 4): each is made before a call needs it (namespaces, id maps,
    /// filesystem view, the call's cgroup, the tool's process confined but for seccomp) and
    /// serves exactly one call, whose plan must equal
    /// the one it was made from; other calls build their own. See the README's Broker section.
    Serve {
        /// The broker's configuration (TOML)
        #[arg(long, value_name = "PATH", default_value = crate::serve::config::DEFAULT_CONFIG)]
        config: PathBuf,
        /// The socket to listen on; default: the configuration's `socket`
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Check the configuration and the profiles, print a summary and exit
        #[arg(long)]
        check_config: bool,
    },
    /// Render a role as Kubernetes manifests (Pod, Job, Deployment or agent-sandbox
    /// objects, NetworkPolicy, ConfigMap) and its seccomp and AppArmor profiles
    #[command(subcommand)]
    K8s(crate::k8s::K8sCommand),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ApprovalsCommand {
    /// List pending and approved requests (expired ones are marked and audited)
    List {
        /// Also denied, consumed and expired requests
        #[arg(long)]
        all: bool,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Show one request: role, agent, session, tool, parameters, argv, sandbox
    Show {
        /// The request's id
        #[arg(value_name = "ID")]
        id: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Approve a pending request: one run of exactly that call, until the TTL ends
    Approve {
        /// The request's id
        #[arg(value_name = "ID")]
        id: String,
        /// How long the approval can be used (e.g. 90s, 10m, 1h); default: the role's
        /// approval.ttl (10m)
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
        ttl: Option<std::time::Duration>,
        /// Why (recorded in the request and the audit log)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Deny a pending request; the identical call is refused (77) until the request's TTL ends
    Deny {
        /// The request's id
        #[arg(value_name = "ID")]
        id: String,
        /// Why (recorded in the request and the audit log)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err("must be longer than 0s".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum McpCommand {
    /// A stdio MCP server whose tools are the role's allowed catalog tools
    ///
    /// tools/list shows each allowed tool with an input schema from its parameter specs
    /// and hints from its risk class (and an `extra_args` array for a tool whose catalog
    /// entry allows extra arguments); denied tools never appear; a role that allows no
    /// catalog tool is refused (77). tools/call goes through
    /// the same policy, screening, budget, approval, audit and sandbox as `agentjail run
    /// --json`: stdout is the result's text (and structuredContent for tools whose catalog
    /// entry says output = "json"), stderr and the exit code come with it, and a denial,
    /// bad parameters, a timeout, a non-zero exit or a pending approval is an error result
    /// saying why. A call that needs approval names the request and the command that
    /// approves it; the same call then runs once. Ends when stdin ends.
    Serve {
        /// The role whose tools are served
        #[arg(long, env = "AGENTJAIL_ROLE", value_name = "ROLE", add = ArgValueCompleter::new(complete::roles))]
        role: String,
        /// The calling agent's id (recorded in the audit log); default: the client's name
        /// from initialize
        #[arg(long, env = "AGENTJAIL_AGENT", value_name = "ID")]
        agent: Option<String>,
        /// The agentjail session every call counts against (budgets, approvals); default:
        /// a new session per server process (one MCP session)
        #[arg(long, env = "AGENTJAIL_SESSION", value_name = "ID")]
        session: Option<String>,
        /// Prepared sandboxes kept ready per plan (0: none, every call builds its own);
        /// each serves one call and is then destroyed
        #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=8))]
        pool: u8,
        /// Distinct plans (tool and bound paths) kept ready; the least recently used goes first
        #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=8))]
        pool_plans: u8,
    },
    /// Run a stdio MCP server in the role's sandbox, behind a policy-checking firewall
    ///
    /// The agent's MCP client talks to agentjail on stdin and stdout; agentjail
    /// starts COMMAND in the role's sandbox and passes each message on after
    /// checking it: tools/call against the role's [mcp.tools.NAME] rules
    /// (screening, budget, approval, audit), tools/list filtered and pinned,
    /// results through the output guards. Exits with the server's exit code.
    Wrap {
        /// The role whose [mcp] policy and [sandbox] apply
        #[arg(long, env = "AGENTJAIL_ROLE", value_name = "ROLE", add = ArgValueCompleter::new(complete::roles))]
        role: String,
        /// The server's name in records and pins; default: COMMAND's file name
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// The agent's session id (budgets are kept per session)
        #[arg(long, env = "AGENTJAIL_SESSION", value_name = "ID")]
        session: Option<String>,
        /// The calling agent's id (recorded in the audit log)
        #[arg(long, env = "AGENTJAIL_AGENT", value_name = "ID")]
        agent: Option<String>,
        /// The server's command and arguments, after --
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Show and approve pinned MCP tool definitions
    #[command(subcommand)]
    Pins(PinsCommand),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum PinsCommand {
    /// Print the pinned definitions of a role's server and the pending changes (JSON)
    Show {
        #[arg(long, env = "AGENTJAIL_ROLE", value_name = "ROLE", add = ArgValueCompleter::new(complete::roles))]
        role: String,
        /// The server's name (mcp wrap --name)
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Take pending definition changes in: the tools are shown and callable again
    Approve {
        #[arg(long, env = "AGENTJAIL_ROLE", value_name = "ROLE", add = ArgValueCompleter::new(complete::roles))]
        role: String,
        /// The server's name (mcp wrap --name)
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The tools to approve; none: every pending change
        #[arg(value_name = "TOOL")]
        tools: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum BudgetCommand {
    /// Print usage against limits per role and session
    Show {
        /// Only this session
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Only this role
        #[arg(long, value_name = "ROLE", add = ArgValueCompleter::new(complete::roles))]
        role: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AuditCommand {
    /// Recompute the hash chain; exit 0 when intact, 1 at the first line that breaks it
    ///
    /// Prints the number of records and the head (SEQ:HASH) when the chain is
    /// intact, otherwise the first line that fails and why: edited, deleted,
    /// inserted, reordered, truncated, not JSON.
    Verify {
        /// Log files, oldest first; default: the audit log after its rotated PATH.N … PATH.1
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// A head saved earlier (`agentjail audit head`) that must still be in the chain;
        /// catches records cut from the end
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
        /// The first file continues the chain after this record (its older files are gone)
        #[arg(long, value_name = "SEQ:HASH")]
        after: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Print the last record's SEQ:HASH, to be stored elsewhere and given to verify --head
    Head {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Show the last records, one line each (colour only on a terminal)
    Tail {
        /// Keep printing records as they are appended
        #[arg(short, long)]
        follow: bool,
        /// How many records to show
        #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
        lines: usize,
        /// Only this role's records
        #[arg(long, value_name = "ROLE", add = ArgValueCompleter::new(complete::roles))]
        role: Option<String>,
        /// Only this session's records
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Only records of this risk class
        #[arg(long, value_name = "CLASS", value_parser = ["read", "modify", "delete", "external"])]
        risk: Option<String>,
        /// Only records of this event type
        #[arg(long, value_name = "TYPE", value_parser = ["decision", "tool_call", "tool_result", "approval", "error"])]
        event: Option<String>,
        /// Output format: text, or the records' JSON lines as stored
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ProfilesCommand {
    /// List the roles and where they were loaded from
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Show one role's profile with every default filled in
    Show {
        /// The role's name
        #[arg(add = ArgValueCompleter::new(complete::roles))]
        role: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Check profile directories and print every error (exit 78 on any)
    Validate {
        /// Profile directories, or single role/catalog files; default: the profiles in use
        paths: Vec<PathBuf>,
    },
    /// Run policy test files: each case's call must meet its expected outcome
    ///
    /// A test file (TOML) holds [[case]] tables: role, tool, params, and
    /// optionally extra_args, session, tokens, budget = { calls, tokens }; the
    /// expected outcome (expect = allow, deny, needs_approval, bad_parameters,
    /// not_runnable), the deciding rule (rule = data_access, screening,
    /// denied_tool, ...), reason_contains, and [case.sandbox] expectations
    /// (network, egress, binds, no_binds, max = { memory = "256Mi", ... }).
    /// Nothing is run, counted or audited. Prints one line per failing case and
    /// `N passed, M failed`; exits 0 when all pass, 1 otherwise, 78 for a
    /// malformed test file.
    Test {
        /// Test files or directories of them (*.toml); default: DIR/tests of the profiles in use
        paths: Vec<PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value_t = profiles_report::TestFormat::Text, help_heading = OUTPUT)]
        format: profiles_report::TestFormat,
    },
    /// What a change of profiles grants or revokes, per role
    ///
    /// Compares two profile sets: tools added to or removed from allowed_tools
    /// and denied_tools, risk classes, parameter rules (pattern, enum, range,
    /// length, access, bind), data_access, screening, limits and budgets,
    /// sandbox settings (network, egress, binds, limits, optional mechanisms)
    /// and approval settings. Each change is labelled loosens or tightens; a
    /// changed pattern loosens unless provably narrower. Exits 0 when nothing
    /// loosens, 1 when something does, 78 when a side cannot be loaded.
    Diff {
        /// The old profiles: a directory, or git:REV:PATH (e.g. git:origin/main:profiles)
        old: String,
        /// The new profiles: a directory, or git:REV:PATH
        new: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
    /// Propose profile changes from the decisions in an audit log
    ///
    /// Loosening: the smallest grants that would have allowed the denied calls
    /// (a tool added to allowed_tools, a value to a data_access list, a
    /// data_access flag set); never a denied_tools entry removed, a risk class
    /// changed, screening or budgets loosened. Tightening, from the allowed
    /// calls: allowed tools never called, data_access entries never used,
    /// binds no call reached, parameters that took at most 3 values in 3 or
    /// more calls. Printed as a profiles diff; files change only with --write.
    Learn {
        /// The audit log to read (JSON lines; decision records are used)
        #[arg(long, value_name = "AUDIT_LOG")]
        from: PathBuf,
        /// Only this role's calls
        #[arg(long, value_name = "ROLE", add = ArgValueCompleter::new(complete::roles))]
        role: Option<String>,
        /// Apply the proposal to the profile directory (--profiles DIR)
        #[arg(long)]
        write: bool,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
        format: Format,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    /// The agent's role, which selects the permission profile
    #[arg(long, env = "AGENTJAIL_ROLE", value_name = "ROLE", help_heading = CALL, add = ArgValueCompleter::new(complete::roles))]
    pub role: Option<String>,
    /// The calling agent's id (recorded in the audit log)
    #[arg(long, env = "AGENTJAIL_AGENT", value_name = "ID", help_heading = CALL)]
    pub agent: Option<String>,
    /// The agent's session id (recorded; budgets are kept per session)
    #[arg(long, env = "AGENTJAIL_SESSION", value_name = "ID", help_heading = CALL)]
    pub session: Option<String>,
    /// One parameter; repeatable. VALUE is converted to the parameter's type
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", help_heading = CALL, add = ArgValueCompleter::new(complete::params))]
    pub param: Vec<String>,
    /// All parameters as a JSON object, inline, from @FILE, or from stdin with -
    #[arg(long, value_name = "JSON|@FILE|-", help_heading = CALL)]
    pub params: Option<String>,
    /// The tool's stdin, from a file: its SHA-256 is bound by an approval
    /// (a plain stdin cannot be). Read once into a sealed memory file, at most 16 MiB
    #[arg(long, value_name = "PATH", help_heading = CALL)]
    pub stdin_file: Option<PathBuf>,
    /// Tokens the agent spent producing this call: counted against the role's max_tokens
    /// for the session (check only shows the effect)
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = CALL)]
    pub tokens: u64,
    /// The tool to call, as named in the tool catalog
    #[arg(value_name = "TOOL", add = ArgValueCompleter::new(complete::tools))]
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

// `--format` and its alias `--json`, for `run` and `check`. (A plain comment:
// clap takes a doc comment for the `about` of the commands that flatten
// this, and with `defer` it is applied after theirs.)
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Output format; json: one JSON object (run: the tool's output captured)
    #[arg(long, value_enum, default_value_t = Format::Text, help_heading = OUTPUT)]
    pub format: Format,
    /// The same as --format json
    #[arg(long, conflicts_with = "format", help_heading = OUTPUT)]
    pub json: bool,
}

impl OutputArgs {
    pub fn json(&self) -> bool {
        self.json || self.format == Format::Json
    }
}

/// The help heading of the options every command takes (shown once, in
/// `agentjail --help`).
const GLOBAL: &str = "Global options";
/// The help heading of the call's options (run, check).
const CALL: &str = "Call";
/// The help heading of `--format` (and `--json`), last in every command.
const OUTPUT: &str = "Output";

/// The command line as parsed: the derived command, with the global options
/// hidden from each command's help (they are listed once, in
/// `agentjail --help`) but still accepted after the command name.
pub fn command() -> clap::Command {
    command_for(|_| true)
}

/// [`command`], with the hidden global copies added only to the subcommands
/// `wanted` names (about a tenth of a `check` call's instructions went to
/// adding them to every subcommand).
fn command_for(wanted: impl Fn(&clap::Command) -> bool) -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    // A command that already has an argument of a global's id does not get the
    // global's copy (clap's propagation skips it); a hidden, global copy is
    // still parsed, its value propagated to the top, and passed on to the
    // command's own subcommands (hidden, too).
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| wanted(s))
        .map(|s| s.get_name().to_string())
        .collect();
    names.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| {
            let sub = globals
                .iter()
                .fold(sub, |sub, a| sub.arg(a.clone().hide(true)));
            point_to_global_help(sub)
        })
    })
}

const SEE_GLOBAL: &str = "Global options (--profiles, --audit-log, --state-dir, --alert-command, \
    --approval-hook, --cgroup-parent, -v, -q): see `agentjail --help`";

/// Says where the hidden global options are described, in `sub` and its subcommands.
fn point_to_global_help(sub: clap::Command) -> clap::Command {
    let names: Vec<String> = sub
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let sub = sub.after_help(SEE_GLOBAL);
    names.iter().fold(sub, |sub, name| {
        sub.mut_subcommand(name, point_to_global_help)
    })
}

/// Parses the process's arguments with [`command`].
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    // Only a subcommand named somewhere in the arguments can be the one
    // parsed (or the one `help` shows); the others are left as they are.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let named = |sub: &clap::Command| {
        args.iter().skip(1).any(|a| {
            a.to_str()
                .is_some_and(|a| sub.get_name() == a || sub.get_all_aliases().any(|n| n == a))
        })
    };
    // The command tree is dropped here, though that costs about 190,000
    // instructions (a tenth of a `check`, callgrind): kept, its half MiB is
    // not reused by the allocations after it and the launcher's peak RSS
    // grows by as much.
    let mut matches = command_for(named).try_get_matches_from(args.iter())?;
    Cli::from_arg_matches_mut(&mut matches)
}

impl Cli {
    /// Whether the command's output is JSON (`--format json`, `run --json`).
    pub fn json_output(&self) -> bool {
        match &self.command {
            Command::Run { output, .. } | Command::Check { output, .. } => output.json(),
            Command::Profiles(ProfilesCommand::List { format })
            | Command::Profiles(ProfilesCommand::Show { format, .. })
            | Command::Profiles(ProfilesCommand::Diff { format, .. })
            | Command::Profiles(ProfilesCommand::Learn { format, .. })
            | Command::Doctor { format }
            | Command::Approvals(ApprovalsCommand::List { format, .. })
            | Command::Approvals(ApprovalsCommand::Show { format, .. })
            | Command::Budget(BudgetCommand::Show { format, .. })
            | Command::Audit(AuditCommand::Verify { format, .. })
            | Command::Audit(AuditCommand::Head { format })
            | Command::Audit(AuditCommand::Tail { format, .. }) => *format == Format::Json,
            Command::Profiles(ProfilesCommand::Test { format, .. }) => {
                *format == profiles_report::TestFormat::Json
            }
            Command::Profiles(ProfilesCommand::Validate { .. })
            | Command::Approvals(ApprovalsCommand::Approve { .. })
            | Command::Approvals(ApprovalsCommand::Deny { .. })
            | Command::Completions { .. }
            | Command::Serve { .. }
            | Command::K8s(_)
            | Command::Mcp(_)
            | Command::Man { .. } => false,
        }
    }
}

/// Whether a command line that did not parse asked for JSON output: a
/// `--json`, `--format json` or `--format=json` before any `--`.
pub fn asks_for_json<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut prev_format = false;
    for a in args {
        let a = a.as_ref();
        if a == "--" {
            break;
        }
        if a == "--json" || a == "--format=json" || (prev_format && a == "json") {
            return true;
        }
        prev_format = a == "--format";
    }
    false
}
