"""`capwatch collect`: the team's one set of vendor connections, written to the history; its log lines, its clean
stop on SIGTERM, its Prometheus metrics (bounded labels for a fleet of 1,000 companies); `status --source`."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import sys
from collections import Counter

import httpx
import pytest

from tests.helpers.collector import CollectorProcess, child_env, source_config
from tests.helpers.hubs import make_hub
from tests.helpers.postgres import free_port
from tests.helpers.simproc import SimProcess
from tests.helpers.simulator import admin
from tests.helpers.waiting import eventually
from tui.collect import collect
from tui.headless import status
from tui.history import History, Query
from tui.history.source import STARTED, SourceHub
from tui.live.events import ChannelState, Event
from tui.live.store import Store
from tui.metrics import MetricsServer, parse_address
from tui.sim.core import Faults
from tui.vendors import VENDORS, kinds


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    reply.raise_for_status()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(reply.text) for sample in family.samples}


def fleet_store(companies: int) -> Store:
    """A Capx fleet: every company with an activity channel, agents (some in error), tasks, costs."""
    store = Store(kinds=kinds().values())
    for n in range(companies):
        company = f"co_{n}"
        store.channel(f"capx.activity.{company}", "capx")
        store.set_state(f"capx.activity.{company}", ChannelState.RECONNECTING if n % 100 == 0 else ChannelState.LIVE)
        store.upsert("agents", f"ag_{n}", {"status": "error" if n % 10 == 0 else "running", "company_id": company})
        store.upsert("tasks", f"tk_{n}", {"status": "awaiting_approval" if n % 4 == 0 else "completed"})
        store.upsert("costs", company, {"total_usd": 10.0 * (n % 3), "threshold_usd": 15.0})
        store.apply(Event(time=1.0, service="capx", type="agent.heartbeat", id=f"ag_{n}", data={}))
    for n in range(50):  # a hostile server's statuses: each new, each a label value unless bounded
        store.upsert("documents", f"d{n}", {"status": f"weird-{n}\x1b[31m"})
    store.set_figure("capout.credits", {"credits_remaining": 900, "burn_rate_per_hour": 12.5})
    store.set_figure("capx.credits", {"remaining": 42})
    store.channel("webhooks", "webhooks").counters.update(accepted=7, refused=2)
    return store


async def test_metrics_read_the_store_at_scrape_time_with_labels_bounded_for_a_fleet_of_1000():
    store = fleet_store(1000)
    server = MetricsServer(store, loop=asyncio.get_running_loop())
    _host, port = server.start("127.0.0.1", 0)
    try:
        samples = await asyncio.to_thread(scrape, port)
    finally:
        server.stop()
    value = lambda name, **labels: samples[(name, tuple(sorted(labels.items())))]  # noqa: E731
    assert value("capwatch_tasks_awaiting_approval") == 250
    assert value("capwatch_agents_in_error") == 100
    assert value("capwatch_credits_remaining", service="capout") == 900
    assert value("capwatch_credits_remaining", service="capx") == 42
    assert value("capwatch_credits_burn_rate_per_hour", service="capout") == 12.5
    assert value("capwatch_costs_over_threshold") == 333  # 20 of 15 for every third company
    assert value("capwatch_costs_threshold_ratio_max") == pytest.approx(20 / 15)
    assert value("capwatch_channels", service="capx", state="live") == 990
    assert value("capwatch_channels", service="capx", state="reconnecting") == 10
    assert value("capwatch_events_total", service="capx") == 1000
    assert value("capwatch_webhook_deliveries_total", result="accepted") == 7
    assert value("capwatch_webhook_deliveries_total", result="refused") == 2
    assert value("capwatch_entities", kind="documents", status="other") == 30  # 20 statuses kept, 30 summed
    labels = {v for _name, pairs in samples for _k, v in pairs}
    assert not any(v.startswith(("co_", "ag_", "tk_", "capx.activity")) for v in labels), "a per-entity label"
    assert not any("\x1b" in v for v in labels)
    assert len(samples) < 100, f"{len(samples)} series for a fleet of 1,000"


def test_metrics_address_forms():
    assert parse_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_address("[::1]:9464") == ("::1", 9464)
    assert parse_address(":9464") == ("0.0.0.0", 9464)
    with pytest.raises(ValueError):
        parse_address("9464x")


@pytest.mark.slow
async def test_collect_writes_everything_logs_serves_metrics_and_stops_cleanly_on_sigterm(tmp_path):
    history_path = tmp_path / "team.sqlite3"
    webhook_port, metrics_port = free_port(), free_port()
    with SimProcess(seed=23, rate=20, extra=["--webhook-url", f"http://127.0.0.1:{webhook_port}"]) as sim:
        collector = CollectorProcess(sim.client_env(), history=str(history_path), webhook_port=webhook_port,
                                     metrics=f"127.0.0.1:{metrics_port}").start()
        try:
            await eventually(lambda: "webhooks on" in collector.stderr(), timeout=30,
                             message=lambda: collector.stderr()[-2000:])

            def delivered() -> bool:
                samples = scrape(metrics_port)
                return samples.get(("capwatch_webhook_deliveries_total", (("result", "accepted"),)), 0) > 0 and \
                    samples.get(("capwatch_events_total", (("service", "capx"),)), 0) > 0

            await eventually(lambda: delivered(), timeout=60, message="no webhook delivery or Capx event counted")
            await eventually(lambda: "channel capx.companies live" in collector.stderr(), timeout=30,
                             message=lambda: collector.stderr()[-2000:])
            assert collector.terminate() == 0
            log = collector.stderr()
        finally:
            collector.close()
    lines = log.splitlines()
    assert any("channel capx.companies live" in line for line in lines), log[-3000:]
    assert any(line.endswith(("stopping",)) for line in lines) and "stopped: history written" in log
    assert "capx_sk_" not in log and "whsec" not in log  # no key or secret in the log
    assert "HTTP Request" not in log  # one line per notable thing, not one per request (httpx's INFO lines)
    written = int(log.rsplit("stopped: history written ", 1)[1].split(",")[0])
    history = History(str(history_path))
    try:
        assert await history.count() == written > 0  # everything it took was written before it exited
        started = await history.query(Query(type_glob=STARTED))
        assert len(started) == 1 and started[0].event.data["services"] == ["capout", "captain", "capx", "casmo"]
    finally:
        await history.close()


@pytest.mark.slow
async def test_status_from_the_source_reads_the_collectors_picture_with_no_vendor_connection(postgres_url):
    webhook_port = free_port()
    with SimProcess(seed=23, rate=5, extra=["--webhook-url", f"http://127.0.0.1:{webhook_port}"]) as sim:
        collector = CollectorProcess(sim.client_env(), history=postgres_url, webhook_port=webhook_port).start()
        try:
            await eventually(lambda: "channel capx.companies live" in collector.stderr(), timeout=30,
                             message=lambda: collector.stderr()[-2000:])
            # No key at all: only the database.
            result = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "tui", "status", "--source", postgres_url, "--json",
                                 "--wait", "30"], capture_output=True, text=True, timeout=60,
                env=child_env({}, CAPWATCH_HISTORY="off"))
        finally:
            collector.close()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    snapshot = json.loads(result.stdout)
    assert snapshot["health"]["source"]["state"] == "live"
    assert snapshot["health"]["capx.companies"]["state"] == "live"
    assert snapshot["entities"]["companies"]["total"] > 0 and "tasks" in snapshot["entities"]
    assert snapshot["requests"] == {} and snapshot["missing"] == []


async def status_from(where: str, wait: float) -> tuple[int, dict]:
    """`capwatch status --source WHERE --json --wait WAIT`, in this process: its exit code and its JSON."""
    out = io.StringIO()
    code = await status(SourceHub(source_config(where), VENDORS), argparse.Namespace(json=True, wait=wait), out)
    return code, json.loads(out.getvalue())


async def test_status_from_the_source_waits_for_the_collectors_whole_capx_picture(where, sim_factory):
    """As the live `status` does: the companies alone are not Capx's picture; its agents, tasks and costs are, once
    every company listed was read. While one company's tasks cannot be read, `status --source` says what is missing
    (exit 1); once they are, it reports every company's tasks and agents as the simulator has them."""
    running = sim_factory(faults=Faults.parse("first=GET /capx/v1/companies/*/tasks:1000"), capx_rate_limit=100_000)
    await admin(running.root, "POST", "step?vendor=capx&count=500")  # tasks awaiting approval, agents in error
    history = History(where)
    hub = make_hub(running.options.client_env())
    hub.store.recorder = history.append
    stop = asyncio.Event()
    collecting = asyncio.create_task(collect(hub, history, stop=stop))
    try:
        await eventually(lambda: {"capx.companies", "capout.documents", "captain.jobs"} <= set(hub.store.complete),
                         timeout=30, message=lambda: f"the collector's picture: {sorted(hub.store.complete)}")
        await history.flush(timeout=30)
        code, partial = await status_from(where, wait=2)
        assert code == 1 and partial["health"]["capx.companies"]["state"] == "live"
        assert {"capx.agents", "capx.tasks", "capx.costs"} <= set(partial["missing"]), partial["missing"]
        assert not [part for part in partial["missing"] if not part.startswith("capx.")], partial["missing"]
        await admin(running.root, "POST", "faults", Faults().as_dict())
        for channel in hub.vendor("capx").channels.values():  # what a reconnect does: retry the resync now
            channel.want_resync()
        await eventually(lambda: "capx.tasks" in hub.store.complete, timeout=30,
                         message=lambda: f"the collector's picture: {sorted(hub.store.complete)}")
        await history.flush(timeout=30)
        code, whole = await status_from(where, wait=30)
        world = (await admin(running.root, "GET", "state"))["capx"]
    finally:
        stop.set()
        await asyncio.gather(collecting, return_exceptions=True)
    assert code == 0 and whole["missing"] == [] and whole["requests"] == {}
    for kind in ("companies", "agents", "tasks"):
        by_status = dict(sorted(Counter(row["status"] for row in world[kind].values()).items()))
        assert whole["entities"][kind] == {"total": len(world[kind]), "by_status": by_status}, kind
    assert whole["entities"]["tasks"]["by_status"].get("awaiting_approval"), "no task awaiting approval to report"
    assert whole["entities"]["agents"]["by_status"].get("error"), "no agent in error to report"
