"""The Events tab: the unified timeline, its filters, pause and follow, detail, bounds and burst cost."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers.pane_host import PaneHost, StubHub

from tui.app.panes.events import GAP_TYPE, EventsPane
from tui.app.widgets.event_table import EventTable
from tui.app.toolkit.cells import summarize
from tui.app.screens import DetailScreen
from tui.vendors.casmo.live import casmo_webhook_event
from tui.live.events import Event
from tui.live.store import Store

STYLES = Path(__file__).resolve().parents[2] / "styles"
HOSTILE_TITLE = "\x1b]0;pwned\x07[@click=app.quit]x[/]"


class Host(PaneHost):
    CSS_PATH = [*PaneHost.CSS_PATH, str(STYLES / "events.tcss")]


def event(service: str, event_type: str, entity_id: str, **data) -> Event:
    return Event(time=time.time(), service=service, type=event_type, id=entity_id, data=data)


def mixed_events() -> list[Event]:
    return [
        event("capout", "document.status", "doc_1", status="processing", file_name="claim.pdf"),
        event("casmo", "extraction.completed", "job_1", filename="estimate.pdf"),
        event("capx", "task.approval_required", "tsk_1", title="Approve the refund"),
        event("capx", "agent.error", "ag_1", error="quota exceeded"),
        event("captain", "indexing.progress", "ij_1", status="processing", progress=0.5),
        event("capwatch", "channel.live", "capout.ws", state="live"),
    ]


def host_with(store: Store | None = None) -> Host:
    return Host(lambda: EventsPane(id="events"), StubHub(store=store or Store()))


async def settle(host: Host, pilot) -> EventsPane:
    host.flush()
    await pilot.pause()
    return host.query_one(EventsPane)


def shown_types(pane: EventsPane) -> list[str]:
    return [pane.table.get_row(row_id)["type"] for row_id in pane.table.row_ids]


def screen_text(host: Host) -> str:
    return "\n".join("".join(segment.text for segment in strip) for strip in host.screen._compositor.render_strips())


async def test_rows_appear_newest_last_and_follow_keeps_the_cursor_on_the_newest():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        for item in mixed_events():
            host.hub.store.apply(item)
        pane = await settle(host, pilot)
        table = pane.table
        assert shown_types(pane) == [e.type for e in mixed_events()]
        assert table.get_row(table.cursor_row_id)["type"] == "channel.live"
        host.hub.store.apply(event("capout", "document.status", "doc_2", status="completed"))
        await settle(host, pilot)
        assert table.row_count == 7
        assert table.get_row(table.cursor_row_id)["id"] == "doc_2"
        summary = summarize(table.get_row(table.row_ids[4])["event"])
        assert "processing" in summary and "50%" in summary


async def test_filters_by_service_type_and_text_combine():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        for item in mixed_events():
            host.hub.store.apply(item)
        pane = await settle(host, pilot)
        pane.table.focus()

        await pilot.press("c", "c", "c")  # all -> capout -> casmo -> capx
        await pilot.pause()
        assert shown_types(pane) == ["task.approval_required", "agent.error"]

        await pilot.press("t", *"agent.*", "enter")
        await pilot.pause()
        assert shown_types(pane) == ["agent.error"]

        await pilot.press("t", "escape")  # clears the type filter, back to the table
        await pilot.pause()
        assert shown_types(pane) == ["task.approval_required", "agent.error"]
        assert host.focused is pane.table

        await pilot.press("slash", *"refund", "enter")
        await pilot.pause()
        assert shown_types(pane) == ["task.approval_required"]

        pane.set_service("all")
        await pilot.pause()
        assert shown_types(pane) == ["task.approval_required"]
        await pilot.press("slash", "escape")
        await pilot.press("t", *"error", "enter")  # a substring without wildcards
        await pilot.pause()
        assert shown_types(pane) == ["agent.error"]
        # New events pass through the same filters.
        host.hub.store.apply(event("capout", "document.error", "doc_9"))
        host.hub.store.apply(event("capout", "document.status", "doc_8"))
        await settle(host, pilot)
        assert shown_types(pane) == ["agent.error", "document.error"]


async def test_typing_in_a_filter_does_not_trigger_the_pane_keys():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        host.hub.store.apply(event("capx", "task.created", "tsk_1"))
        pane = await settle(host, pilot)
        await pilot.press("slash", *"pcft")
        await pilot.pause()
        assert pane.paused is False and pane.table.follow is True
        assert pane.query_one("#events-text").value == "pcft"


async def test_pause_freezes_the_table_counts_new_events_and_resume_shows_them():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        host.hub.store.apply(event("capout", "document.status", "doc_1", status="processing"))
        pane = await settle(host, pilot)
        pane.table.focus()
        await pilot.press("p")
        for n in range(3):
            host.hub.store.apply(event("capx", "task.created", f"tsk_{n}"))
        await settle(host, pilot)
        assert pane.table.row_count == 1
        assert "Paused — 3 new events" in pane.status_text
        assert "Paused — 3 new events" in screen_text(host)

        pane.set_service("capout")  # a filter change while paused keeps the frozen content
        await pilot.pause()
        assert pane.table.row_count == 1
        pane.set_service("all")
        await pilot.pause()

        await pilot.press("p")
        await pilot.pause()
        assert pane.table.row_count == 4
        assert "Paused" not in pane.status_text
        assert pane.table.get_row(pane.table.cursor_row_id)["id"] == "tsk_2"  # following: on the newest


async def test_follow_off_keeps_the_cursor_and_moving_up_stops_following():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        for n in range(5):
            host.hub.store.apply(event("capout", "document.status", f"doc_{n}"))
        pane = await settle(host, pilot)
        table = pane.table
        table.focus()
        await pilot.press("up")
        await pilot.pause()
        assert table.follow is False
        assert "follow off" in pane.status_text
        assert table.get_row(table.cursor_row_id)["id"] == "doc_3"
        host.hub.store.apply(event("capout", "document.status", "doc_5"))
        await settle(host, pilot)
        assert table.get_row(table.cursor_row_id)["id"] == "doc_3"

        await pilot.press("f")
        await pilot.pause()
        assert table.follow is True
        assert table.get_row(table.cursor_row_id)["id"] == "doc_5"
        host.hub.store.apply(event("capout", "document.status", "doc_6"))
        await settle(host, pilot)
        assert table.get_row(table.cursor_row_id)["id"] == "doc_6"
        await pilot.press("f")
        assert table.follow is False


async def test_enter_opens_the_whole_event_and_y_copies_its_id():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        host.hub.store.apply(event("capx", "task.approval_required", "tsk_42", title="Refund", company_id="co_1"))
        pane = await settle(host, pilot)
        pane.table.focus()
        await pilot.press("y")
        await pilot.pause()
        assert host.clipboard == "tsk_42"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(host.screen, DetailScreen)
        assert host.screen.value["data"] == {"title": "Refund", "company_id": "co_1"}
        assert host.screen.value["type"] == "task.approval_required"
        await pilot.press("escape")


async def test_hostile_strings_render_inert():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        host.hub.store.apply(event("capout", "document.status", "doc\x1b[2J_1", file_name=HOSTILE_TITLE))
        await settle(host, pilot)
        await pilot.pause()
        text = screen_text(host)
        assert "\x1b" not in text and "\x07" not in text
        assert "[@click=app.quit]x[/]" in text  # shown literally, not parsed as markup
        assert host.is_running


async def test_a_5000_event_batch_is_one_table_update_and_the_table_stays_bounded():
    host = host_with(Store(timeline_size=6000))
    async with host.run_test(size=(120, 40)) as pilot:
        pane = host.query_one(EventsPane)
        calls: list[str] = []
        table = pane.table
        original_update, original_set = table.update_rows, table.set_rows
        table.update_rows = lambda rows: (calls.append("update"), original_update(rows))[1]
        table.set_rows = lambda rows: (calls.append("set"), original_set(rows))[1]

        for n in range(5000):
            host.hub.store.apply(event("capout", "document.status", f"doc_{n}", status="processing"))
        started = time.perf_counter()
        await settle(host, pilot)
        assert len(calls) == 1
        assert table.total_count == 5000
        assert time.perf_counter() - started < 2.0

        calls.clear()
        for n in range(5000):
            host.hub.store.apply(event("capx", "task.created", f"tsk_{n}"))
        await settle(host, pilot)
        assert len(calls) == 1
        assert table.total_count == 6000 == len(pane.buffer)  # the Store's timeline size
        assert table.get_row(table.row_ids[0])["id"] == "doc_4000"  # the oldest were dropped


async def test_events_that_overflow_a_frame_are_noted():
    store = Store(timeline_size=8000)
    host = host_with(store)
    async with host.run_test(size=(120, 40)) as pilot:
        for n in range(5100):  # the feed carries 5,000 events a frame
            store.apply(event("capx", "agent.heartbeat", f"ag_{n}"))
        pane = await settle(host, pilot)
        assert pane.table.total_count == 5001
        assert shown_types(pane)[0] == GAP_TYPE
        assert "100 dropped" in pane.status_text


async def test_refresh_after_being_hidden_adds_each_event_once():
    host = host_with()
    async with host.run_test(size=(120, 40)) as pilot:
        pane = host.query_one(EventsPane)
        host.hub.store.apply(event("capout", "document.status", "doc_1"))
        host.hub.store.apply(event("capout", "document.status", "doc_2"))
        pane.refresh_all()  # shown again: reads the Store's timeline
        host.hub.store.apply(event("capout", "document.status", "doc_3"))
        await settle(host, pilot)  # the batch repeats doc_1 and doc_2
        assert [pane.table.get_row(r)["id"] for r in pane.table.row_ids] == ["doc_1", "doc_2", "doc_3"]


async def test_fits_80x24():
    host = host_with()
    async with host.run_test(size=(80, 24)) as pilot:
        for item in mixed_events():
            host.hub.store.apply(item)
        pane = await settle(host, pilot)
        await pilot.pause()
        text = screen_text(host)
        assert "follow" in text and "task.approval_required" in text
        assert pane.table.region.height >= 15
        assert isinstance(pane.table, EventTable)


def test_a_casmo_webhook_summary_names_its_file_and_status():
    event = casmo_webhook_event({"event": "extraction.completed", "timestamp": "2026-11-23T09:00:00Z",
                                 "data": {"job_id": "temp_1", "filename": "w9-2016.pdf", "status": "completed"}})
    assert summarize(event) == "completed · w9-2016.pdf"


async def test_the_filter_boxes_empty_read_as_keys_not_as_filters():
    host = host_with()
    async with host.run_test(size=(80, 24)) as pilot:
        pane = await settle(host, pilot)
        type_box, text_box = pane.query_one("#events-type"), pane.query_one("#events-text")
        assert type_box.input.placeholder == "t filters the type" and text_box.input.placeholder == "/ filters the text"
        assert "task.*" not in screen_text(host) and "type:" not in screen_text(host)
