"""The wall clock every screen reads: ages, "updated 3s ago", sparkline windows, ETAs, the header clock.

One seam, so snapshot tests can show a frozen moment (`monkeypatch.setattr(tui.wall_clock, "now", ...)`). Call it
as `wall_clock.now()` through the module, never `from tui.wall_clock import now`, or the seam is bypassed.
Intervals and timeouts keep using `time.monotonic()`: they measure, they are not shown.
"""

from __future__ import annotations

import time


def now() -> float:
    """Epoch seconds, as shown on screen."""
    return time.time()


def local(moment: float | None = None) -> time.struct_time:
    """`moment` (default: now) in the local time zone."""
    return time.localtime(now() if moment is None else moment)


def hms(moment: float | None = None) -> str:
    """HH:MM:SS local."""
    return time.strftime("%H:%M:%S", local(moment))
