"""What the client scripts here share: checks, result text, and running
an async main that prints one JSON summary line or one FAILED line (exit 1).
Imported from the script's own directory, so each venv finds it."""

import asyncio
import json
import sys


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def text_of(result):
    """The text contents of an SDK CallToolResult, joined."""
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def run(main):
    """Runs `main()` (a coroutine function returning the summary)."""
    try:
        summary = asyncio.run(main())
    except Exception as e:  # one line the Rust test shows
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1)
    print(json.dumps(summary))
