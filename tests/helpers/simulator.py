"""Options for a simulator started by a test."""

from __future__ import annotations

from tui.sim.core import Faults, SimOptions


def make_options(**overrides) -> SimOptions:
    """Options for a test simulator: a free port, a fixed seed, a quiet world unless told otherwise."""
    faults = overrides.pop("faults", None)
    options = SimOptions(port=0, seed=overrides.pop("seed", 7), rate=overrides.pop("rate", 0.0), **overrides)
    if isinstance(faults, str):
        options.faults = Faults.parse(faults)
    elif faults is not None:
        options.faults = faults
    return options
