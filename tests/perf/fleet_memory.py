"""Where the memory of an open Capx stream goes: a LiveHub with Capx only (with `--app`, the monitor headless around
it at 120x40), against `capwatch sim --companies 2N --plan enterprise` in a child process. It watches the first N
companies until every stream is live with its first snapshot, takes a tracemalloc snapshot, then watches all 2N
the same way and takes another: the difference, divided by N, is what one more stream costs (its channel,
connection, reader, resync and rows; with `--app`, its rows on the screens too). It prints the process's RSS growth
per stream between the two points as well (`--rss`: without tracing, whose own cost is large).

    python tests/perf/fleet_memory.py [--companies 300] [--top 25] [--rss] [--rate R] [--app]

`--rate 0` (a still world) leaves out what grows with time rather than with streams: the rows the world's events
add while the second half opens.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_kb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 1000


async def settled(hub, companies: set[str], timeout: float = 900.0) -> None:
    integration = hub.vendor("capx")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        channels = integration.channels
        live = sum(1 for c in companies if (h := hub.store.health.get(f"capx.{c}")) is not None
                   and h.state.value == "live")
        snap = sum(1 for c in companies if c in channels and channels[c].snapshot_at)
        if live == len(companies) and snap == len(companies):
            await asyncio.sleep(1.0)  # the last resyncs' replies freed
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"not settled: {live} live, {snap} snapshots of {len(companies)}")


async def main(companies: int, top: int, trace: bool, rate: float, app: bool) -> None:
    from tests.helpers.hubs import capx_hub
    from tui.app.launch import demo_simulator
    from tui.sim.server import free_port

    extra = ("--companies", str(2 * companies), "--plan", "enterprise")
    with demo_simulator(seed=17, rate=rate, token_ttl=None, faults="", webhook_port=free_port(),
                        extra=extra) as env:
        root = env["CAPX_BASE_URL"].rsplit("/", 2)[0]
        everyone = sorted(httpx.get(f"{root}/_admin/state", timeout=30).json()["capx"]["companies"])
        first = everyone[:companies]
        hub = capx_hub(env)
        # The timeline and the webhook de-duplication's memory are bounded and fill with time, not with streams:
        # kept small here, so that the difference is what the streams hold.
        hub.store.timeline = collections.deque(maxlen=10)
        integration = hub.vendor("capx")
        integration.settings.companies = list(first)
        integration.seen.size = 10
        if trace:
            tracemalloc.start(8)
        if app:  # the monitor starts the hub, and stops it
            from tui.app.app import CapwatchApp

            async with CapwatchApp(hub.config, hub=hub).run_test(size=(120, 40)):
                await measure(hub, first, everyone, top, trace)
        else:
            await hub.start()
            try:
                await measure(hub, first, everyone, top, trace)
            finally:
                await hub.stop()


async def measure(hub, first: list[str], everyone: list[str], top: int, trace: bool) -> None:
    integration = hub.vendor("capx")
    companies = len(everyone) - len(first)
    await settled(hub, set(first))
    gc.collect()
    before, rss_before = (tracemalloc.take_snapshot() if trace else None), rss_kb()
    integration.settings.companies = []
    await integration.watch(everyone)
    await settled(hub, set(everyone))
    gc.collect()
    after, rss_after = (tracemalloc.take_snapshot() if trace else None), rss_kb()
    print(f"{companies} more streams: RSS {(rss_after - rss_before) / companies:.1f} KB a stream"
          f"{' (tracing)' if trace else ''}")
    if not trace:
        return
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = after.filter_traces(keep).compare_to(before.filter_traces(keep), "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"traced: {total / companies / 1000:.1f} KB a stream; the largest:")
    for stat in stats[:top]:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback if "/asyncio/" not in f.filename][-5:]
        print(f"  {stat.size_diff / companies:8.0f} B {stat.count_diff / companies:5.1f} blocks  "
              f"{' <- '.join(reversed(frames))}")
    by_line = after.filter_traces(keep).compare_to(before.filter_traces(keep), "lineno")
    print("by line:")
    for stat in by_line[:top]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / companies:8.0f} B {stat.count_diff / companies:5.1f} blocks  "
              f"{frame.filename.split('site-packages/')[-1].replace(str(ROOT) + '/', '')}:{frame.lineno}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=float, default=None, help="the world's events a second (default: one a "
                        "second per company)")
    parser.add_argument("--rss", action="store_true", help="no tracing: RSS alone")
    parser.add_argument("--app", action="store_true", help="the monitor headless around the hub (120x40)")
    args = parser.parse_args()
    asyncio.run(main(args.companies, args.top, not args.rss,
                     2.0 * args.companies if args.rate is None else args.rate, args.app))
