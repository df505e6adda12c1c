"""The Capx tab. (Being written.)"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.app.panes.base import Pane


class CapxPane(Pane):
    HELP_TITLE = "Capx"

    def compose(self) -> ComposeResult:
        yield Static("Capx")
