"""Team mode's follower: a monitor, `tail` or `status` run from the history a `capwatch collect` writes
(`--source postgresql://...`, `CAPWATCH_SOURCE`), with no vendor connection of its own.

`SourceHub` is a LiveHub that starts no channel and no webhook receiver: its Store is fed by the shared feed
(tui/history/feed.py `apply_record`) from `History.follow`, which LISTENs for the collector's commits and, after
any (re)connect, catches up by `seq` from the last row applied, so nothing is missed; a row at or below that
cursor is never applied again, so nothing is doubled. The channels' health is as the collector recorded it, and
the follower's own connection to the database is a channel of its own, `source` (live / reconnecting).

Where the follower starts: from the newest snapshot the collector wrote (tui/history/snapshot.py: its Store as of a
seq, with the newest timeline events before it), then the rows after it, so that joining late costs what joining
early does; without one (an older collector, a monitor's own history), at the newest `collector.started` row (a
collector reads every vendor in full when it starts, so from there the Store is whole), else the last START_WINDOW
of history. `status --source` waits, as the live `status` does, until every part of the first complete picture of
each vendor the collector watches is there (Capx's agents, tasks and costs once every company was read).

Actions go to the vendor with the operator's own key (`vendor(name)` builds an integration only for a vendor this
config has a key for, and starts none of its channels); without one they are not offered.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Iterable

from tui.live.events import APP_SERVICE, ChannelState, Event
from tui.live.hub import LiveHub
from tui.live.integration import Integration

if TYPE_CHECKING:
    from tui.config import Config
    from tui.history.core import History

SOURCE = "source"  # the follower's own channel: its connection to the history database
STARTED = "collector.started"  # the row a collector writes when it starts (tui/collect.py)
START_WINDOW = 3600.0  # seconds of history replayed when no collector ever started on this database
SOURCE_PART = "source.caught_up"  # marked complete once the follower has applied every row there was
HEARTBEAT = "collector"  # the figure a running collector sets every HEARTBEAT_INTERVAL: {"host", "pid", "at"}
HEARTBEAT_INTERVAL = 5.0
SILENT_AFTER = 3 * HEARTBEAT_INTERVAL  # seconds without a heartbeat after which the follower says the collector is
# silent (killed, hung, or cut off from the database): what it shows is as of then


def started_event(services: Iterable[str], *, host: str, pid: int, metrics: str | None = None) -> Event:
    """The row a collector writes at its start: followers start from the newest one."""
    return Event(time=time.time(), service=APP_SERVICE, type=STARTED, id=host,
                 data={"services": sorted(services), "host": host, "pid": pid, "metrics": metrics})


async def newest_start(history: History):
    """The newest `collector.started` record, or None."""
    from tui.history.records import Query

    started = await history.query(Query(services=(APP_SERVICE,), type_glob=STARTED, limit=1))
    return started[-1] if started else None


async def start_cursor(history: History, *, window: float = START_WINDOW) -> int:
    """The seq after which a new follower reads: just before the newest collector start, else the start of the last
    `window` seconds (0 on an empty history)."""
    from tui.history.records import Query

    started = await newest_start(history)
    if started is not None:
        return started.seq - 1
    async for page in history.scan(Query(since=time.time() - window), chunk=1):
        return page[0].seq - 1
    return await history.last_seq_committed()


class SourceHub(LiveHub):
    """A LiveHub fed from a history database instead of the vendors (see the module)."""

    def __init__(self, config: Config, vendors: Iterable[Any], *, history: History | None = None,
                 from_now: bool = False, **options: Any):
        """`from_now` (for `tail`): only rows committed from now on, as `tail` prints live events; else from the
        collector's start (`start_cursor`), so the Store is whole."""
        super().__init__(config, vendors, **options)
        self.from_now = from_now
        from tui.history.core import History
        from tui.history.setting import parse_setting

        # The placeholders LiveHub makes for vendors this config has no key for: the collector's channels say
        # what is on now.
        for name in self.vendors:
            health = self.store.health.get(name)
            if health is not None and health.state is ChannelState.OFF:
                del self.store.health[name]
        self.history = history or History(parse_setting(config.source), max_age=None, max_bytes=None)
        self.cursor = 0  # seq of the last row applied
        self.applied = 0  # rows applied so far
        self.snapshot_seq: int | None = None  # the seq of the snapshot it started from (None: none)
        self.recalled = 0  # timeline rows before that snapshot it applied
        self.collector_services: set[str] = set()  # the vendors the collector watches, from its last start
        self.on_record = None  # called with each record applied (tests compare the seqs followers saw)
        self._connection, self._connection_error = "connecting", None
        # Lights made stale while the collector is unheard: the state each had, and the reason it was given.
        self._held: dict[str, tuple[ChannelState, str | None]] = {}
        self._last_beat: float | None = None  # monotonic time the collector's last heartbeat was applied here
        self.store.channel(SOURCE, SOURCE)
        self.store.set_state(SOURCE, ChannelState.CONNECTING)

    # ------------------------------------------------------------------------------------------- the registry

    def vendor(self, name: str) -> Integration | None:
        """The vendor's integration for the operator's actions, with the operator's own key; None without one."""
        if not super().is_on(name):
            return None
        return super().vendor(name)

    def watched(self, name: str) -> bool:
        """Whether the collector (its last start, as recorded) or this config has vendor `name` on."""
        return self.is_on(name) or name in self.collector_services or any(
            h.service == name and h.state is not ChannelState.OFF for h in self.store.health.values())

    def webhook_secrets(self) -> dict[str, str]:
        return {}  # the collector holds the one webhook URL

    # ------------------------------------------------------------------------------------------- lifecycle

    async def start(self, *, snapshot: bool = False) -> None:
        """Start following; returns at once. No channel, no receiver: the collector has them."""
        self.spawn(self.follow(), SOURCE)
        self.spawn(self._watch_collector(), f"{SOURCE}.collector")

    async def _watch_collector(self) -> None:
        """The `source` channel goes stale while the collector's heartbeat is older than SILENT_AFTER (its channels'
        recorded health would otherwise stay green after a kill -9), and live again at the next one."""
        while True:
            await asyncio.sleep(1.0)
            self._state(self._connection, self._connection_error)

    def silent_for(self) -> float | None:
        """Seconds since the collector's last heartbeat reached this follower (by this machine's clock: the
        collector's may differ), when that is more than SILENT_AFTER; else None (also when no collector ever
        beat here, as in a monitor's own history: nothing to miss)."""
        if self._last_beat is None:
            return None
        age = time.monotonic() - self._last_beat
        return age if age > SILENT_AFTER else None

    async def follow(self) -> None:
        from tui.history.feed import apply_record

        store, history = self.store, self.history
        while True:
            try:
                self.cursor = await (history.last_seq_committed() if self.from_now else self._start())
                break
            except Exception as error:
                from tui.history.core import describe_error

                self._state("reconnecting", describe_error(error))
                await asyncio.sleep(1.0)
        async for records in history.follow(self.cursor, on_state=self._state):
            for record in records:
                if record.seq <= self.cursor:  # never twice, whatever the database hands back
                    continue
                apply_record(store, record)
                if record.event.id == HEARTBEAT and record.origin == "figure":
                    self._last_beat = time.monotonic()
                elif record.event.type == STARTED and record.event.service == APP_SERVICE:
                    services = record.event.data.get("services")
                    self.collector_services = set(services) if isinstance(services, list) else set()
                self.cursor = record.seq
                self.applied += 1
                if self.on_record is not None:
                    self.on_record(record)

    async def _start(self) -> int:
        """Where this follower starts (see the module): the newest snapshot restored into the Store, then its seq;
        else `start_cursor`."""
        from tui.history.snapshot import restore
        from tui.live.recording import STATE_TYPES

        history = self.history
        snapshot = await history.latest_snapshot()
        started = await newest_start(history)
        if snapshot is None or (started is not None and started.seq > snapshot.seq):  # none since that start
            return started.seq - 1 if started is not None else await start_cursor(history)
        after = started.seq - 1 if started is not None else 0  # the timeline as from the collector's start
        timeline = await history.newest_between(after, snapshot.seq, self.store.timeline.maxlen or 10_000,
                                                STATE_TYPES)
        restore(self.store, snapshot.state, timeline, own_channels=(SOURCE,))
        services = snapshot.state.get("services")
        self.collector_services = set(services) if isinstance(services, list) else set()
        if HEARTBEAT in self.store.figures:
            self._last_beat = time.monotonic()  # as a follower applying its row now would
        self.snapshot_seq, self.recalled = snapshot.seq, len(timeline)
        return snapshot.seq

    def _state(self, state: str, error: str | None) -> None:
        """The follower's connection is `state` (follow's words); the channel says that, or stale while the
        collector is silent."""
        self._connection, self._connection_error = state, error
        if state == "live":
            self.store.mark_complete(SOURCE_PART)
            silent = self.silent_for() if SOURCE_PART in self.store.complete else None
            if silent is not None:
                since = time.strftime("%H:%M:%S", time.localtime(time.time() - silent))
                state, error = "stale", f"no word from the collector since {since}"
        self.store.set_state(SOURCE, ChannelState(state), error)
        if state == "live":
            self._release_lights()
        elif state != "connecting":  # (connecting: not caught up yet, for the first time; `status` waits for it)
            self._hold_lights(f"as the collector last told it; {error or 'the history database is out of reach'}")

    def _hold_lights(self, reason: str) -> None:
        """While the follower hears nothing of the collector, no light it recorded stays green: the service behind
        it may have died since (a collector killed keeps its last states in the database for ever)."""
        for name, health in list(self.store.health.items()):
            if name != SOURCE and health.state in (ChannelState.LIVE, ChannelState.DEGRADED):
                state = health.state
                self.store.set_state(name, ChannelState.STALE, reason)
                self._held[name] = (state, health.last_error)  # the reason as the Store keeps it (sanitized)

    def _release_lights(self) -> None:
        """The collector is heard again: each held light back as it was, unless a recorded change moved it."""
        held, self._held = self._held, {}
        for name, (state, reason) in held.items():
            health = self.store.health.get(name)
            if health is not None and health.state is ChannelState.STALE and health.last_error == reason:
                self.store.set_state(name, state)

    async def stop(self) -> None:
        await super().stop()
        await self.history.close()

    # ------------------------------------------------------------------------------------------- snapshot

    def missing(self) -> list[str]:
        """Until the follower has caught up with the history, itself; then, as the live `status` waits for, the parts
        of the first complete picture of each vendor the collector watches that it has not recorded yet (Capx's
        agents, tasks and costs come once every company was read)."""
        if SOURCE_PART not in self.store.complete:
            return [SOURCE]
        watched = self.collector_services or {name for name in self.vendors if self.watched(name)}
        return [part for name, declaration in self.vendors.items() if name in watched
                for part in declaration.integration_class().snapshot_parts if part not in self.store.complete]

    def figure_lines(self, figures: dict[str, Any]) -> list[str]:
        """The figures as the watched vendors' integrations word them (the method reads only `figures`)."""
        lines = []
        for name, declaration in self.vendors.items():
            if self.watched(name):
                lines += declaration.integration_class().figure_lines(None, figures)  # type: ignore[arg-type]
        return lines

    def kinds(self) -> list[Any]:
        """The entity kinds of every watched vendor (`status` lists each, 0 when there is none)."""
        return [kind for name, declaration in self.vendors.items() if self.watched(name) for kind in declaration.kinds]
