"""Waiting on a condition with a deadline: what the live-layer tests do instead of sleeping."""

from __future__ import annotations

import asyncio
import time

import pytest


async def eventually(predicate, timeout: float = 20.0, message="condition not reached in time") -> None:
    """Poll `predicate` every 50 ms until it holds; at the deadline fail with `message` (or `message()`, for a
    picture of the state at that moment)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(message() if callable(message) else message)
        await asyncio.sleep(0.05)
