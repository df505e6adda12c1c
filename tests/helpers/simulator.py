"""Options for a simulator started by a test."""

from __future__ import annotations

import httpx

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


async def admin(root: str, method: str, path: str, body: dict | None = None) -> dict:
    """A call to the simulator's admin side (`/_admin/<path>`), its JSON answer."""
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.request(method, f"{root}/_admin/{path}", json=body)
        reply.raise_for_status()
        return reply.json()
