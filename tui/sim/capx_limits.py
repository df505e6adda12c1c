"""The simulated Capx plan: the rolling minute and the requests in flight, both per API key.

The docs (seed 003) list Starter (60 requests a minute, 10 concurrent), Pro (300, 50) and Enterprise (custom);
the contract says "concurrent" counts requests in flight, and that an SSE stream costs one request when it
connects and nothing after. So a stream is in flight only until its reply's head goes out, and a REST call until
its whole body has. A request refused for either reason is not counted in the minute, and its 429 carries
`Retry-After` and the `X-RateLimit-*` headers, as every reply does.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNAUTHENTICATED = "unauthenticated"  # the rate-limit bucket shared by every caller without a valid key


class Plan(NamedTuple):
    minute: int  # requests per rolling minute
    concurrent: int | None  # requests in flight at once (None: no limit)


# Enterprise is "custom" in the docs: these are the simulator's figures for it, overridable with --rate-limit
# and --concurrency.
PLANS = {"starter": Plan(60, 10), "pro": Plan(300, 50), "enterprise": Plan(6000, 500)}


class KeyLimits:
    """Send times within the window and requests in flight, per key (bucket)."""

    def __init__(self, minute: int, concurrent: int | None, window: float = 60.0):
        self.minute = minute
        self.concurrent = concurrent
        self.window = window  # seconds: the rolling window (tests shorten it after start)
        self.requests: dict[str, deque[float]] = {}
        self.in_flight: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # "minute" / "concurrency" -> 429s answered

    def headers(self, bucket: str) -> dict[str, str]:
        now = time.time()
        window = self.requests.setdefault(bucket, deque())
        while window and window[0] <= now - self.window:
            window.popleft()
        # Reset: when the oldest request in the window falls out of it (a rolling window), rounded up.
        reset = int((window[0] + self.window) if window else now + self.window) + 1
        return {"X-RateLimit-Limit": str(self.minute), "X-RateLimit-Remaining": str(max(0, self.minute - len(window))),
                "X-RateLimit-Reset": str(reset)}

    def count(self, bucket: str) -> tuple[bool, dict[str, str]]:
        """Count one request in `bucket`'s minute when there is room: (counted, the reply's headers)."""
        headers = self.headers(bucket)
        if int(headers["X-RateLimit-Remaining"]) <= 0:
            if bucket != UNAUTHENTICATED:
                self.refused["minute"] += 1
            return False, headers
        self.requests[bucket].append(time.time())
        return True, self.headers(bucket)

    def busy(self, bucket: str) -> bool:
        """Whether one more request of `bucket` would go over the plan's concurrency."""
        return (bucket != UNAUTHENTICATED and self.concurrent is not None
                and self.in_flight[bucket] >= self.concurrent)


class InFlight:
    """ASGI wrapper around the Capx routes: counts each key's requests in flight, refuses one too many with a
    429 before it reaches a route (so it is not counted in the minute), and lets go of a stream at its head."""

    def __init__(self, app: ASGIApp, limits: KeyLimits, bucket_of, refuse):
        self.app = app
        self.limits = limits
        self.bucket_of = bucket_of  # scope -> bucket
        self.refuse = refuse  # (bucket) -> Response: the 429 in the vendor's envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bucket = self.bucket_of(scope)
        limits = self.limits
        if limits.busy(bucket):
            limits.refused["concurrency"] += 1
            await self.refuse(bucket)(scope, receive, send)
            return
        limits.in_flight[bucket] += 1
        held = [True]

        def release() -> None:
            if held[0]:
                held[0] = False
                limits.in_flight[bucket] -= 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in message["headers"]):
                    release()  # a stream costs its opening, nothing after
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()

        try:
            await self.app(scope, receive, counting_send)
        finally:
            release()
