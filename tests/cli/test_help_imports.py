"""`capwatch --help` answers at once: building the command line imports no event loop, HTTP client, database
driver or metrics library (each subcommand imports what it runs when it runs)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("asyncio", "httpx", "pydantic", "textual", "sqlite3", "asyncpg", "prometheus_client", "tui.collect",
         "tui.metrics")


def test_building_the_command_line_imports_nothing_heavy():
    code = f"""
import sys
from tui.cli import build_parser
build_parser()
print(sorted(name for name in {HEAVY!r} if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
