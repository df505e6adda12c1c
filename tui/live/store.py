"""The Store: the single place live state lives, and the coalesced feeds that publish its changes.

Every method is synchronous and is called on the event loop thread (channels, pollers and the UI all run
there), so there are no locks. Channels write; the UI and the headless commands read, and learn what changed
through a `ChangeFeed`: each `take()` returns everything since the previous one in one `ChangeBatch`, so a
screen repaints once per frame however many events arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict, deque
from typing import Any, Callable, Iterable

from tui.live import currency, recording
from tui.live.backoff import wait_set
from tui.live.events import APP_SERVICE, ChannelHealth, ChannelState, Event, Fleet, parse_timestamp
from tui.text import sanitize

_MISSING = object()
DEFAULT_MAX_FINISHED = 10_000


class ChangeBatch:
    """Everything that changed since a feed's previous `take()` (slots, not a dataclass: less before the first frame)."""

    __slots__ = ("kinds", "figures", "health", "events", "dropped_events", "replaced")

    def __init__(self, *, kinds: dict[str, set[str]] | None = None, figures: set[str] | None = None,
                 health: set[str] | None = None, events: list[Event] | None = None, dropped_events: int = 0,
                 replaced: set[str] | None = None):
        self.kinds = {} if kinds is None else kinds  # kind -> ids upserted or removed
        self.figures = set() if figures is None else figures
        self.health = set() if health is None else health  # channel names
        self.events = [] if events is None else events  # new timeline events, oldest first (the last N)
        self.dropped_events = dropped_events  # events that arrived but did not fit in `events`
        # Kinds to treat as wholly changed: a resync happened, or more ids changed than a feed keeps.
        self.replaced = set() if replaced is None else replaced

    def absorb(self, later: "ChangeBatch", *, max_events: int = 5000, max_ids: int = 50_000) -> None:
        """Fold a later batch into this one: the batch a feed taken less often would have given, within the
        same bounds (the oldest events beyond `max_events` counted as dropped; a kind with more than
        `max_ids` changed ids reported as replaced). `max_events=0` keeps no events and counts none dropped:
        for a holder that never shows them."""
        for kind, ids in later.kinds.items():
            mine = self.kinds.setdefault(kind, set())
            mine |= ids
            if len(mine) > max_ids:
                del self.kinds[kind]
                self.replaced.add(kind)
        self.replaced |= later.replaced
        self.figures |= later.figures
        self.health |= later.health
        if not max_events:
            return
        self.events.extend(later.events)
        self.dropped_events += later.dropped_events
        if len(self.events) > max_events:
            extra = len(self.events) - max_events
            del self.events[:extra]
            self.dropped_events += extra


class ChangeFeed:
    """One consumer's view of the Store's changes. Independent of every other feed; bounded even when
    nobody takes: at most `max_events` events and `max_ids` ids per kind (beyond that the kind is
    reported in `replaced`, meaning "reread it all")."""

    def __init__(self, store: "Store", *, max_events: int = 5000, max_ids: int = 50_000):
        self._store = store
        self._max_ids = max_ids
        self._kinds: dict[str, set[str]] = {}
        self._figures: set[str] = set()
        self._health: set[str] = set()
        self._replaced: set[str] = set()
        self._events: deque[Event] = deque(maxlen=max_events)
        self._event_total = 0  # events since the last take, kept or not
        self._dirty = False
        self._changed = asyncio.Event()
        self.closed = False

    # The Store calls these; each is a few attribute operations, as `apply` runs for every event.

    def _mark(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._changed.set()

    def _add_event(self, event: Event) -> None:
        self._events.append(event)
        self._event_total += 1
        if not self._dirty:
            self._mark()

    def _add_change(self, kind: str, entity_id: str, event: Event) -> None:
        """`_add_id` then `_add_event`, in one call: what `Store.apply` does for most events. Their bodies are
        repeated here on purpose: this runs once per event, and the two extra calls were measurable."""
        self._events.append(event)
        self._event_total += 1
        if kind not in self._replaced:
            ids = self._kinds.get(kind)
            if ids is None:
                ids = self._kinds[kind] = set()
            ids.add(entity_id)
            if len(ids) > self._max_ids:
                del self._kinds[kind]
                self._replaced.add(kind)
        if not self._dirty:
            self._mark()

    def _add_id(self, kind: str, entity_id: str) -> None:
        if kind not in self._replaced:  # else the whole kind is reported already
            ids = self._kinds.get(kind)
            if ids is None:
                ids = self._kinds[kind] = set()
            ids.add(entity_id)
            if len(ids) > self._max_ids:
                del self._kinds[kind]
                self._replaced.add(kind)
        if not self._dirty:
            self._mark()

    def _add_resync(self, kind: str, entity_ids: list[str]) -> None:
        for entity_id in entity_ids:
            self._add_id(kind, entity_id)
        self._replaced.add(kind)  # ids listed so far stay: a consumer may update just those rows
        self._mark()

    def _add_figure(self, name: str) -> None:
        self._figures.add(name)
        self._mark()

    def _add_health(self, name: str) -> None:
        self._health.add(name)
        if not self._dirty:
            self._mark()

    # The consumer's side.

    def take(self) -> ChangeBatch | None:
        """Everything changed since the last take, in one batch; None when nothing changed."""
        if not self._dirty:
            return None
        batch = ChangeBatch(
            kinds=self._kinds,
            figures=self._figures,
            health=self._health,
            events=list(self._events),
            dropped_events=self._event_total - len(self._events),
            replaced=self._replaced,
        )
        self._kinds, self._figures, self._health, self._replaced = {}, set(), set(), set()
        self._events.clear()
        self._event_total = 0
        self._dirty = False
        self._changed.clear()
        return batch

    async def wait(self, timeout: float | None = None) -> bool:
        """Return True once something changed since the last take (at once if it already has), or False
        when `timeout` seconds pass first."""
        if self._dirty:
            return True
        return await wait_set(self._changed, timeout)

    def close(self) -> None:
        """Stop accumulating; the Store forgets this feed."""
        if not self.closed:
            self.closed = True
            self._store._unsubscribe(self)


class Store:
    """Current state per entity, figures (credits, rate limits), a bounded timeline, health per channel,
    and event counts per (service, type). Single-threaded by design: call it from the event loop only.

    It knows entity kinds, not vendors: `kinds` are the kinds it is given (the vendors' declarations,
    `tui.vendors.kinds()`: each with a `name`, the `finished` statuses and a `finished_flag`), and an entity of one
    of them in a finished state expects no further change. It keeps at most `max_finished` of those per kind,
    dropping the ones finished longest ago; unfinished entities, and kinds it was not given, are never dropped."""

    def __init__(self, timeline_size: int = 10_000, max_finished: int | None = DEFAULT_MAX_FINISHED,
                 kinds: Iterable[Any] = ()):
        self.entities: dict[str, dict[str, dict[str, Any]]] = {}
        # kind -> (finished statuses, finished flag), for the kinds that finish at all.
        self.finishing: dict[str, tuple[frozenset[str], str | None]] = {
            kind.name: (kind.finished, kind.finished_flag) for kind in kinds if kind.finished or kind.finished_flag
        }
        # At most this many finished entities per kind (None: no bound); older ones are removed, as
        # `remove` does, so every feed reports them and tables drop their rows.
        self.max_finished = max_finished
        self._finished: dict[str, OrderedDict[str, None]] = {}  # kind -> finished ids, longest finished first
        self.evicted: Counter[str] = Counter()  # kind -> finished entities dropped so far
        self.figures: dict[str, Any] = {}
        self.timeline: deque[Event] = deque(maxlen=timeline_size)
        self.health: dict[str, ChannelHealth] = {}
        # service -> event type -> events applied. Nested plain dicts: a third of a Counter keyed by pairs, per event.
        self.counts: dict[str, dict[str, int]] = {}
        # Parts of the picture ("capx.tasks", "captain.files", ...) that have had a first complete snapshot, and
        # when: `capwatch status` prints once every part it expects is here.
        self.complete: dict[str, float] = {}
        self._feeds: tuple[ChangeFeed, ...] = ()  # a tuple: the hot path iterates it for every event
        # Told of every change, with its origin (tui/live/recording.py): the event history's hook. None: no one.
        self.recorder: recording.RecorderHook | None = None
        self.kind_services: dict[str, str] = {}  # kind -> the service it belongs to (the hub fills it)

    # --------------------------------------------------------------------------------------- feeds

    def subscribe(self, *, max_events: int = 5000, max_ids: int = 50_000) -> ChangeFeed:
        feed = ChangeFeed(self, max_events=max_events, max_ids=max_ids)
        self._feeds = (*self._feeds, feed)
        return feed

    def _unsubscribe(self, feed: ChangeFeed) -> None:
        self._feeds = tuple(f for f in self._feeds if f is not feed)

    def _changed(self, kind: str, entity_id: str) -> None:
        for feed in self._feeds:
            feed._add_id(kind, entity_id)

    # --------------------------------------------------------------------------------------- events

    def apply(self, event: Event, origin: str = "stream") -> None:
        """Record one event: timeline, counts, and its patch merged into `entities[kind][id]` (created when
        missing) when the event carries a kind, a patch and an id. `origin`: where it came from, for the recorder
        (stream, webhook, poll, resync, action, app)."""
        self.timeline.append(event)
        if self.recorder is not None:
            self.recorder(event, origin)
        by_type = self.counts.get(event.service)
        if by_type is None:
            by_type = self.counts[event.service] = {}
        by_type[event.type] = by_type.get(event.type, 0) + 1
        kind, patch, entity_id = event.kind, event.patch, event.id
        if kind is not None and patch is not None and entity_id:
            rows = self.entities.get(kind)
            if rows is None:
                rows = self.entities[kind] = {}
            row = rows.get(entity_id)
            if row is None:
                row = rows[entity_id] = dict(patch)
            elif not _merge_newer(row, patch):
                for feed in self._feeds:  # nothing new, or older than what we have: on the timeline only
                    feed._add_event(event)
                return
            for feed in self._feeds:
                feed._add_change(kind, entity_id, event)
            if kind in self.finishing:
                self._track(kind, entity_id, row)
            return
        for feed in self._feeds:
            feed._add_event(event)

    def recall(self, events: list[Event]) -> None:
        """Put events read back from the history (oldest first) on the timeline before the live ones, as room
        allows; entities, counts and feeds are not touched (the live layer brings the present)."""
        room = (self.timeline.maxlen or len(events)) - len(self.timeline)
        if room > 0 and events:
            self.timeline = deque([*events[-room:], *self.timeline], maxlen=self.timeline.maxlen)

    def apply_state(self, event: Event, origin: str = "stream") -> None:
        """The state part of `apply` only, for an event already on the timeline (the same event by another path):
        its patch is merged as `apply` would (never over a newer row); no timeline, no count, no alert. The
        recorder is told of the entity's change when it applied (not of a second event)."""
        kind, patch, entity_id = event.kind, event.patch, event.id
        if kind is None or patch is None or not entity_id:
            return
        rows = self.entities.setdefault(kind, {})
        row = rows.get(entity_id)
        if row is None:
            row = rows[entity_id] = dict(patch)
        elif not _merge_newer(row, patch):
            return
        if self.recorder is not None:
            self.recorder(recording.entity_updated(self._service(kind), kind, entity_id, patch), origin)
        self._changed(kind, entity_id)
        if kind in self.finishing:
            self._track(kind, entity_id, row)

    # --------------------------------------------------------------------------------------- entities

    def upsert(self, kind: str, entity_id: str, fields: dict[str, Any], origin: str = "poll") -> bool:
        """Merge `fields` into an entity (created when missing). Returns whether anything changed."""
        rows = self.entities.setdefault(kind, {})
        row = rows.get(entity_id)
        if row is None:
            rows[entity_id] = dict(fields)
            changed = True
        else:
            changed = _merge(row, fields)
        if changed:
            if self.recorder is not None:
                self.recorder(recording.entity_updated(self._service(kind), kind, entity_id, fields), origin)
            self._changed(kind, entity_id)
            if kind in self.finishing:
                self._track(kind, entity_id, rows[entity_id])
        return changed

    def remove(self, kind: str, entity_id: str, origin: str = "resync") -> bool:
        if not self._remove(kind, entity_id):
            return False
        if self.recorder is not None:
            self.recorder(recording.entity_removed(self._service(kind), kind, entity_id), origin)
        return True

    def _service(self, kind: str) -> str:
        return self.kind_services.get(kind, APP_SERVICE)

    def _remove(self, kind: str, entity_id: str) -> bool:
        rows = self.entities.get(kind)
        if rows is None or rows.pop(entity_id, None) is None:
            return False
        finished = self._finished.get(kind)
        if finished is not None:
            finished.pop(entity_id, None)
        self._changed(kind, entity_id)
        return True

    def finished_count(self, kind: str) -> int:
        """How many finished entities of `kind` the Store holds (at most `max_finished`)."""
        return len(self._finished.get(kind, ()))

    def finished_ids(self, kind: str) -> list[str]:
        """The finished entities of `kind`, finished longest ago first: the order the bound drops them in."""
        return list(self._finished.get(kind, ()))

    def is_finished(self, kind: str, row: dict[str, Any]) -> bool:
        """Whether an entity of `kind` is in a terminal state: a finished status, or its finished flag true."""
        finishing = self.finishing.get(kind)
        if finishing is None:
            return False
        statuses, flag = finishing
        status = row.get("status")
        # islower() first: no new string for the usual lower-case status that is not a finished one.
        if isinstance(status, str) and (status in statuses or not status.islower() and status.lower() in statuses):
            return True
        return flag is not None and row.get(flag) is True

    def _track(self, kind: str, entity_id: str, row: dict[str, Any]) -> None:
        """Keep the finished ids of `kind` in order after `row` changed; drop the oldest beyond the bound."""
        finished = self._finished.get(kind)
        if self.is_finished(kind, row):
            if finished is None:
                finished = self._finished[kind] = OrderedDict()
            if entity_id in finished:
                finished.move_to_end(entity_id)  # changed again: the least recently changed go first
                return
            finished[entity_id] = None
            bound = self.max_finished
            if bound is not None and len(finished) > bound:
                self._evict(kind, finished, bound)
        elif finished is not None:
            finished.pop(entity_id, None)  # back to work (a document reprocessed): never dropped

    def _evict(self, kind: str, finished: OrderedDict[str, None], bound: int) -> None:
        while len(finished) > bound:
            entity_id = next(iter(finished))  # finished longest ago
            # Feeds report it (consumers find no row, and drop theirs); not the recorder: replay drops it again.
            if self._remove(kind, entity_id):
                self.evicted[kind] += 1
            else:
                del finished[entity_id]

    def replace(
        self,
        kind: str,
        rows: dict[str, dict[str, Any]],
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
        merge: bool = True,
        origin: str = "resync",
    ) -> int:
        """Resync from a REST listing: the entities of `kind` matching `where(row)` (all when None) become
        exactly `rows`. Ones missing from `rows` are removed; the others are merged (fields known only from
        live events survive) or, with `merge=False`, replaced. Only actual changes are marked; every feed
        also learns that `kind` was resynced. Returns the number of entities changed."""
        current = self.entities.setdefault(kind, {})
        changed_ids: list[str] = [
            entity_id
            for entity_id, row in current.items()
            if entity_id not in rows and (where is None or where(row))
        ]
        finished = self._finished.get(kind)
        for entity_id in changed_ids:
            del current[entity_id]
            if finished is not None:
                finished.pop(entity_id, None)
        removed = len(changed_ids)
        for entity_id, fields in rows.items():
            row = current.get(entity_id)
            if row is None:
                current[entity_id] = dict(fields)
            elif merge:
                if not _merge(row, fields):
                    continue
            elif row != fields:
                current[entity_id] = dict(fields)
            else:
                continue
            changed_ids.append(entity_id)
        if self.recorder is not None and changed_ids:
            self._record_replace(kind, changed_ids, removed, rows, merge, origin)
        if kind in self.finishing:
            for entity_id in changed_ids[removed:]:  # the feeds hear of ids dropped here as `remove` tells
                row = current.get(entity_id)
                if row is not None:
                    self._track(kind, entity_id, row)
        for feed in self._feeds:
            feed._add_resync(kind, changed_ids)
        return len(changed_ids)

    def _record_replace(self, kind: str, changed_ids: list[str], removed: int, rows: dict[str, dict[str, Any]],
                        merge: bool, origin: str) -> None:
        """What a resync changed, as the recorder takes it: each entity dropped, each one merged (a replaced one,
        `merge=False`, as dropped then merged, so replay ends with exactly its fields)."""
        service, record = self._service(kind), self.recorder
        for entity_id in changed_ids[:removed]:
            record(recording.entity_removed(service, kind, entity_id), origin)
        for entity_id in changed_ids[removed:]:
            if not merge:
                record(recording.entity_removed(service, kind, entity_id), origin)
            record(recording.entity_updated(service, kind, entity_id, rows[entity_id]), origin)

    def get(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        rows = self.entities.get(kind)
        return None if rows is None else rows.get(entity_id)

    def rows(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.entities.get(kind, {})

    # --------------------------------------------------------------------------------------- figures

    def set_figure(self, name: str, value: Any) -> bool:
        if self.figures.get(name, _MISSING) == value:
            return False
        self.figures[name] = value
        if self.recorder is not None:
            self.recorder(recording.figure_event(name, value), "figure")
        for feed in self._feeds:
            feed._add_figure(name)
        return True

    # --------------------------------------------------------------------------------------- health

    def channel(self, name: str, service: str, fleet: Fleet | None = None) -> ChannelHealth:
        """The health record of channel `name`, created in state OFF when missing; `fleet`: the fleet it is a
        member of, as its channel declares it."""
        health = self.health.get(name)
        if health is None:
            health = self.health[name] = ChannelHealth(name=name, service=service, fleet=fleet)
            self._health_changed(name)
        else:
            if service and not health.service:
                health.service = service
            if fleet is not None:
                health.fleet = fleet
        return health

    def set_state(self, name: str, state: ChannelState | str, error: str | None = None) -> None:
        """Move a channel to `state`. `error` (when given) becomes its last error; going to RECONNECTING
        from another state counts a reconnect. A change of state or error is also a timeline event."""
        health = self.channel(name, "")
        state = ChannelState(state)
        if error is not None:
            error = sanitize(error, single_line=True).strip()
        previous = (health.state, health.last_error)
        if state is not health.state:
            if state is ChannelState.RECONNECTING:
                health.reconnects += 1
            health.state = state
            health.since = time.time()
        if error is not None:
            health.last_error, health.last_error_at = error, time.time()
        if (health.state, health.last_error) == previous:
            return
        self._health_changed(name)
        data: dict[str, Any] = {"state": state.value, "error": error}
        if health.fleet is not None:  # recorded, so that replay and team mode know the fleet too
            data["fleet"] = [health.fleet.members, health.fleet.entities]
        self._app_event(f"channel.{state.value}", name, data)

    def restore_health(self, event: Event) -> None:
        """A recorded `channel.*` event (set_state's, record_error's, forget_channel's) back on its channel's health,
        as of the event's time; the caller applies the event itself (replay, team mode)."""
        data = event.data
        if event.type == recording.CHANNEL_FORGOTTEN:
            return self.forget_channel(event.id, record=False)
        try:
            state = ChannelState(data.get("state"))
        except ValueError:
            return
        health = self.channel(event.id, recording.service_of(event.id), Fleet.recorded(data.get("fleet")))
        if state is not health.state:
            if state is ChannelState.RECONNECTING:
                health.reconnects += 1
            health.state, health.since = state, event.time
        error = data.get("error")
        if isinstance(error, str) and error:
            health.last_error, health.last_error_at = error, event.time
        self._health_changed(event.id)

    def forget_channel(self, name: str, *, record: bool = True) -> None:
        """A channel whose entity is gone: no light, no line in `status`; recorded, as its states are (`record`)."""
        if self.health.pop(name, None) is not None:
            self._health_changed(name)
            if record:
                self._app_event(recording.CHANNEL_FORGOTTEN, name, {"state": "forgotten", "error": None})

    def note_event(self, name: str, at: float) -> None:
        health = self.health.get(name) or self.channel(name, "")
        health.events += 1
        health.last_event_at = at
        for feed in self._feeds:  # _health_changed, inline: this runs for every event
            feed._add_health(name)

    def count(self, name: str, counter: str, amount: int = 1) -> None:
        """Add to one of a channel's counters (a bad message, ...): shown with its health."""
        counters = self.channel(name, "").counters
        counters[counter] = counters.get(counter, 0) + amount
        self._health_changed(name)

    def record_error(self, name: str, error: str) -> None:
        """A failure that does not change a channel's state (a poll that failed): remembered and shown."""
        health = self.channel(name, "")
        health.last_error, health.last_error_at = sanitize(error, single_line=True).strip(), time.time()
        self._health_changed(name)
        self._app_event("channel.error", name, {"state": health.state.value, "error": health.last_error})

    def _health_changed(self, name: str) -> None:
        for feed in self._feeds:
            feed._add_health(name)

    def _app_event(self, event_type: str, entity_id: str, data: dict[str, Any]) -> None:
        self.apply(Event(time=time.time(), service=APP_SERVICE, type=event_type, id=entity_id, data=data), "app")

    def not_live(self) -> dict[str, float]:
        """Services that are down (tui/live/currency.py: a channel carrying the service, or a whole fleet, lost its
        data's currency), each with the epoch since which what is shown of it is as of then."""
        return currency.down_services(self.health.values())

    def mark_complete(self, part: str) -> None:
        """`part` (e.g. "capx.tasks") has had its first complete snapshot."""
        if part not in self.complete:
            self.complete[part] = time.time()
            if self.recorder is not None:
                self.recorder(recording.complete_event(part), "app")

    # --------------------------------------------------------------------------------------- export

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able summary for `capwatch status --json`."""
        entities: dict[str, Any] = {}
        for kind, rows in self.entities.items():
            by_status: Counter[str] = Counter(str(row.get("status") or "unknown") for row in rows.values())
            entities[kind] = {"total": len(rows), "by_status": dict(sorted(by_status.items()))}
        events = {service: dict(sorted(by_type.items())) for service, by_type in sorted(self.counts.items())}
        return {
            "entities": entities,
            "figures": {name: _jsonable(value) for name, value in self.figures.items()},
            "health": {name: health.to_dict() for name, health in self.health.items()},
            "events": events,
            "timeline": len(self.timeline),
        }


def _merge_newer(row: dict[str, Any], patch: dict[str, Any]) -> bool:
    """`_merge` an event's patch unless it is older than the row (both carry `updated_at`). Webhooks arrive in no
    set order (a vendor delivers several at a time) and race the streams: a late `task.approval_required` must
    not take a completed task back to awaiting approval."""
    theirs = patch.get("updated_at")
    if theirs is not None:
        ours = row.get("updated_at")
        if ours is not None and ours != theirs:
            then, now = parse_timestamp(theirs), parse_timestamp(ours)
            if then is not None and now is not None and then < now:
                return False
    return _merge(row, patch)


def _merge(row: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Update `row` with `fields`; whether any value actually changed (a field missing or unequal). The check is
    the dict views' subset test, in C: a third of a key-by-key loop's time."""
    if row.items() >= fields.items():
        return False
    row.update(fields)
    return True


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)  # a pydantic model
    if callable(dump):
        return _jsonable(dump(mode="json"))
    return str(value)
