"""The Captain tab's forms: a new database's name, and what to index (an S3 or GCS bucket, or one file of it)
with its cloud credentials. The credentials are typed into password inputs and dismissed to the pane for the
hub, never shown, never echoed in a message."""

from __future__ import annotations

import json
import re
import os
from pathlib import Path
from typing import Any, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from tui.app.screens import FormScreen
from tui.text import sanitize

# Doc: "special characters and spaces should be avoided in database names"; the simulator enforces this.
DATABASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")  # S3 and GCS rules, loosely
SERVICE_ACCOUNT_FIELDS = ("type", "project_id", "private_key")
MAX_SERVICE_ACCOUNT_BYTES = 64 * 1024
SOURCES = (("Amazon S3", "s3"), ("Google Cloud Storage", "gcs"))
URI_SCHEMES = {"s3": "s3", "gcs": "gs"}  # a source's file URIs: s3://bucket/path, gs://bucket/path


def region_from(environ: Mapping[str, str]) -> str:
    """The region the AWS tools would use here, when the environment names a valid one; else "" (never a guess:
    a placeholder that looks like a value was taken for one)."""
    for value in (environ.get("AWS_REGION", ""), environ.get("AWS_DEFAULT_REGION", "")):  # the AWS tools' own
        if AWS_REGION.match(value.strip()):
            return value.strip()
    return ""


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
            yield Input(placeholder="e.g. contracts_2024", id="database-name", max_length=64)
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

    def __init__(self, databases: list[str], selected: str | None, environ: Mapping[str, str] | None = None):
        super().__init__(classes="modal")
        self.databases = databases
        self.selected = selected if selected in databases else (databases[0] if databases else None)
        self.aws_region = region_from(os.environ if environ is None else environ)

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
                # Placeholders say what to give, never a value that could pass for one (italic, in styles).
                yield from form_field("Bucket", Input(placeholder="e.g. acme-contracts", compact=True,
                                                      id="index-bucket"))
                yield from form_field("File URI", Input(placeholder="optional; empty = the whole bucket",
                                                        compact=True, id="index-file-uri"))
                with Vertical(id="index-s3", classes="form-group"):
                    yield from form_field("Access key id", Input(placeholder="e.g. AKIA…", compact=True,
                                                                 id="index-key-id"))
                    yield from form_field("Secret key", Input(placeholder="hidden as you type", password=True,
                                                              compact=True, id="index-secret"))
                    # Prefilled from AWS_REGION / AWS_DEFAULT_REGION when set; else empty, and it says so.
                    yield from form_field("Region", Input(value=self.aws_region, placeholder="required, e.g. us-east-1",
                                                          compact=True, id="index-region"))
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
        elif not region:
            self.fail("Region is empty: type the bucket's AWS region (us-east-1 was only an example).")
        elif not AWS_REGION.match(region):
            self.fail(f"“{sanitize(region, single_line=True)}” is not an AWS region: they read like us-east-1 or "
                      "eu-west-2.")
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
