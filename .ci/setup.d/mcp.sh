# MCP clients for tests/mcp_serve.rs (agentjail mcp serve) and
# tests/mcp_wrap_servers.rs (mcp wrap: the SDK client), pinned.
#
# The two Python clients need different major versions of the `mcp` SDK, and
# other suites may install MCP servers that pin their own, so each gets a venv
# of its own beside $AGENTJAIL_TEST_VENV (inside the build tree all the same):
#   $AGENTJAIL_TEST_VENV-mcp2: mcp 2.3.0 (ClientSession over stdio_client, Client in auto mode)
#   $AGENTJAIL_TEST_VENV-mcp1: langchain-mcp-adapters 0.3.2 on mcp 1.30.0
# and the MCP Inspector 0.15.0 (CLI mode; the last line that runs on node 20)
# goes into $AGENTJAIL_TEST_NPM.

mcp_venv() {
    # mcp_venv DIR PACKAGE==VERSION...: create DIR and install what is missing.
    local dir=$1 spec name want have
    shift
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    for spec in "$@"; do
        name=${spec%%==*}
        want=${spec#*==}
        have=$({ "$dir/bin/python" -m pip show "$name" 2>/dev/null || true; } | sed -n 's/^Version: //p')
        if [ "$have" != "$want" ]; then
            "$dir/bin/pip" install -q --disable-pip-version-check "$@"
            return
        fi
    done
}

mcp_venv "$AGENTJAIL_TEST_VENV-mcp2" mcp==2.3.0
mcp_venv "$AGENTJAIL_TEST_VENV-mcp1" langchain-mcp-adapters==0.3.2 mcp==1.30.0 langchain-core==1.8.3

if [ ! -x "$AGENTJAIL_TEST_NPM/node_modules/.bin/mcp-inspector" ] \
    || ! grep -q '"version": "0.15.0"' "$AGENTJAIL_TEST_NPM/node_modules/@modelcontextprotocol/inspector/package.json" 2>/dev/null; then
    npm install --prefix "$AGENTJAIL_TEST_NPM" --no-audit --no-fund --loglevel=error \
        @modelcontextprotocol/inspector@0.15.0
fi
