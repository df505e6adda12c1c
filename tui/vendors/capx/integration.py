"""Capx behind the Integration interface: its client, the company poller and one activity stream per watched
company, its signed webhooks (de-duplicated against the streams), and the operator's actions."""

from __future__ import annotations

from typing import Any, Mapping

from tui.live.integration import Integration
from tui.text import sanitize_data
from tui.vendors.capx.budget import Priority, request_class
from tui.vendors.capx.client import CapxClient, Company, Playbook, PlaybookRun, Task
from tui.vendors.capx.live import (
    CapxActivity, CapxCompanies, CapxFleet, CapxSnapshot, SeenActivity, activity_event, publish_capx_figures,
    resync_company,
)

RATE_LIMIT = "capx.rate_limit"  # the figure every reply updates (publish_capx_figures)


class CapxIntegration(Integration):
    snapshot_parts = ("capx.companies", "capx.agents", "capx.tasks", "capx.costs")
    actions = {"set_paused": ("company_id", "paused"), "decide_task": ("task_id", "approve"),
               "run_playbook": ("playbook_id", "company_id")}

    def __init__(self, hub, declaration, settings: Any):
        super().__init__(hub, declaration, settings)
        minute, concurrent = settings.plan_limits()
        self.client = CapxClient(settings.base_url, api_key=settings.api_key_value, read_only=self.read_only,
                                 requests_per_minute=minute, concurrent_requests=concurrent)
        self.client.on_figures = lambda: publish_capx_figures(self.client, self.store)
        self.seen = SeenActivity()  # activity already applied, from a stream or a webhook
        # The activity channels and what decides their priorities (the company looked at, approvals, webhooks).
        self.fleet = CapxFleet(self.client, self.store, self.hub.spawn, self.seen)
        self.channels: dict[str, CapxActivity] = self.fleet.channels  # company id -> its activity stream

    async def start(self, *, snapshot: bool = False) -> None:
        if snapshot:  # read once over REST: no streams, as few requests as a picture takes
            self.hub.spawn(CapxSnapshot(self.client, self.store).run(), "capx.companies")
        else:
            self.hub.spawn(CapxCompanies(self.client, self.store, self.watch).run(), "capx.companies")
            self.hub.spawn(self.fleet.publish(), "capx.budget")  # the budget's figure (the screen reads it)

    async def watch(self, company_ids: list[str]) -> None:
        """Open the activity stream of each company to watch (the `companies` setting, else all) not open yet."""
        self.fleet.watch(company_ids, set(self.settings.companies or company_ids))

    def look_at(self, company_id: str | None) -> None:
        """The operator selected `company_id` (None: none): its snapshot, waiting or not, goes first."""
        self.fleet.look_at(company_id)

    def apply_webhook(self, payload: dict[str, Any], received_at: float) -> None:
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        # Known by the activity's own time, never the delivery's (the envelope's `timestamp`).
        data = {"type": payload.get("event"), **data}
        company = str(data.get("company_id") or "")
        self.fleet.on_webhook(data)
        if self.seen.remember(data):
            shown = data if data.get("timestamp") is not None else {**data, "timestamp": payload.get("timestamp")}
            self.store.apply(activity_event(shown, company_id=company, received=received_at), "webhook")
        if data.get("type") == "company.created" and data.get("company_id"):
            # A new company's activity goes to its own stream: open it now, not at the next company poll.
            self.hub.spawn(self.watch([str(data["company_id"])]), "capx.watch-new-company")

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
