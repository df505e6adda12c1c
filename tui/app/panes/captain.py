"""The Captain tab: databases, the files of the selected one, and the indexing jobs this monitor started.

Moving the cursor in the databases table selects a database; the files table shows only its files. Mutations
(create and delete a database, index a bucket or a file, delete a file) each ask first and run in a worker;
in read-only mode their keys say so (tui/app/toolkit/actions.py). Cloud credentials typed into the index form
(captain_forms.py) go to the hub and nowhere else: password inputs, never in a toast, a confirmation or a log.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static

from tui.app.keys import focus_now
from tui.app.panes.base import Pane
from tui.app.panes.captain_forms import URI_SCHEMES, CreateDatabaseScreen, IndexScreen
from tui.app.screens import DetailScreen, TypeToConfirmScreen
from tui.app.toolkit.actions import vendor_action
from tui.app.toolkit.cells import eta_text, files_text, percent_bar, status_text, when, yes_no
from tui.app.toolkit.filter_box import FilterablePane, FilterBox
from tui.app.widgets.table import Column, LiveTable
from tui.app.widgets.table_model import id_column
from tui.live.events import parse_timestamp
from tui.text import sanitize
from tui.vendors.captain.client import environment_of
from tui.vendors.captain.live import eta_seconds

BAR_WIDTH = 10
JOB_STYLES = {"completed": "green", "error": "bold red", "failed": "bold red", "processing": "cyan"}
ENVIRONMENT_LOOK = {
    "production": ("PROD", "bold reverse red"),
    "staging": ("staging", "bold yellow"),
    "development": ("dev", "bold green"),
}


def key_environment(app: Any) -> str | None:
    """The environment of the Captain key: from the client when there is one, else from the config."""
    client = getattr(app, "hub", None) and app.hub.vendor("captain")  # its integration, when Captain is on
    environment = getattr(client, "environment", None)
    if environment:
        return environment
    captain = getattr(getattr(app, "config", None), "captain", None)
    return environment_of(getattr(captain, "api_key_value", None))


def title_text(environment: str | None) -> Text:
    label, style = ENVIRONMENT_LOOK.get(environment or "", ("unknown", "dim"))
    return Text.assemble(("Captain", "bold"), "  key environment: ", (f" {label} ", style))


class CaptainPane(FilterablePane, Pane):
    KINDS = frozenset({"databases", "files", "indexing_jobs"})
    HELP_TITLE = "Captain"

    BINDINGS = [  # in the key bar's order
        Binding("i", "index", "Index"),
        Binding("n", "create_database", "New database"),
        Binding("x", "delete_file", "Delete file"),
        Binding("D", "delete_database", "Delete database", key_display="D"),
        FilterablePane.FILTER_KEY,
        FilterablePane.CLEAR_KEY,
    ]

    DATABASE_COLUMNS = [
        Column("database_name", "Database", width=None, priority=4),
        Column("environment", "Env", width=11, priority=1),
        Column("is_active", "Active", width=6, priority=2, render=lambda row: yes_no(row.get("is_active"))),
        Column("request_count", "Requests", width=8, align="right", priority=2),
        Column("created_at", "Created", width=16, priority=0, render=lambda row: when(row.get("created_at")),
               sort_key=lambda row: parse_timestamp(row.get("created_at")) or 0),
    ]
    FILE_COLUMNS = [
        Column("file_name", "File", width=None, priority=4, min_width=20),
        id_column("file_id", "ID", 14),  # time-ordered UUIDs: their start is shared, their end tells them apart
        Column("chunk_count", "Chunks", width=6, align="right", priority=2),
        Column("updated_at", "Indexed at", width=16, priority=2,
               render=lambda row: when(row.get("updated_at") or row.get("created_at")),
               sort_key=lambda row: parse_timestamp(row.get("updated_at") or row.get("created_at")) or 0),
    ]
    JOB_COLUMNS = [
        id_column("job_id", "Job", 14),
        Column("database_name", "Database", width=16, priority=3, min_width=10),
        Column("progress", "Progress", width=BAR_WIDTH + 5, priority=4,
               render=lambda row: percent_bar(row.get("progress"), BAR_WIDTH,
                                              style=JOB_STYLES.get(str(row.get("status")), "cyan"))),
        Column("indexed_files", "Files", width=9, priority=2, render=files_text),
        Column("status", "Status", width=10, priority=4, render=lambda row: status_text(row.get("status"), JOB_STYLES)),
        Column("eta", "ETA", width=7, align="right", priority=3,
               render=lambda row: eta_text(eta_seconds(row), done=bool(row.get("done"))),
               sort_key=lambda row: eta_seconds(row) if not row.get("done") else None),
        Column("source", "Source", width=None, priority=2, min_width=12),
    ]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.selected_database: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(title_text(None), id="captain-title", classes="pane-title")
        yield FilterBox(id="captain-filter")
        with Vertical(id="captain-databases-box", classes="captain-box"):
            yield Label(Text("Databases"), id="captain-databases-label", classes="captain-label")
            yield LiveTable(self.DATABASE_COLUMNS, id="captain-databases", name="databases")
        with Vertical(id="captain-files-box", classes="captain-box"):
            yield Label(Text("Files"), id="captain-files-label", classes="captain-label")
            yield LiveTable(self.FILE_COLUMNS, id="captain-files", name="files")
        with Vertical(id="captain-jobs-box", classes="captain-box"):
            yield Label(Text("Indexing jobs"), id="captain-jobs-label", classes="captain-label")
            yield LiveTable(self.JOB_COLUMNS, newest_at="top", id="captain-jobs", name="jobs")  # newest first

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
        focus_now(self.databases)

    def main_table(self) -> LiveTable:
        return self.databases

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

    # ------------------------------------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        offered = super().check_action(action, parameters)
        if offered and action == "delete_database" and self.selected_database is None:
            return None  # shown dimmed: nothing to delete yet
        if offered and action == "delete_file" and self.files.cursor_row_id is None:
            return None
        return offered

    def commands(self):
        yield from self.offer("Captain: create a database", "A new database in the key's environment",
                              "create_database")
        yield from self.offer("Captain: index a bucket or file", "From S3 or GCS into the selected database", "index")
        # Server names stay out of the palette, which may parse markup.
        yield from self.offer("Captain: delete the selected database", "Asks you to type its name", "delete_database")
        yield from self.offer("Captain: delete the selected file", "From the selected database", "delete_file")

    @vendor_action("captain", what="New database")
    def action_create_database(self) -> None:
        environment = key_environment(self.app)

        def chosen(form: dict | None) -> None:
            if not form:
                return
            name = form["name"]
            where = f" ({ENVIRONMENT_LOOK[environment][0]})" if environment in ENVIRONMENT_LOOK else ""
            self.confirm_and_run(f"Create the Captain database {name}{where}?",
                                 lambda: self.capwatch.hub.vendor("captain").create_database(name),
                                 done=f"Created database {name}", failed=f"Creating database {name} failed",
                                 description=f"create Captain database {name}")

        self.app.push_screen(CreateDatabaseScreen(set(self.store.rows("databases"))), chosen)

    @vendor_action("captain", what="Delete database")
    def action_delete_database(self) -> None:
        name = self.selected_database
        if name is None:
            return
        shown = sanitize(name, single_line=True)
        files = sum(1 for row in self.store.rows("files").values() if row.get("database_name") == name)
        self.confirm_and_run(
            TypeToConfirmScreen(f"Delete the Captain database {shown} and its {files} files? This cannot be undone.",
                                name),
            lambda: self.capwatch.hub.vendor("captain").delete_database(name),
            done=f"Deleted database {shown}", failed=f"Deleting database {shown} failed",
            description=f"delete Captain database {shown}")

    @vendor_action("captain", what="Delete file")
    def action_delete_file(self) -> None:
        row_id = self.files.chosen_row_id  # the file the operator saw under the cursor
        row = self.files.get_row(row_id) if row_id else None
        if row is None:
            return
        database, file_id = str(row.get("database_name") or self.selected_database), str(row.get("file_id") or "")
        label = sanitize(row.get("file_name") or file_id, single_line=True)
        self.confirm_and_run(
            f"Delete {label} ({sanitize(file_id, single_line=True)}) from {sanitize(database, single_line=True)}? "
            "All its chunks go; it cannot be undeleted.",
            lambda: self.capwatch.hub.vendor("captain").delete_file(database, file_id),
            done=f"Deleted {label}", failed=f"Deleting {label} failed", description=f"delete Captain file {file_id}",
            danger=True)

    @vendor_action("captain", what="Index")
    def action_index(self) -> None:
        databases = sorted(self.store.rows("databases"))
        if not databases:
            self.capwatch.toast_error("Create a database first: there is nothing to index into.")
            return
        self.app.push_screen(IndexScreen(databases, self.selected_database), self._index_chosen)

    def _index_chosen(self, form: dict | None) -> None:
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
        arguments = dict(form)
        source, bucket = arguments.pop("source"), arguments.pop("bucket_name")
        del arguments["database_name"]
        # The client redacts the credentials from its errors: the error toast may quote it.
        self.confirm_and_run(
            question, lambda: self.capwatch.hub.vendor("captain").index(source, form["database_name"], bucket, **arguments),
            done=lambda reply: f"Indexing job {sanitize(getattr(reply, 'job_id', '') or '?', single_line=True)} "
                               f"started for {database}",
            failed=f"Indexing into {database} failed", description=f"index {source} into {database}",
            danger=not form.get("file_uri"))
