"""History -> Store: the one way a recorded event goes back into a Store, for replay (`capwatch replay`), the
monitor's start from history, and team mode's follower (`--source`).

`apply_record(store, record)` makes the Store call the live layer made when it recorded the row
(tui/live/recording.py says which row is which), so that feeding every row of a period, in seq order, into an
empty Store rebuilds its entities, figures, timeline and channel states. A Store with a recorder of its own
records them again, with their origins (a copy of a history).
"""

from __future__ import annotations

from typing import Iterable

from tui.history.records import Record
from tui.live import recording
from tui.live.events import APP_SERVICE
from tui.live.store import Store


def apply_record(store: Store, record: Record) -> None:
    """Apply one recorded event to `store` as the live layer did."""
    event, origin = record.event, record.origin
    kind = event.type
    if kind in recording.STATE_TYPES:
        if kind == recording.ENTITY_UPDATED:
            if event.kind and event.id:
                store.upsert(event.kind, event.id, event.patch if event.patch is not None else event.data, origin)
        elif kind == recording.ENTITY_REMOVED:
            if event.kind and event.id:
                store.remove(event.kind, event.id, origin)
        elif kind == recording.SNAPSHOT_COMPLETE:
            store.mark_complete(event.id)
        else:
            store.set_figure(event.id, recording.figure_value(event))
        return
    if event.service == APP_SERVICE and kind.startswith("channel."):
        store.restore_health(event)
    store.apply(event, origin)


def apply_records(store: Store, records: Iterable[Record]) -> int:
    """`apply_record` for each, in order; returns how many."""
    count = 0
    for record in records:
        apply_record(store, record)
        count += 1
    return count
