"""For the history's tests: events to record, and `where` (a fixture run once on SQLite, once on PostgreSQL)."""

from __future__ import annotations

import pytest

from tui.live.events import Event


def make_event(number: int, moment: float, *, service: str = "capx", event_type: str = "task.created",
               **data) -> Event:
    """Event `number` at `moment`: id `e<number>`, a Store update (kind, patch) as a vendor event has."""
    payload = {"n": number, "status": "awaiting_approval", **data}
    return Event(time=moment, service=service, type=event_type, id=f"e{number}", data=payload, kind="tasks",
                 patch={"status": payload["status"], "n": number}, received=moment + 0.25)


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path):
    """The `history` setting of an empty history: a SQLite file in a new directory, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "data" / "capwatch" / "history.sqlite3")
    return request.getfixturevalue("postgres_url")
