"""The seven tabs of the monitor, in key order."""

from __future__ import annotations

from tui.app.panes.base import Pane


def _pane_classes() -> dict[str, type[Pane]]:
    from tui.app.panes.captain import CaptainPane
    from tui.app.panes.capx import CapxPane
    from tui.app.panes.documents import DocumentsPane
    from tui.app.panes.events import EventsPane
    from tui.app.panes.extraction import ExtractionPane
    from tui.app.panes.overview import OverviewPane
    from tui.app.panes.query import QueryPane

    return {
        "overview": OverviewPane,
        "documents": DocumentsPane,
        "extraction": ExtractionPane,
        "capx": CapxPane,
        "captain": CaptainPane,
        "query": QueryPane,
        "events": EventsPane,
    }


class _Lazy(dict):
    def __missing__(self, key):
        self.update(_pane_classes())
        return dict.__getitem__(self, key)


PANE_CLASSES: dict[str, type[Pane]] = _Lazy()
