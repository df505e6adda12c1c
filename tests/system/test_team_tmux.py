"""Team mode as an operator runs it (issue 19, point 5): a PostgreSQL of the test's own, the simulator, `capwatch
collect` writing to it, and two monitors `capwatch --source` in tmux at 80x24. The collector killed (kill -9) and
started again, then PostgreSQL restarted: each monitor's `source` light leaves live and comes back. Then, the world
paused, each monitor's Events table, exported as an operator does (ctrl+e), holds every timeline row the database
holds, each once, and beyond them only the monitor's own word on its lights. (The followers' rows, seq by seq, are
tests/history/test_team.py's.)"""

from __future__ import annotations

import asyncio
import csv
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.helpers.collector import CollectorProcess, child_env
from tests.helpers.postgres import free_port
from tests.helpers.simproc import SimProcess
from tests.helpers.waiting import eventually
from tui.history import History
from tui.history.source import SILENT_AFTER
from tui.live.events import APP_SERVICE
from tui.live.recording import is_timeline

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

LIVE, RECONNECTING, STALE = "●", "◐", "◔"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


class Monitor:
    """`capwatch --source URL` in a tmux session of its own, at 80x24, with no vendor key."""

    def __init__(self, url: str, home: Path):
        self.session = f"capwatch-team-{uuid.uuid4().hex[:8]}"
        self.home = home
        self.exports = 0
        home.mkdir()
        env = child_env({}, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
                        TERM="xterm-256color")
        # A new session's command gets the tmux server's environment, not this client's (the server may be an
        # operator's, with their HOME, config and keys): the monitor's own, whole, through a script.
        launcher = home / "monitor.sh"
        launcher.write_text("exec env -i " + shlex.join([*(f"{k}={v}" for k, v in env.items()), sys.executable,
                                                           "-m", "tui", "--source", url]) + "\n")
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", "80", "-y", "24", f"sh {launcher}"],
                       check=True, env=env)

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.session)

    def source_light(self) -> str:
        """The glyph of the `source` light in the header ("" before the header is drawn)."""
        lines = self.screen().splitlines()
        found = re.search(r"\bsource (\S)", lines[0]) if lines else None
        return found.group(1) if found else ""

    def events_shown(self) -> int:
        """The count the Events tab shows on its first line (0 while another tab is shown)."""
        lines = self.screen().splitlines()
        found = re.search(r"follow\s+([\d,]+)\s*$", lines[3]) if len(lines) > 3 else None
        return int(found.group(1).replace(",", "")) if found else 0

    def keys(self, *keys: str, literal: bool = False) -> None:
        tmux("send-keys", "-t", self.session, *(["-l"] if literal else []), *keys)

    async def export_events(self) -> Counter:
        """The Events tab's table as shown, through ctrl+e (as CSV, to a new file): each row's key, counted."""
        self.exports += 1
        path = self.home / f"events-{self.exports}.csv"
        self.keys("7")
        await eventually(lambda: "t filters the type" in self.screen(), message=self.screen)
        self.keys("C-e")
        await eventually(lambda: "Export the events table" in self.screen(), message=self.screen)
        self.keys("C-u")
        self.keys(str(path), literal=True)
        self.keys("Enter")
        await eventually(lambda: "Exported" in self.screen() and path.name in self.screen() and path.exists(),
                         message=self.screen)
        with open(path, newline="", encoding="utf-8") as exported:
            return Counter((row["Time"], row["Service"], row["Type"], row["ID"]) for row in csv.DictReader(exported))

    async def export_once_caught_up(self, wanted: Counter, timeout: float = 30.0) -> Counter:
        """Exported again until it holds every row of `wanted` (the rows written before the world paused reach it
        a moment later), or `timeout` passes: the last export."""
        deadline = time.monotonic() + timeout
        while True:
            shown = await self.export_events()
            if not wanted - shown or time.monotonic() > deadline:
                return shown

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)


async def all_lights(monitors: list[Monitor], glyphs: str, note: str, timeout: float = 60.0) -> None:
    await eventually(lambda: all((light := m.source_light()) and light in glyphs for m in monitors), timeout=timeout,
                     message=lambda: f"{note}: the source lights are {[m.source_light() for m in monitors]}\n"
                                     f"{monitors[0].screen()}")


def row_key(record) -> tuple[str, str, str, str]:
    """A recorded row as the Events export keys it: time (as `history --json` says it), service, type, id."""
    return record.to_json_dict()["time"], record.event.service, record.event.type, record.event.id


async def test_two_monitors_recover_and_show_each_recorded_event_once_across_collector_and_database_restarts(
        postgres_own_server, tmp_path):
    server = postgres_own_server
    url = server.url()
    webhook_port = free_port()
    monitors: list[Monitor] = []
    with SimProcess(seed=23, rate=20, extra=["--webhook-url", f"http://127.0.0.1:{webhook_port}"]) as sim:
        collector = CollectorProcess(sim.client_env(), history=url, webhook_port=webhook_port).start()
        try:
            await eventually(lambda: "webhooks on" in collector.stderr(), timeout=30,
                             message=lambda: f"the collector did not start: {collector.stderr()[-2000:]}")
            monitors = [Monitor(url, tmp_path / f"monitor-{n}") for n in (1, 2)]
            await all_lights(monitors, LIVE, "at the start")
            for monitor in monitors:
                monitor.keys("7")  # the Events tab, whose count each step waits to see grow

            async def progress(note: str, more: int = 150) -> None:
                await all_lights(monitors, LIVE, note)
                targets = [monitor.events_shown() + more for monitor in monitors]
                await eventually(lambda: all(m.events_shown() >= t for m, t in zip(monitors, targets)), timeout=60,
                                 message=lambda: f"{note}: {[m.events_shown() for m in monitors]} events shown, "
                                                 f"waiting for {targets}\n{monitors[0].screen()}")

            await progress("at the start")
            # 1. The collector killed: each monitor says it is silent once its heartbeat is late; it comes back.
            collector.kill()
            await all_lights(monitors, STALE, "the collector killed", timeout=SILENT_AFTER + 15)
            collector.start()
            await progress("the collector started again")
            # 2. PostgreSQL restarted.
            await asyncio.to_thread(server.stop, "fast")
            await all_lights(monitors, RECONNECTING + STALE, "PostgreSQL stopped")
            await asyncio.to_thread(server.start)
            await progress("PostgreSQL started again")
            httpx.post(f"{sim.root}/_admin/pause", timeout=10).raise_for_status()
            reader = History(url)
            try:
                last = await reader.last_seq_committed()
                records = [r for r in await reader.tail_after(0, limit=10_000_000) if is_timeline(r.event)]
                written = Counter(row_key(r) for r in records if r.seq <= last)
                exported = [await monitor.export_once_caught_up(written) for monitor in monitors]
                records = [r for r in await reader.tail_after(0, limit=10_000_000) if is_timeline(r.event)]
            finally:
                await reader.close()
            assert collector.terminate() == 0, collector.stderr()[-2000:]
        finally:
            collector.close()
            for monitor in monitors:
                monitor.close()

    recorded = Counter(row_key(r) for r in records)
    assert sum(written.values()) >= 450, "too few events to say anything"
    for n, shown in enumerate(exported, start=1):
        own = Counter({k: count for k, count in shown.items()
                       if k[1] == APP_SERVICE and k[2].startswith("channel.") and k not in recorded})
        missing = written - shown
        assert not missing, (f"monitor {n} lacks {sum(missing.values())} recorded rows (the other lacks "
                             f"{[sum((written - other).values()) for other in exported]}): " + "; ".join(
                                 f"{k} seq {r.seq} {r.origin} received {r.event.received:.3f} recorded "
                                 f"{recorded[k]}x shown {shown[k]}x" for r in records for k in [row_key(r)]
                                 if k in missing))
        doubled = {k: count for k, count in shown.items() if count > recorded.get(k, 0) + own.get(k, 0)}
        assert not doubled, f"monitor {n} shows rows more often than recorded: {list(doubled.items())[:5]}"
        assert own, f"monitor {n} said nothing of its lights while the collector was silent"
