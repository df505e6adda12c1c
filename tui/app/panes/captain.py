"""The Captain tab. (Being written.)"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.app.panes.base import Pane


class CaptainPane(Pane):
    HELP_TITLE = "Captain"

    def compose(self) -> ComposeResult:
        yield Static("Captain")
