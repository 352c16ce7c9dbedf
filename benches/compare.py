#!/usr/bin/env python3
"""Two or more agentjail binaries side by side on the warm path, interleaved
with a bubblewrap spawn so that every command meets the same machine: for
each binary, one tools/call round trip over its own `mcp serve --pool 2`
session and one `agentjail --broker SOCK run` against its own broker
([pool] size 4). Prints medians and ratios to bwrap from the same run.

    benches/compare.py CALLS NAME=BINARY [NAME=BINARY ...]

Timings, not a test. Needs root (the broker maps uid 0 as a caller) and
bubblewrap.
"""
import json, os, statistics, subprocess, sys, tempfile, time
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from bwrap import BWRAP
calls = int(sys.argv[1]); bins = dict(a.split("=", 1) for a in sys.argv[2:])
prof = os.path.join(here, "profiles")
env = dict(os.environ, AGENTJAIL_AUDIT_APPEND_ONLY="0")
for v in ("AGENTJAIL_BROKER", "AGENTJAIL_PROFILES", "AGENTJAIL_ROLE"): env.pop(v, None)
class Mcp:
    def __init__(s, aj, base):
        s.p = subprocess.Popen([aj, "--profiles", prof, "--audit-log", base + "/m.jsonl", "--state-dir", base + "/st",
                                "mcp", "serve", "--role", "bench", "--pool", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        s.n = 0; s.rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "1"}})
    def rpc(s, m, p):
        s.n += 1; s.p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": s.n, "method": m, "params": p}) + "\n").encode()); s.p.stdin.flush()
        return json.loads(s.p.stdout.readline())
    def call(s):
        r = s.rpc("tools/call", {"name": "true", "arguments": {}}); assert not r["result"].get("isError"), r
def spawn(cmd):
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert r.returncode == 0, r.stderr
kinds = {"bwrap": lambda: spawn(BWRAP)}; brokers = []
for name, aj in bins.items():
    base = tempfile.mkdtemp(dir="/var/tmp", prefix="aj-cmp-"); sock = base + "/b.sock"
    open(base + "/broker.toml", "w").write(f'profiles = "{prof}"\nstate_dir = "{base}/bs"\naudit_log = "{base}/ba.jsonl"\nsocket = "{sock}"\nmax_concurrent = 8\n[[callers]]\nuid = 0\nroles = ["bench"]\n[pool]\nsize = 4\nplans = 1\n')
    b = subprocess.Popen([aj, "serve", "--config", base + "/broker.toml"], stderr=open(base + "/err", "w"), env=env); brokers.append(b)
    while not os.path.exists(sock): time.sleep(0.05)
    m = Mcp(aj, base)
    kinds[f"mcp {name}"] = m.call
    kinds[f"broker {name}"] = (lambda aj=aj, sock=sock: spawn([aj, "--broker", sock, "run", "--role", "bench", "true"]))
for _ in range(3):
    for f in kinds.values(): f()
time.sleep(0.3)
times = {k: [] for k in kinds}
for _ in range(calls):
    for k, f in kinds.items():
        t = time.perf_counter(); f(); times[k].append(time.perf_counter() - t); time.sleep(0.003)
med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
for k in kinds: print(f"| {k} | {med[k]:.2f} ms | {med[k]/med['bwrap']:.2f} |")
for b in brokers: b.terminate()
