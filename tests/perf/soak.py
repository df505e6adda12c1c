"""Soak: a LiveHub against a simulator at 500 events/s with faults on, watched for leaks. A script, not a test:

    /tmp/venv/bin/python tests/perf/soak.py [--minutes 10] [--rate 500] [--faults SPEC] [--monitor] [--json PATH]

Every channel runs, the webhook receiver too: the simulator sends its signed Casmo and Capx webhooks to it.

With `--monitor` the whole monitor runs on that LiveHub (the app headless, 120x40), and an operator's keys go
to it: the next tab every 3 s, so every tab is shown, filled and left again all through the run.

The simulator runs as a child process (`python -m tui sim`), so only the monitor's own memory is measured.
Every 10 s this process samples its RSS (VmRSS from /proc/self/status), its open file descriptors
(/proc/self/fd) and its asyncio task count, with the Store's figures beside them. The verdict is "flat" when,
from the first minute after the warm-up to the last (medians), none grew past its threshold (50 MB RSS, 10 fds,
10 tasks, plus one task per channel the world added: a new Capx company is a new stream, one task) and every
channel task still runs; else "GROWING" (exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.segment import Segment

from tui.config import load_config
from tui.live.hub import LiveHub
from tui.sim.core import SimOptions
from tui.sim.server import free_port
from tui.vendors import VENDORS

THRESHOLDS = {"rss_mb": 50.0, "fds": 10, "tasks": 10}
DEFAULT_FAULTS = "drop=5,errors=0.05,malformed=0.02"
SAMPLE_EVERY = 10.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def start_simulator(port: int, rate: float, faults: str, webhook_port: int) -> subprocess.Popen:
    import httpx

    child = subprocess.Popen([sys.executable, "-m", "tui", "sim", "--port", str(port), "--seed", "1",
                              "--rate", str(rate), "--faults", faults,
                              "--webhook-url", f"http://127.0.0.1:{webhook_port}"], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return child
        except httpx.HTTPError:
            time.sleep(0.1)
        if child.poll() is not None:
            break
    child.kill()
    raise SystemExit("the simulator did not start")


def make_hub(port: int, transport: str, webhook_port: int) -> LiveHub:
    env = {k: v for k, v in SimOptions(port=port).client_env().items()
           if k.startswith(("CAPOUT", "CASMO", "CAPX", "CAPTAIN"))}
    env["CAPWATCH_CAPOUT_TRANSPORT"] = transport
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=webhook_port, profile=None)
    return LiveHub(load_config(args, env=env).config, VENDORS)


TAB_EVERY = 3.0  # seconds between two tab switches in `--monitor` mode


async def soak(minutes: float, rate: float, faults: str, transport: str, monitor: bool = False) -> dict:
    port, webhook_port = free_port(), free_port()
    simulator = await asyncio.to_thread(start_simulator, port, rate, faults, webhook_port)
    hub = make_hub(port, transport, webhook_port)
    try:
        if not monitor:
            await hub.start()
            return await watch(hub, minutes, rate, faults, transport, press=None)
        from tui.app.app import CapwatchApp

        app = CapwatchApp(hub.config, hub=hub)  # the app runs the hub
        async with app.run_test(size=(120, 40)):
            return await watch(hub, minutes, rate, faults, transport, press=lambda key: press_key(app, key))
    finally:
        await hub.stop()
        simulator.kill()
        simulator.wait(10)


def press_key(app, key: str) -> None:
    """As a terminal's input thread does (pilot.press would also wait for the app to go idle)."""
    from textual import events

    event = events.Key(key, key)
    event.set_sender(app)
    app._driver.send_message(event)


async def watch(hub: LiveHub, minutes: float, rate: float, faults: str, transport: str, press) -> dict:
    samples: list[dict] = []
    started = time.monotonic()
    end = started + minutes * 60
    next_at = started
    next_key_at, presses = started + TAB_EVERY, 0
    while True:
        now = time.monotonic()
        if press is not None and now >= next_key_at:
            presses += 1
            press(str(presses % 7 + 1))
            next_key_at += TAB_EVERY
        if now >= next_at:
            store = hub.store
            samples.append({
                "t": round(now - started, 1),
                "rss_mb": round(rss_mb(), 1),
                "fds": open_fds(),
                "tasks": len(asyncio.all_tasks()),
                "timeline": len(store.timeline),
                "entities": sum(len(rows) for rows in store.entities.values()),
                # Rich's split-cells cache (16,384 entries, ~13 MB when full): row text cut with an ellipsis fills it
                "rich_cache": Segment._split_cells.cache_info().currsize,
                "by_kind": {kind: len(rows) for kind, rows in sorted(store.entities.items())},
                "events": sum(h.events for h in store.health.values()),
                "reconnects": sum(h.reconnects for h in store.health.values()),
                "live": sum(h.state.value == "live" for h in store.health.values()),
                "channels": len(store.health),
            })
            print_row(samples[-1], header=len(samples) == 1)
            next_at += SAMPLE_EVERY
        if now >= end:
            break
        await asyncio.sleep(max(0.0, min(next_at, end, next_key_at if press else end) - now))
    dead = sorted(t.get_name() for t in hub._tasks if t.done())
    states = {name: h.state.value for name, h in sorted(hub.store.health.items())}
    result = verdict(samples, minutes, rate, faults, transport, dead, states)
    result["monitor"] = {"tab_switches": presses} if press is not None else None
    return result


COLUMNS = ("t", "rss_mb", "fds", "tasks", "timeline", "entities", "rich_cache", "events", "reconnects", "live",
           "channels")


def print_row(sample: dict, header: bool) -> None:
    if header:
        print("  ".join(f"{c:>10}" for c in COLUMNS), flush=True)
    print("  ".join(f"{sample[c]:>10}" for c in COLUMNS), flush=True)


def verdict(samples: list[dict], minutes: float, rate: float, faults: str, transport: str, dead: list[str],
            states: dict[str, str]) -> dict:
    # Warm-up: the first 20% of the run, at least 20 s (connections, backfills, the timeline filling up).
    warmup = max(20.0, minutes * 60 * 0.2)
    after = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    # A minute's median at each end: single samples swing with reconnections and, with the monitor, with
    # Textual's timers, workers and toasts.
    window = max(1, int(60 / SAMPLE_EVERY))
    growth = {key: statistics.median(s[key] for s in after[-window:])
              - statistics.median(s[key] for s in after[:window]) for key in (*THRESHOLDS, "channels")}
    # Each channel the world adds (a new Capx company's stream) is one more task by design (LiveHub.spawn).
    limits = dict(THRESHOLDS, tasks=THRESHOLDS["tasks"] + max(0, growth["channels"]))
    flat = all(growth[key] <= limit for key, limit in limits.items()) and not dead
    return {
        "minutes": minutes, "rate": rate, "faults": faults, "transport": transport,
        "warmup_seconds": warmup, "samples": samples, "growth_after_warmup": growth,
        "thresholds": limits, "dead_tasks": dead, "final_states": states,
        "verdict": "flat" if flat else "GROWING",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="simulator events per second")
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help=f"simulator fault spec (default {DEFAULT_FAULTS})")
    parser.add_argument("--transport", choices=["ws", "sse"], default="ws")
    parser.add_argument("--monitor", action="store_true", help="run the whole monitor on the hub, switching tabs")
    parser.add_argument("--json", metavar="PATH", help="also write the samples and the verdict here")
    args = parser.parse_args()
    result = asyncio.run(soak(args.minutes, args.rate, args.faults, args.transport, args.monitor))
    growth = ", ".join(f"{k} {v:+g}" + (f" (limit {result['thresholds'][k]:g})" if k in result["thresholds"] else "")
                       for k, v in result["growth_after_warmup"].items())
    print(f"\ngrowth from the first minute after the {result['warmup_seconds']:g} s warm-up to the last "
          f"(medians): {growth}")
    tail = [s for s in result["samples"] if s["t"] >= result["samples"][-1]["t"] - 180]  # the last 3 minutes
    print(f"the last 3 minutes: RSS {tail[0]['rss_mb']:g} -> {tail[-1]['rss_mb']:g} MB, Store entities "
          f"{tail[0]['entities']:,} -> {tail[-1]['entities']:,} (" +
          ", ".join(f"{kind} {count:,}" for kind, count in tail[-1]["by_kind"].items()) + ")")
    print("channels at the end: " + ", ".join(f"{n}={s}" for n, s in result["final_states"].items()))
    if result["dead_tasks"]:
        print(f"tasks that died: {', '.join(result['dead_tasks'])}")
    if result["monitor"]:
        print(f"monitor: {result['monitor']['tab_switches']} tab switches")
    print(f"verdict: {result['verdict']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["verdict"] == "flat" else 1


if __name__ == "__main__":
    sys.exit(main())
