"""The official Python MCP SDK (mcp 2.x) as the agent's client of
`agentjail mcp wrap` in front of @modelcontextprotocol/server-filesystem:
ClientSession over stdio_client (initialize), then Client in auto mode
(server/discover first, -32601 from the firewall, then initialize).

MCP_SERVER: {"command", "args", "env"} as JSON; MCP_FILES: the bound
directory holding hello.txt. Prints one JSON line; exit 0 when every check
held. Used by tests/mcp_wrap.rs."""

import asyncio
import json
import os
import sys

from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def exercise(session, label, files):
    names = sorted(t.name for t in (await session.list_tools()).tools)
    check(names == ["list_allowed_directories", "read_text_file"], f"{label}: tools {names}")
    ok = await session.call_tool("read_text_file", {"path": f"{files}/hello.txt"})
    check(not ok.is_error and "hello from the bound directory" in text_of(ok), f"{label}: {text_of(ok)}")
    hidden = await session.call_tool("write_file", {"path": f"{files}/x.txt", "content": "x"})
    check(hidden.is_error and "not named in role" in text_of(hidden), f"{label}: {text_of(hidden)}")
    outside = await session.call_tool("read_text_file", {"path": "/etc/passwd"})
    check(outside.is_error and text_of(outside).startswith("agentjail: "), f"{label}: {text_of(outside)}")
    return names


async def main():
    spec = json.loads(os.environ["MCP_SERVER"])
    files = os.environ["MCP_FILES"]
    params = StdioServerParameters(command=spec["command"], args=spec["args"], env=spec["env"])
    summary = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            summary["protocol"] = init.protocol_version
            summary["session"] = await exercise(session, "session", files)
    async with Client(params, mode="auto") as client:
        summary["client"] = await exercise(client, "client", files)
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1)
