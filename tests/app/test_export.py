"""Export: the shown table (as filtered and sorted) or the filtered Events view, to CSV or JSON lines, at a path the
operator types, never replacing a file without a yes; written as data (CSV-injection-safe), secrets masked."""

from __future__ import annotations

import argparse
import json
import os
import stat
import time
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from tests.helpers.pane_host import StubHub
from tests.helpers.waiting import eventually
from tests.system.test_secrets import demo_secrets
from tui import wall_clock
from tui.app.app import CapwatchApp
from tui.app.screens import ConfirmScreen
from tui.app.toolkit.export import ExportScreen, csv_safe, export_directory
from tui.config import load_config
from tui.live.events import parse_timestamp
from tui.live.store import Store
from tui.sim.core import SimOptions
from tui.vendors.capout.live import document_event
from tui.vendors.capx.live import activity_event

NOW = parse_timestamp("2026-03-01T10:10:00.000Z")


@pytest.fixture
def frozen(monkeypatch, tmp_path):
    monkeypatch.setattr(wall_clock, "now", lambda: NOW)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


def document(doc_id: str, name: str, status: str, minute: int, done: bool = False) -> None:
    created = {"created_at": "2026-03-01T10:00:00.000Z"} if doc_id != "doc_2" else {}  # only seen on the stream
    return document_event({"type": "document.status", "document_id": doc_id, "file_name": name, "status": status,
                           "workflow_complete": done, **created, "updated_at": f"2026-03-01T10:0{minute}:00.000Z"})


def store_with_hostile_rows() -> Store:
    store = Store()
    for event in (
        document("doc_1", '=HYPERLINK("http://evil.example","invoice.pdf")', "failed", 1),
        document("doc_2", "report-capx_sk_test_demo.pdf", "completed", 2, done=True),  # a server echoing our key
        document("doc_3", "notes.txt", "completed", 3, done=True),
        document("doc_4", "@SUM(A1).pdf", "\x1b[31mprocessing", 4),
        activity_event({"type": "agent.error", "timestamp": "2026-03-01T10:05:00.000Z", "company_id": "co_1",
                        "agent_id": "ag_1", "status": "error", "error": "-1+1 whsec_capx_demo\x1b]0;pwned\x07"},
                       company_id="co_1"),
        activity_event({"type": "agent.heartbeat", "timestamp": "2026-03-01T10:06:00.000Z", "company_id": "co_1",
                        "agent_id": "ag_1", "status": "working"}, company_id="co_1"),
    ):
        store.apply(event)
    return store


def demo_app(store: Store) -> CapwatchApp:
    """The monitor with the simulator's keys and secrets in its config, over a Store the test filled."""
    config = load_config(argparse.Namespace(config=os.devnull), env=SimOptions(port=9).client_env()).config
    return CapwatchApp(config, hub=StubHub(store))


async def export_to(app: CapwatchApp, pilot, path: Path, *keys: str, form: str | None = None) -> None:
    """Open the export dialog (ctrl+e, or `keys`), choose `form`, put `path` in its field (typing is Textual's),
    Enter."""
    await pilot.press(*(keys or ("ctrl+e",)))
    await eventually(lambda: isinstance(app.screen, ExportScreen), pilot=pilot)
    if form:
        app.screen.query_one("#export-form").value = form
        await pilot.pause()
    app.screen.query_one("#export-path", Input).value = str(path)
    await pilot.press("enter")


def test_cells_that_a_spreadsheet_would_run_are_written_as_text():
    for formula in ("=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\uff1d1+1"):
        assert csv_safe(formula) == "'" + formula
    for plain in ("-12.5", "+3", "-1,234.50", "12%", "policy.pdf", "", "a=b"):
        assert csv_safe(plain) == plain


async def test_the_documents_table_as_shown_to_csv(frozen):
    app = demo_app(store_with_hostile_rows())
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("2", "slash", *"pdf", "enter")  # filtered (notes.txt goes), sorted by Updated, newest first
        table = app.query_one("#documents-table")
        assert table.row_ids == ["doc_4", "doc_2", "doc_1"]
        await pilot.press("ctrl+e")
        await eventually(lambda: isinstance(app.screen, ExportScreen), pilot=pilot)
        default = Path(app.screen.query_one("#export-path", Input).value)
        assert default == frozen / "capwatch-documents-20260301-101000.csv"
        await pilot.press("escape")
        target = frozen / "found.csv"
        await export_to(app, pilot, target)
        await eventually(target.exists, pilot=pilot)
        await eventually(lambda: any(f"Exported 3 rows (CSV) to {target}" in n.message
                                     for n in app._notifications), pilot=pilot)
        await export_to(app, pilot, frozen / "found.jsonl", form="jsonl")
        await eventually((frozen / "found.jsonl").exists, pilot=pilot)
    assert [json.loads(line) for line in (frozen / "found.jsonl").read_text().splitlines()][1] == {
        "ID": "doc_2", "File": "report-••••demo.pdf", "Status": "completed", "Done": "yes", "Created": None,
        "Updated": "2026-03-01T10:02:00.000Z", "Age": "8m00s", "Reason": None}  # no value: null
    content = target.read_bytes().decode("utf-8")
    assert content == (
        "ID,File,Status,Done,Created,Updated,Age,Reason\r\n"
        "doc_4,'@SUM(A1).pdf,processing,no,2026-03-01T10:00:00.000Z,2026-03-01T10:04:00.000Z,10m00s,\r\n"
        "doc_2,report-••••demo.pdf,completed,yes,,2026-03-01T10:02:00.000Z,8m00s,\r\n"  # no created_at: empty
        'doc_1,"\'=HYPERLINK(""http://evil.example"",""invoice.pdf"")",failed,no,2026-03-01T10:00:00.000Z,'
        "2026-03-01T10:01:00.000Z,10m00s,\r\n")  # no reason given: empty
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    for secret in demo_secrets():
        assert secret not in content


async def test_the_filtered_events_view_to_json_lines_and_a_file_replaced_only_after_a_yes(frozen):
    app = demo_app(store_with_hostile_rows())
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("7", "t", *"agent.*", "enter")
        events = app.query_one("#events-table")
        await eventually(lambda: events.row_count == 2, pilot=pilot)
        target = frozen / "events.jsonl"
        target.write_text("kept\n")
        await pilot.press("ctrl+p")
        await eventually(lambda: isinstance(app.screen, CommandPalette), pilot=pilot)
        await pilot.press(*"export the table as json")
        await pilot.pause(0.3)
        await export_to(app, pilot, target, "enter")
        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert target.read_text() == "kept\n"  # no: nothing written
        await export_to(app, pilot, target, form="jsonl")
        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("y")
        await eventually(lambda: target.read_text() != "kept\n", pilot=pilot)
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"Time": "2026-03-01T10:05:00.000Z", "Service": "capx", "Type": "agent.error", "ID": "ag_1",
         "Summary": "error · -1+1 ••••demo"},
        {"Time": "2026-03-01T10:06:00.000Z", "Service": "capx", "Type": "agent.heartbeat", "ID": "ag_1",
         "Summary": "working"},
    ]
    assert not any(secret in target.read_text() for secret in demo_secrets())


async def test_the_alerts_only_view_exports_what_each_alert_says(frozen):
    app = demo_app(store_with_hostile_rows())
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("7", "a")
        events = app.query_one("#events-table")
        await eventually(lambda: events.row_count == 2, pilot=pilot)
        target = frozen / "alerts.csv"
        await export_to(app, pilot, target)
        await eventually(target.exists, pilot=pilot)
    assert target.read_text().splitlines() == [
        "Time,Service,Type,ID,Summary",
        "2026-03-01T10:01:00.000Z,capout,document.status,doc_1,"
        '"\'=HYPERLINK(""http://evil.example"",""invoice.pdf"") — failed (no reason given)"',
        "2026-03-01T10:05:00.000Z,capx,agent.error,ag_1,ag_1 · co_1 — error: -1+1 ••••demo",
    ]


def test_exports_go_to_the_current_directory_or_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert export_directory() == tmp_path
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a current directory not writable (as root, no
    # file mode says so)
    assert export_directory({"XDG_DATA_HOME": str(tmp_path / "data")}) == tmp_path / "data" / "capwatch" / "exports"
    assert export_directory({"HOME": str(tmp_path)}) == tmp_path / ".local" / "share" / "capwatch" / "exports"
