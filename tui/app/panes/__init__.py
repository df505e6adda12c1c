"""The seven tabs of the monitor, in key order."""

from __future__ import annotations

from importlib import import_module

from tui.app.panes.base import Pane

# tab id -> (module, class): `pane_class` imports a pane's module when the pane is mounted, after the first frame.
_WHERE = {
    "overview": ("tui.app.panes.overview", "OverviewPane"),
    "documents": ("tui.app.panes.documents", "DocumentsPane"),
    "extraction": ("tui.app.panes.extraction", "ExtractionPane"),
    "capx": ("tui.app.panes.capx", "CapxPane"),
    "captain": ("tui.app.panes.captain", "CaptainPane"),
    "query": ("tui.app.panes.query", "QueryPane"),
    "events": ("tui.app.panes.events", "EventsPane"),
}


def pane_class(tab: str) -> type[Pane]:
    module, name = _WHERE[tab]
    return getattr(import_module(module), name)

