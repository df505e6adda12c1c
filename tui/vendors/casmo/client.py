"""Casmo AI (extraction and review): wire models, the REST client and the webhook signature check.

Casmo has no list or status endpoint: results come back in the reply (`mode=response`, which waits for the
whole extraction) or by signed webhook (`mode=callback`; tui/live/webhooks.py receives them). Errors are
`{"error": "..."}` with 400, 401, 404, 500 and 504.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from tui.api import ApiError, BaseClient, json_or_none, new_idempotency_key

DEFAULT_BASE_URL = "https://api.casmoai.com"
MODES = ("response", "callback")
WEBHOOK_EVENTS = ("extraction.completed", "review.completed")
RESPONSE_MODE_TIMEOUT = httpx.Timeout(300.0, connect=10.0)  # `response` holds the reply until the work is done
_HEX = frozenset(string.hexdigits)


def verify_signature(body: bytes, signature: str | None, secret: str | None) -> bool:
    """The doc's recipe: hex HMAC-SHA256 of the raw body with the webhook secret, compared in constant time.

    A missing or non-hex signature is False without comparing: `hmac.compare_digest` raises on non-ASCII
    text, and a header is attacker-controlled.
    """
    if not signature or not secret or not _HEX.issuperset(signature):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


class CasmoModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(CasmoModel):
    error: str | None = None


class JobAccepted(CasmoModel):
    """`202` in callback mode: the job runs on, its result comes by webhook."""

    job_id: str | None = None
    status: str | None = None
    filename: str | None = None


class JobResult(JobAccepted):
    """`200` in response mode: the finished job; `result` is `{"error": ...}` when it failed."""

    result: dict[str, Any] | None = None


class WebhookData(CasmoModel):
    job_id: str | None = None
    filename: str | None = None
    status: str | None = None  # not in the doc's example; kept when a server sends it
    result: Any = None


class WebhookPayload(CasmoModel):
    event: str | None = None
    timestamp: str | None = None
    data: WebhookData | None = None


class CasmoClient(BaseClient):
    service = "casmo"

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, api_key: str, read_only: bool = False, **kwargs: Any):
        super().__init__(base_url, headers={"X-API-Key": api_key}, read_only=read_only, api_key=api_key, **kwargs)

    def error_from(self, response: httpx.Response) -> ApiError:
        body = json_or_none(response)
        message = body.get("error") if isinstance(body, dict) else None  # any JSON value: shown as text
        return ApiError(self.service, response.status_code, str(message or response.reason_phrase or "request failed"))

    async def extract(self, content: bytes | str | Path, filename: str | None = None, *,
                      mode: str = "response") -> JobAccepted | JobResult:
        """Extract one document: a JobResult in response mode, a JobAccepted in callback mode."""
        return await self._submit("extract", "/v1/extract", content, filename, {"mode": mode})

    async def review(self, content: bytes | str | Path, filename: str | None, workflow_id: str, *,
                     mode: str = "response") -> JobAccepted | JobResult:
        """Review one document against a workflow; 404 (ApiError) when the workflow is unknown."""
        return await self._submit("review", "/v1/review", content, filename,
                                  {"mode": mode, "workflow_id": workflow_id})

    async def _submit(self, operation: str, path: str, content: bytes | str | Path, filename: str | None,
                      fields: dict[str, str]) -> JobAccepted | JobResult:
        self.guard(operation)
        mode = fields["mode"]
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if isinstance(content, (str, Path)):
            source = Path(content).expanduser()
            filename = filename or source.name
            content = source.read_bytes()
        options: dict[str, Any] = {}
        if mode == "response":
            # The reply waits for the extraction itself. A 504 there means the work took too long, and the doc
            # promises no idempotency: retrying would run (and perhaps bill) it again, several minutes each.
            options = {"timeout": RESPONSE_MODE_TIMEOUT, "idempotent": False}
        reply = await self.send("POST", path, files={"file": (filename or "document", content)}, data=fields,
                                headers={"Idempotency-Key": new_idempotency_key()}, **options)
        body = json_or_none(reply)
        if not isinstance(body, dict):
            raise ApiError(self.service, reply.status_code, "the reply is not a JSON object")
        if reply.status_code == 202 or "result" not in body:
            return JobAccepted.model_validate(body)
        return JobResult.model_validate(body)
