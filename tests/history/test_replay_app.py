"""The monitor from the history: `capwatch replay` (REPLAY badge, read-only, pause and step, no vendor connection,
every tab rebuilt) and the start from history (the last hours in Events, marked, before any live event)."""

from __future__ import annotations

import argparse
import os
import time

from tests.helpers.waiting import eventually
from tui.config import load_config
from tui.history import History
from tui.history.replay import ReplayHub, load_period
from tui.live.events import Event
from tui.live.recording import RecalledEvent
from tui.live.store import Store
from tui.vendors import VENDORS


def offline_config(**env):
    """Every service on, pointed at a port where nothing listens: a connection attempt would fail."""
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile=None)
    dead = "http://127.0.0.1:9"
    return load_config(args, env={"CAPOUT_API_KEY": "capout_history_test_0001", "CAPOUT_BASE_URL": dead,
                                  "CAPX_API_KEY": "capx_sk_history_test_0001", "CAPX_BASE_URL": dead, **env}).config


async def record_session(path, count: int = 40, start: float | None = None) -> list[Event]:
    """A small recorded session: tasks created then completed, credits, channel states, `count` events 0.05 s apart."""
    history = History(str(path))
    store = Store(kinds=[kind for vendor in VENDORS for kind in vendor.kinds])
    store.kind_services.update((kind.name, vendor.name) for vendor in VENDORS for kind in vendor.kinds)
    store.recorder = history.append
    moment = start or time.time() - 600
    store.set_state("capx.companies", "live")
    events = []
    for n in range(count):
        status = "awaiting_approval" if n % 2 == 0 else "completed"
        kind = "task.approval_required" if n % 2 == 0 else "task.completed"  # the first an alert
        event = Event(time=moment + n * 0.05, service="capx", type=kind, id=f"t{n // 2}",
                      data={"task_id": f"t{n // 2}", "status": status, "title": f"task {n // 2}"}, kind="tasks",
                      patch={"id": f"t{n // 2}", "status": status, "title": f"task {n // 2}"})
        store.apply(event)
        events.append(event)
        store.set_figure("capx.credits", {"remaining": 1000 - n})
    await history.flush(timeout=30)
    await history.close()
    return events, store


async def test_replay_rebuilds_the_tabs_read_only_with_a_badge_and_pauses_and_steps(tmp_path):
    from tui.app.replay import ReplayApp

    path = tmp_path / "history.sqlite3"
    _events, live = await record_session(path)
    reader = History(str(path))
    before, period = await load_period(reader, time.time() - 3600, None)
    await reader.close()
    config = offline_config(CAPWATCH_HISTORY=str(path))
    config.read_only = True
    hub = ReplayHub(config, VENDORS, before, period, speed=100)
    hub.pause()  # held at the start: step it, then let it play
    app = ReplayApp(config, hub=hub)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(lambda: app.started_up.is_set(), timeout=20)
        badge = str(app.query_one("#replay-badge").render())
        assert badge.startswith("REPLAY") and "⏸" in badge and "×100" in badge
        assert app.read_only and app.query("#ro-badge")
        assert hub.vendor("capx") is None and hub.receiver is None and hub.is_on("capx")
        await pilot.press("full_stop")
        await eventually(lambda: hub.played == 1, timeout=10)
        await pilot.press("full_stop")
        await eventually(lambda: hub.played == 2, timeout=10)
        assert hub.paused
        await pilot.press("space")
        await eventually(lambda: hub.finished.is_set(), timeout=30)
        await pilot.pause()
        app.show_badge()
        assert "end" in str(app.query_one("#replay-badge").render())
        assert hub.store.entities["tasks"] == live.entities["tasks"]
        assert hub.store.figures == live.figures
        assert hub.store.health["capx.companies"].state.value == "live"
        await app.action_show_tab("events")  # the Events tab holds the replayed timeline
        await eventually(lambda: app.query_one("#events-table").row_count >= 40, timeout=10)


async def test_the_monitor_starts_with_the_last_hours_from_history_marked(tmp_path):
    from tui.app.app import CapwatchApp
    from tui.history.recording import open_history
    from tui.live.hub import LiveHub

    path = tmp_path / "history.sqlite3"
    events, _live = await record_session(path, count=20)
    config = offline_config(CAPWATCH_HISTORY=str(path))
    history = open_history(config)
    app = CapwatchApp(config, hub=LiveHub(config, VENDORS), history=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(lambda: app.started_up.is_set(), timeout=20)
        recalled = [e for e in app.hub.store.timeline if isinstance(e, RecalledEvent)]
        assert [(e.type, e.id) for e in recalled if e.service == "capx"] == [(e.type, e.id) for e in events]
        assert not app.hub.store.rows("tasks")  # history is the timeline's past, not the present's entities
        # the alerts among them (tasks awaiting approval) are the Overview's from the start
        assert sum(isinstance(e, RecalledEvent) for e in app.alerts) == 10
        await app.action_show_tab("events")
        table = app.query_one("#events-table")
        await eventually(lambda: table.row_count >= 20, timeout=10)
        rows = [table.get_row(row_id) for row_id in list(table.row_ids)[:3]]
        assert all(isinstance(row["event"], RecalledEvent) for row in rows)
        summary = [c for c in table.columns if c.key == "summary"][0].render(rows[0])
        assert summary.plain.startswith("↺ history")
        # a live event that repeats a recalled one (a backfill) takes its place: no row twice
        first = events[0]
        before = table.row_count
        app.hub.store.apply(Event(time=first.time, service=first.service, type=first.type, id=first.id,
                                  data=first.data, kind=first.kind, patch=first.patch))
        await eventually(lambda: table.row_count == before and not isinstance(
            table.get_row(list(table.row_ids)[-1])["event"], RecalledEvent), timeout=10)

        # The Overview's alerts read back from the history say so, until live data delivers the same again:
        # then the alert is confirmed (unmarked, in its place), not told twice.
        await app.action_show_tab("overview")
        alerts = app.query_one("#overview-alerts")
        log = app.alerts
        recalled_alert = next(alert for alert in log.entries if isinstance(alert.event, RecalledEvent))
        row_id = str(recalled_alert.seq)
        subject = lambda: alerts.get_row(row_id)["subject"].plain
        await eventually(lambda: row_id in alerts.row_ids, timeout=10)
        assert subject().startswith("↺ history ")
        told = recalled_alert.event
        app.hub.store.apply(Event(time=told.time, service=told.service, type=told.type, id=told.id, data=told.data,
                                  kind=told.kind, patch=told.patch))
        await eventually(lambda: not isinstance(recalled_alert.event, RecalledEvent), timeout=10)
        assert recalled_alert.repeats == 0
        await eventually(lambda: not subject().startswith("↺"), timeout=10)
        assert "×2" not in subject()

        # A resync that reads the entity in the state the alert says (no event repeats it) confirms it too; one
        # read in another state (the task done since) leaves the alert marked: it was true then, not now.
        still, since = [alert for alert in log.entries if isinstance(alert.event, RecalledEvent)][:2]
        for alert, status in ((still, "awaiting_approval"), (since, "completed")):
            app.hub.store.upsert("tasks", alert.event.id, {"id": alert.event.id, "status": status}, origin="resync")
        await eventually(lambda: not isinstance(still.event, RecalledEvent), timeout=10)
        await eventually(lambda: not alerts.get_row(str(still.seq))["subject"].plain.startswith("↺"), timeout=10)
        assert isinstance(since.event, RecalledEvent)
        assert alerts.get_row(str(since.seq))["subject"].plain.startswith("↺ history ")


async def test_the_demo_starts_from_its_own_new_world_not_the_last_demo_recalled(tmp_path):
    """Each demo's simulator is a new world: what the last demo recorded names entities this one lacks."""
    from tui.app.app import CapwatchApp
    from tui.history.recording import open_history
    from tui.live.hub import LiveHub

    path = tmp_path / "demo-history.sqlite3"
    await record_session(path, count=20)
    config = offline_config(CAPWATCH_HISTORY=str(path))
    app = CapwatchApp(config, demo=True, hub=LiveHub(config, VENDORS), history=open_history(config))
    async with app.run_test(size=(120, 40)):
        await eventually(lambda: app.started_up.is_set(), timeout=20)
        assert app.history is not None  # it records
        assert not any(isinstance(e, RecalledEvent) for e in app.hub.store.timeline)
        assert not len(app.alerts)
