"""The Extraction tab (Casmo AI): jobs this client submitted plus every signed webhook received; start an
extraction or a review; the selected job's result as highlighted JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from tui.app.panes.documents import short_time, status_cell
from tui.app.panes.table_pane import TablePane
from tui.app.screens import ConfirmScreen, FormScreen, pretty_json
from tui.app.widgets.table import Column, LiveTable
from tui.live.events import parse_timestamp


def latency_seconds(row: dict[str, Any]) -> float | None:
    submitted = parse_timestamp(row.get("submitted_at"))
    completed = parse_timestamp(row.get("completed_at"))
    if submitted is None or completed is None:
        return None
    return max(0.0, completed - submitted)


def latency_text(row: dict[str, Any]) -> str:
    seconds = latency_seconds(row)
    return "—" if seconds is None else f"{seconds:.1f}s"


def verified_cell(row: dict[str, Any]) -> Text:
    if row.get("signature_verified"):
        return Text("✔ hmac", style="green")  # arrived by webhook, HMAC verified before parsing
    return Text("reply" if row.get("status") not in (None, "processing") else "…", style="dim")


class SubmitScreen(FormScreen):
    """Start an extraction or a review: file, kind, workflow (reviews), response or callback mode."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Submit to Casmo AI", style="bold"), classes="dialog-title")
            yield Label("Local file (pdf, png, jpg, tiff, docx, txt)")
            yield Input(placeholder="./invoice.pdf", id="submit-path")
            yield Label("Kind")
            yield Select([("Extraction", "extract"), ("Review against a workflow", "review")], value="extract",
                         allow_blank=False, id="submit-kind")
            yield Label("Workflow id (reviews only)")
            yield Input(placeholder="wf_...", id="submit-workflow")
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
        Column("job_id", "Job", width=18),
        Column("filename", "File", width=None),
        Column("kind", "Kind", width=7),
        Column("status", "Status", width=10, render=status_cell),
        Column("submitted_at", "Sent", width=8, render=lambda row: short_time(row.get("submitted_at"))),
        Column("completed_at", "Done", width=8, render=lambda row: short_time(row.get("completed_at")),
               sort_key=lambda row: parse_timestamp(row.get("completed_at") or row.get("submitted_at")) or 0),
        Column("latency", "Took", width=7, align="right", render=latency_text,
               sort_key=lambda row: latency_seconds(row) or 0),
        Column("signature_verified", "Signed", width=8, render=verified_cell),
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
        super().on_mount()
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

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "submit" and (self.capwatch.read_only or getattr(self.capwatch.hub, "casmo", True) is None):
            return False  # hidden, not dimmed
        return True

    def commands(self):
        if not self.capwatch.read_only:
            yield SystemCommand("Start an extraction or review", "Casmo AI: submit a local file", self.action_submit)

    def action_submit(self) -> None:
        if self.capwatch.read_only:
            return

        def chosen(form: dict | None) -> None:
            if not form:
                return
            what = "a review" if form["kind"] == "review" else "an extraction"

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.run_worker(self._submit(form), group="extraction-actions", exit_on_error=False,
                                    description=f"submit {what}")

            self.app.push_screen(ConfirmScreen(f"Submit {form['path']} to Casmo AI for {what} ({form['mode']} mode)?"),
                                 confirmed)

        self.app.push_screen(SubmitScreen(), chosen)

    async def _submit(self, form: dict) -> None:
        try:
            reply = await self.capwatch.hub.submit_casmo(form["path"], kind=form["kind"], mode=form["mode"],
                                                         workflow_id=form["workflow_id"])
        except Exception as error:  # ApiError, ReadOnlyError, OSError reading the file
            self.capwatch.toast_error(f"Casmo submission failed: {error}")
            return
        self.capwatch.toast(f"Casmo job {reply.job_id}: {reply.status}")
