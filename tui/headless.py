"""`capwatch status` and `capwatch tail`: the same live layer as the monitor, printed for scripts.

Scripts hang up: `capwatch tail --json | head -1` closes the pipe after a line, and stdout may be closed from
the start (`>&-`). Either way the command ends quietly with exit 0: the reader is gone, nothing was wrong. The
JSON is strict (jq and most languages refuse Python's bare `NaN` and `Infinity`): a number that is not finite
(a payload holding `1e400` or `NaN`) is written as the string "NaN", "Infinity" or "-Infinity".
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import math
import os
import signal
import sys
import time
from typing import Any, Iterable, TextIO

from tui.live.currency import Outage, outage_words, outages
from tui.live.events import APP_SERVICE, Event
from tui.text import sanitize

SUMMARY_FIELDS = ("status", "file_name", "filename", "name", "title", "progress")
STARTUP_HOLD = 2.0  # seconds `tail` holds the start's burst back, to print it in time order


def run_headless(command: str, args: argparse.Namespace) -> int:
    from tui.config import load_config

    loaded = load_config(args)  # before the live layer is imported: a bad config answers fast
    from tui import vendors
    from tui.live.hub import LiveHub

    for warning in loaded.warnings:
        warn(f"capwatch: {warning}")
    runner = status if command == "status" else tail
    if sys.stdout is None:  # started with stdout closed: no one will read a line of it
        return 0
    # `tail` records what it handles into the event history, as the monitor does; `status`, a one-shot snapshot,
    # does not (tui/history/recording.py); nor does a follower in team mode (the collector records).
    history = None
    if loaded.config.source:  # team mode: from the collector's history, no vendor connection of its own
        from tui.history.source import SourceHub

        hub = SourceHub(loaded.config, vendors.VENDORS, from_now=command == "tail")
    else:
        if command == "tail":
            from tui.history.recording import open_history

            history = open_history(loaded.config)
        hub = LiveHub(loaded.config, vendors.VENDORS, recorder=history.append if history is not None else None)
    try:
        return asyncio.run(_recorded(runner(hub, args), history))
    except KeyboardInterrupt:
        return 0
    except ReaderGone:
        # Python flushes stdout once more at exit, and would print "Exception ignored ... BrokenPipeError"
        # (exit 120): what is left to flush goes nowhere instead.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0


async def _recorded(run, history) -> int:
    """Run a command, then write what the history still holds (when it records)."""
    try:
        return await run
    finally:
        if history is not None:
            await history.close()


class ReaderGone(Exception):
    """Standard output was closed by its reader (a broken pipe) or is closed."""


# What writing to a reader that left raises: BrokenPipeError (EPIPE), ConnectionResetError on some sockets,
# ValueError on a stream already closed.
_GONE = (BrokenPipeError, ConnectionResetError, ValueError)


def strict_json(value: Any, **options: Any) -> str:
    """json.dumps, strict: a float that is not finite becomes the string "NaN", "Infinity" or "-Infinity"."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:  # rare: only then is the value walked
        return json.dumps(_finite(value), allow_nan=False, **options)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


# ------------------------------------------------------------------------------------------- status


async def status(hub, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print one snapshot once every enabled service has delivered its first complete picture (nothing is
    `missing()`), or when `--wait` runs out, saying then what is missing; exit as `exit_code` says, in both modes
    (the vendors read here, or a collector followed with `--source`). No webhook receiver: a monitor may hold its
    port."""
    out = out or sys.stdout
    integrations = hub.integrations()
    await hub.start(snapshot=True)
    try:
        deadline = time.monotonic() + max(0.0, args.wait)
        feed = hub.store.subscribe()
        while time.monotonic() < deadline and hub.missing():
            await feed.wait(timeout=min(0.25, max(0.01, deadline - time.monotonic())))
            feed.take()
        feed.close()
        snapshot = hub.store.snapshot()
    finally:
        await hub.stop()
    missing = hub.missing()
    # Services not live, as the monitor's banner says it: down, or part of a fleet (`status --source` follows a
    # collector's hundreds of Capx streams) with counts.
    found = outages(hub.store.health.values())
    snapshot["outages"] = {service: outage.to_dict() for service, outage in found.items()}
    entities = snapshot["entities"]
    for kind in hub.kinds():  # every kind a script may read is there, 0 when there is none
        entities.setdefault(kind.name, {"total": 0, "by_status": {}})
    snapshot["entities"] = dict(sorted(entities.items()))
    snapshot["missing"] = missing
    snapshot["requests"] = {integration.name: integration.client.requests_sent for integration in integrations}
    # What a vendor's own rule chose not to read (Capx: the details of the companies beyond status's share of the
    # key's minute), and why: not missing, said.
    snapshot["not_read"] = {integration.name: note for integration in integrations
                            if (note := integration.not_read()) is not None}
    snapshot["webhooks"] = webhook_port_note(hub)
    text = (strict_json(snapshot, indent=2, ensure_ascii=False) + "\n" if args.json
            else format_status(snapshot, hub.figure_lines(snapshot["figures"]),
                               [outage_words(outage) for outage in found.values()]))
    try:
        out.write(text)
        out.flush()
    except _GONE as error:
        raise ReaderGone from error
    return exit_code(found, missing)


def exit_code(found: dict[str, Outage], missing: list[str]) -> int:
    """`status`'s exit code, in both modes: 1 when the picture cannot be trusted as a whole, a part of it missing
    (no complete snapshot before `--wait` ran out) or a service down, as the banner says it (`capx down since ...`:
    a channel that carries the whole service failed or lost its data's currency, or no member of a fleet current);
    else 0, a partial outage included (some of a fleet's streams not live: `capx: 3 of 300 company streams not
    live`), which the text and `outages` in the JSON report, and which a fleet has most of the time: a script that
    alerted on it would alert always. 2, a usage or config error, comes from the command line."""
    return 1 if missing or any(outage.down for outage in found.values()) else 0


def webhook_port_note(hub) -> dict[str, Any] | None:
    """Whether the webhook port is held (by a running monitor, most likely): reported, never a failure."""
    import errno
    import socket

    if not hub.webhook_secrets():
        return None
    host, port = hub.config.webhooks.host, hub.config.webhooks.port
    in_use = False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            in_use = error.errno == errno.EADDRINUSE
    note = ("in use (a running monitor receives the webhooks there); status does not need it" if in_use
            else "free: nothing receives webhooks there now; status does not need it")
    return {"host": host, "port": port, "in_use": in_use, "note": note}


def format_status(snapshot: dict[str, Any], figure_lines: Iterable[str] = (), outage_lines: Iterable[str] = ()) -> str:
    """The snapshot as text; `figure_lines`: the figures as the integrations word them (`LiveHub.figure_lines`);
    `outage_lines`: the services not live, as the banner words them (`capx down since 10:44:01`), first."""
    lines = [*(["NOT LIVE", *(f"  {line}" for line in outage_lines), ""] if outage_lines else []), "CHANNELS"]
    for name, health in sorted(snapshot["health"].items()):
        age = health.get("age")
        age_text = "—" if age is None else f"{age:.0f}s"
        error = f"  {health['last_error']}" if health.get("last_error") else ""
        if error and health.get("last_error_at"):
            error += f" (at {health['last_error_at']})"
        lines.append(f"  {name:<28} {health['state']:<13} last event {age_text:>6}  events {health['events']:>6}  "
                     f"reconnects {health['reconnects']:>3}{error}")
    lines.append("")
    lines.append("ENTITIES")
    for kind, summary in sorted(snapshot["entities"].items()):
        by_status = ", ".join(f"{status} {count}" for status, count in summary["by_status"].items())
        lines.append(f"  {kind:<14} {summary['total']:>6}  {by_status}")
    lines.append("")
    lines.append("FIGURES")
    lines.extend(f"  {line}" for line in figure_lines)
    if snapshot.get("requests"):
        spent = ", ".join(f"{service} {count}" for service, count in snapshot["requests"].items())
        lines.append(f"  requests spent   {spent}")
    webhooks = snapshot.get("webhooks")
    if webhooks:
        lines += ["", "WEBHOOKS", f"  {webhooks['host']}:{webhooks['port']} {webhooks['note']}"]
    if snapshot.get("not_read"):
        lines += ["", "NOT READ"]
        lines += [f"  {service}: {note['summary']}" for service, note in snapshot["not_read"].items()]
    if snapshot.get("missing"):
        lines += ["", "MISSING (no complete snapshot before --wait ran out)"]
        lines += [f"  {part}" for part in snapshot["missing"]]
    return "\n".join(sanitize(line) for line in lines) + "\n"


# ------------------------------------------------------------------------------------------- tail


def warn(line: str) -> None:
    """A line on stderr, which may be closed or gone as well: then it is dropped."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (*_GONE, AttributeError):  # AttributeError: sys.stderr is None (started closed)
        pass


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


async def tail(hub, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print every event as it arrives until Ctrl-C (SIGINT) or SIGTERM, or until the reader leaves (ReaderGone);
    then stop cleanly."""
    out = out or sys.stdout
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
    # The start brings a burst: channel events, backfills and first polls, whose server times are older than the
    # channel events before them. Held back STARTUP_HOLD seconds and printed in time order; later batches each in
    # time order too.
    held: list[Event] | None = []
    hold_until = time.monotonic() + STARTUP_HOLD
    try:
        while not stop.is_set():
            waiter = asyncio.ensure_future(feed.wait())
            stopper = asyncio.ensure_future(stop.wait())
            timeout = max(0.0, hold_until - time.monotonic()) if held is not None else None
            await asyncio.wait({waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            batch = feed.take()
            if batch is not None and batch.dropped_events:
                warn(f"capwatch: {batch.dropped_events} events were not printed (output too slow)")
            events = [e for e in (batch.events if batch else ()) if event_matches(e, services, args.type)]
            if held is not None:
                held.extend(events)
                if time.monotonic() < hold_until and not stop.is_set():
                    continue
                events, held = held, None
            if not events:
                continue
            events.sort(key=lambda event: event.time)
            if args.json:
                lines = [strict_json(event.to_json_dict(), ensure_ascii=False, default=str) for event in events]
            else:
                lines = [format_event(event) for event in events]
            try:
                out.write("\n".join(lines) + "\n")
                out.flush()
            except _GONE as error:  # `capwatch tail | head`: the reader left
                raise ReaderGone from error
    finally:
        feed.close()
        await hub.stop()
    return 0
