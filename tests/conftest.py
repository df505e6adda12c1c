"""Shared fixtures: a real simulator on a loopback port, started per test or per module."""

from __future__ import annotations

import pytest

from tui.sim.core import Faults, SimOptions
from tui.sim.server import SimThread


def make_options(**overrides) -> SimOptions:
    """Options for a test simulator: a free port, a fixed seed, a quiet world unless told otherwise."""
    faults = overrides.pop("faults", None)
    options = SimOptions(port=0, seed=overrides.pop("seed", 7), rate=overrides.pop("rate", 0.0), **overrides)
    if isinstance(faults, str):
        options.faults = Faults.parse(faults)
    elif faults is not None:
        options.faults = faults
    return options


@pytest.fixture(autouse=True)
def private_query_history(tmp_path, monkeypatch):
    """No test reads or writes the user's real query history."""
    monkeypatch.setenv("CAPWATCH_QUERY_HISTORY", str(tmp_path / "query-history.json"))


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
