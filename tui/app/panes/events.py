"""The Events tab: one timeline of the four services and of capwatch's own channel events, newest at the
bottom (like `tail -f`).

The pane keeps its own copy of the recent timeline (bounded like the Store's) and the table holds the events
that pass the service and type filters; the free-text filter is the table's own. Each frame's batch is one
`update_rows` call however many events it brings; a paused table is not touched at all, and resuming or
changing a filter is one `set_rows`.

"Alerts only" (`a`) shows the app's alert log instead: every alert kept (tui/app/alerts.py ALERT_HISTORY, far
longer than the timeline keeps events), acknowledged ones marked, each saying what it is about by name; the
service, type and text filters apply to it as to the timeline.
"""

from __future__ import annotations

from collections import deque
from fnmatch import fnmatchcase
from itertools import islice
from typing import Any, Callable, ClassVar

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Select, Static

from tui import wall_clock
from tui.app.alerts import Alert
from tui.app.keys import focus_now
from tui.app.panes.base import Pane
from tui.app.screens import DetailScreen
from tui.app.toolkit.cells import (
    clock, event_detail, from_history, history_marked, is_recalled, service_cell, summarize, type_cell,
)
from tui.app.toolkit.filter_box import FilterablePane, FilterBox
from tui.app.widgets.event_table import EventTable, TimelineReader
from tui.app.widgets.table import Column, LiveTable
from tui.app.widgets.table_model import id_column
from tui.live.events import APP_SERVICE, Event
from tui.live.recording import recall_key
from tui.text import sanitize
from tui.vendors import VENDORS

SERVICE_CHOICES = ("all", *(vendor.name for vendor in VENDORS), APP_SERVICE)
GAP_TYPE = "timeline.gap"  # a marker row: events that arrived faster than one frame could carry


# ------------------------------------------------------------------------------------------------ rows


def event_row(event: Event) -> dict[str, Any]:
    data = event.data if isinstance(event.data, dict) else {}
    status = data.get("status") or data.get("state")
    # No summary here: the Summary column makes it when the row is drawn (or searched), not for every event a
    # hidden tab catches up on (it was 40 % of showing the Events tab again under load).
    return {"time": event.time, "service": event.service, "type": event.type, "id": event.id,
            "status": status if isinstance(status, str) else None, "event": event}


def alert_row(alert: Alert, store: Any) -> dict[str, Any]:
    """An alert in the "alerts only" view: its event's row, summarized by what the alert says (and how many times it
    was told, as on the Overview)."""
    words = alert.told(store)
    if alert.acknowledged:
        words = Text("✓ acknowledged · ", style="green").append_text(words)
    return {**event_row(alert.event), "alert": words}


def type_matcher(pattern: str) -> Callable[[str], bool] | None:
    """A glob (`task.*`) when the pattern has a wildcard, else a substring; case-insensitive. None: all."""
    pattern = sanitize(pattern, single_line=True).strip().lower()
    if not pattern:
        return None
    if any(ch in pattern for ch in "*?["):
        return lambda event_type: fnmatchcase(event_type.lower(), pattern)
    return lambda event_type: pattern in event_type.lower()


def summary_cell(row: dict[str, Any]) -> Any:
    event = row["event"]
    summary = row.get("alert") or summarize(event)  # an alert's row says what the alert says
    return history_marked(summary) if is_recalled(event) else summary


# Narrow, the summary keeps its room: the id gives way first (cut at its start), then the type (cut at its end).
EVENT_COLUMNS = [
    Column("time", "Time", width=8, priority=3, render=from_history(lambda row: clock(row.get("time")))),
    Column("service", "Service", width=8, priority=2, render=from_history(service_cell)),
    Column("type", "Type", width=22, priority=3, min_width=16, render=from_history(type_cell)),
    id_column("id", "ID", 16, render=from_history(lambda row: row.get("id") or "")),
    Column("summary", "Summary", priority=4, min_width=24, render=summary_cell),
]


# ------------------------------------------------------------------------------------------------ pane


class EventsPane(FilterablePane, Pane):
    HELP_TITLE = "Events"
    WANTS_EVENTS = True
    APPLY_HIDDEN_AFTER = 500

    BINDINGS: ClassVar = [
        FilterablePane.FILTER_KEY,
        FilterablePane.CLEAR_KEY,
        Binding("t", "filter_type", "Type"),
        Binding("c", "cycle_service", "Service"),
        Binding("p", "pause", "Pause"),
        Binding("f", "follow", "Follow"),
        Binding("a", "alerts_only", "Alerts only"),
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
        self._recalled: dict[tuple, int] = {}  # a history event shown -> its sequence, until a live one repeats it
        self._superseded: set[int] = set()  # history events a live one took the place of
        self.found: list[tuple[int, Event]] = []  # older events a search found in the history (sequences < 0)
        self._searched: str = ""
        self._searching = False
        self.alerts_only = False  # the table shows the app's alert log, not the timeline
        self._alerts_shown: int | None = None  # the log's version the table shows
        self._preview_shown: tuple | None = None  # (row id, words) the alert under the table says

    def compose(self) -> ComposeResult:
        with Horizontal(id="events-toolbar"):
            yield Select([(choice, choice) for choice in SERVICE_CHOICES], value="all", allow_blank=False,
                         compact=True, id="events-service")
            # Placeholders that read as what a key does, never as a filter that is on.
            yield FilterBox(placeholder="t filters the type", inline=True, filters_table=False, id="events-type")
            yield FilterBox(placeholder="/ filters the text", inline=True, id="events-text")
            yield Static("", id="events-status")
        # Following and the counts are said in the toolbar (`#events-status`), not in the table's foot.
        table = EventTable(EVENT_COLUMNS, follow=True, foot=False, id="events-table", name="events")
        table.can_follow = True
        yield table
        yield Static(id="events-preview")  # the alert under the cursor, whole (alerts only)

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
        evicted += self._confirm(entries)
        for _ in range(overflow):
            self.buffer.popleft()
        self.buffer.extend(entries)
        fresh = [(seq, event) for seq, event in entries if self._matches(event)]
        if self.paused:
            self.pending += len(fresh)
        elif self.alerts_only:
            self._show_alerts()
        elif len(fresh) + len(evicted) >= len(self.buffer):  # most of the table changes: rebuild it
            self._rebuild()
        else:
            changes: dict[str, dict[str, Any] | None] = {str(seq): None for seq in evicted}
            changes.update((str(seq), event_row(event)) for seq, event in fresh)
            self.table.update_rows(changes)
        self._show_status()

    def _confirm(self, entries: list[tuple[int, Event]]) -> list[int]:
        """Remember the history events among `entries`; the history rows that live ones among them repeat (a
        backfill, a resync) leave the table: the live row takes their place. Returns their sequences."""
        recalled, gone = self._recalled, []
        for seq, event in entries:
            if is_recalled(event):
                recalled[recall_key(event)] = seq
            elif recalled:
                old = recalled.pop(recall_key(event), None)
                if old is not None:
                    gone.append(old)
                    self._superseded.add(old)
        return gone

    def _matches(self, event: Event) -> bool:
        if self._service != "all" and event.service != self._service:
            return False
        return self._type_match is None or self._type_match(event.type)

    def _rebuild(self) -> None:
        """The table from the buffer (up to the pause point when paused), or the alert log: one set_rows."""
        if self.alerts_only:
            self._show_alerts(force=True)
            return
        last = self._paused_through if self.paused else self._next_seq
        superseded = self._superseded
        self.table.set_rows({str(seq): event_row(event) for seq, event in (*self.found, *self.buffer)
                             if seq <= last and seq not in superseded and self._matches(event)})

    def _show_alerts(self, *, force: bool = False) -> None:
        """The alert log as the table (alerts only), when it changed since shown (in the log's order: an alert told
        again comes last, as the newest); not following, the alerts that came out of sight are counted ("2 new ↓"),
        as in the timeline."""
        log = self.capwatch.alerts
        if log.version == self._alerts_shown and not force:
            return
        self._alerts_shown = log.version
        store = self.store
        self.table.set_rows({f"a{alert.seq}": alert_row(alert, store) for alert in log.entries
                             if self._matches(alert.event)}, arrivals=not force)
        self._show_preview()

    def _show_preview(self) -> None:
        """In the alerts view, the alert under the cursor whole, under the table: its service, type and id (the
        columns the view hides) and its words wrapped, which the table cuts to its column (at 80 columns a failed
        document's name and reason do not fit). Three lines, always: the table does not change height as the cursor
        moves, and updating it asks for no layout."""
        if not self.alerts_only:
            self._preview_shown = None
            return
        table = self.table
        row_id = table.cursor_row_id
        row = table.get_row(row_id) if row_id is not None else None
        words = summary_cell(row) if row is not None else Text()
        words = words if isinstance(words, Text) else Text(str(words))
        shown = (row_id, words.plain)
        if shown == self._preview_shown:
            return
        self._preview_shown = shown
        preview = Text(no_wrap=False, overflow="ellipsis")
        if row is not None:
            event = row["event"]
            preview.append(sanitize(f"{event.service} {event.type} {event.id or ''}".strip(), single_line=True))
            preview.append("  ").append_text(words)
        self.query_one("#events-preview", Static).update(preview, layout=False)

    def on_live_table_cursor_moved(self, message: LiveTable.CursorMoved) -> None:
        if message.table is self.table:
            self._show_preview()

    def tick(self) -> None:
        """An alert acknowledged elsewhere shows here within a second."""
        if self.alerts_only and not self.paused:
            self._show_alerts()
            self._show_status()

    def _show_status(self) -> None:
        table = self.table
        if self.paused:
            text = Text(f"⏸ Paused — {self.pending:,} new events", style="bold yellow")
        else:
            text = Text().append("● follow" if table.follow else "○ follow off",
                                 style="green" if table.follow else "dim")  # the counts after it are not green
        if self.alerts_only:
            text.append("  ▲ alerts (a)", style="bold yellow")
        # shown/total while a filter leaves some out, else the count (at 80 columns "1,000/1,000" was cut)
        total = len(self.capwatch.alerts) if self.alerts_only else len(self.buffer)
        shown = f"{table.row_count:,}/{total:,}" if table.row_count != total else f"{total:,}"
        text.append(f"  {shown}", style="dim")
        if self.dropped:
            text.append(f"  {self.dropped:,} dropped", style="yellow")
        if self._searching or self.found:
            text.append("  ↺ searching history…" if self._searching else f"  ↺ {len(self.found):,} older from history",
                        style="dim")
        if text.plain != self._status_shown:
            self._status_shown = text.plain
            self.query_one("#events-status", Static).update(text)

    @property
    def status_text(self) -> str:
        return self._status_shown or ""

    # ---------------------------------------------------------------------------------------- keys

    def focus_default(self) -> None:
        focus_now(self.table)

    def main_table(self) -> LiveTable:
        return self.table

    def filter_box(self) -> FilterBox:
        return self.query_one("#events-text", FilterBox)

    def action_filter_type(self) -> None:
        self.query_one("#events-type", FilterBox).open(self.table)

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

    def action_alerts_only(self) -> None:
        """a: the alert log (every alert kept, acknowledged or not), or the timeline again. An alert's words say what
        happened to what (failed, error, approval required, by name): the service, type and id give them their room
        (the lines under the table say them, and the alert under the cursor whole)."""
        self.alerts_only = not self.alerts_only
        self.table.shows = "alerts" if self.alerts_only else None  # (what its export and its filter say)
        self.table.hide_columns(*(("service", "type", "id") if self.alerts_only else ()))
        self.query_one("#events-preview").display = self.alerts_only
        self._rebuild()
        if self.alerts_only:
            self.post_message(self.AlertsShown())
        if self.table.follow:
            self.table.set_follow(True)  # to the newest
        self._show_status()

    def lists_alerts(self) -> bool:
        return self.alerts_only

    def action_follow(self) -> None:
        self.table.set_follow(not self.table.follow)
        self._show_status()

    def on_live_table_follow_changed(self, message: EventTable.FollowChanged) -> None:
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

    def on_filter_box_changed(self, message: FilterBox.Changed) -> None:
        message.stop()
        if message.box.id == "events-type":
            self._type_match = type_matcher(message.value)
            self._rebuild()
        elif message.box.id == "events-text":
            self._search_history(message.value)
        self._show_status()

    def _search_history(self, text: str) -> None:
        """A text filter reaches back through the history too: the older events that hold it join the table
        (marked as history), from a worker, never holding the screen up."""
        text = sanitize(text, single_line=True).strip()
        setting = getattr(getattr(self.capwatch, "history", None), "setting", None)
        if setting is None or text == self._searched:
            return
        self._searched = text
        if self.found:
            self.found = []
            self._rebuild()
        self._searching = len(text) >= 3
        if self._searching:
            self.run_worker(self._search(setting, text), group="events-history", exclusive=True,
                            exit_on_error=False, description="search the history for the text filter")

    async def _search(self, setting, text: str) -> None:
        import asyncio

        from tui.history.reading import search_events

        await asyncio.sleep(0.3)  # typing: search once the text has settled (exclusive: a newer one replaces this)
        oldest = self.buffer[0][1].time if self.buffer else None
        try:
            events = await search_events(setting, text, until=oldest)
        except Exception as error:  # a history that cannot be read: the search stays in memory
            events = []
            self.capwatch.toast(f"history search: {sanitize(str(error), single_line=True)[:120]}")
        if text == self._searched:
            self._searching = False
            self.found = [(n - len(events), event) for n, event in enumerate(events)]
            self._rebuild()
            self._show_status()  # the text filter is the table's own: only the counts change

    def on_live_table_row_selected(self, message: LiveTable.RowSelected) -> None:
        event = message.row.get("event")
        if isinstance(event, Event):
            message.stop()
            if "alert" in message.row:  # as on the Overview: the entity in its tab, with its recent events
                self.capwatch.open_entity(event)
                return
            self.app.push_screen(DetailScreen(f"{event.service} {event.type} {event.id}".strip(), event_detail(event)))

    def commands(self):
        yield SystemCommand("Events: pause / resume", "Freeze the events table; new events are counted",
                            self.action_pause)
        yield SystemCommand("Events: follow newest on / off", "Keep the cursor on the newest event",
                            self.action_follow)
        yield SystemCommand("Events: alerts only on / off", "Every alert kept, acknowledged or not, by name (a)",
                            self.action_alerts_only)
        for service in SERVICE_CHOICES:
            yield SystemCommand(f"Events: show {service}", f"Only {service} events in the Events tab"
                                if service != "all" else "Events of every service",
                                lambda service=service: self.set_service(service))
