"""CapOut (document workflows): wire models and the REST client. The realtime connection itself lives in
tui/vendors/capout/live.py; this module builds its URL (`realtime_url`)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Iterable, TypeVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from tui.api import ApiError, BaseClient, json_or_none, new_idempotency_key
from tui.text import mask_secret

M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "https://api.capout.ai"


class CapOutModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class UploadRequest(CapOutModel):
    file_name: str
    xn_address: str
    url: str | None = None
    file_base64: str | None = None


class UploadResponse(CapOutModel):
    document_id: str = ""
    workflow_id: str | None = None
    status: str | None = None
    created_at: str | None = None
    status_url: str | None = None
    ws_url: str | None = None


class DocumentStatus(CapOutModel):
    document_id: str = ""
    status: str | None = None
    workflow_complete: bool | None = None
    completed_at: str | None = None
    updated_at: str | None = None


class RealtimeMessage(DocumentStatus):
    type: str | None = None
    file_name: str | None = None


class RealtimeToken(CapOutModel):
    token: str = ""
    organization_id: str | None = None
    expires_at: str | None = None
    ws_url: str | None = None
    sse_url: str | None = None

    def __repr__(self) -> str:  # the token is a credential
        return f"RealtimeToken(token={mask_secret(self.token)!r}, expires_at={self.expires_at!r})"

    __str__ = __repr__


class Credits(CapOutModel):
    organization_id: str | None = None
    credits_remaining: float | None = None
    credits_used: float | None = None
    credits_total: float | None = None
    updated_at: str | None = None


class ErrorDetail(CapOutModel):
    code: str | None = None
    message: str | None = None


class ErrorBody(CapOutModel):
    error: ErrorDetail | None = None


def realtime_url(
    base_url: str,
    path_or_url: str,
    *,
    token: str,
    transport: str,
    document_ids: Iterable[str] = (),
    recent: int | None = None,
) -> str:
    """The WebSocket or SSE URL for a token: a relative path is appended to the base URL keeping its path
    (`http://h/capout` + `/ws/status` -> `ws://h/capout/ws/status`), an absolute URL is used as given; then the
    token, repeated `document_id` and `recent` are added."""
    if "://" in path_or_url:
        parts = urlsplit(path_or_url)
        scheme, netloc, path, existing = parts.scheme, parts.netloc, parts.path, parts.query
    else:
        base = urlsplit(base_url.rstrip("/"))
        scheme, netloc = base.scheme, base.netloc
        path = base.path.rstrip("/") + "/" + path_or_url.lstrip("/")
        existing = ""
    if transport == "ws":
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    else:
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    query = [("token", token)] + [("document_id", d) for d in document_ids]
    if recent:
        query.append(("recent", str(recent)))
    full_query = "&".join(filter(None, [existing, urlencode(query)]))
    return urlunsplit((scheme, netloc, path, full_query, ""))


class CapOutClient(BaseClient):
    service = "capout"

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, api_key: str, read_only: bool = False, **kwargs):
        super().__init__(base_url, headers={"capout-api-key": api_key}, read_only=read_only, api_key=api_key, **kwargs)

    def error_from(self, response: httpx.Response) -> ApiError:
        body = json_or_none(response)
        detail = body.get("error") if isinstance(body, dict) else None
        if isinstance(detail, dict):
            return ApiError(self.service, response.status_code, str(detail.get("message") or response.reason_phrase),
                            code=detail.get("code"))
        return ApiError(self.service, response.status_code, response.reason_phrase or "request failed")

    async def upload(self, file_name: str, xn_address: str, *, url: str | None = None,
                     file_base64: str | None = None) -> UploadResponse:
        if (url is None) == (file_base64 is None):
            raise ValueError("give exactly one of url or file_base64")
        self.guard("upload")
        body = UploadRequest(file_name=file_name, xn_address=xn_address, url=url, file_base64=file_base64)
        # CapOut documents no Idempotency-Key, so a retried upload could be a second document and a second
        # credit: the key is sent (a server that honours it deduplicates) but the upload is never retried
        # automatically. The operator sees the error and decides.
        reply = await self.send("POST", "/upload", json=body.model_dump(exclude_none=True),
                                headers={"Idempotency-Key": new_idempotency_key()}, idempotent=False)
        return self._parse(UploadResponse, reply)

    async def upload_path(self, path: str | Path, xn_address: str, *, file_name: str | None = None) -> UploadResponse:
        file_path = Path(path).expanduser()
        self.guard("upload")
        encoded = base64.b64encode(file_path.read_bytes()).decode()
        return await self.upload(file_name or file_path.name, xn_address, file_base64=encoded)

    def _parse(self, model: type[M], reply: httpx.Response) -> M:
        """The reply as `model`; a reply that is not one is an ApiError, as every vendor's bad reply is."""
        try:
            return model.model_validate(json_or_none(reply))
        except ValidationError as error:
            raise ApiError(self.service, reply.status_code,
                           f"unexpected {model.__name__} reply: {error.error_count()} problems") from None

    async def status(self, document_id: str) -> DocumentStatus:
        # Quoted: an id that carries "/" or "?" must stay one path segment.
        reply = await self.send("GET", f"/status/{quote(document_id, safe='')}")
        return self._parse(DocumentStatus, reply)

    async def mint_token(self) -> RealtimeToken:
        # Minting changes nothing on the server's data: allowed in read-only mode, retried like a read.
        reply = await self.send("POST", "/ws/token", idempotent=True)
        return self._parse(RealtimeToken, reply)

    async def credits(self) -> Credits:
        reply = await self.send("GET", "/credits")
        return self._parse(Credits, reply)
