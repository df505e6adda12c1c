"""Captain over real sockets: the doc's own request examples, auth and environment scoping, paging,
indexing jobs, queries answered from indexed files, idempotency and read-only mode.

The doc examples are sent with httpx exactly as seed 004 sends them with `requests` (only the base URL,
the key and the organization changed); the same behaviour is then checked through `CaptainClient`.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote

import httpx
import pytest

from tui.api import ApiError, ReadOnlyError
from tui.vendors.captain.client import (
    CaptainClient,
    FileChunk,
    IndexingStatus,
    environment_of,
    group_files,
)
from tui.sim.captain import CaptainSim
from tui.sim.captain_text import bucket_listing, query_terms, words
from tui.sim.core import DEMO_ORGANIZATION, SimOptions, Simulator

KEY = "cap_dev_demo"  # the simulator's default key (development)
PROD_KEY = "cap_prod_demo"  # the same suffix, production
ORG = DEMO_ORGANIZATION
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLE&KEY%"
SERVICE_ACCOUNT = json.dumps(
    {"type": "service_account", "project_id": "demo-project", "private_key": "-----BEGIN PRIVATE KEY-----\nabc\n"}
)
DEADLINE = 10.0


def base(sim) -> str:
    return sim.base_urls["captain"]


def client_for(sim, *, api_key: str = KEY, read_only: bool = False) -> CaptainClient:
    return CaptainClient(base(sim), api_key=api_key, organization_id=ORG, read_only=read_only)


def state(sim) -> dict:
    return httpx.get(sim.root + "/_admin/state").json()["captain"]


def assert_captain_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["message"] and "details" in body
    return body


def doc_status(sim, job_id: str, key: str = KEY) -> httpx.Response:
    """The doc's indexing-status example."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return httpx.get(f"{base(sim)}/v1/indexing-status/{job_id}", headers=headers)


def wait_job(sim, job_id: str) -> dict:
    """Poll the job (as the doc recommends, but faster) until it is done, within a deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        body = doc_status(sim, job_id).json()
        if body["completed"] or body["status"] in ("completed", "error", "failed"):
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body}"
        time.sleep(0.05)


def doc_list_files(sim, database: str, *, limit: int = 50, offset: int = 0, key: str = KEY) -> httpx.Response:
    return httpx.post(
        f"{base(sim)}/v1/list-files",
        data={"organization_id": ORG, "api_key": key, "database_name": database, "limit": limit, "offset": offset},
    )


# --------------------------------------------------------------------------------------------- models


def test_environment_of_reads_the_key_prefix():
    assert environment_of("cap_dev_NvXocMo6") == "development"
    assert environment_of("cap_stage_x") == "staging"
    assert environment_of("cap_prod_x") == "production"
    assert environment_of("capx_sk_x") is None and environment_of(None) is None


def test_indexing_status_progress_and_done_on_the_doc_examples():
    processing = IndexingStatus.model_validate({
        "job_id": "job_abc123xyz", "status": "processing", "completed": False, "active_file_processing_workers": 8,
        "timestamp": "2024-01-15T10:35:00Z",
        "job_details": {"job_name": "index_contracts_2024", "total_files": 1000, "indexed_files": 342,
                        "failed_files": 3},
    })
    assert processing.progress == pytest.approx(0.345) and not processing.done
    completed = processing.model_copy(update={"status": "completed", "completed": True})
    assert completed.done
    error = IndexingStatus.model_validate({"job_id": "j", "status": "error", "completed": True,
                                           "error": "AWS credentials invalid", "timestamp": "2024-01-15T10:32:00Z"})
    assert error.done and error.progress is None and error.error == "AWS credentials invalid"
    assert IndexingStatus.model_validate({"job_id": "j", "status": "failed"}).done
    assert not IndexingStatus.model_validate({"job_id": "j", "status": "queued", "surprise": 1}).done


def test_group_files_folds_chunks_per_file():
    rows = [
        FileChunk(file_id="a", file_name="A.pdf", chunk_index=0, created_at="2024-01-02T00:00:00Z",
                  updated_at="2024-01-02T00:00:00Z"),
        FileChunk(file_id="a", file_name="A.pdf", chunk_index=1, created_at="2024-01-01T00:00:00Z",
                  updated_at="2024-01-05T00:00:00Z"),
        FileChunk(file_id="b", file_name="B.pdf", chunk_index=0),
    ]
    summaries = group_files(rows)
    assert [(s.file_id, s.chunk_count) for s in summaries] == [("a", 2), ("b", 1)]
    assert summaries[0].created_at == "2024-01-01T00:00:00Z" and summaries[0].updated_at == "2024-01-05T00:00:00Z"


# --------------------------------------------------------------------------------------------- doc examples


def test_doc_create_and_delete_database_examples(sim):
    create = httpx.post(
        f"{base(sim)}/v1/create-database",
        data={"organization_id": ORG, "api_key": KEY, "database_name": "my_documents"},
    )
    assert create.status_code == 200
    body = create.json()
    assert body["database_name"] == "my_documents" and body["database_id"].startswith("db_")
    assert body["status"] == "success" and body["message"] == "Database created successfully"

    duplicate = httpx.post(
        f"{base(sim)}/v1/create-database",
        data={"organization_id": ORG, "api_key": KEY, "database_name": "my_documents"},
    )
    assert "already exists" in assert_captain_error(duplicate, 400)["details"]
    bad_name = httpx.post(
        f"{base(sim)}/v1/create-database",
        data={"organization_id": ORG, "api_key": KEY, "database_name": "my documents!"},
    )
    assert assert_captain_error(bad_name, 400)["message"] == "Invalid database name"

    delete = httpx.post(
        f"{base(sim)}/v1/delete-database",
        data={"organization_id": ORG, "api_key": KEY, "database_name": "my_documents"},
    )
    assert delete.json() == {"status": "success", "message": "Database deleted successfully",
                             "database_name": "my_documents"}
    again = httpx.post(
        f"{base(sim)}/v1/delete-database",
        data={"organization_id": ORG, "api_key": KEY, "database_name": "my_documents"},
    )
    assert_captain_error(again, 404)
    assert "my_documents" not in state(sim)["databases"]


def test_doc_list_databases_example_counts_queries(sim):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-www-form-urlencoded"}
    listing = httpx.post(f"{base(sim)}/v1/list-databases", headers=headers,
                         data={"api_key": KEY, "organization_id": ORG})
    assert listing.status_code == 200
    databases = listing.json()
    assert isinstance(databases, list) and 2 <= len(databases) <= 3
    for row in databases:
        assert set(row) >= {"database_id", "database_name", "environment", "is_active", "created_at",
                            "request_count"}
        assert row["environment"] == "development" and row["is_active"] is True
    before = {row["database_name"]: row["request_count"] for row in databases}

    async def ask() -> None:
        async with client_for(sim) as client:
            await client.query("liability", "contracts_2024")

    asyncio.run(ask())
    after = {row.database_name: row.request_count for row in asyncio.run(_list_databases(sim))}
    assert after["contracts_2024"] == before["contracts_2024"] + 1
    assert after["invoices_q3"] == before["invoices_q3"]


async def _list_databases(sim):
    async with client_for(sim) as client:
        return await client.list_databases()


def test_doc_list_files_and_delete_file_examples(sim):
    response = doc_list_files(sim, "contracts_2024")
    assert response.status_code == 200
    rows = response.json()
    assert rows and all(
        set(row) >= {"file_id", "file_name", "chunk_id", "chunk_index", "created_at", "updated_at"} for row in rows
    )
    order = [(r["file_name"], r["chunk_index"]) for r in rows]
    assert order == sorted(order)
    files = state(sim)["files"]["contracts_2024"]
    assert len(rows) == sum(f["chunk_count"] for f in files)

    file_id = rows[0]["file_id"]
    delete = httpx.post(
        f"{base(sim)}/v1/delete-file",
        data={"organization_id": ORG, "api_key": KEY, "database_name": "contracts_2024", "file_id": file_id},
    )
    assert delete.status_code == 200 and delete.json()["status"] == "success"
    assert file_id not in {r["file_id"] for r in doc_list_files(sim, "contracts_2024").json()}
    again = httpx.post(
        f"{base(sim)}/v1/delete-file",
        data={"organization_id": ORG, "api_key": KEY, "database_name": "contracts_2024", "file_id": file_id},
    )
    assert_captain_error(again, 404)
    assert_captain_error(doc_list_files(sim, "no_such_database"), 404)


def test_doc_index_s3_example_wipes_then_indexes_the_bucket(sim):
    before = {r["file_id"] for r in doc_list_files(sim, "contracts_2024", limit=1000).json()}
    assert before
    aws_secret_encoded = quote(AWS_SECRET, safe="")
    response = httpx.post(
        f"{base(sim)}/v1/index-s3",
        data={
            "database_name": "contracts_2024",
            "bucket_name": "my-company-docs",
            "aws_access_key_id": AWS_KEY_ID,
            "aws_secret_access_key": aws_secret_encoded,
            "bucket_region": "us-east-1",
            "api_key": KEY,
            "organization_id": ORG,
        },
        timeout=30.0,
    )
    assert response.status_code in (200, 201)
    started = response.json()
    assert started["job_id"].startswith("job_") and started["status"] == "processing"
    assert started["message"] == "Indexing job started successfully" and started["timestamp"]
    # Wiped before indexing: none of the old files is left (new ones may already be arriving).
    assert not before & {r["file_id"] for r in doc_list_files(sim, "contracts_2024", limit=1000).json()}

    status = doc_status(sim, started["job_id"]).json()
    assert status["job_id"] == started["job_id"] and status["status"] in ("processing", "completed")
    assert set(status["job_details"]) == {"job_name", "total_files", "indexed_files", "failed_files"}

    final = wait_job(sim, started["job_id"])
    details = final["job_details"]
    assert final["status"] == "completed" and final["completed"] is True
    assert final["active_file_processing_workers"] == 0
    assert details["failed_files"] >= 1  # the bucket holds a video, which fails on its own
    assert details["indexed_files"] + details["failed_files"] == details["total_files"]
    after = {r["file_id"] for r in doc_list_files(sim, "contracts_2024", limit=1000).json()}
    assert len(after) == details["indexed_files"] and not (after & before)
    uris = {f["source_uri"] for f in state(sim)["files"]["contracts_2024"]}
    assert all(uri.startswith("s3://my-company-docs/") for uri in uris)
    assert not any(uri.endswith((".mp4", ".mov")) for uri in uris)


def test_doc_index_s3_file_example_and_its_400s(sim):
    data = {
        "database_name": "contracts_2024",
        "bucket_name": "my-company-docs",
        "file_uri": "s3://my-company-docs/contracts/acme_contract.pdf",
        "aws_access_key_id": AWS_KEY_ID,
        "aws_secret_access_key": quote(AWS_SECRET, safe=""),
        "bucket_region": "us-east-1",
        "api_key": KEY,
        "organization_id": ORG,
    }
    response = httpx.post(f"{base(sim)}/v1/index-s3-file", data=data, timeout=30.0)
    assert response.status_code in (200, 201)
    started = response.json()
    assert started["status"] == "processing" and started["message"] == "Indexing job started successfully"
    final = wait_job(sim, started["job_id"])
    assert final["status"] == "completed" and final["job_details"]["indexed_files"] == 1
    names = {r["file_name"] for r in doc_list_files(sim, "contracts_2024", limit=1000).json()}
    assert "acme_contract.pdf" in names

    bad_uri = httpx.post(f"{base(sim)}/v1/index-s3-file", data={**data, "file_uri": "my-company-docs/a.pdf"})
    body = assert_captain_error(bad_uri, 400)
    assert body["message"] == "Invalid S3 URI format"
    assert body["details"] == "S3 URI must start with 's3://' and include bucket and file path"
    other_bucket = httpx.post(f"{base(sim)}/v1/index-s3-file", data={**data, "file_uri": "s3://elsewhere/a.pdf"})
    assert "must match bucket_name" in assert_captain_error(other_bucket, 400)["details"]
    video = httpx.post(f"{base(sim)}/v1/index-s3-file",
                       data={**data, "file_uri": "s3://my-company-docs/media/video.mp4"})
    body = assert_captain_error(video, 400)
    assert body == {"status": "error", "message": "Unsupported file type detected",
                    "details": "File 'video.mp4' is not supported"}
    missing = httpx.post(f"{base(sim)}/v1/index-s3-file", data={k: v for k, v in data.items() if k != "bucket_region"})
    assert "bucket_region" in assert_captain_error(missing, 400)["details"]


def test_doc_index_gcs_examples_and_service_account_check(sim):
    service_account_json = SERVICE_ACCOUNT  # the doc reads it from a key file
    bucket = httpx.post(
        f"{base(sim)}/v1/index-gcs",
        data={
            "database_name": "contracts_2024",
            "bucket_name": "my-company-docs",
            "service_account_json": service_account_json,
            "api_key": KEY,
            "organization_id": ORG,
        },
        timeout=30.0,
    )
    assert bucket.status_code in (200, 201)
    started = bucket.json()
    assert started["job_id"].startswith("job_gcs_") and started["status"] == "processing"
    assert started["message"] == "Indexing job started for GCS bucket 'my-company-docs'"

    single = httpx.post(
        f"{base(sim)}/v1/index-gcs-file",
        data={
            "database_name": "contracts_2024",
            "bucket_name": "my-company-docs",
            "file_uri": "gs://my-company-docs/contracts/acme_contract.pdf",
            "service_account_json": service_account_json,
            "api_key": KEY,
            "organization_id": ORG,
        },
        timeout=30.0,
    )
    assert single.status_code in (200, 201)
    assert single.json()["job_id"].startswith("job_gcs_file_")
    assert single.json()["message"] == "Single file indexing job started for GCS file 'contracts/acme_contract.pdf'"

    form = {"database_name": "contracts_2024", "bucket_name": "my-company-docs", "api_key": KEY,
            "organization_id": ORG}
    broken = httpx.post(f"{base(sim)}/v1/index-gcs",
                        data={**form, "service_account_json": json.dumps({"type": "service_account"})})
    assert assert_captain_error(broken, 400) == {
        "status": "error", "message": "Invalid service account JSON",
        "details": "Missing required fields: project_id, private_key",
    }
    not_json = httpx.post(f"{base(sim)}/v1/index-gcs", data={**form, "service_account_json": "{oops"})
    assert assert_captain_error(not_json, 400)["details"] == "Missing required fields: type, project_id, private_key"
    s3_uri = httpx.post(f"{base(sim)}/v1/index-gcs-file", data={
        **form, "service_account_json": SERVICE_ACCOUNT, "file_uri": "s3://my-company-docs/contracts/a.pdf"})
    assert assert_captain_error(s3_uri, 400)["details"] == (
        "GCS URI must start with 'gs://' and include bucket and file path")


def test_doc_indexing_status_error_and_unknown_job(sim):
    data = {
        "database_name": "invoices_q3", "bucket_name": "finance", "aws_access_key_id": "not-an-access-key",
        "aws_secret_access_key": quote(AWS_SECRET, safe=""), "bucket_region": "eu-west-1",
        "api_key": KEY, "organization_id": ORG,
    }
    job_id = httpx.post(f"{base(sim)}/v1/index-s3", data=data).json()["job_id"]
    final = wait_job(sim, job_id)
    assert final["status"] == "error" and final["completed"] is True
    assert final["error"] == "AWS credentials invalid" and final["timestamp"]
    assert_captain_error(doc_status(sim, "job_unknown"), 404)


def test_doc_query_example(sim):
    query = "find Q3 contracts mentioning 'termination for convenience'"
    headers = {
        "Authorization": f"Bearer {KEY}",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Organization-ID": ORG,
        "Idempotency-Key": "0199bc97-0000-7000-8000-000000000001",
    }
    response = httpx.post(
        f"{base(sim)}/v1/query",
        headers=headers,
        data={"query": quote(query), "database_name": "contracts_2024", "include_files": "true"},
        timeout=120.0,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and body["query"] == query and body["database_name"] == "contracts_2024"
    assert isinstance(body["response"], str) and body["response"]
    assert body["relevant_files"], "the seeded contracts speak of termination and of convenience"
    for item in body["relevant_files"]:
        assert set(item) == {"file_name", "relevancy_score", "file_type", "file_id"}
        assert 0.0 < item["relevancy_score"] <= 1.0 and item["file_type"] in ("pdf", "docx")
    scores = [item["relevancy_score"] for item in body["relevant_files"]]
    assert scores == sorted(scores, reverse=True)
    assert body["relevant_files"][0]["file_name"] in body["response"]
    metrics = body["processing_metrics"]
    assert metrics["total_files_processed"] == len(state(sim)["files"]["contracts_2024"])
    assert metrics["total_tokens"] > 0 and metrics["execution_time_ms"] > 0

    no_files = httpx.post(
        f"{base(sim)}/v1/query",
        headers={**headers, "Idempotency-Key": "another"},
        data={"query": quote(query), "database_name": "contracts_2024", "include_files": "false"},
    )
    assert "relevant_files" not in no_files.json() and no_files.json()["response"]
    unknown = httpx.post(f"{base(sim)}/v1/query", headers={**headers, "Idempotency-Key": "third"},
                         data={"query": quote(query), "database_name": "nope"})
    assert_captain_error(unknown, 404)
    reused = httpx.post(f"{base(sim)}/v1/query", headers=headers,
                        data={"query": quote("something else"), "database_name": "contracts_2024"})
    assert "Idempotency-Key" in assert_captain_error(reused, 400)["message"]


# --------------------------------------------------------------------------------------------- auth, scoping


def test_wrong_key_or_organization_is_401_in_captain_format(sim):
    form = {"database_name": "contracts_2024"}
    for key, org in (("cap_dev_wrong", ORG), (KEY, "11111111-1111-4111-8111-111111111111"), ("", ORG)):
        for path in ("/v1/list-databases", "/v1/list-files", "/v1/create-database"):
            reply = httpx.post(f"{base(sim)}{path}", data={**form, "api_key": key, "organization_id": org})
            assert_captain_error(reply, 401)
        if key:  # httpx refuses to send a header ending in a space
            query = httpx.post(
                f"{base(sim)}/v1/query",
                headers={"Authorization": f"Bearer {key}", "X-Organization-ID": org},
                data={"query": "x", "database_name": "contracts_2024"},
            )
            assert_captain_error(query, 401)
    no_org = httpx.post(f"{base(sim)}/v1/query", headers={"Authorization": f"Bearer {KEY}"},
                        data={"query": "x", "database_name": "contracts_2024"})
    assert_captain_error(no_org, 401)
    assert_captain_error(doc_status(sim, "job_x", key="cap_dev_wrong"), 401)
    assert_captain_error(httpx.get(f"{base(sim)}/v1/indexing-status/job_x"), 401)


async def test_client_errors_carry_the_message_but_no_secret(sim):
    async with CaptainClient(base(sim), api_key="cap_dev_wrong_secret_key", organization_id=ORG) as client:
        assert "cap_dev_wrong_secret_key" not in repr(client) and "development" in repr(client)
        with pytest.raises(ApiError) as caught:
            await client.list_databases()
        assert caught.value.status == 401 and "Unauthorized" in str(caught.value)
        assert "cap_dev_wrong_secret_key" not in str(caught.value)
    async with client_for(sim) as client:
        with pytest.raises(ApiError) as caught:
            await client.index_s3("missing_db", "b", aws_access_key_id=AWS_KEY_ID,
                                  aws_secret_access_key=AWS_SECRET, bucket_region="us-east-1")
        assert caught.value.status == 404 and "Database not found" in str(caught.value)
        assert AWS_SECRET not in str(caught.value) and quote(AWS_SECRET, safe="") not in str(caught.value)


async def test_environment_scoping_hides_other_environments(sim):
    async with client_for(sim) as dev, client_for(sim, api_key=PROD_KEY) as prod:
        assert dev.environment == "development" and prod.environment == "production"
        await dev.create_database("scoped_db")
        assert "scoped_db" not in {d.database_name for d in await prod.list_databases()}
        for call in (prod.list_files("scoped_db"), prod.query("anything", "scoped_db"),
                     prod.delete_database("contracts_2024")):
            with pytest.raises(ApiError) as caught:
                await call
            assert caught.value.status == 404
        created = await prod.create_database("scoped_db")  # the same name is free in production
        assert created.status == "success"
        prod_names = [d.database_name for d in await prod.list_databases()]
        assert prod_names == ["scoped_db"]
        assert {d.environment for d in await prod.list_databases()} == {"production"}
        dev_names = [d.database_name for d in await dev.list_databases()]
        assert dev_names.count("scoped_db") == 1 and "contracts_2024" in dev_names
        job = await dev.index_s3_file("contracts_2024", "b", "s3://b/x.pdf", aws_access_key_id=AWS_KEY_ID,
                                      aws_secret_access_key=AWS_SECRET, bucket_region="us-east-1")
        with pytest.raises(ApiError) as caught:
            await prod.indexing_status(job.job_id)
        assert caught.value.status == 404
    snapshot = state(sim)
    assert "scoped_db" in snapshot["databases"]
    assert "scoped_db" in snapshot["other_environments"]["production"]["databases"]


# --------------------------------------------------------------------------------------------- client


async def test_list_files_pagination_walks_to_the_last_page(sim):
    async with client_for(sim) as client:
        everything = await client.list_files("contracts_2024", limit=1000)
        pages, offset = [], 0
        while True:
            page = await client.list_files("contracts_2024", limit=3, offset=offset)
            pages.append(page)
            if len(page) < 3:
                break
            offset += 3
        assert len(pages) == len(everything) // 3 + 1
        walked = [row for page in pages for row in page]
        assert [r.chunk_id for r in walked] == [r.chunk_id for r in everything]
        assert [r.chunk_id for r in await client.list_all_files("contracts_2024", page_size=3)] == [
            r.chunk_id for r in everything]
        summaries = group_files(walked)
        expected = {f["file_id"]: f["chunk_count"] for f in state(sim)["files"]["contracts_2024"]}
        assert {s.file_id: s.chunk_count for s in summaries} == expected
        assert [s.file_name for s in summaries] == sorted(s.file_name for s in summaries)


async def test_indexing_job_progresses_to_completion_and_bucket_replaces_files(sim):
    async with client_for(sim) as client:
        old = {f.file_id for f in group_files(await client.list_all_files("invoices_q3"))}
        started = await client.index_gcs("invoices_q3", "acme-finance-exports", service_account_json=SERVICE_ACCOUNT)
        progress: list[float] = []
        deadline = time.monotonic() + DEADLINE
        while True:
            status = await client.indexing_status(started.job_id)
            progress.append(status.progress)
            if status.done:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert status.status == "completed" and status.progress == 1.0
        assert progress == sorted(progress) and progress[0] < 1.0
        files = group_files(await client.list_all_files("invoices_q3"))
        assert len(files) == status.job_details.indexed_files and not ({f.file_id for f in files} & old)


async def test_query_answers_from_the_indexed_files(sim):
    snapshot = state(sim)["files"]["contracts_2024"]
    file_words = {f["file_id"]: set(words(f["file_name"] + " " + f["text"])) for f in snapshot}
    unique = next(
        (word, file_id)
        for file_id, vocabulary in file_words.items()
        for word in sorted(vocabulary)
        if query_terms(word) == [word]
        and not any(word in other for other_id, other in file_words.items() if other_id != file_id)
    )
    word, file_id = unique
    async with client_for(sim) as client:
        answer = await client.query(f"which file mentions {word}?", "contracts_2024", include_files=True)
        assert answer.relevant_files and answer.relevant_files[0].file_id == file_id
        assert len(answer.relevant_files) == 1
        assert answer.relevant_files[0].file_name in answer.response
        plain = await client.query(f"which file mentions {word}?", "contracts_2024")
        assert plain.relevant_files is None and "relevant_files" not in plain.model_dump(exclude_unset=True)

        await client.create_database("empty_db")
        empty = await client.query("anything at all", "empty_db", include_files=True)
        assert "Nothing is indexed" in empty.response and empty.relevant_files == []
        assert empty.processing_metrics.total_files_processed == 0


async def test_query_text_round_trips_the_double_encoding(sim):
    tricky = "clause \"12.3\" & 50% + fees = 'net 30' naïve café 日本語 ?a=b#c"
    async with client_for(sim) as client:
        answer = await client.query(tricky, "contracts_2024")
        assert answer.query == tricky
    raw = httpx.post(
        f"{base(sim)}/v1/query",
        headers={"Authorization": f"Bearer {KEY}", "X-Organization-ID": ORG},
        data={"query": quote(tricky), "database_name": "contracts_2024"},
    )
    assert raw.json()["query"] == tricky


async def test_same_idempotency_key_returns_the_same_answer_once(sim):
    async with client_for(sim) as client:
        def count() -> int:
            return state(sim)["databases"]["contracts_2024"]["request_count"]

        before = count()
        first = await client.query("liability caps", "contracts_2024", include_files=True, idempotency_key="k-1")
        second = await client.query("liability caps", "contracts_2024", include_files=True, idempotency_key="k-1")
        assert first == second
        assert count() == before + 1
        await client.query("liability caps", "contracts_2024", idempotency_key="k-2")
        assert count() == before + 2


async def test_read_only_client_refuses_mutations_without_sending(sim):
    async with client_for(sim, read_only=True) as client:
        s3 = {"aws_access_key_id": AWS_KEY_ID, "aws_secret_access_key": AWS_SECRET, "bucket_region": "us-east-1"}
        refused = [
            client.create_database("x"),
            client.delete_database("contracts_2024"),
            client.delete_file("contracts_2024", "f"),
            client.index_s3("contracts_2024", "b", **s3),
            client.index_s3_file("contracts_2024", "b", "s3://b/a.pdf", **s3),
            client.index_gcs("contracts_2024", "b", service_account_json=SERVICE_ACCOUNT),
            client.index_gcs_file("contracts_2024", "b", "gs://b/a.pdf", service_account_json=SERVICE_ACCOUNT),
        ]
        for call in refused:
            with pytest.raises(ReadOnlyError):
                await call
        assert (await client.query("liability", "contracts_2024")).status == "success"
        assert await client.list_databases()
        assert await client.list_files("contracts_2024")
    journal = httpx.get(sim.root + "/_admin/journal").json()["requests"]
    sent = {route for route in journal if route.startswith("POST /captain/")}
    assert sent == {"POST /captain/v1/query", "POST /captain/v1/list-databases", "POST /captain/v1/list-files"}


# --------------------------------------------------------------------------------------------- world


def test_tick_advances_jobs_and_counts_queries_cheaply():
    world = Simulator(SimOptions(seed=11, rate=0))
    captain = CaptainSim(world)
    database = next(iter(captain.world.databases.values()))
    job = captain.world.start_job(database.environment, database, "bucket", "job_t", "index_t",
                                  bucket_listing("s3", "tick-bucket"))
    total_requests = sum(d.request_count for d in captain.world.databases.values())
    started = time.perf_counter()
    captain.tick(3000)
    assert time.perf_counter() - started < 1.0  # the world must sustain thousands of events a second
    assert job.status == "completed" and job.indexed + job.failed == job.total
    assert sum(d.request_count for d in captain.world.databases.values()) > total_requests
    assert len(captain.world.jobs) <= 500 + len(captain.world.running)
