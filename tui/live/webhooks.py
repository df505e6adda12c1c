"""The local webhook receiver for Casmo and Capx: `POST /webhooks/casmo` and `POST /webhooks/capx`.

Served inside the capwatch process by uvicorn on the running event loop (the same server the simulator uses,
so no extra dependency). Order of checks, so nothing untrusted is parsed before it is authenticated: size
(413 past 1 MiB, from Content-Length or while reading), then the HMAC-SHA256 of the raw body in constant time
(401), then JSON (400). A repeated delivery (same body) is acknowledged and not applied twice. Replies are
fixed small bodies: request content is never reflected back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import time
from collections import OrderedDict
from typing import Any, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_BODY = 1 << 20


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: inside capwatch, Ctrl-C belongs to the app (or to `tail`)."""

    def capture_signals(self):
        return contextlib.nullcontext()
SERVICES = ("casmo", "capx")


def verify_signature(body: bytes, signature: str | None, secret: str) -> bool:
    """The vendors' recipe: hex HMAC-SHA256 of the raw body with the webhook secret, compared in constant time."""
    if not signature or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


class WebhookReceiver:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, secrets: dict[str, str | None],
                 on_delivery: Callable[[str, dict[str, Any], float], None], remember: int = 10_000):
        self.host = host
        self.port = port
        self.secrets = secrets
        self.on_delivery = on_delivery
        self.seen: OrderedDict[bytes, None] = OrderedDict()
        self.remember = remember
        self.counts = {"accepted": 0, "rejected_signature": 0, "too_large": 0, "duplicates": 0, "invalid": 0}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/webhooks/{service}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> JSONResponse:
        service = request.path_params["service"]
        secret = self.secrets.get(service) if service in SERVICES else None
        if not secret:
            return JSONResponse({"error": "not found"}, status_code=404)
        declared = request.headers.get("content-length")
        if declared and (not declared.isdigit() or int(declared) > MAX_BODY):
            self.counts["too_large"] += 1
            return JSONResponse({"error": "payload too large"}, status_code=413)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:  # chunked or lying about its length: stop reading now
                    self.counts["too_large"] += 1
                    return JSONResponse({"error": "payload too large"}, status_code=413)
        except ClientDisconnect:
            return JSONResponse({"error": "incomplete"}, status_code=400)
        raw = bytes(body)
        if not verify_signature(raw, request.headers.get("x-webhook-signature"), secret):
            self.counts["rejected_signature"] += 1
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        digest = hashlib.sha256(service.encode() + b"\0" + raw).digest()
        if digest in self.seen:
            self.counts["duplicates"] += 1
            return JSONResponse({"ok": True, "duplicate": True})
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self.counts["invalid"] += 1
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        if not isinstance(payload, dict):
            self.counts["invalid"] += 1
            return JSONResponse({"error": "invalid payload"}, status_code=400)
        self.seen[digest] = None
        if len(self.seen) > self.remember:
            self.seen.popitem(last=False)
        self.counts["accepted"] += 1
        self.on_delivery(service, payload, time.time())
        return JSONResponse({"ok": True})

    async def start(self) -> None:
        """Bind (raising OSError when the port is taken) and serve in the background."""
        self._socket = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self.port))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="critical", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="webhook receiver")
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self._task.cancel()
        if self._socket is not None:
            self._socket.close()
