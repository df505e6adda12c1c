"""What the Events and Overview tabs share to show events: `EventTable`, a LiveTable whose rows carry their Event,
and `TimelineReader`, which hands a pane each timeline event once."""

from __future__ import annotations

from typing import Sequence

from tui.app.widgets.table import LiveTable
from tui.live.events import Event
from tui.text import sanitize


def events_after(events: Sequence[Event], marker: Event | None) -> list[Event]:
    """The events that come after `marker`; all of them when it is not there (it is older, or was evicted)."""
    if marker is None:
        return list(events)
    newer: list[Event] = []
    for event in reversed(events):
        if event is marker:
            newer.reverse()
            return newer
        newer.append(event)
    return list(events)


class TimelineReader:
    """Hands a pane each timeline event once. `refresh_all` reads the Store's timeline and `apply_changes`
    reads batches; the first batch after a refresh may repeat events the timeline already gave (they arrived
    between the previous frame and the refresh), so that batch is cut after the last event seen."""

    def __init__(self) -> None:
        self.last: Event | None = None
        self._overlap = False

    def mark(self, timeline: Sequence[Event]) -> None:
        """The caller has read `timeline` up to its end."""
        if timeline:
            self.last = timeline[-1]
        self._overlap = True

    def from_timeline(self, timeline: Sequence[Event]) -> list[Event]:
        new = events_after(timeline, self.last)
        self.mark(timeline)
        return new

    def from_batch(self, events: list[Event]) -> list[Event]:
        if self._overlap:
            self._overlap = False
            events = events_after(events, self.last)
        if events:
            self.last = events[-1]
        return events


class EventTable(LiveTable):
    """A LiveTable of events: rows carry the Event under "event"; `y` copies the event's entity id (row ids
    are only sequence numbers). Following (LiveTable's) is offered only where the pane says so (`can_follow`)."""

    can_follow: bool = False  # End turns following on only in a table that offers following

    def action_copy_id(self) -> None:
        row = self.chosen_row()  # the event the operator saw under the cursor
        event = row.get("event") if row else None
        entity_id = sanitize(event.id, single_line=True) if isinstance(event, Event) else ""
        if not entity_id:
            self.notify("This event names no id", markup=False, timeout=2)
            return
        self.app.copy_to_clipboard(entity_id)
        self.post_message(self.CopyRequested(self, entity_id))
        self.notify(f"Copied {entity_id}", markup=False, timeout=2)
