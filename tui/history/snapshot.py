"""Snapshots: what lets a monitor join a collector late at the cost of joining early.

A follower (`--source`, tui/history/source.py) that started from the collector's start would replay every row
since, hours of them. So `capwatch collect` writes a compact picture of its Store into the history (`History.snapshot`,
in the transaction of the rows before it, with the seq of the newest row then): at its start, after each vendor
resync has settled (a resync rewrites much of the state), and periodically (`SnapshotSchedule`). A follower starts
from the newest one: the picture, the newest timeline events before it (as many as its timeline holds, for the
Events tab and the alerts), then the rows after it, as it would have had them had it followed from the start.

The picture (`capture`), one JSON object, deflated:

    entities   kind -> id -> row (the finished ones last, finished longest ago first: the order the bound drops them)
    figures    name -> value
    health     channel -> service, state, since, reconnects, last_error, last_error_at, fleet (when it is one of a
               fleet: a Capx company's stream) (channels that ever changed)
    complete   part -> when its first complete snapshot was read (`capwatch status` waits for these)
    counts     service -> event type -> events applied
    services   the vendors the collector watches; host, pid: which collector

No Textual import; what is read back is the collector's, as sanitized as its rows.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from tui.history.feed import apply_records
from tui.history.records import Record
from tui.live.events import APP_SERVICE, ChannelState, Event
from tui.live.store import Store

VERSION = 1
SNAPSHOT_INTERVAL = 300.0  # seconds: at least this often while events come
SNAPSHOT_ROWS = 50_000  # or once this many rows were recorded since the last one (2,000 events/s: every 25 s)
SNAPSHOT_GAP = 30.0  # seconds: at most one per this many (a fleet's reconnect storm resyncs for minutes)


def capture(store: Store, *, services: Iterable[str] = (), **about: Any) -> dict[str, Any]:
    """The Store's picture, copied on the caller's loop (rows are merged in place later; the history's writer
    thread encodes the copy)."""
    entities: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, rows in store.entities.items():
        finished = store.finished_ids(kind)
        done = set(finished)
        ordered = {entity_id: dict(row) for entity_id, row in rows.items() if entity_id not in done}
        ordered.update((entity_id, dict(rows[entity_id])) for entity_id in finished if entity_id in rows)
        entities[kind] = ordered
    health = {name: {"service": h.service, "state": h.state.value, "since": h.since, "reconnects": h.reconnects,
                     "last_error": h.last_error, "last_error_at": h.last_error_at,
                     **({"fleet": [h.fleet.members, h.fleet.entities]} if h.fleet is not None else {})}
              for name, h in store.health.items() if h.state is not ChannelState.OFF or h.last_error or h.reconnects}
    return {"version": VERSION, "taken": time.time(), "services": sorted(services), **about,
            "entities": entities,
            "figures": {name: dict(value) if isinstance(value, dict) else value
                        for name, value in store.figures.items()},
            "health": health, "complete": dict(store.complete),
            "counts": {service: dict(by_type) for service, by_type in store.counts.items()}}


def restore(store: Store, state: dict[str, Any], timeline: Iterable[Record] = (), *,
            own_channels: Iterable[str] = ()) -> None:
    """Make `store` what a follower from the collector's start would hold at the snapshot: the `timeline` records
    (the newest before the snapshot) applied as recorded, for the Events tab and the alerts, then the picture's
    entities, figures, channels, parts and counts in place of what they built. `own_channels`: the follower's own
    lights (its `source`), kept; its own events stay counted."""
    own_counts = {service: dict(by_type) for service, by_type in store.counts.items()}
    apply_records(store, timeline)
    entities = state.get("entities") or {}
    for kind in [*store.entities]:  # exactly the picture's rows, in its order (the finished ones' order matters)
        store.replace(kind, {}, origin="snapshot")
    for kind, rows in entities.items():
        store.replace(kind, rows, merge=False, origin="snapshot")
    for name, value in (state.get("figures") or {}).items():
        store.set_figure(name, value)
    for part, at in (state.get("complete") or {}).items():
        store.mark_complete(part)
        store.complete[part] = at
    health = state.get("health") or {}
    own = set(own_channels)
    for name in [name for name in store.health if name not in health and name not in own]:
        store.forget_channel(name)
    for name, channel in health.items():
        _restore_channel(store, name, channel)
    counts = {service: dict(by_type) for service, by_type in (state.get("counts") or {}).items()}
    for service, by_type in own_counts.items():
        mine = counts.setdefault(service, {})
        for event_type, count in by_type.items():
            mine[event_type] = mine.get(event_type, 0) + count
    store.counts = counts


def _restore_channel(store: Store, name: str, channel: dict[str, Any]) -> None:
    since = channel.get("since")
    store.restore_health(Event(time=since if isinstance(since, (int, float)) else time.time(), service=APP_SERVICE,
                               type=f"channel.{channel.get('state')}", id=name,
                               data={"state": channel.get("state"), "error": channel.get("last_error"),
                                     "fleet": channel.get("fleet")}))  # one of a fleet: tui/live/currency.py
    health = store.health.get(name)
    if health is None:  # a state this version does not know
        return
    health.service = str(channel.get("service") or health.service)
    health.reconnects = int(channel.get("reconnects") or 0)
    health.last_error, health.last_error_at = channel.get("last_error"), channel.get("last_error_at")


class SnapshotSchedule:
    """When the collector writes the next snapshot: at its start; then, when rows were recorded since the last one
    and at least `gap` seconds have passed, once a resync has settled (resync rows were recorded since the last
    snapshot, none since the previous check), after `interval` seconds, or after `rows` rows. The collector asks
    `due` about once a second."""

    def __init__(self, *, interval: float = SNAPSHOT_INTERVAL, rows: int = SNAPSHOT_ROWS, gap: float = SNAPSHOT_GAP):
        self.interval, self.rows, self.gap = interval, rows, gap
        self.taken_at: float | None = None
        self._rows_at = 0  # rows recorded when the last one was taken
        self._resyncs_at = 0  # resync rows recorded then
        self._resyncs_seen = 0  # resync rows at the previous check

    def due(self, now: float, rows: int, resyncs: int) -> bool:
        settled = resyncs > self._resyncs_at and resyncs == self._resyncs_seen
        self._resyncs_seen = resyncs
        if self.taken_at is None:
            return True
        if rows == self._rows_at or now - self.taken_at < self.gap:
            return False
        return settled or now - self.taken_at >= self.interval or rows - self._rows_at >= self.rows

    def taken(self, now: float, rows: int, resyncs: int) -> None:
        self.taken_at, self._rows_at, self._resyncs_at = now, rows, resyncs
