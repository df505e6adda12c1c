"""Simulated CapOut: documents that move processing -> completed | failed and spend credits, short-lived
realtime tokens, and status over WebSocket and SSE with `document_id` / `recent=N` scope and backfill.

Choices where the docs are silent (see ../shared/API-CONTRACT.md): an unknown or expired token is refused at
the WebSocket handshake with HTTP 401 (and with a 401 JSON error on SSE), so a client never sees a socket open
and close at once; a token that expires while connected closes the WebSocket with 4001 and ends the SSE stream.
Bad client messages on the WebSocket get a `{"type": "error", "message"}` reply and the connection stays open.
A failed document says why as the contract's CapOut errors do, `"error": {"code", "message"}` (the docs give a
document no reason field; clients keep unknown fields), in its realtime messages and `GET /status`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import zlib
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tui.sim.core import StreamSession, VendorSim, iso, sse_response, utc_now

MAX_DOCUMENTS = 20_000
FILE_STEMS = ["claim-{n}-estimate", "invoice-{n}", "policy-{n}", "water-damage-{n}-photos", "contract-{n}",
              "inspection-report-{n}", "adjuster-notes-{n}", "supplement-{n}"]
# Background uploads (others in the organization) leave this many credits for the operator's own uploads, so
# the organization never hits 402 by itself.
CREDIT_RESERVE = 10
SEEDED_DOCUMENTS = 12
# Why a document fails: (code, message; {page} is a page number). Chosen by the document's id, not the world's
# random generator, so a seed's world is the same as before failures had reasons.
FAILURES = [
    ("unreadable_page", "page {page} is unreadable"),
    ("password_protected", "the PDF is password protected"),
    ("ocr_failed", "text recognition failed on page {page}"),
    ("unsupported_file", "not a PDF: the file is an image archive"),
    ("workflow_rejected", "the xn address has no workflow for this document type"),
]


def with_error(reply: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """`reply` with the document's `error` when it failed (no such key otherwise: the documented shape)."""
    if document.get("error"):
        reply["error"] = document["error"]
    return reply


class Token:
    __slots__ = ("value", "expires_monotonic", "expires_at")

    def __init__(self, value: str, ttl: float):
        self.value = value
        self.expires_monotonic = time.monotonic() + ttl
        self.expires_at = iso(utc_now() + timedelta(seconds=ttl))


class CapOutSim(VendorSim):
    name = "capout"
    prefix = "/capout"
    weight = 0.35

    def __init__(self, sim):
        super().__init__(sim)
        self.documents: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.processing: OrderedDict[str, None] = OrderedDict()  # ids still processing, oldest first
        self.tokens: dict[str, Token] = {}
        self.credits_total = 0
        self.credits_used = 0
        # At high rates the background would spend the default 500 credits in seconds and then stop: an
        # organization with more than the reserve has a recharge plan that buys that many again when the
        # background runs low (credits_total grows). A smaller balance (tests of 402) gets no recharge.
        starting = sim.options.capout_credits
        self.recharge = starting if starting > CREDIT_RESERVE else 0
        self.organization_id = "org_" + sim.new_id("", 8)
        self.topic = sim.topic("capout")
        self.counter = 0
        for _ in range(SEEDED_DOCUMENTS):  # a world that already has some history
            self._create()
        for doc_id in list(self.processing)[:8]:
            self._advance(doc_id)
        # The history was paid for before: a fresh organization has exactly options.capout_credits left.
        self.credits_total = self.credits_used + starting

    # ------------------------------------------------------------------------------------------- world

    @property
    def credits_remaining(self) -> int:
        return self.credits_total - self.credits_used

    def _create(self, *, file_name: str | None = None, source: str | None = None) -> dict[str, Any]:
        self.counter += 1
        doc_id = self.sim.new_id("doc_", 10)
        now = iso()
        if file_name is None:
            stem = self.sim.rng.choice(FILE_STEMS).format(n=100 + self.counter)
            file_name = self.sim.label(f"{stem}.pdf")
        document = {
            "document_id": doc_id,
            "workflow_id": self.sim.new_id("wf_", 8),
            "file_name": file_name,
            "status": "processing",
            "workflow_complete": False,
            "completed_at": None,
            "created_at": now,
            "updated_at": now,
        }
        if source:
            document["source"] = source
        self.documents[doc_id] = document
        self.processing[doc_id] = None
        self.credits_used += 1
        self._evict()
        self._publish(document)
        return document

    def _advance(self, doc_id: str) -> None:
        document = self.documents.get(doc_id)
        self.processing.pop(doc_id, None)
        if document is None:
            return
        now = iso()
        failed = self.sim.rng.random() < 0.1
        document.update(status="failed" if failed else "completed", workflow_complete=not failed,
                        completed_at=now, updated_at=now)
        if failed:
            document["error"] = self.failure(doc_id)
        self._publish(document)

    def failure(self, doc_id: str) -> dict[str, str]:
        """Why the document `doc_id` failed, as the contract's CapOut error object (its message a server string:
        laced with escapes and markup under the `hostile` fault)."""
        digest = zlib.crc32(doc_id.encode())
        code, message = FAILURES[digest % len(FAILURES)]
        return {"code": code, "message": self.sim.label(message.format(page=2 + digest // 7 % 9))}

    def _evict(self) -> None:
        """Drop the oldest finished documents beyond the cap; processing ones stay until they finish."""
        while len(self.documents) > MAX_DOCUMENTS:
            oldest = next((doc_id for doc_id in self.documents if doc_id not in self.processing), None)
            if oldest is None:
                return
            del self.documents[oldest]

    def _publish(self, document: dict[str, Any]) -> None:
        self.topic.publish(self.message(document))

    @staticmethod
    def message(document: dict[str, Any]) -> dict[str, Any]:
        message = {"type": "document.status", **{k: document.get(k) for k in (
            "document_id", "file_name", "status", "workflow_complete", "completed_at", "updated_at")}}
        return with_error(message, document)

    def tick(self, count: int) -> None:
        for _ in range(count):
            if self.credits_remaining < CREDIT_RESERVE and self.recharge:
                self.credits_total += self.recharge
            can_upload = self.credits_remaining >= CREDIT_RESERVE
            # Keep a pipeline: finish the oldest processing document about as often as new ones arrive.
            if self.processing and (not can_upload or len(self.processing) > 6 or self.sim.rng.random() < 0.5):
                self._advance(next(iter(self.processing)))
            elif can_upload:
                self._create()

    def snapshot(self) -> dict[str, Any]:
        return {
            "documents": {doc_id: self.status_of(doc) for doc_id, doc in self.documents.items()},
            "credits": self.credits(),
        }

    @staticmethod
    def status_of(document: dict[str, Any]) -> dict[str, Any]:
        return with_error({k: document.get(k) for k in ("document_id", "status", "workflow_complete", "completed_at",
                                                        "updated_at", "file_name", "created_at")}, document)

    def credits(self) -> dict[str, Any]:
        return {"organization_id": self.organization_id, "credits_remaining": self.credits_remaining,
                "credits_used": self.credits_used, "credits_total": self.credits_total, "updated_at": iso()}

    # ------------------------------------------------------------------------------------------- REST

    def error(self, status: int, code: str, message: str) -> Response:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("capout-api-key") == self.sim.options.capout_api_key

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/upload", self.upload, methods=["POST"]),
            Route("/status/{document_id}", self.status, methods=["GET"]),
            Route("/ws/token", self.mint_token, methods=["POST"]),
            Route("/credits", self.get_credits, methods=["GET"]),
            Route("/sse/status", self.sse_status, methods=["GET"]),
            WebSocketRoute("/ws/status", self.ws_status),
        ]

    async def upload(self, request: Request) -> Response:
        if not self._authorized(request):
            return self.error(401, "unauthorized", "Missing or invalid capout-api-key")
        try:
            body = await request.json()
        except ValueError:
            return self.error(400, "invalid_request", "The body must be JSON")
        if not isinstance(body, dict):
            return self.error(400, "invalid_request", "The body must be a JSON object")
        missing = [f for f in ("file_name", "xn_address") if not isinstance(body.get(f), str) or not body[f].strip()]
        if missing:
            return self.error(400, "invalid_request", f"Missing required field: {missing[0]}")
        has_url, has_b64 = bool(body.get("url")), bool(body.get("file_base64"))
        if has_url == has_b64:
            return self.error(400, "invalid_request", "Provide exactly one of url or file_base64")
        if has_b64:
            try:
                base64.b64decode(str(body["file_base64"]), validate=True)
            except (binascii.Error, ValueError):
                return self.error(400, "invalid_request", "file_base64 is not valid base64")
        elif not str(body["url"]).startswith(("http://", "https://")):
            return self.error(400, "invalid_request", "url must be an http(s) URL")
        if self.credits_remaining < 1:
            return self.error(402, "insufficient_credits", "No credits left for this organization")
        document = self._create(file_name=body["file_name"], source="url" if has_url else "base64")
        return JSONResponse({
            "document_id": document["document_id"],
            "workflow_id": document["workflow_id"],
            "status": "processing",
            "created_at": document["created_at"],
            "status_url": f"/status/{document['document_id']}",
            "ws_url": "/ws/status",
        })

    async def status(self, request: Request) -> Response:
        if not self._authorized(request):
            return self.error(401, "unauthorized", "Missing or invalid capout-api-key")
        document = self.documents.get(request.path_params["document_id"])
        if document is None:
            return self.error(404, "not_found", "Document not found")
        return JSONResponse(with_error({k: document[k] for k in ("document_id", "status", "workflow_complete",
                                                                  "completed_at", "updated_at")}, document))

    async def mint_token(self, request: Request) -> Response:
        if not self._authorized(request):
            return self.error(401, "unauthorized", "Missing or invalid capout-api-key")
        token = Token("rt_" + self.sim.new_id("", 24), self.sim.options.token_ttl)
        now = time.monotonic()
        self.tokens = {k: t for k, t in self.tokens.items() if t.expires_monotonic > now}
        self.tokens[token.value] = token
        self.sim.journal.tokens_minted += 1
        return JSONResponse({"token": token.value, "organization_id": self.organization_id,
                             "expires_at": token.expires_at, "ws_url": "/ws/status", "sse_url": "/sse/status"})

    async def get_credits(self, request: Request) -> Response:
        if not self._authorized(request):
            return self.error(401, "unauthorized", "Missing or invalid capout-api-key")
        return JSONResponse(self.credits())

    # ------------------------------------------------------------------------------------------- realtime

    def _token(self, value: str | None) -> Token | None:
        token = self.tokens.get(value or "")
        if token is None or token.expires_monotonic <= time.monotonic():
            return None
        return token

    def _scope(self, params) -> tuple[set[str], int]:
        ids = set(params.getlist("document_id"))
        try:
            recent = max(0, min(1000, int(params.get("recent") or 0)))
        except ValueError:
            recent = 0
        return ids, recent

    def _backfill(self, ids: set[str], recent: int) -> list[dict[str, Any]]:
        chosen = [doc_id for doc_id in ids if doc_id in self.documents]
        if recent:
            latest = list(self.documents)[-recent:]
            chosen += [doc_id for doc_id in latest if doc_id not in ids]
        return [self.message(self.documents[doc_id]) for doc_id in chosen]

    async def sse_status(self, request: Request) -> Response:
        token = self._token(request.query_params.get("token"))
        if token is None:
            return self.error(401, "unauthorized", "Unknown or expired realtime token")
        ids, recent = self._scope(request.query_params)

        def accept(payload: dict[str, Any]) -> bool:
            return bool(recent) or payload.get("document_id") in ids

        return await sse_response(self.sim, request, self.topic, event_name=None, accept=accept,
                                  backfill=self._backfill(ids, recent), deadline=token.expires_monotonic)

    async def ws_status(self, websocket: WebSocket) -> None:
        token = self._token(websocket.query_params.get("token"))
        if token is None:
            await websocket.send_denial_response(self.error(401, "unauthorized", "Unknown or expired realtime token"))
            return
        await websocket.accept()
        ids, recent = self._scope(websocket.query_params)
        session = StreamSession(self.sim, self.topic.name)
        queue = self.topic.subscribe()
        self.sim.journal.streams_opened[self.topic.name] += 1
        faults = self.sim.faults

        async def send(payload: dict[str, Any]) -> None:
            self.sim.journal.delivered[self.topic.name] += 1
            await websocket.send_text(session.encode_payload(payload))

        async def reply_error(message: str) -> None:
            await websocket.send_text(json.dumps({"type": "error", "message": message, "timestamp": iso()}))

        async def listen() -> None:
            """Subscribe / unsubscribe actions from the client; returns when the client goes away."""
            try:
                while True:
                    frame = await websocket.receive()
                    if frame["type"] == "websocket.disconnect":
                        return
                    text = frame.get("text")
                    if text is None:
                        await reply_error("messages must be JSON text frames")
                        continue
                    try:
                        action = json.loads(text)
                    except ValueError:
                        await reply_error("messages must be JSON")
                        continue
                    if not isinstance(action, dict) or action.get("action") not in ("subscribe", "unsubscribe"):
                        await reply_error("unknown action: use subscribe or unsubscribe")
                        continue
                    given = action.get("document_ids")
                    if not isinstance(given, list):
                        await reply_error("document_ids must be a list")
                        continue
                    wanted = {d for d in given if isinstance(d, str)}
                    if action["action"] == "unsubscribe":
                        ids.difference_update(wanted)
                        continue
                    fresh = wanted - ids
                    ids.update(wanted)
                    for doc_id in sorted(fresh):  # their current state first, as a backfill would give it
                        if doc_id in self.documents:
                            await send(self.message(self.documents[doc_id]))
            except (WebSocketDisconnect, RuntimeError):
                return  # the socket closed under us: the main loop ends the connection

        listener = asyncio.create_task(listen())
        close_code = 1000
        try:
            skip_upto = self.topic.seq
            for payload in self._backfill(ids, recent):
                await send(payload)
            while True:
                timeout = max(0.001, token.expires_monotonic - time.monotonic())
                if faults.drop_every:
                    timeout = min(timeout, max(0.001, session.opened + faults.drop_every - time.monotonic()))
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, listener}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if listener in done:  # the client went away
                    getter.cancel()
                    return
                if time.monotonic() >= token.expires_monotonic:
                    getter.cancel()
                    close_code = 4001
                    break
                if session.should_drop():
                    getter.cancel()
                    self.sim.journal.streams_dropped[self.topic.name] += 1
                    close_code = faults.ws_close_code
                    break
                if getter not in done:
                    getter.cancel()
                    continue
                event = getter.result()
                if event is None:
                    close_code = 1011  # fell too far behind
                    break
                if event.seq <= skip_upto:
                    continue
                if recent or event.payload.get("document_id") in ids:
                    await send(event.payload)
            await websocket.close(code=close_code, reason="token expired" if close_code == 4001 else "")
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            listener.cancel()
            self.topic.unsubscribe(queue)
