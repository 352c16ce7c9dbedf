#!/usr/bin/env bash
# Times, in ONE hyperfine invocation (so the commands share the machine's
# state): /bin/true, bubblewrap with all namespaces, a new session, no
# capabilities, uid/gid 65534, read-only /usr and the merged-usr symlinks,
# tmpfs /tmp, fresh /proc and /dev; and `agentjail run` of the bench role's
# /bin/true (benches/profiles) with its cgroup, seccomp filter, Landlock and
# the synced audit log, all checked on before timing; and the same call
# through a broker (`agentjail serve`, [pool] size 2: prepared sandboxes),
# the client's start included. Run as root (the broker maps uid 0).
#
#     RUNS=300 benches/sandbox.sh
#
# Prints hyperfine's report, then a markdown table of medians and minimums
# with their ratios to bwrap.
#
# Needs: hyperfine, bubblewrap (Debian packages of the same names). Timings,
# not a test: on a shared machine compare the ratios of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
aj=./target/release/agentjail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export AGENTJAIL_AUDIT_APPEND_ONLY=0
log=$dir/audit.jsonl
aj_cmd="$aj --profiles benches/profiles --audit-log $log run --role bench true"
# The run must have every mechanism on, or the comparison means nothing.
steps=$($aj --profiles benches/profiles --audit-log "$log" -v run --role bench true 2>&1)
for want in "result record #[0-9]* synced, " "before-exec step done" "seccomp on" "Landlock full" "no_new_privs true" "sandbox: cgroup v"; do
  grep -q "$want" <<<"$steps" || { echo "sandbox.sh: '$want' missing from the -v run:"; echo "$steps"; exit 1; } >&2
done
# The broker, with its own state and log, serving the bench role to uid 0.
sock=$dir/broker.sock
printf '%s\n' "profiles = \"$PWD/benches/profiles\"" "state_dir = \"$dir/broker-state\"" \
  "audit_log = \"$dir/broker-audit.jsonl\"" "socket = \"$sock\"" \
  "[[callers]]" "uid = 0" "roles = [\"bench\"]" "[pool]" "size = 2" "plans = 1" > "$dir/broker.toml"
"$aj" serve --config "$dir/broker.toml" 2>"$dir/broker.err" &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
broker_cmd="$aj --broker $sock run --role bench true"
$broker_cmd || { echo "sandbox.sh: the call through the broker failed:"; cat "$dir/broker.err"; exit 1; } >&2
bwrap_cmd="bwrap --unshare-all --die-with-parent --new-session --cap-drop ALL \
 --uid 65534 --gid 65534 \
 --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin \
 --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
 --ro-bind /etc/ld.so.cache /etc/ld.so.cache \
 --tmpfs /tmp --proc /proc --dev /dev /bin/true"
hyperfine --warmup 20 --runs "${RUNS:-300}" -N --export-json "$dir/times.json" \
  -n /bin/true /bin/true \
  -n bwrap "$bwrap_cmd" \
  -n "agentjail run" "$aj_cmd" \
  -n "agentjail run (broker)" "$broker_cmd"
python3 - "$dir/times.json" <<'PY'
import json, statistics, sys
res = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: statistics.median(r["times"]) * 1e3 for r in res}
low = {r["command"]: min(r["times"]) * 1e3 for r in res}
print("\n| command | median | min | ratio to bwrap (median) | ratio (min) |\n|---|---|---|---|---|")
for r in res:
    c = r["command"]
    print(f"| {c} | {med[c]:.2f} ms | {low[c]:.2f} ms | {med[c] / med['bwrap']:.2f} | {low[c] / low['bwrap']:.2f} |")
PY
