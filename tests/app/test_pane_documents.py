"""Documents and Extraction tabs: rows appear and change live, filter, detail, actions behind confirmation,
read-only refusal, hostile names inert."""

from __future__ import annotations

from types import SimpleNamespace

from textual.widgets import Input

from tests.helpers.pane_host import PaneHost, StubHub
from tests.helpers.waiting import eventually
from tui.app.panes.documents import DocumentsPane, UploadScreen
from tui.app.panes.extraction import SubmitScreen
from tui.app.panes.extraction import ExtractionPane
from tui.app.screens import ConfirmScreen, DetailScreen
from tui.config import Config
from tui.live.events import Event

HOSTILE = "\x1b]0;pwned\x07[@click=app.quit]evil[/].pdf"


def document(doc_id: str, status: str = "processing", name: str = "claim.pdf") -> Event:
    patch = {"document_id": doc_id, "file_name": name, "status": status, "workflow_complete": status == "completed",
             "updated_at": "2026-11-23T07:00:00Z"}
    return Event(time=0, service="capout", type="document.status", id=doc_id, data=patch, kind="documents",
                 patch=patch)


def table_text(table) -> str:
    """The table as the screen shows it now."""
    return "\n".join(table.render_line(y).text for y in range(table.scrollable_content_region.height))


async def test_documents_rows_change_live_filter_and_detail():
    hub = StubHub()
    host = PaneHost(lambda: DocumentsPane(id="pane-documents"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        for n in range(30):
            hub.store.apply(document(f"doc_{n:03d}"))
        hub.store.apply(document("doc_bad", name=HOSTILE))
        host.flush()
        await pilot.pause()
        pane = host.query_one(DocumentsPane)
        assert pane.table.row_count == 31
        hub.store.apply(document("doc_007", "failed"))
        host.flush()
        await pilot.pause()
        assert pane.table.get_row("doc_007")["status"] == "failed"
        pane.table.sort_by("file_name", reverse=True)  # the hostile name sorts first ("[" after letters)
        await pilot.pause()
        text = table_text(pane.table)
        assert "\x1b" not in text and "\x07" not in text and "[@click=app.quit]evil" in text
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(host.focused, Input)
        host.focused.value = "doc_00"
        await pilot.pause()
        assert pane.table.row_count == 10
        await pilot.press("escape")
        await pilot.pause()
        assert pane.table.row_count == 31
        pane.table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, DetailScreen)


async def test_upload_asks_and_calls_the_hub_only_after_yes(tmp_path):
    calls = []
    local = tmp_path / "estimate.pdf"
    local.write_bytes(b"%PDF")

    async def upload_document(**form):
        calls.append(form)
        return SimpleNamespace(document_id="doc_new", status="processing")

    hub = StubHub(capout=SimpleNamespace(upload=upload_document))
    host = PaneHost(lambda: DocumentsPane(id="pane-documents"), hub,
                    config=Config(capout={"xn_address": "team@example.xn"}))
    async with host.run_test(size=(120, 40)) as pilot:
        host.query_one(DocumentsPane).table.focus()
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(host.screen, UploadScreen)
        host.screen.query_one("#upload-source", Input).value = str(local)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert calls == []
        await pilot.press("u")
        await pilot.pause()
        host.screen.query_one("#upload-source", Input).value = str(local)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await eventually(lambda: calls, timeout=3.0, pilot=pilot)
        assert calls == [{"xn_address": "team@example.xn", "file_name": None, "path": str(local)}]


async def test_read_only_sends_no_mutation_and_its_keys_say_so():
    hub = StubHub(read_only=True)
    for pane_class, key in ((DocumentsPane, "u"), (ExtractionPane, "e")):
        host = PaneHost(lambda: pane_class(id="pane"), hub)
        async with host.run_test(size=(120, 40)) as pilot:
            pane = host.query_one(pane_class)
            pane.table.focus()
            assert pane.check_action("upload" if key == "u" else "submit", ()) is True  # shown: it says why not
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(host.screen, (UploadScreen, SubmitScreen, ConfirmScreen))
            assert "read-only" in list(host._notifications)[-1].message
            [command] = pane.commands()
            assert "read-only" in command.help
            command.callback()
            await pilot.pause()
            assert not isinstance(host.screen, (UploadScreen, SubmitScreen, ConfirmScreen))


async def test_extraction_shows_webhook_results():
    hub = StubHub()
    host = PaneHost(lambda: ExtractionPane(id="pane-extraction"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        row = {"job_id": "temp_1", "filename": "invoice.pdf", "status": "completed", "kind": "extract",
               "submitted_at": "2026-11-23T07:00:00Z", "completed_at": "2026-11-23T07:00:02.500Z",
               "signature_verified": True, "result": {"total": 12.5}}
        hub.store.apply(Event(time=0, service="casmo", type="extraction.completed", id="temp_1", data=row,
                              kind="jobs", patch=row))
        host.flush()
        await pilot.pause()
        pane = host.query_one(ExtractionPane)
        pane.table.focus()
        await pilot.pause()
        text = table_text(pane.table)
        assert "2.5s" in text and "✔ hmac" in text
        assert '"total": 12.5' in host.query_one("#result-json").content.code  # the Syntax shown


async def test_extraction_form_checks_its_fields_then_submits_after_confirmation(tmp_path):
    calls = []
    local = tmp_path / "invoice.pdf"
    local.write_bytes(b"%PDF")

    async def submit_casmo(path, **form):
        calls.append((path, form))
        return SimpleNamespace(job_id="temp_9", status="processing")

    hub = StubHub(casmo=SimpleNamespace(submit=submit_casmo))
    host = PaneHost(lambda: ExtractionPane(id="pane-extraction"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        host.query_one(ExtractionPane).table.focus()
        await pilot.press("e")
        await pilot.pause()
        form = host.screen
        assert isinstance(form, SubmitScreen)
        await pilot.press("enter")  # nothing given yet
        await pilot.pause()
        assert host.screen is form and "Give a file path" in str(form.query_one(".form-error").render())
        form.query_one("#submit-path", Input).value = str(local)
        form.query_one("#submit-kind").value = "review"
        await pilot.press("enter")  # a review without a workflow
        await pilot.pause()
        assert host.screen is form and "workflow" in str(form.query_one(".form-error").render())
        form.query_one("#submit-workflow", Input).value = "wf_1"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause(0.2)
        assert calls == [(str(local), {"kind": "review", "mode": "callback", "workflow_id": "wf_1"})]
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("escape")  # cancel: nothing sent
        await pilot.pause()
        assert not isinstance(host.screen, SubmitScreen) and len(calls) == 1


def test_created_is_the_servers_created_at_never_when_capwatch_first_saw_it():
    """Issue 15: a document seen only on the stream has no `created_at`; its first sighting is not its creation."""
    from tui.app.panes.documents import created_cell

    assert created_cell({"first_seen_at": "2026-01-02T03:04:05.000Z"}).plain == "—"
    assert created_cell({"created_at": "2026-01-02T03:04:05.000Z",
                         "first_seen_at": "2026-01-02T09:00:00.000Z"}).plain != "—"


async def test_a_filter_that_matches_nothing_says_so_and_escape_on_the_table_clears_it():
    hub = StubHub()
    host = PaneHost(lambda: DocumentsPane(id="pane-documents"), hub)
    async with host.run_test(size=(80, 24)) as pilot:
        for n in range(12):
            hub.store.apply(document(f"doc_{n:03d}q8kp2zx", name=f"water-damage-assessment-photos-{n}.pdf"))
        host.flush()
        await pilot.pause()
        pane = host.query_one(DocumentsPane)
        pane.table.focus()
        await pilot.press("slash", *"zzz", "enter")  # kept: back on the table
        await pilot.pause()
        assert host.focused is pane.table and pane.table.row_count == 0
        text = table_text(pane.table)
        assert "no rows match “zzz” · Esc clears the filter" in text and "0 of 12 match “zzz”" in text
        await pilot.press("escape")  # on the table: clears it, as the message says
        await pilot.pause()
        assert pane.table.filter_text == "" and pane.table.row_count == 12 and host.focused is pane.table
        assert not pane.filter_box().value and "match" not in table_text(pane.table)
        # The file name keeps its room at 80 columns: the id gives way (cut at its start), Created is hidden.
        header, first = table_text(pane.table).splitlines()[:2]
        assert "water-damage-assessment-" in first and "Created" not in header and "Updated" in header
        assert first.split()[0].startswith("…") and first.split()[0].endswith("q8kp2zx")
