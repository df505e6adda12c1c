"""Rows and columns for the LiveTable tests (the widget's and its model's)."""

from __future__ import annotations

import random

from rich.text import Text

from tui.app.widgets.table_model import Column

COLUMNS = [
    Column("id", "ID", width=8),
    Column("name", "Name"),
    Column("status", "Status", width=10, render=lambda row: Text(row.get("status") or "-", style="green")),
    Column("size", "Size", width=6, align="right"),
]


def make_rows(count: int) -> dict[str, dict]:
    return {f"r{i:05d}": {"id": f"r{i:05d}", "name": f"file-{i}.pdf", "status": "queued", "size": i} for i in range(count)}


def random_changes(rng: random.Random) -> dict[str, dict | None]:
    """A few upserts and removals among r00000..r00399, the sizes of mixed kinds (which forces ranked sort keys)."""
    changed: dict[str, dict | None] = {}
    for _ in range(rng.randrange(1, 6)):
        row_id = f"r{rng.randrange(400):05d}"
        if rng.random() < 0.2:
            changed[row_id] = None
        else:
            size = rng.choice([rng.randrange(50), None, "text"])
            changed[row_id] = {"id": row_id, "name": f"n{rng.randrange(30)}", "status": "", "size": size}
    return changed


def apply_changes(rows: dict[str, dict], changed: dict[str, dict | None]) -> None:
    """What update_rows does to a table's rows, done to a plain dict."""
    for row_id, row in changed.items():
        if row is None:
            rows.pop(row_id, None)
        else:
            rows[row_id] = row
