"""PostgreSQL restarted (cleanly, or killed as in a crash) under a writer at 2,000 events/s: the writer
reconnects, nothing is lost, nothing is doubled; a follower catches up across it the same way."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.helpers.history import make_event
from tests.helpers.waiting import eventually
from tui.history import History


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_restarted_server_loses_and_doubles_nothing(postgres_own_server, mode):
    server = postgres_own_server
    url = server.url()
    writer, follower = History(url), History(url)
    appended = 0
    followed: list[str] = []

    async def produce(seconds: float) -> None:
        nonlocal appended
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(200):  # 2,000 events/s, in the bursts a live layer sees
                writer.append(make_event(appended, time.time()))
                appended += 1
            await asyncio.sleep(0.1)

    async def follow() -> None:
        async for records in follower.follow(0):
            followed.extend(r.event.id for r in records)

    writer.append(make_event(appended, time.time()))
    appended += 1
    await writer.flush(timeout=30)
    following = asyncio.create_task(follow())
    producing = asyncio.create_task(produce(6.0))
    await eventually(lambda: writer.batches >= 5)
    await asyncio.to_thread(server.stop, mode)
    await eventually(lambda: writer.state == "reconnecting", message=lambda: f"writer {writer.status()}")
    await asyncio.sleep(0.5)  # the server stays down a moment; events keep coming meanwhile
    await asyncio.to_thread(server.start)
    await producing
    await writer.flush(timeout=60)
    expected = [f"e{n}" for n in range(appended)]
    records = await writer.tail_after(0, limit=appended + 100)
    assert len(records) == appended, f"{len(records)} rows for {appended} events"
    assert [r.event.id for r in records] == expected
    assert writer.status()["dropped"] == 0 and writer.state == "live"
    await eventually(lambda: len(followed) >= appended, timeout=30,
                     message=lambda: f"the follower saw {len(followed)} of {appended}")
    assert followed == expected
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await writer.close()
    await follower.close()
