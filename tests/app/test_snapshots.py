"""Snapshot tests: every tab at 80x24 and 120x40, showing a recorded demo world (tests/helpers/snapshot_world.py) at a
frozen moment. A failure writes a side-by-side report (snapshot_report.html); after a deliberate change of
look, refresh with `pytest tests/app/test_snapshots.py --snapshot-update` and look at every picture."""

from __future__ import annotations

import time

import pytest

from tests.helpers import snapshot_world
from tests.helpers.recorded import recorded_app
from tui import wall_clock
from tui.app.app import CapwatchApp
from tui.app.query_history import QueryHistory
from tui.config import Config

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
TABS = [(str(n), tab) for n, (tab, _) in enumerate(CapwatchApp.TABS, start=1)]


@pytest.fixture
def frozen(monkeypatch, tmp_path):
    """The clock at the recorded world's "now", in UTC; a query history with three questions in it."""
    monkeypatch.setattr(wall_clock, "now", lambda: snapshot_world.FROZEN_NOW)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    history = QueryHistory(tmp_path / "query-history.json")
    for minutes_ago, question, status, elapsed in ((95, "Which contracts renew in Q1?", "success", 2.41),
                                                   (40, "Summarize the indemnity clauses", "success", 3.9),
                                                   (6, "List invoices over $10k from Acme", "error", 0.82)):
        history.record(question=question, database="contracts_2026", status=status, elapsed=elapsed,
                       preview="" if status == "error" else f"Answer to: {question}",
                       at=snapshot_world.FROZEN_NOW - minutes_ago * 60)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("key,tab", TABS, ids=[tab for _, tab in TABS])
def test_tab(snap_compare, frozen, key, tab, size):
    async def show_tab(pilot) -> None:
        await pilot.press(key)
        await pilot.pause()
        assert pilot.app.query_one("#tabs").active == tab

    assert snap_compare(recorded_app(), terminal_size=SIZES[size], run_before=show_tab)


# What an operator opens on top of the tabs, at the smallest size they must work at (and the query history,
# which has its own layout, at both).
SCREENS = {
    "help-80x24": ((80, 24), ["question_mark"]),
    "health-80x24": ((80, 24), ["h"]),
    "document-detail-80x24": ((80, 24), ["2", "enter"]),
    "approval-confirm-80x24": ((80, 24), ["4", "a"]),
    "query-history-80x24": ((80, 24), ["6", "ctrl+o"]),
    "query-history-120x40": ((120, 40), ["6", "ctrl+o"]),
}


@pytest.mark.parametrize("name", SCREENS)
def test_screen(snap_compare, frozen, name):
    size, keys = SCREENS[name]
    assert snap_compare(recorded_app(), terminal_size=size, press=keys)


def test_health_with_the_receiver_under_attack(snap_compare, frozen):
    """`h` while the webhook receiver is degraded: its counts column says what it refused, dropped and timed
    out, and its light in the header is the degraded one."""
    from tui.live.events import ChannelState

    app = recorded_app()
    store = app.hub.store
    store.set_state("webhooks", ChannelState.DEGRADED,
                    "236 idle connections dropped, 64 timed out in the last 20 s")
    store.health["webhooks"].last_error_at = store.health["webhooks"].since = snapshot_world.FROZEN_NOW - 5
    store.health["webhooks"].counters.update(accepted=1204, duplicates=3, evicted=236, timeouts=64, refused=12)
    store.count("capx.co_195jmsnd", "bad_messages", 2)
    assert snap_compare(app, terminal_size=(120, 40), press=["h"])


def test_first_run(snap_compare, frozen, monkeypatch):
    """No key, no config: the Overview says what to run (`capwatch init`, `capwatch demo`)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/operator/.config")
    assert snap_compare(CapwatchApp(Config()), terminal_size=SIZES["80x24"])
