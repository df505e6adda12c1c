"""Alerts an operator can act on: what each says (names, companies, failures and their reasons, from the Store), one
toast that counts instead of a stream, mute and snooze, the bell only for what was chosen, acknowledging, Enter on
an alert opening its entity in its own tab, the alert history in Events, and what a first run says."""

from __future__ import annotations


import time

from textual.command import CommandPalette
from textual.widgets import Input
from textual.widgets._toast import Toast

from tests.helpers.pane_host import StubHub
from tests.helpers.waiting import eventually
from tui.app.alert_words import alert_words
from tui.app.alert_rules import alert_rule, bell_rule
from tui.app.alerts import BELL_GAP, SHOW_SECONDS, TOAST_GAP, AlertLog, ToastPolicy
from tui.app.app import CapwatchApp
from tui.app.screens import DetailScreen
from tui.app.widgets.alert_toast import AlertToast
from tui.app.toolkit.export import ExportScreen
from tui.app.widgets.keybar import KeyBar
from tui.app.widgets.table_model import cell_plain
from tui.config import Config
from tui.live.events import Event
from tui.live.store import Store
from tui.vendors import VENDORS
from tui.vendors.capout.live import document_event
from tui.vendors.capx.live import activity_event
from tui.vendors.casmo.live import casmo_webhook_event

HOSTILE = "\x1b]0;pwned\x07[@click=app.quit]evil[/]"
is_alert = alert_rule(VENDORS)


def world() -> Store:
    """Two companies, their agents and a task, as a resync leaves them."""
    store = Store()
    store.upsert("companies", "co_acme", {"id": "co_acme", "name": "Acme Research", "status": "running"})
    store.upsert("companies", "co_orbit", {"id": "co_orbit", "name": "Orbit Logistics", "status": "running"})
    store.upsert("agents", "ag_3uoghbvz", {"id": "ag_3uoghbvz", "name": "Nova", "role": "researcher",
                                           "status": "working", "company_id": "co_orbit"})
    store.upsert("agents", "ag_other", {"id": "ag_other", "name": "Ada", "role": "planner", "status": "idle",
                                        "company_id": "co_orbit"})
    store.upsert("tasks", "tsk_1", {"id": "tsk_1", "title": "Approve the renewal", "status": "open",
                                    "company_id": "co_acme"})
    return store


def failed_document(doc_id: str = "doc_608", name: str = "policy-608.pdf", **extra) -> Event:
    return document_event({"type": "document.status", "document_id": doc_id, "file_name": name,
                           "status": "failed", "workflow_complete": False,
                           "updated_at": "2026-03-01T10:00:00.000Z", **extra})


def agent_error(agent_id: str = "ag_3uoghbvz", company: str = "co_orbit", error: str = "tool call timed out") -> Event:
    return activity_event({"type": "agent.error", "timestamp": "2026-03-01T10:00:01.000Z", "company_id": company,
                           "agent_id": agent_id, "status": "error", "error": error}, company_id=company)


def approval(task_id: str = "tsk_1", company: str = "co_acme", n: int = 0) -> Event:
    return activity_event({"type": "task.approval_required", "timestamp": f"2026-03-01T10:00:{n % 60:02d}.000Z",
                           "company_id": company, "task_id": task_id, "status": "awaiting_approval",
                           "title": "Approve the renewal"}, company_id=company)


# ------------------------------------------------------------------------------------------------ what they say


def test_a_failed_document_says_failed_and_why_when_the_server_says():
    for event, words in (  # each a document of its own (a document's row keeps the error it was given)
        (failed_document(error={"code": "ocr_failed", "message": "page 3 is unreadable"}),
         "policy-608.pdf — failed: page 3 is unreadable (ocr_failed)"),
        (failed_document(failure_reason="password protected"), "policy-608.pdf — failed: password protected"),
        (failed_document(), "policy-608.pdf — failed (no reason given)"),
    ):
        assert is_alert(event)
        store = world()
        store.apply(event)
        assert alert_words(event, store).plain == words
        text = alert_words(event, store).text()
        assert [span.style for span in text.spans if text.plain[span.start:span.end] == "failed"] == ["bold red"]


def test_an_agent_error_names_the_agent_and_its_company_and_a_task_its_company():
    store = world()
    error = agent_error()
    store.apply(error)
    assert alert_words(error, store).plain == "Nova · Orbit Logistics — error: tool call timed out"
    task = approval()
    store.apply(task)
    assert alert_words(task, store).plain == "Approve the renewal · Acme Research — approval required"
    # Not known yet (no resync): the ids stand in.
    unknown = agent_error("ag_new", "co_new")
    assert alert_words(unknown, Store()).plain == "ag_new · co_new — error: tool call timed out"


def test_a_failed_extraction_and_a_cost_threshold_say_why():
    store = world()
    failed = casmo_webhook_event({"event": "extraction.completed", "timestamp": "2026-03-01T10:00:00Z",
                                  "data": {"job_id": "job_1", "filename": "claim.pdf",
                                           "result": {"error": "Document parsing failed: unreadable page 2"}}})
    assert is_alert(failed)  # its status is in its patch only: the payload has none
    assert alert_words(failed, store).plain == "claim.pdf — failed: Document parsing failed: unreadable page 2"
    costs = activity_event({"type": "costs.threshold_reached", "timestamp": "2026-03-01T10:00:00Z",
                            "company_id": "co_acme", "total_usd": 510.5, "threshold_usd": 500},
                           company_id="co_acme")
    assert alert_words(costs, store).plain == "Acme Research — threshold reached: $510.50 of $500"


def test_hostile_names_and_reasons_are_inert_text():
    store = world()
    store.upsert("agents", "ag_evil", {"id": "ag_evil", "name": HOSTILE, "company_id": "co_evil"})
    store.upsert("companies", "co_evil", {"id": "co_evil", "name": HOSTILE})
    words = alert_words(agent_error("ag_evil", "co_evil", error=HOSTILE + "\nsecond line"), store)
    assert "\x1b" not in words.plain and "\x07" not in words.plain and "\n" not in words.plain
    assert words.plain.count("[@click=app.quit]evil[/]") == 3  # shown as the text it is, never read as markup


# ------------------------------------------------------------------------------------------------ the log, the policy


def test_the_same_alert_told_again_while_open_is_counted_on_it_and_acknowledged_alerts_stay_in_the_log():
    log = AlertLog()
    first = log.add([failed_document()])
    assert len(first) == 1 and log.add([failed_document()]) == [] and first[0].repeats == 1
    log.add([agent_error(), agent_error(error="quota exceeded")])  # two errors of one agent: two alerts
    assert len(log) == 3 and [alert.seq for alert in log.open()] == [2, 1, 0]
    again = failed_document()
    assert log.add([again]) == [] and [alert.seq for alert in log.open()] == [0, 2, 1]  # first again, as it is newest
    assert first[0].repeats == 2 and first[0].event is again
    assert log.acknowledge([1]) == 1 and [alert.seq for alert in log.open()] == [0, 2]
    assert [event.type for event in log] == ["agent.error", "agent.error", "document.status"]  # history keeps all
    assert len(log.add([agent_error()])) == 1  # acknowledged, then again: a new alert


def test_one_notice_per_gap_that_counts_and_nothing_while_quiet():
    log = AlertLog()
    policy = ToastPolicy(log)
    alerts = log.add(approval(f"tsk_{n}", n=n) for n in range(5))
    assert policy.arrive(alerts[:1], now=100.0) == "show" and policy.count == 1
    assert policy.arrive(alerts[1:3], now=101.0) == "update" and policy.count == 3  # the same notice, counting
    assert policy.arrive(alerts[3:4], now=100.0 + SHOW_SECONDS + 1) == "hold"  # gone, and the gap not over
    assert policy.due(100.0 + SHOW_SECONDS + 1) == TOAST_GAP - SHOW_SECONDS - 1
    assert not policy.release(100.0 + TOAST_GAP - 1)
    assert policy.release(100.0 + TOAST_GAP) and policy.count == 1 and policy.title() == "▲ 1 new alert"
    assert policy.arrive(alerts[4:], now=100.0 + TOAST_GAP + 1, seen=True) == "seen" and policy.due(150.0) is None
    log.mute()
    assert policy.arrive(alerts[4:], now=200.0) == "hold" and policy.due(200.0) is None  # muted: nothing due
    log.tell()
    assert policy.release(200.0) and policy.title() == "▲ 1 new alert"
    log.snooze(3600)
    assert log.silenced() and "snoozed until" in log.quiet_words()
    log.snooze(-1)  # a snooze that is over
    assert not log.silenced() and log.quiet_words() == ""


def test_the_bell_rings_only_for_what_was_chosen():
    error, task, document = agent_error(), approval(), failed_document()
    assert not any(map(bell_rule(""), (error, task, document)))  # none by default
    assert [bell_rule("approval")(event) for event in (error, task, document)] == [False, True, False]
    assert [bell_rule("failure")(event) for event in (error, task, document)] == [True, False, True]
    assert [bell_rule("costs.*, agent.*")(event) for event in (error, task, document)] == [True, False, False]
    log = AlertLog()
    policy = ToastPolicy(log, rings=bell_rule("approval"))
    assert policy.ring(log.add([task]), now=10.0) and not policy.ring(log.add([approval("t2")]), now=11.0)
    assert policy.ring(log.add([approval("t3")]), now=10.0 + BELL_GAP)
    log.mute()
    assert not policy.ring(log.add([approval("t4")]), now=100.0)


# ------------------------------------------------------------------------------------------------ in the monitor


def monitor(store: Store | None = None, **config) -> CapwatchApp:
    return CapwatchApp(Config(**config), hub=StubHub(store or world()))


def toast(app: CapwatchApp) -> AlertToast:
    return app.query_one(AlertToast)


def notice_shown(app: CapwatchApp) -> bool:
    """The alert notice shows (before the first alert none is mounted: `CapwatchApp.alert_toast`)."""
    return any(notice.shown for notice in app.query(AlertToast))


async def first_notice(app: CapwatchApp, pilot) -> Store:
    """Started up, on the Documents tab (the Overview lists the alerts: no notice there), an agent's error arrived
    and its notice shows; the Store, for more."""
    await eventually(app.started_up.is_set, pilot=pilot)
    await pilot.press("2")
    store = app.hub.store
    assert not app.query(AlertToast)  # no alert yet: no notice mounted
    store.apply(agent_error())
    await eventually(lambda: notice_shown(app), pilot=pilot)
    return store


async def test_the_first_alert_under_a_window_mounts_the_notice_on_the_tabs_screen():
    """The notice is mounted with the first alert (`CapwatchApp.alert_toast`), over the tabs' key bar: a window open
    then (the channels' health) has a key bar of its own, and the notice must not go into the window's screen,
    which closes with it."""
    from tui.app.screens import HealthScreen

    app = monitor()
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("2", "h")
        await eventually(lambda: isinstance(app.screen, HealthScreen), pilot=pilot)
        app.hub.store.apply(agent_error())
        await eventually(lambda: len(app.alerts) == 1, pilot=pilot)
        await pilot.pause()
        assert toast(app).screen is app.screen_stack[0] and not app.screen.query(AlertToast)
        await pilot.press("escape")
        await eventually(lambda: len(app.screen_stack) == 1, pilot=pilot)
        assert notice_shown(app) and toast(app).text.startswith("▲ 1 new alert ")


async def test_a_burst_of_alerts_is_one_toast_that_counts():
    app = monitor()
    async with app.run_test(size=(120, 40)) as pilot:
        store = await first_notice(app, pilot)
        assert toast(app).text.startswith("▲ 1 new alert ")
        for n in range(30):  # a burst, over several frames
            store.apply(approval(f"tsk_b{n}", n=n))
            if n % 10 == 9:
                await pilot.pause()
        await eventually(lambda: "▲ 31 new alerts" in toast(app).text, pilot=pilot,
                         message=lambda: f"the notice says {toast(app).text!r}")
        assert len(app.query(AlertToast)) == 1 and not app._notifications  # one notice; Textual's toasts: none
        assert "Approve the renewal · Acme Research — approval required" in toast(app).text
        assert toast(app).bells == 0  # no bell was chosen
        await pilot.press("1")  # the Overview lists them: a new one is seen there, not told
        store.apply(failed_document())
        await eventually(lambda: app.query_one("#pane-overview").alerts_table.row_count == 32, pilot=pilot)
        assert not toast(app).shown


async def test_m_mutes_the_toasts_the_overview_says_so_and_unmuting_tells_what_came():
    app = monitor()
    async with app.run_test(size=(120, 40)) as pilot:
        store = await first_notice(app, pilot)
        await pilot.press("m")
        assert not toast(app).shown and app.alerts.muted
        for n in range(3):
            store.apply(approval(f"tsk_m{n}", n=n))
        await eventually(lambda: len(app.alerts) == 4, pilot=pilot)
        await pilot.pause(0.2)
        assert not toast(app).shown  # alerts still list; no notice
        await pilot.press("1")
        title = app.query_one("#overview-alerts-title")
        await eventually(lambda: "4 open" in str(title.render()) and "toasts muted (m)" in str(title.render()),
                         pilot=pilot)
        await pilot.press("2", "m")
        await eventually(lambda: "▲ 3 new alerts" in toast(app).text, pilot=pilot)


async def test_showing_the_overview_takes_the_notice_away():
    """The Overview lists the alerts the notice counts; at 80x24 the notice covered two of its five rows."""
    app = monitor()
    async with app.run_test(size=(80, 24)) as pilot:
        await first_notice(app, pilot)
        await pilot.press("1")
        # gone at once, not when its SHOW_SECONDS run out
        await eventually(lambda: not toast(app).shown, timeout=SHOW_SECONDS / 3, pilot=pilot)
        assert toast(app).policy.due(time.monotonic()) is None  # nothing held back to tell later


async def test_the_events_tabs_alerts_view_lists_them_too_so_it_takes_the_notice_away():
    """Seen on a shift at 80x24: in Events' alerts view the notice covered the newest alerts it counted."""
    app = monitor()
    async with app.run_test(size=(80, 24)) as pilot:
        store = await first_notice(app, pilot)
        await pilot.press("7")  # the timeline: the alerts are among the events, the notice still tells them
        await pilot.pause()
        assert toast(app).shown
        await pilot.press("a")  # the alerts view lists them: gone at once
        await eventually(lambda: not toast(app).shown, timeout=SHOW_SECONDS / 3, pilot=pilot)
        store.apply(approval("tsk_e1"))  # a new one is seen there, not told, nor held to tell later
        events = app.query_one("#pane-events")
        await eventually(lambda: events.table.row_count == 2, pilot=pilot)
        await pilot.pause(0.2)
        assert not toast(app).shown and toast(app).policy.due(time.monotonic()) is None
        await pilot.press("a")  # the timeline again: a new alert is told
        store.apply(approval("tsk_e2", n=1))
        await eventually(lambda: len(app.alerts) == 3, pilot=pilot)
        await eventually(lambda: toast(app).policy.held == 1 or toast(app).shown, pilot=pilot)


async def test_a_toast_while_the_notice_shows_stacks_above_it_at_80x24():
    """Textual's toasts (unmuting's "Alert toasts and the bell back on", an export's "Exported ...") sit in the same
    corner: while the notice shows they stack above it, where they covered its right half."""
    app = monitor()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await first_notice(app, pilot)
        app.toast("Exported 12 rows to /tmp/documents.csv")
        await eventually(lambda: app.screen.query(Toast), pilot=pilot)
        await pilot.pause()
        notice, told = app.query_one("#alert-toast-body").region, app.screen.query_one(Toast).region
        assert notice.height == 2 and told.height, (notice, told)
        assert not told.overlaps(notice), f"the toast {told} covers the notice {notice}"


async def test_a_toast_and_the_alert_notice_are_both_whole_wherever_the_toast_shows(sim, tmp_path):
    """Seen at 80x24: a toast (the export's "where it went", "Approved “…”") sat under the counting notice, half hidden
    until the notice went: a window opened over the tab (a row's detail, the keys) shows the toasts on its own screen,
    which the notice's lift did not reach. Here over the simulator: its alerts, a real export."""
    from tests.app.test_cursor_seen import alerts_until, capx_monitor

    app = capx_monitor(sim)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("4")  # the Capx tab: the notice tells the alerts there
        await alerts_until(sim, pilot, lambda: notice_shown(app))
        target = tmp_path / "companies.csv"
        await pilot.press("ctrl+e")
        await eventually(lambda: isinstance(app.screen, ExportScreen), pilot=pilot)
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await eventually(lambda: app.screen.query(Toast), pilot=pilot)

        def problem(where: str) -> str | None:
            notice = app.query_one("#alert-toast-body").region
            told = [t.region for screen in app.screen_stack for t in screen.query(Toast)]
            screen = app.screen.region
            if not (toast(app).shown and told):
                return f"{where}: the notice or the toast is not shown"
            for region in (notice, *told):
                if not screen.contains_region(region):
                    return f"{where}: {region} is not whole on the {screen} screen"
            for region in told:
                if region.overlaps(notice):
                    return f"{where}: the toast {region} and the notice {notice} overlap"
            return None

        async def settled_whole(where: str) -> None:
            """Once the toast's layout has settled (it wraps as it mounts: one frame may place it a line low)."""
            await eventually(lambda: problem(where) is None, 2.0, lambda: problem(where), pilot=pilot)

        await settled_whole("on the tab")
        await pilot.press("enter")  # a company's detail: a window, which no toast covers (held until it closes)
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        await pilot.pause()
        assert not [t for screen in app.screen_stack for t in screen.query(Toast) if t.display], "over a window"
        assert screen_whole(app, app.query_one("#alert-toast-body").region), "the notice over a window"
        await pilot.press("escape")
        await eventually(lambda: app.screen.query(Toast), pilot=pilot)  # the export's toast, back
        await settled_whole("back on the tab")


def screen_whole(app: CapwatchApp, region) -> bool:
    return app.screen.region.contains_region(region)


async def a_toast_then_the_export_window(app: CapwatchApp, pilot, before=lambda: None) -> None:
    """On the Documents tab a toast shows, then (after `before()`) the export window opens over it."""
    await eventually(app.started_up.is_set, pilot=pilot)
    await pilot.press("2")
    app.toast("Approved “Audit agent spend”")
    await eventually(lambda: app.screen.query(Toast), pilot=pilot)
    before()
    await pilot.press("ctrl+e")
    await eventually(lambda: isinstance(app.screen, ExportScreen), pilot=pilot)


async def test_no_toast_covers_a_window_at_80x24_and_what_came_meanwhile_shows_once_it_closes():
    """Seen at 80x24: an "Approved “…”" toast sat over the export window's buttons for its 3 s. Toasts on screen when a
    window opens, and those raised while it is up, wait for it to close; then they show, in the order they came."""
    app = monitor()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await a_toast_then_the_export_window(app, pilot)
        app.toast("Resumed “Acme Research”")  # an action that finished while the window is up
        await pilot.pause(0.3)
        dialog = app.screen.query_one(".dialog").region
        shown = [t for screen in app.screen_stack for t in screen.query(Toast) if t.display]
        assert not [t.region for t in shown if t.region.overlaps(dialog)], f"toasts over the window {dialog}"
        assert not shown, "a toast shows while a window is up"
        await pilot.press("escape")
        await eventually(lambda: len(app.screen.query(Toast)) == 2, pilot=pilot)
        said = [str(t.render()) for t in app.screen.query(Toast)]
        assert said == ["Approved “Audit agent spend”", "Resumed “Acme Research”"], said


async def test_toasts_are_held_under_a_window_even_if_textuals_internals_change(monkeypatch):
    """Holding the toasts already on screen reads Textual's internals (its toast rack's module, the app's
    notifications); a Textual release without them leaves those toasts where they are, holds the new ones, and
    nothing fails (here the private module is gone)."""
    import sys

    app = monitor()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        # (`from ... import` of a module that sys.modules holds as None raises ImportError)
        await a_toast_then_the_export_window(
            app, pilot, before=lambda: monkeypatch.setitem(sys.modules, "textual.widgets._toast", None))
        app.toast("Resumed “Acme Research”")
        await pilot.pause(0.2)
        assert app._held_toasts and [message for message, _ in app._held_toasts] == ["Resumed “Acme Research”"]
        await pilot.press("escape")
        await eventually(lambda: "Resumed “Acme Research”" in [str(t.render()) for t in app.screen.query(Toast)],
                         pilot=pilot)


async def test_the_setting_starts_muted_and_the_palette_snoozes():
    app = monitor(alert_toasts=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("2")
        app.hub.store.apply(agent_error())
        await eventually(lambda: len(app.alerts) == 1, pilot=pilot)
        await pilot.pause(0.2)
        assert app.alerts.muted and not toast(app).shown
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Alerts: unmute toasts" in titles and "Alerts: snooze toasts for 15 minutes" in titles
        await pilot.press("ctrl+p")
        await eventually(lambda: isinstance(app.screen, CommandPalette), pilot=pilot)
        await pilot.press(*"snooze toasts for 1 hour")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await eventually(lambda: app.alerts.snoozed_until is not None, pilot=pilot)
        assert not app.alerts.muted and app.alerts.silenced()
        assert 3590 < app.alerts.snoozed_until - time.time() <= 3600
        await pilot.pause(0.2)
        assert not toast(app).shown  # what was held waits for the snooze to end


async def test_the_bell_rings_for_the_chosen_alerts_only():
    app = monitor(alert_bell="approval")
    async with app.run_test(size=(120, 40)) as pilot:
        store = await first_notice(app, pilot)
        assert toast(app).bells == 0  # an agent error is not what was chosen
        store.apply(approval())
        await eventually(lambda: toast(app).bells == 1, pilot=pilot)


async def test_acknowledged_alerts_leave_the_overview_and_stay_in_the_events_alert_view():
    app = monitor()
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        store = app.hub.store
        for event in (failed_document(), agent_error(), approval()):
            store.apply(event)
        overview = app.query_one("#pane-overview")
        table = overview.alerts_table
        await eventually(lambda: table.row_count == 3, pilot=pilot)
        table.focus()
        table.move_cursor(1)  # the agent error (newest first)
        await pilot.press("a")
        assert [table.get_row(row_id)["type"] for row_id in table.row_ids] == ["task.approval_required",
                                                                             "document.status"]
        assert len(app.alerts) == 3 and [alert.acknowledged for alert in app.alerts.entries] == [False, True, False]
        await pilot.press("7", "a")  # Events: alerts only
        events = app.query_one("#events-table")
        await eventually(lambda: events.row_count == 3, pilot=pilot)
        summaries = [cell_plain(events.columns[-1], events.get_row(row_id)) for row_id in events.row_ids]
        assert summaries == ["policy-608.pdf — failed (no reason given)",
                             "✓ acknowledged · Nova · Orbit Logistics — error: tool call timed out",
                             "Approve the renewal · Acme Research — approval required"]
        await pilot.press("1", "A")
        await eventually(lambda: table.row_count == 0, pilot=pilot)
        assert len(app.alerts) == 3


async def test_the_events_alerts_view_counts_an_alert_told_again_and_exports_as_alerts():
    """Seen on a shift: the Overview said `Ivo · Orbit Logistics — error  ×2`, the alerts view the same alert once; and
    its export was offered as "the events table", to capwatch-events-….csv."""
    app = monitor()
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        for event in (agent_error(), approval(), agent_error()):
            app.hub.store.apply(event)
        await pilot.press("7", "a")
        events = app.query_one("#events-table")
        await eventually(lambda: events.row_count == 2, pilot=pilot)
        summaries = [cell_plain(events.columns[-1], events.get_row(row_id)) for row_id in events.row_ids]
        assert summaries == ["Approve the renewal · Acme Research — approval required",
                             "Nova · Orbit Logistics — error: tool call timed out  ×2"]
        await pilot.press("ctrl+e")
        await eventually(lambda: isinstance(app.screen, ExportScreen), pilot=pilot)
        title = str(app.screen.query_one(".dialog-title").render())
        path = app.screen.query_one("#export-path", Input).value
        assert "Export the alerts table" in title and "capwatch-events-alerts-" in path, (title, path)
        await pilot.press("escape", "a", "ctrl+e")  # the timeline: the events table again
        await eventually(lambda: isinstance(app.screen, ExportScreen), pilot=pilot)
        assert "capwatch-events-2" in app.screen.query_one("#export-path", Input).value


async def test_at_80_columns_an_alert_says_its_words_whole_and_the_type_gives_way():
    for size in ((80, 24), (120, 40)):
        app = monitor()
        async with app.run_test(size=size) as pilot:
            await eventually(app.started_up.is_set, pilot=pilot)
            app.hub.store.apply(agent_error())
            table = app.query_one("#pane-overview").alerts_table
            await eventually(lambda: table.row_count == 1, pilot=pilot)
            header, line = table.render_line(0).text, table.render_line(1).text
            assert "Nova · Orbit Logistics — error: tool call timed out" in line, line
            assert "Time" in header and "Service" in header and "Alert" in header, header
            assert ("agent.error" in line) == (size == (120, 40)), line  # the type: only where there is room


async def test_enter_on_an_alert_opens_its_entity_in_its_tab_selected_with_its_recent_events():
    store = world()
    for n in range(3):
        store.apply(document_event({"type": "document.status", "document_id": f"doc_{n}", "file_name": f"f{n}.pdf",
                                    "status": "processing", "updated_at": f"2026-03-01T09:00:0{n}.000Z"}))
    app = monitor(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        store.apply(document_event({"type": "document.status", "document_id": "doc_608", "file_name": "policy.pdf",
                                    "status": "processing", "updated_at": "2026-03-01T09:59:00.000Z"}))
        store.apply(failed_document(file_name="policy.pdf", error="virus found"))
        store.apply(agent_error())
        overview = app.query_one("#pane-overview")
        await eventually(lambda: overview.alerts_table.row_count == 2, pilot=pilot)
        await pilot.press("2", "slash", *"f0", "enter", "1")  # Documents filtered: the failed one is not shown
        overview.alerts_table.focus()
        overview.alerts_table.move_cursor(1)  # the document
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        assert app.query_one("#tabs").active == "documents"
        detail = app.screen.value
        assert detail["alert"] == "capout document.status: policy.pdf — failed: virus found"
        assert detail["entity"]["status"] == "failed" and len(detail["recent_events"]) == 2
        assert "failed · policy.pdf · virus found" in detail["recent_events"][0]
        assert "processing · policy.pdf" in detail["recent_events"][1]
        await pilot.press("escape")
        documents = app.query_one("#documents-table")
        assert documents.cursor_row_id == "doc_608" and app.focused is documents
        assert documents.filter_text == "" and app.query_one("#documents-filter").value == ""  # the filter went
        await pilot.press("1")
        overview.alerts_table.move_cursor(0)  # the agent error
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        assert app.query_one("#tabs").active == "capx"
        assert app.screen.value["entity"]["name"] == "Nova"
        # Its company by name, which the agent's row gives only as an id (a document has none).
        assert app.screen.value["company"] == "Orbit Logistics" and "company" not in detail
        await pilot.press("escape")
        await pilot.pause()
        capx = app.query_one("#pane-capx")
        assert capx.table("companies").cursor_row_id == "co_orbit" and capx.selected == "co_orbit"
        assert app.query_one("#capx-detail").active == "capx-tab-agents"
        assert capx.table("agents").cursor_row_id == "ag_3uoghbvz" and app.focused is capx.table("agents")


async def test_a_first_run_says_how_to_set_up_and_how_to_see_a_demo():
    app = CapwatchApp(Config())  # no key, no config
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        first_run = app.query_one("#overview-first-run")
        assert first_run.display and first_run.region.height >= 4
        assert not app.query_one("#overview-alerts").display  # there can be none
        text = str(first_run.render())
        assert "capwatch init" in text and "capwatch demo" in text and "No service is set up" in text
        # ... and the key bar offers no keys of the hidden alert list (Open, Sort, Acknowledge), there or back.
        for key in ("1", "2", "1"):
            await pilot.press(key)
            await eventually(lambda: "Keys" in app.query_one(KeyBar).text, pilot=pilot)
        await eventually(lambda: "Acknowledge" not in app.query_one(KeyBar).text, pilot=pilot)
        assert app.focused is not app.query_one("#overview-alerts")
        assert not {"Open", "Sort", "Acknowledge"} & set(app.query_one(KeyBar).text.split()), app.query_one(KeyBar).text
    app = monitor()  # a service on: not said
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        assert not app.query_one("#overview-first-run").display
    # Team mode with no key of one's own: the collector's keys count (nothing listens there: it need not answer).
    app = CapwatchApp(Config(source="postgresql://capwatch@127.0.0.1:1/capwatch"))
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        assert not app.query_one("#overview-first-run").display


async def test_after_enter_on_an_alert_its_row_stays_put_and_documents_arriving_above_are_counted():
    """Seen at 120x40: Enter on a document's alert opened Documents with the row selected near the top; new documents
    arriving above pushed it down the screen, with no "N new ↑". A row a pane selects for the operator is theirs, as
    if their own key had put the cursor there: the table stops following, the row keeps its line, and what arrives
    above is counted until Home."""
    store = world()
    for n in range(60):  # more than the view shows
        store.apply(document_event({"type": "document.status", "document_id": f"doc_{n}", "file_name": f"f{n}.pdf",
                                    "status": "completed", "updated_at": f"2026-03-01T09:{n:02d}:00.000Z"}))
    app = monitor(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        store.apply(failed_document(file_name="policy.pdf", error="virus found"))
        store.apply(document_event({"type": "document.status", "document_id": "doc_60", "file_name": "f60.pdf",
                                    "status": "completed", "updated_at": "2026-03-01T10:00:05.000Z"}))
        overview = app.query_one("#pane-overview")
        await eventually(lambda: overview.alerts_table.row_count == 1, pilot=pilot)
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, DetailScreen), pilot=pilot)
        await pilot.press("escape")
        documents = app.query_one("#documents-table")
        await pilot.pause()
        assert documents.cursor_row_id == "doc_608" and not documents.follow and documents.scroll_y == 0
        line = documents.cursor_index - round(documents.scroll_y)
        for n in range(61, 64):  # newer than any: they sort in above it
            store.apply(document_event({"type": "document.status", "document_id": f"doc_{n}", "file_name": f"f{n}.pdf",
                                        "status": "processing", "updated_at": f"2026-03-01T10:01:{n - 50}.000Z"}))
        await eventually(lambda: documents.row_count == 65, pilot=pilot)
        await pilot.pause()
        assert documents.cursor_row_id == "doc_608"
        assert documents.cursor_index - round(documents.scroll_y) == line, "the selected row moved down the screen"
        assert documents.new_above == 3
        header = "".join(segment.text for segment in documents.render_line(0))
        assert "3 new ↑" in header, header
        await pilot.press("home")  # back to the newest: following, nothing left unseen
        await pilot.pause()
        assert documents.follow and documents.new_above == 0 and documents.cursor_index == 0
