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
    text = run_status(env, "--wait", "2")
    assert text.returncode == 1 and "MISSING" in text.stdout and "capx" in text.stdout


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
