"""The Documents tab (CapOut): every document in scope, live; upload a local file or a URL."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tui.app.alert_words import reason_text
from tui.app.panes.table_pane import TablePane
from tui.app.screens import FormScreen
from tui.app.toolkit.actions import vendor_action
from tui.app.toolkit.cells import FILE_STATUS_STYLES, age, clock, created_cell, first_time, status_text
from tui.app.widgets.table import Column
from tui.app.widgets.table_model import id_column
from tui.live.events import parse_timestamp


class UploadScreen(FormScreen):
    """Upload a document: a local path or a URL, and the xn address that routes its workflow."""

    def __init__(self, xn_address: str = ""):
        super().__init__(classes="modal")
        self.xn_address = xn_address

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Upload a document to CapOut", style="bold"), classes="dialog-title")
            yield Label("Local file path or https:// URL")
            yield Input(placeholder="e.g. ./claim.pdf or https://example.com/estimate.pdf", id="upload-source")
            yield Label("xn address")
            yield Input(value=self.xn_address, placeholder="e.g. team@example.xn", id="upload-xn")
            yield Label("File name (optional)")
            yield Input(placeholder="(empty: taken from the path or URL)", id="upload-name")
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
        # Narrow, the file name keeps its room: the id gives way first (cut at its start), then Created and Done
        # are hidden (table_layout.py).
        id_column("document_id", "ID", 15),
        Column("file_name", "File", width=None, priority=4, min_width=26),
        Column("status", "Status", width=11, priority=4,
               render=lambda row: status_text(row.get("status"), FILE_STATUS_STYLES)),
        Column("workflow_complete", "Done", width=5, priority=0,
               render=lambda row: "yes" if row.get("workflow_complete") else "no"),
        Column("created_at", "Created", width=8, priority=0, render=created_cell,
               sort_key=lambda row: parse_timestamp(row.get("created_at")) or 0),
        Column("updated_at", "Updated", width=8, priority=2, render=lambda row: clock(row.get("updated_at")),
               sort_key=lambda row: parse_timestamp(row.get("updated_at")) or 0),
        Column("age", "Age", width=7, align="right", priority=3,
               render=lambda row: age(first_time(row) or row.get("updated_at")),
               sort_key=lambda row: -(parse_timestamp(first_time(row) or row.get("updated_at")) or 0)),
        # Why a failed document failed, when the server says (its `error`): where there is room (hidden at 80
        # columns, where the alert and the detail say it).
        Column("error", "Reason", priority=1, min_width=16,
               render=lambda row: Text(reason_text(row.get("error")) or "", style="red")),
    ]

    BINDINGS = [
        *TablePane.BINDINGS,
        Binding("u", "upload", "Upload"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(Text("CapOut documents", style="bold"), classes="pane-title")
        yield from self.compose_table()

    def on_mount(self) -> None:
        self.table.sort_by("updated_at", reverse=True)

    def tick(self) -> None:
        self.table.refresh_cells()  # the Age column

    def commands(self):
        yield from self.offer("Upload a document", "CapOut: upload a local file or a URL", "upload")

    @vendor_action("capout", what="Upload")
    def action_upload(self) -> None:
        def chosen(form: dict | None) -> None:
            if not form:
                return
            subject = form.get("path") or form.get("url")
            self.confirm_and_run(
                f"Upload {subject} to CapOut? It spends one credit.",
                lambda: self.capwatch.hub.vendor("capout").upload(**form),
                done=lambda reply: f"Uploaded: {reply.document_id} is {reply.status}",
                failed="Upload failed", description="upload a document")

        self.app.push_screen(UploadScreen(self.capwatch.config.capout.xn_address or ""), chosen)
