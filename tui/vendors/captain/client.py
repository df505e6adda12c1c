"""Captain (data lake + natural-language query): wire models and an async client.

Captain's endpoints do not share one style, and the vendor doc (seed 004) is followed endpoint by endpoint:

- the database, file and indexing endpoints are form-encoded POSTs carrying `api_key` and `organization_id`
  in the body (list-databases also sends `Authorization: Bearer`, as the doc's example does);
- `GET /v1/indexing-status/{job_id}` authenticates with `Authorization: Bearer` only;
- `POST /v1/query` is form-encoded with `Authorization: Bearer`, `X-Organization-ID` and `Idempotency-Key`
  headers, and its `query` field is URL-encoded by the caller (`quote(query)`) before the form encoding
  encodes it again. The doc does this, so we do too: the server unquotes once more than usual.

The key prefix (`cap_dev_`, `cap_stage_`, `cap_prod_`) names the environment the key can see (its declaration's
`environments`, tui/vendors/captain/__init__.py).
"""

from __future__ import annotations

from typing import Any, Iterable, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from tui.api import DEFAULT_TIMEOUT, ApiError, BaseClient, json_or_none, new_idempotency_key
from tui.text import mask_secret
from tui.vendors.captain import VENDOR

DEFAULT_BASE_URL = "https://api.runcaptain.com"
QUERY_TIMEOUT = 120.0  # doc: "Query timeout is 120 seconds"
INDEXING_TIMEOUT = 30.0  # the doc's indexing examples pass timeout=30.0
LIST_FILES_PAGE = 100  # doc: list-files `limit` defaults to 100

Environment = Literal["development", "staging", "production"]
ENVIRONMENT_PREFIXES: dict[str, Environment] = {
    environment.prefix: environment.name for environment in VENDOR.environments  # type: ignore[misc]
}
TERMINAL_JOB_STATUSES = frozenset({"completed", "error", "failed"})


def environment_of(api_key: str | None) -> Environment | None:
    """The environment a Captain key is scoped to, read from its prefix; None for an unknown prefix."""
    environment = VENDOR.environment_of(api_key)
    return environment.name if environment else None  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------- models


class CaptainModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class Database(CaptainModel):
    database_id: str | None = None
    database_name: str = ""
    environment: str | None = None
    is_active: bool | None = None
    created_at: str | None = None
    request_count: int | None = None


class CreateDatabaseResponse(CaptainModel):
    database_name: str | None = None
    database_id: str | None = None
    status: str | None = None
    message: str | None = None


class DeleteResponse(CaptainModel):
    """The reply of delete-database and delete-file (the doc shows no body for the latter: all optional)."""

    status: str | None = None
    message: str | None = None
    database_name: str | None = None
    file_id: str | None = None


class FileChunk(CaptainModel):
    """One row of list-files: Captain lists every chunk of a file as its own row."""

    file_id: str = ""
    file_name: str = ""
    chunk_id: str | None = None
    chunk_index: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class FileSummary(CaptainModel):
    """One file, folded from its chunk rows by `group_files`."""

    file_id: str
    file_name: str
    chunk_count: int
    created_at: str | None = None
    updated_at: str | None = None


class IndexJobStarted(CaptainModel):
    job_id: str = ""
    status: str | None = None
    message: str | None = None
    timestamp: str | None = None


class JobDetails(CaptainModel):
    job_name: str | None = None
    total_files: int | None = None
    indexed_files: int | None = None
    failed_files: int | None = None


class IndexingStatus(CaptainModel):
    job_id: str = ""
    status: str | None = None
    completed: bool | None = None
    active_file_processing_workers: int | None = None
    timestamp: str | None = None
    job_details: JobDetails | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        """doc: stop polling when `completed` is true or the status is completed, error or failed."""
        return bool(self.completed) or (self.status or "").lower() in TERMINAL_JOB_STATUSES

    @property
    def progress(self) -> float | None:
        """(indexed + failed) / total, between 0 and 1; None while the server has not said how many files."""
        details = self.job_details
        if details is None or details.total_files is None:
            return None
        if details.total_files <= 0:
            return 1.0 if self.done else 0.0
        handled = (details.indexed_files or 0) + (details.failed_files or 0)
        return max(0.0, min(1.0, handled / details.total_files))


class RelevantFile(CaptainModel):
    file_name: str = ""
    relevancy_score: float | None = None
    file_type: str | None = None
    file_id: str | None = None


class ProcessingMetrics(CaptainModel):
    total_files_processed: int | None = None
    total_tokens: int | None = None
    execution_time_ms: int | None = None


class QueryResponse(CaptainModel):
    status: str | None = None
    response: str = ""
    relevant_files: list[RelevantFile] | None = None  # only present when include_files was true
    query: str | None = None
    database_name: str | None = None
    processing_metrics: ProcessingMetrics | None = None


class ErrorBody(CaptainModel):
    status: str | None = None
    message: str | None = None
    details: str | None = None


def group_files(chunks: Iterable[FileChunk]) -> list[FileSummary]:
    """Fold list-files rows into one summary per file, in the order the files first appear.

    created_at is the earliest of the chunks' times, updated_at the latest (ISO 8601 strings in one format
    compare correctly as text).
    """
    summaries: dict[str, FileSummary] = {}
    for chunk in chunks:
        summary = summaries.get(chunk.file_id)
        if summary is None:
            summaries[chunk.file_id] = FileSummary(
                file_id=chunk.file_id,
                file_name=chunk.file_name,
                chunk_count=1,
                created_at=chunk.created_at,
                updated_at=chunk.updated_at,
            )
            continue
        summary.chunk_count += 1
        if chunk.created_at and (summary.created_at is None or chunk.created_at < summary.created_at):
            summary.created_at = chunk.created_at
        if chunk.updated_at and (summary.updated_at is None or chunk.updated_at > summary.updated_at):
            summary.updated_at = chunk.updated_at
    return list(summaries.values())


def _error_body(body: dict[str, Any]) -> ErrorBody:
    """An error reply's text fields; ones of another type are ignored rather than failing the error report."""
    fields = {k: v for k, v in body.items() if k in ErrorBody.model_fields and isinstance(v, str)}
    return ErrorBody.model_validate(fields)


def _redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret (raw or as its URL-encoded form) in `text` by its masked form."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, mask_secret(secret))
    return text


# --------------------------------------------------------------------------------------------- client


class CaptainClient(BaseClient):
    """Captain's data-lake API. Every method follows its own endpoint's documented request style."""

    service = "captain"

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str,
        organization_id: str,
        read_only: bool = False,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        super().__init__(base_url, read_only=read_only, timeout=timeout, transport=transport, api_key=api_key)
        self.organization_id = organization_id

    def described(self) -> dict[str, Any]:
        return {"environment": self.environment, "read_only": self.read_only}

    @property
    def environment(self) -> Environment | None:
        return environment_of(self._api_key)

    # ----------------------------------------------------------------------------------------- plumbing

    def error_from(self, response: httpx.Response) -> ApiError:
        """Captain's errors are `{"status": "error", "message", "details"}`; other shapes are tolerated."""
        body = json_or_none(response)
        message = response.reason_phrase or "request failed"
        if isinstance(body, dict):
            error = _error_body(body)
            detail = body.get("detail")  # a framework-style `{"detail": ...}` reply
            message = error.message or (detail if isinstance(detail, str) else None) or message
            if error.details:
                message = f"{message} ({error.details})"
        return ApiError(self.service, response.status_code, _redact(message, [self._api_key]))

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    def _credentials(self) -> dict[str, str]:
        return {"api_key": self._api_key, "organization_id": self.organization_id}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        secrets: Iterable[str | None] = (),
        status_error_is_data: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send, and return the JSON body; any failure becomes an ApiError free of the call's secrets."""
        secrets = [self._api_key, *secrets]
        try:
            response = await self.send(method, path, **kwargs)
        except ApiError as error:
            error.message = _redact(error.message, secrets)
            error.args = (str(error),)
            raise
        body = json_or_none(response)
        if body is None:
            raise ApiError(self.service, response.status_code, "the reply was not JSON")
        # An error dressed as a 200 -- except where "error" is a legitimate state (a failed indexing job).
        if isinstance(body, dict) and body.get("status") == "error" and not status_error_is_data:
            raise ApiError(self.service, response.status_code, _redact(self._error_text(body), secrets))
        return body

    @staticmethod
    def _error_text(body: dict[str, Any]) -> str:
        error = _error_body(body)
        text = error.message or "request failed"
        return f"{text} ({error.details})" if error.details else text

    def _parse(self, model: type[CaptainModel], body: Any) -> Any:
        try:
            return model.model_validate(body)
        except ValidationError as error:
            problems = error.error_count()
            raise ApiError(self.service, None, f"unexpected {model.__name__} reply: {problems} problems") from None

    def _parse_rows(self, model: type[CaptainModel], body: Any, *keys: str) -> list[Any]:
        """A list reply: the doc's bare array, or (tolerated) an object holding the array under `keys`."""
        if isinstance(body, dict):
            body = next((body[key] for key in keys if isinstance(body.get(key), list)), None)
        if not isinstance(body, list):
            raise ApiError(self.service, None, f"expected a list of {model.__name__} rows")
        return [self._parse(model, row) for row in body]

    async def _mutate(
        self, operation: str, path: str, fields: dict[str, Any], *, secrets: Iterable[str | None] = (), **kwargs: Any
    ) -> Any:
        """A form-encoded mutation: read-only guard, credentials in the body, one Idempotency-Key for all retries.

        The doc shows no Idempotency-Key on these endpoints; we send one anyway (a header the server may
        ignore) so that a retried mutation can be recognised as the same request.
        """
        self.guard(operation)
        headers = {"Idempotency-Key": new_idempotency_key()}
        data = {**fields, **self._credentials()}
        return await self._call("POST", path, data=data, headers=headers, secrets=secrets, **kwargs)

    # ----------------------------------------------------------------------------------------- databases

    async def create_database(self, database_name: str) -> CreateDatabaseResponse:
        body = await self._mutate("create database", "/v1/create-database", {"database_name": database_name})
        return self._parse(CreateDatabaseResponse, body)

    async def delete_database(self, database_name: str) -> DeleteResponse:
        body = await self._mutate("delete database", "/v1/delete-database", {"database_name": database_name})
        return self._parse(DeleteResponse, body)

    async def list_databases(self) -> list[Database]:
        # The doc's example sends the key twice: as a Bearer header and in the form.
        body = await self._call(
            "POST", "/v1/list-databases", data=self._credentials(), headers=self._bearer(), idempotent=True
        )
        return self._parse_rows(Database, body, "databases", "data")

    # ----------------------------------------------------------------------------------------- files

    async def list_files(self, database_name: str, *, limit: int = LIST_FILES_PAGE, offset: int = 0) -> list[FileChunk]:
        """One page of chunk rows, ordered by file name then chunk index."""
        data = {"database_name": database_name, "limit": str(limit), "offset": str(offset), **self._credentials()}
        body = await self._call("POST", "/v1/list-files", data=data, idempotent=True)
        return self._parse_rows(FileChunk, body, "files", "data")

    async def list_all_files(
        self, database_name: str, *, page_size: int = LIST_FILES_PAGE, max_pages: int = 1000
    ) -> list[FileChunk]:
        """Every chunk row, walking `offset` until a page comes back short (bounded by `max_pages`)."""
        rows: list[FileChunk] = []
        for page in range(max_pages):
            batch = await self.list_files(database_name, limit=page_size, offset=page * page_size)
            rows.extend(batch)
            if len(batch) < page_size:
                break
        return rows

    async def delete_file(self, database_name: str, file_id: str) -> DeleteResponse:
        body = await self._mutate(
            "delete file", "/v1/delete-file", {"database_name": database_name, "file_id": file_id}
        )
        return self._parse(DeleteResponse, body)

    # ----------------------------------------------------------------------------------------- indexing

    async def index_s3(
        self,
        database_name: str,
        bucket_name: str,
        *,
        aws_access_key_id: str,
        aws_secret_access_key: str,
        bucket_region: str,
    ) -> IndexJobStarted:
        """Index a whole S3 bucket. Captain wipes the database's files first."""
        fields = {
            "database_name": database_name,
            "bucket_name": bucket_name,
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": quote(aws_secret_access_key, safe=""),  # doc: URL-encoded, then form-encoded
            "bucket_region": bucket_region,
        }
        body = await self._mutate(
            "index S3 bucket", "/v1/index-s3", fields, secrets=[aws_secret_access_key], timeout=INDEXING_TIMEOUT
        )
        return self._parse(IndexJobStarted, body)

    async def index_s3_file(
        self,
        database_name: str,
        bucket_name: str,
        file_uri: str,
        *,
        aws_access_key_id: str,
        aws_secret_access_key: str,
        bucket_region: str,
    ) -> IndexJobStarted:
        """Index one `s3://bucket/path` file; an existing file of that URI is replaced."""
        fields = {
            "database_name": database_name,
            "bucket_name": bucket_name,
            "file_uri": file_uri,
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": quote(aws_secret_access_key, safe=""),
            "bucket_region": bucket_region,
        }
        body = await self._mutate(
            "index S3 file", "/v1/index-s3-file", fields, secrets=[aws_secret_access_key], timeout=INDEXING_TIMEOUT
        )
        return self._parse(IndexJobStarted, body)

    async def index_gcs(self, database_name: str, bucket_name: str, *, service_account_json: str) -> IndexJobStarted:
        """Index a whole GCS bucket. Captain wipes the database's files first."""
        fields = {
            "database_name": database_name,
            "bucket_name": bucket_name,
            "service_account_json": service_account_json,
        }
        body = await self._mutate(
            "index GCS bucket", "/v1/index-gcs", fields, secrets=[service_account_json], timeout=INDEXING_TIMEOUT
        )
        return self._parse(IndexJobStarted, body)

    async def index_gcs_file(
        self, database_name: str, bucket_name: str, file_uri: str, *, service_account_json: str
    ) -> IndexJobStarted:
        """Index one `gs://bucket/path` file; an existing file of that URI is replaced."""
        fields = {
            "database_name": database_name,
            "bucket_name": bucket_name,
            "file_uri": file_uri,
            "service_account_json": service_account_json,
        }
        body = await self._mutate(
            "index GCS file", "/v1/index-gcs-file", fields, secrets=[service_account_json], timeout=INDEXING_TIMEOUT
        )
        return self._parse(IndexJobStarted, body)

    async def indexing_status(self, job_id: str) -> IndexingStatus:
        # The doc's example also sends `Content-Type: application/json` on this body-less GET.
        headers = {**self._bearer(), "Content-Type": "application/json"}
        body = await self._call("GET", f"/v1/indexing-status/{quote(job_id, safe='')}", headers=headers,
                                status_error_is_data=True)
        return self._parse(IndexingStatus, body)

    # ----------------------------------------------------------------------------------------- query

    async def query(
        self,
        query: str,
        database_name: str,
        *,
        include_files: bool = False,
        idempotency_key: str | None = None,
    ) -> QueryResponse:
        """Ask a database a natural-language question. Reads only, so read-only mode allows it.

        The same `idempotency_key` returns the server's earlier answer without running (or billing) the
        query again; a fresh one is made when none is given, and reused by `send()` for retries.
        """
        headers = {
            **self._bearer(),
            "X-Organization-ID": self.organization_id,
            "Idempotency-Key": idempotency_key or new_idempotency_key(),
        }
        data = {
            "query": quote(query),  # doc: the caller URL-encodes the query; httpx form-encodes it again
            "database_name": database_name,
            "include_files": "true" if include_files else "false",
        }
        body = await self._call("POST", "/v1/query", data=data, headers=headers, timeout=QUERY_TIMEOUT)
        return self._parse(QueryResponse, body)


__all__ = [
    "CaptainClient",
    "CreateDatabaseResponse",
    "Database",
    "DeleteResponse",
    "ENVIRONMENT_PREFIXES",
    "ErrorBody",
    "FileChunk",
    "FileSummary",
    "IndexJobStarted",
    "IndexingStatus",
    "JobDetails",
    "ProcessingMetrics",
    "QueryResponse",
    "RelevantFile",
    "environment_of",
    "group_files",
]
