"""The local webhook receiver for Casmo and Capx: `POST /webhooks/casmo` and `POST /webhooks/capx`.

Served inside the capwatch process by uvicorn on the running event loop rather than a hand-written asyncio
server: uvicorn is already a dependency (the simulator uses it), and its HTTP/1.1 parser gets the details right
(chunked bodies, keep-alive, header limits) that a minimal parser would have to re-implement on input from the
network. That parser is httptools (llhttp, in C) where it is installed, as the project asks, else h11: a third
of the work per delivery, which counts in a storm of a few hundred webhooks a second. The application itself is
a bare ASGI callable. We bind the socket ourselves, so port 0 yields the real port before `start()` returns and
a taken port raises OSError there.

Order of checks, so nothing untrusted is parsed before it is authenticated: size (413 past 1 MiB, from
Content-Length or while reading, which stops at the cap), then the HMAC-SHA256 hex signature of the raw body
in constant time (401), then JSON (400). A repeated delivery (same body) is acknowledged and not applied
twice. Replies are fixed small bodies: request content is never reflected back. Bodies and secrets are never
logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import socket
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

import uvicorn

from tui.live.events import load_json
from tui.vendors.casmo.client import verify_signature

# Debug level only: nothing configures logging in the app, and a warning would reach stderr (Python's
# last-resort handler) and tear the TUI. The counters are what the operator sees.
log = logging.getLogger("capwatch.webhooks")

SERVICES = ("casmo", "capx")
MAX_BODY = 1 << 20  # 1 MiB: a result document is a few KiB; anything near this is not a vendor's webhook
READ_TIMEOUT = 10.0  # a sender that trickles its body this long is cut off (408)
MAX_CONNECTIONS = 64  # uvicorn answers 503 beyond this: a local flood cannot pile up tasks

OnDelivery = Callable[[str, dict[str, Any], float], None]
Reply = tuple[int, bytes]


def _reply(status: int, **body: Any) -> Reply:
    return status, json.dumps(body, separators=(",", ":")).encode()


# Fixed replies: nothing from the request ever appears in them.
ACCEPTED = _reply(200, ok=True)
DUPLICATE = _reply(200, ok=True, duplicate=True)
NOT_FOUND = _reply(404, error="not found")
NOT_ALLOWED = _reply(405, error="method not allowed")
TIMED_OUT = _reply(408, error="request timeout")
INCOMPLETE = _reply(400, error="incomplete body")
TOO_LARGE = _reply(413, error="payload too large")
BAD_SIGNATURE = _reply(401, error="invalid signature")
INVALID = _reply(400, error="invalid payload")
FAILED = _reply(500, error="internal error")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: inside capwatch, Ctrl-C belongs to the app (or to `tail`)."""

    def capture_signals(self):
        return contextlib.nullcontext()


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class WebhookReceiver:
    """Receives signed webhooks and hands each new, verified JSON object to `on_delivery(service, payload,
    received_at)`. `secrets` maps "casmo"/"capx" to the webhook secret; None turns that route off (404)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, secrets: dict[str, str | None],
                 on_delivery: OnDelivery, remember: int = 10_000):
        self.host = host
        self.port = port
        self._secrets = dict(secrets)  # private, and never in a repr or a log line
        self.on_delivery = on_delivery
        self.remember = remember
        self.seen: OrderedDict[bytes, None] = OrderedDict()  # digests of applied deliveries, oldest first
        self.counts = {"accepted": 0, "rejected_signature": 0, "too_large": 0, "duplicates": 0, "invalid": 0}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self._socket: socket.socket | None = None

    def __repr__(self) -> str:
        routes = ",".join(s for s in SERVICES if self._secrets.get(s))
        return f"WebhookReceiver(url={self.url!r}, routes={routes!r})"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def app(self) -> Callable[..., Awaitable[None]]:
        """The ASGI application: a bare one, not a framework's, for one route and fixed replies (a Starlette app,
        with its middleware stack, took 15 % more instructions per delivery)."""
        return self._asgi

    async def _asgi(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":  # no lifespan (off) and no WebSocket route
            return
        status, body = await self.receive(scope, receive)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    # ------------------------------------------------------------------------------------------- one request

    async def receive(self, scope: dict[str, Any], receive: Callable) -> Reply:
        path = scope["path"]
        service = path[len("/webhooks/"):] if path.startswith("/webhooks/") else None
        secret = self._secrets.get(service) if service in SERVICES else None
        if not secret:
            return NOT_FOUND
        if scope["method"] != "POST":
            return NOT_ALLOWED
        headers = dict(scope["headers"])  # names come lower-case (ASGI); a repeated header keeps its last value
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            self.counts["too_large"] += 1
            return TOO_LARGE
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                raw = await self._read_body(receive)
        except _TooLarge:
            self.counts["too_large"] += 1
            return TOO_LARGE
        except TimeoutError:
            self.counts["invalid"] += 1
            return TIMED_OUT
        except _Disconnected:
            return INCOMPLETE

        signature = headers.get(b"x-webhook-signature")
        if not verify_signature(raw, None if signature is None else signature.decode("latin-1"), secret):
            self.counts["rejected_signature"] += 1
            log.debug("webhook %s: rejected, bad or missing signature", service)
            return BAD_SIGNATURE

        digest = hashlib.sha256(service.encode() + b"\0" + raw).digest()
        if digest in self.seen:  # the sender retried, or replayed: acknowledge, apply nothing
            self.seen.move_to_end(digest)
            self.counts["duplicates"] += 1
            return DUPLICATE
        try:
            payload = json_object(raw)
        except ValueError:
            self.counts["invalid"] += 1
            return INVALID

        try:
            self.on_delivery(service, payload, time.time())
        except Exception as error:  # our bug, not the sender's: answer 500 so it retries, and stay up
            log.debug("webhook %s: delivery handler failed: %s", service, type(error).__name__)
            return FAILED
        self.seen[digest] = None  # only now: a failed delivery must not turn its retry into a "duplicate"
        if len(self.seen) > self.remember:
            self.seen.popitem(last=False)
        self.counts["accepted"] += 1
        return ACCEPTED

    @staticmethod
    async def _read_body(receive: Callable) -> bytes:
        body = bytearray()  # not bytes: a body trickled a byte at a time must not be copied whole at each one
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            body += message.get("body", b"")
            if len(body) > MAX_BODY:  # chunked, or lying about its length: stop reading here
                raise _TooLarge
            if not message.get("more_body", False):
                return bytes(body)

    # ------------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind (raising OSError when the address is taken) and serve in the background."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on connections whose socket
        # says TCP, and accepted ones copy this one. With Nagle on, every reply waited ~40 ms for the sender's
        # delayed ACK (uvicorn writes a reply's head and body apart): a sender one at a time got 25 a second.
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((self.host, self.port))
        except OSError:
            self._socket.close()
            self._socket = None
            raise
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            interface="asgi3",  # a bound method: uvicorn's guess would take it for ASGI 2
            log_config=None,  # leave the process's logging alone: stray stderr output would tear a TUI
            log_level="critical",
            access_log=False,  # an access log line would carry the sender's address and path, nothing useful
            lifespan="off",
            proxy_headers=False,  # a local receiver: no proxy in front of it whose headers to trust
            limit_concurrency=MAX_CONNECTIONS,
            timeout_graceful_shutdown=1,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="webhook receiver")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the webhook receiver stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except Exception:  # shutting down: a timeout or a server error changes nothing now
                self._task.cancel()
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = self._socket = None


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ValueError (also for valid JSON that is not an object)."""
    payload = load_json(raw)  # also ValueError for nesting deeper than any vendor payload
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload
