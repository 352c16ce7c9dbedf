#!/usr/bin/env bash
# Times `agentjail run` of a trivial tool against bubblewrap doing the same
# (all namespaces, new session, no capabilities, read-only system binds,
# tmpfs /tmp, fresh /proc and /dev), side by side in one hyperfine run.
# Needs: hyperfine, bubblewrap (Debian packages of the same names).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
aj=./target/release/agentjail
log=$(mktemp -d)/audit.jsonl
bwrap_cmd="bwrap --unshare-all --die-with-parent --new-session --cap-drop ALL \
 --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin \
 --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
 --ro-bind /etc/ld.so.cache /etc/ld.so.cache \
 --tmpfs /tmp --proc /proc --dev /dev /bin/true"
hyperfine --warmup 20 --runs "${RUNS:-300}" -N --export-markdown "${OUT:-/dev/stdout}" \
  -n agentjail "$aj --profiles benches/profiles --audit-log $log run --role bench true" \
  -n bwrap "$bwrap_cmd"
