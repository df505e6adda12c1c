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


# ------------------------------------------------------------------------------------------------ keys under a window


def bar_keys(app: CapwatchApp) -> list[str]:
    """The keys the bar on screen offers: the top screen's own, else the one of the screen under it that shows."""
    from tui.app.widgets.keybar import KeyBar

    for screen in reversed(app.screen_stack):
        bars = list(screen.query(KeyBar))
        if bars:
            assert len(bars) == 1, f"{len(bars)} key bars on {type(screen).__name__}"
            return [key.key for key in bars[0].keys]
    raise AssertionError("no key bar on screen")


def works_here(app: CapwatchApp, key: str) -> bool:
    """Whether a key pressed now reaches a binding of the screen on top (a window takes every key)."""
    return key in app.screen.active_bindings


async def test_enter_on_an_approval_alert_offers_approve_in_its_window_and_a_approves_at_once():
    """Seen on a shift: Enter on an alert opened the entity's tab and its window over it; the bar under the window
    still offered `a Approve`, which did nothing until Escape. Now the window offers the entity's own keys, its bar
    offers nothing else, and `a` there asks the approval question at once."""
    from types import SimpleNamespace

    from tui.app.screens import ConfirmScreen, DetailScreen

    decided = []

    async def decide_task(task_id: str, approve: bool) -> None:
        decided.append((task_id, approve))

    store = fleet()
    app = monitor(store, capx=SimpleNamespace(decide_task=decide_task))
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        store.apply(activity_event({"type": "task.approval_required", "timestamp": stamp(), "company_id": "co_north",
                                    "task_id": "tsk_audit", "agent_id": "ag_kit", "status": "awaiting_approval",
                                    "title": "Audit agent spend"}, company_id="co_north"))
        overview = app.query_one("#pane-overview")
        await eventually(lambda: overview.alerts_table.row_count == 1, pilot=pilot)
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        await pilot.pause()
        assert app.query_one("#tabs").active == "capx"
        offered = bar_keys(app)
        assert offered[:2] == ["a", "r"], offered  # the entity's keys first
        assert all(works_here(app, key) for key in offered), offered
        assert "p" not in offered and "x" not in offered  # the tab's other keys are not the window's
        await pilot.press("a")
        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert "Approve task “Audit agent spend”" in app.screen.question
        assert all(works_here(app, key) for key in bar_keys(app))
        await pilot.press("y")
        await eventually(lambda: decided == [("tsk_audit", True)], pilot=pilot)
        assert len(app.screen_stack) == 1
        capx = app.query_one("#pane-capx")
        assert capx.table("tasks").cursor_row_id == "tsk_audit"  # left on its row


async def test_every_window_offers_only_the_keys_that_work_in_it():
    from textual.widgets import Input

    from tui.app.screens import ConfirmScreen, DetailScreen, HealthScreen, HelpScreen

    store = fleet()
    store.upsert("tasks", "tsk_audit", {**store.get("tasks", "tsk_audit"), "status": "awaiting_approval"})
    app = monitor(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        for keys, screen in ((["question_mark"], HelpScreen), (["h"], HealthScreen), (["4", "enter"], DetailScreen),
                             (["4", "p"], ConfirmScreen), (["ctrl+e"], None)):
            await pilot.press(*keys)
            await eventually(lambda: len(app.screen_stack) == 2, pilot=pilot)
            await pilot.pause()
            if screen is not None:
                assert isinstance(app.screen, screen)
            offered = bar_keys(app)
            assert offered and all(works_here(app, key) for key in offered), (type(app.screen).__name__, offered)
            if isinstance(app.screen, DetailScreen):  # a company's row: pause it, from its window too
                assert offered[0] == "p"
            if isinstance(app.focused, Input):  # a form: Escape leaves it
                assert "escape" in offered
            await pilot.press("escape")
            await eventually(lambda: len(app.screen_stack) == 1, pilot=pilot)


async def test_the_health_window_at_80x24_shows_each_last_error_whole():
    """Seen at 80x24 with faults at start: the health window's last-error column was a few characters wide, its
    words one per line ('cap…', 'HTTP', '500', 'int…'). Each channel's last error is now a line of its own under
    the table, across the window."""
    from tui.live.events import ChannelState

    store = fleet()
    store.channel("capx.co_north", "capx")
    error = "capx: HTTP 500 internal: simulated server fault at start"
    store.set_state("capx.co_north", ChannelState.RECONNECTING, error)
    app = monitor(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("h")
        await eventually(lambda: len(app.screen_stack) == 2, pilot=pilot)
        await pilot.pause()
        lines = ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]
        # (the window's width: the error and the time it came wrap to a second line there)
        assert any(f"capx Northwind Ops: {error[:50]}" in line for line in lines), "\n".join(lines)


# ------------------------------------------------------------------------------------------------ a failure's reason


def capout_monitor(sim) -> CapwatchApp:
    import argparse
    import os

    from tui.config import load_config

    env = {k: v for k, v in sim.options.client_env().items() if k.startswith("CAPOUT")}
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile="test")
    return CapwatchApp(load_config(args, env=env).config, demo=True)


def failed_documents(sim, steps: int = 400) -> dict:
    """Step the simulator's CapOut until a document failed; the failed ones as `/_admin/state` has them."""
    import httpx

    for _ in range(steps):
        documents = httpx.get(f"{sim.root}/_admin/state").json()["capout"]["documents"]
        failed = {doc_id: doc for doc_id, doc in documents.items() if doc["status"] == "failed"}
        if failed:
            return failed
        httpx.post(f"{sim.root}/_admin/step?count=5&vendor=capout")
    raise AssertionError("no document failed")


def test_the_simulators_failed_documents_say_why_as_capout_errors_do(sim_factory):
    """The docs give a document no reason field; the contract's CapOut error object (`{"code", "message"}`) is what
    a failed one carries, in GET /status and the realtime messages; a completed one has no `error` at all."""
    import httpx

    for faults in (None, "hostile"):
        sim = sim_factory(faults=faults) if faults else sim_factory()
        failed = failed_documents(sim)
        headers = {"capout-api-key": sim.options.client_env()["CAPOUT_API_KEY"]}
        for doc_id in failed:
            reply = httpx.get(f"{sim.base_urls['capout']}/status/{doc_id}", headers=headers).json()
            assert reply["status"] == "failed" and set(reply["error"]) == {"code", "message"}, reply
            assert reply["error"]["code"] and reply["error"]["message"]
            if faults == "hostile":
                assert "\x1b" in reply["error"]["message"] or "[" in reply["error"]["message"]
        documents = httpx.get(f"{sim.root}/_admin/state").json()["capout"]["documents"]
        done = next(doc_id for doc_id, doc in documents.items() if doc["status"] == "completed")
        assert "error" not in httpx.get(f"{sim.base_urls['capout']}/status/{done}", headers=headers).json()


async def test_a_failed_documents_reason_is_in_its_alert_its_window_and_its_detail(sim):
    from tui.app.screens import DetailScreen

    failed = failed_documents(sim)
    doc_id, document = next(iter(failed.items()))
    reason = document["error"]["message"]
    app = capout_monitor(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: (app.hub.store.get("documents", doc_id) or {}).get("error") == document["error"],
                         pilot=pilot, message="the document's row never kept its error")
        overview = app.query_one("#pane-overview")
        await eventually(lambda: any(reason in str(row["subject"]) for row in map(
            overview.alerts_table.get_row, overview.alerts_table.row_ids)), pilot=pilot,
            message=lambda: f"no alert says {reason!r}")
        alert_id = next(row_id for row_id in overview.alerts_table.row_ids
                        if reason in str(overview.alerts_table.get_row(row_id)["subject"]))
        overview.alerts_table.set_follow(False)
        overview.alerts_table.move_cursor(overview.alerts_table.row_ids.index(alert_id))
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        assert f"failed: {reason}" in app.screen.value["alert"]
        assert app.screen.value["entity"]["error"]["message"] == reason
        await pilot.press("escape")
        documents = app.query_one("#documents-table")
        await eventually(lambda: documents.cursor_row_id == doc_id and app.focused is documents, pilot=pilot)
        await pilot.press("enter")  # the row's own detail
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        assert app.screen.value["error"] == document["error"]
        await pilot.press("escape")
        await app.action_show_tab("documents")
        await pilot.resize_terminal(160, 40)
        await pilot.pause()
        line = documents.render_line(1 + documents.row_ids.index(doc_id) - round(documents.scroll_y)).text
        assert reason[:12] in line, line  # the Reason column, where there is room


# ------------------------------------------------------------------------------------------------ alerts at 80 columns


def widget_text(widget) -> str:
    """What a widget shows on screen, its lines joined by spaces (a wrapped line reads on)."""
    lines = [strip.text.strip() for strip in widget.render_lines(widget.region.reset_offset)]
    return " ".join(line for line in lines if line)


async def test_the_alerts_only_view_at_80x24_says_each_alert_whole():
    """Seen on a shift: Events with "alerts only" cut the alert's words at 80 columns (`Kit · Orbit Logist…`),
    behind a type and an id the words say already. Now the words have their room, the alert under the cursor is
    said whole under the table however long its reason, and the newest is in sight."""
    from tui.vendors.capout.live import document_event

    store = fleet()
    app = monitor(store)
    reason = "text recognition failed on page 5 of the scanned adjuster notes"
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        for n in range(20):  # more than the view shows
            store.apply(activity_event({"type": "task.approval_required", "timestamp": stamp(-60 + n),
                                        "company_id": "co_acme", "task_id": f"tsk_{n}", "title": f"Task {n}"},
                                       company_id="co_acme"))
        store.apply(activity_event({"type": "agent.error", "timestamp": stamp(), "company_id": "co_north",
                                    "agent_id": "ag_kit", "status": "error", "error": "tool call timed out"},
                                   company_id="co_north"))
        store.apply(document_event({"type": "document.status", "document_id": "doc_103",
                                    "file_name": "adjuster-notes-103.pdf", "status": "failed",
                                    "updated_at": stamp(1), "error": {"code": "ocr_failed", "message": reason}}))
        await eventually(lambda: len(app.alerts) == 22, pilot=pilot)
        await pilot.press("7", "a")
        events = app.query_one("#pane-events")
        table = events.table
        await eventually(lambda: table.row_count == 22 and events.alerts_only, pilot=pilot)
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(table.scrollable_content_region.height)]
        error_line = next((line for line in lines if "Kit" in line), lines)
        assert "Kit · Northwind Ops — error: tool call timed out" in error_line, error_line  # whole in its row
        assert "adjuster-notes-103.pdf — failed" in lines[-1], lines  # the newest in sight, under the preview too
        assert "Type" not in lines[0] and "ID" not in lines[0], lines[0]  # (what gave it the room)
        preview = app.query_one("#events-preview")
        words = f"adjuster-notes-103.pdf — failed: {reason} (ocr_failed)"
        assert table.cursor_row_id is not None and "adjuster" in str(table.get_row(table.cursor_row_id)["alert"])
        await eventually(lambda: words in widget_text(preview), pilot=pilot,
                         message=lambda: f"under the table: {widget_text(preview)!r}")
        assert "document.status doc_103" in widget_text(preview)  # what the hidden columns said
        await pilot.press("up")  # the agent's error, whole there too
        await eventually(lambda: "Kit · Northwind Ops — error: tool call timed out" in widget_text(preview),
                         pilot=pilot)
        await pilot.press("a")  # the timeline again: its type and id come back
        await eventually(lambda: not events.alerts_only, pilot=pilot)
        await pilot.pause()
        assert "Type" in table.render_line(0).text and "ID" in table.render_line(0).text


async def test_an_alert_that_came_before_its_names_says_them_once_the_store_has_them():
    """Seen on a shift: `ag_g1x3j1l7 · co_mbjpi4hn — error` stayed so (an agent's error that came on the stream before
    the company was read; every alert recalled from the history at start), its words made once and kept. Now it says
    the names as the Store learns them, in its place in the list (it is not news)."""
    store = Store()
    app = monitor(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        store.apply(activity_event({"type": "agent.error", "timestamp": stamp(), "company_id": "co_north",
                                    "agent_id": "ag_kit", "status": "error", "error": "tool call timed out"},
                                   company_id="co_north"))
        store.apply(activity_event({"type": "agent.error", "timestamp": stamp(1), "company_id": "co_south",
                                    "agent_id": "ag_sol", "status": "error", "error": "quota exceeded"},
                                   company_id="co_south"))
        table = app.query_one("#pane-overview").alerts_table

        def said() -> list[str]:
            return [str(table.get_row(row_id)["subject"]) for row_id in table.row_ids]

        await eventually(lambda: said() == ["ag_sol · co_south — error: quota exceeded",
                                            "ag_kit · co_north — error: tool call timed out"], pilot=pilot,
                         message=lambda: said())
        store.replace("companies", {"co_north": {"id": "co_north", "name": "Northwind Ops", "status": "running"}})
        await eventually(lambda: said()[1] == "ag_kit · Northwind Ops — error: tool call timed out", pilot=pilot,
                         message=lambda: said())
        store.upsert("agents", "ag_kit", {"id": "ag_kit", "name": "Kit", "company_id": "co_north", "status": "error"})
        await eventually(lambda: said() == ["ag_sol · co_south — error: quota exceeded",  # still the newest
                                            "Kit · Northwind Ops — error: tool call timed out"], pilot=pilot,
                         message=lambda: said())
        assert list(app.alerts._unnamed) == [app.alerts.entries[1].seq]  # co_south: still waiting for its names
        await pilot.press("7", "a")  # the Events tab's alert view says the names too
        events = app.query_one("#pane-events")
        await eventually(lambda: events.table.row_count == 2, pilot=pilot)
        assert any("Kit · Northwind Ops" in str(events.table.get_row(row_id)["alert"])
                   for row_id in events.table.row_ids)


def test_learning_names_looks_only_at_alerts_whose_entity_or_company_changed(monkeypatch):
    import tui.app.alert_words as alert_words
    from tui.app.alerts import AlertLog

    store = Store()
    log = AlertLog()
    gone = activity_event({"type": "agent.error", "timestamp": stamp(), "company_id": "co_gone", "agent_id": "ag_old",
                           "status": "error", "error": "x"}, company_id="co_gone")
    later = activity_event({"type": "agent.error", "timestamp": stamp(), "company_id": "co_north",
                            "agent_id": "ag_kit", "status": "error", "error": "y"}, company_id="co_north")
    alerts = log.add([gone, later])
    assert [alert.text(store).plain.split(" — ")[0] for alert in alerts] == ["ag_old · co_gone", "ag_kit · co_north"]
    looked: list[str] = []
    words = alert_words.alert_words
    monkeypatch.setattr(alert_words, "alert_words", lambda event, store: looked.append(event.id) or words(event, store))
    version = log.version
    assert log.learn_names({"agents": {"ag_x"}, "tasks": {"tsk_1"}}, (), store) == []  # nothing they lack
    assert looked == [] and log.version == version
    store.upsert("companies", "co_north", {"id": "co_north", "name": "Northwind Ops"})
    store.upsert("agents", "ag_kit", {"id": "ag_kit", "name": "Kit", "company_id": "co_north"})
    assert log.learn_names({"agents": {"ag_kit"}, "companies": {"co_north"}}, (), store) == [alerts[1]]
    assert looked == ["ag_kit"] and log.version == version + 1 and alerts[1].renamed == 1
    assert alerts[1].text(store).plain == "Kit · Northwind Ops — error: y"
    assert list(log._unnamed) == [alerts[0].seq]  # the world gone: still waiting
    looked.clear()  # every company read anew: the one waiting is looked at, and says the same (not renamed)
    assert log.learn_names({}, {"companies"}, store) == [] and looked == ["ag_old"] and log.version == version + 1
    assert alerts[0].renamed == 0
