"""psycopg 3 against asyncpg for the history's workload, on a PostgreSQL server started for the run.

    flock /tmp/capwatch-perf.lock .venv/bin/python -m tests.perf.pg_drivers [--seconds 10] [--rate 2000]

Three measures, each for both drivers, on the history's own table (tui/history/postgres.py):
1. writes: `--rate` events/s in batches every 0.1 s, each batch one transaction as the history writer makes it
   (advisory lock, the rows by executemany or by COPY, the writer's mark, pg_notify); client CPU per 1,000 events
   and batch latency;
2. LISTEN/NOTIFY: the time from a batch's commit call to its notification at a listener on another connection;
3. a filtered query: the newest 1,000 events of one service (out of what step 1 wrote), fetched and decoded.
Prints one table; the figures chose the driver (see tui/history/postgres.py). psycopg is not a dependency of
capwatch: `.venv/bin/pip install 'psycopg[binary]'` to run this.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

from tests.helpers.postgres import PostgresServer
from tui.history.postgres import SCHEMA

SERVICES = ("capout", "casmo", "capx", "captain")
INSERT = ("INSERT INTO capwatch_events (time, received, service, type, entity_id, kind, origin, data, patch) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
MARK = ("INSERT INTO capwatch_writers (writer, last_wseq, updated) VALUES ($1, $2, $3) "
        "ON CONFLICT (writer) DO UPDATE SET last_wseq = excluded.last_wseq, updated = excluded.updated")
COPY_COLUMNS = ("time", "received", "service", "type", "entity_id", "kind", "origin", "data", "patch")
QUERY = ("SELECT seq, time, received, service, type, entity_id, kind, origin, data, patch FROM capwatch_events "
         "WHERE service = $1 ORDER BY time DESC, seq DESC LIMIT 1000")


def rows(count: int, rng: random.Random) -> list[tuple]:
    now = time.time()
    out = []
    for _ in range(count):
        doc = f"doc_{rng.randrange(10**9):09d}"
        data = {"document_id": doc, "status": rng.choice(("processing", "completed", "failed")), "progress": 42,
                "file_name": f"invoice-{rng.randrange(10**6)}.pdf", "updated_at": "2026-01-02T03:04:05.678Z"}
        text = json.dumps(data, ensure_ascii=False)
        out.append((now, now, rng.choice(SERVICES), "document.updated", doc, "documents", "stream", text, text))
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def pg(sql: str) -> str:
    """The asyncpg placeholders ($1) as psycopg's (%s)."""
    import re

    return re.sub(r"\$\d+", "%s", sql)


async def pace(seconds: float, rate: int, write_batch, sent: dict[str, float]) -> tuple[float, list[float], int]:
    """Write `rate` events/s in batches every 0.1 s for `seconds` through `write_batch(batch, number, wseq)`
    (which stamps `sent[str(number)]` before it notifies); returns client CPU seconds, batch latencies, events."""
    rng = random.Random(1)
    batches = int(seconds * 10)
    prepared = [rows(rate // 10, rng) for _ in range(batches)]  # made before the clock starts
    latencies = []
    cpu = time.process_time()
    wseq = 0
    next_at = time.perf_counter()
    for number, batch in enumerate(prepared):
        start = time.perf_counter()
        wseq += len(batch)
        await write_batch(batch, number, wseq)
        latencies.append(time.perf_counter() - start)
        next_at += 0.1
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return time.process_time() - cpu, latencies, wseq


def summary(cpu: float, events: int, latencies: list[float], delays: list[float], query: float) -> dict:
    return {"cpu_ms_per_1000": cpu / events * 1e6, "batch_p50": percentile(latencies, 0.5),
            "batch_p99": percentile(latencies, 0.99), "notify_p50": percentile(delays, 0.5),
            "notify_p99": percentile(delays, 0.99), "query": query}


async def run_asyncpg(url: str, seconds: float, rate: int, copy: bool = False) -> dict:
    import asyncpg

    writer = await asyncpg.connect(url)
    listener = await asyncpg.connect(url)
    await writer.execute("DROP TABLE IF EXISTS capwatch_events, capwatch_event_types, capwatch_writers")
    await writer.execute(SCHEMA)
    delays: list[float] = []
    sent: dict[str, float] = {}

    def heard(_connection, _pid, _channel, payload):
        start = sent.pop(payload, None)
        if start is not None:
            delays.append(time.perf_counter() - start)

    await listener.add_listener("capwatch_history", heard)

    async def write_batch(batch, number, wseq):
        async with writer.transaction():
            await writer.execute("SELECT pg_advisory_xact_lock(7327)")
            if copy:
                await writer.copy_records_to_table("capwatch_events", records=batch, columns=COPY_COLUMNS)
            else:
                await writer.executemany(INSERT, batch)
            await writer.execute(MARK, "bench", wseq, time.time())
            sent[str(number)] = time.perf_counter()
            await writer.execute("SELECT pg_notify('capwatch_history', $1)", str(number))

    cpu, latencies, events = await pace(seconds, rate, write_batch, sent)
    await asyncio.sleep(0.5)
    start = time.perf_counter()
    for _ in range(10):
        result = await writer.fetch(QUERY, "capx")
    query = (time.perf_counter() - start) / 10
    await writer.close()
    await listener.close()
    assert len(result) == 1000
    return summary(cpu, events, latencies, delays, query)


async def run_psycopg(url: str, seconds: float, rate: int, copy: bool = False) -> dict:
    import psycopg

    writer = await psycopg.AsyncConnection.connect(url)
    listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await writer.execute("DROP TABLE IF EXISTS capwatch_events, capwatch_event_types, capwatch_writers")
    await writer.execute(SCHEMA)
    await writer.commit()
    delays: list[float] = []
    sent: dict[str, float] = {}
    await listener.execute("LISTEN capwatch_history")

    async def listen():
        async for notify in listener.notifies():
            start = sent.pop(notify.payload, None)
            if start is not None:
                delays.append(time.perf_counter() - start)

    listening = asyncio.create_task(listen())

    async def write_batch(batch, number, wseq):
        async with writer.transaction():
            async with writer.cursor() as cursor:
                await cursor.execute("SELECT pg_advisory_xact_lock(7327)")
                if copy:
                    async with cursor.copy(f"COPY capwatch_events ({', '.join(COPY_COLUMNS)}) FROM STDIN") as out:
                        for row in batch:
                            await out.write_row(row)
                else:
                    await cursor.executemany(pg(INSERT), batch)
                await cursor.execute(pg(MARK), ("bench", wseq, time.time()))
                sent[str(number)] = time.perf_counter()
                await cursor.execute("SELECT pg_notify('capwatch_history', %s)", (str(number),))

    cpu, latencies, events = await pace(seconds, rate, write_batch, sent)
    await asyncio.sleep(0.5)
    listening.cancel()
    start = time.perf_counter()
    for _ in range(10):
        async with writer.cursor() as cursor:
            await cursor.execute(pg(QUERY), ("capx",))
            result = await cursor.fetchall()
    query = (time.perf_counter() - start) / 10
    await writer.close()
    await listener.close()
    assert len(result) == 1000
    return summary(cpu, events, latencies, delays, query)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=2000)
    args = parser.parse_args()
    with PostgresServer() as server:
        results = {}
        for name, runner in (("asyncpg", run_asyncpg), ("psycopg", run_psycopg)):
            for copy in (False, True):
                label = f"{name}{' COPY' if copy else ''}"
                results[label] = asyncio.run(runner(server.url(), args.seconds, args.rate, copy))
    print(f"{args.rate} events/s for {args.seconds:.0f} s, batches every 0.1 s")
    print(f"{'driver':<13} {'CPU ms/1000 ev':>15} {'batch p50':>10} {'batch p99':>10} {'notify p50':>11} "
          f"{'notify p99':>11} {'query 1000':>11}")
    for name, r in results.items():
        print(f"{name:<13} {r['cpu_ms_per_1000']:>15.1f} {r['batch_p50'] * 1e3:>8.1f}ms {r['batch_p99'] * 1e3:>8.1f}ms "
              f"{r['notify_p50'] * 1e3:>9.1f}ms {r['notify_p99'] * 1e3:>9.1f}ms {r['query'] * 1e3:>9.1f}ms")


if __name__ == "__main__":
    main()
