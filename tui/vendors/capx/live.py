"""Capx live: one activity SSE stream per company, opened within the rate limit; after every (re)connect
the company's agents, tasks and costs are re-read so nothing missed in the gap stays missed. A poller
refreshes the company list and costs; the client records credits and rate limits from every reply."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Iterable

from tui.live.channel import Channel, Poller, StreamEnded
from tui.live.events import Event, bad_message_event, load_json, parse_timestamp
from tui.live.sse import SSEReader
from tui.live.store import Store
from tui.api import ApiError
from tui.vendors.capx.client import CapxClient
from tui.text import json_text_is_clean, sanitize, sanitize_data

# What each activity type does to the entity it names: (kind, id field, fields to set).
TASK_STATUS = {
    "task.created": "open",
    "task.completed": "completed",
    "task.approval_required": "awaiting_approval",
    "task.rejected": "rejected",
}


_EXTRA_FIELDS = ("name", "title", "role", "status", "usd")  # copied into an entity's patch when present


def activity_event(payload: dict[str, Any], *, company_id: str, received: float | None = None,
                   sanitized: bool = False) -> Event:
    """One activity message (SSE or webhook `data`) as a normalized event with the patch it implies.
    `sanitized`: the payload is already clean (decoded from a text `json_text_is_clean` passed), used as is."""
    now = received or time.time()
    data = payload if sanitized else sanitize_data(payload)
    kind = str(data.get("type") or "activity")
    stamp = data.get("timestamp")
    at = parse_timestamp(stamp) or now
    company = str(data.get("company_id") or sanitize(company_id, single_line=True))
    entity_kind: str | None = None
    entity_id = ""
    patch: dict[str, Any] | None = None
    extra = {}  # our constant keys: rows share them. A loop: a quarter faster than a comprehension (3.11), per event
    for field in _EXTRA_FIELDS:
        if field in data:
            extra[field] = data[field]
    if kind.startswith("agent.") and data.get("agent_id"):
        entity_kind, entity_id = "agents", str(data["agent_id"])
        patch = {"id": entity_id, "company_id": company, **extra}
        if kind == "agent.heartbeat":
            patch["last_heartbeat_at"] = stamp
            patch.setdefault("status", extra.get("status") or "working")
        elif kind == "agent.error":
            patch["status"] = "error"
            patch["last_error"] = data.get("error") or data.get("message")
    elif kind.startswith("task.") and data.get("task_id"):
        entity_kind, entity_id = "tasks", str(data["task_id"])
        patch = {"id": entity_id, "company_id": company, **extra}
        if kind in TASK_STATUS and "status" not in extra:
            patch["status"] = TASK_STATUS[kind]
        if data.get("agent_id"):
            patch["agent_id"] = data["agent_id"]
    elif kind.startswith("playbook.") and data.get("run_id"):
        entity_kind, entity_id = "runs", str(data["run_id"])
        patch = {"id": entity_id, "company_id": company, "playbook_id": data.get("playbook_id"), **extra}
        if kind == "playbook.run_started":
            patch.setdefault("status", "running")
            patch["started_at"] = stamp
        elif kind == "playbook.run_completed":
            patch.setdefault("status", "completed")
            patch["completed_at"] = stamp
    elif kind == "costs.threshold_reached":
        entity_kind, entity_id = "costs", company
        patch = {"company_id": company}
        for field in ("total_usd", "threshold_usd"):
            if field in data:
                patch[field] = data[field]
        patch["threshold_reached_at"] = stamp
    elif kind.startswith("company."):
        entity_kind, entity_id = "companies", company
        patch = {"id": company, **extra}
    if patch is not None and stamp is not None and entity_kind != "costs":
        # When the entity last changed, so that an event older than that is not applied over it (Store.apply):
        # webhooks arrive in no set order, and race the stream.
        patch["updated_at"] = stamp
    # Positional (time, service, type, id, data, kind, patch, received): twice as fast as keywords, per event.
    return Event(at, "capx", kind, entity_id or company, data, entity_kind, patch, now)


def model_rows(models: Iterable[Any], key: str = "id") -> dict[str, dict[str, Any]]:
    rows = {}
    for model in models:
        row = sanitize_data(model.model_dump(mode="json"))
        if row.get(key):
            rows[str(row[key])] = row
    return rows


async def resync_company(client: CapxClient, store: Store, company_id: str) -> None:
    """Agents, tasks and costs of one company, exactly as the server has them now."""
    agents = await client.list_agents(company_id)
    store.replace("agents", {k: {**v, "company_id": company_id} for k, v in model_rows(agents).items()},
                  where=lambda row: row.get("company_id") == company_id)
    tasks = [task async for task in client.iter_tasks(company_id)]
    store.replace("tasks", {k: {**v, "company_id": company_id} for k, v in model_rows(tasks).items()},
                  where=lambda row: row.get("company_id") == company_id)
    await refresh_costs(client, store, company_id)


async def refresh_costs(client: CapxClient, store: Store, company_id: str) -> None:
    costs = await client.get_costs(company_id)
    store.upsert("costs", company_id, sanitize_data(costs.model_dump(mode="json")), "resync")


class SeenActivity:
    """Capx sends the same activity over SSE and by webhook: remember recent ones so each applies once."""

    def __init__(self, size: int = 5000):
        self.keys: OrderedDict[tuple, None] = OrderedDict()
        self.size = size

    @staticmethod
    def key(payload: dict[str, Any]) -> tuple:
        get = payload.get  # per event: spelled out rather than a generator
        return (get("type"), get("timestamp"), get("company_id"), get("agent_id"), get("task_id"), get("run_id"))

    def remember(self, payload: dict[str, Any]) -> bool:
        """Record `payload`; whether it was new."""
        key = self.key(payload)
        keys = self.keys
        try:
            if key in keys:
                return False
        except TypeError:  # a list or an object where a name or a time belongs: known by its text
            key = tuple(map(str, key))
            if key in keys:
                return False
        keys[key] = None
        if len(keys) > self.size:
            keys.popitem(last=False)
        return True


class CapxActivity(Channel):
    service = "capx"

    def __init__(self, client: CapxClient, store: Store, company_id: str, **kwargs):
        super().__init__(f"capx.{company_id}", store, **kwargs)
        self.client = client
        self.company_id = company_id
        self.sse = SSEReader()
        self.seen_webhooks: SeenActivity | None = None  # shared with the webhook path (CapxIntegration)

    async def session(self) -> None:
        resume_after = self.sse.last_event_id_header()
        async with self.client.open_activity(self.company_id, last_event_id=resume_after) as reply:
            self.mark_live()
            await resync_company(self.client, self.store, self.company_id)
            async for message in self.sse.events(reply):
                self.handle(message.data)
        raise StreamEnded("activity stream ended")

    def handle(self, raw: str) -> None:
        now = time.time()
        if not raw:  # an empty SSE `data:`: the format wants a JSON object; no update was in it
            self.bad_message(raw, "an empty message", lost=False)
            return
        try:
            payload = load_json(raw)
        except ValueError as error:
            self.bad_message(raw, f"not JSON: {error}")  # an update may be missing: resync the company
            return
        if not isinstance(payload, dict) or not payload.get("type"):
            self.bad_message(raw, "not a JSON object with a type")
            return
        self.store.note_event(self.name, now)  # Channel.note_event, one call less per event
        if self.seen_webhooks is not None:
            self.seen_webhooks.remember(payload)
        self.store.apply(activity_event(payload, company_id=self.company_id, received=now,
                                        sanitized=json_text_is_clean(raw)))


class CapxCompanies(Poller):
    """The company list (every 60 s) and the costs of the watched companies (every 60 s). It also starts a
    CapxActivity channel for each company to watch, via `on_company`."""

    service = "capx"

    def __init__(self, client: CapxClient, store: Store, on_companies, every: float = 60.0):
        super().__init__("capx.companies", store)
        self.client = client
        self.on_companies = on_companies
        self.every = every
        self.first = True

    def interval(self) -> float:
        return self.every

    async def poll(self) -> None:
        companies = [company async for company in self.client.iter_companies()]
        drop_gone_companies(self.store, model_rows(companies))
        self.store.mark_complete("capx.companies")
        await self.on_companies([c.id for c in companies if c.id])
        if not self.first:  # the first round of costs comes with each channel's resync
            for company in companies:
                try:
                    await refresh_costs(self.client, self.store, company.id)
                except ApiError as error:
                    self.store.record_error(self.name, str(error))
        self.first = False
        self.publish_figures()

    def publish_figures(self) -> None:
        publish_capx_figures(self.client, self.store)


def drop_gone_companies(store: Store, companies: dict[str, dict[str, Any]]) -> None:
    """A full company list replaces the companies; one the server no longer lists is gone, and so are its agents,
    tasks, costs and runs (an event says so)."""
    gone = [company_id for company_id in store.rows("companies") if company_id not in companies]
    store.replace("companies", companies)
    for kind in ("agents", "tasks", "costs", "runs"):
        store.replace(kind, {}, where=lambda row: str(row.get("company_id") or "") not in companies)
    for company_id in gone:
        store.apply(Event(time.time(), "capx", "company.gone", company_id,
                          {"company_id": company_id, "reason": "no longer listed by the server"}), "resync")


async def snapshot_once(client: CapxClient, store: Store) -> None:
    """One complete picture with as few requests as it takes, no streams: the company list, then each company's
    agents, tasks and costs (`capwatch status`)."""
    companies = [company async for company in client.iter_companies()]
    drop_gone_companies(store, model_rows(companies))
    store.mark_complete("capx.companies")
    for company in companies:
        if company.id:
            await resync_company(client, store, company.id)
    for part in ("agents", "tasks", "costs"):
        store.mark_complete(f"capx.{part}")
    publish_capx_figures(client, store)


class CapxSnapshot(Poller):
    """`snapshot_once` as a channel (named as the company poller, whose place it takes): retried on the Poller's
    short backoff until it succeeds, then idle. For `capwatch status`."""

    service = "capx"

    def __init__(self, client: CapxClient, store: Store):
        super().__init__("capx.companies", store)
        self.client = client

    def interval(self) -> float:
        return 3600.0

    async def poll(self) -> None:
        await snapshot_once(self.client, self.store)


def publish_capx_figures(client: CapxClient, store: Store) -> None:
    rate = getattr(client, "rate_limit", None)
    if rate is not None:
        store.set_figure("capx.rate_limit", _as_dict(rate))
    credits = getattr(client, "credits", None)
    if credits is not None:
        store.set_figure("capx.credits", _as_dict(credits))


def _as_dict(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return value
