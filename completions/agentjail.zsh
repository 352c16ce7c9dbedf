#compdef agentjail

autoload -U is-at-least

_agentjail() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_agentjail_commands" \
"*::: :->agentjail" \
&& ret=0
    case $state in
    (agentjail)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-command-$line[1]:"
        case $line[1] in
            (run)
_arguments "${_arguments_options[@]}" : \
'--role=[The agent'\''s role, which selects the permission profile]:ROLE:_default' \
'--agent=[The calling agent'\''s id (recorded in the audit log)]:ID:_default' \
'--session=[The agent'\''s session id (recorded; budgets are kept per session)]:ID:_default' \
'*-p+[One parameter; repeatable. VALUE is converted to the parameter'\''s type]:NAME=VALUE:_default' \
'*--param=[One parameter; repeatable. VALUE is converted to the parameter'\''s type]:NAME=VALUE:_default' \
'--params=[All parameters as a JSON object, inline, from @FILE, or from stdin with -]:JSON|@FILE|-:_default' \
'--stdin-file=[The tool'\''s stdin, from a file\: its SHA-256 is bound by an approval (a plain stdin cannot be). Read once into a sealed memory file, at most 16 MiB]:PATH:_files' \
'--tokens=[Tokens the agent spent producing this call\: counted against the role'\''s max_tokens for the session (check only shows the effect)]:N:_default' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'--json[Capture the tool'\''s output and print one JSON result object]' \
'(--no-interactive)--interactive[Ask for approval at the terminal (/dev/tty) even when stdin is not one]' \
'--no-interactive[Never ask at the terminal\: queue an approval request and exit 75]' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':tool -- The tool to call, as named in the tool catalog:_default' \
'*::extra_args -- Extra arguments for tools that accept them (each checked against the tool'\''s pattern):_default' \
&& ret=0
;;
(check)
_arguments "${_arguments_options[@]}" : \
'--role=[The agent'\''s role, which selects the permission profile]:ROLE:_default' \
'--agent=[The calling agent'\''s id (recorded in the audit log)]:ID:_default' \
'--session=[The agent'\''s session id (recorded; budgets are kept per session)]:ID:_default' \
'*-p+[One parameter; repeatable. VALUE is converted to the parameter'\''s type]:NAME=VALUE:_default' \
'*--param=[One parameter; repeatable. VALUE is converted to the parameter'\''s type]:NAME=VALUE:_default' \
'--params=[All parameters as a JSON object, inline, from @FILE, or from stdin with -]:JSON|@FILE|-:_default' \
'--stdin-file=[The tool'\''s stdin, from a file\: its SHA-256 is bound by an approval (a plain stdin cannot be). Read once into a sealed memory file, at most 16 MiB]:PATH:_files' \
'--tokens=[Tokens the agent spent producing this call\: counted against the role'\''s max_tokens for the session (check only shows the effect)]:N:_default' \
'--format=[Output format]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':tool -- The tool to call, as named in the tool catalog:_default' \
'*::extra_args -- Extra arguments for tools that accept them (each checked against the tool'\''s pattern):_default' \
&& ret=0
;;
(profiles)
_arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_agentjail__subcmd__profiles_commands" \
"*::: :->profiles" \
&& ret=0

    case $state in
    (profiles)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-profiles-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
'--format=[]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
'--format=[]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
':role -- The role'\''s name:_default' \
&& ret=0
;;
(validate)
_arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
'*::paths -- Profile directories, or single role/catalog files; default\: the profiles in use:_files' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__profiles__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-profiles-help-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(validate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(doctor)
_arguments "${_arguments_options[@]}" : \
'--format=[Output format]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell to generate for:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
'::page -- A command whose page to print (run, check, profiles, doctor, completions, man, audit, approvals, budget):_default' \
&& ret=0
;;
(audit)
_arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_agentjail__subcmd__audit_commands" \
"*::: :->audit" \
&& ret=0

    case $state in
    (audit)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-audit-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
'--head=[A head saved earlier (\`agentjail audit head\`) that must still be in the chain; catches records cut from the end]:SEQ:HASH:_default' \
'--after=[The first file continues the chain after this record (its older files are gone)]:SEQ:HASH:_default' \
'--format=[Output format]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::paths -- Log files, oldest first; default\: the audit log after its rotated PATH.N … PATH.1:_files' \
&& ret=0
;;
(head)
_arguments "${_arguments_options[@]}" : \
'--format=[Output format]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(tail)
_arguments "${_arguments_options[@]}" : \
'-n+[How many records to show]:N:_default' \
'--lines=[How many records to show]:N:_default' \
'--role=[Only this role'\''s records]:ROLE:_default' \
'--session=[Only this session'\''s records]:ID:_default' \
'--risk=[Only records of this risk class]:CLASS:(read modify delete external)' \
'--event=[Only records of this event type]:TYPE:(decision tool_call tool_result approval error)' \
'--format=[Output format\: text, or the records'\'' JSON lines as stored]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'-f[Keep printing records as they are appended]' \
'--follow[Keep printing records as they are appended]' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__audit__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-audit-help-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(head)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(tail)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(approvals)
_arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
":: :_agentjail__subcmd__approvals_commands" \
"*::: :->approvals" \
&& ret=0

    case $state in
    (approvals)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-approvals-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
'--format=[Output format]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'--all[Also denied, consumed and expired requests]' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
'--format=[Output format]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
':id -- The request'\''s id:_default' \
&& ret=0
;;
(approve)
_arguments "${_arguments_options[@]}" : \
'--ttl=[How long the approval can be used (e.g. 90s, 10m, 1h); default\: the role'\''s approval.ttl (10m)]:DURATION:_default' \
'--reason=[Why (recorded in the request and the audit log)]:TEXT:_default' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
':id -- The request'\''s id:_default' \
&& ret=0
;;
(deny)
_arguments "${_arguments_options[@]}" : \
'--reason=[Why (recorded in the request and the audit log)]:TEXT:_default' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
':id -- The request'\''s id:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__approvals__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-approvals-help-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(approve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(deny)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(budget)
_arguments "${_arguments_options[@]}" : \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_agentjail__subcmd__budget_commands" \
"*::: :->budget" \
&& ret=0

    case $state in
    (budget)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-budget-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
'--session=[Only this session]:ID:_default' \
'--role=[Only this role]:ROLE:_default' \
'--format=[Output format]:FORMAT:(text json)' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__budget__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-budget-help-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(serve)
_arguments "${_arguments_options[@]}" : \
'--config=[The broker'\''s configuration (TOML)]:PATH:_files' \
'--socket=[The socket to listen on; default\: the configuration'\''s \`socket\`]:PATH:_files' \
'--profiles=[Profile directory (tools.toml and roles/*.toml); default\: the first of \$XDG_CONFIG_HOME/agentjail/profiles, /etc/agentjail/profiles, then the bundled profiles]:DIR:_files' \
'--audit-log=[Audit log file; default\: /var/log/agentjail/audit.jsonl for root, \$XDG_STATE_HOME/agentjail/audit.jsonl for a user]:PATH:_files' \
'--alert-command=[Shell command run (sh -c) with each alerting audit record as JSON on stdin\: risk delete or external, critical denials, errors; killed after 2s, its failure audited]:CMD:_default' \
'--cgroup-parent=[Parent of each run'\''s cgroup, relative to the cgroup mount (under every v1 hierarchy alike); default\: agentjail below the launcher'\''s own cgroup (root)]:PATH:_files' \
'--state-dir=[State directory (approval requests, budget counters); default\: /var/lib/agentjail for root, \$XDG_STATE_HOME/agentjail for a user]:DIR:_files' \
'--approval-hook=[Shell command run (sh -c) for each new pending approval request, with the request as JSON on stdin; killed after 5s, its failure audited]:CMD:_default' \
'--broker=[Send run, check and approvals to the broker listening on this socket (agentjail serve)]:SOCKET:_files' \
'--check-config[Check the configuration and the profiles, print a summary and exit]' \
'*-v[More log output on stderr (repeat for more)]' \
'*--verbose[More log output on stderr (repeat for more)]' \
'(-v --verbose)-q[Only errors on stderr]' \
'(-v --verbose)--quiet[Only errors on stderr]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-help-command-$line[1]:"
        case $line[1] in
            (run)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(check)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(profiles)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__help__subcmd__profiles_commands" \
"*::: :->profiles" \
&& ret=0

    case $state in
    (profiles)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-help-profiles-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(validate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(doctor)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(audit)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__help__subcmd__audit_commands" \
"*::: :->audit" \
&& ret=0

    case $state in
    (audit)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-help-audit-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(head)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(tail)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(approvals)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__help__subcmd__approvals_commands" \
"*::: :->approvals" \
&& ret=0

    case $state in
    (approvals)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-help-approvals-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(approve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(deny)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(budget)
_arguments "${_arguments_options[@]}" : \
":: :_agentjail__subcmd__help__subcmd__budget_commands" \
"*::: :->budget" \
&& ret=0

    case $state in
    (budget)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:agentjail-help-budget-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(serve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_agentjail_commands] )) ||
_agentjail_commands() {
    local commands; commands=(
'run:Decide, then run the tool inside the sandbox' \
'check:Decide without running\: print the decision, its reasons, the argv and the sandbox plan' \
'profiles:List, show and validate role profiles' \
'doctor:Report what this host offers for sandboxing and how to fix what is missing' \
'completions:Print a shell completion script' \
'man:Print a man page (roff)\: agentjail(1), or agentjail-COMMAND(1)' \
'audit:Verify the audit log'\''s hash chain, print its head, or follow it' \
'approvals:List, show, approve and deny approval requests' \
'budget:Show usage against the roles'\'' per-session budgets' \
'serve:Run the broker\: serve calls on a unix socket with its own policy, state and log' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals_commands] )) ||
_agentjail__subcmd__approvals_commands() {
    local commands; commands=(
'list:List pending and approved requests (expired ones are marked and audited)' \
'show:Show one request\: role, agent, session, tool, parameters, argv, sandbox' \
'approve:Approve a pending request\: one run of exactly that call, until the TTL ends' \
'deny:Deny a pending request; the identical call is refused (77) until the request'\''s TTL ends' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail approvals commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__approve_commands] )) ||
_agentjail__subcmd__approvals__subcmd__approve_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals approve commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__deny_commands] )) ||
_agentjail__subcmd__approvals__subcmd__deny_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals deny commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__help_commands] )) ||
_agentjail__subcmd__approvals__subcmd__help_commands() {
    local commands; commands=(
'list:List pending and approved requests (expired ones are marked and audited)' \
'show:Show one request\: role, agent, session, tool, parameters, argv, sandbox' \
'approve:Approve a pending request\: one run of exactly that call, until the TTL ends' \
'deny:Deny a pending request; the identical call is refused (77) until the request'\''s TTL ends' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail approvals help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__help__subcmd__approve_commands] )) ||
_agentjail__subcmd__approvals__subcmd__help__subcmd__approve_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals help approve commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__help__subcmd__deny_commands] )) ||
_agentjail__subcmd__approvals__subcmd__help__subcmd__deny_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals help deny commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__help__subcmd__help_commands] )) ||
_agentjail__subcmd__approvals__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals help help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__help__subcmd__list_commands] )) ||
_agentjail__subcmd__approvals__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals help list commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__help__subcmd__show_commands] )) ||
_agentjail__subcmd__approvals__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals help show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__list_commands] )) ||
_agentjail__subcmd__approvals__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals list commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__approvals__subcmd__show_commands] )) ||
_agentjail__subcmd__approvals__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail approvals show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit_commands] )) ||
_agentjail__subcmd__audit_commands() {
    local commands; commands=(
'verify:Recompute the hash chain; exit 0 when intact, 1 at the first line that breaks it' \
'head:Print the last record'\''s SEQ\:HASH, to be stored elsewhere and given to verify --head' \
'tail:Show the last records, one line each (colour only on a terminal)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail audit commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__head_commands] )) ||
_agentjail__subcmd__audit__subcmd__head_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail audit head commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__help_commands] )) ||
_agentjail__subcmd__audit__subcmd__help_commands() {
    local commands; commands=(
'verify:Recompute the hash chain; exit 0 when intact, 1 at the first line that breaks it' \
'head:Print the last record'\''s SEQ\:HASH, to be stored elsewhere and given to verify --head' \
'tail:Show the last records, one line each (colour only on a terminal)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail audit help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__help__subcmd__head_commands] )) ||
_agentjail__subcmd__audit__subcmd__help__subcmd__head_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail audit help head commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__help__subcmd__help_commands] )) ||
_agentjail__subcmd__audit__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail audit help help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__help__subcmd__tail_commands] )) ||
_agentjail__subcmd__audit__subcmd__help__subcmd__tail_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail audit help tail commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__help__subcmd__verify_commands] )) ||
_agentjail__subcmd__audit__subcmd__help__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail audit help verify commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__tail_commands] )) ||
_agentjail__subcmd__audit__subcmd__tail_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail audit tail commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__audit__subcmd__verify_commands] )) ||
_agentjail__subcmd__audit__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail audit verify commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__budget_commands] )) ||
_agentjail__subcmd__budget_commands() {
    local commands; commands=(
'show:Print usage against limits per role and session' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail budget commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__budget__subcmd__help_commands] )) ||
_agentjail__subcmd__budget__subcmd__help_commands() {
    local commands; commands=(
'show:Print usage against limits per role and session' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail budget help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__budget__subcmd__help__subcmd__help_commands] )) ||
_agentjail__subcmd__budget__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail budget help help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__budget__subcmd__help__subcmd__show_commands] )) ||
_agentjail__subcmd__budget__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail budget help show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__budget__subcmd__show_commands] )) ||
_agentjail__subcmd__budget__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail budget show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__check_commands] )) ||
_agentjail__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail check commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__completions_commands] )) ||
_agentjail__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail completions commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__doctor_commands] )) ||
_agentjail__subcmd__doctor_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail doctor commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help_commands] )) ||
_agentjail__subcmd__help_commands() {
    local commands; commands=(
'run:Decide, then run the tool inside the sandbox' \
'check:Decide without running\: print the decision, its reasons, the argv and the sandbox plan' \
'profiles:List, show and validate role profiles' \
'doctor:Report what this host offers for sandboxing and how to fix what is missing' \
'completions:Print a shell completion script' \
'man:Print a man page (roff)\: agentjail(1), or agentjail-COMMAND(1)' \
'audit:Verify the audit log'\''s hash chain, print its head, or follow it' \
'approvals:List, show, approve and deny approval requests' \
'budget:Show usage against the roles'\'' per-session budgets' \
'serve:Run the broker\: serve calls on a unix socket with its own policy, state and log' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__approvals_commands] )) ||
_agentjail__subcmd__help__subcmd__approvals_commands() {
    local commands; commands=(
'list:List pending and approved requests (expired ones are marked and audited)' \
'show:Show one request\: role, agent, session, tool, parameters, argv, sandbox' \
'approve:Approve a pending request\: one run of exactly that call, until the TTL ends' \
'deny:Deny a pending request; the identical call is refused (77) until the request'\''s TTL ends' \
    )
    _describe -t commands 'agentjail help approvals commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__approvals__subcmd__approve_commands] )) ||
_agentjail__subcmd__help__subcmd__approvals__subcmd__approve_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help approvals approve commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__approvals__subcmd__deny_commands] )) ||
_agentjail__subcmd__help__subcmd__approvals__subcmd__deny_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help approvals deny commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__approvals__subcmd__list_commands] )) ||
_agentjail__subcmd__help__subcmd__approvals__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help approvals list commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__approvals__subcmd__show_commands] )) ||
_agentjail__subcmd__help__subcmd__approvals__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help approvals show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__audit_commands] )) ||
_agentjail__subcmd__help__subcmd__audit_commands() {
    local commands; commands=(
'verify:Recompute the hash chain; exit 0 when intact, 1 at the first line that breaks it' \
'head:Print the last record'\''s SEQ\:HASH, to be stored elsewhere and given to verify --head' \
'tail:Show the last records, one line each (colour only on a terminal)' \
    )
    _describe -t commands 'agentjail help audit commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__audit__subcmd__head_commands] )) ||
_agentjail__subcmd__help__subcmd__audit__subcmd__head_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help audit head commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__audit__subcmd__tail_commands] )) ||
_agentjail__subcmd__help__subcmd__audit__subcmd__tail_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help audit tail commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__audit__subcmd__verify_commands] )) ||
_agentjail__subcmd__help__subcmd__audit__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help audit verify commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__budget_commands] )) ||
_agentjail__subcmd__help__subcmd__budget_commands() {
    local commands; commands=(
'show:Print usage against limits per role and session' \
    )
    _describe -t commands 'agentjail help budget commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__budget__subcmd__show_commands] )) ||
_agentjail__subcmd__help__subcmd__budget__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help budget show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__check_commands] )) ||
_agentjail__subcmd__help__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help check commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__completions_commands] )) ||
_agentjail__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help completions commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__doctor_commands] )) ||
_agentjail__subcmd__help__subcmd__doctor_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help doctor commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__help_commands] )) ||
_agentjail__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__man_commands] )) ||
_agentjail__subcmd__help__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help man commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__profiles_commands] )) ||
_agentjail__subcmd__help__subcmd__profiles_commands() {
    local commands; commands=(
'list:List the roles and where they were loaded from' \
'show:Show one role'\''s profile with every default filled in' \
'validate:Check profile directories and print every error (exit 78 on any)' \
    )
    _describe -t commands 'agentjail help profiles commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__profiles__subcmd__list_commands] )) ||
_agentjail__subcmd__help__subcmd__profiles__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help profiles list commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__profiles__subcmd__show_commands] )) ||
_agentjail__subcmd__help__subcmd__profiles__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help profiles show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__profiles__subcmd__validate_commands] )) ||
_agentjail__subcmd__help__subcmd__profiles__subcmd__validate_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help profiles validate commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__run_commands] )) ||
_agentjail__subcmd__help__subcmd__run_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help run commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__help__subcmd__serve_commands] )) ||
_agentjail__subcmd__help__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail help serve commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__man_commands] )) ||
_agentjail__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail man commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles_commands] )) ||
_agentjail__subcmd__profiles_commands() {
    local commands; commands=(
'list:List the roles and where they were loaded from' \
'show:Show one role'\''s profile with every default filled in' \
'validate:Check profile directories and print every error (exit 78 on any)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail profiles commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__help_commands] )) ||
_agentjail__subcmd__profiles__subcmd__help_commands() {
    local commands; commands=(
'list:List the roles and where they were loaded from' \
'show:Show one role'\''s profile with every default filled in' \
'validate:Check profile directories and print every error (exit 78 on any)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'agentjail profiles help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__help__subcmd__help_commands] )) ||
_agentjail__subcmd__profiles__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail profiles help help commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__help__subcmd__list_commands] )) ||
_agentjail__subcmd__profiles__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail profiles help list commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__help__subcmd__show_commands] )) ||
_agentjail__subcmd__profiles__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail profiles help show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__help__subcmd__validate_commands] )) ||
_agentjail__subcmd__profiles__subcmd__help__subcmd__validate_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail profiles help validate commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__list_commands] )) ||
_agentjail__subcmd__profiles__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail profiles list commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__show_commands] )) ||
_agentjail__subcmd__profiles__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail profiles show commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__profiles__subcmd__validate_commands] )) ||
_agentjail__subcmd__profiles__subcmd__validate_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail profiles validate commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__run_commands] )) ||
_agentjail__subcmd__run_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail run commands' commands "$@"
}
(( $+functions[_agentjail__subcmd__serve_commands] )) ||
_agentjail__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'agentjail serve commands' commands "$@"
}

if [ "$funcstack[1]" = "_agentjail" ]; then
    _agentjail "$@"
else
    compdef _agentjail agentjail
fi
