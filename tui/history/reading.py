"""Reading the history for a screen: the monitor's start from history and the Events tab's search reach back.

A query of thousands of rows decodes as much JSON; done on the monitor's event loop it would hold frames and keys
up. Here it runs whole in a worker thread with a connection of its own (an event loop of its own there too), and
the caller's loop only awaits the result.
"""

from __future__ import annotations

import asyncio
import time

from tui.history.records import Query, Record
from tui.history.setting import HistorySetting
from tui.live.recording import STATE_TYPES, RecalledEvent, recalled

START_WINDOW = 6 * 3600.0  # the monitor starts with the last six hours of events from the history
SEARCH_LIMIT = 1000  # a search reaching back brings at most this many of the newest matches


def timeline_query(**filters) -> Query:
    """A Query of timeline events only (no state rows: tui/live/recording.py)."""
    return Query(exclude_types=tuple(sorted(STATE_TYPES)), **filters)


async def read(setting: HistorySetting, query: Query) -> list[Record]:
    """The records `query` asks for, read off the caller's event loop; [] when there is no history yet."""
    return await asyncio.to_thread(_read_in_thread, setting, query)


def _read_in_thread(setting: HistorySetting, query: Query) -> list[Record]:
    if setting.backend == "sqlite" and (setting.path is None or not setting.path.exists()):
        return []

    async def run() -> list[Record]:
        from tui.history.core import History

        history = History(setting)
        try:
            return await history.query(query)
        finally:
            await history.close()

    return asyncio.run(run())


async def recent_events(setting: HistorySetting, limit: int, *, window: float = START_WINDOW,
                        now: float | None = None) -> list[RecalledEvent]:
    """The newest `limit` timeline events of the last `window` seconds, oldest first, marked as history."""
    moment = time.time() if now is None else now
    records = await read(setting, timeline_query(since=moment - window, limit=limit))
    return [recalled(record.event) for record in records]


async def search_events(setting: HistorySetting, text: str, *, until: float | None,
                        limit: int = SEARCH_LIMIT) -> list[RecalledEvent]:
    """Timeline events before `until` whose JSON line holds `text` (any case): the newest `limit`, oldest first."""
    records = await read(setting, timeline_query(until=until, grep=text, limit=limit))
    return [recalled(record.event) for record in records]
