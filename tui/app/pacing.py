"""Frame pacing by output bandwidth: what keeps capwatch light on a slow SSH link during an event storm.

The app follows the Store at most 20 times a second. When little changes that is what an operator sees: each
change within a frame. When a storm rewrites most of the screen every frame, 20 frames a second would be
hundreds of KB/s down an SSH link; instead the bytes the terminal driver actually writes are metered, and the
next frame waits until the link budget (`max_output_kbps` in the config, 24 KB/s by default, 0 for no limit)
has room again, or until it has waited three seconds (tui/app/app.py MAX_HOLD). Changes are never lost while waiting:
the Store's change feed keeps coalescing them, and the next frame shows the latest state. Keys are never paced:
Textual answers them at once, and their bytes simply count against the budget; so the wait is bounded, or an
operator at work (a window opened, a path typed, ctrl+e every half second) kept every table as it was for as long
as that lasted (tests/system/test_team_tmux.py: an Events tab exported again and again for 30 s never showed the
last rows before the world paused).
"""

from __future__ import annotations

import time
from typing import Callable


class OutputBudget:
    """A token bucket of bytes: refilled at `bytes_per_second`, holding at most one second's worth.

    `spend(n)` is called with every write to the terminal; `has_room()` tells the frame loop whether a frame
    may be drawn now. The bucket may go into debt (a frame is as big as it is), which delays the next one."""

    def __init__(self, bytes_per_second: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate = max(0.0, bytes_per_second)
        self.clock = clock
        self.tokens = self.rate  # a full second's worth to start: the first screens are not held back
        self.updated = clock()
        self.written = 0  # bytes written in all, for the health view and benchmarks

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def spend(self, count: int) -> None:
        self.written += count
        if self.unlimited:
            return
        self._refill()
        self.tokens -= count

    def has_room(self) -> bool:
        if self.unlimited:
            return True
        self._refill()
        return self.tokens > 0


def metered_driver(base: type, budget_of: Callable[[object], OutputBudget | None]) -> type:
    """A subclass of the platform's Textual driver that counts what it writes against the app's budget.

    `budget_of(app)` finds the budget at write time (the driver is made inside `App.__init__`, before the
    app's own attributes exist)."""

    class MeteredDriver(base):  # type: ignore[misc, valid-type]
        def write(self, data: str) -> None:
            budget = budget_of(self._app)
            if budget is not None:
                budget.spend(len(data.encode("utf-8", "replace")))
            super().write(data)

    MeteredDriver.__name__ = MeteredDriver.__qualname__ = f"Metered{base.__name__}"
    return MeteredDriver
