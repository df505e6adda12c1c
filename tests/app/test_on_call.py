"""What an on-call shift at 80x24 ran into (issue 18, the second round): a hidden tab's catch-up, the keys under the
entity's window, the alerts-only view at 80 columns, a failed document's reason."""

from __future__ import annotations

import time

import pytest

from tests.helpers.pane_host import StubHub
from tests.helpers.waiting import eventually
from tui.app.app import CapwatchApp
from tui.config import Config
from tui.live.store import Store
from tui.vendors.capx.live import activity_event


def fleet() -> Store:
    store = Store()
    for company_id, name in (("co_acme", "Acme Research"), ("co_north", "Northwind Ops")):
        store.upsert("companies", company_id, {"id": company_id, "name": name, "status": "running"})
    store.upsert("agents", "ag_kit", {"id": "ag_kit", "name": "Kit", "role": "ops", "status": "working",
                                      "company_id": "co_north"})
    store.upsert("tasks", "tsk_audit", {"id": "tsk_audit", "title": "Audit agent spend", "status": "open",
                                        "company_id": "co_north", "agent_id": "ag_kit"})
    return store


def monitor(store: Store, **vendors) -> CapwatchApp:
    return CapwatchApp(Config(max_output_kbps=0), hub=StubHub(store, **vendors))


def stamp(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + offset))


# ------------------------------------------------------------------------------------------------ hidden tabs


@pytest.mark.parametrize("hide, show, out_of_sight, after", [
    ("2", "4", lambda app, capx: not capx.display or not capx.is_on_screen, "the switch"),
    ("question_mark", "escape", lambda app, capx: len(app.screen_stack) == 2, "the window closed"),
], ids=["hidden", "covered"])
async def test_a_status_change_while_the_capx_tab_is_out_of_sight_is_on_screen_at_the_first_frame_it_shows(
        hide, show, out_of_sight, after):
    """Seen on a shift: the companies table showed a company's old status for ~15 s after switching to the tab. The
    same with the tab covered rather than hidden (the entity's window after Enter on an alert, the keys, a
    confirmation): what arrived meanwhile was held, and nothing showed it when the window closed."""
    store = fleet()
    app = monitor(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("4")
        capx = app.query_one("#pane-capx")
        companies = capx.table("companies")
        await eventually(lambda: companies.row_count == 2, pilot=pilot)
        await pilot.press(hide)  # Documents (Capx is hidden), or the keys' window over it
        await eventually(lambda: out_of_sight(app, capx), pilot=pilot)
        store.apply(activity_event({"type": "company.status_changed", "timestamp": stamp(), "company_id": "co_north",
                                    "status": "paused", "name": "Northwind Ops"}, company_id="co_north"))
        await eventually(lambda: capx.held is not None or capx.stale, pilot=pilot,
                         message="the Capx tab out of sight never took the change")
        drawn: list[str] = []  # the companies' lines as painted, from the first frame after it shows again
        render_line = companies.render_line

        def painted(y: int):
            strip = render_line(y)
            drawn.append(strip.text)
            return strip

        companies.render_line = painted  # type: ignore[method-assign]
        await pilot.press(show)
        await eventually(lambda: any("Northwind" in line for line in drawn), pilot=pilot,
                         message=f"the companies table was never painted after {after}")
        first = next(line for line in drawn if "Northwind" in line)
        assert "paused" in first, f"the first frame after {after} showed {first!r}"
