"""The Captain tab: databases, the files of the selected one, and the indexing jobs this monitor started.

Moving the cursor in the databases table selects a database; the files table shows only its files. Mutations
(create and delete a database, index a bucket or a file, delete a file) each ask first and run in a worker;
read-only mode does not offer them. Cloud credentials typed into the index form go to the hub and nowhere else:
password inputs, never in a toast, a confirmation or a log.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from tui import wall_clock
from tui.app.panes.base import Pane
from tui.app.screens import ConfirmScreen, DetailScreen, FormScreen, TypeToConfirmScreen
from tui.app.widgets.meters import seconds_words
from tui.app.widgets.table import Column, LiveTable
from tui.vendors.captain.live import eta_seconds
from tui.live.events import parse_timestamp
from tui.vendors.captain.client import environment_of
from tui.text import sanitize

# Doc: "special characters and spaces should be avoided in database names"; the simulator enforces this.
DATABASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")  # S3 and GCS rules, loosely
SERVICE_ACCOUNT_FIELDS = ("type", "project_id", "private_key")
MAX_SERVICE_ACCOUNT_BYTES = 64 * 1024

BAR_WIDTH = 10
JOB_STYLES = {"completed": "green", "error": "bold red", "failed": "bold red", "processing": "cyan"}
ENVIRONMENT_LOOK = {
    "production": ("PROD", "bold white on red"),
    "staging": ("staging", "bold yellow"),
    "development": ("dev", "bold green"),
}
SOURCES = (("Amazon S3", "s3"), ("Google Cloud Storage", "gcs"))
URI_SCHEMES = {"s3": "s3", "gcs": "gs"}  # a source's file URIs: s3://bucket/path, gs://bucket/path


# ------------------------------------------------------------------------------------------------ cells


def when(value: Any, now: float | None = None) -> str:
    """A time of day for today, a date and time before that; the dash when unknown."""
    moment = parse_timestamp(value)
    if moment is None:
        return "—"
    local = wall_clock.local(moment)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", wall_clock.local(now)):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def progress_bar(fraction: Any, status: Any = None, width: int = BAR_WIDTH) -> Text:
    """`███████░░░  70%`, coloured by the job's status; an empty bar and a dash before the total is known."""
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or fraction != fraction:
        return Text("░" * width + "    —", style="grey50")
    fraction = max(0.0, min(1.0, float(fraction)))
    filled = int(fraction * width + 0.5)
    bar = Text("█" * filled, style=JOB_STYLES.get(str(status), "cyan"))
    bar.append("░" * (width - filled), style="grey37")
    bar.append(f" {int(fraction * 100 + 0.5):3d}%")
    return bar


def eta_text(row: dict[str, Any], now: float | None = None) -> str:
    if row.get("done"):
        return "—"
    seconds = eta_seconds(row, now)
    return "…" if seconds is None else "~" + seconds_words(seconds).replace(" ", "")


def files_text(row: dict[str, Any]) -> Text:
    def count(key: str) -> str:
        value = row.get(key)
        return str(value) if isinstance(value, int) else "?"

    text = Text(f"{count('indexed_files')}/{count('total_files')}")
    if isinstance(row.get("failed_files"), int) and row["failed_files"] > 0:
        text.append(f" ✖{row['failed_files']}", style="red")
    return text


def active_text(row: dict[str, Any]) -> Text:
    active = row.get("is_active")
    if active is None:
        return Text("?", style="grey50")
    return Text("yes", style="green") if active else Text("no", style="red")


def status_text(row: dict[str, Any]) -> Text:
    status = str(row.get("status") or "—")
    return Text(status, style=JOB_STYLES.get(status, ""))


def key_environment(app: Any) -> str | None:
    """The environment of the Captain key: from the client when there is one, else from the config."""
    client = getattr(getattr(app, "hub", None), "captain", None)
    environment = getattr(client, "environment", None)
    if environment:
        return environment
    captain = getattr(getattr(app, "config", None), "captain", None)
    return environment_of(getattr(captain, "api_key_value", None))


def title_text(environment: str | None) -> Text:
    label, style = ENVIRONMENT_LOOK.get(environment or "", ("unknown", "grey50"))
    return Text.assemble(("Captain", "bold"), "  key environment: ", (f" {label} ", style))


# ------------------------------------------------------------------------------------------------ forms


def form_field(label: str, widget) -> ComposeResult:
    """A label and its one-line input side by side."""
    with Horizontal(classes="form-field"):
        yield Label(label, classes="form-label")
        yield widget


class CreateDatabaseScreen(FormScreen):
    """A name for a new database; dismisses with {"name": ...}."""

    def __init__(self, existing: set[str]):
        super().__init__(classes="modal")
        self.existing = existing

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog captain-form"):
            yield Label(Text("Create a Captain database", style="bold"), classes="dialog-title")
            yield Label("Name: letters, digits, _ and - (no spaces)")
            yield Input(placeholder="contracts_2024", id="database-name", max_length=64)
            yield Static("", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Cancel", id="cancel")

    def submit(self) -> None:
        name = self.value("#database-name")
        if not name:
            self.fail("Give the database a name.")
        elif not DATABASE_NAME.match(name):
            self.fail("Use letters, digits, _ and - only, starting with a letter or digit (at most 64).")
        elif name in self.existing:
            self.fail("A database of that name exists already.")
        else:
            self.dismiss({"name": name})


class IndexScreen(FormScreen):
    """Index an S3 or GCS bucket, or one file of it, into a database. Dismisses with the hub's keyword
    arguments; the credentials in it are never shown (password inputs) and never echoed in messages."""

    def __init__(self, databases: list[str], selected: str | None):
        super().__init__(classes="modal")
        self.databases = databases
        self.selected = selected if selected in databases else (databases[0] if databases else None)

    def compose(self) -> ComposeResult:
        # One line per field (compact widgets, a label column) so the whole form fits at 80x24.
        with Vertical(classes="dialog captain-form", id="index-form"):
            yield Label(Text("Index cloud storage into Captain", style="bold"), classes="dialog-title")
            with VerticalScroll(classes="form-body"):
                yield from form_field("Source", Select(SOURCES, value="s3", allow_blank=False, compact=True,
                                                       id="index-source"))
                yield from form_field("Database", Select([(Text(sanitize(name, single_line=True)), name) for name in self.databases],
                                                         value=self.selected, allow_blank=False, compact=True,
                                                         id="index-database"))
                yield from form_field("Bucket", Input(placeholder="bucket name", compact=True, id="index-bucket"))
                yield from form_field("File URI", Input(placeholder="optional; empty = the whole bucket",
                                                        compact=True, id="index-file-uri"))
                with Vertical(id="index-s3", classes="form-group"):
                    yield from form_field("Access key id", Input(compact=True, id="index-key-id"))
                    yield from form_field("Secret key", Input(placeholder="hidden as you type", password=True,
                                                              compact=True, id="index-secret"))
                    yield from form_field("Region", Input(placeholder="us-east-1", compact=True, id="index-region"))
                with Vertical(id="index-gcs", classes="form-group"):
                    yield from form_field("Account JSON", Input(placeholder="paste the key (hidden)", password=True,
                                                                compact=True, id="index-sa-json"))
                    yield from form_field("or key file", Input(placeholder="path of the service account key file",
                                                               compact=True, id="index-sa-path"))
            yield Static("", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Index", id="index", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._show_source("s3")
        self.query_one("#index-bucket", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "index-source" and isinstance(event.value, str):
            self._show_source(event.value)

    def _show_source(self, source: str) -> None:
        self.query_one("#index-s3").display = source == "s3"
        self.query_one("#index-gcs").display = source == "gcs"
        self.query_one("#index-file-uri", Input).placeholder = (
            f"optional: {URI_SCHEMES[source]}://bucket/path/file.pdf; empty = the whole bucket")

    def submit(self) -> None:
        source = self.query_one("#index-source", Select).value
        database = self.query_one("#index-database", Select).value
        bucket = self.value("#index-bucket")
        file_uri = self.value("#index-file-uri") or None
        if not isinstance(database, str):
            self.fail("Choose a database.")
            return
        if not BUCKET_NAME.match(bucket):
            self.fail("Give a bucket name: lowercase letters, digits, '.', '_' and '-'.")
            return
        if file_uri is not None:
            prefix = f"{URI_SCHEMES[source]}://{bucket}/"
            path = file_uri.removeprefix(prefix)
            if path == file_uri or not path or path.endswith("/"):
                self.fail(f"The file URI must be {prefix}<path of the file>.")
                return
        form: dict[str, Any] = {"source": source, "database_name": database, "bucket_name": bucket,
                                "file_uri": file_uri}
        credentials = self._s3_credentials() if source == "s3" else self._gcs_credentials()
        if credentials is not None:
            self.dismiss({**form, **credentials})

    def _s3_credentials(self) -> dict[str, str] | None:
        key_id, region = self.value("#index-key-id"), self.value("#index-region")
        secret = self.query_one("#index-secret", Input).value  # kept exactly as typed: it is URL-encoded later
        if not key_id:
            self.fail("Give the AWS access key id.")
        elif not secret:
            self.fail("Give the AWS secret access key.")
        elif not AWS_REGION.match(region):
            self.fail("Give the bucket's AWS region, such as us-east-1.")
        else:
            return {"aws_access_key_id": key_id, "aws_secret_access_key": secret, "bucket_region": region}
        return None

    def _gcs_credentials(self) -> dict[str, str] | None:
        pasted = self.query_one("#index-sa-json", Input).value.strip()
        path = self.value("#index-sa-path")
        if pasted and path:
            self.fail("Paste the service account JSON or give its file, not both.")
            return None
        if path:
            file = Path(path).expanduser()
            try:
                if file.stat().st_size > MAX_SERVICE_ACCOUNT_BYTES:
                    self.fail("That file is too large to be a service account key.")
                    return None
                pasted = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self.fail("Cannot read that file.")
                return None
        if not pasted:
            self.fail("Paste the service account JSON or give the path of its file.")
            return None
        try:
            account = json.loads(pasted)
        except ValueError:
            account = None  # the parser's message quotes the text: not shown
        missing = [key for key in SERVICE_ACCOUNT_FIELDS if not (isinstance(account, dict) and account.get(key))]
        if missing:
            self.fail(f"That is not a service account key (JSON without {', '.join(missing)}).")
            return None
        return {"service_account_json": pasted}


# ------------------------------------------------------------------------------------------------ the pane


class CaptainPane(Pane):
    KINDS = frozenset({"databases", "files", "indexing_jobs"})
    HELP_TITLE = "Captain"

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("n", "create_database", "New database"),
        Binding("D", "delete_database", "Delete database", key_display="D"),
        Binding("i", "index", "Index"),
        Binding("x", "delete_file", "Delete file"),
    ]

    DATABASE_COLUMNS = [
        Column("database_name", "Database", width=None),
        Column("environment", "Env", width=11),
        Column("is_active", "Active", width=6, render=active_text),
        Column("request_count", "Requests", width=8, align="right"),
        Column("created_at", "Created", width=16, render=lambda row: when(row.get("created_at")),
               sort_key=lambda row: parse_timestamp(row.get("created_at")) or 0),
    ]
    FILE_COLUMNS = [
        Column("file_name", "File", width=None),
        Column("file_id", "ID", width=14),
        Column("chunk_count", "Chunks", width=6, align="right"),
        Column("updated_at", "Indexed at", width=16,
               render=lambda row: when(row.get("updated_at") or row.get("created_at")),
               sort_key=lambda row: parse_timestamp(row.get("updated_at") or row.get("created_at")) or 0),
    ]
    JOB_COLUMNS = [
        Column("job_id", "Job", width=14),
        Column("database_name", "Database", width=16),
        Column("progress", "Progress", width=BAR_WIDTH + 5,
               render=lambda row: progress_bar(row.get("progress"), row.get("status"))),
        Column("indexed_files", "Files", width=9, render=files_text),
        Column("status", "Status", width=10, render=status_text),
        Column("eta", "ETA", width=7, align="right", render=eta_text,
               sort_key=lambda row: eta_seconds(row) if not row.get("done") else None),
        Column("source", "Source", width=None),
    ]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.selected_database: str | None = None
        self._filter_target = "captain-databases"

    def compose(self) -> ComposeResult:
        yield Static(title_text(None), id="captain-title", classes="pane-title")
        yield Input(placeholder="filter (Esc clears)", id="captain-filter", classes="table-filter")
        with Vertical(id="captain-databases-box", classes="captain-box"):
            yield Label(Text("Databases"), id="captain-databases-label", classes="captain-label")
            yield LiveTable(self.DATABASE_COLUMNS, id="captain-databases")
        with Vertical(id="captain-files-box", classes="captain-box"):
            yield Label(Text("Files"), id="captain-files-label", classes="captain-label")
            yield LiveTable(self.FILE_COLUMNS, id="captain-files")
        with Vertical(id="captain-jobs-box", classes="captain-box"):
            yield Label(Text("Indexing jobs"), id="captain-jobs-label", classes="captain-label")
            yield LiveTable(self.JOB_COLUMNS, id="captain-jobs")

    @property
    def databases(self) -> LiveTable:
        return self.query_one("#captain-databases", LiveTable)

    @property
    def files(self) -> LiveTable:
        return self.query_one("#captain-files", LiveTable)

    @property
    def jobs(self) -> LiveTable:
        return self.query_one("#captain-jobs", LiveTable)

    def on_mount(self) -> None:
        self.query_one("#captain-filter", Input).display = False
        environment = key_environment(self.app)
        title = self.query_one("#captain-title", Static)
        title.update(title_text(environment))
        title.set_class(environment == "production", "captain-prod")
        self.databases.sort_by("database_name")
        self.files.sort_by("file_name")
        self.jobs.sort_by("job_id", reverse=True)  # job ids are time-ordered: newest first
        self.refresh_all()

    def tick(self) -> None:
        """ETAs move with the clock while a job runs."""
        if any(not row.get("done") for row in self.store.rows("indexing_jobs").values()):
            self.jobs.refresh_cells()

    def focus_default(self) -> None:
        self.databases.focus()

    # ------------------------------------------------------------------------------------------- data

    def refresh_all(self) -> None:
        self.databases.set_rows(dict(self.store.rows("databases")))
        self.jobs.set_rows(dict(self.store.rows("indexing_jobs")))
        self._select_database(self.databases.cursor_row_id, force=True)
        self._update_labels()

    def apply_changes(self, batch) -> None:
        self._apply_kind(batch, "databases", self.databases)
        self._apply_kind(batch, "indexing_jobs", self.jobs)
        if self.databases.cursor_row_id != self.selected_database:
            self._select_database(self.databases.cursor_row_id)  # also rebuilds the files table
        elif "files" in batch.replaced and "files" not in batch.kinds:
            self._select_database(self.selected_database, force=True)
        elif batch.kinds.get("files"):
            rows = self.store.rows("files")
            changed = {}
            for row_id in batch.kinds["files"]:
                row = rows.get(row_id)
                if row is None or row.get("database_name") == self.selected_database:
                    changed[row_id] = row  # a removal of a row the table does not hold is harmless
            self.files.update_rows(changed)
        self._update_labels()

    def _apply_kind(self, batch, kind: str, table: LiveTable) -> None:
        ids = batch.kinds.get(kind)
        if kind in batch.replaced and ids is None:  # every id changed, or more than a feed keeps
            table.set_rows(dict(self.store.rows(kind)))
        elif ids:
            rows = self.store.rows(kind)
            table.update_rows({row_id: rows.get(row_id) for row_id in ids})

    def _select_database(self, name: str | None, *, force: bool = False) -> None:
        if name == self.selected_database and not force:
            return
        self.selected_database = name
        self.files.set_rows({row_id: row for row_id, row in self.store.rows("files").items()
                             if name is not None and row.get("database_name") == name})
        self._update_labels()
        self.refresh_bindings()

    def _update_labels(self) -> None:
        databases = self.databases.total_count
        self.query_one("#captain-databases-label", Label).update(Text(f"Databases ({databases})"))
        if self.selected_database is None:
            files = Text("Files (choose a database)")
        else:
            files = Text.assemble("Files in ", (sanitize(self.selected_database, single_line=True), "bold"),
                                  f" ({self.files.total_count})")
        self.query_one("#captain-files-label", Label).update(files)
        running = sum(1 for row in self.store.rows("indexing_jobs").values() if not row.get("done"))
        self.query_one("#captain-jobs-label", Label).update(
            Text(f"Indexing jobs ({running} running, {self.jobs.total_count} in all)"))

    def on_live_table_cursor_moved(self, message: LiveTable.CursorMoved) -> None:
        if message.table.id == "captain-databases":
            self._select_database(message.row_id)
        elif message.table.id == "captain-files":
            self.refresh_bindings()

    def on_live_table_row_selected(self, message: LiveTable.RowSelected) -> None:
        what = {"captain-databases": "Database", "captain-files": "File", "captain-jobs": "Indexing job"}
        self.app.push_screen(DetailScreen(f"{what.get(message.table.id or '', 'Row')} {message.row_id}", message.row))

    # ------------------------------------------------------------------------------------------- filter

    def action_filter(self) -> None:
        focused = self.app.focused
        if isinstance(focused, LiveTable) and focused.id:
            self._filter_target = focused.id
        box = self.query_one("#captain-filter", Input)
        box.value = self.query_one(f"#{self._filter_target}", LiveTable).filter_text
        box.placeholder = f"filter {self._filter_target.removeprefix('captain-')} (Esc clears)"
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "captain-filter":
            self.query_one(f"#{self._filter_target}", LiveTable).filter_text = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "captain-filter":
            self.query_one(f"#{self._filter_target}", LiveTable).focus()

    def on_key(self, event) -> None:
        box = self.query_one("#captain-filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            table = self.query_one(f"#{self._filter_target}", LiveTable)
            table.filter_text = ""
            table.focus()
            event.stop()

    # ------------------------------------------------------------------------------------------- actions

    MUTATIONS = frozenset({"create_database", "delete_database", "index", "delete_file"})

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in self.MUTATIONS:
            # Textual: False hides the binding, None shows it disabled.
            if self.capwatch.read_only or getattr(self.capwatch.hub, "captain", True) is None:
                return False  # not offered at all: read-only mode, or Captain is off
            if action == "delete_database" and self.selected_database is None:
                return None
            if action == "delete_file" and self.files.cursor_row_id is None:
                return None
        return True

    def _allowed(self, action: str) -> bool:
        return bool(self.check_action(action, ()))

    def commands(self):
        if not self._allowed("create_database"):
            return
        yield SystemCommand("Captain: create a database", "A new database in the key's environment",
                            self.action_create_database)
        yield SystemCommand("Captain: index a bucket or file", "From S3 or GCS into the selected database",
                            self.action_index)
        if self.selected_database is not None:  # server names stay out of the palette, which may parse markup
            yield SystemCommand("Captain: delete the selected database", "Asks you to type its name",
                                self.action_delete_database)
        if self.files.cursor_row_id is not None:
            yield SystemCommand("Captain: delete the selected file", "From the selected database",
                                self.action_delete_file)

    def _run(self, coroutine, description: str) -> None:
        self.run_worker(coroutine, group="captain-actions", exit_on_error=False, description=description)

    def action_create_database(self) -> None:
        if not self._allowed("create_database"):
            return
        environment = key_environment(self.app)

        def chosen(form: dict | None) -> None:
            if not form:
                return
            name = form["name"]
            where = f" ({ENVIRONMENT_LOOK[environment][0]})" if environment in ENVIRONMENT_LOOK else ""

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._run(self._create_database(name), f"create Captain database {name}")

            self.app.push_screen(ConfirmScreen(f"Create the Captain database {name}{where}?"), confirmed)

        self.app.push_screen(CreateDatabaseScreen(set(self.store.rows("databases"))), chosen)

    async def _create_database(self, name: str) -> None:
        try:
            await self.capwatch.hub.captain_create_database(name)
        except Exception as error:  # ApiError (its text is safe), ReadOnlyError
            self.capwatch.toast_error(f"Creating database {name} failed: {error}")
            return
        self.capwatch.toast(f"Created database {name}")

    def action_delete_database(self) -> None:
        name = self.selected_database
        if name is None or not self._allowed("delete_database"):
            return
        shown = sanitize(name, single_line=True)
        files = sum(1 for row in self.store.rows("files").values() if row.get("database_name") == name)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._run(self._delete_database(name), f"delete Captain database {shown}")

        self.app.push_screen(TypeToConfirmScreen(
            f"Delete the Captain database {shown} and its {files} files? This cannot be undone.", name), confirmed)

    async def _delete_database(self, name: str) -> None:
        shown = sanitize(name, single_line=True)
        try:
            await self.capwatch.hub.captain_delete_database(name)
        except Exception as error:
            self.capwatch.toast_error(f"Deleting database {shown} failed: {error}")
            return
        self.capwatch.toast(f"Deleted database {shown}")

    def action_delete_file(self) -> None:
        row_id = self.files.cursor_row_id
        row = self.files.get_row(row_id) if row_id else None
        if row is None or not self._allowed("delete_file"):
            return
        database, file_id = str(row.get("database_name") or self.selected_database), str(row.get("file_id") or "")
        label = sanitize(row.get("file_name") or file_id, single_line=True)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._run(self._delete_file(database, file_id, label), f"delete Captain file {file_id}")

        self.app.push_screen(ConfirmScreen(
            f"Delete {label} ({sanitize(file_id, single_line=True)}) from {sanitize(database, single_line=True)}? "
            "All its chunks go; it cannot be undeleted.", danger=True), confirmed)

    async def _delete_file(self, database: str, file_id: str, label: str) -> None:
        try:
            await self.capwatch.hub.captain_delete_file(database, file_id)
        except Exception as error:
            self.capwatch.toast_error(f"Deleting {label} failed: {error}")
            return
        self.capwatch.toast(f"Deleted {label}")

    def action_index(self) -> None:
        if not self._allowed("index"):
            return
        databases = sorted(self.store.rows("databases"))
        if not databases:
            self.capwatch.toast_error("Create a database first: there is nothing to index into.")
            return

        def chosen(form: dict | None) -> None:
            if not form:
                return
            database = sanitize(form["database_name"], single_line=True)
            if form.get("file_uri"):
                question = f"Index {sanitize(form['file_uri'], single_line=True)} into {database}? " \
                           "A file already indexed from that URI is replaced."
            else:
                question = f"Index the whole bucket {URI_SCHEMES[form['source']]}://{form['bucket_name']} into {database}? " \
                           "Captain first removes every file the database holds."
            if form["source"] == "s3":
                question += f" (region {form['bucket_region']})"

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._run(self._index(form), f"index {form['source']} into {database}")

            self.app.push_screen(ConfirmScreen(question, danger=not form.get("file_uri")), confirmed)

        self.app.push_screen(IndexScreen(databases, self.selected_database), chosen)

    async def _index(self, form: dict[str, Any]) -> None:
        arguments = dict(form)
        source, database, bucket = arguments.pop("source"), arguments.pop("database_name"), arguments.pop("bucket_name")
        try:
            reply = await self.capwatch.hub.captain_index(source, database, bucket, **arguments)
        except Exception as error:  # the client redacts the credentials from its errors
            self.capwatch.toast_error(f"Indexing into {database} failed: {error}")
            return
        job_id = sanitize(getattr(reply, "job_id", "") or "?", single_line=True)
        self.capwatch.toast(f"Indexing job {job_id} started for {database}")
