"""Export (ctrl+e, or the palette): the shown table to a CSV or JSON-lines file whose path the operator types.

- What: the focused table of the shown tab (else its main one), as filtered and sorted: its columns in order, one
  record per row from top to bottom, each cell's whole text (not cut to the column's width). The Events tab's
  table is its filtered view (service, type, text, "alerts only"). A column that shows a row's time (`time`,
  `*_at`) writes the time in full, ISO 8601 UTC, where the cell shows only the time of day; a cell with no value
  (the dash) is an empty CSV cell, a JSON null.
- Where: by default `capwatch-<tab>-<table>-<YYYYmmdd-HHMMSS>.csv` (or `.jsonl`) in the current directory, or in
  $XDG_DATA_HOME/capwatch/exports (~/.local/share/capwatch/exports) when the current directory is not writable.
  A file that exists is replaced only after a yes. New files get mode 0600: they hold what the vendors know.
  The rows are read between frames (in slices), the file is written in a thread; a toast says where it went.
- As data: every server string was sanitized on arrival and is again here (no escape sequence, no control
  character reaches the file); the csv module quotes, JSON escapes. CSV injection: a cell beginning with
  = + - @ (or a tab, a carriage return, or their full-width forms) would be run as a formula by a spreadsheet;
  it is written with a leading apostrophe ('=HYPERLINK(...)), which spreadsheets show as text. A plain number
  (-12.5) is left as it is. JSON lines are for programs: written exactly. Secrets: the configured API keys and
  webhook secrets are masked (••••abcd) wherever they appear, should a server ever echo one.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from tui.app.screens import ConfirmScreen, FormScreen
from tui.app.toolkit.cells import NONE
from tui.app.widgets.table_model import cell_plain
from tui import wall_clock
from tui.live.events import iso_utc, parse_timestamp
from tui.text import mask_secret, sanitize

if TYPE_CHECKING:
    from textual.app import App
    from textual.widget import Widget

    from tui.app.widgets.table import Column, LiveTable

FORMS = {"csv": "CSV", "jsonl": "JSON lines"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and full-width = + - @
PLAIN_NUMBER = re.compile(r"[+-]?\d[\d,]*(\.\d+)?%?")
SLICE = 2000  # rows read per slice, between frames


# ------------------------------------------------------------------------------------------------ what is written


def csv_safe(text: str) -> str:
    """A cell a spreadsheet shows as text (see the module's docstring)."""
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def config_secrets(config: Any) -> list[str]:
    """Every key and webhook secret of the config (each setting of kind Secret), as text."""
    from tui.config import Secret
    from tui.config.model import fields, value_at

    values = (value_at(config, name) for name, setting in fields() if setting.kind is Secret)
    return [value.get_secret_value() for value in values if value is not None and value.get_secret_value()]


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask_secret(secret))
    return text


def is_time_column(column: Column) -> bool:
    return column.key == "time" or column.key.endswith("_at")


def cell_text(column: Column, row: dict[str, Any]) -> str | None:
    """A cell's whole text as the table shows it; a row's time in full (ISO 8601 UTC); None for no value (the
    dash a cell shows: an empty CSV cell, a JSON null)."""
    if is_time_column(column):
        moment = parse_timestamp(row.get(column.key))
        if moment is not None:
            return iso_utc(moment)
    text = cell_plain(column, row)
    return None if text in ("", NONE) else text


async def table_records(table: LiveTable, secrets: Sequence[str]) -> tuple[list[str], list[list[str | None]]]:
    """(labels, records): the table as shown, top to bottom, read in slices between frames."""
    columns = table.columns
    rows = [row for row in map(table.get_row, table.row_ids) if row is not None]
    records = []
    for start in range(0, len(rows), SLICE):
        for row in rows[start:start + SLICE]:
            records.append([redact(text, secrets) if text else text
                            for text in (cell_text(column, row) for column in columns)])
        await asyncio.sleep(0)
    return [sanitize(column.label, single_line=True) for column in columns], records


def write_export(path: Path, form: str, labels: list[str], records: Iterable[list[str | None]], *,
                 overwrite: bool) -> None:
    """Write the file: a new one (mode 0600) unless `overwrite`, which replaces one that exists."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    with open(os.open(path, flags, 0o600), "w", encoding="utf-8", newline="") as out:
        if form == "csv":
            writer = csv.writer(out)
            writer.writerow([csv_safe(label) for label in labels])
            writer.writerows([csv_safe(cell or "") for cell in record] for record in records)
        else:
            for record in records:
                out.write(json.dumps(dict(zip(labels, record)), ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------------------------ where


def export_target(pane: Widget, focused: Widget | None) -> LiveTable | None:
    """The table to export on a tab: the focused one, else the pane's main table, else its first shown one."""
    from tui.app.widgets.table import LiveTable

    if isinstance(focused, LiveTable) and pane in focused.ancestors:
        return focused
    main = getattr(pane, "main_table", None)
    if main is not None:
        return main()
    return next((table for table in pane.query(LiveTable) if table.display), None)


def export_directory(env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Where exports go by default: the current directory when writable, else $XDG_DATA_HOME/capwatch/exports."""
    here = Path.cwd()
    if os.access(here, os.W_OK):
        return here
    base = Path(env.get("XDG_DATA_HOME") or Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return base / "capwatch" / "exports"


def default_path(tab: str, table: LiveTable, form: str) -> Path:
    name = re.sub(r"[^a-z0-9]+", "-", f"{tab}-{table.what}".lower()).strip("-")
    parts = dict.fromkeys(name.split("-"))  # "events-events" -> "events"
    stamp = time.strftime("%Y%m%d-%H%M%S", wall_clock.local())
    return export_directory() / f"capwatch-{'-'.join(parts)}-{stamp}.{form}"


# ------------------------------------------------------------------------------------------------ the dialog


class ExportScreen(FormScreen):
    """The path (prefilled) and the format; dismisses with {"path": Path, "form": "csv"|"jsonl"}."""

    def __init__(self, table: LiveTable, *, tab: str, form: str = "csv"):
        super().__init__(classes="modal")
        self.table = table
        self.tab = tab
        self.form = form if form in FORMS else "csv"

    def compose(self) -> ComposeResult:
        table = self.table
        what = Text(f"{table.row_count:,} rows as shown")
        if table.filter_text:
            what.append(", filtered by ").append(sanitize(table.filter_text, single_line=True), style="bold")
        with Vertical(classes="dialog"):
            yield Label(Text(f"Export the {table.what} table", style="bold"),
                        classes="dialog-title")
            yield Label(what)
            yield Label(Text("Format", style="dim"))
            yield Select([(words, form) for form, words in FORMS.items()], value=self.form, allow_blank=False,
                         compact=True, id="export-form")
            yield Label(Text("File (~ is your home directory)", style="dim"))
            yield Input(str(default_path(self.tab, table, self.form)), id="export-path")
            yield Static(Text("A file that exists is replaced only after a yes. Esc cancels.", style="dim"))
            yield Static("", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", id="export", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        path = self.query_one("#export-path", Input)
        path.focus()
        path.cursor_position = len(path.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value not in FORMS:
            return
        self.form = str(event.value)
        box = self.query_one("#export-path", Input)
        path = Path(box.value)
        if path.suffix.lstrip(".") in FORMS:  # the format's extension follows the format
            box.value = str(path.with_suffix(f".{self.form}"))

    def submit(self) -> None:
        text = self.value("#export-path")
        if not text:
            self.fail("Give the file's path")
            return
        path = Path(text).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.parent.exists() and path.parent == export_directory():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the default place, on first use
        if path.is_dir():
            self.fail(f"{sanitize(str(path), single_line=True)} is a directory: give a file name")
        elif not path.parent.is_dir():
            self.fail(f"No such directory: {sanitize(str(path.parent), single_line=True)}")
        else:
            self.dismiss({"path": path, "form": self.form})


def start_export(app: App, table: LiveTable, *, tab: str, form: str = "csv") -> None:
    """Ask where (ExportScreen), and before replacing a file, then export in a worker and toast where it went."""
    from tui.app.toolkit.actions import error_text

    secrets = config_secrets(app.config)  # type: ignore[attr-defined]

    async def run(path: Path, form: str, overwrite: bool) -> None:
        try:
            labels, records = await table_records(table, secrets)
            await asyncio.to_thread(write_export, path, form, labels, records, overwrite=overwrite)
        except Exception as error:  # noqa: BLE001 - a full disk, a file made meanwhile: the operator reads why
            app.toast_error(f"Export failed: {error_text(error)}")  # type: ignore[attr-defined]
            return
        app.toast(f"Exported {len(records):,} rows ({FORMS[form]}) to {path}")  # type: ignore[attr-defined]

    def write(path: Path, form: str, overwrite: bool) -> None:
        app.run_worker(run(path, form, overwrite), group="export", exit_on_error=False,
                       description=f"export to {path.name}")

    def chosen(choice: dict | None) -> None:
        if not choice:
            return
        path, form = choice["path"], choice["form"]
        if not path.exists():
            write(path, form, False)
            return
        question = f"{sanitize(str(path), single_line=True)} exists. Replace it?"
        app.push_screen(ConfirmScreen(question, danger=True),
                        lambda yes: write(path, form, True) if yes else app.toast("Nothing was exported"))  # type: ignore[attr-defined]

    app.push_screen(ExportScreen(table, tab=tab, form=form), chosen)
