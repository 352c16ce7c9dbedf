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


def bench_run(binary, base, n):
    times = []
    argv = [binary, *globals_for(base), "run", "--json", "--role", "files_agent", "echo_text", "--param", "text=x"]
    env = dict(os.environ, AGENTJAIL_AUDIT_APPEND_ONLY="0")
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - t)
    return times


def bench_raw(binary, base, n):
    argv = [binary, *globals_for(base), "mcp", "serve", "--role", "files_agent"]
    env = dict(os.environ, AGENTJAIL_AUDIT_APPEND_ONLY="0")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def rpc(i, method, params):
        p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n").encode())
        p.stdin.flush()
        return json.loads(p.stdout.readline())

    rpc(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
    times = []
    for i in range(n):
        t = time.perf_counter()
        r = rpc(i + 1, "tools/call", {"name": "echo_text", "arguments": {"text": "x"}})
        times.append(time.perf_counter() - t)
        assert not r["result"]["isError"], r
    p.stdin.close()
    p.wait()
    return times


async def bench_sdk(binary, base, n):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=binary, args=[*globals_for(base), "mcp", "serve", "--role", "files_agent"],
        env={"AGENTJAIL_AUDIT_APPEND_ONLY": "0", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    times = []
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(n):
                t = time.perf_counter()
                r = await session.call_tool("echo_text", {"text": "x"})
                times.append(time.perf_counter() - t)
                assert not r.is_error, r
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
        bench_run(a.bin, base, 3)  # warm the page cache
        run = bench_run(a.bin, base, a.calls)
        raw = bench_raw(a.bin, base, a.calls)
        sdk = asyncio.run(bench_sdk(a.bin, base, a.calls))
    print(f"binary: {a.bin}; {a.calls} calls of files_agent echo_text each")
    print(f"run --json (new process per call): median {ms(run):.2f} ms")
    print(f"mcp serve, raw JSON-RPC lines:     median {ms(raw):.2f} ms ({ms(raw) - ms(run):+.2f} ms)")
    print(f"mcp serve, Python SDK session:     median {ms(sdk):.2f} ms ({ms(sdk) - ms(run):+.2f} ms)")


if __name__ == "__main__":
    main()
