"""The Query tab. (Being written.)"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.app.panes.base import Pane


class QueryPane(Pane):
    HELP_TITLE = "Query"

    def compose(self) -> ComposeResult:
        yield Static("Query")
