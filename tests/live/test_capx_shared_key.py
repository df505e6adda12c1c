"""One Capx key, two processes, over real sockets: a `capwatch status` child spends its share of the key's minute, and
a monitor started a moment later on the same key must not take the minute for whole.

Seen before: at 300 companies on Pro (300 requests a minute, 50 in flight) the monitor's first burst went out before
any reply had told it what the status had spent (30 requests): 50 in flight at once, and each reply's count was read
less every one of ours sent so far, in flight included, so the other process's 30 were never seen (9 at most): 21
429s in its first second. Now its first request goes alone (a probe) and each reply is read less ours sent up to it.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.cli.test_headless import client_env
from tests.helpers.hubs import capx_hub
from tests.helpers.waiting import eventually
from tui.live.events import ChannelState
from tui.sim.server import free_port
from tui.vendors.capx.budget import Priority
from tui.vendors.capx.snapshot import status_share

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PRO = {"capx_rate_limit": 300, "capx_concurrency": 50}


def journal(root: str) -> dict:
    return httpx.get(f"{root}/_admin/journal").json()


def capx_requests(root: str) -> int:
    return sum(n for route, n in journal(root)["requests"].items() if route.split(" ", 1)[1].startswith("/capx/"))


async def test_a_monitor_started_right_after_a_status_on_the_same_key_earns_no_429(sim_factory):
    """300 companies on Pro, at the real minute: the status spends its 30, then the monitor lists the companies and
    opens streams until the minute has no room left for them (the streams' reserve: 3 listing pages and 300 streams
    are more than the 270 the status left): not one 429 on the way (before: 21)."""
    sim = sim_factory(capx_companies=300, rate=0.0, **PRO)
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--json", "--wait", "30"],
                          env=client_env(sim, free_port()), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    spent_by_status = capx_requests(sim.root)
    assert spent_by_status == status_share(300) == 30 and journal(sim.root)["statuses"].get("429", 0) == 0
    hub = capx_hub(sim.options.client_env())
    budget = hub.vendor("capx").client.budget
    await hub.start()
    try:
        def live() -> int:
            return sum(h.state is ChannelState.LIVE for n, h in hub.store.health.items() if n.startswith("capx.co_"))

        # The minute as full as the monitor makes it (what the status spent counted), streams still waiting for the
        # next: the moment a monitor that took the minute for whole would have earned its 429s.
        full = budget.minute - budget.reserve(Priority.STREAM)
        await eventually(lambda: budget.waiting_streams() > 0 and budget.used() >= full and budget.in_flight == 0,
                         30.0, lambda: f"used {budget.used()} of {full}, in flight {budget.in_flight}, "
                                       f"{budget.waiting_streams()} streams waiting, {live()} live")
        assert journal(sim.root)["statuses"].get("429", 0) == 0 and budget.throttled == 0  # before: 21
        # The other process's requests are seen, all of them (before: 9 of its 30).
        assert budget.foreign >= spent_by_status, (budget.foreign, spent_by_status)
        assert 250 <= live() < 300  # the minute's room, no more: the rest wait for it
    finally:
        await hub.stop()
