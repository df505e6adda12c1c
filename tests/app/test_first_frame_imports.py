"""The monitor imports before its first frame only what that frame needs (issue 14's start-up figure): the windows,
the panes, the HTTP and database stacks and each vendor's client are imported after it, when first used."""

from __future__ import annotations

import subprocess
import sys

# What `capwatch` imports on its way to `CapwatchApp.run()` (tui/cli.py, tui/app/launch.py `_run_app`).
BEFORE_THE_FIRST_FRAME = "import tui.cli, tui.app.launch, tui.config, tui.app.app, tui.history.recording"
AFTER_IT = ("tui.app.screens", "tui.app.panes.overview", "tui.app.panes.events", "tui.app.toolkit.export",
            "tui.vendors.capx.client", "tui.vendors.capx.live", "tui.history.core", "httpx", "websockets",
            "pydantic", "sqlite3")


def test_the_first_frame_imports_no_window_pane_client_or_database():
    code = f"""
import sys
{BEFORE_THE_FIRST_FRAME}
print(sorted(name for name in {AFTER_IT!r} if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
