"""`capwatch status` and `capwatch tail`: the same live layer as the monitor, printed for scripts."""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import signal
import sys
import time
from typing import Any, TextIO

from tui.live.events import APP_SERVICE, ChannelState, Event
from tui.text import sanitize

SUMMARY_FIELDS = ("status", "file_name", "filename", "name", "title", "progress")


def run_headless(command: str, args: argparse.Namespace) -> int:
    from tui.config import load_config

    loaded = load_config(args)  # before the live layer is imported: a bad config answers fast
    from tui.live.hub import LiveHub

    for warning in loaded.warnings:
        print(f"capwatch: {warning}", file=sys.stderr)
    runner = status if command == "status" else tail
    try:
        return asyncio.run(runner(LiveHub(loaded.config), args))
    except KeyboardInterrupt:
        return 0


# ------------------------------------------------------------------------------------------- status


async def status(hub, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Gather for up to `--wait` seconds (until every channel is live or failed and the first polls are in),
    print one snapshot, exit 1 if a configured channel failed."""
    await hub.start()
    try:
        deadline = time.monotonic() + max(0.0, args.wait)
        feed = hub.store.subscribe()
        while time.monotonic() < deadline and not _settled(hub):
            await feed.wait(timeout=min(0.25, max(0.01, deadline - time.monotonic())))
            feed.take()
        feed.close()
        snapshot = hub.store.snapshot()
    finally:
        await hub.stop()
    failed = [h for h in hub.store.health.values() if h.state is ChannelState.FAILED]
    if args.json:
        out.write(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_status(snapshot))
    return 1 if failed else 0


def _settled(hub) -> bool:
    states = [h.state for h in hub.store.health.values() if h.service != APP_SERVICE or h.name == "webhooks"]
    pending = any(s in (ChannelState.CONNECTING, ChannelState.RECONNECTING) for s in states)
    figures_due = (hub.capout is not None and "capout.credits" not in hub.store.figures) or (
        hub.capx is not None and "capx.rate_limit" not in hub.store.figures
    )
    return bool(states) and not pending and not figures_due


def format_status(snapshot: dict[str, Any]) -> str:
    lines = ["CHANNELS"]
    for name, health in sorted(snapshot["health"].items()):
        age = health.get("age")
        age_text = "—" if age is None else f"{age:.0f}s"
        error = f"  {health['last_error']}" if health.get("last_error") else ""
        lines.append(f"  {name:<28} {health['state']:<13} last event {age_text:>6}  events {health['events']:>6}  "
                     f"reconnects {health['reconnects']:>3}{error}")
    lines.append("")
    lines.append("ENTITIES")
    for kind, summary in sorted(snapshot["entities"].items()):
        by_status = ", ".join(f"{status} {count}" for status, count in summary["by_status"].items())
        lines.append(f"  {kind:<14} {summary['total']:>6}  {by_status}")
    lines.append("")
    lines.append("FIGURES")
    figures = snapshot["figures"]
    credits = figures.get("capout.credits") or {}
    if credits:
        lines.append(f"  capout credits   {credits.get('credits_remaining')} of {credits.get('credits_total')} remaining")
    capx_credits = figures.get("capx.credits") or {}
    if capx_credits.get("remaining") is not None:
        lines.append(f"  capx credits     {capx_credits['remaining']} remaining")
    rate = figures.get("capx.rate_limit") or {}
    if rate.get("limit") is not None:
        lines.append(f"  capx rate limit  {rate.get('remaining')} of {rate.get('limit')} left this minute")
    return "\n".join(sanitize(line) for line in lines) + "\n"


# ------------------------------------------------------------------------------------------- tail


def event_matches(event: Event, services: set[str] | None, type_pattern: str | None) -> bool:
    if services and event.service not in services:
        return False
    return not type_pattern or fnmatch.fnmatchcase(event.type, type_pattern)


def format_event(event: Event) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time)) + f".{int(event.time * 1000) % 1000:03d}"
    details = []
    if isinstance(event.data, dict):
        for field in SUMMARY_FIELDS:
            value = event.data.get(field)
            if value not in (None, ""):
                details.append(f"{field}={value}")
        if event.service == APP_SERVICE and event.data.get("error"):
            details.append(f"error={event.data['error']}")
    line = f"{stamp} {event.service:<8} {event.type:<26} {event.id or '-':<22} {' '.join(details)}"
    return sanitize(line, single_line=True)


async def tail(hub, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print every event as it arrives until Ctrl-C (SIGINT) or SIGTERM; then stop cleanly."""
    services = set(args.service) if args.service else None
    feed = hub.store.subscribe(max_events=100_000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await hub.start()
    try:
        while not stop.is_set():
            waiter = asyncio.ensure_future(feed.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            batch = feed.take()
            if batch is None:
                continue
            if batch.dropped_events:
                print(f"capwatch: {batch.dropped_events} events were not printed (output too slow)", file=sys.stderr)
            for event in batch.events:
                if not event_matches(event, services, args.type):
                    continue
                if args.json:
                    out.write(json.dumps(event.to_json_dict(), ensure_ascii=False, default=str) + "\n")
                else:
                    out.write(format_event(event) + "\n")
            try:
                out.flush()
            except BrokenPipeError:  # `capwatch tail | head`: the reader left
                return 0
    finally:
        feed.close()
        await hub.stop()
    return 0
