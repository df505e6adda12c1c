"""The Store's recorder hook: what the live layer hands an event history (or any other listener), and the shape of
what is not a timeline event.

`Store.recorder` is any callable `recorder(event, origin)` (tui/history's `History.append` is one); the Store
calls it, on the event loop, for every change it makes that is not derived from an earlier one, in the order it
makes them, so that feeding the same calls to an empty Store (tui/history/feed.py `apply_record`) rebuilds it:

- every event it applies (`Store.apply`), timeline events and entity updates alike, with where it came from:
  `stream`, `webhook`, `poll`, `resync`, `action`, or `app` (capwatch's own: channel state changes, errors);
- an entity merged outside an event (`upsert`, or what changed in a resync's `replace`): type `entity.updated`,
  its kind and id, the fields merged as data and patch;
- an entity removed (`remove`, or dropped by a resync): type `entity.removed`, its kind and id, no patch (a
  finished entity dropped for the bound is not: the same calls drop it again);
- a figure set (credits, rate limits): origin `figure`, type `figure` with the figure's name as id and its value
  as data (a value that is not a JSON object: type `figure.value`, data `{"value": value}`);
- a part of the first complete snapshot read (`mark_complete`): type `snapshot.complete`, the part as id.

These state rows are not timeline events (`is_timeline`): replay applies them to the entities, figures and
snapshot, never to the Events tab. The recorder must return at once and must not change the event.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

from tui.live.events import APP_SERVICE, Event

ORIGINS = ("stream", "webhook", "poll", "resync", "action", "figure", "app")
ENTITY_UPDATED = "entity.updated"
ENTITY_REMOVED = "entity.removed"
FIGURE = "figure"
FIGURE_VALUE = "figure.value"
SNAPSHOT_COMPLETE = "snapshot.complete"
STATE_TYPES = frozenset((ENTITY_UPDATED, ENTITY_REMOVED, FIGURE, FIGURE_VALUE, SNAPSHOT_COMPLETE))
CHANNEL_FORGOTTEN = "channel.forgotten"  # a timeline event, as channel.<state> ones: a channel whose entity is gone


class Recorder(Protocol):
    """What the Store calls for each change (tui/history `History.append`, a test's list, team mode's writer)."""

    def __call__(self, event: Event, origin: str) -> None: ...


RecorderHook = Callable[[Event, str], None]


def is_timeline(event: Event) -> bool:
    """Whether a recorded event is a timeline event (the Events tab's), not one of the state rows above."""
    return event.type not in STATE_TYPES


def service_of(name: str) -> str:
    """The service a kind's, figure's or channel's dotted name belongs to: `capx.credits` -> `capx`."""
    return name.split(".", 1)[0]


def entity_updated(service: str, kind: str, entity_id: str, fields: dict[str, Any]) -> Event:
    return Event(time=time.time(), service=service, type=ENTITY_UPDATED, id=entity_id, data=fields, kind=kind,
                 patch=fields)


def entity_removed(service: str, kind: str, entity_id: str) -> Event:
    return Event(time=time.time(), service=service, type=ENTITY_REMOVED, id=entity_id, data={}, kind=kind)


def figure_event(name: str, value: Any) -> Event:
    if isinstance(value, dict):
        return Event(time=time.time(), service=service_of(name), type=FIGURE, id=name, data=value)
    return Event(time=time.time(), service=service_of(name), type=FIGURE_VALUE, id=name, data={"value": value})


def figure_value(event: Event) -> Any:
    """The value a figure row records (the inverse of `figure_event`)."""
    return event.data.get("value") if event.type == FIGURE_VALUE else event.data


def complete_event(part: str) -> Event:
    return Event(time=time.time(), service=service_of(part) or APP_SERVICE, type=SNAPSHOT_COMPLETE, id=part, data={})


class RecalledEvent(Event):
    """An event read back from the history (the monitor's start, a search reaching back): shown marked as history,
    until the live layer delivers the same event again (`recall_key` equal) and the live one takes its place.
    Event's own fields and methods (its equality is of the same class only, its repr names the class): no
    dataclass of its own, which cost ~0.5 ms before the monitor's first frame."""

    __slots__ = ()


def recalled(event: Event) -> RecalledEvent:
    return RecalledEvent(time=event.time, service=event.service, type=event.type, id=event.id, data=event.data,
                         kind=event.kind, patch=event.patch, received=event.received)


def confirmed(event: Event) -> Event:
    """A recalled event as the live layer has now shown it to be: a plain Event, no longer marked as history."""
    return Event(time=event.time, service=event.service, type=event.type, id=event.id, data=event.data,
                 kind=event.kind, patch=event.patch, received=event.received)


def recall_key(event: Event) -> tuple:
    """What makes a live event the same as a recalled one: a stream's backfill or a resync repeats it."""
    return (event.service, event.type, event.id, round(event.time, 3))
