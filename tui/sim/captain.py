"""Simulated Captain, its HTTP face: the endpoints of seed 004 with their validation, auth, Captain's error format
and Idempotency-Key replay, over the world of tui/sim/captain_world.py (databases of indexed files, S3/GCS
indexing jobs) and the text of tui/sim/captain_text.py (the files' synthetic text, query scoring and answers).

Auth follows seed 004 endpoint by endpoint: `api_key` and `organization_id` in the form body, or
`Authorization: Bearer` (indexing-status) plus `X-Organization-ID` (query). The configured key's suffix is also
accepted with the other environment prefixes, so that environment scoping can be exercised: a `cap_prod_` key
never sees a development database.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from typing import Any, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sim.captain_text import answer, extension_of, query_terms, relevant_files, words
from tui.sim.captain_world import SUPPORTED_EXTENSIONS, CaptainWorld, SimDatabase, SimJob
from tui.sim.core import VendorSim, iso

ENVIRONMENT_PREFIXES = {"cap_dev_": "development", "cap_stage_": "staging", "cap_prod_": "production"}
MAX_DATABASES_PER_ENVIRONMENT = 1000  # doc: list-databases is limited to 1,000
MAX_REMEMBERED_REPLIES = 1000

DATABASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


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
        # (environment, path, Idempotency-Key) -> (the request's fields, status, body) of the first success
        self.replies: OrderedDict[tuple[str, str, str], tuple[Any, int, Any]] = OrderedDict()
        self._pump: asyncio.Task | None = None
        self.world = CaptainWorld(sim, self.home_environment)

    async def start(self) -> None:
        self._pump = asyncio.create_task(self.world.run_jobs(), name="captain-jobs")

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    def tick(self, count: int) -> None:
        self.world.tick(count)

    def snapshot(self) -> dict[str, Any]:
        return self.world.snapshot()


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
        database = self.world.databases.get((environment, name))
        if database is None:
            raise Refusal(404, "Database not found", f"No database named '{name}' in the {environment} environment")
        return database

    # ----------------------------------------------------------------------------------------- databases

    def create_database(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        (name,) = self._require(fields, "database_name")
        if not DATABASE_NAME.match(name):
            raise Refusal(400, "Invalid database name",
                          "Use letters, digits, '_' and '-' only, at most 64 characters, no spaces")
        if (environment, name) in self.world.databases:
            raise Refusal(400, "Database already exists",
                          f"A database named '{name}' already exists in the {environment} environment")
        if sum(1 for env, _ in self.world.databases if env == environment) >= MAX_DATABASES_PER_ENVIRONMENT:
            raise Refusal(400, "Database limit reached", "Contact support@runcaptain.com for a higher limit")
        database = SimDatabase(self.sim.new_id("db_"), name, environment, iso())
        self.world.databases[(environment, name)] = database
        return 200, {
            "database_name": name,
            "database_id": database.database_id,
            "status": "success",
            "message": "Database created successfully",
        }

    def delete_database(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        (name,) = self._require(fields, "database_name")
        self._database(environment, name)
        del self.world.databases[(environment, name)]  # its files go with it; its running jobs end in error
        return 200, {"status": "success", "message": "Database deleted successfully", "database_name": name}

    def list_databases(self, fields: dict[str, str], environment: str, request: Request) -> tuple[int, Any]:
        visible = [d.describe() for (env, _), d in self.world.databases.items() if env == environment]
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
        database = self._database(environment, fields["database_name"])
        return self.world.index_bucket(environment, database, scheme, fields["bucket_name"], job_id, credentials_ok)

    def _index_file(self, environment: str, fields: dict[str, str], job_id: str, path: str,
                    credentials_ok: bool) -> SimJob:
        database = self._database(environment, fields["database_name"])
        name = path.rsplit("/", 1)[-1]
        return self.world.start_job(environment, database, "file", job_id, f"index_{database.name}_{name}",
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
        job = self.world.jobs.get(job_id)
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
        matches = relevant_files(files, terms)
        body: dict[str, Any] = {
            "status": "success",
            "response": answer(database.name, files, matches, terms),
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
