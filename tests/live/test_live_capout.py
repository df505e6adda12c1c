"""CapOut through the live layer, on both transports: the Store follows the simulator, a token expiring
mid-stream is re-minted with no update lost, a dropped stream comes back without a reconnect storm, and an
upload from the hub is followed at once."""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx
import pytest

from tests.helpers.waiting import eventually
from tui.config import load_config
from tui.live.events import ChannelState
from tui.live.hub import LiveHub
from tui.vendors import VENDORS


def capout_hub(sim, transport: str) -> LiveHub:
    env = {k: v for k, v in sim.options.client_env().items() if k.startswith("CAPOUT")}
    env["CAPWATCH_CAPOUT_TRANSPORT"] = transport
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile=None)
    return LiveHub(load_config(args, env=env).config, VENDORS)


async def step(sim, count: int) -> None:
    """Make CapOut changes happen, without blocking the loop the hub runs on."""
    async with httpx.AsyncClient() as http:
        await http.post(f"{sim.root}/_admin/step?count={count}&vendor=capout")


def sim_documents(sim) -> dict:
    return httpx.get(f"{sim.root}/_admin/state").json()["capout"]["documents"]


def matches(store, documents: dict, ids) -> bool:
    rows = store.rows("documents")
    return all(doc_id in rows and rows[doc_id].get("status") == documents[doc_id]["status"]
               and rows[doc_id].get("updated_at") == documents[doc_id]["updated_at"] for doc_id in ids)


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_token_expiry_mid_stream_loses_no_update(sim_factory, transport):
    running = sim_factory(token_ttl=1.5)
    hub = capout_hub(running, transport)
    await hub.start()
    try:
        channel = hub.store.health[f"capout.{transport}"]
        await eventually(lambda: channel.state is ChannelState.LIVE)
        # Changes keep coming across several token lifetimes.
        for _ in range(14):
            await step(running, 4)
            await asyncio.sleep(0.4)
        journal = httpx.get(f"{running.root}/_admin/journal").json()
        assert journal["tokens_minted"] >= 3, "the token should have expired and been re-minted"
        documents = sim_documents(running)
        recent = list(documents)[-40:]
        await eventually(lambda: matches(hub.store, documents, recent), message="the Store missed an update")
        # Expiry is expected: reconnecting after it is immediate and never a storm.
        assert channel.reconnects <= journal["tokens_minted"]
    finally:
        await hub.stop()


async def test_dropped_streams_reconnect_with_backoff_and_resync(sim_factory):
    running = sim_factory(faults="drop=1,close=1012")
    hub = capout_hub(running, "ws")
    await hub.start()
    try:
        channel = hub.store.health["capout.ws"]
        await eventually(lambda: channel.reconnects >= 2, timeout=20)
        started = time.monotonic()
        await asyncio.to_thread(httpx.post, f"{running.root}/_admin/faults", json={"drop": 0})
        await eventually(lambda: channel.state is ChannelState.LIVE, timeout=35)
        await step(running, 10)
        documents = sim_documents(running)
        await eventually(lambda: matches(hub.store, documents, list(documents)[-10:]))
        # Never faster than the minimum delay: reconnects fit the elapsed time at one per 0.25 s at most.
        assert channel.reconnects <= (time.monotonic() - started + 3) / 0.25
        assert "1012" in " ".join(e.data.get("error") or "" for e in hub.store.timeline if e.service == "capwatch")
    finally:
        await hub.stop()


async def test_upload_from_the_hub_is_followed_live(sim):
    hub = capout_hub(sim, "ws")
    await hub.start()
    try:
        await eventually(lambda: hub.store.health["capout.ws"].state is ChannelState.LIVE)
        reply = await hub.vendor("capout").upload(xn_address="ops@example.xn", url="https://example.com/late.pdf")
        assert hub.store.get("documents", reply.document_id)["status"] == "processing"
        # Advance the world until that document finishes; the Store shows the terminal state.
        for _ in range(20):
            await step(sim, 5)
            if sim_documents(sim)[reply.document_id]["status"] != "processing":
                break
        final = sim_documents(sim)[reply.document_id]
        await eventually(lambda: hub.store.get("documents", reply.document_id).get("status") == final["status"])
        await eventually(lambda: "capout.credits" in hub.store.figures)
        assert hub.store.figures["capout.credits"]["credits_remaining"] is not None
    finally:
        await hub.stop()


async def test_sse_stream_whose_last_event_id_is_not_ascii_reconnects(sim):
    """As for Capx: a non-ASCII id (WPT format-field-id) is resumed, UTF-8 encoded, not refused by httpx."""
    hub = capout_hub(sim, "sse")
    await hub.start()
    try:
        channel = hub.vendor("capout").realtime
        await eventually(lambda: hub.store.health[channel.name].state is ChannelState.LIVE)
        channel.sse.last_event_id = "reprise-…"
        reconnects = hub.store.health[channel.name].reconnects
        async with httpx.AsyncClient() as http:
            await http.post(f"{sim.root}/_admin/faults", json={"drop": 0.5})
            await eventually(lambda: hub.store.health[channel.name].reconnects > reconnects)
            await http.post(f"{sim.root}/_admin/faults", json={"drop": 0})
        await eventually(lambda: hub.store.health[channel.name].state is ChannelState.LIVE, timeout=10,
                         message=lambda: str(hub.store.health[channel.name].last_error))
        assert "UnicodeEncodeError" not in " ".join(str(e.data.get("error")) for e in hub.store.timeline)
    finally:
        await hub.stop()
