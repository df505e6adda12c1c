"""The truth about a Capx fleet when its server dies or comes back as a new world, over real sockets, at the real
settings: the simulator in a child process (tests/helpers/simproc.py) with a fleet on a documented plan, killed
(SIGKILL) and started again on the same port.

- A fleet on Starter whose minute is spent: the company listing's light leaves LIVE within seconds of the streams
  losing the server, although its check of the server waits for the key's minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests.helpers.hubs import capx_hub
from tests.helpers.simproc import SimProcess
from tests.helpers.waiting import eventually
from tui.live.events import ChannelState
from tui.vendors.capx.budget import Priority
from tui.vendors.capx.live import CapxCompanies

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def streams(hub) -> dict:
    return {name: health for name, health in hub.store.health.items() if name.startswith("capx.co_")}


def summary(hub) -> str:
    states: dict[str, int] = {}
    for health in streams(hub).values():
        states[health.state.value] = states.get(health.state.value, 0) + 1
    listing = hub.store.health.get("capx.companies")
    return f"listing {listing.state.value if listing else None} ({listing.last_error if listing else ''}); streams {states}"


@contextlib.asynccontextmanager
async def fleet_on_child(companies: int, plan: str, *, seed: int = 23, rate: float = 5.0):
    """A simulator child with `companies` Capx companies on `plan`, and a Capx hub on it; both stopped at the end."""
    server = SimProcess(seed=seed, rate=rate, extra=["--companies", str(companies), "--plan", plan])
    await asyncio.to_thread(server.start)
    hub = capx_hub(server.client_env())
    try:
        await hub.start()
        yield server, hub
    finally:
        await hub.stop()
        await asyncio.to_thread(server.stop)


async def test_the_listing_leaves_live_within_seconds_of_the_server_dying_while_the_minute_is_spent():
    """80 companies on Starter (60 requests a minute): the listing and 58 streams spend the minute (the streams'
    share of it), and the rest wait. The server is killed: every open stream loses it at once, and the listing's
    check of the server waits for the minute, most of a minute away. Its light was green until then; it must leave
    LIVE within seconds (`answer_within`, the time a poll is given to answer), on the streams' evidence."""
    async with fleet_on_child(80, "starter") as (server, hub):
        capx = hub.vendor("capx")
        budget = capx.client.budget
        listing = hub.store.health

        def spent() -> bool:  # the listing LIVE, the streams' share of the minute spent, most streams open
            live = sum(h.state is ChannelState.LIVE for h in streams(hub).values())
            return listing["capx.companies"].state is ChannelState.LIVE and live >= 50 and \
                budget.next_room_in(Priority.STREAM) > 0

        await eventually(spent, 30.0, lambda: f"never spent: {summary(hub)}; used {budget.used()}")
        assert budget.window == 60.0 and budget.minute == 60  # the real minute, the real plan
        room_in = budget.next_room_in(Priority.STREAM)
        assert room_in > 3 * CapxCompanies.answer_within, f"the minute has room again in {room_in:.0f} s"
        killed = time.monotonic()
        await asyncio.to_thread(server.kill)
        await eventually(lambda: listing["capx.companies"].state is not ChannelState.LIVE, CapxCompanies.answer_within,
                         lambda: f"still LIVE {CapxCompanies.answer_within} s after the kill: {summary(hub)}; "
                                 f"the minute has room in {budget.next_room_in(Priority.STREAM):.0f} s", interval=0.1)
        seconds = time.monotonic() - killed
        assert budget.next_room_in(Priority.STREAM) > 0, "the check had its turn: not the case this test is about"
        print(f"\nkill -9 with the minute spent: the listing left LIVE after {seconds:.1f} s "
              f"({listing['capx.companies'].state.value}: {listing['capx.companies'].last_error})")
