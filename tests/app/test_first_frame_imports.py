"""The monitor imports before its first frame only what that frame needs (issue 14's start-up figure): the windows,
the panes, the HTTP and database stacks and each vendor's client are imported after it, when first used; the
incident banner and the alert notice are not even mounted until an outage and an alert need them."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.pane_host import StubHub
from tests.helpers.waiting import eventually
from tui.app.app import CapwatchApp
from tui.config import Config
from tui.live.events import ChannelState

# What `capwatch` imports on its way to `CapwatchApp.run()` (tui/cli.py, tui/app/launch.py `_run_app`).
BEFORE_THE_FIRST_FRAME = "import tui.cli, tui.app.launch, tui.config, tui.app.app, tui.history.recording"
AFTER_IT = ("tui.app.screens", "tui.app.panes.overview", "tui.app.panes.events", "tui.app.panes.base",
            "tui.app.toolkit.export", "tui.app.widgets.banner", "tui.app.widgets.alert_toast",
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


async def test_the_banner_and_the_alert_notice_are_mounted_when_first_needed():
    """The first frame styles and lays out only the chrome: a hidden banner and notice cost as much as shown ones
    (8 more nodes styled before the first frame). The banner comes with the first outage, the notice with the
    first alert, each where it was (under the header; over the key bar), and stays."""
    from tui.app.widgets.alert_toast import AlertToast
    from tui.app.widgets.banner import IncidentBanner

    hub = StubHub()
    app = CapwatchApp(Config(max_output_kbps=0), hub=hub)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        hub.store.channel("capx.companies", "capx")
        hub.store.set_state("capx.companies", ChannelState.LIVE)
        app.flush_changes()
        await pilot.pause()
        assert not app.query(IncidentBanner) and not app.query(AlertToast)
        hub.store.set_state("capx.companies", ChannelState.FAILING, "capx: network: ConnectError")
        app.flush_changes()
        await pilot.pause()
        banner = app.query_one(IncidentBanner)
        order = [type(widget).__name__ for widget in app.screen.children]
        assert order.index("IncidentBanner") == order.index("HeaderBar") + 1, order
        assert banner.has_class("-down") and banner.region.y == 1 and banner.region.height
        assert not app.query(AlertToast)
        hub.store.set_state("capx.companies", ChannelState.LIVE)
        app.flush_changes()
        await pilot.pause()
        assert app.query_one(IncidentBanner) is banner and not banner.display


async def test_the_first_frame_reads_the_chromes_sheet_alone_and_a_window_before_any_pane_has_its_styles():
    """Every node of the first frame is matched against every rule read: the panes' and the windows' sheets are read
    after it, before the first pane or window. `h` as the monitor starts opens the health window before any pane
    is mounted (here start-up never mounts one): its dialog has the windows' styles all the same."""
    from pathlib import Path

    from tui.app.screens import HealthScreen

    app = CapwatchApp(Config(max_output_kbps=0), hub=StubHub())
    app._after_first_frame = lambda first_pane_shown: None  # no start-up: nothing but the chrome is ever mounted
    assert [Path(sheet).name for sheet in CapwatchApp.CSS_PATH] == ["app.tcss"]
    later = {Path(sheet).name for sheet in CapwatchApp.STYLESHEETS} - {"app.tcss"}
    assert {"panes.tcss", "windows.tcss", "overview.tcss"} <= later
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        read = {Path(path).name for path, _ in app.stylesheet.source if path.endswith(".tcss")}
        assert read == {"app.tcss"}
        await pilot.press("h")
        await eventually(lambda: isinstance(app.screen, HealthScreen), pilot=pilot)
        await pilot.pause()
        dialog = app.screen.query_one(".dialog")
        assert dialog.styles.width.value == 100 and dialog.styles.border_top[0] == "round"  # (.dialog.wide)
        assert app.screen.query_one(".dialog-title").styles.margin.bottom == 1 and not app._panes
        read = {Path(path).name for path, _ in app.stylesheet.source if path.endswith(".tcss")}
        assert read == later | {"app.tcss"}
