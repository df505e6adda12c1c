"""The monitor over the recorded demo world (tests/helpers/snapshot_world.py), with no network: what the snapshot
tests show, and what the key and layout tests drive."""

from __future__ import annotations

import os
from typing import Any

from tests.helpers import snapshot_world
from tests.helpers.pane_host import StubHub
from tui.app.app import CapwatchApp
from tui.config import load_config
from tui.live.store import Store
from tui.sim.core import SimOptions


class RecordedHub(StubHub):
    """Stands in for the LiveHub: the recorded world, no network, nothing changing; every vendor on. A vendor's
    actions are given as StubHub's are (`RecordedHub(captain=SimpleNamespace(query=fake))`)."""

    def __init__(self, **vendors: Any) -> None:
        super().__init__(store=snapshot_world.load(Store()), **vendors)

    def is_on(self, name: str) -> bool:
        return True

    async def run(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def recorded_app(hub: RecordedHub | None = None) -> CapwatchApp:
    env = SimOptions(port=8765).client_env()
    args = type("Args", (), {"config": os.devnull, "read_only": None, "transport": None, "webhook_host": None,
                             "webhook_port": None, "profile": "demo"})()
    return CapwatchApp(load_config(args, env=env).config, demo=True, hub=hub or RecordedHub())
