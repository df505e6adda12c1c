"""Casmo behind the Integration interface: its client, its signed webhooks (Casmo has no stream and no list
endpoint: a job's result arrives by webhook), and the submit action."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tui.live.events import Event
from tui.live.integration import Integration
from tui.vendors.casmo.client import CasmoClient, JobAccepted, JobResult
from tui.vendors.casmo.live import casmo_webhook_event, submitted_job_row


class CasmoIntegration(Integration):
    snapshot_parts = ("casmo.jobs",)
    actions = {"submit": ("path", "kind", "mode", "workflow_id")}

    def __init__(self, hub, declaration, settings: Any):
        super().__init__(hub, declaration, settings)
        self.client = CasmoClient(settings.base_url, api_key=settings.api_key_value, read_only=self.read_only)

    async def start(self, *, snapshot: bool = False) -> None:
        # Casmo has no list: the jobs known are those this process submits and their webhooks, none at first.
        self.store.mark_complete("casmo.jobs")

    def apply_webhook(self, payload: dict[str, Any], received_at: float) -> None:
        self.store.apply(casmo_webhook_event(payload, received_at), "webhook")

    async def submit(self, path: str, *, kind: str, mode: str = "callback",
                     workflow_id: str | None = None) -> JobAccepted | JobResult:
        """Send a local file for extraction (`kind="extract"`) or review against `workflow_id` (`"review"`)."""
        file_path = Path(path).expanduser()
        content = file_path.read_bytes()
        if kind == "review":
            reply = await self.client.review(content, file_path.name, workflow_id, mode=mode)
        else:
            reply = await self.client.extract(content, file_path.name, mode=mode)
        row = submitted_job_row(reply.model_dump(mode="json"), kind=kind, mode=mode, workflow_id=workflow_id)
        existing = self.store.get("jobs", row["job_id"]) or {}
        if existing.get("completed_at"):  # the webhook beat the reply: keep its completion
            row = {**row, **existing}
        self.store.apply(Event(time=time.time(), service=self.name, type=f"{kind}.submitted", id=row["job_id"],
                               data=row, kind="jobs", patch=row), "action")
        return reply
