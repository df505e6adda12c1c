"""The fleet section of tests/perf/run.py: the monitor on Capx fleets, within a plan's minute.

Each scenario starts `capwatch sim --companies N --plan P` in a child process, runs the whole monitor headless
(CapwatchApp.run_test, 120x40) with its LiveHub in this process (no webhook receiver: the streams are measured, and
the simulator's webhooks would take a core of their own at these rates), holds the first company listing until the
monitor is up and settled, then measures from the moment it is let go:

- streams_s    seconds until every company's activity stream is live and has delivered an event (a company that
               is paused or stopped makes none: live is enough for it); the world is set so that each running
               company makes about one event a second;
- snapshot_s   seconds until every company has its first snapshot: agents, tasks and costs read from REST;
- lag p50/p99  from each Capx event's server timestamp to the frame that shows it, after every stream is live;
- CPU          the process's CPU over that steady window, as a share of one core, and per open stream;
- RSS          growth of the process from the moment the listing is let go to every stream open, per open stream
               (it includes the Store's rows for the fleet and the first resyncs under way: conservative); the
               listing is let go once the monitor is at its steady state (`steady_state`: the timeline and the
               other services' rows at their bounds), as they are after a few minutes of running;
- 429s         answered by the simulator (its journal), in all and after the first minute;
- PoolTimeouts recorded as the reason a Capx channel reconnected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any, Callable

import httpx

PAGE = os.sysconf("SC_PAGE_SIZE")
SIZE = (120, 40)

# (label, companies, simulator flags, world rate, seconds allowed until every stream and snapshot, targets)
SCENARIOS = [
    ("fleet300", 300, ("--plan", "enterprise", "--rate-limit", "600"), 700.0, 200.0),
    ("fleet1000", 1000, ("--plan", "enterprise"), 1500.0, 120.0),
    ("starter40", 40, ("--plan", "starter"), 90.0, 300.0),
]
STEADY = 30.0  # seconds of steady state measured after every stream is live


def rss_kb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 1000


class FrameLag:
    """Lag from a Capx event's server time to the frame that shows it (as tests/perf/run.py's load section)."""

    def __init__(self, app) -> None:
        from textual.app import App

        self.recording = False
        self.pending: list[list] = []
        self.lags: list[float] = []
        take, display = app.feed.take, App._display

        def recorded_take():
            batch = take()
            if batch is not None and self.recording:
                self.pending.append(batch.events)
            return batch

        def recorded_display(screen, renderable) -> None:
            display(app, screen, renderable)
            if renderable is None:
                return
            wall = time.time()
            for events in self.pending:
                self.lags.extend((wall - e.time) * 1000 for e in events if e.service == "capx")
            self.pending.clear()

        app.feed.take = recorded_take
        app._display = recorded_display


class Watch:
    """What the Store saw per company: a stream event, a first snapshot (agents, tasks, costs from REST), and
    why channels reconnected."""

    def __init__(self, store) -> None:
        self.store = store
        self.snapshots: dict[str, set[str]] = {}  # company id -> kinds read from REST
        self.pool_timeouts = 0
        self.reconnect_reasons: dict[str, int] = {}
        replace, upsert, set_state = store.replace, store.upsert, store.set_state

        def recorded_replace(kind, rows, *args, **kwargs):
            for row in rows.values():
                if row.get("company_id"):
                    self.snapshots.setdefault(str(row["company_id"]), set()).add(kind)
            return replace(kind, rows, *args, **kwargs)

        def recorded_upsert(kind, entity_id, fields, *args, **kwargs):  # (the origin: "resync")
            if kind == "costs":
                self.snapshots.setdefault(str(entity_id), set()).add(kind)
            return upsert(kind, entity_id, fields, *args, **kwargs)

        def recorded_set_state(name, state, error=None):
            if error and name.startswith("capx."):
                reason = error.split(":")[1].strip() if error.startswith("capx:") else error[:40]
                if "PoolTimeout" in error:
                    self.pool_timeouts += 1
                    reason = "PoolTimeout"
                self.reconnect_reasons[reason] = self.reconnect_reasons.get(reason, 0) + 1
            return set_state(name, state, error)

        store.replace, store.upsert, store.set_state = recorded_replace, recorded_upsert, recorded_set_state

    def streaming(self, companies: set[str]) -> int:
        """Streams live with an event, or live for a company that is not running (it makes no events)."""
        health, rows = self.store.health, self.store.rows("companies")
        return sum(1 for c in companies if (h := health.get(f"capx.{c}")) is not None and (
            h.events > 0 or h.state.value == "live" and (rows.get(c) or {}).get("status") != "running"))

    def live(self, companies: set[str]) -> int:
        health = self.store.health
        return sum(1 for c in companies if (h := health.get(f"capx.{c}")) is not None and h.state.value == "live")

    def snapshotted(self, companies: set[str]) -> int:
        return sum(1 for c in companies if {"agents", "tasks", "costs"} <= self.snapshots.get(c, set()))


async def steady_state(store, within: float) -> float:
    """Wait (at most `within` seconds) until what fills with time up to a bound is full: the timeline (10,000
    events), and the other services' rows (the simulator's CapOut documents grow to the Store's bound of finished
    rows, 10,000: until the Store's rows stop growing for two seconds). The seconds it took. The fleet is let go
    into a monitor at its steady state, so that the RSS growth per stream is what the fleet adds, not bounds being
    reached meanwhile (at 1,000 companies, 4,900 CapOut documents were added while the streams opened)."""
    began = time.monotonic()
    timeline = store.timeline
    rows, still_since = -1, time.monotonic()
    while time.monotonic() - began < within:
        now_rows = sum(len(kind) for kind in store.entities.values())
        if now_rows > rows:
            rows, still_since = now_rows, time.monotonic()
        if len(timeline) >= (timeline.maxlen or 0) and time.monotonic() - still_since >= 2.0:
            break
        await asyncio.sleep(0.25)
    return time.monotonic() - began


def _statuses(journal: dict[str, Any]) -> int:
    return int(journal["statuses"].get("429", 0))


async def run_scenario(label: str, companies: int, flags: tuple[str, ...], rate: float, allowed: float, *,
                       simulator, child_env, journal, percentile, quick: bool) -> dict[str, Any]:
    from tui.app.app import CapwatchApp
    from tui.config import load_config
    from tui.live.hub import LiveHub
    from tui.vendors import VENDORS
    from tui.vendors.capx.live import CapxCompanies

    steady = STEADY / 3 if quick else STEADY
    extra = ("--companies", str(companies), *flags)
    with simulator(rate, seed=17, extra=extra) as sim:
        state = httpx.get(f"{sim.root}/_admin/state", timeout=30).json()["capx"]
        fleet = set(state["companies"])
        args = argparse.Namespace(config=os.devnull)
        env = {k: v for k, v in child_env(sim.env).items() if k != "CAPX_WEBHOOK_SECRET"}
        config = load_config(args, env=env).config
        start_journal = journal(sim.root)
        hub = LiveHub(config, VENDORS)
        watch = Watch(hub.store)
        app = CapwatchApp(config, hub=hub)
        lag = FrameLag(app)
        figures: dict[str, Any] = {"companies": companies}
        after_minute: dict[str, Any] | None = None
        gate = asyncio.Event()
        poll = CapxCompanies.poll

        async def gated_poll(self):
            await gate.wait()
            return await poll(self)

        CapxCompanies.poll = gated_poll
        async with app.run_test(size=SIZE):
            await asyncio.sleep(3)  # the monitor up, its first frames drawn, every other service connected
            if not label.startswith("starter"):
                figures["steady_s"] = await steady_state(hub.store, 120.0)
            CapxCompanies.poll = poll
            rss_start, began = rss_kb(), time.monotonic()
            gate.set()
            streams_at = snapshot_at = live_at = None
            while time.monotonic() - began < allowed:
                await asyncio.sleep(0.25)
                now = time.monotonic() - began
                if after_minute is None and now >= 60:
                    after_minute = await asyncio.to_thread(journal, sim.root)
                if live_at is None and watch.live(fleet) == len(fleet):
                    live_at = now
                if streams_at is None and watch.streaming(fleet) == len(fleet):
                    streams_at = now
                    figures["rss_kb_per_stream"] = (rss_kb() - rss_start) / len(fleet)
                if snapshot_at is None and watch.snapshotted(fleet) == len(fleet):
                    snapshot_at = now
                if streams_at is not None and snapshot_at is not None and (after_minute or not label.startswith("starter")):
                    break
            figures["streams_s"] = streams_at
            figures["live_s"] = live_at
            figures["snapshot_s"] = snapshot_at
            figures["streaming"] = watch.streaming(fleet)
            figures["snapshotted"] = watch.snapshotted(fleet)
            if "rss_kb_per_stream" not in figures:
                figures["rss_kb_per_stream"] = (rss_kb() - rss_start) / max(1, figures["streaming"])
            lag.recording = True
            cpu_begin, steady_begin = time.process_time(), time.monotonic()
            await asyncio.sleep(steady)
            elapsed = time.monotonic() - steady_begin
            figures["cpu_share"] = (time.process_time() - cpu_begin) / elapsed
            lag.recording = False
            end_journal = await asyncio.to_thread(journal, sim.root)
            app.feed.take = lambda: None
        figures["seconds"] = time.monotonic() - began
    figures["lag_p50_ms"] = percentile(lag.lags, 0.5)
    figures["lag_p99_ms"] = percentile(lag.lags, 0.99)
    figures["lag_events"] = len(lag.lags)
    figures["429"] = _statuses(end_journal) - _statuses(start_journal)
    figures["429_after_minute"] = (_statuses(end_journal) - _statuses(after_minute)) if after_minute else None
    figures["pool_timeouts"] = watch.pool_timeouts
    figures["reconnect_reasons"] = dict(sorted(watch.reconnect_reasons.items(), key=lambda kv: -kv[1])[:4])
    figures["requests"] = sum(v for k, v in end_journal["requests"].items() if "/capx/" in k) - \
        sum(v for k, v in start_journal["requests"].items() if "/capx/" in k)
    return figures


async def bench_fleet(results, quick: bool, *, simulator, child_env, journal, percentile,
                      log: Callable[[str], None], only: set[str] | None = None) -> None:
    for label, companies, flags, rate, allowed in SCENARIOS:
        if only and label not in only:
            continue
        log(f"fleet: {label}: {companies} companies ({' '.join(flags)}), world --rate {rate:g}")
        f = await run_scenario(label, companies, flags, rate, allowed, simulator=simulator, child_env=child_env,
                               journal=journal, percentile=percentile, quick=quick)
        plan = " ".join(flags)
        streams_target = "<= 60" if label.startswith("starter") else "<= 15"
        results.add(f"{label}_streams_s", f["streams_s"], "s", streams_target,
                    note=f"{f['streaming']} of {companies} streams showed events within {f['seconds']:.0f} s, all open "
                         f"(live) at {f['live_s'] if f['live_s'] is None else round(f['live_s'], 1)} s "
                         f"({plan}); {f['pool_timeouts']} PoolTimeouts; reconnects {f['reconnect_reasons']}")
        results.add(f"{label}_snapshot_s", f["snapshot_s"], "s", None,
                    note=f"{f['snapshotted']} of {companies} companies with agents, tasks and costs; "
                         f"{f['requests']} Capx requests in all")
        results.add(f"{label}_429", f["429"], "429s", "<= 5" if label.startswith("starter") else "== 0",
                    note=f"after the first minute: {f['429_after_minute']}")
        if label.startswith("starter"):
            results.add(f"{label}_429_after_1min", f["429_after_minute"], "429s", "== 0")
            continue
        results.add(f"{label}_lag_p50_ms", f["lag_p50_ms"], "ms", "<= 100", note=f"{f['lag_events']:,} Capx events")
        results.add(f"{label}_lag_p99_ms", f["lag_p99_ms"], "ms", "<= 250")
        results.add(f"{label}_rss_kb_stream", f["rss_kb_per_stream"], "KB", "<= 50",
                    note="process RSS growth to every stream open, per stream (includes the fleet's Store rows); "
                         f"from the monitor at its steady state (timeline and rows at their bounds "
                         f"{f['steady_s']:.0f} s after it was up)")
        streams = max(1, f["streaming"])
        results.add(f"{label}_cpu_pct", f["cpu_share"] * 100, "%", None,
                    note=f"of a core in steady state; {f['cpu_share'] * 100 / streams * 100:.2f} % per 100 streams")
