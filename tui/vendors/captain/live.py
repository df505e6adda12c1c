"""Captain live: Captain has no push channel, so its live view is polling, as the contract says.

Databases (and their files) every 20 s; indexing jobs every 3 s while any runs. Each poll is scheduled when the
previous one finished (Poller), never overlapping. Captain has no "list jobs" endpoint: the jobs we poll are the
ones this client started (`track_job`); when one finishes its database's files are re-read, since bucket
indexing replaces them.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from tui import wall_clock
from tui.live.channel import Poller
from tui.live.events import ChannelState, Event, parse_timestamp
from tui.live.store import Store
from tui.api import ApiError
from tui.vendors.captain.client import CaptainClient, Database, IndexingStatus, group_files
from tui.text import sanitize, sanitize_data

# Captain has nothing but polls to notice a hung server: a hang just after a poll shows at the next one, plus the
# Poller's `answer_within` (5 s), so 20 s keeps that under the 30 s in which no light of a hung server is green.
DATABASES_EVERY = 20.0
JOBS_EVERY = 3.0


def job_row(status: IndexingStatus, started: dict[str, Any] | None = None) -> dict[str, Any]:
    row = sanitize_data(status.model_dump(mode="json"))
    details = row.pop("job_details", None) or {}
    row.update({k: details.get(k) for k in ("job_name", "total_files", "indexed_files", "failed_files")})
    row["progress"] = status.progress
    row["done"] = status.done
    if started:
        row = {**started, **{k: v for k, v in row.items() if v is not None}}
    return row


def eta_seconds(row: dict[str, Any], now: float | None = None) -> float | None:
    """Time left at the rate seen so far: elapsed / progress - elapsed."""
    progress = row.get("progress")
    started = parse_timestamp(row.get("started_at"))
    if not progress or progress >= 1 or started is None:
        return None
    elapsed = (now or wall_clock.now()) - started
    return max(0.0, elapsed / progress - elapsed)


def database_rows(databases: Iterable[Database]) -> dict[str, dict[str, Any]]:
    """A GET /databases listing as the Store's rows, by database name."""
    rows = {}
    for database in databases:
        row = sanitize_data(database.model_dump(mode="json"))
        rows[row.get("database_name") or row.get("database_id")] = row
    return rows


class CaptainDatabases(Poller):
    service = "captain"

    def __init__(self, client: CaptainClient, store: Store, every: float = DATABASES_EVERY):
        super().__init__("captain.databases", store)
        self.client = client
        self.every = every
        self.store.set_state(self.name, ChannelState.CONNECTING)

    def interval(self) -> float:
        return self.every

    async def poll(self) -> None:
        databases = await self.client.list_databases()  # a failure is the Poller's to show and retry
        rows = database_rows(databases)
        known = self.store.rows("databases")
        # A database that is new, or that came back under a new id (the server's data was reset), has its files
        # read again: the files shown are those of the database the server lists now.
        fresh = [name for name, row in rows.items()
                 if name not in known or known[name].get("database_id") != row.get("database_id")]
        previous = set(known)
        now = time.time()
        for name, row in rows.items():  # a database that appeared or changed is an event on the timeline
            before = known.get(name)
            if before is None or any(before.get(k) != v for k, v in row.items()):
                self.store.apply(Event(time=now, service="captain",
                                       type="database.discovered" if before is None else "database.updated",
                                       id=str(name), data=row, kind="databases", patch=row), "poll")
        self.store.replace("databases", rows, origin="poll")
        self.store.note_event(self.name, now)
        self.store.mark_complete("captain.databases")
        for name in fresh:
            await self.refresh_files(name)
        for name in previous - rows.keys():
            self.store.replace("files", {}, where=lambda row, name=name: row.get("database_name") == name,
                               origin="poll")
        self.store.mark_complete("captain.files")

    async def refresh_files(self, database_name: str) -> None:
        chunks = await self.client.list_all_files(database_name)
        rows = {}
        for summary in group_files(chunks):
            row = sanitize_data(summary.model_dump(mode="json"))
            row["database_name"] = database_name
            rows[f"{database_name}/{summary.file_id}"] = row
        self.store.replace("files", rows, where=lambda row: row.get("database_name") == database_name,
                           origin="poll")


class CaptainJobs(Poller):
    """Polls the indexing jobs this client started, every 3 s while any is running."""

    service = "captain"

    def __init__(self, client: CaptainClient, store: Store, databases: CaptainDatabases, every: float = JOBS_EVERY):
        super().__init__("captain.jobs", store)
        self.client = client
        self.databases = databases
        self.every = every

    def running(self) -> list[str]:
        return [job_id for job_id, row in self.store.rows("indexing_jobs").items() if not row.get("done")]

    def interval(self) -> float:
        return self.every if self.running() else 1.0  # idle: only a cheap look at the Store

    def idle(self) -> bool:
        return not self.running()

    def track_job(self, job_id: str, database_name: str, source: str) -> None:
        # The id is sent back to indexing-status as it came, so it is kept raw: one with control characters
        # would reach the screen, and no real job has one, so it is not followed.
        if sanitize(job_id, single_line=True) != job_id:
            self.store.record_error(self.name, f"not following indexing job {sanitize(job_id, single_line=True)!r}:"
                                               " its id has control characters")
            return
        self.store.upsert("indexing_jobs", job_id, {"job_id": job_id, "database_name": database_name,
                                                   "source": source, "status": "processing", "done": False,
                                                   "progress": 0.0, "started_at": _iso_now()}, "action")

    async def poll(self) -> None:
        for job_id in self.running():
            try:
                status = await self.client.indexing_status(job_id)
            except ApiError as error:
                if error.status != 404:
                    raise
                self.forget(job_id, str(error))  # the server no longer knows it (its data was reset): gone
                continue
            started = self.store.get("indexing_jobs", job_id) or {}
            row = job_row(status, started)
            changed = {k: v for k, v in row.items() if started.get(k) != v}
            if not changed:
                continue
            now = time.time()
            if status.done:
                row["finished_at"] = _iso_now()
            self.store.note_event(self.name, now)
            self.store.apply(Event(time=parse_timestamp(status.timestamp) or now, service="captain",
                                   type="indexing.completed" if status.done else "indexing.progress",
                                   id=job_id, data=sanitize_data(status.model_dump(mode="json")),
                                   kind="indexing_jobs", patch=row, received=now), "poll")
            if status.done and row.get("database_name"):
                await self.databases.refresh_files(row["database_name"])
        self.store.mark_complete("captain.jobs")

    def forget(self, job_id: str, reason: str) -> None:
        """A job the server answers 404 for is gone: its row goes, an event says so."""
        row = self.store.get("indexing_jobs", job_id) or {}
        self.store.apply(Event(time=time.time(), service="captain", type="indexing.gone", id=job_id,
                               data={"job_id": job_id, "database_name": row.get("database_name"), "error": reason}),
                         "poll")
        self.store.remove("indexing_jobs", job_id, "poll")


def _iso_now() -> str:
    from tui.live.events import iso_utc

    return iso_utc(time.time())
