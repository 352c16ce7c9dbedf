#!/usr/bin/env python3
"""Sustained calls per second: 1, 2 and 4 concurrent clients, each running
one command after the other for SECONDS (default 10), for bubblewrap (the
flags of benches/sandbox.sh) and `agentjail run` of the bench role (cgroup,
seccomp, Landlock, synced audit log). Prints a markdown table.

    benches/throughput.py [SECONDS] [NAME=BINARY ...]

Timings, not a test. Needs bubblewrap (Debian: bubblewrap).
"""
import os
import subprocess
import sys
import tempfile
import time

from bwrap import BWRAP, rate

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
args = sys.argv[1:]
seconds = float(args.pop(0)) if args and args[0].replace(".", "").isdigit() else 10.0
bins = dict(a.split("=", 1) for a in args) or {"agentjail run": "./target/release/agentjail"}
logs = tempfile.mkdtemp()
env = dict(os.environ, AGENTJAIL_AUDIT_APPEND_ONLY="0")
bwrap = BWRAP
cmds = {"bwrap": lambda i: bwrap}
for name, path in bins.items():
    cmds[name] = (lambda path, name: lambda i: [
        path, "--profiles", "benches/profiles", "--audit-log",
        os.path.join(logs, f"{name.replace(' ', '_')}-{i}.jsonl"),
        "run", "--role", "bench", "true"])(path, name)


def one_by_one(make):
    def client(i):
        cmd = make(i)

        def call():
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            return r.returncode == 0
        return call, lambda: None
    return client


levels = [1, 2, 4]
rows = {name: [rate(one_by_one(make), n, seconds) for n in levels] for name, make in cmds.items()}
print("| command | " + " | ".join(f"{n} client{'s' if n > 1 else ''}" for n in levels) + " |")
print("|---" * (len(levels) + 1) + "|")
for name, r in rows.items():
    cells = [f"{x:.0f}/s ({x / b:.2f}x)" for x, b in zip(r, rows["bwrap"])]
    print(f"| {name} | " + " | ".join(cells) + " |")
