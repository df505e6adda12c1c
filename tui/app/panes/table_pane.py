"""A pane whose heart is one LiveTable over one Store kind: filter with `/`, detail on Enter, copy with `y`,
incremental updates from each coalesced batch. Documents and Extraction are this plus their forms."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult

from tui.app.keys import focus_now
from tui.app.panes.base import Pane
from tui.app.toolkit.filter_box import FilterablePane, FilterBox
from tui.app.widgets.table import Column, LiveTable


class TablePane(FilterablePane, Pane):
    # Table updates are data until drawn: applied while hidden every 250 changed rows, so a switch to the tab
    # catches up on at most that (the Documents tab under load: 18 ms of held rows per switch, while the key waited).
    APPLY_HIDDEN_AFTER = 250
    KIND: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    COLUMNS: ClassVar[list[Column]] = []

    BINDINGS = [FilterablePane.FILTER_KEY, FilterablePane.CLEAR_KEY]

    def compose_table(self) -> ComposeResult:
        # The table first: auto-focus takes the first focusable widget, even a hidden filter box, and digits
        # typed into it would not switch tabs. The filter is docked on top.
        # Sorted newest first: new rows arrive at the top, where following keeps the cursor.
        table = LiveTable(self.COLUMNS, newest_at="top", id=f"{self.KIND}-table", name=self.TITLE.lower())
        table.can_follow = True
        yield table
        yield FilterBox(id=f"{self.KIND}-filter")

    @property
    def table(self) -> LiveTable:
        return self.query_one(LiveTable)

    def main_table(self) -> LiveTable:
        return self.table

    def rows_for_table(self) -> dict[str, dict[str, Any]]:
        return self.store.rows(self.KIND)

    def refresh_all(self) -> None:
        self.table.set_rows(dict(self.rows_for_table()))

    def apply_changes(self, batch) -> None:
        if self.KIND in batch.replaced:
            self.refresh_all()
            return
        ids = batch.kinds.get(self.KIND)
        if ids:
            rows = self.rows_for_table()
            self.table.update_rows({row_id: rows.get(row_id) for row_id in ids})

    def focus_default(self) -> None:
        focus_now(self.table)

    def show_entity(self, kind: str, entity_id: str) -> bool:
        return kind == self.KIND and self.reveal(self.table, entity_id)

    def on_live_table_row_selected(self, message: LiveTable.RowSelected) -> None:
        self.open_detail(f"{self.TITLE[:-1] if self.TITLE.endswith('s') else self.TITLE} {message.row_id}",
                         message.row, self.KIND, message.row_id)
