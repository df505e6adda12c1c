"""The whole monitor against the simulator: number keys reach every tab, help and health open, the header
shows badges and one light per channel, and a burst of events is one repaint."""

from __future__ import annotations

import argparse
import os
import time

from textual import events
from textual.widgets import TabbedContent

from tui.app.app import CapwatchApp
from tui.app.header import ServiceLights
from tui.app.screens import HealthScreen, HelpScreen
from tui.config import load_config
from tui.live.events import Event


def make_app(sim, *, read_only: bool = False, services=("CAPTAIN",)) -> CapwatchApp:
    env = {k: v for k, v in sim.options.client_env().items() if k.startswith(services)}
    if read_only:
        env["CAPWATCH_READ_ONLY"] = "1"
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile="test")
    return CapwatchApp(load_config(args, env=env).config, demo=True)


async def wait_until(pilot, predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


async def test_number_keys_reach_every_tab_in_order(sim):
    app = make_app(sim)
    async with app.run_test(size=(120, 40)) as pilot:
        tabs = app.query_one(TabbedContent)
        for key, (tab_id, _) in zip("1234567", CapwatchApp.TABS):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab_id
        await pilot.press("1")
        await pilot.pause()
        assert tabs.active == "overview"


async def test_help_and_health_screens(sim):
    app = make_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, (HelpScreen, HealthScreen))


async def test_header_badges_and_lights_follow_channel_health(sim):
    app = make_app(sim, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "captain" in {w.service for w in app.query(ServiceLights)}
                         and app.hub.store.health["captain.databases"].state.value == "live")
        await pilot.pause(0.2)
        assert app.query_one("#demo-badge") and app.query_one("#ro-badge")
        assert str(app.query_one("#env-badge").render()) == "dev"
        lights = {w.service: w for w in app.query(ServiceLights)}
        assert {"capout", "casmo", "capx", "captain"} <= set(lights)
        assert "captain.databases: live" in lights["captain"].tooltip


async def test_a_burst_of_a_thousand_events_is_one_repaint(sim):
    app = make_app(sim)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("7")
        await pilot.pause(0.3)
        frames_before = app.frames
        for n in range(1000):
            app.hub.store.apply(Event(time=1.0 + n, service="capx", type="agent.heartbeat", id=f"ag_{n}", data={}))
        await pilot.pause(0.2)
        # Everything above arrived between two frames: one batch, one repaint (other channels may add one more).
        assert 1 <= app.frames - frames_before <= 3


async def test_a_hidden_tab_shows_what_changed_meanwhile_without_a_rebuild():
    from tests.helpers.pane_host import StubHub

    from tui.app.panes.documents import DocumentsPane
    from tui.config import Config
    from tui.live.events import Event

    async def idle() -> None:
        return None

    hub = StubHub()
    hub.run = hub.stop = idle
    app = CapwatchApp(Config(max_output_kbps=0), hub=hub)

    def document(doc_id: str, status: str) -> Event:
        return Event(time=0, service="capout", type="document.status", id=doc_id, kind="documents", data={},
                     patch={"document_id": doc_id, "status": status, "file_name": f"{doc_id}.pdf"})

    async with app.run_test(size=(120, 40)) as pilot:
        await app.action_show_tab("documents")
        hub.store.apply(document("doc_1", "processing"))
        app.flush_changes()
        await pilot.pause()
        pane = app.query_one(DocumentsPane)
        assert "doc_1" in pane.table.row_ids
        await app.action_show_tab("events")
        rebuilds = []
        pane.refresh_all = lambda: rebuilds.append(1)  # type: ignore[method-assign]
        hub.store.apply(document("doc_2", "processing"))
        hub.store.apply(document("doc_1", "completed"))
        app.flush_changes()
        assert pane.held is not None and pane.held.kinds["documents"] == {"doc_1", "doc_2"}
        await app.action_show_tab("documents")
        await pilot.pause()
        assert rebuilds == [] and pane.held is None
        assert set(pane.table.row_ids) == {"doc_1", "doc_2"}
        assert pane.table.get_row("doc_1")["status"] == "completed"


async def test_hidden_tabs_are_filled_at_start_up_and_keep_up_while_hidden():
    """After start-up no tab is left to rebuild on its first show: each hidden one was filled while the Store was
    small and holds what changes. The Events and table tabs apply what they hold every APPLY_HIDDEN_AFTER events
    or changed rows, so they never have more than that to catch up on when shown (nor go stale from holding too
    many); a table tab counts and keeps rows only, not the events it does not show."""
    from tests.helpers.pane_host import StubHub

    from tui.app.panes.documents import DocumentsPane
    from tui.app.panes.events import EventsPane
    from tui.config import Config
    from tui.live.events import Event

    async def idle() -> None:
        return None

    hub = StubHub()
    hub.run = hub.stop = idle
    app = CapwatchApp(Config(max_output_kbps=0), hub=hub)

    def document(n: int) -> Event:
        doc_id = f"doc_{n}"
        return Event(time=0, service="capout", type="document.status", id=doc_id, kind="documents", data={},
                     patch={"document_id": doc_id, "status": "processing", "file_name": f"{doc_id}.pdf"})

    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, app.started_up.is_set)
        documents, events = app.query_one(DocumentsPane), app.query_one(EventsPane)
        assert not documents.stale and not events.stale
        rebuilds = []
        documents.refresh_all = events.refresh_all = lambda: rebuilds.append(1)  # type: ignore[method-assign]
        applied: list[int] = []  # rows in each batch the Documents tab applied while hidden
        apply_documents = documents.apply_changes

        def recorded_apply(batch) -> None:
            applied.append(len(batch.kinds.get("documents", ())))
            apply_documents(batch)

        documents.apply_changes = recorded_apply  # type: ignore[method-assign]
        count = EventsPane.APPLY_HIDDEN_AFTER + 100
        for n in range(count):
            hub.store.apply(document(n))
            if n % 50 == 0:
                app.flush_changes()  # a frame
        app.flush_changes()
        assert events.table.row_count >= EventsPane.APPLY_HIDDEN_AFTER  # applied while hidden
        assert events.held is not None and len(events.held.events) < EventsPane.APPLY_HIDDEN_AFTER
        # Applied while hidden too, each time APPLY_HIDDEN_AFTER rows or more: the events a table tab does not show
        # do not count towards it.
        assert applied and all(size >= DocumentsPane.APPLY_HIDDEN_AFTER for size in applied)
        assert documents.table.row_count == sum(applied)
        held_rows = len(documents.held.kinds["documents"]) if documents.held is not None else 0
        assert held_rows < DocumentsPane.APPLY_HIDDEN_AFTER and held_rows == count - documents.table.row_count
        # Nor does it keep them: a table tab holds ids only.
        assert documents.held is None or (documents.held.events == [] and documents.held.dropped_events == 0)
        await app.action_show_tab("events")
        await app.action_show_tab("documents")
        await pilot.pause()
        assert rebuilds == []
        assert events.table.row_count == count and documents.table.row_count == count


async def test_a_hidden_tab_made_stale_by_a_resync_is_rebuilt_while_hidden_and_the_overview_keeps_up(monkeypatch):
    """A resync (a kind replaced) leaves a hidden tab to reread the Store: the Events, table and Overview tabs do it
    while hidden (at most once per REBUILD_GAP seconds), not while the key that shows them waits (19 to 27 ms of a
    switch under load); and the Overview, like them, applies what it holds every APPLY_HIDDEN_AFTER changes."""
    from tests.helpers.pane_host import StubHub

    import tui.app.panes.base
    from tui.app.panes.documents import DocumentsPane
    from tui.app.panes.overview import OverviewPane
    from tui.config import Config

    gap = 0.3  # (the gap's own length is not what this tests: 2 s, twice over, would only make it slow)
    monkeypatch.setattr(tui.app.panes.base, "REBUILD_GAP", gap)

    async def idle() -> None:
        return None

    hub = StubHub()
    hub.run = hub.stop = idle
    app = CapwatchApp(Config(max_output_kbps=0), hub=hub)

    def document(n: int, status: str = "processing") -> Event:
        doc_id = f"doc_{n}"
        return Event(time=0, service="capout", type="document.status", id=doc_id, kind="documents", data={},
                     patch={"document_id": doc_id, "status": status, "file_name": f"{doc_id}.pdf"})

    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, app.started_up.is_set)
        await app.action_show_tab("events")
        await pilot.pause()
        documents, overview = app.query_one(DocumentsPane), app.query_one(OverviewPane)
        rebuilds: list[str] = []
        for pane in (documents, overview):
            rebuild = pane.refresh_all

            def recorded(pane=pane, rebuild=rebuild) -> None:
                rebuilds.append(type(pane).__name__)
                rebuild()

            pane.refresh_all = recorded  # type: ignore[method-assign]
        for n in range(OverviewPane.APPLY_HIDDEN_AFTER + 10):
            hub.store.apply(document(n))
            if n % 50 == 0:
                app.flush_changes()  # a frame
        app.flush_changes()
        # The Overview applied what it held (it counts the events too), and rebuilt nothing.
        assert overview.held is None or len(overview.held.events) < OverviewPane.APPLY_HIDDEN_AFTER
        assert sum(overview.counts["documents"].values()) >= OverviewPane.APPLY_HIDDEN_AFTER
        time.sleep(gap)  # a tab the start-up left stale (the Overview, hidden at once) is rebuilt after the gap
        app.flush_changes()
        assert not documents.stale and not overview.stale and set(rebuilds) <= {"OverviewPane"}
        rebuilds.clear()
        time.sleep(gap)
        rows = {f"doc_{n}": {"document_id": f"doc_{n}", "status": "completed", "file_name": f"doc_{n}.pdf"}
                for n in range(5)}
        hub.store.replace("documents", rows)  # a resync: every tab that shows documents rereads them
        app.flush_changes()
        assert sorted(rebuilds) == ["DocumentsPane", "OverviewPane"]  # while hidden
        assert not documents.stale and not overview.stale and documents.held is None
        assert documents.table.row_count == 5 and documents.table.get_row("doc_0")["status"] == "completed"
        assert overview.counts["documents"] == {"completed": 5}
        hub.store.replace("documents", rows | {"doc_9": {"document_id": "doc_9", "status": "failed"}})
        app.flush_changes()
        assert len(rebuilds) == 2 and documents.stale and overview.stale  # within the gap: rebuilt when shown
        await app.action_show_tab("documents")
        await app.action_show_tab("overview")
        await pilot.pause()
        assert sorted(rebuilds) == ["DocumentsPane", "DocumentsPane", "OverviewPane", "OverviewPane"]
        assert documents.table.row_count == 6 and overview.counts["documents"]["failed"] == 1


async def test_the_collector_is_set_for_the_stream_while_the_app_runs_and_restored_after():
    """Startup objects frozen out of the collector's reach, full passes rarer (GC_THRESHOLDS); both undone."""
    import gc

    from tui.app.app import GC_THRESHOLDS

    from tests.helpers.pane_host import StubHub

    from tui.config import Config

    async def idle() -> None:
        return None

    hub = StubHub()
    hub.run = hub.stop = idle
    app = CapwatchApp(Config(), hub=hub)
    thresholds = gc.get_threshold()
    assert thresholds != GC_THRESHOLDS
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(50):
            if gc.get_freeze_count():
                break
            await pilot.pause(0.05)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


async def test_quitting_while_the_tabs_are_still_being_mounted_ends_cleanly():
    """`q` in the first instants (start-up still mounting the panes) waits for it, then quits: no pane is torn
    down halfway through its mount (that ended the monitor with a MountError traceback)."""
    app = CapwatchApp(load_config(argparse.Namespace(config=os.devnull), env={}).config)
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.started_up.is_set()
        await pilot.press("q")
        await wait_until(pilot, lambda: app._exit)
        assert app.started_up.is_set()  # quit waited for it
    assert app.return_code == 0


async def test_a_tab_switch_still_queued_when_the_app_quits_ends_cleanly():
    """Under load a number key can still wait in the queue when the app closes: it and its TabActivated then come
    after the screen is gone (each ended a soak run with a traceback: NoMatches, ScreenStackError)."""
    app = CapwatchApp(load_config(argparse.Namespace(config=os.devnull), env={}).config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.started_up.is_set())
        tabbed = app.query_one(TabbedContent)
        late = TabbedContent.TabActivated(tabbed, tabbed.get_tab("captain"))
    assert not app.screen_stack  # torn down
    app.on_tabbed_content_tab_activated(late)
    app.screen_changed(None)  # type: ignore[arg-type]  # a window closing then
    await app.on_event(events.Key("4", "4"))  # the key itself, still queued (Textual raised ScreenStackError)


async def test_a_service_down_shows_a_banner_and_its_panes_look_stale():
    """Issue 15: what comes from a channel that is not live is marked stale (dimmed, "as of HH:MM:SS"), a banner says
    which services are down and since when, and both go when the channel is live again."""
    from tests.helpers.pane_host import StubHub

    from tui.app.panes.capx import CapxPane
    from tui.app.panes.documents import DocumentsPane
    from tui.app.widgets.banner import IncidentBanner
    from tui.config import Config
    from tui.live.events import ChannelState

    async def idle() -> None:
        return None

    hub = StubHub()
    hub.run = hub.stop = idle
    app = CapwatchApp(Config(max_output_kbps=0), hub=hub)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.action_show_tab("capx")
        hub.store.channel("capx.companies", "capx")
        hub.store.channel("capout.ws", "capout")
        hub.store.set_state("capout.ws", ChannelState.LIVE)
        hub.store.set_state("capx.companies", ChannelState.LIVE)
        app.flush_changes()
        await pilot.pause()
        assert not app.query(IncidentBanner)  # every service live: no banner (it is mounted at the first outage)
        hub.store.set_state("capx.companies", ChannelState.FAILING, "capx: network: ConnectError")
        since = time.strftime("%H:%M:%S", time.localtime(hub.store.health["capx.companies"].since))
        app.flush_changes()
        await pilot.pause()
        banner = app.query_one(IncidentBanner)
        assert banner.has_class("-down") and f"capx down since {since}" in str(banner.render())
        capx, documents = app.query_one(CapxPane), app.query_one(DocumentsPane)
        assert capx.has_class("-stale") and capx.border_title == f"as of {since}"
        assert not documents.has_class("-stale") and "capout" not in str(banner.render())
        hub.store.set_state("capx.companies", ChannelState.LIVE)
        app.flush_changes()
        await pilot.pause()
        assert not banner.has_class("-down") and not capx.has_class("-stale") and not capx.border_title


async def test_the_clock_ticking_while_a_tab_mounts_waits_for_its_widgets():
    """The one-second clock runs in its own task (Textual's timer calls it between the app's awaits): under load
    its tick landed while the first tab's pane was mounting, in the DOM but without its widgets yet, and the
    Overview's tick failed with "No nodes match 'ActivityBoard'" (test_themes, once). Here it ticks right then (and
    at the start of every other tab's mount)."""
    from tests.helpers.recorded import recorded_app
    from tests.helpers.waiting import eventually

    app = recorded_app()
    started = app._start_pane_mounts
    ticked: list[list[str]] = []

    def start_and_tick(tabs):
        mounts = started(tabs)
        app.tick_second()  # the pane is attached, its compose has not run
        ticked.append(list(tabs))
        return mounts

    app._start_pane_mounts = start_and_tick
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        app.tick_second()
        await pilot.pause()
        assert ticked[0] == [CapwatchApp.FIRST_TAB] and app.is_running
