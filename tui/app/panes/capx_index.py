"""The Capx tab's counts per company (agents, agents in error, open tasks, tasks awaiting approval), kept up to
date from the ids each batch names: a frame where three tasks changed costs three index updates, not a scan of
every task of every company."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

AWAITING = "awaiting_approval"
FINISHED_TASKS = frozenset({"completed", "rejected"})  # every other status counts as an open task


def _agent_counters(row: dict[str, Any]) -> tuple[str, ...]:
    return ("agents", "agent_errors") if row.get("status") == "error" else ("agents",)


def _task_counters(row: dict[str, Any]) -> tuple[str, ...]:
    status = row.get("status")
    if status == AWAITING:
        return ("open", "awaiting")
    return () if status in FINISHED_TASKS else ("open",)


# Per indexed kind: the counters it owns, and which of them one row adds to.
COUNTERS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], tuple[str, ...]]]] = {
    "agents": (("agents", "agent_errors"), _agent_counters),
    "tasks": (("open", "awaiting"), _task_counters),
    "runs": ((), lambda row: ()),
}


class CompanyIndex:
    """Which agents, tasks and runs belong to each company, and per-company counts (agents, agent_errors,
    open, awaiting). `update` applies one changed entity using what it counted for it last time, because the
    Store merges changes into its rows in place and the old status is gone by the time we look."""

    def __init__(self) -> None:
        self.members: dict[str, defaultdict[str, set[str]]] = {kind: defaultdict(set) for kind in COUNTERS}
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._counted: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {kind: {} for kind in COUNTERS}

    def rebuild(self, kind: str, rows: dict[str, dict[str, Any]]) -> None:
        for name in COUNTERS[kind][0]:
            self.counts[name].clear()
        self.members[kind].clear()
        self._counted[kind].clear()
        for entity_id, row in rows.items():
            self.update(kind, entity_id, row)

    def update(self, kind: str, entity_id: str, row: dict[str, Any] | None) -> tuple[set[str], set[str]]:
        """Apply one entity's new state (None: removed). Returns (companies whose counts changed, companies
        the entity belonged to before or belongs to now)."""
        old = self._counted[kind].pop(entity_id, None)
        new = None if row is None else (str(row.get("company_id") or ""), COUNTERS[kind][1](row))
        involved: set[str] = set()
        if old is not None:
            company, names = old
            involved.add(company)
            members = self.members[kind][company]
            members.discard(entity_id)
            if not members:
                del self.members[kind][company]
            for name in names:
                self.counts[name][company] -= 1
        if new is not None:
            company, names = new
            involved.add(company)
            self.members[kind][company].add(entity_id)
            for name in names:
                self.counts[name][company] += 1
            self._counted[kind][entity_id] = new
        return (set() if old == new else involved), involved

    def count(self, name: str, company_id: str) -> int:
        return self.counts[name].get(company_id, 0)

    def ids(self, kind: str, company_id: str | None) -> set[str]:
        return self.members[kind].get(company_id, set()) if company_id is not None else set()
