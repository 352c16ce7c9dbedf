# mcp wrap acceptance tests (tests/mcp_wrap.rs): third-party MCP servers.
# The Python server gets its own venv: mcp-server-sqlite needs the mcp 1.x
# server API, while the clients' venv ($AGENTJAIL_TEST_VENV) holds mcp 2.x.
: "${AGENTJAIL_TEST_VENV:?}" "${AGENTJAIL_TEST_NPM:?}"
AGENTJAIL_TEST_SERVERS_VENV="${AGENTJAIL_TEST_SERVERS_VENV:-$(dirname "$AGENTJAIL_TEST_VENV")/mcp-servers-venv}"
export AGENTJAIL_TEST_SERVERS_VENV
[ -x "$AGENTJAIL_TEST_NPM/node_modules/.bin/mcp-server-filesystem" ] ||
    npm install -s --prefix "$AGENTJAIL_TEST_NPM" @modelcontextprotocol/server-filesystem@2026.8.31
# The system python (under /usr, which every sandbox sees); a python under
# /root (pyenv) could not be bound for the sandbox's unprivileged user.
[ -x "$AGENTJAIL_TEST_SERVERS_VENV/bin/python" ] || /usr/bin/python3 -m venv "$AGENTJAIL_TEST_SERVERS_VENV"
[ -x "$AGENTJAIL_TEST_SERVERS_VENV/bin/mcp-server-sqlite" ] ||
    "$AGENTJAIL_TEST_SERVERS_VENV/bin/pip" install -q mcp==1.30.0 mcp-server-sqlite==2025.4.25
