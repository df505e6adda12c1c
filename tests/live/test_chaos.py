"""Chaos: every fault the simulator can inflict, survived over real loopback sockets.

One test per fault. Each starts a simulator with a ticking world, brings a LiveHub (CapOut realtime, Capx
activity streams, Captain pollers) to LIVE, switches the fault on for a few seconds while the world changes,
then switches it off and pauses the world. It then asserts:

- the hub never dies: every channel task is still running, no task ended with an exception;
- every channel is LIVE again within its backoff cap (plus the time to connect and resync);
- no reconnect storm: consecutive connection attempts of a channel are never closer than the backoff's
  minimum delay, and polls never closer than their interval;
- the Store equals the simulator's `/_admin/state` (documents, companies, agents, tasks, databases);
- nothing applied twice: no activity or document update shows up in the timeline more often than the
  simulator published it.

Backoffs and poll intervals are shortened (monkeypatched) so each test takes about 10 s.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
from collections import Counter

import httpx
import pytest

from tests.helpers.hubs import channels, make_hub, states
from tests.helpers.simproc import SimProcess
from tests.helpers.simulator import admin
from tests.helpers.waiting import eventually
from tui.live import channel as channel_module
from tui.live.backoff import Backoff
from tui.vendors.capout.live import CapOutCredits
from tui.vendors.captain.live import CaptainDatabases
from tui.vendors.capx.live import CapxCompanies
from tui.live.events import ChannelState
from tui.live.hub import LiveHub
from tui.sim.core import Faults

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

BASE, CAP, HEALTHY_AFTER = 0.4, 2.0, 1.5  # the shortened backoff every channel gets
MINIMUM = BASE / 2  # Backoff.minimum: no two attempts of one channel closer than this
POLL_EVERY = 1.0  # shortened Captain databases / CapOut credits interval
COMPANIES_EVERY = 2.0  # shortened Capx company list interval
FAULT_SECONDS = 4.0
EVIDENCE_SECONDS = 30.0  # at most this much longer, until the journal shows the fault happened (a loaded machine
# makes fewer requests in FAULT_SECONDS)
RATE = 20.0  # world events per second while the fault is on
RECENT = 50  # CapOut documents backfilled on connect (the config default)
SLACK = 1e-3  # timer granularity when comparing attempt spacing
POLL_RETRY_FLOOR = 0.5  # Poller.retry.minimum: no two polls closer than this


@pytest.fixture(autouse=True)
def fast_channels(monkeypatch):
    monkeypatch.setattr(channel_module, "Backoff",
                        functools.partial(Backoff, base=BASE, cap=CAP, healthy_after=HEALTHY_AFTER))
    monkeypatch.setattr(CaptainDatabases, "interval", lambda self: POLL_EVERY)
    monkeypatch.setattr(CapOutCredits, "interval", lambda self: POLL_EVERY)
    monkeypatch.setattr(CapxCompanies, "interval", lambda self: COMPANIES_EVERY)


# --------------------------------------------------------------------------------------------- helpers


def all_live(hub: LiveHub) -> bool:
    found = channels(hub)
    return len(hub.vendor("capx").channels) >= 5 and all(h.state is ChannelState.LIVE for h in found.values())


def differences(store, state: dict) -> list[str]:
    """How the Store differs from the simulator's state; empty when equal."""
    problems: list[str] = []
    documents = state["capout"]["documents"]
    rows = store.rows("documents")
    for doc_id in list(documents)[-RECENT:]:  # the scope the realtime backfill covers
        if doc_id not in rows:
            problems.append(f"document {doc_id} missing")
    for doc_id, row in rows.items():
        if doc_id in documents and (row.get("status"), row.get("updated_at")) != (
                documents[doc_id]["status"], documents[doc_id]["updated_at"]):
            problems.append(f"document {doc_id}: {row.get('status')} != {documents[doc_id]['status']}")
    capx = state["capx"]
    ours = {k: v.get("status") for k, v in store.rows("companies").items()}
    theirs = {k: v["status"] for k, v in capx["companies"].items()}
    if ours != theirs:
        problems.append(f"companies {ours} != {theirs}")
    for kind in ("agents", "tasks"):
        ours = {k: v.get("status") for k, v in store.rows(kind).items()}
        theirs = {k: v["status"] for k, v in capx[kind].items()}
        if ours != theirs:
            wrong = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
            problems.append(f"{kind} differ at {len(wrong)}: " + ", ".join(
                f"{k}: {ours.get(k)} != {theirs.get(k)}" for k in wrong[:5]))
    ours = {k: v.get("request_count") for k, v in store.rows("databases").items()}
    theirs = {k: v["request_count"] for k, v in state["captain"]["databases"].items()}
    if ours != theirs:
        problems.append(f"databases {ours} != {theirs}")
    return problems


def assert_no_storm(hub: LiveHub) -> None:
    """Consecutive attempts of each channel at least the backoff minimum apart; polls at least their retry
    backoff's floor apart (a failed poll is retried after 1, 2, 4 ... s jittered, never sooner than 0.5 s)."""
    for name, health in channels(hub).items():
        times = list(health.attempt_times)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        floor = MINIMUM if name.startswith(("capout.ws", "capout.sse", "capx.co_")) else POLL_RETRY_FLOOR
        too_close = [round(g, 4) for g in gaps if g < floor - SLACK]
        assert not too_close, f"{name}: attempts closer than {floor} s: {too_close} (of {len(gaps)} gaps)"


def assert_alive(hub: LiveHub, names: set[str]) -> None:
    """Every channel task started (`names`) still runs: a task that died is gone from the hub's set."""
    running = {t.get_name() for t in hub._tasks if not t.done()}
    assert names <= running, f"channel tasks ended: {sorted(names - running)}"
    assert len(hub.vendor("capx").channels) >= 5, "the Capx activity channels were not all started"


def task_names(hub: LiveHub) -> set[str]:
    return {t.get_name() for t in hub._tasks if not t.get_name().startswith("capx.watch")}


def assert_nothing_applied_twice(hub: LiveHub, simulator=None) -> None:
    """No document state and no Capx activity appears in the timeline more often than it was published."""
    documents = Counter((e.id, e.data.get("status"), e.data.get("updated_at")) for e in hub.store.timeline
                        if e.service == "capout" and e.kind == "documents")
    doubled = [key for key, count in documents.items() if count > 1]
    assert not doubled, f"document updates applied twice: {doubled[:5]}"
    activity = Counter(json.dumps(e.data, sort_keys=True) for e in hub.store.timeline
                       if e.service == "capx" and e.type != "message.invalid")
    if simulator is None:
        doubled = [key for key, count in activity.items() if count > 1]
    else:  # the same payload may legitimately be published twice: compare with the simulator's topics
        published: Counter[str] = Counter()
        for name, topic in list(simulator.topics.items()):
            if name.startswith("capx:"):
                published.update(json.dumps(e.payload, sort_keys=True) for e in list(topic.buffer))
        doubled = [key for key, count in activity.items() if count > published[key]]
    assert not doubled, f"activity applied more often than published: {doubled[:3]}"


async def recover_and_check(hub: LiveHub, root: str, names: set[str], *, simulator=None,
                            back_at: float | None = None) -> None:
    """The fault is off and the world paused: every channel LIVE within its cap, the Store equal to the
    simulator, no storm, nothing doubled, nothing dead."""
    back_at = back_at or time.monotonic()
    # Live again within the backoff cap, plus a connection's handshake and resync, or one poll interval.
    within = max(CAP, COMPANIES_EVERY) + 2.0
    await eventually(lambda: all_live(hub), within, lambda: f"not all LIVE {within} s after: {states(hub)}")
    assert time.monotonic() - back_at <= within
    state = await admin(root, "GET", "state")
    latest: dict = {"problems": differences(hub.store, state)}

    def settled() -> bool:
        latest["problems"] = differences(hub.store, state)
        return not latest["problems"]

    await eventually(settled, 10.0, lambda: "the Store differs from the simulator: " + "; ".join(latest["problems"]))
    await eventually(lambda: all_live(hub), within, lambda: f"not all LIVE after the resync: {states(hub)}")
    assert_alive(hub, names)
    assert_no_storm(hub)
    assert_nothing_applied_twice(hub, simulator)


# --------------------------------------------------------------------------------------------- faults

# id -> (fault spec while on, CapOut transport, extra simulator options, journal evidence the fault happened)
FAULTS = {
    "drop-ws": ("drop=1.2", "ws", {}, lambda j: sum(j["streams_dropped"].values()) >= 3),
    "drop-sse": ("drop=1.2", "sse", {}, lambda j: sum(j["streams_dropped"].values()) >= 3),
    "token-expiry-ws": ("", "ws", {"token_ttl": 1.2}, lambda j: j["tokens_minted"] >= 3),
    "token-expiry-sse": ("", "sse", {"token_ttl": 1.2}, lambda j: j["tokens_minted"] >= 3),
    "errors-500-504": ("errors=0.5", "ws", {}, lambda j: j["statuses"].get("500", 0) + j["statuses"].get("504", 0) >= 5),
    "throttle-429-storm": ("throttle=0.7", "ws", {}, lambda j: j["statuses"].get("429", 0) >= 5),
    "latency-300ms": ("latency=300", "ws", {}, lambda j: True),
    "slow-drip": ("drip=5", "sse", {}, lambda j: True),
    "hostile-framing": ("framing,drop=1.5", "sse", {}, lambda j: sum(j["streams_dropped"].values()) >= 1),
    "malformed-json": ("malformed=0.2", "ws", {}, lambda j: sum(j["delivered"].values()) >= 20),
    "malformed-json-sse": ("malformed=0.2", "sse", {}, lambda j: sum(j["delivered"].values()) >= 20),
    "ws-close-1001": ("drop=1.2,close=1001", "ws", {}, lambda j: j["streams_dropped"].get("capout", 0) >= 2),
    "ws-close-1011": ("drop=1.2,close=1011", "ws", {}, lambda j: j["streams_dropped"].get("capout", 0) >= 2),
    "ws-close-1012": ("drop=1.2,close=1012", "ws", {}, lambda j: j["streams_dropped"].get("capout", 0) >= 2),
    "ws-close-4001": ("drop=1.2,close=4001", "ws", {}, lambda j: j["streams_dropped"].get("capout", 0) >= 2),
}
OFF = Faults().as_dict()


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_survived(sim_factory, fault):
    spec, transport, options, evidence = FAULTS[fault]
    running = sim_factory(rate=RATE, capx_rate_limit=100_000, **options)
    hub = make_hub(running.options.client_env(), transport)
    await hub.start()
    try:
        await eventually(lambda: all_live(hub), 15.0, lambda: f"never all LIVE: {states(hub)}")
        names = task_names(hub)
        if spec:
            await admin(running.root, "POST", "faults", Faults.parse(spec).as_dict())
        before = {n: h.reconnects for n, h in channels(hub).items()}
        if "latency" in spec:  # the fault is really on: a REST reply takes at least the added latency
            started = time.monotonic()
            await hub.vendor("capout").client.credits()
            assert time.monotonic() - started >= 0.3, "no latency was added"
        if "drip" in spec:  # bodies arrive a few bytes at a time
            async with hub.vendor("capout").client.http.stream("GET", "/credits") as reply:
                pieces = [chunk async for chunk in reply.aiter_raw() if chunk]
            assert len(pieces) >= 3, f"the body was not dripped: {len(pieces)} piece(s)"
        # The fault is on for a while, and until the journal shows it happened; meanwhile the hub must stay up
        # (checked continuously).
        started = time.monotonic()
        while True:
            assert_alive(hub, names)
            if time.monotonic() - started >= FAULT_SECONDS:
                journal = await admin(running.root, "GET", "journal")
                if evidence(journal) or time.monotonic() - started >= FAULT_SECONDS + EVIDENCE_SECONDS:
                    break
            await asyncio.sleep(0.1)
        assert evidence(journal), f"the fault {fault} did not happen: {journal}"
        if "drop" in spec or "token_ttl" in options:
            stream = f"capout.{transport}"
            assert channels(hub)[stream].reconnects > before[stream], f"{stream} never reconnected"
        await admin(running.root, "POST", "faults", OFF)
        running.simulator.options.token_ttl = 900.0  # tokens minted from now on last
        await admin(running.root, "POST", "pause")
        back_at = time.monotonic()
        await recover_and_check(hub, running.root, names, simulator=running.simulator, back_at=back_at)
        if "framing" in spec:  # the reader saw the `retry:` fields (and survived the rest)
            readers = [c.sse for c in hub.vendor("capx").channels.values()] + [hub.vendor("capout").realtime.sse]
            assert any(r.retry_ms in (500, 1500, 3000) for r in readers), "no retry: field was read"
        if "close=" in spec:
            code = spec.rsplit("=", 1)[1]
            errors = " ".join(str(e.data.get("error")) for e in hub.store.timeline if e.service == "capwatch")
            assert f"close {code}" in errors, f"close code {code} never reported"
    finally:
        await hub.stop()


# --------------------------------------------------------------------------------------------- SIGKILL


async def test_simulator_sigkilled_and_restarted(monkeypatch):
    # A child simulator has the default Capx rate limit (60 a minute): poll the company list less often.
    monkeypatch.setattr(CapxCompanies, "interval", lambda self: 5.0)
    server = SimProcess(seed=23, rate=RATE)
    await asyncio.to_thread(server.start)
    hub = make_hub(server.client_env(), "ws")
    await hub.start()
    try:
        await eventually(lambda: all_live(hub), 15.0, lambda: f"never all LIVE: {states(hub)}")
        names = task_names(hub)
        await asyncio.to_thread(server.kill)
        streams = [n for n in channels(hub) if n.startswith(("capout.ws", "capx.co_"))]
        await eventually(lambda: all(hub.store.health[n].state is not ChannelState.LIVE for n in streams), 10.0,
                         lambda: f"the streams did not notice the kill: {states(hub)}")
        assert_alive(hub, names)
        await asyncio.to_thread(server.start)  # the same port, the same world
        await admin(server.root, "POST", "pause")
        back_at = time.monotonic()
        await recover_and_check(hub, server.root, names, back_at=back_at)
        journal = await admin(server.root, "GET", "journal")
        assert journal["streams_opened"], "the hub never reconnected to the new simulator"
    finally:
        await hub.stop()
        await asyncio.to_thread(server.stop)
