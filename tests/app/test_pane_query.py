"""Query tab: a question runs in a worker and shows a sanitized Markdown answer, the relevant files by score and
the metrics; Escape cancels; links are copied, never opened; every run lands in the history file, which is
searchable, loads back into the editor and runs again. Plus the history store on its own."""

from __future__ import annotations

import json
import os
import stat
from types import SimpleNamespace

from textual.widgets import OptionList, Select, Static, TextArea
from textual.widgets._markdown import MarkdownBlock

from tests.helpers.fake_query import FakeCaptain
from tests.helpers.waiting import eventually
from tests.helpers.pane_host import PaneHost, StubHub
from tui.app.panes.query import HistoryPanel, QueryPane
from tui.app.query_history import HISTORY_PATH_ENV, QueryHistory, default_history_path
from tui.api import ApiError
from tui.vendors.captain.client import QueryResponse

HOSTILE = "\x1b]0;pwned\x07[@click=app.quit]boom[/]"
LINK = "https://evil.example/steal?x=1"
ANSWER = (f"## Termination\n\nThree contracts allow it {HOSTILE}. See [the clause]({LINK}).\n\n"
          "<script>alert(1)</script>\n\n- Acme: 30 days\n- Beta: 60 days\n")


def reply_for(question: str, database: str) -> QueryResponse:
    """What the server sends, through the real model (unknown fields kept, odd ones tolerated)."""
    return QueryResponse.model_validate({
        "status": "success", "response": ANSWER, "query": question, "database_name": database,
        "relevant_files": [
            {"file_name": "Beta_Contract.pdf", "relevancy_score": 0.61, "file_type": "pdf", "file_id": "f2"},
            {"file_name": "Acme" + HOSTILE + ".pdf", "relevancy_score": 0.92, "file_type": "pdf", "file_id": "f1"},
            {"file_name": "odd.txt", "relevancy_score": None, "file_id": "f3"},
        ],
        "processing_metrics": {"total_files_processed": 4, "total_tokens": 16308, "execution_time_ms": 1250},
        "extra_field": {"kept": True},
    })


def make_host(tmp_path, fake: FakeCaptain, read_only: bool = False, history: QueryHistory | None = None):
    hub = StubHub(read_only=read_only, captain=SimpleNamespace(query=fake))
    hub.store.replace("databases", {name: {"database_name": name, "database_id": f"db_{name}"}
                                    for name in ("alpha", "beta")})
    history = history or QueryHistory(tmp_path / "query-history.json")
    return PaneHost(lambda: QueryPane(id="pane-query", history=history), hub)




def answer_text(pane: QueryPane) -> str:
    return "\n".join(block._content.plain for block in pane.query(MarkdownBlock) if hasattr(block, "_content"))


def static_text(pane: QueryPane, selector: str) -> str:
    return str(pane.query_one(selector, Static).render())


def notes(host) -> str:
    return "\n".join(n.message for n in host._notifications)


async def test_query_runs_and_shows_a_safe_answer_files_and_metrics(tmp_path):
    fake = FakeCaptain(reply=reply_for)
    host = make_host(tmp_path, fake)
    opened: list[str] = []
    host.open_url = lambda url, **kwargs: opened.append(url)  # must never be reached
    async with host.run_test(size=(120, 40)) as pilot:
        host.flush()
        pane = host.query_one(QueryPane)
        await pilot.pause()
        assert pane.database_select.value == "alpha"  # the first, when nothing was chosen
        pane.database_select.value = "beta"
        pane.editor.focus()
        await pilot.press(*"which contracts allow termination")
        await pilot.press("ctrl+r")
        await eventually(lambda: not pane.running and "Termination" in answer_text(pane), timeout=5.0, pilot=pilot,
                         interval=0.02)
        assert fake.calls == [("which contracts allow termination", "beta", True)]

        text = answer_text(pane)
        assert "\x1b" not in text and "\x07" not in text
        assert "[@click=app.quit]boom[/]" in text  # shown as it is, not obeyed
        files = static_text(pane, "#query-files")
        assert files.index("0.92") < files.index("0.61") < files.index("odd.txt")  # by score, unknown last
        assert "[@click=app.quit]boom[/].pdf" in files and "\x1b" not in files
        metrics = static_text(pane, "#query-metrics")
        assert "16,308" in metrics and "1.25s" in metrics and "Round trip" in metrics and "(measured)" in metrics
        assert "✔" in static_text(pane, "#query-status")

        # The link's click action, run exactly as a mouse click would run it: copied and said, never opened.
        actions = [(block, span.style.meta["@click"]) for block in pane.query(MarkdownBlock)
                   if hasattr(block, "_content") for span in block._content.spans
                   if hasattr(span.style, "meta") and "@click" in span.style.meta]
        assert actions and all(LINK in action for _, action in actions)
        for block, action in actions:
            await host.run_action(action, block)
        await pilot.pause()
        assert opened == [] and host.is_running
        assert f"Link copied (not opened): {LINK}" in notes(host)

        saved = json.loads((tmp_path / "query-history.json").read_text())["entries"]
        assert [(e["database"], e["question"], e["status"]) for e in saved] == [
            ("beta", "which contracts allow termination", "success")]
        assert saved[0]["elapsed"] >= 0 and "Termination" in saved[0]["preview"] and "\x1b" not in saved[0]["preview"]
        assert stat.S_IMODE(os.stat(tmp_path / "query-history.json").st_mode) == 0o600


async def test_escape_cancels_a_running_query(tmp_path):
    fake = FakeCaptain(gate=True, reply=reply_for)
    host = make_host(tmp_path, fake)
    async with host.run_test(size=(80, 24)) as pilot:
        host.flush()
        pane = host.query_one(QueryPane)
        pane.editor.load_text("slow question")
        pane.editor.focus()
        await pilot.press("ctrl+r")
        await eventually(lambda: fake.started.is_set(), timeout=5.0, pilot=pilot, interval=0.02)
        assert pane.running and pane.query_one("#query-spinner").display
        first = static_text(pane, "#query-status")
        # the elapsed time ticks
        await eventually(lambda: static_text(pane, "#query-status") != first, timeout=5.0, pilot=pilot, interval=0.02)
        assert "asking alpha" in static_text(pane, "#query-status")
        await pilot.press("ctrl+r")  # a second run while one runs is refused, not stacked
        await pilot.pause()
        assert len(fake.calls) == 1
        await pilot.press("escape")
        await eventually(lambda: not pane.running, timeout=5.0, pilot=pilot, interval=0.02)
        assert fake.cancelled == 1
        assert "Cancelled after" in static_text(pane, "#query-status")
        assert not pane.query_one("#query-spinner").display and pane._ticker is None
        assert "Query cancelled" in notes(host)
        assert [e.status for e in QueryHistory(tmp_path / "query-history.json").load().entries] == ["cancelled"]
        assert pane.check_action("cancel", ()) is False  # nothing to cancel
        await pilot.press("escape")  # leaves the editor, so single keys act again
        assert host.focused is pane.query_one("#query-answer-box")
        await pilot.press("e")
        assert host.focused is pane.editor and pane.editor.text == "slow question"


async def test_a_failed_query_toasts_and_is_remembered(tmp_path):
    fake = FakeCaptain(error=ApiError("captain", 404, "Database not found"))
    host = make_host(tmp_path, fake, read_only=True)  # queries do not mutate: allowed in read-only mode
    async with host.run_test(size=(120, 40)) as pilot:
        host.flush()
        pane = host.query_one(QueryPane)
        pane.editor.load_text("anything?")
        pane.editor.focus()
        await pilot.press("ctrl+r")
        await eventually(lambda: fake.calls and not pane.running, timeout=5.0, pilot=pilot, interval=0.02)
        assert "Database not found" in notes(host) and "failed" in static_text(pane, "#query-status")
        entry = QueryHistory(tmp_path / "query-history.json").load().entries[-1]
        assert entry.status == "error" and "Database not found" in entry.preview


async def test_history_search_load_and_rerun(tmp_path):
    history = QueryHistory(tmp_path / "query-history.json")
    history.record(database="alpha", question="termination clauses in Q3", elapsed=1.2, status="success",
                   preview="three contracts")
    history.record(database="beta", question="renewal dates\nfor 2025", elapsed=0.8, status="success")
    history.record(database="gone_db", question="who signed the NDA", elapsed=None, status="cancelled")
    fake = FakeCaptain(reply=reply_for)
    host = make_host(tmp_path, fake, history=QueryHistory(tmp_path / "query-history.json"))
    async with host.run_test(size=(80, 24)) as pilot:
        host.flush()
        pane = host.query_one(QueryPane)
        pane.editor.focus()
        await pilot.press("ctrl+o")
        await pilot.pause()
        panel = pane.query_one(HistoryPanel)
        options = panel.query_one(OptionList)
        assert pane.history_open and options.option_count == 3
        assert "who signed the NDA" in str(options.get_option_at_index(0).prompt)  # newest first
        await pilot.press(*"renewal")
        await pilot.pause()
        assert options.option_count == 1
        await pilot.press("enter")
        await pilot.pause()
        assert not pane.history_open and host.focused is pane.editor
        assert pane.editor.text == "renewal dates\nfor 2025" and pane.database_select.value == "beta"
        assert fake.calls == []  # Enter loads, it does not run

        # A database that is not listed (yet) is remembered and chosen when it appears.
        await pilot.press("ctrl+o")
        await pilot.pause()
        panel.search.value = "nda"
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert pane.database_select.value == Select.NULL
        host.hub.store.upsert("databases", "gone_db", {"database_name": "gone_db"})
        host.flush()
        await pilot.pause()
        assert pane.database_select.value == "gone_db"

        # Ctrl+R in the history runs the highlighted entry again, on its database.
        await pilot.press("ctrl+o")
        await pilot.pause()
        panel.search.value = "termination"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await eventually(lambda: fake.calls and not pane.running, timeout=5.0, pilot=pilot, interval=0.02)
        assert fake.calls == [("termination clauses in Q3", "alpha", True)]
        assert pane.query_one(TextArea).text == "termination clauses in Q3"
        assert len(QueryHistory(tmp_path / "query-history.json").load().entries) == 4
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert pane.history_open
        await pilot.press("escape")  # closes the history
        await pilot.pause()
        assert not pane.history_open


async def test_the_database_choice_survives_refreshes(tmp_path):
    host = make_host(tmp_path, FakeCaptain(reply=reply_for))
    async with host.run_test(size=(120, 40)) as pilot:
        host.flush()
        pane = host.query_one(QueryPane)
        await pilot.pause()
        pane.database_select.value = "beta"
        await pilot.pause()
        store = host.hub.store
        store.replace("databases", {name: {"database_name": name} for name in ("aardvark", "alpha", "beta")})
        host.flush()
        await pilot.pause()
        assert pane.database_select.value == "beta"
        store.replace("databases", {name: {"database_name": name} for name in ("aardvark", "alpha")})
        host.flush()
        await pilot.pause()
        assert pane.database_select.value == Select.NULL  # not silently another database
        store.upsert("databases", "beta", {"database_name": "beta"})
        host.flush()
        await pilot.pause()
        assert pane.database_select.value == "beta"


# ------------------------------------------------------------------------------------------ the history file


def test_history_is_bounded_private_and_searchable(tmp_path):
    path = tmp_path / "deep" / "query-history.json"
    history = QueryHistory(path, limit=5)
    for n in range(8):
        history.record(database="alpha" if n % 2 else "beta", question=f"question {n}", elapsed=n / 10,
                       status="success", preview="x" * 1000, at=1_700_000_000 + n)
    reloaded = QueryHistory(path, limit=5).load()
    assert [e.question for e in reloaded.entries] == [f"question {n}" for n in range(3, 8)]
    assert len(reloaded.entries[0].preview) <= 160
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [e.question for e in reloaded.search("ALPHA question")] == ["question 7", "question 5", "question 3"]
    assert reloaded.search("nothing like this") == []


def test_history_tolerates_a_broken_file_and_odd_entries(tmp_path):
    path = tmp_path / "query-history.json"
    path.write_text("{not json")
    broken = QueryHistory(path).load()
    assert broken.entries == [] and "unreadable" in broken.load_error and "{not json" not in broken.load_error
    path.write_text(json.dumps({"entries": [{"question": "ok", "database": "a", "time": 1},
                                            {"question": 5}, "junk", {"question": "", "database": "a"},
                                            {"question": "no time", "database": "b", "elapsed": "fast"}]}))
    entries = QueryHistory(path).load().entries
    assert [(e.question, e.elapsed) for e in entries] == [("ok", None), ("no time", None)]


def test_history_path_follows_the_environment(tmp_path, monkeypatch):
    assert default_history_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "capwatch" / "query-history.json"
    assert str(default_history_path({})).endswith(".local/share/capwatch/query-history.json")
    monkeypatch.setenv(HISTORY_PATH_ENV, str(tmp_path / "mine.json"))
    assert QueryHistory().path == tmp_path / "mine.json"


async def test_typing_straight_away_starts_the_question_and_bound_keys_still_act(tmp_path):
    host = make_host(tmp_path, FakeCaptain(reply=reply_for))
    async with host.run_test(size=(100, 30)) as pilot:
        host.flush()
        pane = host.query_one(QueryPane)
        pane.focus_default()
        await pilot.pause()
        assert not pane.editor.has_focus
        await pilot.press("ctrl+o")  # a binding: opens the history, types nothing
        await pilot.pause()
        assert pane.history_open and pane.editor.text == ""
        await pilot.press("escape")
        await pilot.pause()
        pane.focus_default()
        await pilot.press(*"Why?")
        assert pane.editor.has_focus and pane.editor.text == "Why?"


async def test_at_80_columns_the_status_keeps_the_database_that_answered(tmp_path):
    """Seen at 80x24 in the monitor: "✔ 0.05s round trip ·", the database's name cut. Its words give way first, while
    a query runs too ("asking" goes); the whole line still where there is room."""
    from tests.app.test_alerts import monitor

    fake = FakeCaptain(gate=True)
    app = monitor()
    app.hub.vendors["captain"] = SimpleNamespace(query=fake)
    app.hub.store.replace("databases", {"contracts_2024_q4": {"database_name": "contracts_2024_q4",
                                                              "database_id": "db_c"}})
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("6")
        pane = app.query_one(QueryPane)
        await eventually(lambda: pane.database_select.value == "contracts_2024_q4", pilot=pilot)
        pane.editor.text = "Which contracts mention termination?"
        await pilot.press("ctrl+r")
        await eventually(lambda: fake.started.is_set() and "s" in static_text(pane, "#query-status"), pilot=pilot)
        await pilot.pause()
        said = static_text(pane, "#query-status")
        assert "contracts_2024_q4…" in said and "…" not in said.replace("q4…", ""), said
        fake.gate.set()
        await eventually(lambda: not pane.running, pilot=pilot)
        await pilot.pause()
        said = static_text(pane, "#query-status")
        assert said.startswith("✔ ") and said.endswith("contracts_2024_q4"), said
        assert len(said) <= pane.query_one("#query-status").size.width

