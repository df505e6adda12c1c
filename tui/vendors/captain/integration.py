"""Captain behind the Integration interface: its client, the databases and indexing-jobs pollers (Captain has no
push channel), and the operator's actions on databases, files, indexing and queries."""

from __future__ import annotations

from typing import Any

from tui.live.integration import Integration
from tui.vendors.captain.client import (
    CaptainClient, CreateDatabaseResponse, DeleteResponse, IndexJobStarted, QueryResponse,
)
from tui.vendors.captain.live import CaptainDatabases, CaptainJobs, database_rows


class CaptainIntegration(Integration):
    snapshot_parts = ("captain.databases", "captain.files", "captain.jobs")
    actions = {"create_database": ("name",), "delete_database": ("name",), "delete_file": ("file_id", "database_name"),
               "index": ("database_name", "source", "bucket_name", "file_uri")}

    def __init__(self, hub, declaration, settings: Any):
        super().__init__(hub, declaration, settings)
        self.client = CaptainClient(settings.base_url, api_key=settings.api_key_value,
                                    organization_id=settings.organization_id or "", read_only=self.read_only)
        self.jobs: CaptainJobs | None = None  # once started

    @property
    def environment(self) -> str | None:
        """What the key can see, from its prefix: "development", "staging", "production" (None: unknown)."""
        return self.client.environment

    async def start(self, *, snapshot: bool = False) -> None:
        databases = CaptainDatabases(self.client, self.store)
        self.jobs = CaptainJobs(self.client, self.store, databases)
        self.hub.spawn(databases.run(), databases.name)
        self.hub.spawn(self.jobs.run(), self.jobs.name)

    # ------------------------------------------------------------------------------------------- actions

    async def create_database(self, name: str) -> CreateDatabaseResponse:
        reply = await self.client.create_database(name)
        await self._refresh_databases()
        return reply

    async def delete_database(self, name: str) -> DeleteResponse:
        reply = await self.client.delete_database(name)
        await self._refresh_databases()
        return reply

    async def delete_file(self, database_name: str, file_id: str) -> DeleteResponse:
        reply = await self.client.delete_file(database_name, file_id)
        self.store.remove("files", f"{database_name}/{file_id}", "action")
        return reply

    async def index(self, source: str, database_name: str, bucket_name: str, *, file_uri: str | None = None,
                    aws_access_key_id: str = "", aws_secret_access_key: str = "", bucket_region: str = "",
                    service_account_json: str = "") -> IndexJobStarted:
        """source: "s3" or "gcs"; a `file_uri` indexes one file, else the whole bucket. The job is followed."""
        client = self.client
        if source == "s3":
            creds = dict(aws_access_key_id=aws_access_key_id, aws_secret_access_key=aws_secret_access_key,
                         bucket_region=bucket_region)
            reply = await (client.index_s3_file(database_name, bucket_name, file_uri, **creds) if file_uri
                           else client.index_s3(database_name, bucket_name, **creds))
        else:
            reply = await (client.index_gcs_file(database_name, bucket_name, file_uri,
                                                 service_account_json=service_account_json) if file_uri
                           else client.index_gcs(database_name, bucket_name,
                                                 service_account_json=service_account_json))
        label = file_uri or f"{source}://{bucket_name}"
        if self.jobs is not None and reply.job_id:
            self.jobs.track_job(reply.job_id, database_name, label)
        return reply

    async def query(self, question: str, database_name: str, *, include_files: bool = True) -> QueryResponse:
        return await self.client.query(question, database_name, include_files=include_files)

    async def _refresh_databases(self) -> None:
        self.store.replace("databases", database_rows(await self.client.list_databases()), origin="action")
