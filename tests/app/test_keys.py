"""The key rules an operator relies on (README "Using it", the help screen), on the whole monitor over the recorded
world, with keys delivered as a terminal delivers them: several in one read (tests/helpers/keys.py `one_read`),
all queued before the first is handled, as a paste or a laggy SSH link brings them.

- Keys act in order: each has taken effect (a tab shown, a field left, a screen opened) before the next.
- Outside a text field every key is a command; in one, every printable key is text. Escape always leaves it.
- On the Query tab a printable key that is no command starts the question, and a burst of characters is text even
  when its first is a command; a key typed alone is a command.
- Ctrl+R runs the question and leaves the editor; outside it, Escape cancels a running query. Either way the next
  number key switches tabs.
"""

from __future__ import annotations

from types import SimpleNamespace

from textual.widgets import TabbedContent, TabPane

from tests.helpers.fake_query import FakeCaptain
from tests.helpers.keys import one_read
from tests.helpers.recorded import RecordedHub, recorded_app
from tests.helpers.waiting import eventually
from tui.app.panes.query import QueryPane
from tui.app.screens import HealthScreen, HelpScreen
from tui.app.widgets.table import LiveTable

QUESTION = "Which contracts mention termination?"


async def show(pilot, key: str, tab: str) -> None:
    await pilot.press(key)
    await eventually(lambda: pilot.app.query_one(TabbedContent).active == tab and pilot.app.active_pane()
                     is not None, pilot=pilot, message=f"tab {tab} not shown")


def active(app) -> str:
    return app.query_one(TabbedContent).active


async def test_a_question_in_one_read_arrives_whole_then_escape_and_a_number_key_switch_tabs():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, "6", "query")
        pane = app.query_one(QueryPane)
        assert not pane.editor.has_focus
        assert one_read(app, QUESTION) == len(QUESTION)
        await eventually(lambda: pane.editor.text == QUESTION, pilot=pilot,
                         message=lambda: f"the question reads {pane.editor.text!r}")
        assert pane.editor.has_focus and len(app.screen_stack) == 1  # h and ? were text: no screen opened
        await pilot.press("escape")  # always leaves the question
        assert not pane.editor.has_focus and pane.editor.text == QUESTION
        one_read(app, "4")
        await eventually(lambda: active(app) == "capx", pilot=pilot)
        assert pane.editor.text == QUESTION


async def test_a_burst_starting_with_command_keys_is_text_and_a_key_typed_alone_is_a_command():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, "6", "query")
        pane = app.query_one(QueryPane)
        question = "how many contracts end in 2026? quick"  # h (health), digits, ? (keys), q (quit)
        one_read(app, question)
        await eventually(lambda: pane.editor.text == question, pilot=pilot,
                         message=lambda: f"the question reads {pane.editor.text!r}")
        assert len(app.screen_stack) == 1 and app.is_running and active(app) == "query"
        await pilot.press("escape")
        await pilot.press("h")  # alone: the health view
        await eventually(lambda: isinstance(app.screen, HealthScreen), pilot=pilot)
        await pilot.press("escape")
        await pilot.press("7")  # alone: the Events tab
        await eventually(lambda: active(app) == "events", pilot=pilot)
        assert pane.editor.text == question


async def test_in_the_editor_digits_and_brackets_are_text():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, "6", "query")
        pane = app.query_one(QueryPane)
        await pilot.press("e")
        assert pane.editor.has_focus
        one_read(app, "4]7")
        await eventually(lambda: pane.editor.text == "4]7", pilot=pilot)
        assert active(app) == "query"


async def test_ctrl_r_in_the_same_read_runs_the_whole_question_and_leaves_the_editor():
    fake = FakeCaptain(gate=True)
    app = recorded_app(RecordedHub(captain=SimpleNamespace(query=fake)))
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, "6", "query")
        pane = app.query_one(QueryPane)
        one_read(app, "Which NDAs expire in March?\x12")  # Ctrl+R right behind the last letter
        await eventually(lambda: fake.calls, pilot=pilot)
        assert fake.questions == ["Which NDAs expire in March?"]
        assert pane.running and not pane.editor.has_focus
        await pilot.press("escape")  # outside the question: cancels the running query
        await eventually(lambda: not pane.running, pilot=pilot)
        assert fake.cancelled == 1 and not pane.editor.has_focus
        one_read(app, "4]")  # Capx, then its next detail tab: both commands, in order
        detail = app.query_one("#capx-detail", TabbedContent)
        await eventually(lambda: active(app) == "capx" and detail.active == "capx-tab-tasks", pilot=pilot,
                         message=lambda: f"tab {active(app)}, detail {detail.active}")
        assert pane.editor.text == "Which NDAs expire in March?"


async def test_escape_in_the_editor_leaves_it_and_a_second_escape_cancels():
    fake = FakeCaptain(gate=True)
    app = recorded_app(RecordedHub(captain=SimpleNamespace(query=fake)))
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, "6", "query")
        pane = app.query_one(QueryPane)
        one_read(app, "Slow?\x12")
        await eventually(lambda: pane.running, pilot=pilot)
        await pilot.press("e")  # back into the question while it runs
        assert pane.editor.has_focus
        await pilot.press("escape")  # leaves the editor, the query goes on
        assert not pane.editor.has_focus and pane.running
        await pilot.press("escape")
        await eventually(lambda: not pane.running, pilot=pilot)
        assert fake.cancelled == 1


async def test_a_query_that_ends_answered_or_failed_leaves_the_focus_where_the_next_number_key_switches_tabs():
    for fake, outcome in ((FakeCaptain(), "An answer to:"),
                          (FakeCaptain(error=RuntimeError("no answer in this test")), "failed after")):
        app = recorded_app(RecordedHub(captain=SimpleNamespace(query=fake)))
        async with app.run_test(size=(80, 24)) as pilot:
            await show(pilot, "6", "query")
            pane = app.query_one(QueryPane)
            one_read(app, "Which contracts end in 2026?\x12")
            await eventually(lambda: fake.calls and not pane.running, pilot=pilot)
            shown = lambda: "".join(str(widget.render()) for widget in pane.query("Static"))  # noqa: E731
            await eventually(lambda: outcome in shown(), pilot=pilot, message=lambda: f"{outcome!r} not in {shown()!r}")
            assert not pane.editor.has_focus
            one_read(app, "7")
            await eventually(lambda: active(app) == "events", pilot=pilot)
            assert pane.editor.text == "Which contracts end in 2026?"


async def test_escape_leaves_a_filter_box_cleared_and_the_next_key_is_a_command():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, "2", "documents")
        table = app.query_one("#documents-table", LiveTable)
        one_read(app, "/inspection")
        await eventually(lambda: table.filter_text == "inspection", pilot=pilot)
        await pilot.press("escape")  # alone: in one read with the next key a terminal would send Alt+that key
        await eventually(lambda: app.focused is table and not table.filter_text, pilot=pilot,
                         message=lambda: f"focus {app.focused!r}, filter {table.filter_text!r}")
        one_read(app, "4")
        await eventually(lambda: active(app) == "capx", pilot=pilot)


async def test_a_tab_key_then_typing_in_one_read_lands_in_the_new_tab():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        one_read(app, "6Which")  # the tab switch takes the focus before "W" is looked at
        pane = app.query_one(QueryPane)
        await eventually(lambda: pane.editor.text == "Which", pilot=pilot,
                         message=lambda: f"tab {active(app)}, question {pane.editor.text!r}")
        assert active(app) == "query"


async def test_filter_enter_and_a_tab_key_in_one_read():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        one_read(app, "2/inspection\r4")  # Documents, filter, keep it (Enter), Capx
        await eventually(lambda: active(app) == "capx", pilot=pilot,
                         message=lambda: f"tab {active(app)}, focus {app.focused!r}, filter "
                                         f"{app.query_one('#documents-table', LiveTable).filter_text!r}")
        table = app.query_one("#documents-table", LiveTable)
        assert table.filter_text == "inspection"
        await show(pilot, "2", "documents")
        assert app.focused is table  # Enter went back to the table, not into the box


async def test_a_tab_key_is_not_undone_by_the_late_focus_message_of_the_tab_before():
    """TabbedContent shows the tab of a focused widget when it handles that pane's TabPane.Focused, which comes
    after the keys already queued: `2` then `4` in one read once ended on Documents (one run in ten, loaded)."""
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, "2", "documents")
        documents = app.query_one("#tabs", TabbedContent).get_pane("documents")
        one_read(app, "4")
        await eventually(lambda: active(app) == "capx", pilot=pilot)
        documents.post_message(TabPane.Focused(documents))  # as the focus `2` gave, handled only now
        await pilot.pause()
        await pilot.pause()
        assert active(app) == "capx" and app.focused is app.query_one("#capx-companies", LiveTable)


async def test_a_screen_a_key_opens_takes_the_next_keys():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        one_read(app, "??7")  # open the keys, close them, Events
        await eventually(lambda: active(app) == "events", pilot=pilot)
        assert len(app.screen_stack) == 1
        one_read(app, "?")
        await eventually(lambda: isinstance(app.screen, HelpScreen), pilot=pilot)
