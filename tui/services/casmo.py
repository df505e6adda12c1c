"""Casmo AI (extraction and review): wire models and the REST client. Casmo has no list or status
endpoint; results arrive in the reply (`mode=response`) or by signed webhook (tui/live/webhooks.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from tui.live.webhooks import verify_signature  # noqa: F401  (re-exported: the doc's recipe lives there)
from tui.services.base import ApiError, BaseClient, json_or_none, new_idempotency_key
from tui.text import mask_secret

DEFAULT_BASE_URL = "https://api.casmoai.com"
MODES = ("response", "callback")
WEBHOOK_EVENTS = ("extraction.completed", "review.completed")
RESPONSE_MODE_TIMEOUT = httpx.Timeout(300.0, connect=10.0)  # `response` waits for the whole extraction


class CasmoModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class JobAccepted(CasmoModel):
    job_id: str = ""
    status: str | None = None
    filename: str | None = None


class JobResult(JobAccepted):
    result: dict[str, Any] | None = None


class WebhookData(CasmoModel):
    job_id: str | None = None
    filename: str | None = None
    result: Any = None


class WebhookPayload(CasmoModel):
    event: str | None = None
    timestamp: str | None = None
    data: WebhookData | None = None


class CasmoClient(BaseClient):
    service = "casmo"

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, api_key: str, read_only: bool = False, **kwargs):
        super().__init__(base_url, headers={"X-API-Key": api_key}, read_only=read_only, **kwargs)
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"CasmoClient(base_url={self.base_url!r}, api_key={mask_secret(self._api_key)!r})"

    def error_from(self, response: httpx.Response) -> ApiError:
        body = json_or_none(response)
        message = body.get("error") if isinstance(body, dict) else None
        return ApiError(self.service, response.status_code, str(message or response.reason_phrase or "request failed"))

    async def _submit(self, operation: str, path: str, content: bytes | str | Path, filename: str | None,
                      fields: dict[str, str]) -> JobResult:
        self.guard(operation)
        if fields.get("mode") not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if isinstance(content, (str, Path)):
            path_obj = Path(content).expanduser()
            filename = filename or path_obj.name
            content = path_obj.read_bytes()
        extra = {"timeout": RESPONSE_MODE_TIMEOUT} if fields["mode"] == "response" else {}
        reply = await self.send("POST", path, files={"file": (filename or "document", content)}, data=fields,
                                headers={"Idempotency-Key": new_idempotency_key()}, **extra)
        return JobResult.model_validate(reply.json())

    async def extract(self, content: bytes | str | Path, filename: str | None = None, *,
                      mode: str = "response") -> JobResult:
        return await self._submit("extract", "/v1/extract", content, filename, {"mode": mode})

    async def review(self, content: bytes | str | Path, filename: str | None, workflow_id: str, *,
                     mode: str = "response") -> JobResult:
        return await self._submit("review", "/v1/review", content, filename, {"mode": mode, "workflow_id": workflow_id})
