"""The history on real databases (each test runs on SQLite and on a PostgreSQL server started for the tests):
writes batched and in order, every filter, retention, the `off` setting, a writer that never blocks the loop."""

from __future__ import annotations

import asyncio
import os
import stat
import statistics
import time
from collections import deque


from tests.helpers.history import make_event
from tests.helpers.waiting import eventually
from tui.history import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, History, Query
from tui.history import core
from tui.live.events import Event

HOUR = 3600.0


async def record(history: History, events) -> None:
    for event in events:
        history.append(event)
    await history.flush(timeout=60)


async def test_writes_are_batched_and_kept_in_order(where):
    history = History(where)
    now = time.time()
    # Times deliberately not in append order (webhooks arrive late): the commit order is the append order.
    events = [make_event(n, now - (n % 7)) for n in range(10_000)]
    await record(history, events)
    records = await history.tail_after(0, limit=20_000)
    assert [r.event.id for r in records] == [f"e{n}" for n in range(10_000)]
    seqs = [r.seq for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10_000
    assert 5 <= history.batches <= 100, f"{history.batches} transactions for 10,000 events"
    # Everything replay needs comes back as it went in: kind, patch, data, times, origin.
    first = records[0]
    assert first.origin == "stream" and first.event.kind == "tasks"
    assert first.event.patch == {"status": "awaiting_approval", "n": 0} and first.event.data["n"] == 0
    assert first.event.time == events[0].time and first.event.received == events[0].received
    assert history.status()["written"] == 10_000 and history.status()["pending"] == 0
    # tail_after pages by cursor: nothing skipped, nothing twice.
    page = await history.tail_after(seqs[4999], limit=3)
    assert [r.seq for r in page] == seqs[5000:5003]
    await history.close()


async def test_origins_and_events_without_patch_round_trip(where):
    history = History(where)
    now = time.time()
    history.append(Event(time=now, service="capwatch", type="channel.reconnecting", id="capout.ws",
                         data={"state": "reconnecting", "error": "read timeout"}), origin="app")
    history.append(Event(time=now, service="casmo", type="extraction.completed", id="job_1",
                         data={"job_id": "job_1", "ünïcode": "✓"}, kind="jobs", patch={"status": "completed"}),
                   origin="webhook")
    await history.flush(timeout=30)
    app, webhook = await history.tail_after(0)
    assert (app.origin, app.event.kind, app.event.patch) == ("app", None, None)
    assert webhook.origin == "webhook" and webhook.event.data["ünïcode"] == "✓"
    assert webhook.to_json_dict() == webhook.event.to_json_dict()
    await history.close()


async def test_every_filter(where, monkeypatch):
    history = History(where)
    base = time.time() - 3 * HOUR
    plan = [  # (minutes after base, service, type, extra data)
        (0, "capout", "document.uploaded", {"file_name": "Invoice-2026.pdf"}),
        (10, "capout", "document.completed", {"file_name": "invoice-2026.pdf"}),
        (20, "capx", "task.created", {"title": "Approve 100% refund"}),
        (30, "capx", "task.completed", {"title": "ship_it"}),
        (40, "capx", "agent.heartbeat", {}),
        (50, "casmo", "extraction.completed", {"file_name": "contract.docx"}),
        (60, "captain", "indexing.progress", {"progress": 40}),
        (70, "captain", "indexing.failed", {"error": "Access Denied"}),
        (80, "capwatch", "channel.reconnecting", {"error": "read timeout"}),
        (175, "capx", "task.approval_required", {"title": "Pay invoice"}),
    ]
    await record(history, [make_event(n, base + minutes * 60, service=service, event_type=event_type, **data)
                           for n, (minutes, service, event_type, data) in enumerate(plan)])

    async def ids(**filters) -> list[str]:
        return [r.event.id for r in await history.query(Query(**filters))]

    assert await ids() == [f"e{n}" for n in range(10)]
    # --since / --until: since included, until excluded
    assert await ids(since=base + 20 * 60, until=base + 50 * 60) == ["e2", "e3", "e4"]
    assert await ids(since=time.time() - 600) == ["e9"]
    # --service (repeatable)
    assert await ids(services=("capout",)) == ["e0", "e1"]
    assert await ids(services=("casmo", "captain")) == ["e5", "e6", "e7"]
    # --type GLOB: fnmatch, case-sensitive, ?, [...]
    assert await ids(type_glob="task.*") == ["e2", "e3", "e9"]
    assert await ids(type_glob="*.completed") == ["e1", "e3", "e5"]
    assert await ids(type_glob="indexing.[fp]*") == ["e6", "e7"]
    assert await ids(type_glob="task.create?") == ["e2"]
    assert await ids(type_glob="TASK.*") == [] and await ids(type_glob="nothing.*") == []
    # --grep: the JSON line, any case; % and _ are plain characters; short texts too
    assert await ids(grep="invoice-2026") == ["e0", "e1"]
    assert await ids(grep="ACCESS denied") == ["e7"]
    assert await ids(grep="100%") == ["e2"] and await ids(grep="p_i") == ["e3"]
    assert await ids(grep="e8") == ["e8"]  # the id itself
    assert await ids(grep="channel.reconnecting") == ["e8"]  # the type
    assert await ids(grep="zz") == [] and await ids(grep="no such text") == []
    # --limit: the newest N, oldest first
    assert await ids(limit=3) == ["e7", "e8", "e9"]
    # together
    assert await ids(services=("capx",), type_glob="task.*", grep="invoice", since=base, limit=5) == ["e9"]
    assert await ids(services=("capout", "capx"), since=base + 5 * 60, grep="INVOICE") == ["e1", "e9"]
    # scan (what `capwatch history` runs without --limit) pages through the same answer
    pages = [[r.event.id for r in page] async for page in history.scan(Query(services=("capx",)), chunk=2)]
    assert pages == [["e2", "e3"], ["e4", "e9"]]
    # A common text skips the search index and walks by time: the same answer.
    if where.startswith("/"):
        from tui.history import sqlite

        monkeypatch.setattr(sqlite, "DENSE", 1)
        assert await ids(grep="invoice-2026") == ["e0", "e1"]
        assert await ids(grep="INVOICE", since=base + 5 * 60) == ["e1", "e9"]
    await history.close()


async def test_retention_by_age(where):
    history = History(where, max_age=DEFAULT_MAX_AGE, prune_delay=3600)
    now = time.time()
    days = [10, 9, 8, 7.01, 6.9, 3, 1, 0]
    await record(history, [make_event(n, now - d * 86400) for n, d in enumerate(days)])
    assert await history.prune() == 4
    assert [r.event.id for r in await history.query(Query())] == ["e4", "e5", "e6", "e7"]
    await history.close()


async def test_retention_runs_in_the_background(where):
    """The writer prunes by itself, between its batches: no call needed (the delay is shortened here; the
    defaults are checked below)."""
    history = History(where, prune_delay=0.0, prune_interval=0.2)
    now = time.time()
    await record(history, [make_event(n, now - (30 if n < 500 else 0) * 86400) for n in range(1000)])

    async def count() -> int:
        return await history.count()

    counts: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts.append(await count())
        if counts[-1] == 500:
            break
        await asyncio.sleep(0.05)
    assert counts[-1] == 500
    await eventually(lambda: history.pruned == 500, message=lambda: f"pruned {history.pruned}")  # counted after
    history.append(make_event(1000, now - 40 * 86400))  # a late, old one: gone at the next round
    await history.flush(timeout=30)
    await eventually(lambda: history.pruned == 501, message=lambda: f"pruned {history.pruned}")
    await history.close()


def test_the_defaults_fit_a_laptop():
    assert DEFAULT_MAX_AGE == 7 * 86400 and DEFAULT_MAX_BYTES == 1 << 30
    history = History("off")
    assert history.max_age == DEFAULT_MAX_AGE and history.max_bytes == DEFAULT_MAX_BYTES
    assert core.PRUNE_INTERVAL <= 600 and core.PRUNE_DELAY <= 60


async def test_retention_by_size(where):
    history = History(where, max_age=None, max_bytes=None, batch_size=500)
    now = time.time()
    filler = "x" * 900
    await record(history, [make_event(n, now - 10_000 + n, note=filler) for n in range(6000)])
    before = await history.size()
    assert before > 4_000_000, before
    history.max_bytes = 2_000_000
    removed = await history.prune()
    after = await history.size()
    assert after <= 2_000_000 and removed > 2000, (before, after, removed)
    kept = await history.query(Query())
    # The oldest went; the newest stayed, all of them, in order.
    assert [r.event.id for r in kept] == [f"e{n}" for n in range(6000 - len(kept), 6000)]
    if where.startswith("/"):
        assert os.path.getsize(where) < before, "the freed pages went back to the file system"
    await history.close()


async def test_the_file_is_0600_in_a_0700_directory(tmp_path):
    path = tmp_path / "data" / "capwatch" / "history.sqlite3"
    history = History(str(path))
    history.append(make_event(1, time.time()))
    await history.flush(timeout=30)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and mode(wal) == 0o600  # SQLite gives the journal files the database's mode
    await history.close()
    # An existing file and capwatch's own directory, too open, are tightened; a shared directory is left alone.
    os.chmod(path, 0o644)
    os.chmod(path.parent, 0o755)
    history = History(str(path))
    history.append(make_event(2, time.time()))
    await history.flush(timeout=30)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    await history.close()
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    history = History(str(shared / "h.sqlite3"))
    history.append(make_event(3, time.time()))
    await history.flush(timeout=30)
    assert mode(shared) == 0o755 and mode(shared / "h.sqlite3") == 0o600
    await history.close()


async def test_off_records_nothing_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    history = History("off")
    for n in range(100):
        history.append(make_event(n, time.time()))
    await history.flush(timeout=1)
    assert await history.query(Query()) == [] and await history.tail_after(0) == []
    assert [page async for page in history.scan(Query())] == []
    assert history.status()["state"] == "off" and history.status()["appended"] == 0
    await history.close()
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()
    assert history._thread is None  # no writer was ever started


async def test_the_writer_never_blocks_the_event_loop(where):
    """100,000 events appended at once, then written while the loop keeps ticking: every tick on time."""
    history = History(where)
    now = time.time()
    events = [make_event(n, now, note="a payload of an ordinary size " * 4) for n in range(100_000)]
    # What an append costs the loop, against what it is meant to cost (a deque append, `baseline`), in the same run:
    # chunks of 1,000 events each way, alternating, so that both meet the same load, the same writer thread (started
    # by the first append) taking its turns at the GIL, the same heap. Absolute times are not: in full-suite runs on
    # this 2-core machine 100,000 appends took up to 2.07 s of wall time and 0.65 s of the loop thread's CPU, for
    # 0.04 to 0.2 s alone. The typical chunk's ratio was 2.5 alone and with two processes spinning.
    queue: deque = deque()

    def baseline(event: Event, origin: str = "stream") -> None:
        queue.append((0, event, origin))

    ratios = []
    for number, start in enumerate(range(0, len(events), 1000)):
        chunk, took = events[start:start + 1000], {}
        for append in (baseline, history.append) if number % 2 else (history.append, baseline):
            started = time.perf_counter()
            for event in chunk:
                append(event)
            took[append] = time.perf_counter() - started
        ratios.append(took[history.append] / took[baseline])
    ratio = statistics.median(ratios)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            moment = time.perf_counter()
            gaps.append(moment - last)
            last = moment

    ticking = asyncio.create_task(ticker())
    writing_started = time.perf_counter()
    await history.flush(timeout=120)
    writing = time.perf_counter() - writing_started
    ticking.cancel()
    await history.close()  # before any assertion: a writer left running would retry for the rest of the session
    assert history.status()["written"] == 100_000
    assert writing > 0.3, f"the write took only {writing:.2f} s: too short to show anything"
    assert ratio < 8, f"an append costs {ratio:.1f} deque appends (the typical chunk of 1,000 of {len(ratios)})"
    # Written on the loop, 100,000 events would stall it for seconds. Off it, the loop ticks on time: a typical
    # tick within a few ms of its 5, and no stall beyond what a busy 2-core machine's scheduler adds anyway.
    worst, typical = max(gaps), sorted(gaps)[len(gaps) // 2]
    assert typical < 0.02 and worst < 0.25, \
        f"ticks: typical {typical * 1000:.0f} ms, worst {worst * 1000:.0f} ms while the history wrote ({len(gaps)})"


async def test_a_batch_whose_commit_was_in_doubt_is_not_written_twice(where, monkeypatch):
    """The connection breaks after the commit, before the answer: the writer asks how far it got, and goes on
    from there."""
    failures = {"left": 1}
    original = core.open_backend

    def flaky(setting, *, create):
        backend = original(setting, create=create)
        write = backend.write

        async def write_then_fail(*args, **kwargs):
            result = await write(*args, **kwargs)
            if failures["left"]:
                failures["left"] -= 1
                raise ConnectionResetError("connection lost after the commit")
            return result

        backend.write = write_then_fail
        return backend

    monkeypatch.setattr(core, "open_backend", flaky)
    history = History(where, batch_size=100)
    now = time.time()
    await record(history, [make_event(n, now) for n in range(1000)])
    records = await history.tail_after(0, limit=5000)
    assert failures["left"] == 0
    assert [r.event.id for r in records] == [f"e{n}" for n in range(1000)]
    await history.close()


async def test_follow_sees_what_another_process_writes(where):
    """Team mode's catch-up: a follower gets every record a writer (another History) commits, once, in order."""
    writer, reader = History(where), History(where)
    writer.append(make_event(0, time.time()))
    await writer.flush(timeout=30)
    seen: list[str] = []

    async def follow() -> None:
        async for records in reader.follow(0):
            seen.extend(r.event.id for r in records)

    following = asyncio.create_task(follow())
    await eventually(lambda: seen == ["e0"])
    for n in range(1, 501):
        writer.append(make_event(n, time.time()))
        if n % 100 == 0:
            await asyncio.sleep(0.05)
    await writer.flush(timeout=30)
    await eventually(lambda: len(seen) >= 501, message=lambda: f"saw {len(seen)}")
    assert seen == [f"e{n}" for n in range(501)]
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await writer.close()
    await reader.close()


def test_secrets_given_to_the_history_are_masked_if_ever_in_an_event(tmp_path):
    async def main():
        history = History(str(tmp_path / "h.sqlite3"), secrets=["capx_sk_live_0123456789", "", "abc"])
        history.append(make_event(1, time.time(), leaked="Bearer capx_sk_live_0123456789"))
        await history.flush(timeout=30)
        (record_,) = await history.query(Query())
        await history.close()
        return record_

    record_ = asyncio.run(main())
    assert record_.event.data["leaked"] == "Bearer ••••6789"
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"capx_sk_live_0123456789" not in raw


async def test_hostile_text_never_jams_the_writer(where):
    """A payload may carry what no database column takes (a lone surrogate survives json.loads; PostgreSQL refuses
    NUL): such an event is written escaped, and the events after it are written too."""
    history = History(where)
    now = time.time()
    history.append(Event(time=now, service="capx", type="task.created", id="t\x00\ud800", kind="tasks",
                         data={"title": "lone \ud800 surrogate", "nul": "a\x00b", "ok": "✓"}, patch={"x": "\udfff"}))
    history.append(make_event(1, now))
    await history.flush(timeout=30)
    hostile, after = await history.tail_after(0)
    assert hostile.event.data == {"title": "lone \ud800 surrogate", "nul": "a\x00b", "ok": "✓"}
    assert hostile.event.patch == {"x": "\udfff"} and hostile.event.id == "t?"
    assert after.event.id == "e1" and history.state == "live"
    await history.close()


async def test_the_search_index_is_written_per_batch_and_an_older_files_trigger_goes(tmp_path):
    """The writer indexes each batch for `--grep` in the batch's transaction (one statement, not a trigger per row:
    ~25 us a row instead of ~110). A file made by an earlier writer, which indexed by an AFTER INSERT trigger,
    loses that trigger when a writer opens it: each row is in the index once, old and new rows are found, and
    pruning still takes them out of it."""
    import sqlite3

    from tui.history.sqlite import trigram_match

    path = tmp_path / "history.sqlite3"
    now = time.time()
    history = History(str(path), max_age=None, max_bytes=None)
    await record(history, [make_event(0, now - 2 * 86400)])
    await history.close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript("""
        CREATE TRIGGER capwatch_search_insert AFTER INSERT ON capwatch_events BEGIN
            INSERT INTO capwatch_search (rowid, body)
            VALUES (new.seq, (new.service || ' ' || new.type || ' ' || new.entity_id || ' ' || new.data));
        END;""")
    connection.execute("INSERT INTO capwatch_events (time, received, service, type, entity_id, kind, origin, data) "
                       "SELECT time, received, service, type, 'e1', kind, origin, replace(data, 'e0', 'e1') "
                       "FROM capwatch_events")
    connection.close()

    history = History(str(path), max_age=86400.0, max_bytes=None)
    await record(history, [make_event(n, now) for n in range(2, 5)])
    connection = sqlite3.connect(path, isolation_level=None)
    search = "SELECT rowid FROM capwatch_search WHERE capwatch_search MATCH ? ORDER BY rowid"
    indexed = [row[0] for row in connection.execute(search, (trigram_match("awaiting"),))]
    assert indexed == [1, 2, 3, 4, 5]
    triggers = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert triggers == {"capwatch_search_delete"}
    for n in range(5):
        assert [r.event.id for r in await history.query(Query(grep=f" e{n} "))] == [f"e{n}"]
    assert await history.prune() == 2  # e0 and e1, two days old
    assert [row[0] for row in connection.execute(search, (trigram_match("awaiting"),))] == [3, 4, 5]
    connection.close()
    await history.close()
