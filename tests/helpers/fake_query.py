"""Captain's query action (`hub.vendor("captain").query`) for tests with no server: it records each call, can hold
every query until cancelled or released (`gate`), fail with `error`, or answer with `reply(question, database)`."""

from __future__ import annotations

import asyncio
from typing import Callable

from tui.vendors.captain.client import QueryResponse


def plain_reply(question: str, database: str) -> QueryResponse:
    return QueryResponse(status="success", response=f"An answer to: {question}", query=question,
                         database_name=database)


class FakeCaptain:
    """An async Captain query recording calls as (question, database, include_files)."""

    def __init__(self, gate: bool = False, error: Exception | None = None,
                 reply: Callable[[str, str], QueryResponse] = plain_reply):
        self.calls: list[tuple[str, str, bool]] = []
        self.started = asyncio.Event()
        self.cancelled = 0
        self.gate = asyncio.Event() if gate else None
        self.error = error
        self.reply = reply

    @property
    def questions(self) -> list[str]:
        return [question for question, _database, _files in self.calls]

    async def __call__(self, question: str, database_name: str, *, include_files: bool = False) -> QueryResponse:
        self.calls.append((question, database_name, include_files))
        self.started.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return self.reply(question, database_name)
