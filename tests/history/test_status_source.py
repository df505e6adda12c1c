"""`capwatch status` exits by one rule in both modes (tui/headless.py `exit_code`): reading the vendors itself, or
following a collector's history on PostgreSQL (`--source`). 1 when a part is missing or a service is down, as the
banner says it; 0 otherwise, a partial outage of a fleet included (reported, not an error: a fleet of hundreds of
streams has one reconnecting most of the time)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.helpers.collector import child_env
from tui.history import History
from tui.history.source import started_event
from tui.live.events import ChannelState
from tui.live.store import Store
from tui.vendors.capx.client import CapxClient
from tui.vendors.capx.live import CapxActivity, CapxCompanies

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def run_status(env: dict[str, str], *args: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--json", *args], env=env, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode != 2, done.stderr
    return done.returncode, json.loads(done.stdout)


class Collector:
    """A collector's recording of a Capx fleet, as `capwatch collect` writes it: its start, its channels' states and
    the parts of its first complete picture, each a row of the history."""

    def __init__(self, url: str, companies: int):
        self.history = History(url)
        self.store = Store()
        self.store.recorder = self.history.append
        self.history.append(started_event(["capx"], host="collector", pid=1), "app")
        client = CapxClient("http://127.0.0.1:9", api_key="capx_sk_test0000")
        CapxCompanies(client, self.store, on_companies=None)
        self.streams = [CapxActivity(client, self.store, f"co_{n:03}").name for n in range(companies)]
        for name in ("capx.companies", *self.streams):
            self.store.set_state(name, ChannelState.LIVE)
        for part in ("capx.companies", "capx.agents", "capx.tasks", "capx.costs"):
            self.store.mark_complete(part)

    async def written(self) -> None:
        await self.history.flush(timeout=30)


async def test_status_exits_by_one_rule_with_and_without_a_source(postgres_url, sim):
    # Without a source: the vendors read here, every part complete: 0. Capx's key refused: its listing failed, and
    # Capx is down: 1.
    live = child_env(sim.options.client_env(), CAPWATCH_HISTORY="off")
    code, snapshot = await asyncio.to_thread(run_status, live, "--wait", "30")
    assert code == 0 and snapshot["outages"] == {}, snapshot["outages"]
    code, snapshot = await asyncio.to_thread(run_status, {**live, "CAPX_API_KEY": "capx_sk_refused0"}, "--wait", "3")
    assert code == 1 and snapshot["outages"]["capx"]["down"] is True, snapshot["outages"]

    # With a source: a collector's fleet of 300, one company's stream failed (its company refused to the key, say):
    # a partial outage, said as the banner says it, and exit 0 (it was 1).
    source = child_env({}, CAPWATCH_HISTORY="off")
    collector = Collector(postgres_url, 300)
    try:
        collector.store.set_state(collector.streams[7], ChannelState.FAILED, "capx: forbidden (403)")
        await collector.written()
        code, snapshot = await asyncio.to_thread(run_status, source, "--source", postgres_url, "--wait", "30")
        assert snapshot["missing"] == []
        capx = snapshot["outages"]["capx"]
        assert capx["down"] is False and [(f["fleet"], f["not_live"], f["of"]) for f in capx["fleets"]] == \
            [("company streams", 1, 300)]
        assert code == 0, snapshot["outages"]
        # The collector's listing failing (the server out of reach, retried on its backoff): Capx is down, 1, as
        # without a source (it was 0: nothing had FAILED, nothing was missing).
        collector.store.set_state(collector.streams[7], ChannelState.LIVE)
        collector.store.set_state("capx.companies", ChannelState.FAILING, "capx: network: ConnectError")
        await collector.written()
        code, snapshot = await asyncio.to_thread(run_status, source, "--source", postgres_url, "--wait", "30")
        assert code == 1 and snapshot["outages"]["capx"]["down"] is True, snapshot["outages"]
    finally:
        await collector.history.close()
