"""`capwatch status` and `tail` for scripts (issue 15, point 6): a complete snapshot or a non-zero exit that says what
is missing; exit codes 0/1/2; no need of the webhook port; the Capx requests it spent; `tail --json` in time order."""

from __future__ import annotations

import asyncio
import json
import select
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.cli.test_headless import client_env
from tui.live.webhooks import WebhookReceiver
from tui.sim.server import free_port

pytestmark = pytest.mark.timeout(120)

KINDS = ("documents", "jobs", "companies", "agents", "tasks", "costs", "runs", "databases", "files")


def run_status(env: dict, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", "status", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_status_prints_a_complete_snapshot(sim):
    env = client_env(sim, free_port())
    done = run_status(env, "--json", "--wait", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    snapshot = json.loads(done.stdout)
    state = httpx.get(f"{sim.root}/_admin/state").json()
    entities = snapshot["entities"]
    assert set(KINDS) <= set(entities), f"kinds missing from the snapshot: {set(KINDS) - set(entities)}"
    for kind in KINDS:
        assert {"total", "by_status"} <= set(entities[kind])
    assert entities["documents"]["total"] == len(state["capout"]["documents"])
    for kind in ("companies", "agents", "tasks", "costs"):
        assert entities[kind]["total"] == len(state["capx"][kind]), kind
    assert entities["databases"]["total"] == len(state["captain"]["databases"])
    assert entities["files"]["total"] == sum(len(files) for files in state["captain"]["files"].values())
    assert entities["jobs"]["total"] == 0 and entities["runs"]["total"] == 0
    assert snapshot["missing"] == []
    assert {"figures", "health"} <= set(snapshot)
    # As few Capx requests as the snapshot needs (the list, then agents, tasks and costs per company), and it says so.
    journal = httpx.get(f"{sim.root}/_admin/journal").json()
    spent = sum(n for route, n in journal["requests"].items() if route.split(" ", 1)[1].startswith("/capx/"))
    assert snapshot["requests"]["capx"] == spent
    assert spent <= 1 + 3 * len(state["capx"]["companies"]), journal["requests"]


def test_status_says_what_is_missing_and_exits_1():
    from tui.sim.core import SimOptions

    env = client_env(type("S", (), {"options": SimOptions(port=free_port())})(), free_port())  # nothing listens
    done = run_status(env, "--json", "--wait", "3")
    assert done.returncode == 1, done.stdout + done.stderr
    snapshot = json.loads(done.stdout)
    assert any(part.startswith("capx") for part in snapshot["missing"]), snapshot["missing"]
    # Long enough for the first polls to fail (their GETs retry a connection refused for ~2.5 s): then the services
    # not live are said as the monitor's banner says them, down since when.
    text = run_status(env, "--wait", "6")
    assert text.returncode == 1 and "MISSING" in text.stdout and "capx" in text.stdout
    assert "NOT LIVE" in text.stdout and "capx down since " in text.stdout, text.stdout


class FollowerHub:
    """`status --source`'s hub as far as `status` uses it: the collector's picture in a Store (here: its recorded
    channel events replayed), no vendor connection."""

    def __init__(self, store):
        from tui.config import Config

        self.store, self.config = store, Config()

    def integrations(self) -> list:
        return []

    async def start(self, *, snapshot: bool = False) -> None:
        return None

    async def stop(self) -> None:
        return None

    def missing(self) -> list:
        return []

    def kinds(self) -> list:
        return []

    def figure_lines(self, figures) -> list:
        return []

    def webhook_secrets(self) -> dict:
        return {}


def test_status_says_a_few_company_streams_not_live_are_partial_not_capx_down():
    """A follower of a collector watching 20 Capx companies, 3 of whose streams reconnect: `status` says so with
    counts, as the monitor's banner does, and not "capx down"."""
    import argparse
    import io

    from tui.headless import status
    from tui.live.events import ChannelState
    from tui.live.store import Store
    from tui.vendors.capx.client import CapxClient
    from tui.vendors.capx.live import CapxActivity, CapxCompanies

    recorded, collector = [], Store()
    collector.recorder = lambda event, origin: recorded.append(event)
    client = CapxClient("http://127.0.0.1:9", api_key="cx_test_0000")
    CapxCompanies(client, collector, on_companies=None)
    streams = [CapxActivity(client, collector, f"co_{n:02}").name for n in range(20)]
    for name in ("capx.companies", *streams):
        collector.set_state(name, ChannelState.LIVE)
    for name in streams[:3]:
        collector.set_state(name, ChannelState.RECONNECTING, "activity stream ended")
    follower = Store()
    for event in recorded:
        follower.restore_health(event)
    since = time.strftime("%H:%M:%S", time.localtime(min(follower.health[name].since for name in streams[:3])))
    for as_json in (True, False):
        out = io.StringIO()
        code = asyncio.run(status(FollowerHub(follower), argparse.Namespace(wait=0.0, json=as_json), out))
        assert code == 0, out.getvalue()
        if as_json:
            capx = json.loads(out.getvalue())["outages"]["capx"]
            assert capx["down"] is False and [(f["fleet"], f["not_live"], f["of"]) for f in capx["fleets"]] == \
                [("company streams", 3, 20)]
        else:
            assert f"NOT LIVE\n  capx: 3 of 20 company streams not live since {since}\n" in out.getvalue()
            assert "capx down" not in out.getvalue()
    # The listing lost as well: Capx is down.
    follower.set_state("capx.companies", ChannelState.FAILING, "capx: network: ConnectError")
    out = io.StringIO()
    code = asyncio.run(status(FollowerHub(follower), argparse.Namespace(wait=0.0, json=True), out))
    assert json.loads(out.getvalue())["outages"]["capx"]["down"] is True and code == 1


def test_status_exits_2_on_a_usage_or_config_error(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("[capx\n")
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--config", str(bad)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--wait", "soon"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2


def test_status_beside_a_monitor_that_holds_the_webhook_port(sim):
    port = free_port()
    env = client_env(sim, port)

    async def beside_a_receiver() -> subprocess.CompletedProcess:
        receiver = WebhookReceiver(host="127.0.0.1", port=port, secrets={"casmo": "x", "capx": "y"},
                                   on_delivery=lambda *a: None)
        await receiver.start()
        try:
            return await asyncio.to_thread(run_status, env, "--wait", "30")
        finally:
            await receiver.stop()

    done = asyncio.run(beside_a_receiver())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Address already in use" not in done.stdout + done.stderr
    assert f"{port}" in done.stdout and "in use" in done.stdout  # reported, not a failure


def test_tail_json_lines_are_in_time_order(sim_factory):
    sim = sim_factory(rate=20.0)
    env = client_env(sim, free_port())
    env.pop("CASMO_WEBHOOK_SECRET", None)
    env.pop("CAPX_WEBHOOK_SECRET", None)
    child = subprocess.Popen([sys.executable, "-m", "tui", "tail", "--json"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    times: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while len(times) < 60 and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 0.5)
            if ready:
                line = child.stdout.readline()
                if not line:
                    break
                times.append(json.loads(line)["time"])
    finally:
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=15)
    assert len(times) >= 30, f"only {len(times)} lines"
    first = times[:30]  # the start: channel events, backfills and resyncs, then the first live events
    inversions = [(a, b) for a, b in zip(first, first[1:]) if b < a]
    assert not inversions, f"out of time order: {inversions[:3]}"
