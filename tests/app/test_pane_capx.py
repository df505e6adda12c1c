"""The Capx tab: companies with counts computed from the Store, the selected company's detail, heartbeat ages,
actions behind a confirmation (and absent in read-only mode), server errors as toasts, hostile names inert."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from types import SimpleNamespace

from textual.widgets import Input, OptionList, Static

from tests.helpers.waiting import eventually
from tests.helpers.pane_host import PaneHost, StubHub
from tui import wall_clock
from tui.app.panes.capx import UNATTRIBUTED, CapxPane
from tui.app.panes.capx_playbook import PlaybookScreen
from tui.app.toolkit.cells import age, cost_text
from tui.app.screens import ConfirmScreen, DetailScreen
from tui.vendors.capx.live import activity_event
from tui.api import ApiError

HOSTILE = "\x1b]0;pwned\x07[@click=app.quit]evil[/]"
MUTATIONS = ("approve", "reject", "pause", "run_playbook")


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")


def fill(store, now: float | None = None) -> None:
    """Two companies as the Capx channels write them after a resync."""
    now = now or time.time()
    store.replace("companies", {
        "co_1": {"id": "co_1", "name": "Acme Robotics", "status": "running", "agent_count": 2,
                 "monthly_budget_usd": 500.0, "created_at": iso(now - 86400)},
        "co_2": {"id": "co_2", "name": "Globex", "status": "paused", "agent_count": 1, "monthly_budget_usd": 100.0,
                 "created_at": iso(now - 86400)},
    })
    agents = {
        "ag_1": {"id": "ag_1", "name": "Ada", "role": "engineer", "status": "working", "company_id": "co_1",
                 "last_heartbeat_at": iso(now - 125)},
        "ag_2": {"id": "ag_2", "name": "Bob", "role": "sales", "status": "error", "company_id": "co_1",
                 "last_heartbeat_at": iso(now - 3), "last_error": "quota exceeded"},
        "ag_3": {"id": "ag_3", "name": "Cyd", "role": "support", "status": "idle", "company_id": "co_2",
                 "last_heartbeat_at": iso(now - 30)},
    }
    for agent_id, row in agents.items():
        store.upsert("agents", agent_id, row)
    tasks = [("tsk_1", "co_1", "ag_1", "open"), ("tsk_2", "co_1", "ag_1", "awaiting_approval"),
             ("tsk_3", "co_1", "ag_2", "in_progress"), ("tsk_4", "co_1", "ag_2", "completed"),
             ("tsk_5", "co_2", "ag_3", "open"), ("tsk_6", "co_2", "ag_3", "rejected")]
    for n, (task_id, company_id, agent_id, status) in enumerate(tasks):
        store.upsert("tasks", task_id, {"id": task_id, "title": f"Task {task_id}", "status": status,
                                         "agent_id": agent_id, "company_id": company_id,
                                         "created_at": iso(now - 600), "updated_at": iso(now - 60 * n)})
    store.upsert("costs", "co_1", {"company_id": "co_1", "total_usd": 412.0, "threshold_usd": 500.0,
                                   "by_agent": [{"agent_id": "ag_1", "usd": 309.0},
                                                {"agent_id": "ag_2", "usd": 103.0}]})
    store.upsert("costs", "co_2", {"company_id": "co_2", "total_usd": 20.0, "threshold_usd": 100.0, "by_agent": []})
    store.upsert("runs", "run_1", {"id": "run_1", "playbook_id": "pb_1", "company_id": "co_1", "status": "completed",
                                   "started_at": iso(now - 300), "completed_at": iso(now - 200)})


def table_text(table) -> str:
    """The table as the screen shows it now."""
    return "\n".join(table.render_line(y).text for y in range(table.scrollable_content_region.height))


async def settle(host, pilot) -> CapxPane:
    host.flush()
    await pilot.pause()
    return host.query_one(CapxPane)




def recording_hub(read_only: bool = False, **overrides) -> StubHub:
    """A StubHub whose Capx integration's actions are async fakes recording (action, args) in hub.calls."""
    hub = StubHub(read_only=read_only)

    def fake(name, result=None):
        async def action(*args):
            hub.calls.append((name, *args))
            if isinstance(result, Exception):
                raise result
            return result
        return action

    capx = hub.vendor("capx")
    capx.decide_task = fake("decide", SimpleNamespace(id="tsk_2", status="completed"))
    capx.set_paused = fake("pause", SimpleNamespace(id="co_1", status="paused"))
    capx.run_playbook = fake("run", SimpleNamespace(id="run_9", status="running"))
    capx.playbooks = fake("playbooks", [SimpleNamespace(id="pb_1", name="Weekly report", description="sums up"),
                                        SimpleNamespace(id="pb_2", name="Triage", description=None)])
    capx.resync = fake("resync")
    for name, result in overrides.items():
        setattr(capx, name, fake(name, result))
    return hub


# ------------------------------------------------------------------------------------------------ what it shows

async def test_companies_rows_have_counts_computed_from_the_store():
    hub = StubHub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        companies = pane.table("companies")
        acme, globex = companies.get_row("co_1"), companies.get_row("co_2")
        assert (acme["_agents"], acme["_agent_errors"], acme["_open"], acme["_awaiting"]) == (2, 1, 3, 1)
        assert (globex["_agents"], globex["_agent_errors"], globex["_open"], globex["_awaiting"]) == (1, 0, 1, 0)
        text = table_text(companies)
        assert "$412 / $500  82%" in text and "$20 / $100  20%" in text and "2 (1 err)" in text
        companies.sort_by("_cost")  # by the share of the threshold spent
        assert companies.row_ids == ["co_2", "co_1"]


def test_cost_colours_follow_the_share_of_the_threshold():
    assert cost_text({"total_usd": 100, "threshold_usd": 500}).style == "green"
    assert cost_text({"total_usd": 412, "threshold_usd": 500}).style == "yellow"
    assert cost_text({"total_usd": 510, "threshold_usd": 500}).style == "bold red"
    assert cost_text({"total_usd": 40}, budget=50).plain == "$40 / $50  80%"  # the budget stands in
    assert cost_text(None).plain == "—" and cost_text({"total_usd": "lots"}).plain == "—"


async def test_a_task_awaiting_approval_updates_count_and_highlight_in_one_flush():
    hub = StubHub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        assert pane.selected == "co_1"

        def no_rescan(*_):
            raise AssertionError("a few changed tasks must not rebuild the index")

        pane.index.rebuild = no_rescan
        hub.store.apply(activity_event({"type": "task.approval_required", "task_id": "tsk_1", "agent_id": "ag_1",
                                        "company_id": "co_1", "timestamp": iso(time.time())}, company_id="co_1"))
        await settle(host, pilot)
        companies, tasks = pane.table("companies"), pane.table("tasks")
        assert companies.get_row("co_1")["_awaiting"] == 2 and companies.get_row("co_1")["_open"] == 3
        awaiting_cell = companies._cell_text(companies.model.column("_awaiting"), companies.get_row("co_1"))
        assert awaiting_cell.plain == "2" and "yellow" in str(awaiting_cell.style)
        # Awaiting approval first, the newest change on top, its status highlighted.
        assert tasks.row_ids[:2] == ["tsk_1", "tsk_2"]
        status_cell = tasks._cell_text(tasks.model.column("status"), tasks.get_row("tsk_1"))
        assert status_cell.plain == "awaiting_approval" and "reverse yellow" in str(status_cell.style)  # a yellow block
        assert "2 awaiting" in str(host.query_one("#capx-company-title", Static).render())
        # Approved elsewhere: the count goes back down.
        hub.store.apply(activity_event({"type": "task.completed", "task_id": "tsk_1", "company_id": "co_1",
                                        "timestamp": iso(time.time())}, company_id="co_1"))
        await settle(host, pilot)
        assert companies.get_row("co_1")["_awaiting"] == 1 and companies.get_row("co_1")["_open"] == 2


async def test_selecting_a_company_shows_its_agents_tasks_costs_and_runs():
    hub = StubHub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        assert set(pane.table("agents").row_ids) == {"ag_1", "ag_2"}
        assert set(pane.table("tasks").row_ids) == {"tsk_1", "tsk_2", "tsk_3", "tsk_4"}
        assert pane.table("costs").row_ids == ["ag_1", "ag_2"]  # the biggest spender first
        assert pane.table("runs").row_ids == ["run_1"]
        await pilot.press("right_square_bracket", "right_square_bracket")  # to the Costs tab
        await pilot.pause()
        assert "75%" in table_text(pane.table("costs")) and "Ada" in table_text(pane.table("costs"))
        pane.focus_default()
        await pilot.press("down")
        await pilot.pause()
        assert pane.selected == "co_2"
        assert pane.table("agents").row_ids == ["ag_3"]
        assert set(pane.table("tasks").row_ids) == {"tsk_5", "tsk_6"}
        assert pane.table("runs").row_ids == []
        assert "Globex" in str(host.query_one("#capx-company-title", Static).render())
        # A new agent of the other company does not appear here.
        hub.store.upsert("agents", "ag_9", {"id": "ag_9", "name": "Eve", "company_id": "co_1", "status": "idle"})
        await settle(host, pilot)
        assert pane.table("agents").row_ids == ["ag_3"]


async def test_heartbeat_ages_read_like_ago_and_follow_the_clock(monkeypatch):
    assert age(iso(1000), now=1012, ago=True) == "12s ago" and age(iso(1000), now=1000 + 125, ago=True) == "2m ago"
    assert age(None, ago=True) == "—" and age("yesterday-ish", ago=True) == "—"
    hub = StubHub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        agents = pane.table("agents")
        text = table_text(agents)
        assert "2m ago" in text
        before = next(line for line in text.splitlines() if "Bob" in line)
        # The app's one-second clock re-renders the ages with no Store change at all.
        later = wall_clock.now() + 5
        monkeypatch.setattr(wall_clock, "now", lambda: later)
        pane.tick()
        await pilot.pause()
        assert next(line for line in table_text(agents).splitlines() if "Bob" in line) != before


async def test_enter_opens_the_row_and_slash_filters_the_focused_table():
    hub = StubHub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        pane.focus_default()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, DetailScreen) and host.screen.value == hub.store.get("companies", "co_1")
        await pilot.press("escape")
        await pilot.pause()
        pane.query_one("#capx-detail").active = "capx-tab-tasks"
        pane.table("tasks").focus()
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(host.focused, Input)
        host.focused.value = "progress"
        await pilot.pause()
        assert pane.table("tasks").row_ids == ["tsk_3"]
        assert pane.table("companies").row_count == 2  # only the focused table is filtered
        await pilot.press("escape")
        await pilot.pause()
        assert pane.table("tasks").row_count == 4 and host.focused is pane.table("tasks")


async def test_usable_at_80x24():
    hub = StubHub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(80, 24)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        assert pane.table("companies").size.height >= 4
        assert pane.table("agents").size.height >= 4
        text = table_text(pane.table("companies"))
        assert "Acme Robotics" in text and "$412 / $500" in text


# ------------------------------------------------------------------------------------------------ actions

async def test_approve_asks_first_and_calls_the_hub_with_the_task_id_only_after_yes():
    hub = recording_hub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        pane.focus_default()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(host.screen, ConfirmScreen) and "Task tsk_2" in host.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(host.screen, ConfirmScreen) and hub.calls == []
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await eventually(lambda: hub.calls, timeout=3.0, pilot=pilot)
        assert hub.calls == [("decide", "tsk_2", True)]
        await pilot.press("r")
        await pilot.pause()
        assert "Reject" in host.screen.question
        await pilot.press("y")
        await eventually(lambda: len(hub.calls) == 2, timeout=3.0, pilot=pilot)
        assert hub.calls[1] == ("decide", "tsk_2", False)


async def test_approve_refuses_the_chosen_task_when_it_is_not_awaiting():
    hub = recording_hub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        pane.query_one("#capx-detail").active = "capx-tab-tasks"
        pane.table("tasks").focus()
        pane.table("tasks").move_cursor(1)  # an open task, chosen on purpose
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(host.screen, ConfirmScreen) and hub.calls == []


async def test_pause_toggles_by_status_and_run_playbook_chooses_then_confirms():
    hub = recording_hub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        pane.focus_default()
        await pilot.press("p")
        await pilot.pause()
        assert host.screen.question.startswith("Pause company “Acme Robotics”")
        await pilot.press("y")
        await eventually(lambda: hub.calls, timeout=3.0, pilot=pilot)
        assert hub.calls == [("pause", "co_1", True)]
        await pilot.press("down", "p")  # Globex is paused: p resumes it
        await pilot.pause()
        assert host.screen.question.startswith("Resume company “Globex”")
        await pilot.press("y")
        await eventually(lambda: len(hub.calls) == 2, timeout=3.0, pilot=pilot)
        assert hub.calls[1] == ("pause", "co_2", False)
        await pilot.press("x")
        await eventually(lambda: isinstance(host.screen, PlaybookScreen), timeout=3.0, pilot=pilot)
        assert host.screen.query_one(OptionList).option_count == 2
        await pilot.press("down", "enter")
        await pilot.pause()
        assert host.screen.question.startswith("Run playbook “Triage” on company “Globex”")
        await pilot.press("y")
        await eventually(lambda: len(hub.calls) == 4, timeout=3.0, pilot=pilot)
        assert hub.calls[2:] == [("playbooks",), ("run", "pb_2", "co_2")]


async def test_a_409_from_the_server_is_a_toast_error():
    conflict = ApiError("capx", 409, "Task tsk_2 is not awaiting approval", code="conflict")
    hub = recording_hub(decide_task=conflict)
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    errors: list[str] = []
    host.toast_error = errors.append
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        await settle(host, pilot)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await eventually(lambda: errors, timeout=3.0, pilot=pilot)
        assert "409 conflict" in errors[0] and "not awaiting approval" in errors[0]


async def test_read_only_sends_no_mutation_and_its_keys_say_so():
    hub = recording_hub(read_only=True)
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(120, 40)) as pilot:
        fill(hub.store)
        pane = await settle(host, pilot)
        pane.focus_default()
        await pilot.pause()
        # The keys stay in the key bar (issue 18: pressing one says "read-only" rather than nothing)...
        assert all(pane.check_action(action, ()) is True for action in MUTATIONS)
        shown = {binding.binding.action for binding in host.screen.active_bindings.values()}
        assert set(MUTATIONS) <= shown and "filter" in shown
        for key in ("a", "r", "p", "x"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(host.screen, (ConfirmScreen, PlaybookScreen))
            assert "read-only" in list(host._notifications)[-1].message
        # ... and none sends anything.
        assert hub.calls == []
        helps = {command.title: command.help for command in pane.commands()}
        assert "read-only" not in helps["Capx: resync company"]  # a re-read, not a mutation
        assert all("read-only" in helps[title] for title in helps if title != "Capx: resync company")


async def test_hostile_names_render_inert():
    hub = recording_hub()
    host = PaneHost(lambda: CapxPane(id="pane-capx"), hub)
    async with host.run_test(size=(160, 40)) as pilot:
        fill(hub.store)
        hub.store.upsert("companies", "co_1", {"name": HOSTILE})
        hub.store.upsert("agents", "ag_1", {"name": HOSTILE, "role": HOSTILE})
        hub.store.upsert("tasks", "tsk_2", {"title": HOSTILE})
        pane = await settle(host, pilot)
        pane.query_one("#capx-detail").active = "capx-tab-tasks"
        await pilot.pause()
        title = host.query_one("#capx-company-title", Static).render()
        for text in (table_text(pane.table("companies")), table_text(pane.table("tasks")), str(title)):
            assert "\x1b" not in text and "\x07" not in text and "[@click=app.quit]evil[/]" in text
        pane.query_one("#capx-detail").active = "capx-tab-agents"
        await pilot.pause()
        assert "[@click=app.quit]evil[/]" in table_text(pane.table("agents"))
        await pilot.press("a")
        await pilot.pause()
        assert "\x1b" not in host.screen.question and "[@click=app.quit]evil[/]" in host.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert host.is_running


# ------------------------------------------------------------------------------------------------ the real thing

async def test_approve_through_the_whole_app_reaches_the_simulator(sim):
    """Keys to the simulator and back: the real hub, client and channels, no fakes."""
    import argparse
    import os

    import httpx

    from tui.app.app import CapwatchApp
    from tui.config import load_config

    env = {k: v for k, v in sim.options.client_env().items() if k.startswith("CAPX")}
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile="test")
    app = CapwatchApp(load_config(args, env=env).config, demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        pane = app.query_one(CapxPane)
        companies = pane.table("companies")
        await eventually(lambda: companies.row_count == 5, timeout=10, pilot=pilot)
        async with httpx.AsyncClient() as http:
            await http.post(f"{sim.root}/_admin/step?count=400&vendor=capx")
        await eventually(lambda: any((companies.get_row(c) or {}).get("_awaiting") for c in companies.row_ids),
                         timeout=10, pilot=pilot)
        companies.move_cursor(next(i for i, c in enumerate(companies.row_ids) if companies.get_row(c)["_awaiting"]))
        await pilot.pause()
        companies.focus()
        await pilot.press("a")  # from the companies table: the first task awaiting approval
        await pilot.pause()
        task_id = pane.table("tasks").cursor_row_id
        assert isinstance(app.screen, ConfirmScreen) and task_id in app.screen.question
        await pilot.press("y")
        await eventually(lambda: pane.table("tasks").get_row(task_id)["status"] == "completed", timeout=10, pilot=pilot)
        async with httpx.AsyncClient() as http:
            state = (await http.get(f"{sim.root}/_admin/state")).json()["capx"]
        assert state["tasks"][task_id]["status"] == "completed"


async def test_the_costs_table_sums_to_the_total_its_title_shows():
    """A costs.threshold_reached event brings a new total before the breakdown by agent is read again: the table
    shows the difference as its own row, so it sums to the title's total (issue 15: $1,490.90 under $1,500)."""
    host = PaneHost(CapxPane)
    fill(host.hub.store)
    async with host.run_test(size=(120, 40)) as pilot:
        pane = await settle(host, pilot)
        event = activity_event({"type": "costs.threshold_reached", "company_id": "co_1", "total_usd": 500.0,
                                "threshold_usd": 500.0, "timestamp": iso(time.time())}, company_id="co_1")
        host.hub.store.apply(event)
        pane = await settle(host, pilot)
        rows = pane._cost_rows()
        assert round(sum(row["usd"] for row in rows.values()), 2) == 500.0
        assert round(sum(row["share"] for row in rows.values()), 6) == 1.0
        assert "$500" in str(host.query_one("#capx-company-title", Static).render())
        assert rows[UNATTRIBUTED]["usd"] == 88.0 and pane._agent_name(UNATTRIBUTED).startswith("not yet by agent")
