"""The Overview tab: credit and rate-limit meters from the Store's figures, counts by status, event-rate
sparklines and the latest alerts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.pane_host import PaneHost, StubHub
from tests.helpers.waiting import eventually

from tui import wall_clock
from tui.app.panes.overview import ActivityBoard, OverviewPane
from tui.app.screens import DetailScreen
from tui.app.widgets.meters import Meter, duration_words, sparkline_text, squeeze
from tui.live.events import Event
from tui.live.store import Store

STYLES = Path(__file__).resolve().parents[2] / "styles"


class Host(PaneHost):
    CSS_PATH = [*PaneHost.CSS_PATH, str(STYLES / "overview.tcss")]


def host_with(**hub) -> Host:
    return Host(lambda: OverviewPane(id="overview"), StubHub(store=Store(), **hub))


async def settle(host: Host, pilot) -> OverviewPane:
    host.flush()
    await pilot.pause()
    return host.query_one(OverviewPane)


def meter(host: Host, name: str) -> str:
    return host.query_one(f"#meter-{name}", Meter).text


def screen_text(host: Host) -> str:
    return "\n".join("".join(segment.text for segment in strip) for strip in host.screen._compositor.render_strips())


def document(store: Store, doc_id: str, status: str) -> None:
    store.apply(Event(time=time.time(), service="capout", type="document.status", id=doc_id,
                      data={"document_id": doc_id, "status": status}, kind="documents",
                      patch={"document_id": doc_id, "status": status}))


def alert(host: Host, event_type: str, entity_id: str, **data) -> Event:
    event = Event(time=time.time(), service="capx", type=event_type, id=entity_id, data=data)
    host.hub.store.apply(event)
    host.alerts.add([event])
    return event


def test_durations_read_as_words():
    assert duration_words(3 + 20 / 60) == "~3h 20m"
    assert duration_words(0.75) == "~45m"
    assert duration_words(0.001) == "<1m"
    assert duration_words(52) == "~2d 4h"
    assert duration_words(None) == "—"


def test_sparkline_scales_from_zero():
    line = sparkline_text([0, 50, 100, 100]).plain
    assert line == "▁▄██"
    assert sparkline_text([100, 100]).plain == "██"  # a steady stream is not drawn as idle


async def test_meters_show_the_figures():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        store = host.hub.store
        store.set_figure("capout.credits", {"credits_remaining": 7420, "credits_used": 2580, "credits_total": 10000,
                                            "burn_rate_per_hour": 1000, "hours_to_empty": 7.42})
        store.set_figure("capx.credits", {"credits_used": 56, "credits_remaining": 1234})
        store.set_figure("capx.rate_limit", {"limit": 100, "remaining": 87, "reset": time.time() + 30})
        await settle(host, pilot)
        assert "7,420 / 10,000" in meter(host, "capout")
        assert "1,000/h" in meter(host, "capout") and "~7h 25m to empty" in meter(host, "capout")
        assert "1,234 left" in meter(host, "capx-credits") and "56 used" in meter(host, "capx-credits")
        assert "87 / 100" in meter(host, "capx-rate")
        assert "resets in 30s" in meter(host, "capx-rate") or "resets in 29s" in meter(host, "capx-rate")
        assert host.query_one("#meter-capout", Meter).fraction == 0.742
        text = screen_text(host)
        assert "7,420 / 10,000" in text and "87 / 100" in text

        # The other shape a client may record Capx credits in, and a changed figure.
        store.set_figure("capx.credits", {"used": 60, "remaining": 40})
        store.set_figure("capout.credits", {"credits_remaining": 7000, "credits_total": 10000})
        await settle(host, pilot)
        assert "40 left" in meter(host, "capx-credits")
        assert host.query_one("#meter-capx-credits", Meter).fraction == 0.4
        assert "7,000 / 10,000" in meter(host, "capout") and "burn rate —" in meter(host, "capout")


async def test_missing_or_malformed_figures_show_a_dash_and_why():
    host = host_with(off=["capout"])  # CapOut not configured; Capx configured but silent so far
    async with host.run_test(size=(80, 24)) as pilot:
        pane = await settle(host, pilot)
        assert meter(host, "capout") == "CapOut credits — capout off"
        assert meter(host, "capx-credits") == "Capx credits — waiting for capx"
        assert meter(host, "capx-rate") == "Capx rate limit — waiting for capx"
        store = host.hub.store
        store.set_figure("capx.rate_limit", {"limit": "lots", "remaining": None})
        store.set_figure("capx.credits", ["not", "a", "dict"])
        store.set_figure("capout.credits", {"credits_remaining": float("nan")})
        await settle(host, pilot)
        assert "—" in meter(host, "capx-rate") and "—" in meter(host, "capx-credits")
        store.set_figure("capx.rate_limit", {"limit": 0, "remaining": 0, "reset": "soon"})
        await settle(host, pilot)
        assert "0 / 0" in meter(host, "capx-rate") and "reset —" in meter(host, "capx-rate")
        assert "capout off" in pane.query_one(ActivityBoard).text


async def test_counts_by_status_follow_the_entities():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        store = host.hub.store
        for n in range(3):
            document(store, f"doc_{n}", "processing")
        store.upsert("tasks", "tsk_1", {"status": "awaiting_approval"})
        pane = await settle(host, pilot)
        assert pane.counts["documents"] == {"processing": 3}
        assert pane.counts["tasks"] == {"awaiting_approval": 1}
        assert "documents 3 3 processing" in pane.query_one(ActivityBoard).text

        document(store, "doc_0", "completed")
        document(store, "doc_1", "failed")
        store.remove("tasks", "tsk_1")
        await settle(host, pilot)
        assert pane.counts["documents"] == {"processing": 1, "completed": 1, "failed": 1}
        assert pane.counts["tasks"] == {}
        assert "1 failed" in screen_text(host)

        # A resync replaces the whole kind.
        store.replace("databases", {"db1": {"database_name": "db1", "is_active": True},
                                    "db2": {"database_name": "db2", "is_active": False}})
        store.replace("documents", {"doc_9": {"document_id": "doc_9", "status": "completed"}})
        await settle(host, pilot)
        assert pane.counts["databases"] == {"active": 1, "inactive": 1}
        assert pane.counts["documents"] == {"completed": 1}


async def test_sparklines_count_events_per_service_per_second(monkeypatch):
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        store = host.hub.store
        for n in range(30):
            document(store, f"doc_{n}", "processing")
        for n in range(5):
            store.apply(Event(time=time.time(), service="captain", type="indexing.progress", id=f"ij_{n}", data={}))
        pane = await settle(host, pilot)
        now = time.time()
        assert sum(pane.rates.series("capout", now)) == 30
        assert sum(pane.rates.series("captain", now)) == 5
        assert sum(pane.rates.series("casmo", now)) == 0
        lines = {line.service: line for line in pane.query_one(ActivityBoard).lines}
        assert sum(lines["capout"].series) == 30 and lines["capout"].series[-1] == 30
        # The bars are whole 3-second stretches: the burst shows once its stretch has ended.
        later = now + 3
        monkeypatch.setattr(wall_clock, "now", lambda: later)
        pane.tick()
        await pilot.pause()
        assert "█" in screen_text(host)
        monkeypatch.undo()

        # Shown again after being hidden: the rates come back from the Store's timeline, each event once.
        pane.refresh_all()
        document(store, "doc_new", "processing")
        await settle(host, pilot)
        assert sum(pane.rates.series("capout", time.time())) == 31


async def test_every_open_alert_newest_first_and_enter_opens_one():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        for n in range(12):
            alert(host, "task.approval_required", f"tsk_{n}", title=f"Approve {n}")
        hostile = alert(host, "agent.error", "ag_1", error="\x1b]0;pwned\x07[@click=app.quit]x[/]")
        pane = await settle(host, pilot)
        table = pane.alerts_table
        assert table.row_count == 13  # every open alert, not the last ten: the table scrolls
        rows = [table.get_row(row_id) for row_id in table.row_ids]
        assert rows[0]["event"] is hostile and rows[1]["subject"].plain == "Approve 11 — approval required"
        text = screen_text(host)
        assert "[@click=app.quit]x[/]" in text and "\x1b" not in text and "\x07" not in text
        assert "13 open · newest first" in text

        pane.focus_default()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(host.screen, DetailScreen)  # the test host has no tabs: the detail alone
        assert host.screen.value["alert"] == "capx task.approval_required: Approve 11 — approval required"
        [line] = host.screen.value["recent_events"]  # one line per event of the entity, newest first
        assert line.endswith(" task.approval_required · Approve 11")
        event = host.screen.value["event"]
        assert event["id"] == "tsk_11" and event["data"] == {"title": "Approve 11"}
        await pilot.press("escape")
        await pilot.pause()

        # A newer alert goes on top; the cursor stays on the alert it was on.
        alert(host, "costs.threshold_reached", "co_1", total_usd=120, threshold_usd=100)
        await settle(host, pilot)
        assert table.get_row(table.row_ids[0])["subject"].plain == "co_1 — threshold reached: $120 of $100"
        assert table.get_row(table.cursor_row_id)["event"].id == "tsk_11"


async def test_the_list_changes_only_where_alerts_changed_in_arrival_order():
    """A new alert, one told again and one acknowledged change their rows only: the rows already listed stay as
    drawn (rebuilding a thousand of them on every new alert made each switch to the Overview late under load).
    The order is arrival, not the server's clock: an alert stamped earlier that arrives last is still on top."""
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        error = Event(time=time.time(), service="capx", type="agent.error", id="ag_1", kind="agents",
                      data={"error": "boom"})
        host.hub.store.apply(error)
        host.alerts.add([error])
        for n in range(3):
            alert(host, "task.approval_required", f"tsk_{n}", title=f"Approve {n}")
        pane = await settle(host, pilot)
        table = pane.alerts_table
        model = table.model
        drawn = {row_id: model.version(row_id) for row_id in table.row_ids}

        late = Event(time=time.time() - 3600, service="capx", type="agent.error", id="ag_2", data={"error": "late"})
        host.hub.store.apply(late)
        host.alerts.add([late])
        await settle(host, pilot)
        assert table.get_row(table.row_ids[0])["event"] is late  # an hour older by its clock, arrived last
        assert {row_id: model.version(row_id) for row_id in drawn} == drawn

        again = Event(time=time.time(), service="capx", type="agent.error", id="ag_1", kind="agents",
                      data={"error": "boom"})
        host.hub.store.apply(again)
        host.alerts.add([again])  # the same alert told again: counted on it, and first again
        await settle(host, pilot)
        top = table.get_row(table.row_ids[0])
        assert top["alert"].seq == 0 and top["subject"].plain.endswith("×2")
        assert table.row_count == 5

        assert table.cursor_row_id == table.row_ids[0]  # the list follows the newest
        pane.focus_default()
        await pilot.press("a")
        await pilot.pause()
        assert table.row_count == 4 and all(table.get_row(r)["event"].id != "ag_1" for r in table.row_ids)
        unchanged = [row_id for row_id in drawn if row_id in model.rows]
        assert unchanged and all(model.version(row_id) == drawn[row_id] for row_id in unchanged)


async def test_layout_two_columns_when_wide_stacked_at_80():
    for size, wide in (((120, 40), True), ((80, 24), False)):
        host = host_with()
        async with host.run_test(size=size) as pilot:
            store = host.hub.store
            store.set_figure("capout.credits", {"credits_remaining": 5, "credits_total": 10})
            document(store, "doc_1", "failed")
            alert(host, "agent.error", "ag_1", error="boom")
            pane = await settle(host, pilot)
            await pilot.pause()
            assert pane.has_class("-wide") is wide
            credits = pane.query_one("#overview-credits").region
            activity = pane.query_one("#overview-activity-box").region
            alerts = pane.query_one("#overview-alerts").region
            assert (credits.y == activity.y) is wide  # side by side, or stacked
            assert alerts.bottom <= size[1] - 1 and alerts.height >= 3  # the footer takes the last line
            text = screen_text(host)
            for words in ("CapOut credits", "Capx rate limit", "capout", "captain", "error: boom"):
                assert words in text
            assert ("agent.error" in text) is wide  # at 80 columns the alert's type gives its room to its words


def test_sparkline_bars_are_fixed_stretches_of_the_clock_and_move_only_when_one_ends():
    counts = {294: 3, 295: 3, 296: 3, 298: 9}

    def bars(end: int) -> list[float]:
        return squeeze([counts.get(second, 0) for second in range(end - 59, end + 1)], 20, end=end)

    assert bars(297)[-1] == 3.0  # 294..296 complete; the running 297..299 is left out
    assert bars(298) == bars(299) == bars(297)  # events in the running stretch move nothing yet
    assert bars(300)[-2:] == [3.0, 3.0]  # 297..299 ended: 9 events in 3 s


async def test_activity_board_is_a_grid_whose_counts_wrap_and_height_follows():
    """The board lays out its own lines (no Rich table): fixed columns one space apart, counts in the last column
    wrapping under themselves, and the height it reports is the lines it draws."""
    from collections import Counter

    from tui.app.panes.overview import ServiceLine

    many = Counter({f"status_{n}": 1000 + n for n in range(12)})  # far wider than the counts column
    lines = [ServiceLine("capout", "live", [1] * 60, 12.0, [("documents", sum(many.values()), many)], end=0),
             ServiceLine("capx", "off")]
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        board = (await settle(host, pilot)).query_one(ActivityBoard)
        board.show(lines)
        await pilot.pause()
        width = board.size.width
        drawn = ["".join(segment.text for segment in board.render_line(y)) for y in range(board.size.height)]
        assert board.size.height == board.get_content_height(None, None, width) == len(drawn) > 2
        assert drawn[0].startswith("● capout ") and "12/s" in drawn[0] and drawn[-1].startswith("○ capx ")
        # At half of 120 columns the board is stacked: service | rate, then each kind | its counts, 11 + 1 wide.
        assert width < ActivityBoard.INLINE_WIDTH and drawn[1].startswith("  documents 12,066  1,011 status_11")
        for line in drawn[2:-1]:  # the counts' next lines: blank under the first column, aligned under the counts
            assert line[:12].strip() == "" and line[12] != " "
        assert all(len(line) == width for line in drawn)


async def test_the_board_asks_for_a_layout_only_when_its_height_changes():
    """A layout is of the whole screen: under load, counts that merely grew a digit asked for one on most frames
    (a profile of the load benchmark: the board was a tenth of the layouts). A change of height still gets one."""
    from collections import Counter

    from tui.app.panes.overview import ServiceLine

    def completed(n: int) -> list[ServiceLine]:
        return [ServiceLine("capout", "live", [1] * 60, 12.0, [("documents", n, Counter({"completed": n}))], end=0)]

    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        board = (await settle(host, pilot)).query_one(ActivityBoard)
        board.show(completed(9))
        await pilot.pause()
        layouts: list[bool] = []
        refresh = board.refresh

        def counted(*regions, layout: bool = False, **options):
            layouts.append(layout)
            return refresh(*regions, layout=layout, **options)

        board.refresh = counted
        board.show(completed(10))
        board.show(completed(12_345))
        assert layouts == [False, False]  # repainted in place, the same lines
        many = Counter({f"status_{n}": 1000 + n for n in range(12)})  # wraps onto more lines
        board.show([ServiceLine("capout", "live", [1] * 60, 12.0, [("documents", sum(many.values()), many)], end=0)])
        assert layouts[-1] is True
        await pilot.pause()
        assert board.size.height == board.get_content_height(None, None, board.size.width) > 2


async def test_casmo_shows_the_receiver_degraded_not_waiting():
    """Casmo's results come through the webhook receiver: while it is `degraded` (under attack, still taking
    deliveries) Casmo's line says so, rather than "waiting" as if it had no channel."""
    from tui.live.events import ChannelState

    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        store = host.hub.store
        store.channel("webhooks", "webhooks")
        store.set_state("webhooks", ChannelState.LIVE)
        pane = await settle(host, pilot)
        assert pane.service_state("casmo") == "live"
        store.set_state("webhooks", ChannelState.DEGRADED, "236 idle connections dropped in the last 20 s")
        await settle(host, pilot)
        assert pane.service_state("casmo") == "degraded"
        assert "casmo degraded" in pane.query_one(ActivityBoard).text


# ------------------------------------------------------------------------------------------------ a short screen


def demo_monitor(sim):
    """The whole monitor on every service of the simulator, over real sockets."""
    import argparse
    import os

    from tui.app.app import CapwatchApp
    from tui.config import load_config

    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None, webhook_port=0,
                              profile="test")
    return CapwatchApp(load_config(args, env=sim.options.client_env()).config, demo=True)


def board_words(board: ActivityBoard) -> str:
    """The board as drawn, its lines joined and its runs of spaces made one: what it says, however laid out."""
    import re

    drawn = " ".join("".join(segment.text for segment in board.render_line(y)) for y in range(board.size.height))
    return re.sub(r"\s+", " ", drawn)


@pytest.mark.parametrize("size, rows, compact", [((80, 24), 7, True), ((120, 40), 20, False)])
async def test_the_alerts_keep_their_rows_on_a_short_screen_and_the_board_still_says_every_count(sim, size, rows,
                                                                                                  compact):
    """At 80x24 the Overview showed 4 alert rows under a board of 10 lines: the board goes compact (a line per service,
    its counts flowing on) before the alerts lose their rows, and says every count it said."""
    import httpx

    from tests.helpers.waiting import eventually
    from tui.app.widgets.activity_board import KIND_LABELS, STATUS_LABELS

    app = demo_monitor(sim)
    async with app.run_test(size=size) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        async with httpx.AsyncClient(timeout=10) as http:
            await http.post(f"{sim.root}/_admin/step?count=300")  # every vendor's world moves: counts of each status
        pane = app.query_one(OverviewPane)
        board = pane.query_one(ActivityBoard)

        def counted() -> bool:
            lines = {line.service: line for line in board.lines}
            return all(lines.get(service) and lines[service].state == "live" and all(total for _, total, _ in
                                                                                    lines[service].counts)
                       for service in ("capout", "capx"))

        await eventually(counted, pilot=pilot, message=lambda: board.text)
        await pilot.pause()
        table = pane.alerts_table
        shown = table.scrollable_content_region.height - 1 - table.foot_lines()
        assert shown >= rows, f"{shown} alert rows in sight at {size}"
        assert board.compact == compact
        said = board_words(board)
        for line in board.lines:
            assert line.service in said
            for kind, total, by_status in line.counts:
                assert f"{KIND_LABELS.get(kind, kind)} {total:,}" in said, (kind, said)
                for status, count in by_status.items():
                    assert f"{count:,} {STATUS_LABELS.get(status, status)}" in said, (status, said)
        top = pane.query_one("#overview-top")
        assert top.virtual_size.height <= top.size.height  # nothing of the top scrolled out of sight


async def test_at_80_columns_the_overviews_title_gives_up_its_keys_before_what_it_says():
    """Seen at 80x24: "Alerts  12 open · newest first · ○ follow off (Home) · Enter opens · a…" cut. The keys (the key
    bar has them) give way first, then "newest first", then shorter words; the line is never cut."""
    from tests.app.test_alerts import approval, monitor  # a monitor over a Store the test fills

    app = monitor()
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        for n in range(12):
            app.hub.store.apply(approval(f"tsk_t{n}", n=n))
        await pilot.press("m")  # toasts muted: said in the title
        pane = app.query_one("#pane-overview")
        await eventually(lambda: pane.alerts_table.row_count == 12, pilot=pilot)
        await pilot.press("down")  # the list no longer follows
        await pilot.pause()
        title = app.query_one("#overview-alerts-title")
        said = str(title.render())
        assert "…" not in said and len(said) <= title.size.width, said
        for words in ("Alerts", "12 open", "follow off (Home)", "muted"):
            assert words in said, f"{words!r} not in {said!r}"
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        said = str(title.render())
        assert "newest first" in said and "Enter opens · a acknowledges" in said, said
