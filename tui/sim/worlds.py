"""A new world on the same server: what a client sees when a vendor comes back from a restart with its data reset.

`new_world(sim)` replaces every vendor's world at once: a new random source (so new ids), a new boot (so SSE ids
of the old world are foreign and a `Last-Event-ID` resumes nothing), new topics (every open stream of the old world
is cut off), and new documents, jobs, databases. Some Capx companies survive under their old ids with new agents
and tasks; the others are gone (404). The same seed and world number always give the same world, so a process
restarted with `--world N` is the world the admin call made in place (`POST /_admin/new-world`).
"""

from __future__ import annotations

import random
from typing import Any

from tui.sim.core import Simulator


def world_rng(seed: int | None, world: int) -> random.Random:
    """World 1 of a seed is `Random(seed)` (what the simulator always had); later worlds derive from both."""
    if world <= 1 or seed is None:
        return random.Random(seed)
    return random.Random(f"{seed}/world-{world}")


def new_world(sim: Simulator) -> None:
    """Replace the vendors' worlds with world `sim.world + 1` (synchronous: vendors are built, not started)."""
    old_capx = _vendor(sim, "capx")
    previous = [dict(company) for company in old_capx.companies.values()] if old_capx is not None else []
    sim.world += 1
    sim.rng = world_rng(sim.options.seed, sim.world)
    sim.boot = f"{sim.rng.getrandbits(32):08x}"
    for topic in sim.topics.values():  # the old server's connections end with it
        for queue in list(topic.subscribers):
            topic.unsubscribe(queue)
            queue.put_nowait(None)
    sim.topics = {}
    sim.vendors = [type(vendor)(sim) for vendor in sim.vendors]
    capx = _vendor(sim, "capx")
    if capx is not None and previous:
        # About half the companies survive (at least one, never all): their ids stay, their agents and tasks
        # are new; the others answer 404 from now on.
        kept = sim.rng.sample(previous, k=max(1, min(len(previous) - 1, len(previous) // 2)))
        for company, new_id in zip(kept, list(capx.companies)):
            adopt_company(capx, new_id, company)


def adopt_company(capx: Any, new_id: str, old: dict[str, Any]) -> None:
    """Give the new world's company `new_id` the identity (id, name, created_at) of `old`."""
    old_id = old["id"]
    company = capx.companies.pop(new_id)
    company.update(id=old_id, name=old["name"], created_at=old["created_at"])
    capx.companies[old_id] = company
    capx.tasks[old_id] = capx.tasks.pop(new_id)
    agents = capx.company_agents[old_id] = capx.company_agents.pop(new_id)
    for agent in agents:
        agent["company_id"] = old_id
    costs = capx.costs[old_id] = capx.costs.pop(new_id)
    costs["company_id"] = old_id


def _vendor(sim: Simulator, name: str) -> Any:
    return next((vendor for vendor in sim.vendors if vendor.name == name), None)
