"""The mouse, on the whole monitor over the recorded world: a click on a tab shows it with its keys working, on a
row moves the cursor (again: opens it), on a key of the key bar presses it, on the header's lights opens the
channel health."""

from __future__ import annotations

from textual.widgets import Input, TabbedContent

from tests.helpers.recorded import recorded_app
from tests.helpers.waiting import eventually
from tui.app.header import ServiceLights
from tui.app.screens import ConfirmScreen, DetailScreen, HealthScreen
from tui.app.widgets.keybar import KeyBar
from tui.app.widgets.table import LiveTable


async def started(pilot) -> None:
    await eventually(lambda: pilot.app.started_up.is_set(), pilot=pilot)


def bottom_line(app) -> str:
    return app.screen._compositor.render_strips()[-1].text


async def test_a_click_on_a_tab_shows_it_and_its_keys_work():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.click("#--content-tab-capx")
        await eventually(lambda: app.query_one(TabbedContent).active == "capx", pilot=pilot)
        companies = app.query_one("#capx-companies", LiveTable)
        assert app.focused is companies  # not the tab bar: the tab's keys are live
        assert "a Approve" in app.query_one(KeyBar).text
        await pilot.press("a")  # the first task awaiting approval, behind its question
        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("n")


async def test_a_click_on_a_row_moves_the_cursor_and_a_second_opens_it():
    app = recorded_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.press("2")
        table = app.query_one("#documents-table", LiveTable)
        await eventually(lambda: table.row_count > 5, pilot=pilot)
        third = table.row_ids[2]
        await pilot.click(LiveTable, offset=(10, 3))  # the header is line 0: line 3 is the third row
        await pilot.pause()
        assert table.cursor_row_id == third and not isinstance(app.screen, DetailScreen)
        await pilot.click(LiveTable, offset=(10, 3))
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        assert third in app.screen.title_text


async def test_a_click_on_a_key_in_the_key_bar_presses_it():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("2")
        await eventually(lambda: "/ Filter" in bottom_line(app), pilot=pilot)
        await pilot.click(KeyBar, offset=(bottom_line(app).index("/ Filter") + 1, 0))
        await eventually(lambda: isinstance(app.focused, Input), pilot=pilot)  # the filter box, open
        assert app.focused.id is None and app.query_one("#documents-filter").has_class("-open")


async def test_a_click_on_the_lights_opens_the_channel_health():
    app = recorded_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.click(ServiceLights)
        await eventually(lambda: isinstance(app.screen, HealthScreen), pilot=pilot)
