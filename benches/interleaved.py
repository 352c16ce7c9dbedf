#!/usr/bin/env python3
"""Times `agentjail run` of a trivial tool against bubblewrap doing the same,
the commands taking turns run by run, so that load which comes and goes on a
shared machine falls on all of them alike (hyperfine runs one command's
batch after the other). Reports medians, minimums and the ratios to bwrap.

    benches/interleaved.py [RUNS] [NAME=BINARY ...]

Without binaries it times ./target/release/agentjail. Give two (for example
an older build as before=/tmp/aj-old and after=./target/release/agentjail)
to compare them in the same run. GAP=SECONDS waits that long before each
command (calls spaced apart, as an agent's are, rather than back to back).
Needs bubblewrap (Debian: bubblewrap).
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bwrap import BWRAP

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
args = sys.argv[1:]
runs = int(args.pop(0)) if args and args[0].isdigit() else 200
bins = dict(a.split("=", 1) for a in args) or {"agentjail": "./target/release/agentjail"}
logs = tempfile.mkdtemp()
bwrap = BWRAP
cmds = {name: [path, "--profiles", "benches/profiles", "--audit-log",
               os.path.join(logs, name + ".jsonl"), "run", "--role", "bench", "true"]
        for name, path in bins.items()}
cmds["bwrap"] = bwrap
times = {k: [] for k in cmds}
warmup = 10
gap = float(os.environ.get("GAP", "0"))
for i in range(runs + warmup):
    for name, cmd in cmds.items():
        time.sleep(gap)
        start = time.perf_counter_ns()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.perf_counter_ns()
        if r.returncode != 0:
            sys.exit(f"{name} exited {r.returncode}: {' '.join(cmd)}")
        if i >= warmup:
            times[name].append((end - start) / 1e6)
base_med = statistics.median(times["bwrap"])
base_min = min(times["bwrap"])
print(f"{'command':12} {'median':>9} {'min':>9} {'ratio (median)':>15} {'ratio (min)':>12}")
for name, t in times.items():
    med, lo = statistics.median(t), min(t)
    print(f"{name:12} {med:7.2f}ms {lo:7.2f}ms {med / base_med:15.2f} {lo / base_min:12.2f}")
