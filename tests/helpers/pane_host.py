"""Host a single pane in a small Textual app, over a Store the test fills directly.

Pane tests that need real actions use the whole CapwatchApp against the simulator instead; this host is for
what a pane shows from the Store, which is most of it. It is a `PaneApp` (tui/app/toolkit/host.py) as the
monitor is, with the same toasts (`PaneAppMixin`): tests/app/test_toolkit.py checks that both keep to it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable

from textual.app import App, ComposeResult

from tui.app.alerts import AlertLog
from tui.app.toolkit.host import PaneAppMixin
from tui.app.widgets.keybar import KeyBar
from tui.config import Config
from tui.live.store import Store

STYLES = Path(__file__).resolve().parents[2] / "styles"


class StubHub(SimpleNamespace):
    """Stands in for tui.live.hub.LiveHub: a Store, a read-only flag, which vendors are on (all, but those named in
    `off` or given as None), recorded action calls, and per vendor what `vendor(name)` answers: the namespace of
    actions a test gives (`StubHub(capx=SimpleNamespace(decide_task=fake))`), an empty one for any other vendor that
    is on, None for one that is off."""

    def __init__(self, store: Store | None = None, read_only: bool = False, off: Iterable[str] = (),
                 **vendors: Any):
        super().__init__(store=store or Store(), read_only=read_only, calls=[], off=set(off), vendors=vendors)

    def is_on(self, name: str) -> bool:
        return name not in self.off and self.vendors.get(name, True) is not None

    def watched(self, name: str) -> bool:
        return self.is_on(name)

    def vendor(self, name: str) -> Any:
        if not self.is_on(name):
            return None
        return self.vendors.setdefault(name, SimpleNamespace())

    async def run(self) -> None:  # as a LiveHub, for a CapwatchApp handed this hub: nothing to start
        return None

    async def stop(self) -> None:
        return None


class PaneHost(PaneAppMixin, App):
    CSS_PATH = [str(path) for path in sorted(STYLES.glob("*.tcss"))]  # as the app loads them

    def __init__(self, pane_factory, hub: StubHub | None = None, config: Config | None = None):
        super().__init__()
        self.hub = hub or StubHub()
        self.config = config or Config()
        self.pane_factory = pane_factory
        self.feed = self.hub.store.subscribe()
        self.alerts = AlertLog()
        self.demo = False

    def compose(self) -> ComposeResult:
        yield self.pane_factory()
        yield KeyBar()

    def flush(self) -> None:
        """What CapwatchApp does once per frame: one batch to the pane."""
        batch = self.feed.take()
        if batch is not None:
            from tui.app.panes.base import Pane

            for pane in self.query(Pane):
                if pane.wants(batch):
                    pane.apply_changes(batch)
