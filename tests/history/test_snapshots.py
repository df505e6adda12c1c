"""Snapshots: a monitor joining a collector late reads its newest snapshot and the rows after it (and the newest
timeline events before it, as many as its timeline holds), not every row since the collector started, and shows
what a monitor that followed from the start shows. On SQLite and on a real PostgreSQL, with the collector's own code
(`collect`) running the live layer on the simulator."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.collector import source_config
from tests.helpers.hubs import make_hub
from tests.helpers.simulator import admin
from tests.helpers.waiting import eventually
from tui.collect import collect
from tui.history import History
from tui.history.snapshot import SNAPSHOT_GAP, SNAPSHOT_INTERVAL, SNAPSHOT_ROWS, SnapshotSchedule, capture, restore
from tui.history.source import SOURCE, SOURCE_PART, SourceHub
from tui.live.events import APP_SERVICE, ChannelState, Event
from tui.live.store import Store
from tui.vendors import VENDORS, kinds

TIMELINE = 100  # the followers' timeline: what a late one reads from before its snapshot, at most
JOIN_AFTER = 2000  # rows in the history before the late follower joins


def follower(where: str) -> SourceHub:
    store = Store(timeline_size=TIMELINE, kinds=kinds().values())
    return SourceHub(source_config(where), VENDORS, store=store)


def picture(hub: SourceHub) -> dict:
    """What a follower shows, less its own `source` light and what it said of it."""
    store = hub.store

    def own(event: Event) -> bool:
        return event.service == APP_SERVICE and event.id == SOURCE

    return {
        "entities": {kind: rows for kind, rows in store.entities.items() if rows},
        "figures": store.figures,
        "complete": sorted(part for part in store.complete if part != SOURCE_PART),
        "health": {name: (h.service, h.state, h.last_error, h.reconnects) for name, h in store.health.items()
                   if name != SOURCE},
        "counts": store.counts,
        "timeline": [(e.time, e.service, e.type, e.id, e.data) for e in store.timeline if not own(e)],
    }


@pytest.mark.slow
async def test_a_follower_joining_late_reads_the_snapshot_and_the_tail_and_shows_what_an_early_one_shows(
        where, sim_factory):
    running = sim_factory(rate=100.0, capx_rate_limit=100_000)
    history = History(where)
    hub = make_hub(running.options.client_env())
    hub.store.recorder = history.append
    stop = asyncio.Event()
    # A snapshot every 500 rows (the schedule's real figures are tested below): several before the late one joins.
    collecting = asyncio.create_task(collect(hub, history, stop=stop,
                                             snapshots=SnapshotSchedule(rows=500, gap=0.0)))
    reader = History(where)
    early, late = follower(where), follower(where)
    changed_at: dict[tuple[str, str], int] = {}  # (kind, id) -> the seq of the last row that changed it
    early.on_record = lambda record: record.event.kind and changed_at.__setitem__(
        (record.event.kind, record.event.id), record.seq)
    try:
        await eventually(lambda: history.snapshots_written >= 1, timeout=30, message="no snapshot at the start")
        await early.start()
        await eventually(lambda: early.store.health[SOURCE].state is ChannelState.LIVE, timeout=30)
        joined_early_at = early.snapshot_seq
        await eventually(lambda: history.last_seq > JOIN_AFTER and history.snapshots_written >= 3, timeout=90,
                         message=lambda: f"{history.last_seq} rows, {history.snapshots_written} snapshots")
        await late.start()
        await eventually(lambda: late.store.health[SOURCE].state is ChannelState.LIVE, timeout=30)
        await admin(running.root, "POST", "pause")
        stop.set()
        assert await asyncio.wait_for(collecting, 60) == 0
        last = await reader.last_seq_committed()
        await eventually(lambda: early.cursor == last and late.cursor == last, timeout=30,
                         message=lambda: f"followers at {early.cursor} and {late.cursor} of {last}")
        early_sees, late_sees = picture(early), picture(late)
    finally:
        stop.set()
        await asyncio.gather(collecting, return_exceptions=True)
        for hub_ in (early, late):
            await hub_.stop()
        await reader.close()

    # The late one started from a snapshot taken well after the start, and read that, the newest timeline rows before
    # it (one look for the collector's start, then as many as its timeline holds) and the rows after it: nothing else.
    assert joined_early_at is not None and late.snapshot_seq is not None
    assert late.snapshot_seq - joined_early_at > JOIN_AFTER // 2, (joined_early_at, late.snapshot_seq)
    assert late.recalled <= TIMELINE
    assert late.applied == last - late.snapshot_seq
    assert late.history.records_read == 1 + late.recalled + late.applied
    assert late.history.records_read < (late.snapshot_seq - joined_early_at) / 2
    assert early.history.records_read >= last - joined_early_at
    # Among them, entities that last changed before it joined: it never read a row of theirs, and has them as they are.
    before = [(kind, entity_id) for (kind, entity_id), seq in changed_at.items()
              if seq <= late.snapshot_seq and entity_id in early.store.rows(kind)]
    # Finished documents and tasks and indexed files never change again: some are always among them. (Companies,
    # databases and agents usually are too, but a relisting, a databases poll or a heartbeat after the snapshot
    # changes every one of them: on a loaded machine the late follower's catching up takes long enough for that.)
    assert {"documents", "tasks", "files"} <= {kind for kind, _ in before}, before
    for kind, entity_id in before:
        assert late.store.get(kind, entity_id) == early.store.get(kind, entity_id), (kind, entity_id)
    # And it shows what the early one shows: every entity, figure, light, part and count, and the same newest events.
    for part in ("entities", "figures", "complete", "health", "counts"):
        assert late_sees[part] == early_sees[part], part
    assert late_sees["entities"]["tasks"] and late_sees["health"]["capx.companies"][1] is ChannelState.LIVE
    shown = min(len(early_sees["timeline"]), len(late_sees["timeline"]))
    assert shown >= TIMELINE - 5
    assert late_sees["timeline"][-shown:] == early_sees["timeline"][-shown:]


async def test_a_snapshot_is_written_with_the_rows_before_it_and_read_back_whole(where):
    """Its seq is the newest row's when it was queued, whatever comes after; the newest three are kept."""
    store = Store(kinds=kinds().values(), max_finished=2)
    history = History(where, secrets=["capx_sk_" + "s3cr3t" * 4])
    store.recorder = history.append
    for n in range(4):  # finished in this order: t0 is dropped by the bound, t1 goes first next
        store.upsert("tasks", f"t{n}", {"status": "completed", "n": n})
    store.upsert("tasks", "open", {"status": "open", "note": "capx_sk_" + "s3cr3t" * 4})
    store.set_figure("capx.credits", {"remaining": 42})
    store.set_state("capx.companies", ChannelState.RECONNECTING, "boom")
    store.mark_complete("capx.companies")
    await history.flush(timeout=30)
    queued_after = history.last_seq
    for _ in range(4):
        history.snapshot(capture(store, services=["capx"], host="h", pid=1))
    store.upsert("tasks", "later", {"status": "open"})  # after the snapshot: in the tail, not in it
    await history.flush(timeout=30)
    await eventually(lambda: history.snapshots_written == 4)
    snapshot = await history.latest_snapshot()
    assert snapshot is not None and snapshot.seq == queued_after
    state = snapshot.state
    assert list(state["entities"]["tasks"]) == ["open", "t2", "t3"]  # the finished ones last, in their order
    assert state["entities"]["tasks"]["open"]["note"] == "••••cr3t"  # masked as in rows
    assert state["figures"] == {"capx.credits": {"remaining": 42}} and "capx.companies" in state["complete"]
    assert state["health"]["capx.companies"]["state"] == "reconnecting"
    assert state["health"]["capx.companies"]["last_error"] == "boom"
    assert state["services"] == ["capx"]
    backend = history._read_backend()
    if where.startswith("postgresql"):
        kept = await backend._run(lambda c: c.fetchval("SELECT count(*) FROM capwatch_snapshots"))
    else:
        kept = await backend._call(lambda c: c.execute("SELECT count(*) FROM capwatch_snapshots").fetchone()[0])
    assert kept == 3
    # Restored into an empty Store with the same bound, the next finished task drops what the original drops.
    copy = Store(kinds=kinds().values(), max_finished=2)
    restore(copy, state)
    for each in (store, copy):
        each.upsert("tasks", "t9", {"status": "completed"})
    assert sorted(copy.rows("tasks")) == ["open", "t3", "t9"]
    assert sorted(store.rows("tasks")) == ["later", "open", "t3", "t9"]
    assert copy.health["capx.companies"].state is ChannelState.RECONNECTING
    assert copy.health["capx.companies"].reconnects == store.health["capx.companies"].reconnects == 1
    await history.close()


def test_the_schedule_at_its_real_figures():
    """At the start; after a resync has settled (not while it goes on), at most one per SNAPSHOT_GAP; else every
    SNAPSHOT_INTERVAL while rows come, or after SNAPSHOT_ROWS rows; never when nothing was recorded since."""
    schedule = SnapshotSchedule()
    assert schedule.due(0.0, 10, 0)
    schedule.taken(0.0, 10, 0)
    assert not schedule.due(1.0, 11, 0)  # rows, but no resync, no interval, not enough rows
    assert not schedule.due(SNAPSHOT_GAP + 1, 500, 40)  # a resync under way: 40 rows since the last check
    assert not schedule.due(SNAPSHOT_GAP + 2, 900, 80)  # still under way
    assert schedule.due(SNAPSHOT_GAP + 3, 900, 80)  # settled
    schedule.taken(SNAPSHOT_GAP + 3, 900, 80)
    assert not schedule.due(SNAPSHOT_GAP + 5, 950, 80)  # the resync was in the last one
    assert not schedule.due(SNAPSHOT_GAP + 4 + SNAPSHOT_GAP, 900 + SNAPSHOT_ROWS - 1, 80)
    assert schedule.due(SNAPSHOT_GAP + 4 + SNAPSHOT_GAP, 900 + SNAPSHOT_ROWS, 80)  # enough rows
    schedule.taken(100.0, 900 + SNAPSHOT_ROWS, 80)
    assert not schedule.due(100.0 + SNAPSHOT_INTERVAL - 1, 901 + SNAPSHOT_ROWS, 80)
    assert schedule.due(100.0 + SNAPSHOT_INTERVAL, 901 + SNAPSHOT_ROWS, 80)  # the interval
    schedule.taken(100.0 + SNAPSHOT_INTERVAL, 901 + SNAPSHOT_ROWS, 80)
    assert not schedule.due(100.0 + 10 * SNAPSHOT_INTERVAL, 901 + SNAPSHOT_ROWS, 80)  # nothing new: none
    # A resync that settles within the gap waits for it.
    schedule.taken(1000.0, 0, 0)
    assert not schedule.due(1001.0, 5, 3) and not schedule.due(1002.0, 5, 3)
    assert schedule.due(1000.0 + SNAPSHOT_GAP, 5, 3)


def test_a_follower_restored_from_a_snapshot_knows_a_fleet_from_the_channels_carrying_a_service():
    """A Capx stream per company is one of a fleet (tui/live/currency.py): a follower that joins late, from the
    snapshot, says "3 of 20 company streams not live", as the collector would, not "capx down"."""
    from tests.live.test_currency import capx_fleet
    from tui.live.currency import outages

    store = Store(kinds=kinds().values())
    streams = capx_fleet(store, 20)
    for name in streams[:3]:
        store.set_state(name, ChannelState.RECONNECTING, "activity stream ended")
    copy = Store(kinds=kinds().values())
    restore(copy, capture(store, services=["capx"], host="h", pid=1))
    capx = outages(copy.health.values())["capx"]
    assert not capx.down and [(gap.not_live, gap.members) for gap in capx.gaps] == [(3, 20)]
    assert outages(copy.health.values()) == outages(store.health.values())
