"""The incident banner, under the header: which services are not live and since when. What the screen shows of
them is as of that moment, and the panes of those services look stale (dimmed, "as of HH:MM:SS" in their title)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from tui.app.panes.base import Pane
from tui.vendors import VENDORS

# Which service fills each entity kind (from the vendors' declarations): a pane showing a kind is stale with it.
KIND_SERVICE = {kind.name: vendor.name for vendor in VENDORS for kind in vendor.kinds}


def clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


class IncidentBanner(Static):
    DEFAULT_CSS = """
    IncidentBanner { height: auto; display: none; background: $error 25%; color: $text; padding: 0 1; }
    IncidentBanner.-down { display: block; }
    """

    def show(self, down: dict[str, float]) -> None:
        """`down`: Store.not_live(), service -> since when."""
        self.set_class(bool(down), "-down")
        if not down:
            return
        text = Text("⚠ ", style="bold")
        for n, (service, since) in enumerate(sorted(down.items(), key=lambda item: item[1])):
            if n:
                text.append(" · ")
            text.append(service, style="bold")
            text.append(f" down since {clock(since)}")
        text.append(": what is shown of it is as of then", style="italic")
        self.update(text)


def mark_stale_panes(panes: list[Pane], down: dict[str, float]) -> None:
    """Dim each pane whose kinds come from a service that is down, and say as of when in its border title."""
    for pane in panes:
        services = {KIND_SERVICE.get(kind) for kind in pane.KINDS}
        since = [down[service] for service in services if service in down]
        pane.set_class(bool(since), "-stale")
        pane.border_title = f"as of {clock(min(since))}" if since else None
