#!/usr/bin/env python3
"""The warm path (issue 15), measured from one Python client, interleaved so
that every kind of call meets the same machine:

  bwrap        a bubblewrap spawn (the flags of benches/sandbox.sh), the
               one-shot baseline
  run          `agentjail run` of the bench role, one-shot
  broker run   `agentjail --broker SOCK run ...` (client start included),
               the broker keeping prepared sandboxes ([pool] size 4)
  mcp call     one tools/call round trip over a running `mcp serve
               --pool 2` session (the line protocol, no SDK in the way)

Every agentjail call has its cgroup, seccomp filter, Landlock and synced
audit records. Then the sustained calls per second with 1, 2 and 4
concurrent clients for each (each mcp client has its own session).
Prints two markdown tables, ratios to bwrap from the same run, and the
idle memory of the broker and of one prepared sandbox.

    sudo benches/warm.py [CALLS] [SECONDS]     (defaults 200 and 5)

Timings, not a test. Needs root (the broker maps uid 0 as a caller),
bubblewrap and a release build (cargo build --release), or the binary
named by AGENTJAIL_BIN (an older build, for a before-and-after).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bwrap import BWRAP, rate

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
AJ = os.path.abspath(os.environ.get("AGENTJAIL_BIN", "./target/release/agentjail"))
base = tempfile.mkdtemp(dir="/var/tmp", prefix="agentjail-warm-")
env = dict(os.environ, AGENTJAIL_AUDIT_APPEND_ONLY="0")
for v in ("AGENTJAIL_BROKER", "AGENTJAIL_PROFILES", "AGENTJAIL_ROLE"):
    env.pop(v, None)
profiles = os.path.abspath("benches/profiles")
sock = os.path.join(base, "broker.sock")
with open(os.path.join(base, "broker.toml"), "w") as f:
    f.write(f"""profiles = "{profiles}"
state_dir = "{base}/broker-state"
audit_log = "{base}/broker-audit.jsonl"
socket = "{sock}"
max_concurrent = 8
[[callers]]
uid = 0
roles = ["bench"]
[pool]
size = 4
plans = 1
""")
broker = subprocess.Popen([AJ, "serve", "--config", os.path.join(base, "broker.toml")],
                          stderr=open(os.path.join(base, "broker.err"), "w"), env=env)
for _ in range(200):
    if os.path.exists(sock):
        break
    time.sleep(0.05)


def one_shot(i):
    return [AJ, "--profiles", profiles, "--audit-log", os.path.join(base, f"run-{i}.jsonl"),
            "--state-dir", os.path.join(base, "state"), "run", "--role", "bench", "true"]


def via_broker(_i):
    return [AJ, "--broker", sock, "run", "--role", "bench", "true"]


class Mcp:
    def __init__(self, i):
        self.p = subprocess.Popen(
            [AJ, "--profiles", profiles, "--audit-log", os.path.join(base, f"mcp-{i}.jsonl"),
             "--state-dir", os.path.join(base, "state"), "mcp", "serve", "--role", "bench",
             "--pool", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.n = 0
        self.rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                "clientInfo": {"name": "bench", "version": "1"}})

    def rpc(self, method, params):
        self.n += 1
        msg = {"jsonrpc": "2.0", "id": self.n, "method": method, "params": params}
        self.p.stdin.write((json.dumps(msg) + "\n").encode())
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def call(self):
        r = self.rpc("tools/call", {"name": "true", "arguments": {}})
        if r["result"].get("isError"):
            sys.exit(f"mcp call failed: {r}")

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def spawn(cmd):
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({r.returncode}): {r.stderr.decode()[-400:]}")


def pss_kib(pid, field="Pss:"):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


# Warm-up: every kind once, so the broker and the MCP server have prepared sandboxes.
session = Mcp(0)
for _ in range(3):
    spawn(BWRAP)
    spawn(one_shot(0))
    spawn(via_broker(0))
    session.call()
time.sleep(0.2)
zygotes = children(broker.pid)
sandbox_kib = [pss_kib(z) + sum(pss_kib(c) + sum(pss_kib(t) for t in children(c)) for c in children(z))
               for z in zygotes]
idle = {"broker": pss_kib(broker.pid), "broker_rss": pss_kib(broker.pid, "Rss:"),
        "sandboxes": sandbox_kib}

kinds = {
    "bwrap": lambda: spawn(BWRAP),
    "run": lambda: spawn(one_shot(0)),
    "broker run": lambda: spawn(via_broker(0)),
    "mcp call": session.call,
}
times = {k: [] for k in kinds}
for _ in range(calls):
    for k, f in kinds.items():
        t = time.perf_counter()
        f()
        times[k].append(time.perf_counter() - t)
        time.sleep(0.002)
session.close()
med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
print(f"\nLatency, {calls} interleaved calls of each (medians, ms; ratio to bwrap):\n")
print("| call | median | ratio to bwrap |\n|---|---|---|")
for k in kinds:
    print(f"| {k} | {med[k]:.2f} ms | {med[k] / med['bwrap']:.2f} |")


def mcp_client(i):
    m = Mcp(100 + i)
    m.call()
    return m.call, m.close


makers = {
    "bwrap": lambda i: (lambda: spawn(BWRAP), lambda: None),
    "run": lambda i: (lambda: spawn(one_shot(10 + i)), lambda: None),
    "broker run": lambda i: (lambda: spawn(via_broker(i)), lambda: None),
    "mcp call": mcp_client,
}
levels = [1, 2, 4]
rows = {k: [rate(m, n, seconds) for n in levels] for k, m in makers.items()}
print(f"\nSustained calls per second ({seconds:.0f} s per cell; ratio to bwrap):\n")
print("| call | " + " | ".join(f"{n} client{'s' if n > 1 else ''}" for n in levels) + " |")
print("|---" * (len(levels) + 1) + "|")
for k, r in rows.items():
    print(f"| {k} | " + " | ".join(f"{x:.0f}/s ({x / b:.2f}x)" for x, b in zip(r, rows["bwrap"])) + " |")
print(f"\nIdle, [pool] size 4: broker RSS {idle['broker_rss']} KiB (Pss {idle['broker']} KiB); "
      f"each prepared sandbox (pid 1 and its armed tool process) Pss {idle['sandboxes']} KiB")
broker.terminate()
broker.wait()
