"""`capwatch status` against a Capx fleet (issue 16), as a script runs it, over real sockets: a `capwatch status` child
on a simulator with 300 companies on Pro (300 requests a minute, 50 in flight).

- It read every company's agents, tasks and costs, 901 requests at 300 companies, three Pro minutes, on the key the
  operator's monitor uses: one `status` drained the monitor's minute. It now spends a small, bounded share of the
  minute (the listing, then the details of as many companies as the share and the key's minute allow) and says
  what it did not read.
- It said "capx.companies connecting" although every company had been read: its light is what it saw.
- A listing answered 429 (the key's minute spent by another process) was waited out within the call, silently: at
  --wait the listing was "connecting", no error, nothing said of the 429. It says it now, and ends at --wait.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.cli.test_headless import client_env
from tui.sim.server import free_port
from tui.vendors.capx.snapshot import STATUS_FLOOR, STATUS_SHARE, status_share

pytestmark = pytest.mark.timeout(120)

PRO = {"capx_rate_limit": 300, "capx_concurrency": 50}


def run_status(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", "status", *args], env=env, capture_output=True, text=True,
                          timeout=90)


def capx_requests(sim) -> int:
    journal = httpx.get(f"{sim.root}/_admin/journal").json()
    return sum(n for route, n in journal["requests"].items() if route.split(" ", 1)[1].startswith("/capx/"))


def refused(sim) -> int:
    return httpx.get(f"{sim.root}/_admin/journal").json()["statuses"].get("429", 0)


def test_the_share_of_the_minute():
    assert (STATUS_SHARE, STATUS_FLOOR) == (0.1, 20)
    assert [status_share(minute) for minute in (60, 300, 6000)] == [20, 30, 600]


def test_status_of_a_300_company_fleet_spends_a_tenth_of_the_minute_and_says_what_it_did_not_read(sim_factory):
    sim = sim_factory(capx_companies=300, **PRO)
    env = client_env(sim, free_port())
    done = run_status(env, "--json", "--wait", "30")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    snapshot = json.loads(done.stdout)
    spent = capx_requests(sim)
    # Before: 901 requests (the listing's 3 pages, then agents, tasks and costs of each of the 300), three minutes.
    assert spent <= status_share(300) == 30, spent
    assert snapshot["requests"]["capx"] == spent and refused(sim) == 0
    state = httpx.get(f"{sim.root}/_admin/state").json()["capx"]
    assert snapshot["entities"]["companies"]["total"] == 300 == len(state["companies"])
    assert snapshot["missing"] == []
    # What it read, it read whole; what it did not, it says: companies of the listing's, in its order.
    unread = snapshot["not_read"]["capx"]
    read = snapshot["entities"]["costs"]["total"]
    assert read == (spent - 3) // 3 and read >= 8, (read, spent)
    assert (unread["companies"], unread["of"], unread["parts"]) == (300 - read, 300, ["agents", "tasks", "costs"])
    assert unread["share"] == 30 and unread["minute"] == 300 and "status" in unread["reason"]
    first = set(list(state["companies"])[:read])
    for kind in ("agents", "tasks"):
        assert snapshot["entities"][kind]["total"] == sum(row["company_id"] in first for row in state[kind].values())
    # Its light says what it saw: the listing read (before: "connecting", every company read).
    assert snapshot["health"]["capx.companies"]["state"] == "live", snapshot["health"]["capx.companies"]
    # The table says it too.
    text = run_status(env, "--wait", "30")
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"NOT READ\n  capx: the agents, tasks and costs of {300 - read} of 300 companies" in text.stdout, text.stdout
    assert "capx.companies               live" in text.stdout


def test_status_leaves_a_minute_the_monitor_spent_to_the_monitor(sim_factory):
    """The operator's monitor (here: requests on the same key) has spent 250 of the key's 300 this minute. `status`
    reads the listing, which says which companies exist, and nothing the minute has no room for: no 429 for the
    monitor to earn, and it says why it did not read the rest."""
    sim = sim_factory(capx_companies=300, **PRO)
    env = client_env(sim, free_port())
    key = {"Authorization": f"Bearer {sim.options.capx_api_key}"}
    with httpx.Client(base_url=sim.options.base_urls()["capx"], headers=key, timeout=10) as monitor:
        for _ in range(250):
            assert monitor.get("/companies", params={"limit": 1}).status_code == 200
    done = run_status(env, "--json", "--wait", "20")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    snapshot = json.loads(done.stdout)
    assert capx_requests(sim) - 250 == snapshot["requests"]["capx"] == 3  # the listing's three pages
    assert refused(sim) == 0
    assert snapshot["entities"]["companies"]["total"] == 300 and snapshot["missing"] == []
    unread = snapshot["not_read"]["capx"]
    assert (unread["companies"], unread["of"]) == (300, 300)
    assert "the key's minute" in unread["reason"], unread
    assert snapshot["health"]["capx.companies"]["state"] == "live"


def test_status_of_a_small_fleet_reads_it_whole_and_says_nothing_is_unread(sim):
    env = client_env(sim, free_port())
    done = run_status(env, "--json", "--wait", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    snapshot = json.loads(done.stdout)
    assert snapshot["health"]["capx.companies"]["state"] == "live", snapshot["health"]
    assert snapshot["not_read"] == {} and snapshot["requests"]["capx"] == 1 + 3 * 5
    text = run_status(env, "--wait", "30")
    assert "NOT READ" not in text.stdout


def test_status_whose_listing_is_refused_says_it_was_rate_limited_and_ends_in_time(sim_factory):
    """The key's minute spent by another process (Starter, 60 requests): the listing's first request is answered
    429 with a Retry-After past --wait. Before: the 429 was waited out within the call, silently; at --wait the
    listing was 'connecting', no error, nothing said of the 429. Now the 429 is the listing's answer: its channel
    says it, NOT READ says the listing was rate limited, when, and its Retry-After, and status ends at --wait."""
    import time

    sim = sim_factory(capx_companies=40, capx_rate_limit=60, capx_concurrency=10)
    env = client_env(sim, free_port())
    key = {"Authorization": f"Bearer {sim.options.capx_api_key}"}
    with httpx.Client(base_url=sim.options.base_urls()["capx"], headers=key, timeout=10) as other:
        for _ in range(60):
            assert other.get("/companies", params={"limit": 1}).status_code == 200
    wait = 5.0
    started = time.monotonic()
    done = run_status(env, "--json", "--wait", str(wait))
    took = time.monotonic() - started
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    # --wait, plus the interpreter's start and the hub's stop (under a second on a quiet machine).
    assert took < wait + 4.0, took
    snapshot = json.loads(done.stdout)
    listing = snapshot["health"]["capx.companies"]
    assert listing["state"] == "failing" and "HTTP 429 rate_limit_exceeded" in listing["last_error"], listing
    unread = snapshot["not_read"]["capx"]
    assert unread["rate_limited"] is True and unread["parts"] == ["listing", "agents", "tasks", "costs"], unread
    assert wait < unread["retry_after_s"] <= 62, unread  # (the oldest request leaves the minute: 60 s, rounded up)
    assert unread["summary"].startswith("the company listing, so no company's agents, tasks and costs: rate limited: "
                                        "HTTP 429 at "), unread
    assert f"Retry-After {unread['retry_after_s']} s" in unread["summary"]
    assert "capx.companies" in snapshot["missing"]
    assert snapshot["requests"]["capx"] == 1 and refused(sim) == 1  # one request, refused: no retry within --wait
    text = run_status(env, "--wait", "2")
    assert text.returncode == 1
    assert "NOT READ\n  capx: the company listing, so no company's agents, tasks and costs: rate limited" in text.stdout
    assert "capx.companies               failing" in text.stdout and "HTTP 429" in text.stdout
