# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_agentjail_global_optspecs
    string join \n profiles= audit-log= alert-command= cgroup-parent= state-dir= approval-hook= broker= v/verbose q/quiet h/help V/version
end

function __fish_agentjail_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_agentjail_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_agentjail_using_subcommand
    set -l cmd (__fish_agentjail_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c agentjail -n "__fish_agentjail_needs_command" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_needs_command" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_needs_command" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_needs_command" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_needs_command" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_needs_command" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_needs_command" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_needs_command" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentjail -n "__fish_agentjail_needs_command" -s V -l version -d 'Print version'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "run" -d 'Decide, then run the tool inside the sandbox'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "check" -d 'Decide without running: print the decision, its reasons, the argv and the sandbox plan'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "profiles" -d 'List, show and validate role profiles'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "doctor" -d 'Report what this host offers for sandboxing and how to fix what is missing'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "man" -d 'Print a man page (roff): agentjail(1), or agentjail-COMMAND(1)'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "audit" -d 'Verify the audit log\'s hash chain, print its head, or follow it'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "approvals" -d 'List, show, approve and deny approval requests'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "budget" -d 'Show usage against the roles\' per-session budgets'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "serve" -d 'Run the broker: serve calls on a unix socket with its own policy, state and log'
complete -c agentjail -n "__fish_agentjail_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l role -d 'The agent\'s role, which selects the permission profile' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l agent -d 'The calling agent\'s id (recorded in the audit log)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l session -d 'The agent\'s session id (recorded; budgets are kept per session)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -s p -l param -d 'One parameter; repeatable. VALUE is converted to the parameter\'s type' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l params -d 'All parameters as a JSON object, inline, from @FILE, or from stdin with -' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l stdin-file -d 'The tool\'s stdin, from a file: its SHA-256 is bound by an approval (a plain stdin cannot be). Read once into a sealed memory file, at most 16 MiB' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l tokens -d 'Tokens the agent spent producing this call: counted against the role\'s max_tokens for the session (check only shows the effect)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l json -d 'Capture the tool\'s output and print one JSON result object'
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l interactive -d 'Ask for approval at the terminal (/dev/tty) even when stdin is not one'
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -l no-interactive -d 'Never ask at the terminal: queue an approval request and exit 75'
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l role -d 'The agent\'s role, which selects the permission profile' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l agent -d 'The calling agent\'s id (recorded in the audit log)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l session -d 'The agent\'s session id (recorded; budgets are kept per session)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -s p -l param -d 'One parameter; repeatable. VALUE is converted to the parameter\'s type' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l params -d 'All parameters as a JSON object, inline, from @FILE, or from stdin with -' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l stdin-file -d 'The tool\'s stdin, from a file: its SHA-256 is bound by an approval (a plain stdin cannot be). Read once into a sealed memory file, at most 16 MiB' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l tokens -d 'Tokens the agent spent producing this call: counted against the role\'s max_tokens for the session (check only shows the effect)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -f -a "list" -d 'List the roles and where they were loaded from'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -f -a "show" -d 'Show one role\'s profile with every default filled in'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -f -a "validate" -d 'Check profile directories and print every error (exit 78 on any)'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and not __fish_seen_subcommand_from list show validate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l format -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l format -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from validate" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the roles and where they were loaded from'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one role\'s profile with every default filled in'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from help" -f -a "validate" -d 'Check profile directories and print every error (exit 78 on any)'
complete -c agentjail -n "__fish_agentjail_using_subcommand profiles; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand completions" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand man" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -f -a "verify" -d 'Recompute the hash chain; exit 0 when intact, 1 at the first line that breaks it'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -f -a "head" -d 'Print the last record\'s SEQ:HASH, to be stored elsewhere and given to verify --head'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -f -a "tail" -d 'Show the last records, one line each (colour only on a terminal)'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and not __fish_seen_subcommand_from verify head tail help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l head -d 'A head saved earlier (`agentjail audit head`) that must still be in the chain; catches records cut from the end' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l after -d 'The first file continues the chain after this record (its older files are gone)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from head" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -s n -l lines -d 'How many records to show' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l role -d 'Only this role\'s records' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l session -d 'Only this session\'s records' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l risk -d 'Only records of this risk class' -r -f -a "read\t''
modify\t''
delete\t''
external\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l event -d 'Only records of this event type' -r -f -a "decision\t''
tool_call\t''
tool_result\t''
approval\t''
error\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l format -d 'Output format: text, or the records\' JSON lines as stored' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -s f -l follow -d 'Keep printing records as they are appended'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from tail" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Recompute the hash chain; exit 0 when intact, 1 at the first line that breaks it'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "head" -d 'Print the last record\'s SEQ:HASH, to be stored elsewhere and given to verify --head'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "tail" -d 'Show the last records, one line each (colour only on a terminal)'
complete -c agentjail -n "__fish_agentjail_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -f -a "list" -d 'List pending and approved requests (expired ones are marked and audited)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -f -a "show" -d 'Show one request: role, agent, session, tool, parameters, argv, sandbox'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -f -a "approve" -d 'Approve a pending request: one run of exactly that call, until the TTL ends'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -f -a "deny" -d 'Deny a pending request; the identical call is refused (77) until the request\'s TTL ends'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and not __fish_seen_subcommand_from list show approve deny help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -l all -d 'Also denied, consumed and expired requests'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l ttl -d 'How long the approval can be used (e.g. 90s, 10m, 1h); default: the role\'s approval.ttl (10m)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l reason -d 'Why (recorded in the request and the audit log)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l reason -d 'Why (recorded in the request and the audit log)' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from deny" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "list" -d 'List pending and approved requests (expired ones are marked and audited)'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one request: role, agent, session, tool, parameters, argv, sandbox'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Approve a pending request: one run of exactly that call, until the TTL ends'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "deny" -d 'Deny a pending request; the identical call is refused (77) until the request\'s TTL ends'
complete -c agentjail -n "__fish_agentjail_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -f -a "show" -d 'Print usage against limits per role and session'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and not __fish_seen_subcommand_from show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l session -d 'Only this session' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l role -d 'Only this role' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print usage against limits per role and session'
complete -c agentjail -n "__fish_agentjail_using_subcommand budget; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l config -d 'The broker\'s configuration (TOML)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l socket -d 'The socket to listen on; default: the configuration\'s `socket`' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l profiles -d 'Profile directory (tools.toml and roles/*.toml); default: the first of $XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l audit-log -d 'Audit log file; default: /var/log/agentjail/audit.jsonl for root, $XDG_STATE_HOME/agentjail/audit.jsonl for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l alert-command -d 'Shell command run (sh -c) with each alerting audit record as JSON on stdin: risk delete or external, critical denials, errors; killed after 2s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l cgroup-parent -d 'Parent of each run\'s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default: agentjail below the launcher\'s own cgroup (root)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l state-dir -d 'State directory (approval requests, budget counters); default: /var/lib/agentjail for root, $XDG_STATE_HOME/agentjail for a user' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l approval-hook -d 'Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited' -r
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l broker -d 'Send run, check and approvals to the broker listening on this socket (agentjail serve)' -r -F
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -l check-config -d 'Check the configuration and the profiles, print a summary and exit'
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -s v -l verbose -d 'More log output on stderr (repeat for more)'
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -s q -l quiet -d 'Only errors on stderr'
complete -c agentjail -n "__fish_agentjail_using_subcommand serve" -s h -l help -d 'Print help'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "run" -d 'Decide, then run the tool inside the sandbox'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "check" -d 'Decide without running: print the decision, its reasons, the argv and the sandbox plan'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "profiles" -d 'List, show and validate role profiles'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "doctor" -d 'Report what this host offers for sandboxing and how to fix what is missing'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "completions" -d 'Print a shell completion script'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "man" -d 'Print a man page (roff): agentjail(1), or agentjail-COMMAND(1)'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "audit" -d 'Verify the audit log\'s hash chain, print its head, or follow it'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "approvals" -d 'List, show, approve and deny approval requests'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "budget" -d 'Show usage against the roles\' per-session budgets'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "serve" -d 'Run the broker: serve calls on a unix socket with its own policy, state and log'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and not __fish_seen_subcommand_from run check profiles doctor completions man audit approvals budget serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from profiles" -f -a "list" -d 'List the roles and where they were loaded from'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from profiles" -f -a "show" -d 'Show one role\'s profile with every default filled in'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from profiles" -f -a "validate" -d 'Check profile directories and print every error (exit 78 on any)'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Recompute the hash chain; exit 0 when intact, 1 at the first line that breaks it'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "head" -d 'Print the last record\'s SEQ:HASH, to be stored elsewhere and given to verify --head'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "tail" -d 'Show the last records, one line each (colour only on a terminal)'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from approvals" -f -a "list" -d 'List pending and approved requests (expired ones are marked and audited)'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from approvals" -f -a "show" -d 'Show one request: role, agent, session, tool, parameters, argv, sandbox'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from approvals" -f -a "approve" -d 'Approve a pending request: one run of exactly that call, until the TTL ends'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from approvals" -f -a "deny" -d 'Deny a pending request; the identical call is refused (77) until the request\'s TTL ends'
complete -c agentjail -n "__fish_agentjail_using_subcommand help; and __fish_seen_subcommand_from budget" -f -a "show" -d 'Print usage against limits per role and session'
