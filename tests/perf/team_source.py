"""Team mode's event-to-screen latency through PostgreSQL: a collector's history writer (a child process, as
`capwatch collect` is) appends 2,000 events/s; a follower (`SourceHub`, as `capwatch --source` runs it) applies
them to its Store. The figure is, per event, the time from the collector's receipt (`Event.received`, set at the
append) to the row applied in the follower's Store; target: p99 <= 0.5 s.

    flock /tmp/capwatch-perf.lock .venv/bin/python -m tests.perf.team_source [--rate 2000] [--seconds 30]

A PostgreSQL server is started for the run (tests/helpers/postgres.py) and removed after. Both processes share
the machine's cores with the server, as a collector, a monitor and the database would on one small host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time

TARGET = 0.5


async def write(url: str, rate: float, seconds: float) -> None:
    """The collector's side: `rate` events a second, appended in the bursts a live layer sees (every 10 ms)."""
    from tests.perf.history_bench import make_event
    from tui.history import History

    history = History(url)
    rng = random.Random(5)
    number = 0
    total = int(rate * seconds)
    start = time.monotonic()
    tick = 0.01
    while number < total:
        due = min(total, int((time.monotonic() - start) * rate))
        while number < due:
            event = make_event(rng, time.time(), number)
            event.received = time.time()
            history.append(event, "stream")
            number += 1
        await asyncio.sleep(tick)
    await history.close()
    print(f"writer: {number} events appended, {history.status()['written']} written", file=sys.stderr)


async def follow(url: str, rate: float, seconds: float) -> dict[str, float]:
    import argparse as _argparse

    from tui.config import load_config
    from tui.history.source import SourceHub
    from tui.vendors import VENDORS

    args = _argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                               webhook_port=None, profile=None)
    config = load_config(args, env={"CAPWATCH_SOURCE": url, "CAPWATCH_HISTORY": "off"}).config
    from tests.perf.history_bench import make_event
    from tui.history import History

    schema = History(url)  # the tables, as the collector's first batch makes them, before the follower looks
    schema.append(make_event(random.Random(1), time.time(), 0))
    await schema.flush(timeout=60)
    await schema.close()
    hub = SourceHub(config, VENDORS, from_now=True)
    latencies: list[float] = []
    hub.on_record = lambda record: latencies.append(time.time() - record.event.received)
    await hub.start()
    deadline = time.monotonic() + 60
    while hub.store.health["source"].state.value != "live":
        if time.monotonic() > deadline:
            raise SystemExit(f"the follower did not go live: {hub.store.health['source'].last_error}")
        await asyncio.sleep(0.05)
    writer = subprocess.Popen([sys.executable, "-m", "tests.perf.team_source", "--writer", url, "--rate", str(rate),
                               "--seconds", str(seconds)])
    expected = int(rate * seconds)
    deadline = time.monotonic() + seconds + 60
    while len(latencies) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    writer.wait(60)
    await hub.stop()
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")  # noqa: E731
    return {"events": len(latencies), "expected": expected, "p50": pick(0.50), "p99": pick(0.99),
            "max": ordered[-1] if ordered else float("nan"),
            "mean": statistics.fmean(ordered) if ordered else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--writer", metavar="URL", help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.writer:
        asyncio.run(write(args.writer, args.rate, args.seconds))
        return 0
    from tests.helpers.postgres import PostgresServer

    with PostgresServer() as server:
        url = server.url()
        figures = asyncio.run(follow(url, args.rate, args.seconds))
    verdict = "ok" if figures["p99"] <= TARGET and figures["events"] == figures["expected"] else "MISSED"
    print(f"team source at {args.rate:.0f} events/s for {args.seconds:.0f} s: {figures['events']} of "
          f"{figures['expected']} applied; event-to-Store p50 {figures['p50'] * 1000:.0f} ms, "
          f"p99 {figures['p99'] * 1000:.0f} ms, max {figures['max'] * 1000:.0f} ms "
          f"(target p99 <= {TARGET * 1000:.0f} ms): {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
