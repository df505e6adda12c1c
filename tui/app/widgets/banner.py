"""The incident banner, under the header: which services are not live and since when (tui/live/currency.py).

A service down (a channel carrying the whole service lost its data's currency, or every stream of a fleet that had
data): red, "capx down since 10:44:01"; what the screen shows of it is as of that moment, and its panes look stale
(dimmed, "as of HH:MM:SS" in their title). Part of a fleet not live ("14 of 300 company streams"): in the calmer
warning colour, with counts and since when; no pane is dimmed, the pane of the fleet marks which entities are as
of then (the Capx tab: its companies' Status)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.app.panes.base import Pane
from tui.live.currency import Outage, gap_words
from tui.vendors import VENDORS
from tui.wall_clock import hms as clock

# Which service fills each entity kind (from the vendors' declarations): a pane showing a kind is stale with it.
KIND_SERVICE = {kind.name: vendor.name for vendor in VENDORS for kind in vendor.kinds}


class IncidentBanner(Static):
    DEFAULT_CSS = """
    IncidentBanner { height: auto; display: none; color: $text; padding: 0 1; }
    IncidentBanner.-down { display: block; background: $error 25%; }
    IncidentBanner.-partial { display: block; background: $warning 20%; }
    """

    _shown: Text | None = None

    def show(self, outages: dict[str, Outage]) -> None:
        """`outages`: tui/live/currency.py `outages()`, service -> down or partial."""
        down = sorted((outage for outage in outages.values() if outage.down), key=lambda outage: outage.since)
        partial = [outage for outage in outages.values() if not outage.down]
        was = (self.has_class("-down"), self.has_class("-partial"))
        self.set_class(bool(down), "-down")
        self.set_class(bool(partial) and not down, "-partial")
        if not outages:
            self._shown = None
            return
        text = Text("⚠ ", style="bold")
        for n, outage in enumerate(down):
            if n:
                text.append(" · ")
            text.append(outage.service, style="bold")
            text.append(f" down since {clock(outage.since)}")
        if down:
            text.append(": what is shown of it is as of then", style="italic")
        for n, outage in enumerate(partial):
            if n or down:
                text.append(" · ")
            text.append(outage.service, style="bold")
            text.append(": " + "; ".join(gap_words(gap, clock) for gap in outage.gaps))
            text.append(" (those as of then)", style="italic")
        if text != self._shown:
            # Counts move as streams come and go: a repaint in place, and a layout only when it may take more lines.
            grows = self._shown is None or was != (self.has_class("-down"), self.has_class("-partial")) \
                or text.cell_len != self._shown.cell_len
            self._shown = text
            self.update(text, layout=grows)


def mark_stale_panes(panes: list[Pane], down: dict[str, float]) -> None:
    """Dim each pane whose kinds come from a service that is down, and say as of when in its border title."""
    for pane in panes:
        services = {KIND_SERVICE.get(kind) for kind in pane.KINDS}
        since = [down[service] for service in services if service in down]
        pane.set_class(bool(since), "-stale")
        title = f"as of {clock(min(since))}" if since else None
        if title != pane.border_title:  # (setting it repaints the whole pane, even to what it was: on every frame)
            pane.border_title = title
