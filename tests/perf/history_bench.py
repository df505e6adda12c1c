"""The history on 1,000,000 events: how fast it records them, and how fast `capwatch history`'s filtered queries
answer (target: <= 0.5 s each), on SQLite and on PostgreSQL (a server started for the run).

    flock /tmp/capwatch-perf.lock .venv/bin/python -m tests.perf.history_bench [--events 1000000]
        [--backend sqlite|postgresql|both] [--keep DIR]

The events go in through `History.append` (the live layer's path: batches written by the history's thread),
spread over the last 7 days (the default retention), with the simulator's mix of services and types and
payloads of the usual size. Each query is timed as `capwatch history` runs it (`History.scan`: every page until
the last), best and median of 5; the figure is the median. Then one run of the real command, in a subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tui.history import History, Query
from tui.live.events import Event

TARGET = 0.5
TYPES = {
    "capout": ["document.uploaded", "document.processing", "document.completed", "document.failed",
               "workflow.step"],
    "casmo": ["extraction.submitted", "extraction.completed", "review.submitted", "review.completed"],
    "capx": ["agent.heartbeat", "agent.error", "task.created", "task.approval_required", "task.completed",
             "task.rejected", "cost.updated", "cost.threshold_crossed", "run.started", "run.completed"],
    "captain": ["indexing.started", "indexing.progress", "indexing.completed", "indexing.failed", "database.created"],
    "capwatch": ["channel.live", "channel.reconnecting", "channel.error"],
}
WEIGHTS = {"capout": 30, "casmo": 10, "capx": 45, "captain": 14, "capwatch": 1}
KINDS = {"capout": "documents", "casmo": "jobs", "capx": "tasks", "captain": "indexing_jobs", "capwatch": None}


def make_event(rng: random.Random, moment: float, number: int) -> Event:
    service = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    event_type = rng.choice(TYPES[service])
    entity = f"{service[:3]}_{number % 50_000:08d}"
    data = {"id": entity, "status": event_type.rsplit(".", 1)[-1], "updated_at": moment,
            "file_name": f"invoice-{rng.randrange(100_000):05d}.pdf", "progress": rng.randrange(101),
            "company_id": f"co_{rng.randrange(5)}", "message": rng.choice(("ok", "queued", "retrying", "done"))}
    kind = KINDS[service]
    return Event(time=moment, service=service, type=event_type, id=entity, data=data, kind=kind,
                 patch=data if kind else None, received=moment)


QUERIES = [
    ("--service capx --since 1h", Query(services=("capx",), since=-3600)),
    ("--type 'task.*' --since 2h", Query(type_glob="task.*", since=-7200)),
    ("--type 'task.*' --limit 100", Query(type_glob="task.*", limit=100)),
    ("--service captain --type 'indexing.fail*' --limit 50", Query(services=("captain",), type_glob="indexing.fail*",
                                                                   limit=50)),
    ("--grep invoice-04242 --since 1d", Query(grep="invoice-04242", since=-86400)),
    ("--grep cap_00004242 --limit 100", Query(grep="cap_00004242", limit=100)),
    ("--grep no-such-text --limit 100 (whole history)", Query(grep="no-such-text", limit=100)),
    ("--since -3d --until -3d+10m", Query(since=-3 * 86400, until=-3 * 86400 + 600)),
    ("--limit 100", Query(limit=100)),
    ("--service casmo --type 'review.*' --grep done --since 6h", Query(services=("casmo",), type_glob="review.*",
                                                                       grep="done", since=-6 * 3600)),
]


def absolute(query: Query, now: float) -> Query:
    """The relative times of QUERIES (negative: seconds before `now`) as epoch seconds."""
    return Query(since=None if query.since is None else now + query.since,
                 until=None if query.until is None else now + query.until, services=query.services,
                 type_glob=query.type_glob, grep=query.grep, limit=query.limit)


async def fill(history: History, count: int, now: float) -> float:
    rng = random.Random(42)
    span = 7 * 86400 - 60
    start = time.perf_counter()
    step = span / count
    for number in range(count):
        history.append(make_event(rng, now - span + number * step, number))
        if number % 20_000 == 19_999:
            await asyncio.sleep(0)  # as the live layer does between events: the writer runs beside
    await history.flush()
    return time.perf_counter() - start


async def time_query(history: History, query: Query) -> tuple[float, int]:
    start = time.perf_counter()
    rows = 0
    async for page in history.scan(query):
        rows += len(page)
    return time.perf_counter() - start, rows


async def bench(setting: str, count: int, label: str) -> list[tuple[str, float, float, int]]:
    history = History(setting, max_age=None, max_bytes=None)
    now = time.time()
    existing = await history.count() if label == "sqlite" and Path(setting).exists() else 0
    if existing < count:
        seconds = await fill(history, count, now)
        print(f"{label}: recorded {count:,} events in {seconds:.1f} s ({count / seconds:,.0f} events/s), "
              f"{await history.size() / 1e6:,.0f} MB")
    if label == "postgresql":
        await history._read_backend()._run(lambda c: c.execute("VACUUM ANALYZE capwatch_events"))
    results = []
    for name, query in QUERIES:
        times, rows = [], 0
        for _ in range(5):
            elapsed, rows = await time_query(history, absolute(query, now))
            times.append(elapsed)
        results.append((name, min(times), statistics.median(times), rows))
    await history.close()
    return results


def run_cli(setting: str) -> float:
    env = {**os.environ, "CAPWATCH_HISTORY": setting}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tui", "history", "--json", "--type", "task.*", "--since", "2h"],
                          env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    return elapsed


def report(label: str, results) -> bool:
    print(f"\n{label}: {'query':<58} {'best':>7} {'median':>7} {'rows':>7}")
    ok = True
    for name, best, median, rows in results:
        flag = "" if median <= TARGET else "  OVER"
        ok &= median <= TARGET
        print(f"  capwatch history {name:<49} {best:>6.3f}s {median:>6.3f}s {rows:>7}{flag}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--keep", metavar="DIR", help="keep the SQLite file here (reused when it has the events)")
    args = parser.parse_args()
    ok = True
    if args.backend in ("sqlite", "both"):
        directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="capwatch-bench-"))
        path = str(directory / "history.sqlite3")
        try:
            ok &= report("sqlite", asyncio.run(bench(path, args.events, "sqlite")))
            print(f"  the real command, `capwatch history --json --type 'task.*' --since 2h` in a subprocess: "
                  f"{run_cli(path):.2f} s (Python start-up included)")
        finally:
            if not args.keep:
                shutil.rmtree(directory, ignore_errors=True)
    if args.backend in ("postgresql", "both"):
        from tests.helpers.postgres import PostgresServer

        with PostgresServer() as server:
            url = server.url()
            ok &= report("postgresql", asyncio.run(bench(url, args.events, "postgresql")))
            print(f"  the real command, `capwatch history --json --type 'task.*' --since 2h` in a subprocess: "
                  f"{run_cli(url):.2f} s (Python start-up included)")
    print(f"\nevery filtered query within {TARGET} s: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
