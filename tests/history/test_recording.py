"""The live layer records every change its Store makes (tui/live/recording.py), and feeding the recorded rows to an
empty Store (tui/history/feed.py) rebuilds it: a demo session against the simulator, replayed, gives the same
entities of every kind, the same figures, timeline and channel states."""

from __future__ import annotations

import argparse
import os

from tests.helpers.waiting import eventually
from tui.history import History, Query
from tui.history.feed import apply_records
from tui.live import recording
from tui.live.events import Event
from tui.live.store import Store
from tui.sim.server import free_port
from tui.vendors import VENDORS


def demo_hub(sim_factory, recorder):
    from tui.config import load_config
    from tui.live.hub import LiveHub

    webhook_port = free_port()
    sim = sim_factory(rate=40.0, webhook_url=f"http://127.0.0.1:{webhook_port}")
    env = {**sim.options.client_env(), "CAPWATCH_WEBHOOK_PORT": str(webhook_port)}
    namespace = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                                   webhook_port=None, profile="demo")
    return LiveHub(load_config(namespace, env=env).config, VENDORS, recorder=recorder)


def empty_store(live: Store) -> Store:
    return Store(timeline_size=live.timeline.maxlen, max_finished=live.max_finished,
                 kinds=[kind for vendor in VENDORS for kind in vendor.kinds])


def entities(store: Store) -> dict:
    return {kind: rows for kind, rows in store.entities.items() if rows}


async def test_a_recorded_demo_session_replays_into_the_same_store(sim_factory, tmp_path):
    history = History(str(tmp_path / "history.sqlite3"))
    origins: set[str] = set()

    def record(event: Event, origin: str) -> None:
        origins.add(origin)
        history.append(event, origin)

    hub = demo_hub(sim_factory, record)
    store = hub.store
    await hub.start()
    try:
        await eventually(lambda: {"stream", "webhook", "poll", "resync", "figure", "app"} <= origins
                         and len(store.rows("documents")) >= 3 and len(store.rows("tasks")) >= 3
                         and store.rows("files") and store.figures.get("capout.credits"), timeout=60,
                         message=lambda: f"origins {sorted(origins)}, kinds {sorted(entities(store))}")
        # an action and its outcome: a task approved (or rejected) by the operator
        waiting = next((task_id for task_id, row in store.rows("tasks").items()
                        if row.get("status") == "awaiting_approval"), None)
        await eventually(lambda: waiting or any(r.get("status") == "awaiting_approval"
                                                for r in store.rows("tasks").values()), timeout=60)
        waiting = waiting or next(task_id for task_id, row in store.rows("tasks").items()
                                  if row.get("status") == "awaiting_approval")
        await hub.vendor("capx").decide_task(waiting, True)
    finally:
        await hub.stop()
    assert "action" in origins
    await history.flush(timeout=30)
    records = sorted(await history.query(Query()), key=lambda r: r.seq)  # replay goes in commit order
    await history.close()

    replayed = empty_store(store)
    assert apply_records(replayed, records) == len(records) == history.status()["written"]
    assert set(entities(replayed)) >= {"documents", "tasks", "agents", "companies", "databases", "files"}
    assert entities(replayed) == entities(store)
    assert replayed.figures == store.figures
    assert replayed.complete.keys() == store.complete.keys()
    key = lambda event: (event.time, event.service, event.type, event.id, event.data)  # noqa: E731
    assert [key(e) for e in replayed.timeline] == [key(e) for e in store.timeline]
    assert replayed.counts == store.counts
    assert {name: (h.state, h.last_error) for name, h in replayed.health.items()} == \
        {name: (h.state, h.last_error) for name, h in store.health.items() if h.state.value != "off"}
    # the state rows are not on the timeline; every origin is one the history knows
    assert not any(e.type in recording.STATE_TYPES for e in replayed.timeline)
    assert {r.origin for r in records} <= set(recording.ORIGINS)
    assert any(r.origin == "action" and r.event.id == waiting for r in records)


def test_the_store_tells_its_recorder_each_change_once_and_not_what_follows_from_others():
    calls: list[tuple[str, str, str]] = []
    store = Store(max_finished=2, kinds=[kind for vendor in VENDORS for kind in vendor.kinds])
    store.kind_services["tasks"] = "capx"
    store.recorder = lambda event, origin: calls.append((event.type, event.id, origin))
    store.upsert("tasks", "t1", {"status": "completed"})
    store.upsert("tasks", "t1", {"status": "completed"})  # no change: nothing told
    store.upsert("tasks", "t2", {"status": "completed"}, "action")
    store.upsert("tasks", "t3", {"status": "completed"})  # t1 evicted for the bound: replay evicts it again
    store.replace("tasks", {"t3": {"status": "completed"}, "t4": {"status": "running"}})
    store.set_figure("capx.credits", {"remaining": 5})
    store.set_figure("capx.credits", {"remaining": 5})
    store.mark_complete("capx.tasks")
    store.mark_complete("capx.tasks")
    store.set_state("capx.companies", "live")
    assert calls == [
        ("entity.updated", "t1", "poll"), ("entity.updated", "t2", "action"), ("entity.updated", "t3", "poll"),
        ("entity.removed", "t2", "resync"), ("entity.updated", "t4", "resync"),
        ("figure", "capx.credits", "figure"), ("snapshot.complete", "capx.tasks", "app"),
        ("channel.live", "capx.companies", "app"),
    ]
