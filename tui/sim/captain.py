"""Simulated Captain: databases of indexed files, S3/GCS indexing jobs and natural-language queries.

The world: databases scoped by (environment, name), each holding files made of chunks of synthetic text;
indexing jobs that add files one at a time; a query engine that scores files by word overlap with the
question and quotes the best sentence. Auth follows seed 004 endpoint by endpoint: `api_key` and
`organization_id` in the form body, or `Authorization: Bearer` (indexing-status) plus `X-Organization-ID`
(query). The configured key's suffix is also accepted with the other environment prefixes, so that
environment scoping can be exercised: a `cap_prod_` key never sees a development database.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sim.core import VendorSim, iso

ENVIRONMENT_PREFIXES = {"cap_dev_": "development", "cap_stage_": "staging", "cap_prod_": "production"}

# Seed 004's allow-list; anything else (videos above all) fails file by file.
SUPPORTED_EXTENSIONS = frozenset(
    "pdf docx txt md xlsx xls csv json pptx ppt jpg jpeg png bmp gif tiff py ts js html css php java".split()
)

# Jobs advance on their own timer, one file per running job every JOB_STEP_SECONDS, besides tick(): a real
# indexing backend works whatever the rest of the world does, and tests run the world at rate 0. A fixed
# interval keeps the shared random source out of the timer, so `--seed` runs stay comparable.
JOB_STEP_SECONDS = 0.15
MAX_DATABASES_PER_ENVIRONMENT = 1000  # doc: list-databases is limited to 1,000
MAX_FILES_PER_DATABASE = 1000
MAX_FINISHED_JOBS = 500
MAX_REMEMBERED_REPLIES = 1000
MAX_RELEVANT_FILES = 5

DATABASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
WORD = re.compile(r"[^\W_]+")  # letters and digits in any script; `_` splits file names into words
STOPWORDS = frozenset(
    "a an and any are as at be by do does for from has have how i in is it me of on or show that the this "
    "to was what when where which who with find list all about mention mentions mentioning tell".split()
)

# --------------------------------------------------------------------------------------------- vocabulary

COMPANIES = [
    "Acme_Corp", "Beta_Industries", "Northwind_Traders", "Globex", "Initech", "Umbrella_Logistics",
    "Stark_Manufacturing", "Wayne_Shipping", "Hooli", "Vandelay_Imports", "Soylent_Foods", "Tyrell_Systems",
]
MONTHS = ["July", "August", "September", "October", "November", "December"]
POLICY_TOPICS = [
    "Remote_Work", "Travel_Expense", "Data_Retention", "Information_Security", "Procurement",
    "Parental_Leave", "Incident_Response", "Acceptable_Use",
]
STATES = ["Delaware", "New York", "California", "Texas", "Washington", "Illinois"]
SERVICES = [
    "cloud hosting", "payroll processing", "freight logistics", "legal review", "facilities maintenance",
    "data analytics", "security monitoring", "warehouse staffing",
]
ROLES = ["chief financial officer", "head of people", "security team", "legal department", "compliance officer"]

THEMES: dict[str, dict[str, Any]] = {
    "contracts": {
        "code": "CN",
        "names": [
            "{company}_Master_Services_Agreement.pdf", "{company}_Contract.pdf", "{company}_NDA.docx",
            "{company}_Q3_2024.pdf", "{company}_Statement_of_Work.docx", "{company}_Amendment_2.pdf",
        ],
        "sentences": [
            "{party} may terminate this agreement for convenience with {days} days notice.",
            "Section {section} caps liability at the fees paid in the prior {months} months.",
            "Invoices from {party} are payable within {days} days of receipt.",
            "The term renews automatically for {months} months unless either party objects in writing.",
            "This agreement is governed by the laws of {state}.",
            "Confidential information must be protected for {years} years after termination.",
            "{party} provides {service} under contract {code}.",
            "Either party may assign the agreement only with written consent.",
        ],
    },
    "invoices": {
        "code": "INV",
        "names": [
            "Invoice_{company}_{month}.pdf", "{company}_Payment_Schedule.xlsx", "Vendor_Payments_{month}.csv",
            "{company}_Credit_Note.pdf", "Q3_Ledger_{month}.xlsx",
        ],
        "sentences": [
            "Invoice {code} from {party} totals ${amount} for {service}.",
            "Payment terms are net {days} days from the invoice date.",
            "A late fee of {percent} percent applies to balances overdue by {days} days.",
            "{party} issued a credit of ${amount} against purchase order {code}.",
            "The {month} balance with {party} is ${amount}.",
            "Sales tax was charged at {percent} percent in {state}.",
        ],
    },
    "policies": {
        "code": "CASE",
        "names": ["{topic}_Policy.pdf", "{topic}_Policy.md", "{topic}_Guidelines.docx", "{topic}_Handbook.pdf"],
        "sentences": [
            "This policy applies to every employee and contractor.",
            "Requests under this policy must be approved by the {role} within {days} days.",
            "Records are retained for {years} years and then destroyed.",
            "Exceptions are reviewed every {months} months by the {role}.",
            "Violations are reported to the {role} and logged under case {code}.",
            "Expenses above ${amount} need a receipt and a manager's approval.",
        ],
    },
}
THEME_HINTS = {
    "contracts": ("contract", "agreement", "nda", "amendment", "statement"),
    "invoices": ("invoice", "payment", "ledger", "credit", "billing"),
    "policies": ("policy", "policies", "handbook", "guideline", "guidelines"),
}
VIDEOS = ["media/onboarding_video.mp4", "media/site_walkthrough.mov", "media/all_hands_recording.mp4"]
SEED_DATABASES = [
    ("contracts_2024", "contracts", "acme-legal-docs"),
    ("invoices_q3", "invoices", "acme-finance-exports"),
    ("policies", "policies", "acme-hr-handbook"),
]


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def query_terms(text: str) -> list[str]:
    """The words a query is scored on: stop words dropped, unless nothing else is left."""
    every = list(dict.fromkeys(words(text)))
    meaningful = [word for word in every if word not in STOPWORDS]
    return meaningful or every


def extension_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


# --------------------------------------------------------------------------------------------- world


@dataclass
class SimFile:
    file_id: str
    file_name: str
    source_uri: str
    chunks: list[tuple[str, str]]  # (chunk_id, text)
    created_at: str
    updated_at: str
    deleted: bool = False
    terms: frozenset[str] = frozenset()
    name_terms: frozenset[str] = frozenset()

    def index_text(self) -> None:
        self.name_terms = frozenset(words(self.file_name))
        self.terms = self.name_terms | frozenset(word for _, text in self.chunks for word in words(text))

    @property
    def text(self) -> str:
        return " ".join(text for _, text in self.chunks)

    def summary(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_name": self.file_name,
            "source_uri": self.source_uri,
            "chunk_count": len(self.chunks),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "text": self.text,
        }


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


class Refusal(Exception):
    """An error reply in Captain's format, raised from anywhere inside a handler."""

    def __init__(self, status: int, message: str, details: str):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


Handler = Callable[[dict[str, str], str, Request], tuple[int, Any]]


# --------------------------------------------------------------------------------------------- vendor


class CaptainSim(VendorSim):
    name = "captain"
    prefix = "/captain"
    weight = 0.15

    def __init__(self, sim):
        super().__init__(sim)
        options = sim.options
        configured = options.captain_api_key
        self.home_environment = "development"
        suffix = configured
        for prefix, environment in ENVIRONMENT_PREFIXES.items():
            if configured.startswith(prefix):
                self.home_environment, suffix = environment, configured[len(prefix) :]
        # The configured key, plus its suffix under every environment prefix.
        self.keys: dict[str, str] = {prefix + suffix: env for prefix, env in ENVIRONMENT_PREFIXES.items()}
        self.keys[configured] = self.home_environment
        self.databases: dict[tuple[str, str], SimDatabase] = {}
        self.jobs: OrderedDict[str, SimJob] = OrderedDict()
        self.running: dict[str, SimJob] = {}
        # (environment, path, Idempotency-Key) -> (the request's fields, status, body) of the first success
        self.replies: OrderedDict[tuple[str, str, str], tuple[Any, int, Any]] = OrderedDict()
        self._pump: asyncio.Task | None = None
        self._seed_world()

    # ----------------------------------------------------------------------------------------- seeding

    def _seed_world(self) -> None:
        rng = self.sim.rng
        now = time.time()
        for name, theme, bucket in SEED_DATABASES[: rng.choice([2, 3])]:
            created = now - rng.uniform(20, 200) * 86400
            database = SimDatabase(
                self.sim.new_id("db_"), self.sim.label(name), self.home_environment, iso(created),
                request_count=rng.randint(0, 1500),
            )
            self.databases[(database.environment, database.name)] = database
            paths = {f"{theme}/{self._fill_name(rng, theme)}" for _ in range(rng.randint(3, 6))}
            for path in sorted(paths):
                indexed_at = iso(rng.uniform(created, now - 3600))
                self._store_file(database, f"s3://{bucket}/{path}", when=indexed_at)

    @staticmethod
    def _fill_name(rng: random.Random, theme: str) -> str:
        template = rng.choice(THEMES[theme]["names"])
        return template.format(company=rng.choice(COMPANIES), month=rng.choice(MONTHS), topic=rng.choice(POLICY_TOPICS))

    def _bucket_listing(self, scheme: str, bucket: str) -> list[str]:
        """A bucket's objects: documents of every theme plus one video that Captain cannot index.

        The listing is a function of the bucket's name (a bucket's contents do not change between two
        indexing runs), so it draws from its own generator seeded by the name, not from the world's.
        """
        rng = random.Random(f"{scheme}://{bucket}")
        paths: list[str] = []
        size = rng.randint(5, 10)
        while len(paths) < size:
            theme = rng.choice(list(THEMES))
            path = f"{theme}/{self._fill_name(rng, theme)}"
            if path not in paths:
                paths.append(path)
        paths.insert(rng.randrange(len(paths) + 1), rng.choice(VIDEOS))
        return [f"{scheme}://{bucket}/{path}" for path in paths]

    def _compose_chunks(self, path: str) -> list[tuple[str, str]]:
        """Synthetic text for a file: sentences from its theme's vocabulary, naming what the file is about."""
        rng = self.sim.rng
        name = path.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        lowered = path.lower()
        theme = next(
            (t for t, hints in THEME_HINTS.items() if any(hint in lowered for hint in hints)), None
        ) or rng.choice(list(THEMES))
        vocabulary = THEMES[theme]
        party = next((c for c in COMPANIES if c.lower() in lowered), rng.choice(COMPANIES)).replace("_", " ")
        chunk_count = {"md": 2, "txt": 2, "csv": 3, "json": 2}.get(extension_of(path), 5)
        chunks = []
        for index in range(rng.randint(1, chunk_count)):
            sentences = [f"This is {stem.replace('_', ' ')}."] if index == 0 else []
            for template in rng.sample(vocabulary["sentences"], rng.randint(2, 3)):
                sentences.append(
                    template.format(
                        party=party,
                        days=rng.choice([10, 15, 30, 45, 60, 90]),
                        months=rng.choice([3, 6, 12, 24, 36]),
                        years=rng.choice([2, 3, 5, 7, 10]),
                        amount=f"{rng.randint(200, 95000):,}",
                        percent=rng.choice(["1.5", "2", "5", "7.25", "8.875"]),
                        state=rng.choice(STATES),
                        service=rng.choice(SERVICES),
                        role=rng.choice(ROLES),
                        month=rng.choice(MONTHS),
                        section=f"{rng.randint(2, 18)}.{rng.randint(1, 9)}",
                        code=f"{vocabulary['code']}-{rng.randint(10000, 99999)}",
                    )
                )
            chunks.append((self.sim.new_id("chunk_"), " ".join(sentences)))
        return chunks

    def _file_id(self) -> str:
        """A UUIDv7-shaped id, as in the doc's examples: millisecond time, then random bits."""
        millis = int(time.time() * 1000) & ((1 << 48) - 1)
        rand = self.sim.rng.getrandbits(74)
        value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
        return str(uuid.UUID(int=value))

    def _store_file(self, database: SimDatabase, source_uri: str, *, when: str | None = None) -> SimFile:
        """Index one object: replace the live file of that URI (keeping its id), or add a new one."""
        when = when or iso()
        chunks = self._compose_chunks(source_uri.split("://", 1)[-1])
        existing = next((f for f in database.files.values() if f.source_uri == source_uri and not f.deleted), None)
        if existing is not None:
            existing.chunks, existing.updated_at = chunks, when
            existing.index_text()
            return existing
        name = self.sim.label(source_uri.rsplit("/", 1)[-1])
        stored = SimFile(self._file_id(), name, source_uri, chunks, when, when)
        stored.index_text()
        database.files[stored.file_id] = stored
        if len(database.files) > MAX_FILES_PER_DATABASE:  # evict the oldest deleted file, else the oldest
            victim = next((f.file_id for f in database.files.values() if f.deleted), next(iter(database.files)))
            del database.files[victim]
        return stored

    # ----------------------------------------------------------------------------------------- jobs

    def _start_job(self, environment: str, database: SimDatabase, kind: str, job_id: str, job_name: str,
                   uris: list[str], *, credentials_ok: bool = True) -> SimJob:
        job = SimJob(job_id, job_name, environment, database, kind, deque(uris), len(uris), credentials_ok)
        self.jobs[job_id] = job
        self.running[job_id] = job
        while len(self.jobs) - len(self.running) > MAX_FINISHED_JOBS:
            oldest = next(j for j in self.jobs if j not in self.running)
            del self.jobs[oldest]
        return job

    def _finish(self, job: SimJob, status: str, error: str | None = None) -> None:
        job.status, job.error, job.updated_at = status, error, iso()
        self.running.pop(job.job_id, None)

    def _advance(self, job: SimJob) -> None:
        """Index (or fail) the job's next file; finish it when none is left."""
        if job.status != "processing":
            return
        if not job.credentials_ok:
            self._finish(job, "error", "AWS credentials invalid")
            return
        if self.databases.get((job.environment, job.database.name)) is not job.database:
            self._finish(job, "error", "Database was deleted")
            return
        if job.pending:
            uri = job.pending.popleft()
            if extension_of(uri) in SUPPORTED_EXTENSIONS:
                self._store_file(job.database, uri)
                job.indexed += 1
            else:
                job.failed += 1
            job.updated_at = iso()
        if not job.pending:
            if job.total and not job.indexed:
                self._finish(job, "failed", "No supported file could be indexed")
            else:
                self._finish(job, "completed")

    async def _run_jobs(self) -> None:
        while True:
            await asyncio.sleep(JOB_STEP_SECONDS)
            if not self.sim.paused:
                for job in list(self.running.values()):
                    self._advance(job)

    async def start(self) -> None:
        self._pump = asyncio.create_task(self._run_jobs(), name="captain-jobs")

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    def tick(self, count: int) -> None:
        """Each unit: a running job indexes one more file, or someone queries a database; rarely, when no
        job runs, a background re-index of one file starts (so the demo shows jobs)."""
        rng = self.sim.rng
        databases = list(self.databases.values())
        for _ in range(count):
            roll = rng.random()
            if self.running and roll < 0.6:
                self._advance(rng.choice(list(self.running.values())))
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
            self._start_job(database.environment, database, "file", job_id, f"sync_{database.name}",
                            [target.source_uri])

    # ----------------------------------------------------------------------------------------- plumbing

    def routes(self) -> list[BaseRoute]:
        return [
            self._route("/v1/create-database", self.create_database, auth="form", replayable=True),
            self._route("/v1/delete-database", self.delete_database, auth="form", replayable=True),
            self._route("/v1/list-databases", self.list_databases, auth="form"),
            self._route("/v1/list-files", self.list_files, auth="form"),
            self._route("/v1/delete-file", self.delete_file, auth="form", replayable=True),
            self._route("/v1/index-s3", self.index_s3, auth="form", replayable=True),
            self._route("/v1/index-s3-file", self.index_s3_file, auth="form", replayable=True),
            self._route("/v1/index-gcs", self.index_gcs, auth="form", replayable=True),
            self._route("/v1/index-gcs-file", self.index_gcs_file, auth="form", replayable=True),
            self._route("/v1/indexing-status/{job_id}", self.indexing_status, auth="bearer", method="GET"),
            self._route("/v1/query", self.query, auth="bearer+organization", replayable=True),
        ]

    def error(self, status: int, code: str, message: str) -> Response:
        details = "Contact support if this persists" if status >= 500 else code
        return self._fail(status, message, details)

    @staticmethod
    def _fail(status: int, message: str, details: str) -> JSONResponse:
        return JSONResponse({"status": "error", "message": message, "details": details}, status_code=status)

    def _route(self, path: str, handler: Handler, *, auth: str, replayable: bool = False,
               method: str = "POST") -> Route:
        """Wrap a handler with auth, Captain's error format and Idempotency-Key replay.

        A replayable endpoint answers a repeated Idempotency-Key (per environment) with its first successful
        reply, without running again; the doc promises this for queries, and our client sends a key with
        every mutation too. The same key with different fields is refused (400), as Stripe-style APIs do.
        """

        async def endpoint(request: Request) -> Response:
            try:
                fields: dict[str, str] = {}
                if method == "POST":
                    form = await request.form()
                    fields = {key: value for key, value in form.items() if isinstance(value, str)}
                environment = self._authenticate(request, fields, auth)
                replay_key = None
                fingerprint = tuple(sorted(fields.items()))
                if replayable and request.headers.get("idempotency-key"):
                    replay_key = (environment, path, request.headers["idempotency-key"])
                    if replay_key in self.replies:
                        remembered, status, body = self.replies[replay_key]
                        if remembered != fingerprint:
                            raise Refusal(400, "Idempotency-Key reuse",
                                          "This Idempotency-Key was already used with different parameters")
                        return JSONResponse(body, status_code=status)
                status, body = handler(fields, environment, request)
            except Refusal as refusal:
                return self._fail(refusal.status, refusal.message, refusal.details)
            if replay_key is not None:
                self.replies[replay_key] = (fingerprint, status, body)
                while len(self.replies) > MAX_REMEMBERED_REPLIES:
                    self.replies.popitem(last=False)
            return JSONResponse(body, status_code=status)

        return Route(path, endpoint, methods=[method])

    def _authenticate(self, request: Request, fields: dict[str, str], auth: str) -> str:
        """The environment of the caller's key; 401 for an unknown key or another organization."""
        if auth == "form":
            key, organization = fields.get("api_key"), fields.get("organization_id")
        else:
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            key = key.strip() if scheme.lower() == "bearer" else None
            organization = request.headers.get("x-organization-id") if auth == "bearer+organization" else None
        environment = self.keys.get(key or "")
        if environment is None:
            raise Refusal(401, "Unauthorized", "Invalid or missing API key")
        if auth != "bearer" and organization != self.sim.options.captain_organization_id:
            raise Refusal(401, "Unauthorized", "The API key does not belong to this organization")
        return environment

    @staticmethod
    def _require(fields: dict[str, str], *names: str) -> list[str]:
        missing = [name for name in names if not fields.get(name, "").strip()]
        if missing:
            raise Refusal(400, "Missing required parameter", f"Required: {', '.join(missing)}")
        return [fields[name] for name in names]

    def _database(self, environment: str, name: str) -> SimDatabase:
        database = self.databases.get((environment, name))
        if database is None:
            raise Refusal(404, "Database not found", f"No database named '{name}' in the {environment} environment")
        return database

    # ----------------------------------------------------------------------------------------- databases

    def create_database(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        (name,) = self._require(fields, "database_name")
        if not DATABASE_NAME.match(name):
            raise Refusal(400, "Invalid database name",
                          "Use letters, digits, '_' and '-' only, at most 64 characters, no spaces")
        if (environment, name) in self.databases:
            raise Refusal(400, "Database already exists",
                          f"A database named '{name}' already exists in the {environment} environment")
        if sum(1 for env, _ in self.databases if env == environment) >= MAX_DATABASES_PER_ENVIRONMENT:
            raise Refusal(400, "Database limit reached", "Contact support@runcaptain.com for a higher limit")
        database = SimDatabase(self.sim.new_id("db_"), name, environment, iso())
        self.databases[(environment, name)] = database
        return 200, {
            "database_name": name,
            "database_id": database.database_id,
            "status": "success",
            "message": "Database created successfully",
        }

    def delete_database(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        (name,) = self._require(fields, "database_name")
        self._database(environment, name)
        del self.databases[(environment, name)]  # its files go with it; its running jobs end in error
        return 200, {"status": "success", "message": "Database deleted successfully", "database_name": name}

    def list_databases(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        visible = [d.describe() for (env, _), d in self.databases.items() if env == environment]
        return 200, visible[:MAX_DATABASES_PER_ENVIRONMENT]

    # ----------------------------------------------------------------------------------------- files

    def list_files(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        (name,) = self._require(fields, "database_name")
        try:
            limit = int(fields.get("limit") or 100)
            offset = int(fields.get("offset") or 0)
        except ValueError:
            raise Refusal(400, "Invalid pagination", "limit and offset must be integers") from None
        if limit < 1 or offset < 0:
            raise Refusal(400, "Invalid pagination", "limit must be at least 1 and offset at least 0")
        database = self._database(environment, name)
        rows = []
        for stored in sorted(database.live_files(), key=lambda f: (f.file_name, f.file_id)):
            for index, (chunk_id, _) in enumerate(stored.chunks):
                rows.append({
                    "file_id": stored.file_id,
                    "file_name": stored.file_name,
                    "chunk_id": chunk_id,
                    "chunk_index": index,
                    "created_at": stored.created_at,
                    "updated_at": stored.updated_at,
                })
        return 200, rows[offset : offset + limit]

    def delete_file(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        name, file_id = self._require(fields, "database_name", "file_id")
        database = self._database(environment, name)
        stored = database.files.get(file_id)
        if stored is None or stored.deleted:
            raise Refusal(404, "File not found", f"No file '{file_id}' in database '{name}'")
        stored.deleted, stored.updated_at = True, iso()  # a soft delete: the data stays, hidden
        return 200, {"status": "success", "message": "File deleted successfully", "database_name": name,
                     "file_id": file_id}

    # ----------------------------------------------------------------------------------------- indexing

    S3_FIELDS = ("database_name", "bucket_name", "aws_access_key_id", "aws_secret_access_key", "bucket_region")
    GCS_FIELDS = ("database_name", "bucket_name", "service_account_json")

    def _check_s3(self, fields: dict[str, str]) -> bool:
        """Validate the S3 fields; True when the credentials look usable. Like the real service, bad
        credentials are only found once the job runs (it ends in `error`)."""
        self._require(fields, *self.S3_FIELDS)
        if not AWS_REGION.match(fields["bucket_region"]):
            raise Refusal(400, "Invalid bucket region", f"'{fields['bucket_region']}' is not an AWS region")
        secret = unquote(fields["aws_secret_access_key"])  # the caller URL-encoded it (doc), the form was decoded
        return fields["aws_access_key_id"].startswith(("AKIA", "ASIA")) and len(secret) >= 8

    def _check_gcs(self, fields: dict[str, str]) -> None:
        self._require(fields, *self.GCS_FIELDS)
        required = ("type", "project_id", "private_key")
        try:
            account = json.loads(fields["service_account_json"])
        except ValueError:
            account = None
        missing = [key for key in required if not (isinstance(account, dict) and account.get(key))]
        if missing:
            raise Refusal(400, "Invalid service account JSON", f"Missing required fields: {', '.join(missing)}")

    def _check_uri(self, fields: dict[str, str], scheme: str) -> str:
        """The object path of `file_uri`, which must be `<scheme>://<bucket_name>/<path>` of a supported type."""
        (uri,) = self._require(fields, "file_uri")
        label = "S3" if scheme == "s3" else "GCS"
        prefix = f"{scheme}://"
        bucket, _, path = uri[len(prefix) :].partition("/")
        if not uri.startswith(prefix) or not bucket or not path or path.endswith("/"):
            raise Refusal(400, f"Invalid {label} URI format",
                          f"{label} URI must start with '{prefix}' and include bucket and file path")
        if bucket != fields["bucket_name"]:
            raise Refusal(400, f"Invalid {label} URI format",
                          f"The bucket in the URI ('{bucket}') must match bucket_name ('{fields['bucket_name']}')")
        if extension_of(path) not in SUPPORTED_EXTENSIONS:
            raise Refusal(400, "Unsupported file type detected", f"File '{path.rsplit('/', 1)[-1]}' is not supported")
        return path

    def _index_bucket(self, environment: str, fields: dict[str, str], scheme: str, job_id: str,
                      credentials_ok: bool) -> SimJob:
        """Wipe the database (doc), stop older bucket jobs on it, and start indexing the bucket."""
        database = self._database(environment, fields["database_name"])
        for job in list(self.running.values()):
            if job.database is database and job.kind == "bucket":
                self._finish(job, "failed", "Superseded by a newer bucket indexing job")
        database.files.clear()
        uris = self._bucket_listing(scheme, fields["bucket_name"])
        return self._start_job(environment, database, "bucket", job_id, f"index_{database.name}", uris,
                               credentials_ok=credentials_ok)

    def _index_file(self, environment: str, fields: dict[str, str], job_id: str, path: str,
                    credentials_ok: bool) -> SimJob:
        database = self._database(environment, fields["database_name"])
        name = path.rsplit("/", 1)[-1]
        return self._start_job(environment, database, "file", job_id, f"index_{database.name}_{name}",
                               [fields["file_uri"]], credentials_ok=credentials_ok)

    @staticmethod
    def _started(job: SimJob, message: str) -> tuple[int, Any]:
        return 200, {"job_id": job.job_id, "status": "processing", "message": message, "timestamp": job.started_at}

    def index_s3(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        credentials_ok = self._check_s3(fields)
        job = self._index_bucket(environment, fields, "s3", self.sim.new_id("job_"), credentials_ok)
        return self._started(job, "Indexing job started successfully")

    def index_s3_file(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        credentials_ok = self._check_s3(fields)
        path = self._check_uri(fields, "s3")
        job = self._index_file(environment, fields, self.sim.new_id("job_"), path, credentials_ok)
        return self._started(job, "Indexing job started successfully")

    def index_gcs(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        self._check_gcs(fields)
        job = self._index_bucket(environment, fields, "gs", self.sim.new_id("job_gcs_"), True)
        return self._started(job, f"Indexing job started for GCS bucket '{fields['bucket_name']}'")

    def index_gcs_file(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        self._check_gcs(fields)
        path = self._check_uri(fields, "gs")
        job = self._index_file(environment, fields, self.sim.new_id("job_gcs_file_"), path, True)
        return self._started(job, f"Single file indexing job started for GCS file '{path}'")

    def indexing_status(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        job_id = request.path_params["job_id"]
        job = self.jobs.get(job_id)
        if job is None or job.environment != environment:
            raise Refusal(404, "Job not found", f"No indexing job '{job_id}' in the {environment} environment")
        return 200, job.status_body()

    # ----------------------------------------------------------------------------------------- query

    def query(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        encoded, name = self._require(fields, "query", "database_name")
        question = unquote(encoded)  # the caller URL-encoded it before the form encoding (doc)
        include_files = fields.get("include_files", "false").strip().lower() in ("true", "1", "yes")
        database = self._database(environment, name)
        database.request_count += 1
        files = database.live_files()
        terms = query_terms(question)
        scored = sorted(
            ((self._score(f, terms), f) for f in files),
            key=lambda pair: (-pair[0], pair[1].file_name),
        )
        matches = [(score, f) for score, f in scored if score > 0][:MAX_RELEVANT_FILES]
        body: dict[str, Any] = {
            "status": "success",
            "response": self._answer(database, files, matches, terms),
        }
        if include_files:
            body["relevant_files"] = [
                {"file_name": f.file_name, "relevancy_score": score, "file_type": extension_of(f.source_uri),
                 "file_id": f.file_id}
                for score, f in matches
            ]
        token_count = sum(len(words(f.text)) for f in files) * 4 // 3 + len(words(question))
        body.update({
            "query": question,
            "database_name": database.name,
            "processing_metrics": {
                "total_files_processed": len(files),
                "total_tokens": token_count,
                # modelled, not measured: the simulator answers in microseconds, a real query takes seconds
                "execution_time_ms": 180 + 35 * len(files) + self.sim.rng.randint(0, 400),
            },
        })
        return 200, body

    @staticmethod
    def _score(stored: SimFile, terms: list[str]) -> float:
        """Share of the query's words found in the file, words in its name counting half again."""
        if not terms:
            return 0.0
        hits = sum(1.0 + (0.5 if term in stored.name_terms else 0.0) for term in terms if term in stored.terms)
        return round(min(1.0, hits / (1.5 * len(terms))), 2) if hits else 0.0

    @staticmethod
    def _answer(database: SimDatabase, files: list[SimFile], matches: list[tuple[float, SimFile]],
                terms: list[str]) -> str:
        if not files:
            return f"Nothing is indexed in the database '{database.name}' yet, so there is nothing to answer from."
        if not matches:
            asked = ", ".join(f"'{t}'" for t in terms[:5]) or "that"
            return f"None of the {len(files)} indexed files in '{database.name}' mention {asked}."
        best = matches[0][1]
        sentences = re.split(r"(?<=[.!?])\s+", best.text)
        quote = max(sentences, key=lambda s: sum(1 for word in set(words(s)) if word in terms))
        names = ", ".join(f.file_name for _, f in matches[:3])
        return (
            f"Based on {len(matches)} of the {len(files)} indexed files in '{database.name}', the most relevant "
            f"{'is' if len(matches) == 1 else 'are'} {names}. {best.file_name} says: \"{quote}\""
        )

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
