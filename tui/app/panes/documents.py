"""The Documents tab (CapOut): every document in scope, live; upload a local file or a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tui import wall_clock
from tui.app.panes.table_pane import TablePane
from tui.app.screens import ConfirmScreen, FormScreen
from tui.app.widgets.table import Column
from tui.live.events import parse_timestamp

STATUS_STYLES = {"completed": "green", "failed": "bold red", "processing": "yellow"}


def short_time(value: Any) -> str:
    moment = parse_timestamp(value)
    return wall_clock.hms(moment) if moment else "—"


def age_text(value: Any, now: float | None = None) -> str:
    moment = parse_timestamp(value)
    if moment is None:
        return "—"
    seconds = max(0, int((now or wall_clock.now()) - moment))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


def created_or_seen(row: dict[str, Any]) -> Any:
    return row.get("created_at") or row.get("first_seen_at")


def created_cell(row: dict[str, Any]) -> Text:
    """The server's `created_at`. A document only seen on the stream (whose messages carry none) shows "—": when
    capwatch first saw it is not when it was created (the detail view has `first_seen_at`)."""
    if row.get("created_at"):
        return Text(short_time(row["created_at"]))
    return Text("—", style="dim")


def status_cell(row: dict[str, Any]) -> Text:
    status = str(row.get("status") or "—")
    return Text(status, style=STATUS_STYLES.get(status, ""))


class UploadScreen(FormScreen):
    """Upload a document: a local path or a URL, and the xn address that routes its workflow."""

    def __init__(self, xn_address: str = ""):
        super().__init__(classes="modal")
        self.xn_address = xn_address

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Upload a document to CapOut", style="bold"), classes="dialog-title")
            yield Label("Local file path or https:// URL")
            yield Input(placeholder="./claim.pdf or https://example.com/estimate.pdf", id="upload-source")
            yield Label("xn address")
            yield Input(value=self.xn_address, placeholder="team@example.xn", id="upload-xn")
            yield Label("File name (optional)")
            yield Input(placeholder="taken from the path or URL", id="upload-name")
            yield Static("", id="upload-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Upload", id="upload", variant="primary")
                yield Button("Cancel", id="cancel")

    def submit(self) -> None:
        source = self.value("#upload-source")
        xn_address = self.value("#upload-xn")
        name = self.value("#upload-name") or None
        if not source:
            self.fail("Give a file path or a URL.")
            return
        if not xn_address:
            self.fail("The xn address is required by CapOut.")
            return
        is_url = source.startswith(("http://", "https://"))
        if not is_url and not Path(source).expanduser().is_file():
            self.fail(f"No such file: {source}")
            return
        form = {"xn_address": xn_address, "file_name": name}
        form["url" if is_url else "path"] = source
        self.dismiss(form)


class DocumentsPane(TablePane):
    KIND = "documents"
    KINDS = frozenset({"documents"})
    TITLE = "Documents"
    HELP_TITLE = "Documents (CapOut)"
    COLUMNS = [
        Column("document_id", "ID", width=18),
        Column("file_name", "File", width=None),
        Column("status", "Status", width=11, render=status_cell),
        Column("workflow_complete", "Done", width=5,
               render=lambda row: "yes" if row.get("workflow_complete") else "no"),
        Column("created_at", "Created", width=8, render=created_cell,
               sort_key=lambda row: parse_timestamp(row.get("created_at")) or 0),
        Column("updated_at", "Updated", width=8, render=lambda row: short_time(row.get("updated_at")),
               sort_key=lambda row: parse_timestamp(row.get("updated_at")) or 0),
        Column("age", "Age", width=7, align="right",
               render=lambda row: age_text(created_or_seen(row) or row.get("updated_at")),
               sort_key=lambda row: -(parse_timestamp(created_or_seen(row) or row.get("updated_at")) or 0)),
    ]

    BINDINGS = [
        *TablePane.BINDINGS,
        Binding("u", "upload", "Upload"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(Text("CapOut documents", style="bold"), classes="pane-title")
        yield from self.compose_table()

    def on_mount(self) -> None:
        super().on_mount()
        self.table.sort_by("updated_at", reverse=True)

    def tick(self) -> None:
        self.table.refresh_cells()  # the Age column

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "upload" and (self.capwatch.read_only or getattr(self.capwatch.hub, "capout", True) is None):
            return False  # not offered at all (hidden, not dimmed) in read-only mode or with CapOut off
        return True

    def commands(self):
        if not self.capwatch.read_only:
            yield SystemCommand("Upload a document", "CapOut: upload a local file or a URL", self.action_upload)

    def action_upload(self) -> None:
        if self.capwatch.read_only:
            return
        default_xn = getattr(getattr(self.capwatch, "config", None), "capout", None)
        default_xn = getattr(default_xn, "xn_address", "") or ""

        def chosen(form: dict | None) -> None:
            if not form:
                return
            subject = form.get("path") or form.get("url")

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.run_worker(self._upload(form), group="documents-actions", exit_on_error=False,
                                    description="upload a document")

            self.app.push_screen(ConfirmScreen(f"Upload {subject} to CapOut? It spends one credit."), confirmed)

        self.app.push_screen(UploadScreen(default_xn), chosen)

    async def _upload(self, form: dict) -> None:
        try:
            reply = await self.capwatch.hub.upload_document(**form)
        except Exception as error:  # ApiError, ReadOnlyError, OSError reading the file
            self.capwatch.toast_error(f"Upload failed: {error}")
            return
        self.capwatch.toast(f"Uploaded: {reply.document_id} is {reply.status}")
