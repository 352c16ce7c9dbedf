#!/usr/bin/env bash
# Egress proxy throughput against a direct download: a 100 MiB file served
# on loopback by python3's http.server, fetched with curl directly, through
# the proxy as plain HTTP (absolute-form), through a CONNECT tunnel and
# through SOCKS5. Prints the median rate of each and its ratio to direct.
# Only 127.0.0.1 is used. Needs: python3, curl.
# RUNS=N sets the downloads per mode (default 5); SIZE_MIB the file size.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example egress_proxy
runs=${RUNS:-5}
size_mib=${SIZE_MIB:-100}
dir=$(mktemp -d)
pids=()
cleanup() {
  exec 3>&- 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

head -c $((size_mib << 20)) /dev/urandom >"$dir/blob"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done

# The proxy runs until its stdin (fd 3 here) is closed.
mkfifo "$dir/in"
"${CARGO_TARGET_DIR:-target}/release/examples/egress_proxy" "127.0.0.1:$port" <"$dir/in" >"$dir/out" 2>"$dir/events" &
pids+=($!)
exec 3>"$dir/in"
for _ in $(seq 100); do
  grep -q '^listening on' "$dir/out" 2>/dev/null && break
  sleep 0.1
done
proxy=$(sed -n 's/^listening on //p' "$dir/out")
[ -n "$proxy" ] || { echo "the proxy did not start" >&2; cat "$dir/events" >&2; exit 1; }

url="http://127.0.0.1:$port/blob"
# Median bytes/second over $runs downloads; checks the size each time.
rate() {
  for _ in $(seq "$runs"); do
    out=$(curl -sS -o /dev/null -w '%{size_download} %{speed_download}' "$@" "$url")
    [ "${out% *}" -eq $((size_mib << 20)) ] || { echo "short download: $out" >&2; exit 1; }
    echo "${out#* }"
  done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

direct=$(rate)
http=$(rate --proxy "http://$proxy")
connect=$(rate --proxy "http://$proxy" --proxytunnel)
socks=$(rate --proxy "socks5h://$proxy")
report() { awk -v m="$1" -v r="$2" -v d="$direct" 'BEGIN { printf "%-14s %10.0f %7.2f\n", m, r / 1048576, r / d }'; }
echo "${size_mib} MiB over loopback, median of $runs downloads"
printf '%-14s %10s %7s\n' mode MiB/s ratio
report direct "$direct"
report http "$http"
report http-connect "$connect"
report socks5 "$socks"
echo "audit events: $(wc -l <"$dir/events") (expected $((3 * runs))); last:"
tail -n 1 "$dir/events"
