"""Captain tab: databases, the selected database's files and indexing jobs follow the Store; every mutation asks
first and calls the hub with the right arguments; read-only offers none; typed secrets never reach the screen."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

from textual.widgets import Input, Select, Static

from tests.helpers.pane_host import PaneHost, StubHub
from tui.app.panes.captain import BAR_WIDTH, CaptainPane
from tui.app.panes.captain_forms import CreateDatabaseScreen, IndexScreen
from tui.app.toolkit.cells import percent_bar
from tui.app.widgets.keybar import KeyBar
from tui.app.screens import ConfirmScreen, DetailScreen, TypeToConfirmScreen
from tui.live.events import Event, iso_utc

HOSTILE = "\x1b]0;pwned\x07[@click=app.quit]evil[/]"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzSECRET"
GCS_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"


def database(name: str, requests: int = 3) -> dict:
    return {"database_id": f"db_{name}", "database_name": name, "environment": "production", "is_active": True,
            "created_at": "2026-11-20T09:00:00Z", "request_count": requests}


def file_row(db: str, file_id: str, name: str, chunks: int = 2) -> dict:
    return {"file_id": file_id, "file_name": name, "chunk_count": chunks, "created_at": "2026-11-23T07:00:00Z",
            "updated_at": "2026-11-23T07:01:00Z", "database_name": db}


def job(job_id: str, db: str, progress: float, started_ago: float, **extra) -> Event:
    row = {"job_id": job_id, "database_name": db, "source": "s3://acme-docs", "status": "processing",
           "done": False, "progress": progress, "total_files": 10, "indexed_files": int(progress * 10),
           "failed_files": 0, "started_at": iso_utc(time.time() - started_ago), **extra}
    return Event(time=time.time(), service="captain", type="indexing.progress", id=job_id, data=row,
                 kind="indexing_jobs", patch=row)


def fill(store) -> None:
    store.replace("databases", {name: database(name) for name in ("alpha", "beta", "zeta" + HOSTILE)})
    store.replace("files", {
        "alpha/f1": file_row("alpha", "f1", "Acme_Corp_Q3.pdf", 4),
        "alpha/f2": file_row("alpha", "f2", HOSTILE + ".pdf"),
        "beta/f3": file_row("beta", "f3", "Beta_Contract.docx"),
    })


def table_text(table) -> str:
    return "\n".join(table.render_line(y).text for y in range(table.scrollable_content_region.height))


def recorder(calls: list, name: str, reply=None):
    async def action(*args, **kwargs):
        calls.append((name, args, kwargs))
        return reply if reply is not None else SimpleNamespace(job_id="job_123", status="success")

    return action


def captain_hub(read_only: bool = False, environment: str = "production") -> StubHub:
    calls: list = []
    hub = StubHub(read_only=read_only, captain=SimpleNamespace(environment=environment,
                                                               create_database=recorder(calls, "create"),
                                                               delete_database=recorder(calls, "delete_database"),
                                                               delete_file=recorder(calls, "delete_file"),
                                                               index=recorder(calls, "index")))
    hub.calls = calls
    return hub


def notifications(host) -> str:
    return "\n".join(f"{n.title} {n.message}" for n in host._notifications)


async def test_tables_follow_the_store_and_the_selected_database():
    hub = captain_hub()
    host = PaneHost(lambda: CaptainPane(id="pane-captain"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        hub.store.apply(job("job_b", "alpha", 0.7, started_ago=70))
        host.flush()
        await pilot.pause()
        pane = host.query_one(CaptainPane)
        title = str(host.query_one("#captain-title", Static).render())
        assert "PROD" in title and pane.query_one("#captain-title").has_class("captain-prod")
        assert pane.databases.total_count == 3
        assert pane.selected_database == "alpha"  # sorted first; the cursor selects it
        assert set(pane.files.row_ids) == {"alpha/f1", "alpha/f2"}
        files = table_text(pane.files)
        assert "Acme_Corp_Q3.pdf" in files and "[@click=app.quit]evil" in files and "\x1b" not in files
        databases = table_text(pane.databases)
        assert "\x1b" not in databases and "\x07" not in databases and "[@click=app.quit]evil" in databases
        jobs = table_text(pane.jobs)
        assert "███████░░░  70%" in jobs and "7/10" in jobs and "processing" in jobs
        assert "~30s" in jobs or "~31s" in jobs  # 70 s for 70%: about 30 s to go

        # The job moves on and finishes; a file is added to beta; moving the cursor shows beta's files.
        hub.store.apply(job("job_b", "alpha", 1.0, started_ago=80, status="completed", done=True))
        hub.store.upsert("files", "beta/f4", file_row("beta", "f4", "Beta_Annex.pdf"))
        hub.store.upsert("files", "alpha/f5", file_row("alpha", "f5", "Acme_Annex.pdf"))
        host.flush()
        await pilot.pause()
        jobs = table_text(pane.jobs)
        assert "██████████ 100%" in jobs and "completed" in jobs
        assert set(pane.files.row_ids) == {"alpha/f1", "alpha/f2", "alpha/f5"}
        pane.databases.focus()
        await pilot.press("down")
        await pilot.pause()
        assert pane.selected_database == "beta"
        assert set(pane.files.row_ids) == {"beta/f3", "beta/f4"}
        hub.store.remove("files", "beta/f3")
        host.flush()
        await pilot.pause()
        assert pane.files.row_ids == ["beta/f4"]
        assert "Files in beta (1)" in str(pane.query_one("#captain-files-label").render())

        # A resync that drops beta moves the cursor on and the files follow.
        hub.store.replace("databases", {name: database(name, 9) for name in ("alpha", "zeta" + HOSTILE)})
        host.flush()
        await pilot.pause()
        await pilot.pause()
        assert pane.databases.total_count == 2 and pane.selected_database != "beta"
        assert "beta/f4" not in pane.files.row_ids

        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(host.focused, Input)
        host.focused.value = "alpha"
        await pilot.pause()
        assert pane.databases.row_count == 1
        await pilot.press("escape")
        await pilot.pause()
        assert pane.databases.row_count == 2 and host.focused is pane.databases
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, DetailScreen)


async def test_create_database_validates_then_confirms_then_calls_the_hub():
    hub = captain_hub()
    host = PaneHost(lambda: CaptainPane(id="pane-captain"), hub)
    async with host.run_test(size=(80, 24)) as pilot:
        fill(hub.store)
        host.flush()
        host.query_one(CaptainPane).databases.focus()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(host.screen, CreateDatabaseScreen)
        name = host.screen.query_one("#database-name", Input)
        for bad in ("has space", "semi;colon", "alpha"):  # the last exists already
            name.value = bad
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(host.screen, CreateDatabaseScreen)
            assert str(host.screen.query_one(".form-error").render()).strip()
        name.value = "contracts_2024"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, ConfirmScreen) and "PROD" in host.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert hub.calls == []
        await pilot.press("n")
        await pilot.pause()
        host.screen.query_one("#database-name", Input).value = "contracts_2024"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.1)
        assert hub.calls == [("create", ("contracts_2024",), {})]
        assert "Created database contracts_2024" in notifications(host)


async def test_delete_database_needs_its_typed_name_and_delete_file_asks():
    hub = captain_hub()
    host = PaneHost(lambda: CaptainPane(id="pane-captain"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        host.flush()
        await pilot.pause()
        pane = host.query_one(CaptainPane)
        pane.databases.focus()
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(host.screen, TypeToConfirmScreen) and host.screen.expected == "alpha"
        host.screen.query_one(Input).value = "alph"
        await pilot.press("enter")
        await pilot.pause()
        assert hub.calls == [] and not isinstance(host.screen, TypeToConfirmScreen)
        await pilot.press("D")
        await pilot.pause()
        host.screen.query_one(Input).value = "alpha"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert hub.calls == [("delete_database", ("alpha",), {})]

        pane.files.focus()
        await pilot.press("x")
        await pilot.pause()
        # The hostile name sorts first ("[" before letters) and is shown as plain text.
        assert isinstance(host.screen, ConfirmScreen) and "[@click=app.quit]evil[/].pdf (f2)" in host.screen.question
        assert "\x1b" not in host.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert len(hub.calls) == 1
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.1)
        assert hub.calls[-1] == ("delete_file", ("alpha", "f2"), {})


async def open_index_form(host, hub, pilot):
    """The databases filled in, the first selected, and `i` pressed: the index form."""
    fill(hub.store)
    host.flush()
    await pilot.pause()
    host.query_one(CaptainPane).databases.focus()
    await pilot.press("i")
    await pilot.pause()
    return host.screen


async def test_index_s3_validates_and_never_shows_the_secret():
    hub = captain_hub()
    host = PaneHost(lambda: CaptainPane(id="pane-captain"), hub)
    async with host.run_test(size=(80, 24)) as pilot:
        form = await open_index_form(host, hub, pilot)
        assert isinstance(form, IndexScreen)
        assert form.query_one("#index-database", Select).value == "alpha"
        form.query_one("#index-bucket", Input).value = "acme-docs"
        form.query_one("#index-key-id", Input).value = "AKIAIOSFODNN7EXAMPLE"
        secret = form.query_one("#index-secret", Input)
        secret.focus()
        await pilot.press(*"wJalrX")  # typed for real, then the rest set directly
        secret.value = AWS_SECRET
        form.query_one("#index-region", Input).value = "Mars"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, IndexScreen) and "region" in str(form.query_one(".form-error").render())
        form.query_one("#index-file-uri", Input).value = "s3://other-bucket/a.pdf"
        form.query_one("#index-region", Input).value = "us-east-1"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, IndexScreen) and "s3://acme-docs/" in str(form.query_one(".form-error").render())
        assert AWS_SECRET not in host.export_screenshot() and "wJalrX" not in host.export_screenshot()
        form.query_one("#index-file-uri", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, ConfirmScreen) and "whole bucket s3://acme-docs" in host.screen.question
        assert AWS_SECRET not in host.export_screenshot()
        await pilot.press("y")
        await pilot.pause(0.1)
        assert hub.calls == [("index", ("s3", "alpha", "acme-docs"), {
            "file_uri": None, "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": AWS_SECRET,
            "bucket_region": "us-east-1"})]
        assert "job_123" in notifications(host)
        assert AWS_SECRET not in notifications(host) and AWS_SECRET not in host.export_screenshot()


async def test_index_gcs_from_a_key_file_and_a_failure_toast(tmp_path):
    account = {"type": "service_account", "project_id": "acme", "private_key": GCS_PRIVATE_KEY,
               "client_email": "indexer@acme.iam.gserviceaccount.com"}
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(account))
    hub = captain_hub()

    async def refuse(*args, **kwargs):
        hub.calls.append(("index", args, kwargs))
        raise RuntimeError("captain: 400 Invalid GCS URI format")

    hub.vendor("captain").index = refuse
    host = PaneHost(lambda: CaptainPane(id="pane-captain"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        form = await open_index_form(host, hub, pilot)
        form.query_one("#index-source", Select).value = "gcs"
        await pilot.pause()
        assert form.query_one("#index-gcs").display and not form.query_one("#index-s3").display
        form.query_one("#index-bucket", Input).value = "acme-docs"
        form.query_one("#index-file-uri", Input).value = "gs://acme-docs/q3/contract.pdf"
        form.query_one("#index-sa-json", Input).value = '{"type": "service_account"}'
        await pilot.press("enter")
        await pilot.pause()
        assert "project_id" in str(form.query_one(".form-error").render())  # names the gap, not the content
        form.query_one("#index-sa-json", Input).value = ""
        form.query_one("#index-sa-path", Input).value = str(key_file)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, ConfirmScreen) and "gs://acme-docs/q3/contract.pdf" in host.screen.question
        await pilot.press("y")
        await pilot.pause(0.1)
        (_, args, kwargs), = hub.calls
        assert args == ("gcs", "alpha", "acme-docs") and kwargs["file_uri"] == "gs://acme-docs/q3/contract.pdf"
        assert json.loads(kwargs["service_account_json"]) == account
        assert "Invalid GCS URI format" in notifications(host)
        assert GCS_PRIVATE_KEY not in notifications(host) and GCS_PRIVATE_KEY not in host.export_screenshot()


async def test_read_only_sends_no_mutation_and_its_keys_say_so():
    hub = captain_hub(read_only=True, environment="development")
    host = PaneHost(lambda: CaptainPane(id="pane-captain"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        host.flush()
        await pilot.pause()
        pane = host.query_one(CaptainPane)
        assert "dev" in str(host.query_one("#captain-title", Static).render())
        pane.files.focus()
        await pilot.pause()
        for action in ("create_database", "delete_database", "index", "delete_file"):
            assert pane.check_action(action, ()) is True  # shown (issue 18): pressing one says read-only
        for key in ("n", "D", "i", "x"):
            await pilot.press(key)
            await pilot.pause()
            assert host.screen is host.screen_stack[0]
            assert "read-only" in notifications(host).splitlines()[-1]
        assert hub.calls == []
        assert all("read-only" in command.help for command in pane.commands())
        footer = host.query_one(KeyBar).text  # (the screenshot's SVG spells spaces &#160;)
        assert "New database" in footer and "Delete file" in footer


def test_progress_bar_text():
    assert percent_bar(0.7, BAR_WIDTH).plain == "███████░░░  70%"
    assert percent_bar(None, BAR_WIDTH).plain.endswith("—")
    assert percent_bar(1.5, BAR_WIDTH).plain == "██████████ 100%"


async def test_the_index_form_never_shows_a_value_that_is_not_there(monkeypatch):
    """The region is prefilled only from what the AWS tools would use (AWS_REGION, AWS_DEFAULT_REGION); else it is
    empty, its placeholder says it is required and only an example, and an empty region says so on submit."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    hub = captain_hub()
    host = PaneHost(lambda: CaptainPane(id="pane-captain"), hub)
    async with host.run_test(size=(80, 24)) as pilot:
        form = await open_index_form(host, hub, pilot)
        region = form.query_one("#index-region", Input)
        assert region.value == "" and region.placeholder == "required, e.g. us-east-1"
        assert all(box.placeholder.startswith(("e.g.", "optional", "required", "hidden", "paste", "path"))
                   for box in form.query(Input) if box.placeholder)
        form.query_one("#index-bucket", Input).value = "acme-docs"
        form.query_one("#index-key-id", Input).value = "AKIAIOSFODNN7EXAMPLE"
        form.query_one("#index-secret", Input).value = AWS_SECRET
        await pilot.press("enter")
        await pilot.pause()
        assert "Region is empty" in str(form.query_one(".form-error").render())
        await pilot.press("escape")
        await pilot.pause()
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
        await pilot.press("i")
        await pilot.pause()
        assert host.screen.query_one("#index-region", Input).value == "eu-west-2"
