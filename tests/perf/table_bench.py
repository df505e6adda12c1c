"""LiveTable against Textual's DataTable with 100,000 rows, headless. A script, not a test:

    /tmp/venv/bin/python tests/perf/table_bench.py [--rows 100000] [--datatable-rows N] [--skip-datatable]

Every figure is wall time from the call to the end of the next frame that painted the table (the last
`render_line` of that frame), so it includes the work the call deferred to the paint.
Targets: first paint <= 300 ms, a filter keystroke <= 50 ms, a sort <= 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rich.text import Text  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.strip import Strip  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from tui.app.widgets import table as table_module  # noqa: E402
from tui.app.widgets.table import Column, LiveTable  # noqa: E402

SIZE = (120, 40)
STATUSES = ["queued", "processing", "completed", "failed", "cancelled"]
STATUS_STYLES = {"completed": "green", "failed": "red", "processing": "yellow"}
TARGETS_MS = {"first paint": 300, "filter": 50, "sort": 200}

COLUMNS = [
    Column("id", "ID", width=12),
    Column("file_name", "File"),
    Column("status", "Status", width=10,
           render=lambda row: Text(row["status"], style=STATUS_STYLES.get(row["status"], ""))),
    Column("pages", "Pages", width=6, align="right"),
    Column("updated", "Updated", width=10, render=lambda row: f"{row['updated']:.0f}s",
           sort_key=lambda row: row["updated"]),
]


def make_rows(count: int) -> dict[str, dict]:
    rng = random.Random(7)
    words = ["invoice", "contract", "scan", "report", "receipt", "memo", "lease", "audit"]
    return {
        f"doc_{i:07d}": {
            "id": f"doc_{i:07d}",
            "file_name": f"{rng.choice(words)}-{rng.randrange(10**6)}.pdf",
            "status": rng.choice(STATUSES),
            "pages": rng.randrange(1, 400),
            "updated": rng.random() * 86_400,
        }
        for i in range(count)
    }


class Painted:
    """Records when the measured widget last rendered a line."""

    def __init__(self) -> None:
        self.calls = 0
        self.last = 0.0

    def mark(self) -> None:
        self.calls += 1
        self.last = time.perf_counter()

    async def after(self, start: float, timeout: float = 120.0) -> float:
        """Milliseconds from `start` to the end of the first frame painted after it."""
        calls = self.calls
        deadline = time.perf_counter() + timeout
        while self.calls == calls:
            if time.perf_counter() > deadline:
                raise TimeoutError("no frame was painted")
            await asyncio.sleep(0.001)
        # the frame's lines are rendered back to back: wait until no more arrive
        while True:
            seen = self.calls
            await asyncio.sleep(0.005)
            if self.calls == seen:
                return (self.last - start) * 1000


PAINTED = Painted()


class MeasuredLiveTable(LiveTable):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        PAINTED.mark()
        return strip


class MeasuredDataTable(DataTable):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        PAINTED.mark()
        return strip


class BenchApp(App):
    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


@contextmanager
def app_collector() -> Iterator[None]:
    """The garbage collector as the monitor sets it once its tabs are mounted (tui/app/app.py `_start_up`):
    what exists is frozen out of its reach and full passes are rarer (GC_THRESHOLDS). Undone after."""
    from tui.app.app import GC_THRESHOLDS

    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


async def measure(action, undo=None, repeats: int = 3) -> float:
    """Median milliseconds from `action()` to its painted frame; `undo()` (not measured) resets between runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(await PAINTED.after(start))
        if undo is not None:
            undo()
            await PAINTED.after(time.perf_counter())
    return statistics.median(times)


async def bench_live_table(rows: dict[str, dict], warm: bool) -> dict[str, float]:
    table = MeasuredLiveTable(COLUMNS)
    results: dict[str, float] = {}

    def set_filter(text: str):
        return lambda: setattr(table, "filter_text", text)

    def sort(column: str | None, reverse: bool = False):
        return lambda: table.sort_by(column, reverse=reverse)

    with app_collector():
        async with BenchApp(table).run_test(size=SIZE) as pilot:
            await pilot.pause()
            start = time.perf_counter()
            table.set_rows(rows)
            results["first paint"] = await PAINTED.after(start)
            if not warm:
                results["filter '4'"] = await measure(set_filter("4"), repeats=1)
                return results
            deadline = time.perf_counter() + 30
            while not table.search_ready and time.perf_counter() < deadline:
                await asyncio.sleep(0.005)
            results["search strings built in idle slices, after"] = (time.perf_counter() - start) * 1000
            results["repaint only (frame baseline)"] = await measure(table.refresh)
            results["filter '4'"] = await measure(set_filter("4"), set_filter(""))
            table.filter_text = "4"
            results["filter '42' (narrows)"] = await measure(set_filter("42"), set_filter("4"))
            results["filter cleared"] = await measure(set_filter(""), set_filter("4"))
            table.filter_text = ""
            results["sort by File (text)"] = await measure(sort("file_name"), sort(None))
            results["sort by Updated (sort_key)"] = await measure(sort("updated"), sort(None))
            table.sort_by("updated")
            results["sort reversed"] = await measure(sort("updated", True), sort("updated", False))
            changed = {row_id: {**rows[row_id], "status": "completed", "updated": 90_000.0}
                       for row_id in list(rows)[:200]}
            results["update 200 rows (sorted)"] = await measure(lambda: table.update_rows(changed), repeats=1)
    return results


async def bench_data_table(rows: dict[str, dict]) -> float:
    table = MeasuredDataTable()
    with app_collector():
        async with BenchApp(table).run_test(size=SIZE) as pilot:
            await pilot.pause()
            start = time.perf_counter()
            for column in COLUMNS:
                table.add_column(column.label, key=column.key)
            table.add_rows(
                [(row["id"], row["file_name"], Text(row["status"]), str(row["pages"]), f"{row['updated']:.0f}s")
                 for row in rows.values()]
            )
            return await PAINTED.after(start, timeout=600)


def verdict(label: str, ms: float) -> str:
    for name, target in TARGETS_MS.items():
        if label.startswith(name) or (name == "filter" and label.startswith("filter")):
            return f"{'ok' if ms <= target else 'OVER'} (<= {target})"
    return ""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--datatable-rows", type=int, default=None, help="rows for DataTable (default: --rows)")
    parser.add_argument("--skip-datatable", action="store_true")
    args = parser.parse_args()

    rows = make_rows(args.rows)
    print(f"{args.rows:,} rows, {len(COLUMNS)} columns, terminal {SIZE[0]}x{SIZE[1]}, headless\n")

    warm = await bench_live_table(rows, warm=True)
    saved = table_module.WARM_AFTER_ROWS
    table_module.WARM_AFTER_ROWS = sys.maxsize  # no background indexing: the first keystroke builds it
    try:
        cold = await bench_live_table(rows, warm=False)
    finally:
        table_module.WARM_AFTER_ROWS = saved

    print(f"{'LiveTable':<44} {'ms':>10}  target")
    for label, ms in warm.items():
        print(f"{label:<44} {ms:>10.1f}  {verdict(label, ms)}")
    first_keystroke = cold["filter '4'"]
    print(f"{'filter first keystroke, no idle indexing':<44} {first_keystroke:>10.1f}  "
          f"{verdict('filter', first_keystroke)}")

    if not args.skip_datatable:
        count = args.datatable_rows or args.rows
        data_rows = rows if count == args.rows else make_rows(count)
        data_ms = await bench_data_table(data_rows)
        print(f"\n{'DataTable first paint (' + format(count, ',') + ' rows)':<44} {data_ms:>10.1f}")
        ratio = data_ms / warm["first paint"] if count == args.rows else float("nan")
        print(f"{'ratio DataTable / LiveTable first paint':<44} {ratio:>10.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
