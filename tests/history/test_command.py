"""`capwatch history`, as a person or a script runs it: no server up, no key, the same JSON lines as `tail --json`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

from tests.helpers.history import make_event
from tui.history import History

SERVICES_OFF = ("CAPOUT_", "CASMO_", "CAPX_", "CAPTAIN_")


def run(where: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICES_OFF)}  # no key at all
    env["CAPWATCH_CONFIG"] = os.devnull
    if where is not None:
        env["CAPWATCH_HISTORY"] = where
    return subprocess.run([sys.executable, "-m", "tui", "history", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def recorded(where: str, now: float) -> list:
    """Six events over the last three hours, recorded as the live layer will."""
    plan = [(170, "capout", "document.completed", {"file_name": "Q3-report.pdf"}),
            (110, "capx", "task.created", {"title": "Approve refund"}),
            (90, "capx", "task.completed", {"title": "Approve refund"}),
            (60, "captain", "indexing.failed", {"error": "AccessDenied"}),
            (15, "casmo", "extraction.completed", {"file_name": "contract.docx"}),
            (5, "capx", "agent.heartbeat", {})]
    events = [make_event(n, now - minutes * 60, service=service, event_type=event_type, **data)
              for n, (minutes, service, event_type, data) in enumerate(plan)]

    async def write():
        history = History(where)
        for event in events:
            history.append(event)
        await history.flush(timeout=30)
        await history.close()

    asyncio.run(write())
    return events


def ids(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["id"] for line in done.stdout.splitlines()]


def test_json_lines_are_tails_shape_and_every_filter_works(where):
    now = time.time()
    events = recorded(where, now)
    done = run(where, "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [json.loads(json.dumps(e.to_json_dict(), ensure_ascii=False)) for e in events]
    assert ids(run(where, "--json", "--since", "10m")) == ["e5"]
    assert ids(run(where, "--json", "--since", "2h", "--until", "30m")) == ["e1", "e2", "e3"]
    since = datetime.fromtimestamp(now - 100 * 60, timezone.utc).isoformat().replace("+00:00", "Z")
    assert ids(run(where, "--json", "--since", since)) == ["e2", "e3", "e4", "e5"]
    local = datetime.fromtimestamp(now - 100 * 60).strftime("%Y-%m-%dT%H:%M:%S")  # no zone: local time
    assert ids(run(where, "--json", "--since", local)) == ["e2", "e3", "e4", "e5"]
    assert ids(run(where, "--json", "--service", "capx")) == ["e1", "e2", "e5"]
    assert ids(run(where, "--json", "--service", "capout", "--service", "casmo")) == ["e0", "e4"]
    assert ids(run(where, "--json", "--type", "task.*")) == ["e1", "e2"]
    assert ids(run(where, "--json", "--type", "*.completed")) == ["e0", "e2", "e4"]
    assert ids(run(where, "--json", "--grep", "approve REFUND")) == ["e1", "e2"]
    assert ids(run(where, "--json", "--limit", "2")) == ["e4", "e5"]
    assert ids(run(where, "--json", "--service", "capx", "--type", "task.*", "--grep", "refund", "--limit", "1")) \
        == ["e2"]
    assert ids(run(where, "--json", "--grep", "nothing like it")) == []


def test_the_readable_form(where):
    now = time.time()
    recorded(where, now)
    done = run(where, "--service", "captain")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 3600))
    assert line.startswith(stamp[:16]) and "captain" in line and "indexing.failed" in line and "e3" in line


def test_off_missing_and_wrong_settings_say_so(tmp_path):
    done = run("off")
    assert done.returncode == 2 and "history is off" in done.stderr
    done = run(str(tmp_path / "never-written.sqlite3"))
    assert done.returncode == 1 and "no history recorded yet" in done.stderr
    assert not (tmp_path / "never-written.sqlite3").exists()
    done = run("mysql://db/x")
    assert done.returncode == 2 and "postgresql://" in done.stderr
    done = run(str(tmp_path / "h.sqlite3"), "--since", "last tuesday")
    assert done.returncode == 2 and "not a time" in done.stderr
    done = run(str(tmp_path / "h.sqlite3"), "--limit", "0")
    assert done.returncode == 2


def test_a_database_that_is_down_is_said_plainly(postgres_own_server):
    url = postgres_own_server.url()
    recorded(url, time.time())
    postgres_own_server.stop()
    done = run(url.replace("capwatch@", "capwatch:s3cretpw@"), "--json")
    assert done.returncode == 1 and "cannot read the history" in done.stderr and "Traceback" not in done.stderr
    assert "s3cretpw" not in done.stderr and "••••" in done.stderr


def test_the_flag_wins_over_the_environment(tmp_path):
    path = str(tmp_path / "flagged.sqlite3")
    recorded(path, time.time())
    assert len(ids(run("off", "--json", "--history", path))) == 6
