"""A recorded history of the demo holds none of the simulator's keys and webhook secrets: the database file, its
journal, and what `capwatch history` prints from it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from tests.helpers.waiting import eventually
from tests.system.test_secrets import demo_secrets
from tui.history import History, Query
from tui.sim.server import free_port

ACTION_KEY_ID, ACTION_SECRET = "AKIAHISTORYTEST0001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYhistorytest"


async def test_a_recorded_demo_holds_no_key_or_secret(sim_factory, tmp_path):
    from tui.config import load_config
    from tui.live.hub import LiveHub
    from tui.vendors import VENDORS

    webhook_port = free_port()
    sim = sim_factory(rate=40.0, webhook_url=f"http://127.0.0.1:{webhook_port}")
    env = {**sim.options.client_env(), "CAPWATCH_WEBHOOK_PORT": str(webhook_port)}
    namespace = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                                   webhook_port=None, profile="demo")
    path = tmp_path / "history.sqlite3"
    history = History(str(path))
    seen: set[str] = set()

    def record(event, origin: str) -> None:  # the live layer's hook, as the monitor wires it
        history.append(event, origin)
        seen.add(event.service)
        if origin == "webhook" and event.service == "casmo":
            seen.add("casmo webhook")

    hub = LiveHub(load_config(namespace, env=env).config, VENDORS, recorder=record)
    await hub.start()
    try:
        await eventually(lambda: {"capout", "casmo", "capx", "captain", "capwatch", "casmo webhook"} <= seen
                         and history.status()["appended"] >= 50 and hub.store.rows("databases"), timeout=60,
                         message=lambda: f"recorded only {sorted(seen)}, {history.status()['appended']} events")
        # an action given credentials of its own: the action is recorded, never what it was given to sign in with
        database = next(iter(hub.store.rows("databases")))
        try:
            await hub.vendor("captain").index("s3", database, "bucket", aws_access_key_id=ACTION_KEY_ID,
                                              aws_secret_access_key=ACTION_SECRET)
        except Exception:  # the outcome does not matter here: failed or not, it is recorded
            pass
        await history.flush(timeout=30)
        recorded = await history.query(Query())
        assert len(recorded) >= 50
        assert any(r.event.type == "action.index" for r in recorded)
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("history.sqlite3"))
    finally:
        await hub.stop()
        await history.close()
    secrets = demo_secrets()
    assert len(secrets) == 6
    secrets += [ACTION_KEY_ID, ACTION_SECRET]
    for secret in secrets:
        assert secret.encode() not in raw, f"{secret!r} is in the history file"
    printed = subprocess.run([sys.executable, "-m", "tui", "history", "--json", "--history", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and printed.stdout.count("\n") >= 50, printed.stderr
    for secret in secrets:
        assert secret not in printed.stdout
