"""Capx through the live layer: one activity stream per company, the Store equal to the simulator's state,
a simulator killed and restarted mid-stream survived with a resync, figures recorded from every reply, and
signed webhooks racing the streams in no set order."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
from collections import Counter

import httpx

from tests.helpers.waiting import eventually
from tui.config import load_config
from tui.live.events import ChannelState
from tui.live.hub import LiveHub
from tui.sim.server import SimThread, free_port
from tui.vendors import VENDORS
from tui.vendors.capx.live import activity_event


def capx_hub(env_source: dict, webhook_port: int = 0) -> LiveHub:
    env = {k: v for k, v in env_source.items() if k.startswith("CAPX")}
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=webhook_port, profile=None)
    return LiveHub(load_config(args, env=env).config, VENDORS)


async def post_signed(url: str, event: str, timestamp: str, data: dict, secret: str) -> int:
    body = json.dumps({"event": event, "timestamp": timestamp, "data": data}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{url}/webhooks/capx", content=body, headers={"X-Webhook-Signature": signature})
    return reply.status_code


async def admin(sim, method: str, path: str):
    async with httpx.AsyncClient() as http:
        return (await http.request(method, f"{sim.root}/_admin/{path}")).json()


def same_as(store, state: dict) -> bool:
    """The Store's companies, agents (status) and tasks (status) equal the simulator's."""
    tasks = {k: v["status"] for k, v in store.rows("tasks").items()}
    agents = {k: v.get("status") for k, v in store.rows("agents").items()}
    return (set(store.rows("companies")) == set(state["companies"])
            and tasks == {k: v["status"] for k, v in state["tasks"].items()}
            and agents == {k: v["status"] for k, v in state["agents"].items()})


async def test_every_company_streams_and_the_store_matches_after_pause(sim):
    hub = capx_hub(sim.options.client_env())
    await hub.start()
    try:
        await eventually(lambda: len(hub.vendor("capx").channels) == 5 and all(
            hub.store.health[f"capx.{c}"].state is ChannelState.LIVE for c in hub.vendor("capx").channels))
        await admin(sim, "POST", "step?count=300&vendor=capx")
        state = await admin(sim, "GET", "state")
        await eventually(lambda: same_as(hub.store, state["capx"]), message="the Store differs from the simulator")
        assert hub.store.figures["capx.rate_limit"]["limit"] == 60
        assert any(e.type == "task.created" for e in hub.store.timeline)
    finally:
        await hub.stop()


async def test_simulator_killed_and_restarted_mid_stream(sim_factory):
    first = sim_factory(seed=11)
    port = first.options.port
    env = first.options.client_env()
    hub = capx_hub(env)
    await hub.start()
    try:
        await eventually(lambda: len(hub.vendor("capx").channels) == 5 and all(
            hub.store.health[f"capx.{c}"].state is ChannelState.LIVE for c in hub.vendor("capx").channels))
        await asyncio.to_thread(first.stop)  # the server goes away mid-stream
        await eventually(lambda: any(h.state is ChannelState.RECONNECTING for h in hub.store.health.values()
                                     if h.name.startswith("capx.co_")))
        second = SimThread(first.options.__class__(**{**first.options.__dict__, "port": port}))
        second.simulator.rng.seed(11)  # the same world comes back
        await asyncio.to_thread(second.start)
        try:
            await asyncio.to_thread(httpx.post, f"{second.root}/_admin/step?count=100&vendor=capx")
            state = await admin(second, "GET", "state")
            live = [h for h in hub.store.health.values() if h.name.startswith("capx.co_") and h.name[5:] in state["capx"]["companies"]]
            await eventually(lambda: all(h.state is ChannelState.LIVE for h in live), timeout=40)
            await eventually(lambda: {k: v["status"] for k, v in hub.store.rows("tasks").items()
                                      if v.get("company_id") in state["capx"]["companies"]}
                             == {k: v["status"] for k, v in state["capx"]["tasks"].items()}, timeout=20)
        finally:
            await asyncio.to_thread(second.stop)
    finally:
        await hub.stop()


async def test_a_webhook_older_than_the_entity_does_not_take_it_back(sim):
    """Deliveries in reverse order, as a vendor's parallel senders may make them: the task stays completed,
    the run finished, the company paused; the late events still reach the timeline."""
    env = sim.options.client_env()
    hub = capx_hub(env)
    await hub.start()
    try:
        # The company listings come first: each removes the rows of companies the server does not list (issue 15),
        # co_elsewhere's among them, and a receiver that listens at once lets the deliveries beat them. One listing
        # follows the streams' opening (issue 16): wait for it too, or under load it lands after the deliveries.
        poller = hub.vendor("capx").poller

        def listed_after_the_streams_opened() -> bool:
            streams = [health for name, health in hub.store.health.items() if name.startswith("capx.co_")]
            return (bool(streams) and all(health.state is ChannelState.LIVE for health in streams)
                    and poller.listed_at is not None
                    and poller.listed_at > max(health.attempt_times[-1] for health in streams))

        await eventually(lambda: hub.receiver is not None and hub.store.health["webhooks"].state is ChannelState.LIVE
                         and "capx.companies" in hub.store.complete and listed_after_the_streams_opened())
        url, secret = hub.receiver.url, env["CAPX_WEBHOOK_SECRET"]
        company = {"company_id": "co_elsewhere"}  # a company no stream or later resync touches
        newer, older = "2026-12-06T10:00:02.000Z", "2026-12-06T10:00:01.000Z"
        for event, stamp, data in [
            ("task.completed", newer, {"task_id": "tsk_late", "status": "completed", **company}),
            ("task.approval_required", older, {"task_id": "tsk_late", "status": "awaiting_approval", **company}),
            ("playbook.run_completed", newer, {"run_id": "run_late", "status": "completed", **company}),
            ("playbook.run_started", older, {"run_id": "run_late", "status": "running", **company}),
            ("company.status_changed", newer, {"status": "paused", "name": "Elsewhere", **company}),
            ("company.status_changed", older, {"status": "running", "name": "Elsewhere", **company}),
        ]:
            assert await post_signed(url, event, stamp, data, secret) == 200
        assert hub.store.get("tasks", "tsk_late")["status"] == "completed"
        assert hub.store.get("tasks", "tsk_late")["updated_at"] == newer
        assert hub.store.get("runs", "run_late")["status"] == "completed"
        assert hub.store.get("companies", "co_elsewhere")["status"] == "paused"
        late = [e for e in hub.store.timeline if e.id in ("tsk_late", "run_late", "co_elsewhere")]
        assert len(late) == 6
        # A newer one after them still applies (a decision is a task.completed whose status says which).
        assert await post_signed(url, "task.completed", "2026-12-06T10:00:03.000Z",
                                 {"task_id": "tsk_late", "status": "rejected", **company}, secret) == 200
        assert hub.store.get("tasks", "tsk_late")["status"] == "rejected"
    finally:
        await hub.stop()


async def test_parallel_webhooks_and_streams_leave_the_store_as_the_simulator(sim_factory):
    """The simulator sends every Capx event twice: on the company's stream and as a signed webhook, several
    webhooks at a time. Whichever arrives first is applied, once, and never over a newer state."""
    port = free_port()
    running = sim_factory(seed=5, webhook_url=f"http://127.0.0.1:{port}")
    hub = capx_hub(running.options.client_env(), webhook_port=port)
    await hub.start()
    try:
        await eventually(lambda: len(hub.vendor("capx").channels) == 5 and all(
            hub.store.health[f"capx.{c}"].state is ChannelState.LIVE for c in hub.vendor("capx").channels))
        await admin(running, "POST", "step?count=600&vendor=capx")
        state = await admin(running, "GET", "state")
        await eventually(lambda: same_as(hub.store, state["capx"]), message="the Store differs from the simulator")
        for _ in range(400):  # until the sender's queue is empty (at most 20 s)
            journal = await admin(running, "GET", "journal")
            if journal["webhooks_sent"] == journal["webhooks_queued"] or journal["webhooks_failed"]:
                break
            await asyncio.sleep(0.05)
        assert journal["webhooks_sent"] == journal["webhooks_queued"] and not journal["webhooks_failed"]
        assert journal["webhooks_sent"]["capx"] > 100
        assert hub.receiver.counts["accepted"] + hub.receiver.counts["duplicates"] == journal["webhooks_sent"]["capx"]
        assert hub.receiver.counts["rejected_signature"] == 0
        assert same_as(hub.store, state["capx"])  # the webhooks that came after the streams changed nothing
        # One event, once: by stream or by webhook, whichever came first, each is on the timeline a single time.
        shown = Counter((e.type, e.id, e.data.get("timestamp")) for e in hub.store.timeline if e.service == "capx")
        published = Counter((event.type, event.id, event.data.get("timestamp")) for event in (
            activity_event(e.payload, company_id=e.payload["company_id"])
            for name, topic in list(running.simulator.topics.items()) if name.startswith("capx:")
            for e in list(topic.buffer)))
        doubled = [key for key, count in shown.items() if count > published[key]]
        assert not doubled, f"shown more often than published: {doubled[:3]}"
    finally:
        await hub.stop()


async def test_a_stream_whose_last_event_id_is_not_ascii_reconnects(sim):
    """An SSE id may be any text (WPT format-field-id uses "…"). Before: the Last-Event-ID header was built as a
    str, httpx refused it with UnicodeEncodeError before sending, and every reconnect of that stream failed the
    same way for ever. It now goes out UTF-8 encoded (an id the server no longer knows gets its backfill)."""
    from tui.live.store import Store
    from tui.vendors.capx.client import CapxClient
    from tui.vendors.capx.live import CapxActivity

    env = sim.options.client_env()
    client = CapxClient(env["CAPX_BASE_URL"], api_key=env["CAPX_API_KEY"])
    company = (await admin(sim, "GET", "state"))["capx"]["companies"]
    store = Store()
    channel = CapxActivity(client, store, next(iter(company)))
    channel.sse.last_event_id = "resume-après-…"
    task = asyncio.create_task(channel.run())
    try:
        await eventually(lambda: store.health[channel.name].state is ChannelState.LIVE, timeout=10,
                         message=lambda: f"{store.health[channel.name].state}: {store.health[channel.name].last_error}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
    assert store.health[channel.name].reconnects == 0


async def test_an_empty_message_is_a_counted_bad_message_and_no_resync():
    """WHATWG dispatches `data:` alone as an event with data "" (the reader now does). Both vendors' formats
    want a JSON object in every message, so each channel shows it as a bad message and counts it; it carried
    no update, so nothing is resynced (a server sending `data:` as its keepalive must not cause reconnects)."""
    from tui.live.store import Store
    from tui.vendors.capout.client import CapOutClient
    from tui.vendors.capout.live import CapOutRealtime
    from tui.vendors.capx.client import CapxClient
    from tui.vendors.capx.live import CapxActivity

    store = Store()
    channels = [CapxActivity(CapxClient("http://capx.test", api_key="k"), store, "co1"),
                CapOutRealtime(CapOutClient("http://capout.test", api_key="k"), store, transport="sse")]
    for channel in channels:
        channel._session = asyncio.current_task()  # as during a session
        before = len(store.timeline)
        channel.handle("")
        event = store.timeline[-1]
        assert len(store.timeline) == before + 1 and event.type == "message.invalid" and event.id == channel.name
        assert event.data["error"] == "an empty message"
        assert store.health[channel.name].counters == {"bad_messages": 1} and store.health[channel.name].events == 0
        assert channel._lost_timer is None  # no reconnect to resync is due
        channel.handle("{not json")  # a message that did carry something: counted, and resynced
        assert store.health[channel.name].counters == {"bad_messages": 2} and channel._lost_timer is not None
        channel._lost_timer.cancel()  # (it would end this test's task, the "session")
        channel._session = None
