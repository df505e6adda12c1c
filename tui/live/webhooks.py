"""The local webhook receiver for Casmo and Capx: `POST /webhooks/casmo` and `POST /webhooks/capx`.

Served inside the capwatch process, on the running event loop, by a small HTTP/1.1 server of its own
(tui/live/webhook_server.py: asyncio and httptools' C parser, with the limits that keep a hostile peer from
knocking it over; why not uvicorn any more is written there). This module is the application: routes, checks
and counts. We bind the socket ourselves, so port 0 yields the real port before `start()` returns and a taken
port raises OSError there.

Order of checks, so nothing untrusted is parsed before it is authenticated: route and method at the end of the
head (404, 405: answered without reading the body), size (413 past 1 MiB, from Content-Length or while
reading, which stops at the cap), then the HMAC-SHA256 hex signature of the raw body in constant time (401),
then JSON (400). A repeated delivery (same body) is acknowledged and not applied twice. Replies are fixed small
bodies: request content is never reflected back. Bodies and secrets are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
from collections import Counter, OrderedDict
from typing import Any, Callable

from tui.live.events import load_json
from tui.live.webhook_server import (  # noqa: F401 (the limits are part of this module's interface)
    FAILED, IDLE_TIMEOUT, MAX_BODY, MAX_HEAD, MAX_HEADERS, MAX_PER_PEER, READ_GAP, REQUEST_TIMEOUT, Reply,
    WebhookServer,
)
from tui.vendors.casmo.client import verify_signature

# Debug level only, but for the one line at the file limit (webhook_server.py): nothing configures logging in
# the app, and a warning reaches stderr (Python's last-resort handler). The counters are what the operator sees.
log = logging.getLogger("capwatch.webhooks")


OnDelivery = Callable[[str, dict[str, Any], float], None]
OnPressure = Callable[[bool, "str | None"], None]


def _reply(status: int, **body: Any) -> Reply:
    return status, json.dumps(body, separators=(",", ":")).encode()


# Fixed replies: nothing from the request ever appears in them.
ACCEPTED = _reply(200, ok=True)
DUPLICATE = _reply(200, ok=True, duplicate=True)
NOT_FOUND = _reply(404, error="not found")
NOT_ALLOWED = _reply(405, error="method not allowed")
BAD_SIGNATURE = _reply(401, error="invalid signature")
INVALID = _reply(400, error="invalid payload")

PRESSURE_WINDOW = 10.0  # refusals, evictions and time-outs are counted over the last two of these windows
DEGRADED_AFTER = 10  # that many in them: degraded until a whole window passes without any


class Pressure:
    """Whether the receiver is under sustained pressure: DEGRADED_AFTER refusals, evictions or time-outs within
    the last two windows of PRESSURE_WINDOW seconds. `on_change(degraded, reason)` hears it begin (with what
    happened, in words), the reason change at each window, and the end once a whole window passed quiet."""

    WORDS = {"refused": "connections refused (503)", "evicted": "idle connections dropped",
             "timeouts": "timed out", "file_limit": "times at the file limit"}

    def __init__(self, on_change: Callable[[bool, "str | None"], None]):
        self.on_change = on_change
        self.active = False  # degraded now
        self._window: Counter[str] = Counter()
        self._previous: Counter[str] = Counter()
        self._window_ends = 0.0

    def note(self, kind: str) -> None:
        self._window[kind] += 1
        if not self.active and sum(self._window.values()) + sum(self._previous.values()) >= DEGRADED_AFTER:
            self.active = True
            self.on_change(True, self.reason())

    def tick(self, now: float) -> bool:
        """At each sweep; True when a window just ended with nothing in it."""
        if now < self._window_ends:
            return False
        quiet = not self._window
        self._previous, self._window = self._window, Counter()
        self._window_ends = now + PRESSURE_WINDOW
        if self.active:
            self.active = not quiet
            self.on_change(self.active, self.reason() if self.active else None)
        return quiet

    def reason(self) -> str | None:
        """What went wrong lately, in words (None when nothing did)."""
        seen = self._window + self._previous
        parts = [f"{seen[kind]} {text}" for kind, text in self.WORDS.items() if seen[kind]]
        return ", ".join(parts) + f" in the last {PRESSURE_WINDOW * 2:.0f} s" if parts else None


# What `counts` holds: deliveries, then what the server refused or cut off (tui/live/webhook_server.py).
COUNTS = ("accepted", "duplicates", "rejected_signature", "too_large", "invalid", "unserved", "bad_request",
          "head_too_large", "timeouts", "evicted", "refused")


class WebhookReceiver:
    """Receives signed webhooks and hands each new, verified JSON object to `on_delivery(service, payload,
    received_at)`. `secrets` maps "casmo"/"capx" to the webhook secret; None turns that route off (404).
    `on_pressure(degraded, reason)` hears when refusals, evictions and time-outs become sustained, and when
    they end."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, secrets: dict[str, str | None],
                 on_delivery: OnDelivery, remember: int = 10_000, on_pressure: OnPressure | None = None):
        self.host = host
        self.port = port
        self._secrets = dict(secrets)  # private, and never in a repr or a log line
        self._routes = {f"/webhooks/{service}".encode(): service
                        for service, secret in self._secrets.items() if secret}
        self.on_delivery = on_delivery
        self.on_pressure = on_pressure
        self.remember = remember
        self.seen: OrderedDict[bytes, None] = OrderedDict()  # digests of applied deliveries, oldest first
        self.counts = dict.fromkeys(COUNTS, 0)
        self.server: WebhookServer | None = None
        self._socket: socket.socket | None = None

    def __repr__(self) -> str:
        routes = ",".join(service for service, secret in self._secrets.items() if secret)
        return f"WebhookReceiver(url={self.url!r}, routes={routes!r})"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections open now."""
        return self.server.connections if self.server is not None else 0

    @property
    def capacity(self) -> int:
        """How many connections it holds at most now (the file limit may lower it for a while)."""
        return self.server.capacity if self.server is not None else 0

    # ------------------------------------------------------------------------------------------- one request

    def route(self, method: bytes, path: bytes) -> Reply | None:
        """At the end of the head: 404 for a path not served (or whose secret is not set), 405 for a method
        other than POST; None to read the body."""
        if path not in self._routes:
            return NOT_FOUND
        if method != b"POST":
            return NOT_ALLOWED
        return None

    def handle(self, path: bytes, signature: bytes | None, raw: bytes) -> Reply:
        """A routed POST, its body within the size limit: the signature, then the rest of the checks."""
        service = self._routes[path]
        secret = self._secrets[service]
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

    # ------------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind (raising OSError when the address is taken) and serve in the background."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on connections whose socket
        # says TCP, and accepted ones copy this one. With Nagle on, a reply written in two parts waited ~40 ms
        # for the sender's delayed ACK (uvicorn wrote head and body apart; one write here, but keep it so).
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((self.host, self.port))
        except OSError:
            self._socket.close()
            self._socket = None
            raise
        self.port = self._socket.getsockname()[1]
        self.server = WebhookServer(self, self.counts, Pressure(self._pressure))
        self.server.start(self._socket)

    def _pressure(self, degraded: bool, reason: str | None) -> None:
        if self.on_pressure is not None:
            self.on_pressure(degraded, reason)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self._socket is not None:
            self._socket.close()
        self._socket = None


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ValueError (also for valid JSON that is not an object)."""
    payload = load_json(raw)  # also ValueError for nesting deeper than any vendor payload
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload
