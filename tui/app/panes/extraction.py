"""The Extraction tab (Casmo AI): jobs this client submitted plus every signed webhook received; start an
extraction or a review; the selected job's result as highlighted JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from tui.app.panes.table_pane import TablePane
from tui.app.screens import FormScreen, pretty_json
from tui.app.toolkit.actions import vendor_action
from tui.app.toolkit.cells import FILE_STATUS_STYLES, clock, seconds_between, signed_cell, status_text
from tui.app.widgets.table import Column, LiveTable
from tui.app.widgets.table_model import id_column
from tui.live.events import parse_timestamp


def latency(row: dict[str, Any]) -> float | None:
    return seconds_between(row.get("submitted_at"), row.get("completed_at"))


class SubmitScreen(FormScreen):
    """Start an extraction or a review: file, kind, workflow (reviews), response or callback mode."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Submit to Casmo AI", style="bold"), classes="dialog-title")
            yield Label("Local file (pdf, png, jpg, tiff, docx, txt)")
            yield Input(placeholder="e.g. ./invoice.pdf", id="submit-path")
            yield Label("Kind")
            yield Select([("Extraction", "extract"), ("Review against a workflow", "review")], value="extract",
                         allow_blank=False, id="submit-kind")
            yield Label("Workflow id (reviews only)")
            yield Input(placeholder="e.g. wf_1a2b3c", id="submit-workflow")
            yield Label("Mode")
            yield Select([("callback: answer now, result by webhook", "callback"),
                          ("response: wait for the result", "response")], value="callback", allow_blank=False,
                         id="submit-mode")
            yield Static("", id="submit-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Submit", id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def submit(self) -> None:
        path = self.value("#submit-path")
        kind = self.query_one("#submit-kind", Select).value
        workflow = self.value("#submit-workflow") or None
        mode = self.query_one("#submit-mode", Select).value
        if not path or not Path(path).expanduser().is_file():
            self.fail(f"No such file: {path}" if path else "Give a file path.")
            return
        if kind == "review" and not workflow:
            self.fail("A review needs a workflow id.")
            return
        self.dismiss({"path": path, "kind": kind, "workflow_id": workflow if kind == "review" else None, "mode": mode})


class ExtractionPane(TablePane):
    KIND = "jobs"
    KINDS = frozenset({"jobs"})
    TITLE = "Jobs"
    HELP_TITLE = "Extraction (Casmo AI)"
    COLUMNS = [
        # The list shares the screen with the result: the file name keeps its room, the id gives way first (cut
        # at its start), then Sent is hidden, then Took and Signed (table_layout.py).
        id_column("job_id", "Job", 18),
        Column("filename", "File", width=None, priority=4, min_width=20),
        Column("kind", "Kind", width=7, priority=2),
        Column("status", "Status", width=10, priority=4,
               render=lambda row: status_text(row.get("status"), FILE_STATUS_STYLES)),
        Column("submitted_at", "Sent", width=8, priority=0, render=lambda row: clock(row.get("submitted_at"))),
        Column("completed_at", "Done", width=8, priority=2, render=lambda row: clock(row.get("completed_at")),
               sort_key=lambda row: parse_timestamp(row.get("completed_at") or row.get("submitted_at")) or 0),
        Column("latency", "Took", width=7, align="right", priority=1,
               render=lambda row: "—" if (took := latency(row)) is None else f"{took:.1f}s",
               sort_key=lambda row: latency(row) or 0),
        Column("signature_verified", "Signed", width=8, priority=1, render=signed_cell),
    ]

    BINDINGS = [
        *TablePane.BINDINGS,
        Binding("e", "submit", "Extract/review"),
    ]

    selected_job: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("Casmo AI jobs: submitted here, or completed by signed webhook", style="bold"),
                     classes="pane-title")
        with Horizontal(id="extraction-body"):
            with Vertical(id="extraction-list"):
                yield from self.compose_table()
            with VerticalScroll(id="extraction-result"):
                yield Static(Text("Select a job to see its result", style="dim"), id="result-json")

    def on_mount(self) -> None:
        self.table.sort_by("completed_at", reverse=True)

    def apply_changes(self, batch) -> None:
        super().apply_changes(batch)
        if self.selected_job and self.selected_job in batch.kinds.get("jobs", ()):
            self._show_result(self.selected_job)

    def on_live_table_cursor_moved(self, message: LiveTable.CursorMoved) -> None:
        self.selected_job = message.row_id
        self._show_result(message.row_id)

    def _show_result(self, job_id: str | None) -> None:
        row = self.store.get("jobs", job_id) if job_id else None
        target = self.query_one("#result-json", Static)
        if not row:
            target.update(Text("Select a job to see its result", style="dim"))
        elif row.get("result") is None:
            target.update(Text(f"{job_id}: no result yet ({row.get('status') or 'unknown'})", style="dim"))
        else:
            target.update(pretty_json(row.get("result")))

    def commands(self):
        yield from self.offer("Start an extraction or review", "Casmo AI: submit a local file", "submit")

    @vendor_action("casmo", what="Extract/review")
    def action_submit(self) -> None:
        def chosen(form: dict | None) -> None:
            if not form:
                return
            what = "a review" if form["kind"] == "review" else "an extraction"
            self.confirm_and_run(
                f"Submit {form['path']} to Casmo AI for {what} ({form['mode']} mode)?",
                lambda: self.capwatch.hub.vendor("casmo").submit(form["path"], kind=form["kind"], mode=form["mode"],
                                                       workflow_id=form["workflow_id"]),
                done=lambda reply: f"Casmo job {reply.job_id}: {reply.status}",
                failed="Casmo submission failed", description=f"submit {what}")

        self.app.push_screen(SubmitScreen(), chosen)
