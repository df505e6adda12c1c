"""Widgets shared by the panes. `LiveTable` is the table every pane uses: a line-API view over 100k rows."""

from tui.app.widgets.table import Column, LiveTable

__all__ = ["Column", "LiveTable"]
