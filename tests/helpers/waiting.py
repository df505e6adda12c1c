"""Waiting on a condition with a deadline: what the tests do instead of sleeping. The one helper for it."""

from __future__ import annotations

import asyncio
import time

import pytest


async def eventually(predicate, timeout: float = 20.0, message="condition not reached in time", *,
                     pilot=None, interval: float = 0.05) -> None:
    """Poll `predicate` every `interval` seconds until it holds; at the deadline fail with `message` (or
    `message()`, for a picture of the state at that moment). With a Textual `pilot`, each wait is
    `pilot.pause(interval)`, which also lets the app process what is pending."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(message() if callable(message) else message)
        if pilot is not None:
            await pilot.pause(interval)
        else:
            await asyncio.sleep(interval)
