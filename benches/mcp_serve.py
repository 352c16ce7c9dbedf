"""Benchmark (not a test): the median per-call overhead of `agentjail mcp
serve` against `agentjail run --json` of the same tool.

    target/ci/venv-mcp2/bin/python benches/mcp_serve.py [--calls N] [--bin PATH]

Times, from this Python process, N calls of the files_agent role's
echo_text: (a) each `agentjail run --json` as a new process, (b) each
tools/call over one `mcp serve` session through the Python SDK's
ClientSession, (c) the same over the raw line protocol (no SDK in the way).
Prints the medians and (b)-(a), (c)-(a). State, log and profiles go to a
temporary directory outside /tmp. Needs root or a working sandbox, like
`agentjail run`."""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def globals_for(base):
    return ["--profiles", os.path.join(REPO, "profiles"), "--audit-log", os.path.join(base, "audit.jsonl"),
            "--state-dir", os.path.join(base, "state")]


def run_once(argv, env):
    t = time.perf_counter()
    subprocess.run(argv, capture_output=True, env=env, check=True)
    return time.perf_counter() - t


class Raw:
    """One `mcp serve` spoken to line by line, no SDK in the way."""

    def __init__(self, argv, env):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.i = 0
        self.rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                "clientInfo": {"name": "bench", "version": "1"}})

    def rpc(self, method, params):
        self.i += 1
        msg = {"jsonrpc": "2.0", "id": self.i, "method": method, "params": params}
        self.p.stdin.write((json.dumps(msg) + "\n").encode())
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def call_once(self):
        t = time.perf_counter()
        r = self.rpc("tools/call", {"name": "echo_text", "arguments": {"text": "x"}})
        elapsed = time.perf_counter() - t
        assert not r["result"]["isError"], r
        return elapsed

    def close(self):
        self.p.stdin.close()
        self.p.wait()


async def bench(binary, base, n):
    """n rounds; each round times one call of each kind, in turn, so that
    load on a shared machine falls on each alike."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = dict(os.environ, AGENTJAIL_AUDIT_APPEND_ONLY="0")
    run_argv = [binary, *globals_for(base), "run", "--json", "--role", "files_agent", "echo_text",
                "--param", "text=x"]
    serve_args = [*globals_for(base), "mcp", "serve", "--role", "files_agent"]
    params = StdioServerParameters(
        command=binary, args=serve_args,
        env={"AGENTJAIL_AUDIT_APPEND_ONLY": "0", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    for _ in range(3):  # warm the page cache
        run_once(run_argv, env)
    raw = Raw([binary, *serve_args], env)
    times = {"run": [], "raw": [], "sdk": []}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(n):
                times["run"].append(run_once(run_argv, env))
                times["raw"].append(raw.call_once())
                t = time.perf_counter()
                r = await session.call_tool("echo_text", {"text": "x"})
                times["sdk"].append(time.perf_counter() - t)
                assert not r.is_error, r
    raw.close()
    return times


def ms(xs):
    return statistics.median(xs) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=50)
    default_bin = os.path.join(REPO, "target/release/agentjail")
    if not os.path.exists(default_bin):
        default_bin = os.path.join(REPO, "target/debug/agentjail")
    ap.add_argument("--bin", default=default_bin)
    a = ap.parse_args()
    parent = "/var/tmp" if REPO.startswith("/tmp") else os.path.join(REPO, "target")
    with tempfile.TemporaryDirectory(dir=parent) as base:
        times = asyncio.run(bench(a.bin, base, a.calls))
    run, raw, sdk = times["run"], times["raw"], times["sdk"]
    print(f"binary: {a.bin}; {a.calls} calls of files_agent echo_text each, taking turns")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    print(f"run --json (new process per call): median {ms(run):.2f} ms")
    print(f"mcp serve, raw JSON-RPC lines:     median {ms(raw):.2f} ms ({ms(raw) - ms(run):+.2f} ms)")
    print(f"mcp serve, Python SDK session:     median {ms(sdk):.2f} ms ({ms(sdk) - ms(run):+.2f} ms)")


if __name__ == "__main__":
    main()
