"""`capwatch replay`'s hub: a LiveHub with no vendor connection at all, whose Store is fed from the history.

The period's events are played at their recorded pace (the gaps between their receipt times) times `speed`, each
through `apply_record` (tui/history/feed.py), so every tab is rebuilt as the on-call saw it. The hour before the
period is applied at once first (`PRELUDE`): a monitor's picture is built from its last resync, and the tabs
should open on what was there when the period starts, not empty. Idle gaps longer than MAX_GAP seconds (of
replay time) are cut short. `pause()`, `resume()` and `step()` hold it and move it one event at a time.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

from tui.history.feed import apply_record
from tui.history.records import Query, Record
from tui.live.hub import LiveHub

PRELUDE = 3600.0  # seconds before `since` applied at once, to open on the picture of the period's start
MAX_GAP = 5.0  # a quiet stretch of the recording is played in at most this many seconds
SPEEDS = (1, 100)


async def load_period(history, since: float | None, until: float | None,
                      prelude: float = PRELUDE) -> tuple[list[Record], list[Record]]:
    """(what comes before `since`, within the prelude; the period), each in commit (seq) order."""
    start = None if since is None else since - prelude
    records: list[Record] = []
    async for page in history.scan(Query(since=start, until=until)):
        records.extend(page)
    records.sort(key=lambda record: record.seq)
    if since is None:
        return [], records
    before = [r for r in records if r.event.time < since]
    return before, [r for r in records if r.event.time >= since]


class ReplayHub(LiveHub):
    """What the monitor runs in replay: the Store, fed from the records; `vendor()` is None for every service (no
    action can reach a vendor) and the config is read-only."""

    def __init__(self, config, vendors: Iterable[Any], before: list[Record], period: list[Record], *,
                 speed: float = 1.0):
        self.recorded = {r.event.service for r in (*before, *period)}  # (is_on, which the hub's start asks)
        super().__init__(config, vendors)
        self.read_only = True
        self.before, self.period = before, period
        self.speed = max(SPEEDS[0], min(SPEEDS[1], speed))
        self.played = 0  # records of the period applied so far
        self.now: float | None = period[0].event.received if period else None  # the replayed moment
        self._running = asyncio.Event()
        self._running.set()
        self._steps = 0
        self.finished = asyncio.Event()

    def is_on(self, name: str) -> bool:
        return name in self.vendors and name in self.recorded

    def vendor(self, name: str):
        return None

    def integrations(self) -> list:
        return []

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def step(self) -> None:
        """While paused: play the next event."""
        self._steps += 1
        self._running.set()

    async def start(self, *, snapshot: bool = False) -> None:
        for record in self.before:
            apply_record(self.store, record)

    async def run(self) -> None:
        await self.start()
        try:
            await self.play()
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def play(self) -> None:
        previous = None
        owed = 0.0  # seconds of replay time not slept yet (short gaps add up to one sleep)
        for record in self.period:
            received = record.event.received
            if previous is not None:
                owed += min(MAX_GAP, max(0.0, received - previous) / self.speed)
            previous = received
            if owed >= 0.01 and not self.paused:
                await asyncio.sleep(owed)
                owed = 0.0
            await self._running.wait()
            if self._steps:
                self._steps -= 1
                if not self._steps:
                    self._running.clear()  # a step plays one event, then holds again
                owed = 0.0
            apply_record(self.store, record)
            self.played += 1
            self.now = received
        self.finished.set()
