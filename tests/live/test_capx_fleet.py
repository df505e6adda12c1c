"""Capx fleets over real sockets: more streams than a connection pool holds, all live; a Starter key's minute
spent without 429s once the first window has passed, with every company's tasks loaded."""

from __future__ import annotations

import argparse
import asyncio
import os

import httpx
import pytest

from tests.helpers.waiting import eventually
from tui.config import load_config
from tui.live.events import ChannelState
from tui.live.hub import LiveHub

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def capx_hub(client_env: dict, **extra_env) -> LiveHub:
    env = {k: v for k, v in client_env.items() if k in ("CAPX_BASE_URL", "CAPX_API_KEY")}
    env.update(extra_env)
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile=None)
    return LiveHub(load_config(args, env=env).config)


def capx_streams(hub: LiveHub) -> dict:
    return {n: h for n, h in hub.store.health.items() if n.startswith("capx.co_")}


def shorten_window(sim, hub: LiveHub, seconds: float) -> None:
    """The simulator's rolling minute, and the client's idea of it, shortened alike (the perf section's Starter
    scenario runs at the real minute)."""
    sim.simulator.vendor("capx").window = seconds
    budget = getattr(hub.capx, "budget", None)
    if budget is not None:
        budget.window, budget.margin = seconds, 0.3


async def test_more_streams_than_a_pool_holds_are_all_live(sim_factory):
    running = sim_factory(capx_companies=150, capx_rate_limit=6000, rate=150.0)
    hub = capx_hub(running.options.client_env())
    await hub.start()
    try:
        def live() -> int:
            return sum(h.state is ChannelState.LIVE and h.events > 0 for h in capx_streams(hub).values())

        await eventually(lambda: live() == 150, 30.0,
                         lambda: f"{live()} of 150 streams live with events; errors: "
                                 f"{sorted({h.last_error for h in capx_streams(hub).values() if h.last_error})[:3]}")
        assert not any("PoolTimeout" in (h.last_error or "") for h in capx_streams(hub).values())
        # An action stays fast however many streams are open.
        company = next(iter(hub.capx_channels))
        await asyncio.wait_for(hub.capx_set_paused(company, True), 2.0)
        assert hub.store.get("companies", company)["status"] == "paused"
    finally:
        await hub.stop()


async def test_forty_companies_on_starter_spend_the_minute_without_429s(sim_factory):
    running = sim_factory(capx_companies=40, capx_rate_limit=60, capx_concurrency=10, rate=20.0)
    window = 8.0
    hub = capx_hub(running.options.client_env())
    shorten_window(running, hub, window)
    root = running.root
    await hub.start()
    try:
        state = httpx.get(f"{root}/_admin/state").json()["capx"]
        companies = set(state["companies"])

        def loaded() -> set[str]:
            return {c for c in companies if {k for k, t in hub.store.rows("tasks").items() if t.get("company_id") == c}
                    >= {k for k, t in state["tasks"].items() if t["company_id"] == c}}

        await eventually(lambda: len(loaded()) == 40, 90.0,
                         lambda: f"{len(loaded())} of 40 companies have their tasks")
        await eventually(lambda: all(h.state is ChannelState.LIVE for h in capx_streams(hub).values())
                         and len(capx_streams(hub)) == 40, 30.0)
        statuses = httpx.get(f"{root}/_admin/journal").json()["statuses"]
        first_window = statuses.get("429", 0)
        assert first_window <= 5, f"{first_window} 429s"
        # Two windows more of steady state (a duration measured, not a condition awaited): no 429 at all.
        await asyncio.sleep(window * 2)
        assert httpx.get(f"{root}/_admin/journal").json()["statuses"].get("429", 0) == first_window
    finally:
        await hub.stop()
