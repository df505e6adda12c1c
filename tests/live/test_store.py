"""The Store: merging events into entities, resyncs, coalesced change feeds, health, the snapshot."""

import asyncio
import json
import time

from tui.live.events import ChannelState, Event, parse_timestamp
from tui.live.store import Store
from tui.vendors import VENDORS, kinds
from tui.vendors.base import Kind

KINDS = tuple(kinds().values())  # the vendors' entity kinds, and which statuses finish each


def doc_event(doc_id: str, status: str = "processing", **extra) -> Event:
    patch = {"document_id": doc_id, "status": status, **extra}
    return Event(time.time(), "capout", "document.status", doc_id, dict(patch), kind="documents", patch=patch)


def test_apply_creates_then_merges_and_counts():
    store = Store()
    store.apply(doc_event("d1", file_name="a.pdf"))
    store.apply(doc_event("d1", "completed"))
    assert store.get("documents", "d1") == {"document_id": "d1", "status": "completed", "file_name": "a.pdf"}
    assert store.counts["capout"]["document.status"] == 2
    assert len(store.timeline) == 2
    # An event without a kind or patch only goes to the timeline.
    store.apply(Event(time.time(), "casmo", "extraction.completed", "job1", {"x": 1}))
    assert store.rows("jobs") == {}
    assert store.counts["casmo"]["extraction.completed"] == 1


def test_an_event_older_than_the_entity_reaches_the_timeline_but_changes_nothing():
    store = Store()
    feed = store.subscribe()
    store.apply(doc_event("d1", "completed", updated_at="2026-12-06T10:00:02.000Z"))
    feed.take()
    store.apply(doc_event("d1", "processing", updated_at="2026-12-06T10:00:01.000Z"))  # delivered late
    store.apply(doc_event("d1", "processing", updated_at="2026-12-06T11:00:01+01:00"))  # as late, with an offset
    assert store.get("documents", "d1")["status"] == "completed"
    batch = feed.take()
    assert not batch.kinds and [e.patch["status"] for e in batch.events] == ["processing", "processing"]
    assert len(store.timeline) == 3
    # Newer, equal, or a timestamp that cannot be read: applied.
    store.apply(doc_event("d1", "failed", updated_at="2026-12-06T10:00:02.000Z"))
    assert store.get("documents", "d1")["status"] == "failed"
    store.apply(doc_event("d1", "completed", updated_at="yesterday"))
    assert store.get("documents", "d1")["status"] == "completed"
    store.apply(doc_event("d1", "processing", updated_at="2026-12-06T10:00:03.000Z"))
    assert store.get("documents", "d1")["status"] == "processing"


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
    assert store.counts["capwatch"]["channel.live"] == 2
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


# ------------------------------------------------------------------------------ the bound on finished entities


def test_finished_entities_beyond_the_bound_are_dropped_oldest_first_unfinished_never():
    store = Store(max_finished=3, kinds=KINDS)
    for n in range(5):
        store.apply(doc_event(f"open{n}"))  # processing: never dropped, however many
    for n in range(5):
        store.apply(doc_event(f"d{n}", "completed" if n % 2 else "failed"))
    assert sorted(store.rows("documents")) == ["d2", "d3", "d4"] + [f"open{n}" for n in range(5)]
    assert store.evicted["documents"] == 2 and store.finished_count("documents") == 3
    # Changing a finished entity again makes it the most recent one; the oldest goes next.
    store.apply(doc_event("d2", "completed", file_name="late.pdf"))
    store.apply(doc_event("open0", "completed"))
    assert sorted(store.rows("documents")) == ["d2", "d4", "open0"] + [f"open{n}" for n in range(1, 5)]
    # Back to work (reprocessed): no longer finished, so no longer counted against the bound.
    store.apply(doc_event("d4", "processing"))
    store.apply(doc_event("d9", "completed"))
    assert {"d2", "d4", "open0", "d9"} <= store.rows("documents").keys()
    assert store.finished_count("documents") == 3


def test_each_kind_has_its_own_bound_and_terminal_statuses():
    store = Store(max_finished=2, kinds=KINDS)
    for n in range(4):
        store.upsert("tasks", f"t{n}", {"status": "rejected" if n % 2 else "completed"})
        store.upsert("runs", f"r{n}", {"status": "failed"})
        store.upsert("jobs", f"j{n}", {"status": "error"})
        store.upsert("indexing_jobs", f"i{n}", {"status": "processing", "done": True})
        store.upsert("agents", f"a{n}", {"status": "completed"})  # agents never finish: kept
        store.upsert("tasks", f"open{n}", {"status": "awaiting_approval"})
    assert sorted(store.rows("tasks")) == ["open0", "open1", "open2", "open3", "t2", "t3"]
    assert sorted(store.rows("runs")) == ["r2", "r3"]
    assert sorted(store.rows("jobs")) == ["j2", "j3"]
    assert sorted(store.rows("indexing_jobs")) == ["i2", "i3"]
    assert len(store.rows("agents")) == 4


def test_evictions_reach_every_feed_as_removals():
    store = Store(max_finished=2, kinds=KINDS)
    first, second = store.subscribe(), store.subscribe()
    store.apply(doc_event("d1", "completed"))
    store.apply(doc_event("d2", "completed"))
    assert first.take().kinds == {"documents": {"d1", "d2"}}
    store.apply(doc_event("d3", "completed"))
    batch = first.take()
    assert batch.kinds == {"documents": {"d3", "d1"}}  # d1 changed: a consumer reading it finds no row
    assert store.get("documents", "d1") is None
    assert {row_id: store.get("documents", row_id) for row_id in batch.kinds["documents"]}["d1"] is None
    assert second.take().kinds == {"documents": {"d1", "d2", "d3"}}


def test_removed_and_resynced_entities_leave_the_finished_order():
    store = Store(max_finished=2, kinds=KINDS)
    store.apply(doc_event("d1", "completed"))
    store.apply(doc_event("d2", "completed"))
    assert store.remove("documents", "d1") is True
    store.apply(doc_event("d3", "completed"))  # d1 is gone already: nothing to drop
    assert sorted(store.rows("documents")) == ["d2", "d3"] and store.evicted["documents"] == 0
    feed = store.subscribe()
    store.replace("tasks", {f"t{n}": {"id": f"t{n}", "status": "completed"} for n in range(4)})
    assert sorted(store.rows("tasks")) == ["t2", "t3"]
    batch = feed.take()
    assert "tasks" in batch.replaced and {"t0", "t1"} <= batch.kinds["tasks"]
    store.replace("tasks", {})  # a resync that drops them all
    assert store.finished_count("tasks") == 0


def test_no_bound_keeps_everything():
    store = Store(max_finished=None, kinds=KINDS)
    for n in range(1000):
        store.apply(doc_event(f"d{n}", "completed"))
    assert len(store.rows("documents")) == 1000 and not store.evicted


def test_the_default_bound_comes_from_the_config():
    from tui.config import Config
    from tui.live.hub import LiveHub

    assert Store().max_finished == Config().max_finished_rows == 10_000
    hub = LiveHub(Config(max_finished_rows=500), VENDORS)
    assert hub.store.max_finished == 500
    assert hub.store.finishing["indexing_jobs"] == (frozenset({"completed", "failed", "error"}), "done")


def test_the_store_knows_the_kinds_it_is_given_not_vendors():
    parcels = Kind("parcels", finished=frozenset({"delivered"}), finished_flag="lost")
    store = Store(max_finished=1, kinds=[parcels])
    for n, row in enumerate([{"status": "delivered"}, {"status": "DELIVERED"}, {"status": "moving", "lost": True}]):
        store.upsert("parcels", f"p{n}", row)
    store.upsert("parcels", "p3", {"status": "moving"})
    assert sorted(store.rows("parcels")) == ["p2", "p3"] and store.evicted["parcels"] == 2
    for n in range(3):  # a kind it was not given never finishes, whatever its status
        store.upsert("documents", f"d{n}", {"status": "completed"})
    assert len(store.rows("documents")) == 3 and store.finished_count("documents") == 0


def test_a_batch_absorbs_a_later_one_within_the_feed_bounds():
    from tui.live.store import ChangeBatch

    first = ChangeBatch(kinds={"documents": {"d1"}}, figures={"capout.credits"},
                        events=[Event(time=n, service="capout", type="t", id=str(n), data={}) for n in range(3)])
    later = ChangeBatch(kinds={"documents": {"d2"}, "tasks": {"t1"}}, health={"capx.co_1"}, replaced={"agents"},
                        events=[Event(time=n, service="capx", type="t", id=str(n), data={}) for n in range(3, 6)],
                        dropped_events=2)
    first.absorb(later, max_events=4, max_ids=10)
    assert first.kinds == {"documents": {"d1", "d2"}, "tasks": {"t1"}}
    assert first.figures == {"capout.credits"} and first.health == {"capx.co_1"} and first.replaced == {"agents"}
    assert [e.id for e in first.events] == ["2", "3", "4", "5"]  # the newest four
    assert first.dropped_events == 2 + 2
    ids_only = ChangeBatch()
    ids_only.absorb(later, max_events=0)  # a holder that never shows events keeps none and counts none dropped
    assert ids_only.kinds == later.kinds and ids_only.events == [] and ids_only.dropped_events == 0
    crowded = ChangeBatch(kinds={"documents": {f"d{n}" for n in range(8)}})
    crowded.absorb(ChangeBatch(kinds={"documents": {f"x{n}" for n in range(8)}}), max_ids=10)
    assert "documents" not in crowded.kinds and crowded.replaced == {"documents"}


def test_the_hub_says_which_services_are_on_from_the_config_alone():
    from tui.config import Config
    from tui.live.hub import LiveHub

    config = Config(capx={"api_key": "capx_test"}, read_only=True)
    for hub in (LiveHub(config, VENDORS),):  # (the PendingHub it had beside it is gone: the LiveHub is as cheap)
        assert hub.is_on("capx") and not hub.is_on("capout") and not hub.is_on("casmo")
        assert not hub.is_on("captain") and not hub.is_on("nothing")
