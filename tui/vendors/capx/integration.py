"""Capx behind the Integration interface: its client and its request budget, the company poller and one activity
stream per watched company (a fleet of hundreds), what decides their priorities within the budget (the company the
operator looks at, those with tasks awaiting approval, those whose webhooks arrive), the budget's figure for the
screen, its signed webhooks (de-duplicated against the streams), and the operator's actions."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Mapping

from tui.live.integration import Integration
from tui.text import sanitize_data
from tui.vendors.capx.budget import Priority, request_class
from tui.vendors.capx.client import CapxClient, Company, Playbook, PlaybookRun, Task
from tui.vendors.capx.live import (
    CapxActivity, CapxCompanies, SeenActivity, activity_event, publish_capx_figures, resync_company,
)
from tui.vendors.capx.resyncs import Resyncs
from tui.vendors.capx.snapshot import CapxSnapshot

RATE_LIMIT = "capx.rate_limit"  # the figure every reply updates (publish_capx_figures)
BUDGET = "capx.budget"  # the request budget's figure, published once a second (`budget_figure`)


class CapxIntegration(Integration):
    snapshot_parts = ("capx.companies", "capx.agents", "capx.tasks", "capx.costs")
    actions = {"set_paused": ("company_id", "paused"), "decide_task": ("task_id", "approve"),
               "run_playbook": ("playbook_id", "company_id")}
    webhooks_fresh = 120.0  # seconds: a company whose last webhook is this recent has webhooks that arrive

    def __init__(self, hub, declaration, settings: Any):
        super().__init__(hub, declaration, settings)
        minute, concurrent = settings.plan_limits()
        self.client = CapxClient(settings.base_url, api_key=settings.api_key_value, read_only=self.read_only,
                                 requests_per_minute=minute, concurrent_requests=concurrent)
        self.client.on_figures = lambda: publish_capx_figures(self.client, self.store)
        self.seen = SeenActivity()  # activity already applied, from a stream or a webhook
        self.channels: dict[str, CapxActivity] = {}  # company id -> its activity stream
        self.tasks: dict[str, asyncio.Task] = {}  # company id -> the task its channel runs in
        # The companies whose snapshot is wanted, read by a few workers (as many as the key's requests in flight).
        self.resyncs = Resyncs(lambda: self.client.budget.concurrent)
        self.focus: str | None = None  # the company the operator looks at: its snapshot goes first
        self.approvals: set[str] = set()  # companies known to have tasks awaiting approval
        self.webhook_at: dict[str, float] = {}  # company id -> when its last webhook arrived (monotonic)
        self.poller: CapxCompanies | None = None  # the company list (None: `capwatch status`'s one snapshot)
        self.snapshot: CapxSnapshot | None = None  # `capwatch status`'s one picture (snapshot.py)

    async def start(self, *, snapshot: bool = False) -> None:
        if snapshot:  # read once over REST, no streams, within a small share of the key's minute (snapshot.py)
            self.snapshot = CapxSnapshot(self.client, self.store, self.settings.companies)
            self.hub.spawn(self.snapshot.run(), "capx.companies")
        else:
            self.poller = CapxCompanies(self.client, self.store, self.listed)
            self.hub.spawn(self.poller.run(), "capx.companies")
            self.hub.spawn(self.publish_budget(), BUDGET)

    # ------------------------------------------------------------------------------------------- the fleet

    async def watch(self, company_ids: list[str]) -> None:
        """A channel for each company to watch (the `companies` setting, else all) without one; the budget
        decides when each stream opens, in priority order."""
        wanted = set(self.settings.companies or company_ids)
        for company_id in company_ids:
            if company_id in wanted and company_id not in self.channels:
                channel = CapxActivity(self.client, self.store, company_id,
                                       priority=lambda c=company_id: self.priority(c),
                                       webhooks_arrive=lambda c=company_id: self.webhooks_arrive(c),
                                       on_gone=self.gone, on_open=self.stream_opened,
                                       on_not_found=self.company_not_found, resyncs=self.resyncs)
                channel.seen_webhooks = self.seen
                channel.approvals = self.approvals
                self.channels[company_id] = channel
                self.tasks[company_id] = self.hub.spawn(channel.run(), channel.name)

    async def listed(self, company_ids: list[str]) -> None:
        """A listing succeeded: the companies it no longer lists are gone at once (a server back as a new world has
        other ids), their channels ended (nothing of theirs waits for the budget), their lights and rows gone, the
        fleet counted without them; then a channel for each listed company to watch (`watch`). A channel started
        after the listing began (a company created meanwhile, told by webhook) is not the listing's to judge."""
        began = self.poller.listed_at if self.poller is not None else None
        listed = set(company_ids)
        for company_id, channel in list(self.channels.items()):
            if company_id not in listed and (began is None or channel.created_at < began):
                channel.forget("no longer listed by the server")
        await self.watch(company_ids)

    def company_not_found(self) -> None:
        """A company answered 404: the listing is read again at once (`CapxCompanies.company_not_found`)."""
        if self.poller is not None:
            self.poller.company_not_found()

    def stream_opened(self) -> None:
        """A stream opened: what changed in its company's own row before it (a pause) is in a listing after it."""
        if self.poller is not None:
            self.poller.stream_opened()

    def priority(self, company_id: str) -> Priority:
        """The class of a company's REST snapshot: looked at, with approvals waiting, or the rest."""
        if company_id == self.focus:
            return Priority.FOCUS
        return Priority.APPROVALS if company_id in self.approvals else Priority.RESYNC

    def look_at(self, company_id: str | None) -> None:
        """The operator selected `company_id` (None: none): its snapshot, waiting or not, goes first."""
        previous, self.focus = self.focus, company_id
        for company in {previous, company_id} - {None}:
            self.reprioritize(company)

    def reprioritize(self, company_id: str) -> None:
        """The company's class changed: its requests waiting in the budget, and its resync waiting in the queue,
        take their new places."""
        self.client.budget.reprioritize(company_id)
        channel = self.channels.get(company_id)
        if channel is not None:
            self.resyncs.reprioritize(channel)

    def webhooks_arrive(self, company_id: str) -> bool:
        at = self.webhook_at.get(company_id)
        return at is not None and time.monotonic() - at < self.webhooks_fresh

    def gone(self, company_id: str) -> None:
        """A company answered 404 (its channel forgot its rows and light): its channel and priorities go."""
        self.channels.pop(company_id, None)
        self.approvals.discard(company_id)
        self.webhook_at.pop(company_id, None)
        task = self.tasks.pop(company_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def budget_figure(self) -> dict[str, Any]:
        """The request budget as the screen shows it (`capx.budget`): what the minute holds, what waits for it, and
        when the companies still without a first snapshot should have it (each costs about three requests)."""
        budget = self.client.budget
        waiting = budget.waiting()
        pending = sum(1 for channel in self.channels.values() if channel.snapshot_at is None)
        per_minute = max(1, budget.minute - budget.reserve(Priority.RESYNC))
        eta = budget.next_room_in(Priority.RESYNC) + pending * 3 * budget.window / per_minute if pending else 0.0
        return {"used": budget.used(), "minute": budget.minute, "in_flight": budget.in_flight,
                "concurrent": budget.concurrent, "waiting_streams": budget.waiting_streams(),
                "waiting_requests": sum(waiting.values()), "awaiting_snapshot": pending,
                "snapshot_eta_s": round(eta), "throttled": budget.throttled,
                "limited": bool(waiting) and budget.used() >= budget.minute - budget.reserve(Priority.RESYNC)}

    async def publish_budget(self, every: float = 1.0) -> None:
        """The budget's figure, once a second (grants come hundreds a second at start: not one update each); and
        once every company listed has had its first snapshot, the agents, tasks and costs are complete."""
        while True:
            figure = self.budget_figure()
            self.store.set_figure(BUDGET, figure)
            if not figure["awaiting_snapshot"] and "capx.companies" in self.store.complete:
                for part in self.snapshot_parts:  # what `capwatch status` waits for (`status --source` too)
                    self.store.mark_complete(part)
            await asyncio.sleep(every)

    # ------------------------------------------------------------------------------------------- webhooks

    def apply_webhook(self, payload: dict[str, Any], received_at: float) -> None:
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        # Known by the activity's own time, never the delivery's (the envelope's `timestamp`).
        data = {"type": payload.get("event"), **data}
        company = str(data.get("company_id") or "")
        if company:
            self._webhook_arrived(company, data.get("type"))
        if self.seen.remember(data):
            shown = data if data.get("timestamp") is not None else {**data, "timestamp": payload.get("timestamp")}
            self.store.apply(activity_event(shown, company_id=company, received=received_at), "webhook")
        if data.get("type") == "company.created" and data.get("company_id"):
            # A new company's activity goes to its own stream: open it now, not at the next company poll.
            self.hub.spawn(self.watch([str(data["company_id"])]), "capx.watch-new-company")

    def _webhook_arrived(self, company: str, kind: Any) -> None:
        """A company whose webhooks arrive reopens its stream with the resyncs; approvals waiting raise its class;
        a costs threshold re-reads its costs within the budget."""
        self.webhook_at[company] = time.monotonic()
        if kind == "task.approval_required" and company not in self.approvals:
            self.approvals.add(company)
            self.reprioritize(company)
        elif kind == "costs.threshold_reached" and company in self.channels:
            self.channels[company].want_costs()

    async def aclose(self) -> None:
        await self.resyncs.stop()
        await super().aclose()

    # ------------------------------------------------------------------------------------------- status

    def not_read(self) -> dict[str, Any] | None:
        return self.snapshot.not_read() if self.snapshot is not None else None

    def figure_lines(self, figures: Mapping[str, Any]) -> list[str]:
        lines = []
        credits = figures.get("capx.credits") or {}
        if credits.get("remaining") is not None:
            lines.append(f"capx credits     {credits['remaining']} remaining")
        rate = figures.get(RATE_LIMIT) or {}
        if rate.get("limit") is not None:
            lines.append(f"capx rate limit  {rate.get('remaining')} of {rate.get('limit')} left this minute")
        return lines

    # ------------------------------------------------------------------------------------------- actions

    async def set_paused(self, company_id: str, paused: bool) -> Company:
        company = await (self.client.pause_company(company_id) if paused else self.client.resume_company(company_id))
        self.store.upsert("companies", company_id, sanitize_data(company.model_dump(mode="json")), "action")
        return company

    async def decide_task(self, task_id: str, approve: bool) -> Task:
        task = await (self.client.approve_task(task_id) if approve else self.client.reject_task(task_id))
        self.store.upsert("tasks", task_id, sanitize_data(task.model_dump(mode="json")), "action")
        return task

    async def run_playbook(self, playbook_id: str, company_id: str) -> PlaybookRun:
        run = await self.client.run_playbook(playbook_id, company_id)
        row = sanitize_data(run.model_dump(mode="json"))
        self.store.upsert("runs", row.get("id") or playbook_id, row, "action")
        return run

    async def playbooks(self) -> list[Playbook]:
        return await self.client.list_playbooks()

    async def resync(self, company_id: str) -> None:
        """Re-read a company's agents, tasks and costs now (the operator asked for it: it goes first)."""
        with request_class(Priority.FOCUS, key=company_id):
            await resync_company(self.client, self.store, company_id)
