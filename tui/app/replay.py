"""`capwatch replay`: the monitor on a recorded period, read-only, with a REPLAY badge and keys to pause and step.

Every tab is the monitor's own, fed by a ReplayHub (tui/history/replay.py) instead of the vendors: no connection
is opened, so it works with every server down.
"""

from __future__ import annotations

import argparse
import sys

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Input, Static

from tui import wall_clock
from tui.app.app import CapwatchApp


class ReplayApp(CapwatchApp):
    BINDINGS = [
        *CapwatchApp.BINDINGS,
        Binding("space", "replay_pause", "Pause replay", priority=True),
        Binding("full_stop", "replay_step", "Step", key_display=".", priority=True),
    ]

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#header").mount(Static(self.badge_text(), id="replay-badge", classes="badge"),
                                        after="#profile")
        self.set_interval(0.25, self.show_badge, name="replay badge")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action.startswith("replay_") and isinstance(self.focused, Input):
            return False  # typing in a filter box: the space is the text's
        return super().check_action(action, parameters)

    def badge_text(self) -> Text:
        hub = self.hub
        moment = f" {wall_clock.hms(hub.now)}" if hub.now else ""
        state = " ⏸" if hub.paused else " ✓ end" if hub.finished.is_set() else ""
        return Text(f"REPLAY{moment} ×{hub.speed:g} {hub.played:,}/{len(hub.period):,}{state}")

    def show_badge(self) -> None:
        for badge in self.query("#replay-badge"):
            badge.update(self.badge_text())

    def action_replay_pause(self) -> None:
        self.hub.resume() if self.hub.paused else self.hub.pause()
        self.show_badge()

    def action_replay_step(self) -> None:
        if not self.hub.paused:
            self.hub.pause()
        else:
            self.hub.step()
        self.show_badge()


def run_replay(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from tui import vendors
    from tui.config import load_config
    from tui.history.command import unreadable
    from tui.history.core import History
    from tui.history.recording import setting_for
    from tui.history.replay import ReplayHub, load_period

    loaded = load_config(args)
    config = loaded.config
    config.read_only = True  # nothing is sent anywhere: replay has no vendor connection, and offers no action
    setting = setting_for(config, demo=args.demo)
    refused = unreadable(setting)
    if refused:
        return refused
    since = args.since if args.since is not None else time.time() - 3600

    async def load():
        history = History(setting)
        try:
            return await load_period(history, since, args.until)
        finally:
            await history.close()

    try:
        before, period = asyncio.run(load())
    except Exception as error:
        from tui.history.core import describe_error

        print(f"capwatch: cannot read the history at {setting.describe()}: {describe_error(error)}", file=sys.stderr)
        return 1
    if not period:
        print(f"capwatch: nothing recorded in that period at {setting.describe()}", file=sys.stderr)
        return 1
    hub = ReplayHub(config, vendors.VENDORS, before, period, speed=args.speed)
    app = ReplayApp(config, hub=hub)
    app.run()
    return app.return_code or 0
