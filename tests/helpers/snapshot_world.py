"""A recorded demo world for the snapshot tests: every tab shows real data, and the same data every run.

The world is recorded once from the simulator through the real live layer (channels, pollers, webhooks), and
every moment in it is shifted so that "now" is `FROZEN_NOW`; the snapshot tests freeze `tui.wall_clock` there,
so ages, sparklines, ETAs and the header clock come out the same on every machine. Re-record with

    python tests/helpers/snapshot_world.py    # writes tests/helpers/snapshot_world.json

and then refresh the snapshots with `pytest tests/app/test_snapshots.py --snapshot-update`, looking at each one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORLD = HERE / "snapshot_world.json"
FROZEN_NOW = 1795426200.0  # 2026-11-23T09:30:00Z

sys.path.insert(0, str(HERE.parents[1]))  # the repository, when run as a script

from tui.live.events import ChannelHealth, ChannelState, Event, iso_utc, parse_timestamp  # noqa: E402
from tui.live.store import Store  # noqa: E402

ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
EPOCH_RANGE = (1.5e9, 2.5e9)  # numbers here are moments (2017..2049), not counts or money


def shift(value: Any, delta: float) -> Any:
    """`value` with every moment in it (ISO strings, epoch numbers) moved by `delta` seconds."""
    if isinstance(value, dict):
        return {key: shift(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [shift(item, delta) for item in value]
    if isinstance(value, str) and ISO_MOMENT.match(value):
        moment = parse_timestamp(value)
        return value if moment is None else iso_utc(moment + delta)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and EPOCH_RANGE[0] < value < EPOCH_RANGE[1]:
        return round(value + delta, 3)
    return value


# ------------------------------------------------------------------------------------------------ record


def dump(store: Store, now: float, timeline_keep: int) -> dict[str, Any]:
    delta = FROZEN_NOW - now
    events = list(store.timeline)[-timeline_keep:]
    world = {
        "entities": store.entities,
        "figures": store.figures,
        "health": {name: {"service": h.service, "state": h.state.value, "last_event_at": h.last_event_at,
                          "events": h.events, "reconnects": h.reconnects, "last_error": h.last_error,
                          "since": h.since}
                   for name, h in store.health.items()},
        "counts": [[service, event_type, count] for service, by_type in store.counts.items()
                   for event_type, count in by_type.items()],
        "timeline": [{"time": e.time, "received": e.received, "service": e.service, "type": e.type, "id": e.id,
                      "data": e.data, "kind": e.kind, "patch": e.patch} for e in events],
    }
    return shift(json.loads(json.dumps(world, default=str)), delta)


async def record(seconds: float, seed: int) -> dict[str, Any]:
    from tui.config import load_config
    from tui.live.hub import LiveHub
    from tui.sim.core import SimOptions
    from tui.sim.server import SimThread, free_port
    from tui.vendors import VENDORS

    webhook_port = free_port()
    options = SimOptions(port=0, seed=seed, rate=40.0, webhook_url=f"http://127.0.0.1:{webhook_port}")
    with SimThread(options) as sim:
        env = {**sim.options.client_env(), "CAPWATCH_WEBHOOK_PORT": str(webhook_port)}
        namespace = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                                       webhook_port=None, profile="demo")
        hub = LiveHub(load_config(namespace, env=env).config, VENDORS)
        runner = asyncio.create_task(hub.run())
        # A recording of the world as it lives, not a wait for a condition; an indexing job is started
        # part-way so the Captain tab has one running, with progress and an ETA.
        await asyncio.sleep(seconds * 0.9)
        captain = hub.vendor("captain")
        await captain.create_database("contracts_2026")
        await captain.index("s3", "contracts_2026", "acme-contracts", aws_access_key_id="AKIASNAPSHOTWORLD01",
                            aws_secret_access_key="not-a-real-secret-0000", bucket_region="us-east-1")
        await asyncio.sleep(seconds * 0.1)
        world = dump(hub.store, time.time(), timeline_keep=400)
        await hub.stop()
        runner.cancel()
    return world


# ------------------------------------------------------------------------------------------------ load


def load(store: Store, path: Path = WORLD) -> Store:
    """Fill `store` with the recorded world, as the live layer left it."""
    world = json.loads(path.read_text())
    store.entities.update(world["entities"])
    store.figures.update(world["figures"])
    for name, fields in world["health"].items():
        store.health[name] = ChannelHealth(name=name, service=fields["service"], state=ChannelState(fields["state"]),
                                           last_event_at=fields["last_event_at"], events=fields["events"],
                                           reconnects=fields["reconnects"], last_error=fields["last_error"],
                                           since=fields["since"])
    for service, event_type, count in world["counts"]:
        store.counts.setdefault(service, {})[event_type] = count
    store.timeline.extend(Event(**fields) for fields in world["timeline"])
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description="Record the snapshot tests' world from the simulator.")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    world = asyncio.run(record(args.seconds, args.seed))
    WORLD.write_text(json.dumps(world, indent=1, sort_keys=True) + "\n")
    sizes = {kind: len(rows) for kind, rows in world["entities"].items()}
    print(f"{WORLD.relative_to(HERE.parents[1])}: {sizes}, {len(world['timeline'])} events")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
