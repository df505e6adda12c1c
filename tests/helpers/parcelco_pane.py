"""ParcelCo's tab (tests/helpers/parcelco.py): its parcels as lines of text, enough to show the tab is there."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.app.panes.base import Pane


class ParcelsPane(Pane):
    KINDS = frozenset({"parcels"})

    def compose(self) -> ComposeResult:
        yield Static(id="parcel-list", markup=False)

    def refresh_all(self) -> None:
        rows = self.store.rows("parcels")
        self.query_one("#parcel-list", Static).update("\n".join(f"{key} {row.get('status')}" for key, row in rows.items()))
