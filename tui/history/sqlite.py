"""The embedded back end: one SQLite file (the standard library's sqlite3), in WAL mode.

The file is created 0600 in a directory created 0700 (SQLite gives its -wal and -shm files the database file's
mode). `auto_vacuum = INCREMENTAL` lets pruning hand freed pages back to the file system. Every method is
synchronous underneath and runs in a worker thread (`asyncio.to_thread`), one call at a time per back end: the
writer's back end lives in the history's own thread, a reader's calls leave the caller's event loop free.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

from tui.history.records import COLUMNS, SEARCHED, SNAPSHOTS_KEPT, Query, Record, WhereBuilder, record_from_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS capwatch_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    received REAL NOT NULL,
    service TEXT NOT NULL,
    type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    kind TEXT,
    origin TEXT NOT NULL,
    data TEXT NOT NULL,
    patch TEXT
);
CREATE INDEX IF NOT EXISTS capwatch_events_time ON capwatch_events (time);
CREATE INDEX IF NOT EXISTS capwatch_events_service_time ON capwatch_events (service, time);
CREATE INDEX IF NOT EXISTS capwatch_events_type_time ON capwatch_events (type, time);
CREATE TABLE IF NOT EXISTS capwatch_event_types (
    service TEXT NOT NULL, type TEXT NOT NULL, PRIMARY KEY (service, type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS capwatch_writers (
    writer TEXT PRIMARY KEY, last_wseq INTEGER NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS capwatch_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    time REAL NOT NULL,
    writer TEXT NOT NULL,
    data BLOB NOT NULL
);
"""
# `--grep` through an index: FTS5's trigram tokenizer (SQLite 3.34+), contentless and without positions (a third
# of the table's size). A search for TEXT asks it for the rows holding every trigram of TEXT, then checks LIKE on
# those. Without FTS5 in the SQLite at hand, grep scans. The writer indexes each batch with one INSERT ... SELECT
# in the batch's transaction (INDEX_BATCH): an AFTER INSERT trigger cost ~110 us of CPU per row (FTS5 writes its
# pending terms out at every row's statement savepoint), one statement per batch of 200 ~25 us. Files made with
# that trigger lose it when a writer opens them. Pruning's deletes stay a trigger (a row's 'delete' needs its text).
SEARCH_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS capwatch_search USING fts5(body, content='', tokenize='trigram', detail='none');
DROP TRIGGER IF EXISTS capwatch_search_insert;
CREATE TRIGGER IF NOT EXISTS capwatch_search_delete AFTER DELETE ON capwatch_events BEGIN
    INSERT INTO capwatch_search (capwatch_search, rowid, body)
    VALUES ('delete', old.seq, {SEARCHED.replace("(", "(old.").replace(" || ' ' || ", " || ' ' || old.")});
END;
"""
INDEX_BATCH = f"INSERT INTO capwatch_search (rowid, body) SELECT seq, {SEARCHED} FROM capwatch_events WHERE seq > ?"
LAST_SEQ = "SELECT seq FROM sqlite_sequence WHERE name = 'capwatch_events'"
# Above this many candidate rows the text is common: walking the time index with LIKE finds matches at once.
DENSE = 50_000
INSERT = ("INSERT INTO capwatch_events (time, received, service, type, entity_id, kind, origin, data, patch) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
MARK = ("INSERT INTO capwatch_writers (writer, last_wseq, updated) VALUES (?, ?, ?) "
        "ON CONFLICT (writer) DO UPDATE SET last_wseq = excluded.last_wseq, updated = excluded.updated")
# A snapshot (tui/history/core.py `Snapshot`) as of the newest row, written in its rows' transaction; the newest
# SNAPSHOTS_KEPT stay.
SNAPSHOT_INSERT = ("INSERT INTO capwatch_snapshots (seq, time, writer, data) "
                   "SELECT coalesce(max(seq), 0), ?, ?, ? FROM capwatch_events")
SNAPSHOT_PRUNE = ("DELETE FROM capwatch_snapshots WHERE id NOT IN "
                  "(SELECT id FROM capwatch_snapshots ORDER BY id DESC LIMIT ?)")
_WHERE = WhereBuilder(lambda n: "?", "LIKE", array_param=False, search_first="+")  # SQLite's LIKE ignores ASCII case
PRUNE_CHUNK = 20_000  # rows per DELETE: a short write transaction; the writer's batches go between


def prepare_path(path: Path) -> None:
    """Create the directory (0700, and any missing parent) and the file (0600) when missing; tighten the file's mode when
    it exists. A directory that exists is left as it is (it may be shared, e.g. /tmp), except capwatch's own
    data directory (named `capwatch`), which is made 0700."""
    directory = path.parent
    if not directory.exists():
        missing = [directory, *[p for p in directory.parents if not p.exists()]]
        for folder in reversed(missing):  # each one made 0700, as the XDG spec asks of $XDG_DATA_HOME
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    elif directory.name == "capwatch" and directory.stat().st_mode & 0o077:
        os.chmod(directory, 0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


class SqliteBackend:
    name = "sqlite"

    def __init__(self, path: Path, *, create: bool = True):
        self.path = Path(path)
        self.create = create
        self._connection: sqlite3.Connection | None = None
        self._indexed = False  # the file has the search index: the writer fills it
        self._lock = threading.Lock()  # one call at a time on the connection

    def describe(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------------------------ plumbing

    async def _call(self, function, *args) -> Any:
        return await asyncio.to_thread(self._locked, function, *args)

    def _locked(self, function, *args) -> Any:
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            return function(self._connection, *args)

    def _connect(self) -> sqlite3.Connection:
        if self.create:
            prepare_path(self.path)
        elif not self.path.exists():
            raise FileNotFoundError(f"no history at {self.path}")
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            if self.create:
                connection.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect only before the first table
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
            connection.execute("PRAGMA journal_size_limit = 67108864")
            if self.create:
                connection.executescript(SCHEMA)
                try:
                    connection.executescript(SEARCH_SCHEMA)
                except sqlite3.OperationalError:  # no FTS5 or no trigram tokenizer: grep scans
                    pass
            self._indexed = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'capwatch_search'").fetchone() is not None
        except BaseException:
            connection.close()
            raise
        return connection

    async def open(self) -> None:
        await self._call(lambda connection: None)

    async def close(self) -> None:
        def close(connection: sqlite3.Connection) -> None:
            try:
                connection.execute("PRAGMA optimize")  # statistics for the planner, as SQLite advises at close
            except sqlite3.Error:
                pass
            connection.close()
            self._connection = None

        if self._connection is not None:
            await self._call(close)

    # ------------------------------------------------------------------------------------ writing

    async def write(self, rows: Sequence[tuple], types: Iterable[tuple[str, str]], writer: str, wseq: int, *,
                    snapshot: bytes | None = None) -> int:
        """Append `rows` in one transaction with the writer's mark (`wseq`, its last row) and, after them, the
        `snapshot` when there is one; returns the last seq."""
        return await self._call(self._write, rows, list(types), writer, wseq, snapshot)

    def _write(self, connection: sqlite3.Connection, rows, types, writer, wseq, snapshot) -> int:
        import time

        connection.execute("BEGIN IMMEDIATE")
        try:
            before = connection.execute(LAST_SEQ).fetchone()
            connection.executemany(INSERT, rows)
            if self._indexed:  # this transaction's rows: no other writer's can come between (BEGIN IMMEDIATE)
                connection.execute(INDEX_BATCH, (before[0] if before else 0,))
            if types:
                connection.executemany("INSERT OR IGNORE INTO capwatch_event_types (service, type) VALUES (?, ?)",
                                       types)
            connection.execute(MARK, (writer, wseq, time.time()))
            if snapshot is not None:
                connection.execute(SNAPSHOT_INSERT, (time.time(), writer, snapshot))
                connection.execute(SNAPSHOT_PRUNE, (SNAPSHOTS_KEPT,))
            last = connection.execute(LAST_SEQ).fetchone()
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return int(last[0]) if last else 0

    async def written_through(self, writer: str) -> int:
        """The last wseq committed for `writer` (0 when none)."""
        def read(connection):
            row = connection.execute("SELECT last_wseq FROM capwatch_writers WHERE writer = ?", (writer,)).fetchone()
            return int(row[0]) if row else 0

        return await self._call(read)

    # ------------------------------------------------------------------------------------ reading

    async def known_types(self) -> list[str]:
        return await self._call(
            lambda c: [row[0] for row in c.execute("SELECT DISTINCT type FROM capwatch_event_types")])

    async def query(self, query: Query) -> list[Record]:
        """The newest `query.limit` matches (all when None), oldest first."""
        def read(connection):
            where, params = _WHERE.build(query, search=_search(connection, query.grep))
            if query.limit is None:
                sql = f"SELECT {COLUMNS} FROM capwatch_events{where} ORDER BY time, seq"
            else:
                sql = f"SELECT {COLUMNS} FROM capwatch_events{where} ORDER BY time DESC, seq DESC LIMIT ?"
                params.append(int(query.limit))
            return connection.execute(sql, params).fetchall()

        records = [record_from_row(row) for row in await self._call(read)]
        if query.limit is not None:
            records.reverse()
        return records

    async def scan(self, query: Query, after: tuple[float, int] | None, chunk: int) -> list[Record]:
        """The next `chunk` matches after (time, seq) `after`, oldest first: a keyset page."""
        def read(connection):
            where, params = _WHERE.build(query, after, search=_search(connection, query.grep))
            sql = f"SELECT {COLUMNS} FROM capwatch_events{where} ORDER BY time, seq LIMIT ?"
            return connection.execute(sql, [*params, chunk]).fetchall()

        return [record_from_row(row) for row in await self._call(read)]

    async def tail_after(self, cursor: int, limit: int) -> list[Record]:
        """Records with seq > cursor, in seq (commit) order: a follower's catch-up."""
        sql = f"SELECT {COLUMNS} FROM capwatch_events WHERE seq > ? ORDER BY seq LIMIT ?"
        rows = await self._call(lambda c: c.execute(sql, (cursor, limit)).fetchall())
        return [record_from_row(row) for row in rows]

    async def newest_between(self, after: int, through: int, limit: int, exclude_types: Sequence[str]) -> list[Record]:
        """The newest `limit` records with `after < seq <= through` whose type is not excluded, in seq order."""
        sql = (f"SELECT {COLUMNS} FROM capwatch_events WHERE seq > ? AND seq <= ? AND type NOT IN "
               f"({', '.join('?' for _ in exclude_types) or 'NULL'}) ORDER BY seq DESC LIMIT ?")
        rows = await self._call(lambda c: c.execute(sql, (after, through, *exclude_types, limit)).fetchall())
        return [record_from_row(row) for row in reversed(rows)]

    async def latest_snapshot(self) -> tuple[int, float, bytes] | None:
        """(seq, time, data) of the newest snapshot; None when there is none (or no table for them: an older file)."""
        def read(connection):
            try:
                return connection.execute(
                    "SELECT seq, time, data FROM capwatch_snapshots ORDER BY id DESC LIMIT 1").fetchone()
            except sqlite3.OperationalError:
                return None

        row = await self._call(read)
        return None if row is None else (int(row[0]), float(row[1]), bytes(row[2]))

    async def last_seq(self) -> int:
        return await self._call(lambda c: c.execute("SELECT coalesce(max(seq), 0) FROM capwatch_events").fetchone()[0])

    async def count(self) -> int:
        return await self._call(lambda c: c.execute("SELECT count(*) FROM capwatch_events").fetchone()[0])

    async def size(self) -> int:
        """Bytes in use in the file (free pages not counted)."""
        def size(connection):
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            free = connection.execute("PRAGMA freelist_count").fetchone()[0]
            return (pages - free) * connection.execute("PRAGMA page_size").fetchone()[0]

        return await self._call(size)

    # ------------------------------------------------------------------------------------ retention

    async def prune_step(self, cutoff: float | None, max_bytes: int | None) -> int:
        """Delete at most PRUNE_CHUNK of the oldest rows that are older than `cutoff` or beyond `max_bytes`;
        returns how many were deleted (0: nothing left to prune, and the freed pages went back to the system)."""
        return await self._call(self._prune_step, cutoff, max_bytes)

    @staticmethod
    def _prune_step(connection: sqlite3.Connection, cutoff, max_bytes) -> int:
        deleted = 0
        if cutoff is not None:
            deleted = connection.execute(
                "DELETE FROM capwatch_events WHERE seq IN "
                "(SELECT seq FROM capwatch_events WHERE time < ? ORDER BY time LIMIT ?)", (cutoff, PRUNE_CHUNK),
            ).rowcount
        if not deleted and max_bytes is not None:
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            free = connection.execute("PRAGMA freelist_count").fetchone()[0]
            used = (pages - free) * connection.execute("PRAGMA page_size").fetchone()[0]
            if used > max_bytes:
                rows = connection.execute("SELECT count(*) FROM capwatch_events").fetchone()[0]
                # down to 90% of the bound, so pruning runs once in a while, not after every batch
                excess = max(1, int(rows * (1 - 0.9 * max_bytes / used)))
                deleted = connection.execute(
                    "DELETE FROM capwatch_events WHERE seq IN "
                    "(SELECT seq FROM capwatch_events ORDER BY time LIMIT ?)", (min(excess, PRUNE_CHUNK),),
                ).rowcount
        if not deleted:
            connection.executescript("PRAGMA incremental_vacuum")  # execute() would step it once: one page
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted


def trigram_match(text: str) -> str:
    """An FTS5 query for the rows whose text holds every trigram of `text` (a superset of those holding `text`)."""
    grams = sorted({text[i:i + 3] for i in range(len(text) - 2)})
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def _search(connection: sqlite3.Connection, grep: str | None) -> tuple[str, str] | None:
    """The index clause for `--grep`, when the search index exists and the text is rare enough to gain from it."""
    if not grep or len(grep) < 3:
        return None
    match = trigram_match(grep)
    try:
        candidates = connection.execute(
            "SELECT count(*) FROM (SELECT rowid FROM capwatch_search WHERE capwatch_search MATCH ? LIMIT ?)",
            (match, DENSE)).fetchone()[0]
    except sqlite3.OperationalError:  # no search index in this file
        return None
    if candidates >= DENSE:
        return None
    return "seq IN (SELECT rowid FROM capwatch_search WHERE capwatch_search MATCH ?)", match
