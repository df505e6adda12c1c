"""Start the monitor: on the configured services, or (`capwatch demo`) on a simulator in a child process."""

from __future__ import annotations

import argparse
import functools
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator, Sequence


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextmanager
def demo_simulator(*, seed: int | None, rate: float | None, token_ttl: float | None, faults: str,
                   webhook_port: int, extra: Sequence[str] = ()) -> Iterator[dict[str, str]]:
    """Run `capwatch sim` in a child process on a free port; yield the client environment pointing at it.

    A child process (not a thread) keeps the simulator's world off the monitor's event loop and CPU time, so
    the demo feels like a remote service; it is terminated when the monitor quits, whatever way it quits.
    """
    import httpx  # only the demo needs it here: `capwatch` alone draws its first frame before httpx is imported

    port = free_port()
    command = [sys.executable, "-m", "tui", "sim", "--port", str(port),
               "--webhook-url", f"http://127.0.0.1:{webhook_port}"]
    if seed is not None:
        command += ["--seed", str(seed)]
    if rate is not None:
        command += ["--rate", str(rate)]
    if token_ttl is not None:
        command += ["--token-ttl", str(token_ttl)]
    if faults:
        command += ["--faults", faults]
    command += list(extra)  # e.g. a Capx fleet and plan: --companies 300 --plan pro
    # stderr to a file, not a pipe: a pipe nobody reads would block the child once it filled up.
    log = tempfile.TemporaryFile()
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 15
        root = f"http://127.0.0.1:{port}/"
        while True:
            try:
                services = httpx.get(root, timeout=0.5).json()["services"]
                break
            except (httpx.HTTPError, ValueError, KeyError):
                if child.poll() is not None:
                    log.seek(0)
                    message = log.read().decode(errors="replace")[-2000:]
                    raise SystemExit(f"capwatch demo: the simulator did not start:\n{message.strip()}")
                if time.monotonic() > deadline:
                    raise SystemExit("capwatch demo: the simulator did not answer within 15 s")
                time.sleep(0.05)
        from tui.sim.core import SimOptions

        client_env = SimOptions(port=port).client_env()
        from tui.vendors import VENDORS

        # The simulator answers every vendor the registry declares, at the base URL it lists for it.
        client_env.update({f"{vendor.env_prefix}BASE_URL": services[vendor.name]
                           for vendor in VENDORS if vendor.name in services})
        yield client_env
    finally:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        log.close()


def fleet_flags(args: argparse.Namespace) -> list[str]:
    """The simulator's Capx fleet and plan flags, as given to `capwatch demo`."""
    flags = []
    for name in ("companies", "plan", "rate_limit", "concurrency"):
        value = getattr(args, name, None)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def run_monitor(command: str, args: argparse.Namespace) -> int:
    from tui.config import load_config

    if command == "demo":
        # The simulator signs its webhooks to the receiver's port: the operator's (`--webhook-port`, the strongest
        # source, which the receiver takes) or a free one.
        webhook_port = getattr(args, "webhook_port", None) or free_port()
        with demo_simulator(seed=args.seed, rate=args.rate, token_ttl=args.token_ttl, faults=args.faults,
                            webhook_port=webhook_port, extra=fleet_flags(args)) as sim_env:
            from tui.vendors import VENDORS

            # The user's own vendor settings (keys, base URLs) never reach the demo.
            prefixes = tuple(vendor.env_prefix for vendor in VENDORS)
            env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
            env.update(sim_env)
            env["CAPWATCH_WEBHOOK_HOST"] = "127.0.0.1"
            env["CAPWATCH_WEBHOOK_PORT"] = str(webhook_port)
            # The demo never reads the user's config file: it must work the same on every machine.
            args.config = os.devnull
            loaded = load_config(args, env=env)
            # The demo records into its own file (tui/history/recording.py), unless its --history says where.
            return _run_app(loaded, demo=True, history_given=getattr(args, "history", None) is not None)
    loaded = load_config(args)
    return _run_app(loaded, demo=False)


def _run_app(loaded, *, demo: bool, history_given: bool = False) -> int:
    from tui.app.app import CapwatchApp
    from tui.history.recording import open_history

    for warning in loaded.warnings:
        print(f"capwatch: {warning}", file=sys.stderr)
    # In team mode (`--source`) the collector records: the monitor follows its history and records nothing.
    # Opened after the first frame (CapwatchApp `open_history`): its imports and file cost ~60 ms before it.
    opener = None if loaded.config.source else functools.partial(open_history, loaded.config, demo=demo,
                                                                   explicit=history_given)
    app = CapwatchApp(loaded.config, demo=demo, open_history=opener)
    app.run()
    return app.return_code or 0
