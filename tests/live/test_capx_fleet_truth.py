"""The truth about a Capx fleet when its server dies or comes back as a new world, over real sockets, at the real
settings: the simulator in a child process (tests/helpers/simproc.py) with a fleet on a documented plan, killed
(SIGKILL) and started again on the same port.

- A fleet on Starter whose minute is spent: the company listing's light leaves LIVE within seconds of the streams
  losing the server, although its check of the server waits for the key's minute.
- The server back as a new world: the listing goes ahead of the streams waiting with it; the companies it no
  longer lists are forgotten as soon as it succeeds, and the fleet counted is the new world's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests.helpers.hubs import capx_hub
from tests.helpers.simproc import SimProcess
from tests.helpers.waiting import eventually
from tui.live.currency import outages
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


async def test_a_server_back_as_a_new_world_has_the_companies_it_no_longer_lists_forgotten_at_once():
    """120 companies on Starter (two pages of listing; the listing and 57 streams spend the minute, the others wait),
    the server killed and started again on the same port as world 2 of its seed (some companies kept under their
    ids, the others gone, new ones). The listing goes ahead of the streams waiting with it, every page of it, so it
    succeeds on the new world as soon as the minute has room; then the companies it no longer lists are forgotten
    at once: their streams stopped (nothing of theirs waits for the budget), their lights and rows gone, the fleet
    counted that of the new world. (Their streams went on retrying, each waiting for its turn in the minute to be
    answered 404, for up to two minutes at 300 companies on Pro, and the banner counted old and new together:
    "capx: N of 349 company streams not live"; and the listing's second page waited behind every stream, a minute
    more on Pro with 300 companies, "capx down" with 142 streams live.)"""
    async with fleet_on_child(120, "starter") as (server, hub):
        capx = hub.vendor("capx")
        budget = capx.client.budget
        await eventually(lambda: hub.store.health["capx.companies"].state is ChannelState.LIVE and sum(
            h.state is ChannelState.LIVE for h in streams(hub).values()) >= 50, 30.0, lambda: summary(hub))
        old = set(capx.channels)
        assert len(old) == 120 and budget.waiting_streams() > 0
        await asyncio.to_thread(server.kill)
        await eventually(lambda: hub.store.health["capx.companies"].state is not ChannelState.LIVE, 10.0,
                         lambda: summary(hub))
        await asyncio.to_thread(server.start, world=2)
        restarted = time.monotonic()
        room_in = budget.turn_in(Priority.STREAM)  # when the minute has room again for the listing (the real minute)
        new = set((await asyncio.to_thread(server.admin, "GET", "state"))["capx"]["companies"])
        assert old - new and new - old and old & new, "world 2 keeps some companies, drops some, adds some"

        # The listing on the new world succeeded (the companies are the new world's: only a listing adds those it
        # has and drops those it has not), all its pages as soon as the minute had room, none behind the streams.
        await eventually(lambda: set(hub.store.rows("companies")) == new, room_in + 10.0,
                         lambda: f"companies {len(set(hub.store.rows('companies')) - new)} of the old world, "
                                 f"{len(new - set(hub.store.rows('companies')))} of the new missing "
                                 f"{room_in + 10:.0f} s after the restart; {summary(hub)}")
        print(f"\nback as a new world: listed {time.monotonic() - restarted:.1f} s after the restart, the minute having "
              f"room for it after {room_in:.1f} s")
        left: list[str] = []

        def forgotten() -> bool:
            left[:] = sorted(set(capx.channels) - new) + sorted(
                n for n in streams(hub) if n.removeprefix("capx.") not in new)
            return not left

        await eventually(forgotten, 1.0, lambda: f"{len(left)} channels or lights of unlisted companies: {left[:4]}; "
                                                 f"{summary(hub)}")
        assert set(capx.channels) == new == {name.removeprefix("capx.") for name in streams(hub)}
        assert set(capx.client.budget._by_key) <= new, "a forgotten company's request still waits for the budget"
        for outage in outages(hub.store.health.values()).values():
            assert all(gap.members == len(new) for gap in outage.gaps), outage
        for kind in ("agents", "tasks", "costs"):
            assert {row.get("company_id") for row in hub.store.rows(kind).values()} <= new, kind
        gone = [event.id for event in hub.store.timeline if event.type == "company.gone"]
        assert sorted(gone) == sorted(old - new), "each company gone said so once"


async def test_a_new_world_with_no_old_company_is_listed_as_soon_as_the_old_streams_answer_404():
    """40 companies on Pro, the server killed and kept down while the listing's retries back off (1, 2, 4, 8 ... s,
    jittered), then started again on the same port with another seed: a world in which no company of the old one
    exists. No stream opens again (each answers 404), so nothing told the listing that the server was back: it
    waited out its backoff, up to half a minute and more, with the new world's companies unknown and no stream.
    A company answering 404 says the listing is out of date: it goes at once."""
    async with fleet_on_child(40, "pro") as (server, hub):
        capx = hub.vendor("capx")
        listing = capx.poller
        await eventually(lambda: hub.store.health["capx.companies"].state is ChannelState.LIVE and sum(
            h.state is ChannelState.LIVE for h in streams(hub).values()) == 40, 30.0, lambda: summary(hub))
        old = set(capx.channels)
        await asyncio.to_thread(server.kill)
        # Down until the listing's backoff has grown (its ceiling 32 s after five failed tries), and back as one of its
        # tries has just failed: the listing waits out its backoff, not a try under way that the restart answers.
        await eventually(lambda: listing.retry.attempts >= 5, 90.0,
                         lambda: f"the listing tried {listing.retry.attempts} times; {summary(hub)}")
        tries = listing.retry.attempts
        await eventually(lambda: listing.retry.attempts > tries, 60.0, lambda: summary(hub), interval=0.01)
        server.seed += 1
        await asyncio.to_thread(server.start)
        restarted = time.monotonic()
        new = set((await asyncio.to_thread(server.admin, "GET", "state"))["capx"]["companies"])
        assert new and not old & new, "no company of the old world in the new one"
        # The first stream of the old world to try again is answered 404 (its backoff is shorter than the listing's).
        await eventually(lambda: len(set(capx.channels) & old) < len(old), 35.0,
                         lambda: f"no old company answered 404 yet; {summary(hub)}")
        first_404 = time.monotonic()
        await eventually(lambda: set(hub.store.rows("companies")) == new, 3.0,
                         lambda: f"the new world not listed 3 s after the first 404 ({first_404 - restarted:.1f} s "
                                 f"after the restart): {len(set(hub.store.rows('companies')) & new)} of {len(new)} "
                                 f"new companies known; the listing tried {listing.retry.attempts} times; "
                                 f"{summary(hub)}")
        print(f"\na new world with no old company: the first 404 {first_404 - restarted:.1f} s after the restart, "
              f"listed {time.monotonic() - restarted:.1f} s after it")
        await eventually(lambda: set(capx.channels) == new, 5.0, lambda: summary(hub))
