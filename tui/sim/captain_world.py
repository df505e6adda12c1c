"""The simulated Captain's world: databases scoped by (environment, name), each holding files made of chunks of
synthetic text (tui/sim/captain_text.py), and indexing jobs that add files one at a time. The HTTP face of it,
with auth, validation and Captain's error format, is tui/sim/captain.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from tui.sim.captain_text import SimFile, bucket_listing, compose_chunks, extension_of, fill_name
from tui.sim.core import iso

# Seed 004's allow-list; anything else (videos above all) fails file by file.
SUPPORTED_EXTENSIONS = frozenset(
    "pdf docx txt md xlsx xls csv json pptx ppt jpg jpeg png bmp gif tiff py ts js html css php java".split()
)

# Jobs advance on their own timer, one file per running job every JOB_STEP_SECONDS, besides tick(): a real
# indexing backend works whatever the rest of the world does, and tests run the world at rate 0. A fixed
# interval keeps the shared random source out of the timer, so `--seed` runs stay comparable.
JOB_STEP_SECONDS = 0.15
MAX_FILES_PER_DATABASE = 1000
MAX_FINISHED_JOBS = 500
SEED_DATABASES = [
    ("contracts_2024", "contracts", "acme-legal-docs"),
    ("invoices_q3", "invoices", "acme-finance-exports"),
    ("policies", "policies", "acme-hr-handbook"),
]


@dataclass
class SimDatabase:
    database_id: str
    name: str
    environment: str
    created_at: str
    request_count: int = 0
    files: dict[str, SimFile] = field(default_factory=dict)  # file_id -> file, oldest first

    def live_files(self) -> list[SimFile]:
        return [f for f in self.files.values() if not f.deleted]

    def describe(self) -> dict[str, Any]:
        return {
            "database_id": self.database_id,
            "database_name": self.name,
            "environment": self.environment,
            "is_active": True,
            "created_at": self.created_at,
            "request_count": self.request_count,
        }


@dataclass
class SimJob:
    job_id: str
    job_name: str
    environment: str
    database: SimDatabase
    kind: str  # "bucket" or "file"
    pending: deque[str]  # source URIs still to index
    total: int
    credentials_ok: bool = True
    indexed: int = 0
    failed: int = 0
    status: str = "processing"
    error: str | None = None
    started_at: str = field(default_factory=iso)
    updated_at: str = field(default_factory=iso)

    def status_body(self) -> dict[str, Any]:
        """The indexing-status reply, shaped like the doc's three examples."""
        body: dict[str, Any] = {"job_id": self.job_id, "status": self.status, "completed": self.status != "processing"}
        if self.status == "error":  # the doc's error example carries no job details
            return {**body, "error": self.error, "timestamp": self.updated_at}
        body["active_file_processing_workers"] = min(8, len(self.pending)) if self.status == "processing" else 0
        body["timestamp"] = self.updated_at
        body["job_details"] = {
            "job_name": self.job_name,
            "total_files": self.total,
            "indexed_files": self.indexed,
            "failed_files": self.failed,
        }
        if self.error:
            body["error"] = self.error
        return body


class CaptainWorld:
    """Every environment's databases and the indexing jobs, seeded for the home environment (the configured
    key's)."""

    def __init__(self, sim, home_environment: str):
        self.sim = sim
        self.home_environment = home_environment
        self.databases: dict[tuple[str, str], SimDatabase] = {}
        self.jobs: OrderedDict[str, SimJob] = OrderedDict()
        self.running: dict[str, SimJob] = {}
        self._seed()

    def _seed(self) -> None:
        rng = self.sim.rng
        now = time.time()
        for name, theme, bucket in SEED_DATABASES[: rng.choice([2, 3])]:
            created = now - rng.uniform(20, 200) * 86400
            database = SimDatabase(
                self.sim.new_id("db_"), self.sim.label(name), self.home_environment, iso(created),
                request_count=rng.randint(0, 1500),
            )
            self.databases[(database.environment, database.name)] = database
            paths = {f"{theme}/{fill_name(rng, theme)}" for _ in range(rng.randint(3, 6))}
            for path in sorted(paths):
                indexed_at = iso(rng.uniform(created, now - 3600))
                self.store_file(database, f"s3://{bucket}/{path}", when=indexed_at)

    # ----------------------------------------------------------------------------------------- files

    def file_id(self) -> str:
        """A UUIDv7-shaped id, as in the doc's examples: millisecond time, then random bits."""
        millis = int(time.time() * 1000) & ((1 << 48) - 1)
        rand = self.sim.rng.getrandbits(74)
        value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
        return str(uuid.UUID(int=value))

    def store_file(self, database: SimDatabase, source_uri: str, *, when: str | None = None) -> SimFile:
        """Index one object: replace the live file of that URI (keeping its id), or add a new one."""
        when = when or iso()
        chunks = compose_chunks(self.sim.rng, self.sim.new_id, source_uri.split("://", 1)[-1])
        existing = next((f for f in database.files.values() if f.source_uri == source_uri and not f.deleted), None)
        if existing is not None:
            existing.chunks, existing.updated_at = chunks, when
            existing.index_text()
            return existing
        name = self.sim.label(source_uri.rsplit("/", 1)[-1])
        stored = SimFile(self.file_id(), name, source_uri, chunks, when, when)
        stored.index_text()
        database.files[stored.file_id] = stored
        if len(database.files) > MAX_FILES_PER_DATABASE:  # evict the oldest deleted file, else the oldest
            victim = next((f.file_id for f in database.files.values() if f.deleted), next(iter(database.files)))
            del database.files[victim]
        return stored

    # ----------------------------------------------------------------------------------------- jobs

    def index_bucket(self, environment: str, database: SimDatabase, scheme: str, bucket: str, job_id: str,
                     credentials_ok: bool) -> SimJob:
        """Wipe the database (doc), stop older bucket jobs on it, and start indexing the bucket."""
        for job in list(self.running.values()):
            if job.database is database and job.kind == "bucket":
                self.finish(job, "failed", "Superseded by a newer bucket indexing job")
        database.files.clear()
        uris = bucket_listing(scheme, bucket)
        return self.start_job(environment, database, "bucket", job_id, f"index_{database.name}", uris,
                              credentials_ok=credentials_ok)

    def start_job(self, environment: str, database: SimDatabase, kind: str, job_id: str, job_name: str,
                  uris: list[str], *, credentials_ok: bool = True) -> SimJob:
        job = SimJob(job_id, job_name, environment, database, kind, deque(uris), len(uris), credentials_ok)
        self.jobs[job_id] = job
        self.running[job_id] = job
        while len(self.jobs) - len(self.running) > MAX_FINISHED_JOBS:
            oldest = next(j for j in self.jobs if j not in self.running)
            del self.jobs[oldest]
        return job

    def finish(self, job: SimJob, status: str, error: str | None = None) -> None:
        job.status, job.error, job.updated_at = status, error, iso()
        self.running.pop(job.job_id, None)

    def advance(self, job: SimJob) -> None:
        """Index (or fail) the job's next file; finish it when none is left."""
        if job.status != "processing":
            return
        if not job.credentials_ok:
            self.finish(job, "error", "AWS credentials invalid")
            return
        if self.databases.get((job.environment, job.database.name)) is not job.database:
            self.finish(job, "error", "Database was deleted")
            return
        if job.pending:
            uri = job.pending.popleft()
            if extension_of(uri) in SUPPORTED_EXTENSIONS:
                self.store_file(job.database, uri)
                job.indexed += 1
            else:
                job.failed += 1
            job.updated_at = iso()
        if not job.pending:
            if job.total and not job.indexed:
                self.finish(job, "failed", "No supported file could be indexed")
            else:
                self.finish(job, "completed")

    async def run_jobs(self) -> None:
        while True:
            await asyncio.sleep(JOB_STEP_SECONDS)
            if not self.sim.paused:
                for job in list(self.running.values()):
                    self.advance(job)

    def tick(self, count: int) -> None:
        """Each unit: a running job indexes one more file, or someone queries a database; rarely, when no
        job runs, a background re-index of one file starts (so the demo shows jobs)."""
        rng = self.sim.rng
        databases = list(self.databases.values())
        for _ in range(count):
            roll = rng.random()
            if self.running and roll < 0.6:
                self.advance(rng.choice(list(self.running.values())))
            elif roll < 0.97 or self.running:
                if databases:
                    rng.choice(databases).request_count += 1
            else:
                self._start_reindex(databases)

    def _start_reindex(self, databases: list[SimDatabase]) -> None:
        rng = self.sim.rng
        candidates = [d for d in databases if d.environment == self.home_environment and d.files]
        if not candidates:
            return
        database = rng.choice(candidates)
        live = database.live_files()
        if live:
            target = rng.choice(live)
            job_id = self.sim.new_id("job_")
            self.start_job(database.environment, database, "file", job_id, f"sync_{database.name}",
                           [target.source_uri])

    # ----------------------------------------------------------------------------------------- state

    def snapshot(self) -> dict[str, Any]:
        """The home environment at the top (what the configured key sees), other environments below."""

        def environment_view(environment: str) -> dict[str, Any]:
            chosen = [d for (env, _), d in self.databases.items() if env == environment]
            return {
                "databases": {d.name: d.describe() for d in chosen},
                "files": {d.name: [f.summary() for f in d.live_files()] for d in chosen},
            }

        others = {env for env, _ in self.databases if env != self.home_environment}
        return {
            "environment": self.home_environment,
            **environment_view(self.home_environment),
            "jobs": {
                job.job_id: {**job.status_body(), "environment": job.environment,
                             "database_name": job.database.name, "kind": job.kind}
                for job in self.jobs.values()
            },
            "other_environments": {env: environment_view(env) for env in sorted(others)},
        }
