"""`capwatch collect`: team mode's one process. Headless, it holds what should exist once per team: every vendor
connection (the LiveHub with every integration that is on, each with its request budget), the webhook receiver
(the one URL the vendors send to), and writes everything the live layer handles to the history database
(`history = "postgresql://..."` for a team; SQLite works too), which monitors follow with `--source`.

It logs to stderr, one line per notable thing: its start, each channel's change of state (with the error), the
history writer losing or regaining its database (the history's own two lines: tui/history/core.py), a summary every
SUMMARY_INTERVAL, its stop. It writes a snapshot of its Store into the history at its start, after each vendor
resync and periodically (tui/history/snapshot.py), so that a monitor joining late reads that and the rows after it.
SIGTERM, SIGINT and SIGHUP stop it cleanly: the channels end, then the history writes what it still holds (at most
CLOSE_TIMEOUT while the database is away). `--metrics HOST:PORT` serves Prometheus metrics (tui/metrics.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time

log = logging.getLogger("capwatch.collect")

SUMMARY_INTERVAL = 60.0  # seconds between summary lines
CLOSE_TIMEOUT = 10.0  # seconds the history may take to write what it holds at the stop


def run_collect(args: argparse.Namespace) -> int:
    from tui.config import load_config
    from tui.history.recording import open_history

    # capwatch's own lines at INFO; the libraries' (httpx logs every request at INFO) only when they warn.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s capwatch collect: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z")
    logging.getLogger("capwatch").setLevel(logging.INFO)
    loaded = load_config(args)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    if loaded.config.source:
        print("capwatch: collect writes the history; --source (CAPWATCH_SOURCE) is for the monitors that follow it",
              file=sys.stderr)
        return 2
    history = open_history(loaded.config)
    if history is None:
        print("capwatch: collect needs a history to write (history is off): set history = \"postgresql://...\" "
              "(CAPWATCH_HISTORY, --history)", file=sys.stderr)
        return 2
    from tui import vendors
    from tui.live.hub import LiveHub

    hub = LiveHub(loaded.config, vendors.VENDORS, recorder=history.append)
    if not hub.integrations():
        print("capwatch: collect has no vendor to watch: give it at least one API key", file=sys.stderr)
        return 2
    try:
        return asyncio.run(collect(hub, history, metrics=getattr(args, "metrics", None)))
    except KeyboardInterrupt:
        return 0


async def collect(hub, history, *, metrics: tuple[str, int] | None = None, stop: asyncio.Event | None = None,
                  snapshots=None) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set), then stop cleanly, the history written. `snapshots`: when to
    write a snapshot (tui/history/snapshot.py `SnapshotSchedule`; its defaults when None)."""
    from tui.history.snapshot import SnapshotSchedule, capture
    from tui.history.source import HEARTBEAT, HEARTBEAT_INTERVAL, started_event
    from tui.metrics import states_text

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal it ran in closed
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    server = None
    if metrics is not None:
        from tui.metrics import MetricsServer

        server = MetricsServer(hub.store, history=history, loop=loop)
        try:
            host, port = server.start(*metrics)
        except OSError as error:
            log.error("cannot serve metrics on %s:%s: %s", metrics[0], metrics[1], error)
            return 2
        log.info("metrics on http://%s:%s/metrics", host, port)
    services = [integration.name for integration in hub.integrations()]
    log.info("history %s; watching %s", history.describe(), ", ".join(services))
    host = socket.gethostname()
    resyncs = count_resyncs(hub.store)
    hub.store.apply(started_event(services, host=host, pid=os.getpid(),
                                  metrics=None if metrics is None else f"{metrics[0]}:{metrics[1]}"), "app")
    hub.store.set_figure(HEARTBEAT, {"host": host, "pid": os.getpid(), "at": time.time()})  # from the first moment
    snapshots = snapshots or SnapshotSchedule()

    def snapshot_if_due() -> None:
        now, rows = time.monotonic(), history.status()["appended"]
        if snapshots.due(now, rows, resyncs[0]):
            history.snapshot(capture(hub.store, services=services, host=host, pid=os.getpid()))
            snapshots.taken(now, rows, resyncs[0])

    snapshot_if_due()  # the first: followers start from here, not from the rows before
    feed = hub.store.subscribe(max_events=0)
    states = {name: (health.state, health.last_error) for name, health in hub.store.health.items()}
    await hub.start()
    if hub.receiver is not None:
        log.info("webhooks on %s:%s", hub.config.webhooks.host, hub.receiver.port)
    next_summary = time.monotonic() + SUMMARY_INTERVAL
    next_beat = time.monotonic() + HEARTBEAT_INTERVAL
    events_before = 0
    try:
        while not stop.is_set():
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter}, timeout=1.0)
            waiter.cancel()
            if time.monotonic() >= next_beat:  # followers tell a silent collector by this (tui/history/source.py)
                next_beat = time.monotonic() + HEARTBEAT_INTERVAL
                hub.store.set_figure(HEARTBEAT, {"host": host, "pid": os.getpid(), "at": time.time()})
            batch = feed.take()
            for name in sorted(batch.health if batch else ()):
                health = hub.store.health.get(name)
                if health is not None and states.get(name) != (health.state, health.last_error):
                    states[name] = (health.state, health.last_error)
                    error = f": {health.last_error}" if health.last_error and health.state.value != "live" else ""
                    log.info("channel %s %s%s", name, health.state.value, error)
            snapshot_if_due()
            if time.monotonic() >= next_summary:
                next_summary += SUMMARY_INTERVAL
                events = sum(sum(by_type.values()) for by_type in hub.store.counts.values())
                status = history.status()
                log.info("%d events in %.0f s; history written %d, pending %d, dropped %d; channels %s",
                         events - events_before, SUMMARY_INTERVAL, status["written"], status["pending"],
                         status["dropped"], states_text(hub.store))
                events_before = events
    finally:
        feed.close()
        log.info("stopping")
        await hub.stop()
        if server is not None:
            server.stop()
        await history.close(timeout=CLOSE_TIMEOUT)
        status = history.status()
        log.info("stopped: history written %d, dropped %d", status["written"], status["dropped"])
    return 0


def count_resyncs(store) -> list[int]:
    """Count the rows the Store records from resyncs (a one-item list the recorder adds to): the snapshot schedule
    writes one once a resync has settled."""
    counter = [0]
    record = store.recorder

    def recorder(event, origin: str) -> None:
        if origin == "resync":
            counter[0] += 1
        record(event, origin)

    if record is not None:
        store.recorder = recorder
    return counter
