"""The Events tab: one timeline of the four services and of capwatch's own channel events, newest at the
bottom (like `tail -f`).

The pane keeps its own copy of the recent timeline (bounded like the Store's) and the table holds the events
that pass the service and type filters; the free-text filter is the table's own. Each frame's batch is one
`update_rows` call however many events it brings; a paused table is not touched at all, and resuming or
changing a filter is one `set_rows`.
"""

from __future__ import annotations

from collections import deque
from fnmatch import fnmatchcase
from itertools import islice
from typing import Any, Callable, ClassVar, Sequence

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select, Static

from tui import wall_clock
from tui.app.panes.base import Pane
from tui.app.screens import DetailScreen
from tui.app.widgets.table import Column, LiveTable
from tui.live.events import APP_SERVICE, SERVICES, Event, iso_utc
from tui.text import sanitize

SERVICE_CHOICES = ("all", *SERVICES, APP_SERVICE)
SERVICE_STYLES = {"capout": "cyan", "casmo": "magenta", "capx": "bright_blue", "captain": "green",
                  APP_SERVICE: "grey62"}
ALERT_TYPES = {"agent.error": "bold red", "task.approval_required": "yellow", "costs.threshold_reached": "yellow"}
BAD_STATUSES = {"failed", "error"}
GAP_TYPE = "timeline.gap"  # a marker row: events that arrived faster than one frame could carry

# Fields that say what an event is about, in the order the summary shows them.
SUMMARY_FIELDS = ("status", "state", "file_name", "filename", "title", "name", "job_name", "database_name",
                  "role", "error", "message", "last_error")
SUMMARY_MAX = 200


# ------------------------------------------------------------------------------------------------ rows


def clock(moment: float | None) -> str:
    return wall_clock.hms(moment) if moment else "—"


def summarize(event: Event) -> str:
    """Status, file, title, error... of an event in one short line (sanitized)."""
    data = event.data if isinstance(event.data, dict) else {}
    nested = data.get("data")
    if isinstance(nested, dict):  # Casmo webhooks wrap the job: {"event", "timestamp", "data": {...}}
        data = {**nested, **{key: value for key, value in data.items() if key != "data"}}
    parts: list[str] = []
    for key in SUMMARY_FIELDS:
        value = data.get(key)
        if value is None or value == "" or isinstance(value, (dict, list, bool)):
            continue
        parts.append(str(value))
    progress = data.get("progress")
    if isinstance(progress, (int, float)) and not isinstance(progress, bool):
        parts.append(f"{progress:.0%}")
    if "total_usd" in data:
        parts.append(f"${data.get('total_usd')} of ${data.get('threshold_usd', '?')}")
    if "dropped" in data:
        parts.append(f"{data['dropped']} events not shown (burst)")
    return sanitize(" · ".join(parts)[:SUMMARY_MAX], single_line=True)


def service_cell(row: dict[str, Any]) -> Text:
    service = row.get("service") or ""
    return Text(service, style=SERVICE_STYLES.get(service, ""))


def type_cell(row: dict[str, Any]) -> Text:
    event_type = row.get("type") or ""
    style = ALERT_TYPES.get(event_type, "")
    if not style and (event_type.endswith((".error", ".failed")) or row.get("status") in BAD_STATUSES):
        style = "red"
    return Text(event_type, style=style)


def event_row(event: Event) -> dict[str, Any]:
    data = event.data if isinstance(event.data, dict) else {}
    status = data.get("status") or data.get("state")
    # No summary here: the Summary column makes it when the row is drawn (or searched), not for every event a
    # hidden tab catches up on (it was 40 % of showing the Events tab again under load).
    return {"time": event.time, "service": event.service, "type": event.type, "id": event.id,
            "status": status if isinstance(status, str) else None, "event": event}


def event_detail(event: Event) -> dict[str, Any]:
    """What Enter shows: the whole event, with when capwatch received it."""
    return {**event.to_json_dict(), "received": iso_utc(event.received), "kind": event.kind}


def type_matcher(pattern: str) -> Callable[[str], bool] | None:
    """A glob (`task.*`) when the pattern has a wildcard, else a substring; case-insensitive. None: all."""
    pattern = sanitize(pattern, single_line=True).strip().lower()
    if not pattern:
        return None
    if any(ch in pattern for ch in "*?["):
        return lambda event_type: fnmatchcase(event_type.lower(), pattern)
    return lambda event_type: pattern in event_type.lower()


# ------------------------------------------------------------------------------------------------ reading


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


# ------------------------------------------------------------------------------------------------ table


class EventTable(LiveTable):
    """A LiveTable of events: rows carry the Event under "event"; `y` copies the event's entity id (row ids
    are only sequence numbers); moving up while following stops following, End follows again."""

    class FollowChanged(Message):
        def __init__(self, table: "EventTable", follow: bool) -> None:
            super().__init__()
            self.table = table
            self.follow = follow

        @property
        def control(self) -> "EventTable":
            return self.table

    can_follow: bool = False  # End turns following on only in a table that offers following

    def set_follow(self, follow: bool) -> None:
        if follow != self.follow:
            self.follow = follow
            self.post_message(self.FollowChanged(self, follow))
        if follow:
            self.move_cursor(self.row_count - 1)

    def _stop_following(self) -> None:
        if self.follow:
            self.set_follow(False)

    def action_cursor_up(self) -> None:
        self._stop_following()
        super().action_cursor_up()

    def action_page_up(self) -> None:
        self._stop_following()
        super().action_page_up()

    def action_cursor_home(self) -> None:
        self._stop_following()
        super().action_cursor_home()

    def action_cursor_end(self) -> None:
        if self.can_follow:
            self.set_follow(True)
        else:
            super().action_cursor_end()

    def action_copy_id(self) -> None:
        row = self.get_row(self.cursor_row_id) if self.cursor_row_id is not None else None
        event = row.get("event") if row else None
        entity_id = sanitize(event.id, single_line=True) if isinstance(event, Event) else ""
        if not entity_id:
            self.notify("This event names no id", markup=False, timeout=2)
            return
        self.app.copy_to_clipboard(entity_id)
        self.post_message(self.CopyRequested(self, entity_id))
        self.notify(f"Copied {entity_id}", markup=False, timeout=2)


EVENT_COLUMNS = [
    Column("time", "Time", width=8, render=lambda row: clock(row.get("time"))),
    Column("service", "Service", width=8, render=service_cell),
    Column("type", "Type", width=22, render=type_cell),
    Column("id", "ID", width=16),
    Column("summary", "Summary", render=lambda row: summarize(row["event"])),
]


# ------------------------------------------------------------------------------------------------ pane


class EventsPane(Pane):
    HELP_TITLE = "Events"
    WANTS_EVENTS = True
    APPLY_HIDDEN_AFTER = 500

    BINDINGS: ClassVar = [
        Binding("slash", "filter_text", "Filter", key_display="/"),
        Binding("t", "filter_type", "Type"),
        Binding("c", "cycle_service", "Service"),
        Binding("p", "pause", "Pause"),
        Binding("f", "follow", "Follow"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.reader = TimelineReader()
        self.buffer: deque[tuple[int, Event]] = deque()  # (sequence, event), oldest first
        self._next_seq = 0
        self._service = "all"
        self._type_match: Callable[[str], bool] | None = None
        self.paused = False
        self._paused_through = -1  # the last sequence the frozen table may show
        self.pending = 0  # events that arrived (and pass the filters) while paused
        self.dropped = 0  # events a burst squeezed out of the frames, since start
        self._status_shown: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="events-toolbar"):
            yield Select([(choice, choice) for choice in SERVICE_CHOICES], value="all", allow_blank=False,
                         compact=True, id="events-service")
            yield Input(placeholder="type: task.* (t)", compact=True, id="events-type", classes="events-filter")
            yield Input(placeholder="filter text (/)", compact=True, id="events-text", classes="events-filter")
            yield Static("", id="events-status")
        table = EventTable(EVENT_COLUMNS, follow=True, id="events-table")
        table.can_follow = True
        yield table

    @property
    def table(self) -> EventTable:
        return self.query_one("#events-table", EventTable)

    @property
    def capacity(self) -> int:
        return self.store.timeline.maxlen or 10_000

    def on_mount(self) -> None:
        self.refresh_all()

    # ---------------------------------------------------------------------------------------- data

    def refresh_all(self) -> None:
        self._take(self.reader.from_timeline(self.store.timeline), dropped=0)

    def apply_changes(self, batch) -> None:
        events = self.reader.from_batch(batch.events)
        if events or batch.dropped_events:
            self._take(events, dropped=batch.dropped_events)

    def _take(self, events: list[Event], *, dropped: int) -> None:
        """Add events to the buffer, evict the oldest beyond capacity, and show the change in one table call."""
        if dropped:
            self.dropped += dropped
            events = [Event(time=events[0].time if events else wall_clock.now(), service=APP_SERVICE, type=GAP_TYPE,
                            id="", data={"dropped": dropped}), *events]
        capacity = self.capacity
        if len(events) > capacity:
            events = events[-capacity:]
        entries = [(self._next_seq + n, event) for n, event in enumerate(events)]
        self._next_seq += len(entries)
        overflow = max(0, len(self.buffer) + len(entries) - capacity)
        evicted = [seq for seq, _ in islice(self.buffer, overflow)]
        for _ in range(overflow):
            self.buffer.popleft()
        self.buffer.extend(entries)
        fresh = [(seq, event) for seq, event in entries if self._matches(event)]
        if self.paused:
            self.pending += len(fresh)
        elif len(fresh) + len(evicted) >= len(self.buffer):  # most of the table changes: rebuild it
            self._rebuild()
        else:
            changes: dict[str, dict[str, Any] | None] = {str(seq): None for seq in evicted}
            changes.update((str(seq), event_row(event)) for seq, event in fresh)
            self.table.update_rows(changes)
        self._show_status()

    def _matches(self, event: Event) -> bool:
        if self._service != "all" and event.service != self._service:
            return False
        return self._type_match is None or self._type_match(event.type)

    def _rebuild(self) -> None:
        """The table from the buffer (up to the pause point when paused): one set_rows."""
        last = self._paused_through if self.paused else self._next_seq
        self.table.set_rows({str(seq): event_row(event) for seq, event in self.buffer
                             if seq <= last and self._matches(event)})

    def _show_status(self) -> None:
        table = self.table
        if self.paused:
            text = Text(f"⏸ Paused — {self.pending:,} new events", style="bold yellow")
        else:
            text = Text("● follow" if table.follow else "○ follow off", style="green" if table.follow else "dim")
        shown = f"{table.row_count:,}/{len(self.buffer):,}"
        text.append(f"  {shown}", style="dim")
        if self.dropped:
            text.append(f"  {self.dropped:,} dropped", style="yellow")
        if text.plain != self._status_shown:
            self._status_shown = text.plain
            self.query_one("#events-status", Static).update(text)

    @property
    def status_text(self) -> str:
        return self._status_shown or ""

    # ---------------------------------------------------------------------------------------- keys

    def focus_default(self) -> None:
        self.table.focus()

    def action_filter_text(self) -> None:
        self.query_one("#events-text", Input).focus()

    def action_filter_type(self) -> None:
        self.query_one("#events-type", Input).focus()

    def action_cycle_service(self) -> None:
        select = self.query_one("#events-service", Select)
        current = SERVICE_CHOICES.index(select.value) if select.value in SERVICE_CHOICES else 0
        select.value = SERVICE_CHOICES[(current + 1) % len(SERVICE_CHOICES)]

    def set_service(self, service: str) -> None:
        self.query_one("#events-service", Select).value = service

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._paused_through = self._next_seq - 1
            self.pending = 0
        else:
            self._rebuild()
            self.pending = 0
        self._show_status()

    def action_follow(self) -> None:
        self.table.set_follow(not self.table.follow)
        self._show_status()

    def on_event_table_follow_changed(self, message: EventTable.FollowChanged) -> None:
        self._show_status()

    def on_select_changed(self, message: Select.Changed) -> None:
        if message.select.id != "events-service":
            return
        message.stop()
        value = message.value if isinstance(message.value, str) else "all"
        if value != self._service:
            self._service = value
            self._rebuild()
            self._show_status()

    def on_input_changed(self, message: Input.Changed) -> None:
        if message.input.id == "events-text":
            message.stop()
            self.table.filter_text = message.value
            self._show_status()
        elif message.input.id == "events-type":
            message.stop()
            self._type_match = type_matcher(message.value)
            self._rebuild()
            self._show_status()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.has_class("events-filter"):
            message.stop()
            self.table.focus()

    def on_key(self, event) -> None:
        focused = self.app.focused
        if event.key == "escape" and isinstance(focused, Input) and focused.has_class("events-filter"):
            focused.value = ""  # the Changed message re-applies the (now empty) filter
            self.table.focus()
            event.stop()

    def on_live_table_row_selected(self, message: LiveTable.RowSelected) -> None:
        event = message.row.get("event")
        if isinstance(event, Event):
            message.stop()
            self.app.push_screen(DetailScreen(f"{event.service} {event.type} {event.id}".strip(), event_detail(event)))

    def commands(self):
        yield SystemCommand("Events: pause / resume", "Freeze the events table; new events are counted",
                            self.action_pause)
        yield SystemCommand("Events: follow newest on / off", "Keep the cursor on the newest event",
                            self.action_follow)
        for service in SERVICE_CHOICES:
            yield SystemCommand(f"Events: show {service}", f"Only {service} events in the Events tab"
                                if service != "all" else "Events of every service",
                                lambda service=service: self.set_service(service))
