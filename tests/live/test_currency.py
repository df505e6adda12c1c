"""Whether a service's data is current: down, partial or current, from its channels' health as the real channels
declare it. A Capx fleet (one activity stream per company, hundreds) is down only when every stream that had data
lost it, or when the company listing did; a few streams reconnecting are a partial outage with counts."""

from __future__ import annotations

import time

from tui.live.currency import outage_words, outages
from tui.live.events import ChannelState
from tui.live.store import Store
from tui.vendors.capx.client import CapxClient
from tui.vendors.capx.live import CapxActivity, CapxCompanies

LOST = (ChannelState.RECONNECTING, ChannelState.FAILING, ChannelState.STALE, ChannelState.FAILED)


def capx_fleet(store: Store, companies: int) -> list[str]:
    """The company listing and one activity stream per company, built as the Capx integration builds them (not
    run: their health is what the test sets), all live."""
    client = CapxClient("http://127.0.0.1:9", api_key="cx_test_0000")
    CapxCompanies(client, store, on_companies=None)
    names = [CapxActivity(client, store, f"co_{n:03}").name for n in range(companies)]
    for name in ("capx.companies", *names):
        store.set_state(name, ChannelState.LIVE)
    return names


def test_a_few_company_streams_not_live_are_partial_and_the_listing_lost_is_down():
    store = Store()
    streams = capx_fleet(store, 300)
    store.channel("capout.ws", "capout")
    store.set_state("capout.ws", ChannelState.LIVE)
    assert outages(store.health.values()) == {} and store.not_live() == {}

    first = time.time()
    for n, name in enumerate(streams[:14]):
        store.set_state(name, LOST[n % len(LOST)], "activity stream ended")
    store.health[streams[0]].since = first - 30  # the first one lost 30 s ago: its company is as of then
    capx = outages(store.health.values())["capx"]
    assert not capx.down and capx.since == first - 30
    assert [(gap.not_live, gap.members, gap.since) for gap in capx.gaps] == [(14, 300, first - 30)]
    clock = time.strftime("%H:%M:%S", time.localtime(first - 30))
    assert outage_words(capx) == f"capx: 14 of 300 company streams not live since {clock}"
    assert store.not_live() == {}  # not down: what the other 286 streams show is current

    # The listing lost: the whole service is down, since the listing was lost.
    store.set_state("capx.companies", ChannelState.FAILING, "capx: network: ConnectError")
    since = store.health["capx.companies"].since
    capx = outages(store.health.values())["capx"]
    assert capx.down and capx.since == since and store.not_live() == {"capx": since}
    assert outage_words(capx) == f"capx down since {time.strftime('%H:%M:%S', time.localtime(since))}"
    assert "capout" not in store.not_live()


def test_a_fleet_is_down_when_every_stream_that_had_data_lost_it():
    store = Store()
    streams = capx_fleet(store, 10)
    for name in streams[:7]:
        store.set_state(name, ChannelState.RECONNECTING, "activity stream ended")
    for name in streams[7:]:  # never opened yet (waiting for the request budget): they had nothing to lose
        store.health[name].state = ChannelState.CONNECTING
    capx = outages(store.health.values())["capx"]
    assert capx.down and capx.since == max(store.health[name].since for name in streams[:7])
    store.set_state(streams[9], ChannelState.LIVE)  # one stream live again: the service shows current data
    capx = outages(store.health.values())["capx"]
    assert not capx.down and [(gap.not_live, gap.members) for gap in capx.gaps] == [(7, 10)]


def test_a_stream_waiting_for_its_first_opening_is_no_outage():
    store = Store()
    streams = capx_fleet(store, 300)
    for name in streams[:12]:
        store.health[name].state = ChannelState.CONNECTING  # as the channel starts: no data yet, nothing lost
    assert outages(store.health.values()) == {}


def test_the_fleet_is_known_again_from_the_recorded_channel_events():
    """Replay and team mode rebuild the channels' health from the recorded `channel.*` events: a fleet member is
    known as one there too, so a follower's banner says partial where the collector's would."""
    recorded = []
    store = Store()
    store.recorder = lambda event, origin: recorded.append(event)
    streams = capx_fleet(store, 20)
    for name in streams[:3]:
        store.set_state(name, ChannelState.RECONNECTING, "activity stream ended")
    follower = Store()
    for event in recorded:
        if event.type.startswith("channel."):
            follower.restore_health(event)
    capx = outages(follower.health.values())["capx"]
    assert not capx.down and [(gap.not_live, gap.members) for gap in capx.gaps] == [(3, 20)]
    assert follower.health[streams[0]].to_dict()["fleet"] == "company streams"
