"""A recorded history of the demo holds none of the simulator's keys and webhook secrets: the database file, its
journal, and what `capwatch history` prints from it."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys

from tests.helpers.waiting import eventually
from tests.system.test_secrets import demo_secrets
from tui.history import History, Query
from tui.sim.server import free_port


async def test_a_recorded_demo_holds_no_key_or_secret(sim_factory, tmp_path):
    from tui.config import load_config
    from tui.live.hub import LiveHub
    from tui.vendors import VENDORS

    webhook_port = free_port()
    sim = sim_factory(rate=40.0, webhook_url=f"http://127.0.0.1:{webhook_port}")
    env = {**sim.options.client_env(), "CAPWATCH_WEBHOOK_PORT": str(webhook_port)}
    namespace = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                                   webhook_port=None, profile="demo")
    hub = LiveHub(load_config(namespace, env=env).config, VENDORS)
    path = tmp_path / "history.sqlite3"
    history = History(str(path))
    feed = hub.store.subscribe(max_events=100_000)
    seen: set[str] = set()

    async def record() -> None:  # what the live layer's hook will do: every event the Store applies
        while True:
            await feed.wait()
            batch = feed.take()
            for event in batch.events if batch else ():
                history.append(event)
                seen.add(event.service)
                if event.type in ("extraction.completed", "review.completed"):
                    seen.add("casmo webhook")

    recording = asyncio.create_task(record())
    await hub.start()
    try:
        await eventually(lambda: {"capout", "casmo", "capx", "captain", "capwatch", "casmo webhook"} <= seen
                         and history.status()["appended"] >= 50, timeout=60,
                         message=lambda: f"recorded only {sorted(seen)}, {history.status()['appended']} events")
        await history.flush(timeout=30)
        recorded = await history.query(Query())
        assert len(recorded) >= 50
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("history.sqlite3"))
    finally:
        recording.cancel()
        await hub.stop()
        await history.close()
    secrets = demo_secrets()
    assert len(secrets) == 6
    for secret in secrets:
        assert secret.encode() not in raw, f"{secret!r} is in the history file"
    printed = subprocess.run([sys.executable, "-m", "tui", "history", "--json", "--history", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and printed.stdout.count("\n") >= 50, printed.stderr
    for secret in secrets:
        assert secret not in printed.stdout
