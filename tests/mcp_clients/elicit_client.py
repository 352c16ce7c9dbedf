"""Approval through elicitation with the official Python SDK (mcp 2.x): the
client declares the capability by passing an elicitation_callback, which
plays the human: it approves the first question and declines the second.

MCP_SERVER as in sdk_client.py (a role with approval.from_client = true and
the delete-class tool `remove`); prints one JSON summary line, exit 0 when
every check held. Used by tests/mcp_serve.rs."""

import json
import os

import mcp_types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from harness import check, text_of, run

asked = []


async def answer(context, params):
    asked.append(params.message)
    approve = len(asked) == 1
    return types.ElicitResult(action="accept", content={"approve": approve})




async def main():
    spec = json.loads(os.environ["MCP_SERVER"])
    params = StdioServerParameters(command=spec["command"], args=spec["args"], env=spec["env"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=answer) as session:
            await session.initialize()
            ran = await session.call_tool("remove", {"name": "abc"})
            check(not ran.is_error, f"the approved call failed: {text_of(ran)}")
            declined = await session.call_tool("remove", {"name": "abd"})
            check(declined.is_error and "declined" in text_of(declined), text_of(declined))
    check(len(asked) == 2 and "tool `remove`" in asked[0], f"asked: {asked}")
    return {"asked": len(asked)}


if __name__ == "__main__":
    run(main)
