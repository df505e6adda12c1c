"""The companies whose REST snapshot is wanted, read by a few workers, best priority first.

A fleet's resyncs wait minutes for their turns in the key's minute (300 companies' agents, tasks and costs are 900
requests: a minute and a half of a 600/min key, three of Pro's). One asyncio task per company waiting its turn held
its coroutine frames, its task and the budget's waiter, ~4 KB a company of the monitor's RSS while a fleet opened
(tests/perf/fleet.py). Now a company whose snapshot is wanted is an entry in a queue (its channel, in a dict per
priority), and a few workers take the best of them, one at a time each, and run its resync as a task of its own (so
that a channel that ends cancels its own resync, never a worker). The budget still orders what the workers send
(`RequestBudget`: streams and the operator's actions before any resync); the queue orders which companies the
workers take: the one the operator looks at, then those with approvals waiting, then the rest, first come first
served within each (`reprioritize` moves a company that waits when its class changes). The company the operator
looks at does not wait for a worker: its resync starts at once, its requests first in the budget after the
operator's actions and the streams (as when each company was a task of its own).

Workers: as many as the key's requests in flight (`RequestBudget.concurrent`), at most `MAX_WORKERS`, each with at
most one request in flight. They end when the queue is empty.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Protocol

from tui.vendors.capx.budget import Priority


class Resyncable(Protocol):
    """What the queue needs of a company's channel (tui/vendors/capx/live.py `CapxActivity`)."""

    priority: Callable[[], Priority]  # its class now

    def start_resync(self) -> asyncio.Task | None: ...  # its resync, as a task (None: nothing to read any more)


# Sixteen workers with a request each send ~1,900 a minute at 0.5 s RTT, which spreads a 1,000-company fleet's 3,000
# first-snapshot requests over a minute and a half, and always leaves a Pro or Enterprise key's other 34 requests in
# flight to the streams (a reconnect storm) and the operator's actions. Measured at 1,000 companies on Enterprise
# (tests/perf/fleet.py, quiet machine, 2026-12-08, docs/performance.md): with 50 workers, first snapshots in 13 to
# 38 s, and the runs whose snapshots came fastest held the loop while streams waited for their first events (events
# from every stream in 13.3 and 17.3 s, target 15; RSS 51.5 and 44.2 KB a stream, target 50; 10 to 11 s and 33 KB
# otherwise); with 16, snapshots in 23 to 37 s (the loop's CPU sets the pace, not the workers), events from every
# stream in 10.5 to 12.3 s, RSS 29.1 to 32.0 KB a stream.
MAX_WORKERS = 16


class Resyncs:
    def __init__(self, workers: Callable[[], int] = lambda: 1):
        self.workers = workers  # how many may run (read as each company is queued)
        self._queued: dict[Priority, dict[Resyncable, None]] = {priority: {} for priority in Priority}
        self._where: dict[Resyncable, Priority] = {}  # a queued channel -> the priority it is queued under
        self._running: set[asyncio.Task] = set()  # the workers

    def __len__(self) -> int:
        return len(self._where)

    def queued(self, channel: Resyncable) -> bool:
        return channel in self._where

    def add(self, channel: Resyncable) -> None:
        """Queue `channel`'s resync (nothing when it is queued already), and start a worker if fewer run than may."""
        if channel in self._where:
            return
        priority = channel.priority()
        if priority <= Priority.FOCUS:  # the operator's company: at once, not behind the companies workers hold
            channel.start_resync()
            return
        self._queued[priority][channel] = None
        self._where[channel] = priority
        if len(self._running) < max(1, min(self.workers(), MAX_WORKERS)):
            worker = asyncio.get_running_loop().create_task(self._work())
            self._running.add(worker)
            worker.add_done_callback(self._running.discard)

    def discard(self, channel: Resyncable) -> None:
        priority = self._where.pop(channel, None)
        if priority is not None:
            self._queued[priority].pop(channel, None)

    def reprioritize(self, channel: Resyncable) -> None:
        """A queued company's class changed (the operator selected it, approvals wait): it waits under the new one,
        behind those already there."""
        priority = self._where.get(channel)
        if priority is not None and channel.priority() != priority:
            self.discard(channel)
            self.add(channel)

    def _take(self) -> Resyncable | None:
        for queued in self._queued.values():  # (in priority order)
            if queued:
                channel = next(iter(queued))
                del queued[channel]
                del self._where[channel]
                return channel
        return None

    async def _work(self) -> None:
        while (channel := self._take()) is not None:
            resync = channel.start_resync()
            if resync is not None:
                await asyncio.wait({resync})  # its end, cancelled or not (a channel that ends cancels its own)

    async def stop(self) -> None:
        for worker in list(self._running):
            worker.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
