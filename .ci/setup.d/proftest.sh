# junitparser: tests/profiles_test.rs parses `profiles test --format junit` back with it.
if ! "$AGENTJAIL_TEST_VENV/bin/python" -c 'import junitparser, sys; sys.exit(junitparser.version != "3.2.0")' 2>/dev/null; then
    "$AGENTJAIL_TEST_VENV/bin/pip" install -q junitparser==3.2.0
fi
