"""The team back end: PostgreSQL through asyncpg.

Why asyncpg, not psycopg 3 (tests/perf/pg_drivers.py, 2,000 events/s in batches every 0.1 s, each batch one
transaction as the writer makes it, on a local server, machine shared and busy):

    driver         CPU ms/1000 ev  batch p50  batch p99  notify p50  notify p99  query 1000 rows
    asyncpg                   6.8      8.6ms     34.6ms       0.4ms       8.2ms        8.2ms
    asyncpg COPY              5.5      4.1ms     10.6ms       0.4ms       4.8ms        7.8ms
    psycopg                  23.1     13.1ms     43.4ms       0.6ms      11.4ms       12.2ms
    psycopg COPY             11.7      5.9ms     19.3ms       0.6ms       8.0ms       13.5ms

asyncpg's binary COPY costs half psycopg's best in client CPU (what the monitor's process pays at 2,000 events/s),
its batches commit in half the time, it decodes a page of results 40% faster, and LISTEN/NOTIFY is as quick on
both. It brings its own protocol implementation (no libpq to install), and imports in 90 ms against 160 ms.
What psycopg does better (libpq's every connection option, service files) the `history` URL does not need.

Rows are written with COPY inside one transaction per batch that also takes an advisory lock (so, with several
writers, `seq` order is commit order and a follower reading `seq > cursor` misses nothing), records the writer's
last row (`capwatch_writers`: after a lost connection the writer asks how far it got, so a batch whose commit
was in doubt is never written twice), and notifies `capwatch_history` with the last seq (team mode's LISTEN).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable, Sequence

from tui.history.records import COLUMNS, SEARCHED, SNAPSHOTS_KEPT, Query, Record, WhereBuilder, record_from_row
from tui.history.setting import mask_url

CHANNEL = "capwatch_history"
LOCK_KEY = 7_327_001  # pg_advisory_xact_lock key: one writer's batch at a time, and schema creation
SCHEMA = """
CREATE TABLE IF NOT EXISTS capwatch_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time double precision NOT NULL,
    received double precision NOT NULL,
    service text NOT NULL,
    type text NOT NULL,
    entity_id text NOT NULL,
    kind text,
    origin text NOT NULL,
    data text NOT NULL,
    patch text
);
CREATE INDEX IF NOT EXISTS capwatch_events_time ON capwatch_events (time);
CREATE INDEX IF NOT EXISTS capwatch_events_service_time ON capwatch_events (service, time);
CREATE INDEX IF NOT EXISTS capwatch_events_type_time ON capwatch_events (type, time);
CREATE TABLE IF NOT EXISTS capwatch_event_types (service text NOT NULL, type text NOT NULL, PRIMARY KEY (service, type));
CREATE TABLE IF NOT EXISTS capwatch_writers (writer text PRIMARY KEY, last_wseq bigint NOT NULL,
                                             updated double precision NOT NULL);
CREATE TABLE IF NOT EXISTS capwatch_snapshots (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                               seq bigint NOT NULL, time double precision NOT NULL,
                                               writer text NOT NULL, data bytea NOT NULL);
"""
# `--grep` through an index: pg_trgm's GIN index on the searched text serves ILIKE '%TEXT%' (pg_trgm ships with
# the server and is a trusted extension: a database owner may create it). Without it, grep scans.
SEARCH_SCHEMA = ("CREATE EXTENSION IF NOT EXISTS pg_trgm",
                 f"CREATE INDEX IF NOT EXISTS capwatch_events_search ON capwatch_events USING gin ({SEARCHED} gin_trgm_ops)")
COPY_COLUMNS = ("time", "received", "service", "type", "entity_id", "kind", "origin", "data", "patch")
MARK = ("INSERT INTO capwatch_writers (writer, last_wseq, updated) VALUES ($1, $2, $3) "
        "ON CONFLICT (writer) DO UPDATE SET last_wseq = excluded.last_wseq, updated = excluded.updated")
# A snapshot (tui/history/core.py `Snapshot`) as of the newest row, in its rows' transaction (under the lock: no
# other writer's row can come between); the newest SNAPSHOTS_KEPT stay.
SNAPSHOT_INSERT = ("INSERT INTO capwatch_snapshots (seq, time, writer, data) "
                   "SELECT coalesce(max(seq), 0), $1, $2, $3 FROM capwatch_events")
SNAPSHOT_PRUNE = ("DELETE FROM capwatch_snapshots WHERE id NOT IN "
                  "(SELECT id FROM capwatch_snapshots ORDER BY id DESC LIMIT $1)")
_WHERE = WhereBuilder(lambda n: f"${n}", "ILIKE", array_param=True)
PRUNE_CHUNK = 20_000


class PostgresBackend:
    name = "postgresql"

    def __init__(self, url: str, *, create: bool = True, connect_timeout: float = 10.0):
        self.url = url
        self.create = create
        self.connect_timeout = connect_timeout
        self._connection = None  # asyncpg.Connection, bound to the loop that opened it
        self._lock: asyncio.Lock | None = None

    def describe(self) -> str:
        return mask_url(self.url)

    # ------------------------------------------------------------------------------------ plumbing

    async def _connect(self):
        import asyncpg

        connection = await asyncpg.connect(self.url, timeout=self.connect_timeout)
        if self.create:
            async with connection.transaction():
                await connection.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
                await connection.execute(SCHEMA)
                try:
                    async with connection.transaction():  # a savepoint: a refusal leaves the rest standing
                        for statement in SEARCH_SCHEMA:
                            await connection.execute(statement)
                except asyncpg.PostgresError:
                    pass
        return connection

    async def _conn(self):
        if self._connection is None or self._connection.is_closed():
            self._connection = await self._connect()
        return self._connection

    async def _run(self, work):
        """`work(connection)` one at a time; a connection found broken is dropped (the next call reconnects)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            connection = await self._conn()
            try:
                return await work(connection)
            except BaseException as error:
                if connection.is_closed() or not _server_error(error):  # else the connection is still good
                    await self._drop()
                raise

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def open(self) -> None:
        await self._run(lambda connection: asyncio.sleep(0))

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                async with asyncio.timeout(5):
                    await connection.close()
            except (OSError, TimeoutError, Exception):
                connection.terminate()

    # ------------------------------------------------------------------------------------ writing

    async def write(self, rows: Sequence[tuple], types: Iterable[tuple[str, str]], writer: str, wseq: int, *,
                    snapshot: bytes | None = None) -> int:
        types = list(types)

        async def write(connection) -> int:
            async with connection.transaction():
                await connection.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
                if rows:
                    await connection.copy_records_to_table("capwatch_events", records=rows, columns=COPY_COLUMNS)
                if types:
                    await connection.executemany(
                        "INSERT INTO capwatch_event_types (service, type) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        types)
                await connection.execute(MARK, writer, wseq, time.time())
                if snapshot is not None:
                    await connection.execute(SNAPSHOT_INSERT, time.time(), writer, snapshot)
                    await connection.execute(SNAPSHOT_PRUNE, SNAPSHOTS_KEPT)
                if not rows:  # a snapshot alone: no row, nothing to tell the followers
                    return int(await connection.fetchval("SELECT coalesce(max(seq), 0) FROM capwatch_events"))
                last = await connection.fetchval("SELECT currval(pg_get_serial_sequence('capwatch_events', 'seq'))")
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(last))
            return int(last)

        return await self._run(write)

    async def written_through(self, writer: str) -> int:
        async def read(connection):
            value = await connection.fetchval("SELECT last_wseq FROM capwatch_writers WHERE writer = $1", writer)
            return int(value or 0)

        return await self._run(read)

    # ------------------------------------------------------------------------------------ reading

    async def known_types(self) -> list[str]:
        async def read(connection):
            return [row[0] for row in await connection.fetch("SELECT DISTINCT type FROM capwatch_event_types")]

        return await self._run(read)

    async def _records(self, sql: str, params: Sequence[Any]) -> list[Record]:
        async def read(connection):
            return await connection.fetch(sql, *params)

        return [record_from_row(tuple(row)) for row in await self._run(read)]

    async def query(self, query: Query) -> list[Record]:
        where, params = _WHERE.build(query)
        if query.limit is None:
            return await self._records(f"SELECT {COLUMNS} FROM capwatch_events{where} ORDER BY time, seq", params)
        params.append(int(query.limit))
        records = await self._records(
            f"SELECT {COLUMNS} FROM capwatch_events{where} ORDER BY time DESC, seq DESC LIMIT ${len(params)}", params)
        records.reverse()
        return records

    async def scan(self, query: Query, after: tuple[float, int] | None, chunk: int) -> list[Record]:
        where, params = _WHERE.build(query, after)
        params.append(chunk)
        return await self._records(
            f"SELECT {COLUMNS} FROM capwatch_events{where} ORDER BY time, seq LIMIT ${len(params)}", params)

    async def tail_after(self, cursor: int, limit: int) -> list[Record]:
        return await self._records(
            f"SELECT {COLUMNS} FROM capwatch_events WHERE seq > $1 ORDER BY seq LIMIT $2", (cursor, limit))

    async def newest_between(self, after: int, through: int, limit: int, exclude_types: Sequence[str]) -> list[Record]:
        """The newest `limit` records with `after < seq <= through` whose type is not excluded, in seq order."""
        records = await self._records(
            f"SELECT {COLUMNS} FROM capwatch_events WHERE seq > $1 AND seq <= $2 AND NOT (type = ANY($3)) "
            f"ORDER BY seq DESC LIMIT $4", (after, through, list(exclude_types), limit))
        records.reverse()
        return records

    async def latest_snapshot(self) -> tuple[int, float, bytes] | None:
        """(seq, time, data) of the newest snapshot; None when there is none (or no table for them yet)."""
        import asyncpg

        async def read(connection):
            try:
                return await connection.fetchrow(
                    "SELECT seq, time, data FROM capwatch_snapshots ORDER BY id DESC LIMIT 1")
            except asyncpg.UndefinedTableError:
                return None

        row = await self._run(read)
        return None if row is None else (int(row[0]), float(row[1]), bytes(row[2]))

    async def last_seq(self) -> int:
        async def read(connection):
            return int(await connection.fetchval("SELECT coalesce(max(seq), 0) FROM capwatch_events"))

        return await self._run(read)

    async def count(self) -> int:
        async def read(connection):
            return int(await connection.fetchval("SELECT count(*) FROM capwatch_events"))

        return await self._run(read)

    async def size(self) -> int:
        """Estimated bytes of live rows and their indexes: rows x their average size (the newest thousand) x the
        table's index-to-heap ratio. The files themselves do not shrink after a DELETE (VACUUM makes the space
        reusable), so they would say nothing about what pruning achieved."""
        async def read(connection):
            rows = await connection.fetchval("SELECT count(*) FROM capwatch_events")
            if not rows:
                return 0
            average = await connection.fetchval(
                "SELECT avg(pg_column_size(e.*)) + 28 FROM "
                "(SELECT * FROM capwatch_events ORDER BY seq DESC LIMIT 1000) e")
            heap, total = await connection.fetchrow(
                "SELECT greatest(pg_relation_size('capwatch_events'), 1), pg_total_relation_size('capwatch_events')")
            return int(rows * float(average) * max(1.0, total / heap))

        return await self._run(read)

    # ------------------------------------------------------------------------------------ retention

    async def prune_step(self, cutoff: float | None, max_bytes: int | None) -> int:
        deleted = 0
        if cutoff is not None:
            deleted = await self._delete_oldest(PRUNE_CHUNK, cutoff)
        if not deleted and max_bytes is not None:
            used = await self.size()
            if used > max_bytes:
                rows = await self.count()
                excess = max(1, int(rows * (1 - 0.9 * max_bytes / used)))
                deleted = await self._delete_oldest(min(excess, PRUNE_CHUNK), None)
        return deleted

    async def _delete_oldest(self, limit: int, cutoff: float | None) -> int:
        older = "WHERE time < $2 " if cutoff is not None else ""
        sql = (f"DELETE FROM capwatch_events WHERE seq IN "
               f"(SELECT seq FROM capwatch_events {older}ORDER BY time LIMIT $1)")

        async def delete(connection):
            status = await connection.execute(sql, limit, *([cutoff] if cutoff is not None else []))
            return int(status.split()[-1])

        return await self._run(delete)

    # ------------------------------------------------------------------------------------ notifications

    async def listen(self, on_notify) -> Any:
        """A connection of its own that calls `on_notify(last_seq)` at every committed batch, and
        `on_notify(None)` when it is lost; returns it (close it with `unlisten`)."""
        import asyncpg

        connection = await asyncpg.connect(self.url, timeout=self.connect_timeout)

        def heard(_connection, _pid, _channel, payload):
            try:
                on_notify(int(payload))
            except ValueError:
                pass

        connection.add_termination_listener(lambda _connection: on_notify(None))
        await connection.add_listener(CHANNEL, heard)
        return connection

    @staticmethod
    async def unlisten(connection) -> None:
        if connection is not None and not connection.is_closed():
            connection.terminate()


def _server_error(error: BaseException) -> bool:
    """An error the server reported on a connection that still works (not a lost or cancelled one)."""
    import asyncpg

    return isinstance(error, asyncpg.PostgresError)
