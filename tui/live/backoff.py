"""Reconnect delays: jittered exponential backoff that resets only after a connection proved healthy.

A server that accepts and then closes at once (an expired token, an overloaded proxy) must not reset the
backoff, or the client reconnects in a tight loop; so the attempt count resets only when a connection lived
at least `healthy_after` seconds. Every delay is at least `base / 2`, so many channels failing together
never storm the server.

And the one way the live layer waits for a wake-up with a deadline (`wait_set`): not `asyncio.wait_for`, which on
Python 3.11 loses a cancellation that arrives as the awaited thing completes.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Callable

_JITTER = random.Random()
_MAX_EXPONENT = 32  # 2**32 * base is far beyond any cap; keeps the power from overflowing a float


class Backoff:
    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        healthy_after: float = 5.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base = base
        self.cap = max(cap, base / 2)
        self.healthy_after = healthy_after
        self.rng = rng or _JITTER  # one shared source: a Random of its own is 2.5 KB, per channel of a fleet
        self.clock = clock
        self.attempts = 0  # failed connections since the last healthy one
        self._connected_at: float | None = None

    @property
    def minimum(self) -> float:
        return self.base / 2

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt: "full jitter" between the minimum and
        base * 2**attempts (capped), then one more attempt is counted."""
        ceiling = min(self.cap, self.base * 2 ** min(self.attempts, _MAX_EXPONENT))
        self.attempts += 1
        return self.rng.uniform(self.minimum, max(self.minimum, ceiling))

    @property
    def connected_at(self) -> float | None:
        """When the current connection opened (`clock()` time), or None between connections."""
        return self._connected_at

    def connected(self) -> None:
        """A connection is open (the stream answered): start timing how long it lives."""
        self._connected_at = self.clock()

    def disconnected(self) -> bool:
        """The connection ended. Returns whether it had lived long enough to count as healthy, in which
        case the attempt count starts over."""
        started, self._connected_at = self._connected_at, None
        healthy = started is not None and self.clock() - started >= self.healthy_after
        if healthy:
            self.attempts = 0
        return healthy

    def reset(self) -> None:
        self.attempts = 0
        self._connected_at = None


async def wait_set(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until `event` is set (True) or `timeout` seconds pass (False); a cancellation always ends the wait.

    Not `asyncio.wait_for` on `event.wait()`: on Python 3.11, a cancel that comes while the event's inner task
    has just finished (the event set a step or two before, as `Poller.check_now()` does) is swallowed there, the
    wait returns as if woken, and a loop around it never ends (the LiveHub's `stop()` waited for ever on a poller).
    `asyncio.timeout` waits in the task itself, so the cancel is raised (Python 3.12's `wait_for` is built on it)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
