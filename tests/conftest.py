"""Shared fixtures: a real simulator on a loopback port, started per test or per module."""

from __future__ import annotations

import pytest

from tests.helpers.simulator import make_options
from tui.sim.server import SimThread

# A real PostgreSQL server (postgres_server, postgres_url, postgres_own_server): tests/helpers/postgres.py;
# `where`, an empty history on SQLite and on PostgreSQL: tests/helpers/history.py
pytest_plugins = ["tests.helpers.postgres", "tests.helpers.history"]


@pytest.fixture(autouse=True)
def private_query_history(tmp_path, monkeypatch):
    """No test reads or writes the user's real query history or event history."""
    monkeypatch.setenv("CAPWATCH_QUERY_HISTORY", str(tmp_path / "query-history.json"))
    # nor the user's event history (tui/history): each test has its own, in its temporary directory
    monkeypatch.setenv("CAPWATCH_HISTORY", str(tmp_path / "history.sqlite3"))
    # and a config given its own environment (no CAPWATCH_HISTORY) records under the test's directory too
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def sim():
    """A simulator with a still world (rate 0): tests drive it with `/_admin/step`."""
    with SimThread(make_options()) as running:
        yield running


@pytest.fixture
def sim_factory():
    """Start simulators with custom options; all are stopped at the end of the test."""
    started: list[SimThread] = []

    def start(**overrides) -> SimThread:
        running = SimThread(make_options(**overrides)).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
