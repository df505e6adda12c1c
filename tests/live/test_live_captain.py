"""Captain through the live layer: the poller fills the Store with what the simulator has, an indexing job
started from the hub is polled to completion and its files appear, and a query answers from them."""

from __future__ import annotations

import argparse
import asyncio
import os

import httpx

from tests.helpers.waiting import eventually
from tui.config import load_config
from tui.live.events import ChannelState
from tui.live.hub import LiveHub
from tui.vendors import VENDORS


def captain_only(sim, **extra_env) -> LiveHub:
    env = {k: v for k, v in sim.options.client_env().items() if k.startswith("CAPTAIN")} | extra_env
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile=None)
    return LiveHub(load_config(args, env=env).config, VENDORS)


async def test_databases_files_jobs_and_query_follow_the_simulator(sim):
    hub = captain_only(sim)
    await hub.start()
    try:
        store = hub.store
        await eventually(lambda: store.health["captain.databases"].state is ChannelState.LIVE and store.rows("files"))
        state = httpx.get(f"{sim.root}/_admin/state").json()["captain"]
        assert set(store.rows("databases")) == set(state["databases"])
        database = sorted(store.rows("databases"))[0]

        captain = hub.vendor("captain")
        job = await captain.index("s3", database, "acme-docs", aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                                  aws_secret_access_key="wJalrXUtnFEMI/K7MDENG", bucket_region="us-east-1")
        await eventually(lambda: (store.get("indexing_jobs", job.job_id) or {}).get("done"), timeout=30)
        row = store.get("indexing_jobs", job.job_id)
        assert row["status"] == "completed" and row["progress"] == 1.0
        assert row["indexed_files"] + row["failed_files"] == row["total_files"]
        # Bucket indexing replaced the database's files; the Store was refreshed when the job finished.
        await eventually(lambda: {r["file_name"] for r in store.rows("files").values()
                                  if r["database_name"] == database}
                         == {f["file_name"] for f in httpx.get(f"{sim.root}/_admin/state").json()["captain"]["files"][database]})
        answer = await captain.query("what do these documents say?", database)
        assert answer.status == "success" and answer.database_name == database
        assert any(e.type == "indexing.completed" and e.id == job.job_id for e in store.timeline)
    finally:
        await hub.stop()


async def test_read_only_hub_refuses_captain_mutations_but_queries(sim):
    hub = captain_only(sim, CAPWATCH_READ_ONLY="1")
    assert hub.read_only
    from tui.api import ReadOnlyError

    before = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    captain = hub.vendor("captain")
    for call in (captain.create_database("x_db"), captain.delete_database("x_db"), captain.delete_file("x_db", "f")):
        try:
            await call
        except ReadOnlyError:
            pass
        else:
            raise AssertionError("a mutation went through in read-only mode")
    after = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    assert {k: v for k, v in after.items() if "create" in k or "delete" in k} == \
           {k: v for k, v in before.items() if "create" in k or "delete" in k}
    await hub.stop()


def test_an_indexing_job_id_with_control_characters_is_not_followed():
    from tui.vendors.captain.live import CaptainJobs
    from tui.live.store import Store

    store = Store()
    jobs = CaptainJobs(client=None, store=store, databases=None)
    jobs.track_job("job_\x1b[2Jevil", "alpha", "s3://bucket")
    jobs.track_job("job_fine", "alpha", "s3://bucket")
    assert list(store.rows("indexing_jobs")) == ["job_fine"]
    assert "control characters" in store.health["captain.jobs"].last_error
    assert "\x1b" not in store.health["captain.jobs"].last_error


async def test_a_refused_key_fails_every_captain_channel_with_the_reason(sim):
    """Before: captain.databases went `failed` on its 401, and captain.jobs, with no job to poll, stayed `live`
    for ever. A key the server refuses is refused for every channel that uses it: each one fails at once, saying
    why, and none of them polls again. Another vendor on the same server (the simulator serves all four) has a
    key of its own and stays live."""
    capx = {k: v for k, v in sim.options.client_env().items() if k.startswith("CAPX")}
    hub = captain_only(sim, CAPTAIN_API_KEY="cap_dev_refused", **capx)
    await hub.start()
    try:
        captain = [name for name in hub.store.health if name.startswith("captain.")]
        assert sorted(captain) == ["captain.databases", "captain.jobs"]
        await eventually(lambda: all(hub.store.health[name].state is ChannelState.FAILED for name in captain),
                         timeout=10, message=lambda: {n: hub.store.health[n].state.value for n in captain})
        for name in captain:
            assert "401" in hub.store.health[name].last_error, hub.store.health[name].last_error
        requests = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
        await asyncio.sleep(2.5)  # a failed channel polls no more: nothing to wait for, a span to look at
        later = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
        captain_requests = {k: v for k, v in requests.items() if "captain" in k}
        assert {k: v for k, v in later.items() if "captain" in k} == captain_requests
        assert hub.store.health["capx.companies"].state is ChannelState.LIVE
    finally:
        await hub.stop()
