"""The monitor: a header, seven tabs, a footer; a 20 Hz flush that hands coalesced Store changes to the
visible tab only. All I/O runs in the LiveHub (tui/live/hub.py) and in workers; widgets never poke each other."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from tui.app.header import HeaderBar
from tui.app.panes.base import Pane
from tui.config import Config
from tui.live.events import Event
from tui.live.hub import LiveHub
from tui.text import sanitize

FRAME_INTERVAL = 1 / 20  # the most often the screen follows the Store

ALERT_TYPES = {"agent.error", "task.approval_required", "costs.threshold_reached"}


def styles_path() -> Path:
    """styles/ at the top of a source checkout, or tui/styles inside an installed wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "styles", package.parent / "styles"):
        if (candidate / "app.tcss").is_file():
            return candidate
    raise FileNotFoundError("capwatch styles not found (expected tui/styles or ./styles)")


def is_alert(event: Event) -> bool:
    if event.type in ALERT_TYPES:
        return True
    status = event.data.get("status") if isinstance(event.data, dict) else None
    return event.service in ("capout", "casmo") and status == "failed"


def describe_alert(event: Event) -> str:
    data = event.data if isinstance(event.data, dict) else {}
    subject = data.get("file_name") or data.get("filename") or data.get("title") or event.id
    return sanitize(f"{event.service} {event.type}: {subject}", single_line=True)


class CapwatchApp(App[int]):
    TITLE = "capwatch"
    CSS_PATH = [str(styles_path() / name) for name in
                ("app.tcss", "tables.tcss", "overview.tcss", "events.tcss", "capx.tcss", "captain.tcss", "query.tcss")]

    TABS = (
        ("overview", "1 Overview"),
        ("documents", "2 Documents"),
        ("extraction", "3 Extraction"),
        ("capx", "4 Capx"),
        ("captain", "5 Captain"),
        ("query", "6 Query"),
        ("events", "7 Events"),
    )

    BINDINGS = [
        *(Binding(str(n), f"show_tab('{tab}')", label.split(" ", 1)[1], show=False)
          for n, (tab, label) in enumerate(TABS, start=1)),
        Binding("question_mark", "help", "Keys", key_display="?"),
        Binding("h", "health", "Health", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, config: Config, *, demo: bool = False, hub: LiveHub | None = None):
        super().__init__()
        self.config = config
        self.demo = demo
        self.hub = hub or LiveHub(config)
        self.feed = self.hub.store.subscribe()
        self.alerts: deque[Event] = deque(maxlen=200)
        self.frames = 0  # repaints that had something to show (benchmarks read it)
        self._toast_window: deque[float] = deque(maxlen=5)

    @property
    def read_only(self) -> bool:
        return self.hub.read_only

    def compose(self) -> ComposeResult:
        from tui.app.panes import PANE_CLASSES

        yield HeaderBar(self.config, demo=self.demo)
        with TabbedContent(initial="overview", id="tabs"):
            for tab_id, label in self.TABS:
                with TabPane(label, id=tab_id):
                    yield PANE_CLASSES[tab_id](id=f"pane-{tab_id}")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.hub.run(), name="live hub", group="hub", exclusive=True, exit_on_error=False,
                        description="every realtime channel, poller and the webhook receiver")
        self.set_interval(FRAME_INTERVAL, self.flush_changes, name="flush")

    # ------------------------------------------------------------------------------------------- frames

    def active_pane(self) -> Pane | None:
        tabs = self.query_one(TabbedContent)
        if not tabs.active:
            return None
        return self.query_one(f"#pane-{tabs.active}", Pane)

    def flush_changes(self) -> None:
        """Once per frame: take one coalesced batch and hand it to whoever shows it."""
        batch = self.feed.take()
        if batch is None:
            return
        self.frames += 1
        if batch.events:
            self._collect_alerts(batch.events)
        if batch.health or batch.figures:
            self.query_one(HeaderBar).update_health(self.hub.store)
        # Open modals cover the tabs: mark stale, repaint when they close.
        covered = len(self.screen_stack) > 1
        active = self.active_pane()
        for pane in self.query(Pane):
            if not pane.wants(batch):
                continue
            if pane is active and not covered:
                pane.apply_changes(batch)
            else:
                pane.stale = True

    def _collect_alerts(self, events: Iterable[Event]) -> None:
        fresh = [event for event in events if is_alert(event)]
        if not fresh:
            return
        self.alerts.extend(fresh)
        # A burst of alerts is one toast, and never more than five toasts in ten seconds.
        now = time.monotonic()
        if len(self._toast_window) == self._toast_window.maxlen and now - self._toast_window[0] < 10:
            return
        self._toast_window.append(now)
        if len(fresh) == 1:
            self.notify(describe_alert(fresh[0]), title="Alert", severity="warning", markup=False)
        else:
            self.notify(f"{len(fresh)} new alerts: see Overview", title="Alerts", severity="warning", markup=False)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = self.active_pane()
        if pane is not None and pane.stale:
            pane.stale = False
            pane.refresh_all()

    def on_screen_resume(self) -> None:
        pane = self.active_pane()
        if pane is not None and pane.stale:
            pane.stale = False
            pane.refresh_all()

    # ------------------------------------------------------------------------------------------- actions

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        pane = self.active_pane()
        if pane is not None:
            pane.focus_default()

    def action_help(self) -> None:
        from tui.app.screens import HelpScreen

        self.push_screen(HelpScreen())

    def action_health(self) -> None:
        from tui.app.screens import HealthScreen

        self.push_screen(HealthScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for n, (tab, label) in enumerate(self.TABS, start=1):
            yield SystemCommand(f"Go to {label.split(' ', 1)[1]}", f"Show the {label.split(' ', 1)[1]} tab ({n})",
                                lambda tab=tab: self.action_show_tab(tab))
        yield SystemCommand("Channel health", "Every channel's state, last event, reconnects and error",
                            self.action_health)
        yield SystemCommand("Keys", "Every key of every tab", self.action_help)
        for pane in self.query(Pane):
            yield from pane.commands()

    def toast_error(self, message: str) -> None:
        self.notify(sanitize(message, single_line=True), title="Error", severity="error", markup=False, timeout=8)

    def toast(self, message: str) -> None:
        self.notify(sanitize(message, single_line=True), markup=False)

    async def on_unmount(self) -> None:
        self.feed.close()
        await self.hub.stop()


def alert_text(event: Event) -> Text:
    return Text(describe_alert(event))
