"""Stopping ends every task: a cancel that comes as a wait is woken is not lost (Python 3.11's `asyncio.wait_for`
loses it, and a poller woken by `check_now()` as the hub stopped polled on for ever: `hub.stop()` hung 120 s in
test_a_webhook_older_than_the_entity_does_not_take_it_back)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.hubs import green, hub_from
from tests.helpers.waiting import eventually
from tui.live.backoff import wait_set
from tui.live.channel import Poller
from tui.live.store import Store

# A cancel within this many loop steps of the wake-up was lost by wait_for (0, 1 and 2 on Python 3.11.7).
RACY_STEPS = range(6)


class CountingPoller(Poller):
    service = "capx"

    def __init__(self, store: Store):
        super().__init__("capx.companies", store)
        self.polls = 0

    def interval(self) -> float:
        return 60.0

    async def poll(self) -> None:
        self.polls += 1


async def steps(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.mark.parametrize("after", RACY_STEPS)
async def test_a_poller_woken_as_it_is_cancelled_ends(after):
    """`check_now()` (a sibling lost or reached the server, a re-listing is due) and then the hub's cancel,
    `after` loop steps later: the poller ends at once and polls no more."""
    poller = CountingPoller(Store())
    task = asyncio.create_task(poller.run())
    while poller.polls < 1:
        await asyncio.sleep(0)
    await steps(3)  # in its wait for the next poll
    poller.check_now()
    await steps(after)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2 * poller.retry.minimum + 1.0)
    try:
        assert done, f"the cancel {after} steps after the wake-up was lost: the poller polled {poller.polls} times"
        assert task.cancelled() and poller.polls == 1
    finally:
        task.cancel()


@pytest.mark.parametrize("after", RACY_STEPS)
async def test_a_wait_cancelled_as_its_event_is_set_raises_the_cancel(after):
    event = asyncio.Event()
    task = asyncio.create_task(wait_set(event, 60.0))
    await steps(2)
    event.set()
    await steps(after)
    if task.done():  # woken before the cancel came: nothing was lost
        assert task.result() is True
        return
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_wait_says_whether_it_was_woken():
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    event.set()
    assert await wait_set(event, 0.01) is True


async def test_a_hub_stopped_as_its_company_poller_is_woken_ends_every_task_at_the_first_cancel(sim):
    """The hang as it happened: Capx against the simulator, the company poller woken (a re-listing is due once
    streams opened, every second until one begins) and the hub stopped right then."""
    hub = hub_from({k: v for k, v in sim.options.client_env().items() if k in ("CAPX_BASE_URL", "CAPX_API_KEY")})
    await hub.start()
    try:
        poller = hub.vendor("capx").poller
        await eventually(lambda: poller.listed_at is not None and green(hub))
        await steps(3)
    finally:
        poller.check_now()
        async with asyncio.timeout(10):  # (it waited for ever)
            await hub.stop()
    assert not hub._tasks
