"""`History`: what the live layer calls. `append` on the event loop costs a deque append; a thread of the history's
own writes batches, reconnects, prunes; queries run beside it without blocking the caller's loop.

`snapshot(state)` (team mode's collector: tui/history/snapshot.py) queues a compact picture of the Store between
the events: it is written in the transaction of the events appended before it, with the seq of the newest row
then, so that the picture plus the rows after that seq is the whole state (a follower joining late reads those).

While its database is away the writer holds what it is given and retries on a backoff, and logs two lines per
outage, not one per failed attempt: one when the database goes (with the error), one when it is back (how long it
was away, how many attempts failed, how many events it held meanwhile and how many of them it had to drop); a third
only if it stops before the database is back (how many events it dropped then)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable

from tui.history.records import Query, Record, event_row
from tui.history.setting import HistorySetting, parse_setting
from tui.live.backoff import Backoff, wait_set
from tui.live.events import Event

log = logging.getLogger("capwatch.history")

DEFAULT_MAX_AGE = 7 * 86400.0  # a week: what a post-mortem needs, on a laptop
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
FLUSH_INTERVAL = 0.1  # seconds an event may wait before its batch is written (team mode: well within 500 ms)
BATCH_SIZE = 2000  # rows per transaction at most
MAX_PENDING = 1_000_000  # events held while the database is away; beyond, the oldest are dropped and counted
# While the database is away: jittered delays from RETRY_FLOOR (half the base) up to RETRY_CAP between attempts. The
# cap is short: an attempt on a database that is down costs a refused connection, and the events held meanwhile reach
# the followers only once one succeeds.
RETRY_BASE, RETRY_CAP = 0.5, 5.0
RETRY_FLOOR = RETRY_BASE / 2
PRUNE_INTERVAL = 300.0  # seconds between background prunes (the first comes PRUNE_DELAY after the start)
PRUNE_DELAY = 10.0
SNAPSHOT = "snapshot"  # the queue's mark of a snapshot between the events (never an event's origin)


class HistoryUnavailable(RuntimeError):
    """The history cannot be read: it is off, or there is none at the configured place."""


@dataclass(frozen=True)
class Snapshot:
    """A picture of a collector's Store (tui/history/snapshot.py says what it holds) as of `seq`: every row with a
    seq up to it had been applied, none after; `time` when it was written."""

    seq: int
    time: float
    state: dict[str, Any]


def encode_snapshot(state: dict[str, Any], secrets: Iterable[tuple[str, str]] = ()) -> bytes:
    """The state as compact JSON (secrets masked, as in rows), deflated: a Capx fleet's picture compresses ~10x."""
    from tui.history.records import dumps

    text = dumps(state)
    for secret, mask in secrets:
        if secret in text:
            text = text.replace(secret, mask)
    return zlib.compress(text.encode("utf-8"), 6)


def decode_snapshot(data: bytes) -> dict[str, Any]:
    import json

    return json.loads(zlib.decompress(data))


class _Batch:
    """What the writer writes in one transaction: rows (with the wseq of each), the event types new to it, and
    perhaps a snapshot queued after them (it ends the batch, so that it is written with the rows before it)."""

    __slots__ = ("wseqs", "rows", "types", "snapshot")

    def __init__(self) -> None:
        self.wseqs: list[int] = []
        self.rows: list[tuple] = []
        self.types: set[tuple[str, str]] = set()
        self.snapshot: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.rows) or self.snapshot is not None

    def committed_through(self, done: int) -> int | None:
        """A write in doubt committed through wseq `done`: drop what it wrote (the snapshot with its rows); the
        last wseq dropped, or None."""
        keep = next((i for i, w in enumerate(self.wseqs) if w > done), len(self.wseqs))
        if not keep:
            return None
        last = self.wseqs[keep - 1]
        self.wseqs, self.rows = self.wseqs[keep:], self.rows[keep:]
        if not self.rows:  # the snapshot went in the same transaction as its rows (alone, it is written again)
            self.snapshot = None
        return last


def open_backend(setting: HistorySetting, *, create: bool):
    if setting.backend == "sqlite":
        from tui.history.sqlite import SqliteBackend

        return SqliteBackend(setting.path, create=create)
    if setting.backend == "postgresql":
        from tui.history.postgres import PostgresBackend

        return PostgresBackend(setting.url, create=create)
    raise HistoryUnavailable("history is off")


class History:
    """The event history of one capwatch process: an append-only log of Events, each with its origin.

    From the event loop that runs the live layer (one thread): `append(event, origin)`, never blocking; then
    `await flush()`, `await query(Query(...))`, `scan`, `tail_after(cursor)`, `follow(cursor)`, `await close()`.
    With the setting `off` every call is a no-op and queries find nothing.
    """

    def __init__(self, setting: HistorySetting | str | None = None, *, max_age: float | None = DEFAULT_MAX_AGE,
                 max_bytes: int | None = DEFAULT_MAX_BYTES, flush_interval: float = FLUSH_INTERVAL,
                 batch_size: int = BATCH_SIZE, max_pending: int = MAX_PENDING,
                 prune_interval: float = PRUNE_INTERVAL, prune_delay: float = PRUNE_DELAY,
                 secrets: Iterable[str] = ()):
        self.setting = setting if isinstance(setting, HistorySetting) else parse_setting(setting)
        self.enabled = self.setting.enabled
        self.max_age, self.max_bytes = max_age, max_bytes
        self.flush_interval, self.batch_size, self.max_pending = flush_interval, batch_size, max_pending
        self.prune_interval, self.prune_delay = prune_interval, prune_delay
        # Never written: replaced by a mask wherever one appears (events carry none; this is the guard).
        self._secrets = tuple((s, "••••" + s[-4:]) for s in {s for s in secrets if s and len(s) >= 6})
        self.writer_id = uuid.uuid4().hex  # this process's rows, in capwatch_writers
        self._queue: deque[tuple[int, Event, str]] = deque()
        self._appended = 0  # wseq of the last event appended (the loop's side)
        self._written = 0  # wseq of the last event committed (the writer's side)
        self.dropped = 0  # events dropped because the database was away too long
        self.state = "off" if not self.enabled else "idle"  # idle, live, reconnecting, stopped
        self.last_error: str | None = None
        self.last_seq = 0  # seq of the last row this process committed
        self.pruned = 0  # rows removed by retention so far
        self.batches = 0  # transactions committed
        self.failed_writes = 0  # attempts to write that failed (the database away, or refusing)
        self.snapshots_written = 0  # snapshots committed (tui/history/snapshot.py)
        self.records_read = 0  # records this History's queries and followers have read (what joining costs)
        self._wake = threading.Event()  # a batch is due, a flush or a snapshot waits, or the stop
        self._closing = threading.Event()  # the stop: cuts a wait between failed attempts short
        self._stopping = False
        self._give_up_at: float | None = None
        self._thread: threading.Thread | None = None
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._waiters_lock = threading.Lock()
        self._reader = None
        self._prune_now = False

    def describe(self) -> str:
        return self.setting.describe()

    def status(self) -> dict[str, Any]:
        """For a health line: where, state, figures."""
        return {"history": self.describe(), "state": self.state, "appended": self._appended,
                "written": self._written, "pending": len(self._queue), "dropped": self.dropped,
                "pruned": self.pruned, "failed_writes": self.failed_writes, "last_error": self.last_error}

    # ------------------------------------------------------------------------------------ the loop's side

    def start(self) -> None:
        """Start the writer thread (the first `append` does it too)."""
        if self.enabled and self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._thread_main, name="capwatch-history", daemon=True)
            self._thread.start()

    def append(self, event: Event, origin: str = "stream") -> None:
        """Record `event` (as the Store applied it; it must not change afterwards). Returns at once."""
        if not self.enabled or self._stopping:
            return
        self._appended += 1
        queue = self._queue
        queue.append((self._appended, event, origin))
        if len(queue) >= self.batch_size:
            if len(queue) > self.max_pending and queue.popleft()[2] != SNAPSHOT:
                self.dropped += 1
            if not self._wake.is_set():  # set() takes a lock and notifies: ~2 us, for every event while a batch
                self._wake.set()  # is being written; the writer looks at the queue's length before it waits
        if self._thread is None:
            self.start()

    def snapshot(self, state: dict[str, Any]) -> None:
        """Queue a picture of the Store as it is now, after every event appended so far (encoded by the writer
        thread: `state` must not change afterwards, tui/history/snapshot.py `capture` copies what may)."""
        if not self.enabled or self._stopping:
            return
        self._queue.append((self._appended, state, SNAPSHOT))
        self._wake.set()
        if self._thread is None:
            self.start()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every event appended so far is committed."""
        target = self._appended
        if not self.enabled or self._written >= target or self._thread is None or not self._thread.is_alive():
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._waiters_lock:
            self._waiters.append((target, loop, future))
        if self._written >= target:  # committed meanwhile, before the writer saw the waiter
            return
        self._wake.set()
        async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can lose a cancel (tui/live/backoff.py)
            await future

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is pending (for at most `timeout` seconds when the database is away), then stop."""
        self._stopping = True
        self._give_up_at = time.monotonic() + timeout
        thread = self._thread
        if thread is not None:
            self._wake.set()
            self._closing.set()
            await asyncio.to_thread(thread.join, timeout + 5)
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        if self.enabled:
            self.state = "stopped"

    # ------------------------------------------------------------------------------------ the writer thread

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._write_loop())
        except Exception as error:  # a bug: say so, and stop taking events rather than grow without bound
            log.exception("history writer stopped")
            self.last_error = f"writer stopped: {error}"
            self.state = "stopped"
            self._stopping = True

    def _take_batch(self, known: set[tuple[str, str]]) -> _Batch:
        batch = _Batch()
        queue, secrets = self._queue, self._secrets
        while queue and len(batch.rows) < self.batch_size:
            wseq, event, origin = queue.popleft()
            if origin == SNAPSHOT:  # written after the rows before it, in their transaction
                batch.snapshot = encode_snapshot(event, secrets)
                break
            batch.wseqs.append(wseq)
            batch.rows.append(event_row(event, origin, secrets))
            pair = (event.service, event.type)
            if pair not in known:
                batch.types.add(pair)
        return batch

    async def _write_loop(self) -> None:
        backend = open_backend(self.setting, create=True)
        backoff = Backoff(base=RETRY_BASE, cap=RETRY_CAP, healthy_after=5.0)
        known: set[tuple[str, str]] = set()
        batch = _Batch()
        in_doubt = False  # a write failed: did it commit? ask before writing again
        down: tuple[float, int, int] | None = None  # since when the database is away; `dropped`, `failed_writes` then
        next_prune = time.monotonic() + self.prune_delay
        pruning = False
        try:
            while True:
                if not batch:
                    if len(self._queue) < self.batch_size and not self._stopping:
                        self._wake.wait(self.flush_interval)  # this thread's own loop has nothing else to run
                        self._wake.clear()
                    batch = self._take_batch(known)
                    if not batch and self._stopping:
                        break
                try:
                    if in_doubt:
                        done = await backend.written_through(self.writer_id)
                        committed = batch.committed_through(done)
                        if committed is not None:  # committed before the connection went: not again
                            self._committed(committed)
                        in_doubt = False
                    if batch:
                        last = batch.wseqs[-1] if batch.wseqs else self._written
                        self.last_seq = await backend.write(batch.rows, batch.types, self.writer_id, last,
                                                            snapshot=batch.snapshot)
                        self.batches += 1
                        known |= batch.types
                    if self.state != "live":  # before the waiters hear of the commit: a flush that returns sees it
                        if down is not None:
                            self._log_back(down)
                            down = None
                        self.state, self.last_error = "live", None
                        backoff.connected()
                    if batch:
                        if batch.snapshot is not None:
                            self.snapshots_written += 1
                        if batch.wseqs:
                            self._committed(batch.wseqs[-1])
                        batch = _Batch()
                    if self._prune_now or (not self._stopping and time.monotonic() >= next_prune):
                        pruning, self._prune_now = True, False
                    if pruning and not self._stopping:
                        pruning = await self._prune_step(backend)  # one chunk; batches go between chunks
                        if not pruning:
                            next_prune = time.monotonic() + self.prune_interval
                except Exception as error:  # the database is away (or refused): keep the batch, retry
                    in_doubt = True
                    self.failed_writes += 1
                    self.last_error = describe_error(error)
                    if down is None:  # said once, when it goes; `_log_back` says when it is back
                        down = (time.monotonic(), self.dropped, self.failed_writes - 1)
                        log.warning("history: %s out of reach, holding the events until it is back: %s",
                                    self.describe(), self.last_error)
                    self.state = "reconnecting"
                    backoff.disconnected()
                    if self._stopping and time.monotonic() >= (self._give_up_at or 0):
                        lost = len(batch.rows) + sum(1 for item in self._queue if item[2] != SNAPSHOT)
                        self.dropped += lost
                        log.warning("history: %s still out of reach at the stop: %d events dropped", self.describe(),
                                    lost)
                        break
                    self._retry_wait(backoff.next_delay())
        finally:
            await backend.close()
            self._release_waiters()

    def _retry_wait(self, delay: float) -> None:
        """The wait after a failed attempt: its whole delay, whatever arrives meanwhile. Not on `_wake`: a batch
        due sets it with every event at 2,000/s (and a snapshot, a flush), and it stays set while the batch waits,
        so the writer tried again at once, over and over (1,411 attempts in 17 s of PostgreSQL stopped). The stop
        cuts it short, and from then on it lasts until the give-up time at most."""
        if self._stopping:
            time.sleep(max(0.0, min(delay, (self._give_up_at or 0.0) - time.monotonic())))
        else:
            self._closing.wait(delay)

    def _log_back(self, down: tuple[float, int, int]) -> None:
        """The one line when the database is back: how long it was away, how many attempts failed, what was held
        (and dropped) meanwhile. A warning as the first line is: where no logging is set up (`tail`, the monitor)
        Python prints warnings alone, and the line saying the outage ended must go where the first one went."""
        since, dropped_before, failed_before = down
        held = self._appended - self._written
        dropped = self.dropped - dropped_before
        log.warning("history: %s back after %.1f s (%d attempts failed); %d events held meanwhile, writing them "
                    "now%s", self.describe(), time.monotonic() - since, self.failed_writes - failed_before, held,
                    f" ({dropped} dropped: more than {self.max_pending} held)" if dropped else "")

    async def _prune_step(self, backend) -> bool:
        cutoff = None if self.max_age is None else time.time() - self.max_age
        deleted = await backend.prune_step(cutoff, self.max_bytes)
        self.pruned += deleted
        return deleted > 0

    def _committed(self, wseq: int) -> None:
        self._written = wseq
        with self._waiters_lock:
            done = [w for w in self._waiters if w[0] <= wseq]
            self._waiters = [w for w in self._waiters if w[0] > wseq]
        for _target, loop, future in done:
            loop.call_soon_threadsafe(_resolve, future)

    def _release_waiters(self) -> None:
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        for _target, loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop is closed
                pass

    # ------------------------------------------------------------------------------------ reading

    def _read_backend(self):
        if not self.enabled:
            raise HistoryUnavailable("history is off")
        if self._reader is None:
            self._reader = open_backend(self.setting, create=False)
        return self._reader

    async def _resolved(self, query: Query) -> Query:
        if query.type_glob is None:
            return query
        return query.resolve_types(await self._read_backend().known_types())

    async def query(self, query: Query) -> list[Record]:
        """The newest `query.limit` matching records (all when None), oldest first."""
        if not self.enabled:
            return []
        query = await self._resolved(query)
        return self._read(await self._read_backend().query(query))

    def _read(self, records: list[Record]) -> list[Record]:
        self.records_read += len(records)
        return records

    async def scan(self, query: Query, chunk: int = 5000) -> AsyncIterator[list[Record]]:
        """Every matching record, oldest first, in pages of `chunk` (memory stays bounded); `query.limit`, when
        set, keeps the newest `limit` (one query)."""
        if not self.enabled:
            return
        if query.limit is not None:
            records = await self.query(query)
            if records:
                yield records
            return
        query = await self._resolved(query)
        backend = self._read_backend()
        after = None
        while True:
            records = self._read(await backend.scan(query, after, chunk))
            if not records:
                return
            yield records
            last = records[-1]
            after = (last.event.time, last.seq)

    async def tail_after(self, cursor: int, limit: int = 5000) -> list[Record]:
        """Records committed after `cursor` (a seq; 0 for the start), in commit order, at most `limit`."""
        if not self.enabled:
            return []
        return self._read(await self._read_backend().tail_after(cursor, limit))

    async def newest_between(self, after: int, through: int, limit: int,
                             exclude_types: Iterable[str] = ()) -> list[Record]:
        """The newest `limit` records with `after < seq <= through` whose type is not one of `exclude_types`, in
        seq order (a follower's timeline before its snapshot)."""
        if not self.enabled or limit <= 0:
            return []
        return self._read(await self._read_backend().newest_between(after, through, limit, tuple(exclude_types)))

    async def latest_snapshot(self) -> Snapshot | None:
        """The newest snapshot a collector wrote (decoded off the caller's loop); None when there is none."""
        if not self.enabled:
            return None
        found = await self._read_backend().latest_snapshot()
        if found is None:
            return None
        seq, moment, data = found
        return Snapshot(seq, moment, await asyncio.to_thread(decode_snapshot, data))

    async def last_seq_committed(self) -> int:
        """The newest seq in the history (by any writer): a follower's starting cursor."""
        return await self._read_backend().last_seq() if self.enabled else 0

    async def follow(self, cursor: int | None = None, *, poll: float = 0.25, limit: int = 5000,
                     on_state: Callable[[str, str | None], None] | None = None) -> AsyncIterator[list[Record]]:
        """Every record committed after `cursor` (default: from now on), as they come, in commit order. PostgreSQL
        wakes it by NOTIFY (polling stays the fallback); after any loss of connection it catches up from the
        cursor, so nothing is missed and nothing repeats. `on_state(state, error)` hears how the follower is doing
        when that changes: "live" (caught up, and listening where the database can notify) or "reconnecting" (the
        database is away; with the error's words)."""
        if not self.enabled:
            return
        backend = self._read_backend()
        woken = asyncio.Event()
        listener = None
        backoff = Backoff(base=0.25, cap=5.0)
        told: tuple[str, str | None] | None = None

        def tell(state: str, error: str | None = None) -> None:
            nonlocal told
            if on_state is not None and told != (state, error):
                told = (state, error)
                on_state(state, error)

        try:
            while True:
                if listener is None and hasattr(backend, "listen"):
                    try:
                        listener = await backend.listen(lambda _seq: woken.set())
                    except Exception:
                        listener = None
                try:
                    if cursor is None:
                        cursor = await backend.last_seq()
                    records = self._read(await backend.tail_after(cursor, limit))
                except Exception as error:
                    if listener is not None:
                        await backend.unlisten(listener)
                        listener = None
                    tell("reconnecting", describe_error(error))
                    await asyncio.sleep(backoff.next_delay())
                    continue
                backoff.reset()
                if records:
                    cursor = records[-1].seq
                    yield records
                    if len(records) == limit:
                        continue
                if listener is not None or not hasattr(backend, "listen"):
                    tell("live")
                if listener is not None and listener.is_closed():
                    listener = None
                    continue
                woken.clear()
                await wait_set(woken, poll if listener is None else max(poll, 1.0))
        finally:
            if listener is not None:
                await backend.unlisten(listener)

    async def prune(self) -> int:
        """Apply retention now, to completion, from the caller (the writer also does it every `prune_interval`);
        returns the rows removed."""
        if not self.enabled:
            return 0
        backend = self._read_backend()
        cutoff = None if self.max_age is None else time.time() - self.max_age
        total = 0
        while deleted := await backend.prune_step(cutoff, self.max_bytes):
            total += deleted
        self.pruned += total
        return total

    async def size(self) -> int:
        return await self._read_backend().size() if self.enabled else 0

    async def count(self) -> int:
        return await self._read_backend().count() if self.enabled else 0


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def describe_error(error: BaseException) -> str:
    from tui.text import sanitize

    text = str(error) or error.__class__.__name__
    return sanitize(f"{error.__class__.__name__}: {text}", single_line=True)[:300]
