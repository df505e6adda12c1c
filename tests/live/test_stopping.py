"""Stopping ends every task: a cancel that comes as a wait is woken is not lost (Python 3.11's `asyncio.wait_for`
loses it, and a poller woken by `check_now()` as the hub stopped polled on for ever: `hub.stop()` hung 120 s in
test_a_webhook_older_than_the_entity_does_not_take_it_back), and `hub.stop()` is bounded whatever a task does,
saying which task did not end."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest

from tests.helpers.hubs import green, hub_from
from tests.helpers.waiting import eventually
from tui.config import Config
from tui.live import hub as hub_module
from tui.live.backoff import wait_set
from tui.live.channel import Poller
from tui.live.hub import LiveHub
from tui.live.store import Store
from tui.vendors import VENDORS

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


def idle_hub() -> LiveHub:
    return LiveHub(Config(), VENDORS)  # every vendor off: nothing spawned but what the test spawns


async def refuses(cancels: dict) -> None:
    """A task that swallows cancellations while `cancels["left"]` (as a lost one looks from outside)."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels["left"] -= 1
            if cancels["left"] < 0:
                raise


async def test_stop_asks_a_task_whose_cancel_was_lost_once_more_and_says_so(caplog):
    hub = idle_hub()
    hub.spawn(refuses({"left": 1}), "capx.companies")
    hub.spawn(asyncio.sleep(3600), "capx.budget")
    caplog.set_level(logging.WARNING, "capwatch.live")
    await steps(2)  # in their sleep (a task cancelled before its first step never runs its handler)
    began = time.monotonic()
    await hub.stop()
    assert time.monotonic() - began < hub_module.STOP_WITHIN + 1.0
    assert hub.unended == [] and not hub._tasks
    assert "capx.companies did not end within 3 s of being cancelled" in caplog.text
    assert "capx.budget" not in caplog.text
    assert "did not end" in hub.store.health["capx.companies"].last_error


@pytest.mark.slow
async def test_stop_is_bounded_and_names_the_task_that_never_ends(caplog):
    hub = idle_hub()
    cancels = {"left": 10**9}
    stuck = hub.spawn(refuses(cancels), "capx.co_stuck")
    caplog.set_level(logging.WARNING, "capwatch.live")
    await steps(2)  # in their sleep (a task cancelled before its first step never runs its handler)
    began = time.monotonic()
    await hub.stop()
    assert time.monotonic() - began < 2 * hub_module.STOP_WITHIN + 1.0
    assert hub.unended == ["capx.co_stuck"]
    assert "capx.co_stuck did not end within 3 s of being cancelled twice" in caplog.text
    cancels["left"] = 0  # it ends now, before the test's loop closes
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)


async def test_a_hub_stopped_as_its_company_poller_is_woken_ends_every_task_at_the_first_cancel(sim, caplog):
    """The hang as it happened: Capx against the simulator, the company poller woken (a re-listing is due once
    streams opened, every second until one begins) and the hub stopped right then."""
    hub = hub_from({k: v for k, v in sim.options.client_env().items() if k in ("CAPX_BASE_URL", "CAPX_API_KEY")})
    await hub.start()
    try:
        poller = hub.vendor("capx").poller
        await eventually(lambda: poller.listed_at is not None and green(hub))
        await steps(3)
    finally:
        caplog.set_level(logging.WARNING, "capwatch.live")
        poller.check_now()
        await hub.stop()
    assert hub.unended == [] and "did not end" not in caplog.text


def test_no_module_waits_with_wait_for():
    """Every wait with a deadline is `wait_set` or `asyncio.timeout`: `wait_for` can lose a cancel on 3.11."""
    root = Path(__file__).resolve().parents[2] / "tui"
    users = [str(path.relative_to(root)) for path in root.rglob("*.py")
             if re.search(r"\bwait_for\(", path.read_text(encoding="utf-8"))]
    assert users == []
