"""Capx through the live layer: one activity stream per company, the Store equal to the simulator's state,
a simulator killed and restarted mid-stream survived with a resync, figures recorded from every reply."""

from __future__ import annotations

import argparse
import asyncio
import os

import httpx

from waiting import eventually
from tui.config import load_config
from tui.live.events import ChannelState
from tui.live.hub import LiveHub
from tui.sim.server import SimThread


def capx_hub(env_source: dict) -> LiveHub:
    env = {k: v for k, v in env_source.items() if k.startswith("CAPX")}
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile=None)
    return LiveHub(load_config(args, env=env).config)


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
        await eventually(lambda: len(hub.capx_channels) == 5 and all(
            hub.store.health[f"capx.{c}"].state is ChannelState.LIVE for c in hub.capx_channels))
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
        await eventually(lambda: len(hub.capx_channels) == 5 and all(
            hub.store.health[f"capx.{c}"].state is ChannelState.LIVE for c in hub.capx_channels))
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
