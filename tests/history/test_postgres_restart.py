"""PostgreSQL restarted (cleanly, or killed as in a crash) under a writer at 2,000 events/s: the writer
reconnects, nothing is lost, nothing is doubled, and it says so in two lines, not one per failed attempt; a
follower catches up across it the same way."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.helpers.history import make_event
from tests.helpers.waiting import eventually
from tui.history import History


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_restarted_server_loses_and_doubles_nothing(postgres_own_server, mode, caplog):
    caplog.set_level(logging.WARNING, logger="capwatch.history")
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
    # The server stays down a moment, events keep coming meanwhile, and the writer tries again more than once (its
    # backoff starts at 0.5 s).
    await eventually(lambda: writer.failed_writes >= 3, timeout=30, message=lambda: f"writer {writer.status()}")
    await asyncio.to_thread(server.start)
    await producing
    await writer.flush(timeout=60)
    expected = [f"e{n}" for n in range(appended)]
    records = await writer.tail_after(0, limit=appended + 100)
    assert len(records) == appended, f"{len(records)} rows for {appended} events"
    assert [r.event.id for r in records] == expected
    assert writer.status()["dropped"] == 0 and writer.state == "live"
    # One line when the database went, one when it was back (with what failed and what was held), none per attempt.
    said = [r.getMessage() for r in caplog.records if r.name == "capwatch.history"]
    assert len(said) == 2, said
    assert "out of reach" in said[0] and url.rsplit("/", 1)[0].split("@")[-1] in said[0]
    failed = writer.failed_writes
    assert "back after" in said[1] and f"({failed} attempts failed)" in said[1] and "events held meanwhile" in said[1]
    held = int(said[1].split("); ", 1)[1].split(" events held")[0])
    assert 0 < held < appended and "dropped" not in said[1]
    await eventually(lambda: len(followed) >= appended, timeout=30,
                     message=lambda: f"the follower saw {len(followed)} of {appended}")
    assert followed == expected
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await writer.close()
    await follower.close()


async def test_a_writer_keeps_to_its_backoff_while_events_keep_coming():
    """The database away (nothing listens on its port) and events coming at 2,000/s: each batch due woke the
    writer, and a wake once given was never taken back, so it tried again at once, over and over (seen by hand:
    PostgreSQL stopped 17 s under a collector, "1411 attempts failed"). Its attempts keep to its backoff, whose
    delays are never under `RETRY_FLOOR`."""
    from tests.helpers.postgres import free_port
    from tui.history import core

    writer = History(f"postgresql://capwatch@127.0.0.1:{free_port()}/nowhere")
    seconds, appended = 3.0, 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(200):
                writer.append(make_event(appended, time.time()))
                appended += 1
            await asyncio.sleep(0.1)
        assert writer.state == "reconnecting"
        assert 2 <= writer.failed_writes <= seconds / core.RETRY_FLOOR + 2, writer.status()
    finally:
        await writer.close(timeout=0.5)
    assert writer.dropped == appended  # said at the stop: the database never came
