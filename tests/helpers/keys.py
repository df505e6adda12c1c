"""Keys as a terminal delivers them: many in one read, all queued before the app handles the first."""

from __future__ import annotations

from textual._xterm_parser import XTermParser
from textual.app import App


def one_read(app: App, data: str) -> int:
    """Parse `data` as the driver's input thread parses one read of the terminal and post every event at once,
    as it does (Textual's pilot instead presses keys one at a time, each handled before the next). Returns how
    many events were posted."""
    posted = 0
    for event in XTermParser().feed(data):
        event.set_sender(app)
        app.post_message(event)
        posted += 1
    return posted
