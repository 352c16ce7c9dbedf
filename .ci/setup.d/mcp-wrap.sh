# tests/mcp_wrap.rs, tests/mcp_wrap_servers.rs (agentjail mcp wrap): the
# third-party MCP servers, pinned, each Python set in a venv of its own
# beside $AGENTJAIL_TEST_VENV:
#   $AGENTJAIL_TEST_NPM: @modelcontextprotocol/server-filesystem 2026.8.31
#   $AGENTJAIL_TEST_VENV-mcp-servers: mcp-server-sqlite 2025.4.25 on mcp 1.30.0 (it
#     needs the 1.x server API), made from /usr/bin/python3: the sandboxed server's
#     interpreter must lie where the sandbox's unprivileged user can be given it
#     (a pyenv python under /root could not be bound)
# The client, mcp 2.3.0 in $AGENTJAIL_TEST_VENV-mcp2, is the one mcp.sh installs.
: "${AGENTJAIL_TEST_VENV:?}" "${AGENTJAIL_TEST_NPM:?}"
AGENTJAIL_TEST_SERVERS_VENV="${AGENTJAIL_TEST_SERVERS_VENV:-$AGENTJAIL_TEST_VENV-mcp-servers}"
export AGENTJAIL_TEST_SERVERS_VENV

[ -x "$AGENTJAIL_TEST_NPM/node_modules/.bin/mcp-server-filesystem" ] ||
    npm install --prefix "$AGENTJAIL_TEST_NPM" --no-audit --no-fund --loglevel=error \
        @modelcontextprotocol/server-filesystem@2026.8.31

/usr/bin/python3 -c 'import ensurepip' 2>/dev/null ||
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
[ -x "$AGENTJAIL_TEST_SERVERS_VENV/bin/python" ] || /usr/bin/python3 -m venv "$AGENTJAIL_TEST_SERVERS_VENV"
[ -x "$AGENTJAIL_TEST_SERVERS_VENV/bin/mcp-server-sqlite" ] ||
    "$AGENTJAIL_TEST_SERVERS_VENV/bin/pip" install -q --disable-pip-version-check \
        mcp==1.30.0 mcp-server-sqlite==2025.4.25
