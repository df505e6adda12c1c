"""The Store: merging events into entities, resyncs, coalesced change feeds, health, the snapshot."""

import asyncio
import json
import time

from tui.live.events import ChannelState, Event, parse_timestamp
from tui.live.store import Store


def doc_event(doc_id: str, status: str = "processing", **extra) -> Event:
    patch = {"document_id": doc_id, "status": status, **extra}
    return Event(time.time(), "capout", "document.status", doc_id, dict(patch), kind="documents", patch=patch)


def test_apply_creates_then_merges_and_counts():
    store = Store()
    store.apply(doc_event("d1", file_name="a.pdf"))
    store.apply(doc_event("d1", "completed"))
    assert store.get("documents", "d1") == {"document_id": "d1", "status": "completed", "file_name": "a.pdf"}
    assert store.counts[("capout", "document.status")] == 2
    assert len(store.timeline) == 2
    # An event without a kind or patch only goes to the timeline.
    store.apply(Event(time.time(), "casmo", "extraction.completed", "job1", {"x": 1}))
    assert store.rows("jobs") == {}
    assert store.counts[("casmo", "extraction.completed")] == 1


def test_apply_does_not_share_the_patch_dict():
    store = Store()
    event = doc_event("d1")
    store.apply(event)
    store.upsert("documents", "d1", {"status": "failed"})
    assert event.patch["status"] == "processing"


def test_apply_throughput_printout():
    store = Store()
    store.subscribe()
    events = [Event(1.0, "capx", "agent.heartbeat", "", {"n": n}) for n in range(200_000)]
    started = time.perf_counter()
    for event in events:
        store.apply(event)
    plain = len(events) / (time.perf_counter() - started)
    patched = [doc_event(f"d{n % 5000}", str(n % 3)) for n in range(200_000)]
    started = time.perf_counter()
    for event in patched:
        store.apply(event)
    merged = len(patched) / (time.perf_counter() - started)
    print(f"Store.apply: {plain:,.0f} plain events/s, {merged:,.0f} entity-patching events/s (one feed)")
    assert len(store.rows("documents")) == 5000


def test_upsert_and_remove_report_actual_changes():
    store = Store()
    feed = store.subscribe()
    assert store.upsert("companies", "co_1", {"name": "Acme", "status": "running"}) is True
    assert store.upsert("companies", "co_1", {"status": "running"}) is False
    assert feed.take().kinds == {"companies": {"co_1"}}
    store.upsert("companies", "co_1", {"status": "running"})
    assert feed.take() is None  # nothing changed, nothing to repaint
    assert store.remove("companies", "co_1") is True
    assert store.remove("companies", "co_1") is False
    assert feed.take().kinds == {"companies": {"co_1"}}
    assert store.get("companies", "co_1") is None


def test_replace_removes_stale_rows_only_within_where():
    store = Store()
    for task_id, company in [("t1", "A"), ("t2", "A"), ("t3", "B"), ("t4", "B")]:
        store.upsert("tasks", task_id, {"company_id": company, "status": "open", "seen_live": True})
    feed = store.subscribe()
    changed = store.replace(
        "tasks",
        {"t1": {"company_id": "A", "status": "open"}, "t5": {"company_id": "A", "status": "in_progress"}},
        where=lambda row: row.get("company_id") == "A",
    )
    assert set(store.rows("tasks")) == {"t1", "t3", "t4", "t5"}  # t2 was A's and is gone; B's untouched
    assert store.get("tasks", "t1")["seen_live"] is True  # merged: fields known from live events survive
    assert changed == 2
    batch = feed.take()
    assert batch.kinds == {"tasks": {"t2", "t5"}}  # t1 did not change, so it is not marked
    assert batch.replaced == {"tasks"}
    # Without `where`, every row of the kind is in scope; merge=False drops fields the listing lacks.
    store.replace("tasks", {"t3": {"company_id": "B", "status": "completed"}}, merge=False)
    assert store.rows("tasks") == {"t3": {"company_id": "B", "status": "completed"}}
    assert feed.take().kinds == {"tasks": {"t1", "t3", "t4", "t5"}}


def test_feed_coalesces_a_thousand_applies_into_one_take():
    store = Store()
    feed = store.subscribe()
    for n in range(1000):
        store.apply(doc_event(f"d{n}"))
    batch = feed.take()
    assert batch.kinds == {"documents": {f"d{n}" for n in range(1000)}}
    assert len(batch.events) == 1000 and batch.dropped_events == 0
    assert feed.take() is None


def test_feeds_are_independent_and_closing_stops_accumulation():
    store = Store()
    ui, headless = store.subscribe(), store.subscribe()
    store.apply(doc_event("d1"))
    assert ui.take().kinds == {"documents": {"d1"}}
    store.apply(doc_event("d2"))
    assert ui.take().kinds == {"documents": {"d2"}}
    assert headless.take().kinds == {"documents": {"d1", "d2"}}
    headless.close()
    store.apply(doc_event("d3"))
    assert headless.take() is None
    assert ui.take() is not None


def test_untaken_feed_stays_bounded():
    store = Store(timeline_size=100)
    feed = store.subscribe(max_events=50, max_ids=200)
    for n in range(5000):
        store.apply(doc_event(f"d{n}"))
    store.set_figure("capout.credits", 3)
    batch = feed.take()
    assert len(store.timeline) == 100
    assert len(batch.events) == 50 and batch.dropped_events == 4950
    assert batch.events[-1].id == "d4999"  # the newest are kept
    assert "documents" in batch.replaced and "documents" not in batch.kinds  # too many ids: reread the kind
    assert batch.figures == {"capout.credits"}


async def test_wait_wakes_on_change_and_times_out_when_quiet():
    store = Store()
    feed = store.subscribe()
    assert await feed.wait(timeout=0.01) is False
    waiter = asyncio.create_task(feed.wait(timeout=5))
    await asyncio.sleep(0)  # let the waiter block
    assert not waiter.done()
    store.set_figure("capx.rate_limit", {"limit": 60, "remaining": 59})
    assert await waiter is True
    assert await feed.wait() is True  # not taken yet: returns at once
    assert feed.take().figures == {"capx.rate_limit"}
    assert await feed.wait(timeout=0.01) is False


def test_set_figure_marks_only_changes():
    store = Store()
    feed = store.subscribe()
    assert store.set_figure("capout.credits", 10) is True
    assert store.set_figure("capout.credits", 10) is False
    assert feed.take().figures == {"capout.credits"}
    assert feed.take() is None


def test_health_transitions_and_timeline_events():
    store = Store()
    feed = store.subscribe()
    health = store.channel("capout-ws", "capout")
    assert health.state is ChannelState.OFF and store.channel("capout-ws", "capout") is health
    store.set_state("capout-ws", ChannelState.CONNECTING)
    store.set_state("capout-ws", ChannelState.LIVE)
    before = health.since
    store.set_state("capout-ws", "reconnecting", "token expired \x1b]0;pwned\x07")
    assert health.reconnects == 1 and health.since >= before
    assert health.last_error == "token expired"
    store.set_state("capout-ws", ChannelState.RECONNECTING, "token expired")  # the loop's second call
    assert health.reconnects == 1
    store.set_state("capout-ws", ChannelState.LIVE)
    store.set_state("capout-ws", ChannelState.RECONNECTING, "connection refused")
    assert health.reconnects == 2
    store.set_state("capout-ws", ChannelState.FAILED, "HTTP 401")
    store.note_event("capout-ws", 1234.5)
    assert (health.events, health.last_event_at) == (1, 1234.5)
    assert health.age(now=1240.0) == 5.5

    batch = feed.take()
    assert batch.health == {"capout-ws"}
    app_events = [(e.service, e.type, e.id, e.data["error"]) for e in batch.events]
    assert app_events == [
        ("capwatch", "channel.connecting", "capout-ws", None),
        ("capwatch", "channel.live", "capout-ws", None),
        ("capwatch", "channel.reconnecting", "capout-ws", "token expired"),
        ("capwatch", "channel.live", "capout-ws", None),
        ("capwatch", "channel.reconnecting", "capout-ws", "connection refused"),
        ("capwatch", "channel.failed", "capout-ws", "HTTP 401"),
    ]
    assert store.counts[("capwatch", "channel.live")] == 2
    assert health.to_dict()["state"] == "failed"


def test_record_error_keeps_state():
    store = Store()
    store.set_state("captain-poll", ChannelState.LIVE)
    store.record_error("captain-poll", "captain: HTTP 500 internal_error: boom")
    health = store.health["captain-poll"]
    assert health.state is ChannelState.LIVE and health.last_error.endswith("boom")
    assert store.timeline[-1].type == "channel.error"


def test_snapshot_shape_is_json():
    store = Store()
    store.apply(doc_event("d1", "processing"))
    store.apply(doc_event("d2", "completed"))
    store.apply(doc_event("d3", "completed"))
    store.upsert("jobs", "j1", {"filename": "x"})  # no status
    store.set_figure("capout.credits", {"credits_remaining": 5})
    store.channel("capx-activity:co_1", "capx")
    snapshot = json.loads(json.dumps(store.snapshot()))
    assert snapshot["entities"]["documents"] == {"total": 3, "by_status": {"completed": 2, "processing": 1}}
    assert snapshot["entities"]["jobs"] == {"total": 1, "by_status": {"unknown": 1}}
    assert snapshot["figures"] == {"capout.credits": {"credits_remaining": 5}}
    assert snapshot["health"]["capx-activity:co_1"]["state"] == "off"
    assert snapshot["events"] == {"capout": {"document.status": 3}}


def test_event_json_and_timestamps():
    event = Event(parse_timestamp("2024-05-01T12:00:00.250Z"), "capx", "task.created", "tsk_1", {"a": 1})
    assert event.to_json_dict() == {
        "time": "2024-05-01T12:00:00.250Z", "service": "capx", "type": "task.created", "id": "tsk_1", "data": {"a": 1},
    }
    assert parse_timestamp("2024-05-01T14:00:00+02:00") == parse_timestamp("2024-05-01T12:00:00Z")
    assert parse_timestamp("2024-05-01T12:00:00.123456789Z") == parse_timestamp("2024-05-01T12:00:00.123456Z")
    assert parse_timestamp("2024-05-01 12:00:00") == parse_timestamp("2024-05-01T12:00:00Z")  # naive is UTC
    assert parse_timestamp(1714564800) == parse_timestamp(1714564800000) == parse_timestamp("1714564800")
    for garbage in (None, True, "", "soon", "2024-13-45T99:00:00Z", float("nan"), float("inf"), -5, [], {}, "9" * 500):
        assert parse_timestamp(garbage) is None
