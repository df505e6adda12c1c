"""Capx live: one activity SSE stream per company, opened within the key's request budget; after every
(re)connect the company's agents, tasks and costs are re-read beside the stream (never in front of it), so
nothing missed in a gap stays missed. A poller refreshes the company list, and a sweep the costs, with what the
minute has left; the client records credits and rate limits from every reply.

Priorities (budget.py): a stream opens first, unless the company's webhooks arrive (then it reopens with the
resyncs, within the budget); a company's snapshot goes by its class: the one the operator looks at, then those
with tasks awaiting approval, then the rest (integration.py decides which). A company that answers 404 is gone:
its stream stops, its rows go, and an event says so.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable

from tui.api import ApiError
from tui.live.channel import Channel, FatalChannelError, Poller, StreamEnded
from tui.live.events import ChannelState, Event, Fleet, bad_message_event, load_json, parse_timestamp
from tui.live.sse import SSEReader
from tui.live.store import Store
from tui.text import json_text_is_clean, sanitize, sanitize_data
from tui.vendors.capx.budget import Priority, request_class
from tui.vendors.capx.client import CapxClient
from tui.vendors.capx.resyncs import Resyncs

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


async def resync_company(client: CapxClient, store: Store, company_id: str, touched: set[str] | None = None) -> bool:
    """Tasks (the approvals first), agents and costs of one company, as the server has them now; whether a task
    awaits approval. `touched`: the ids the stream changed since this resync began (it runs beside the stream):
    those keep the stream's state where it is newer than the server's answer (`_replace_beside`)."""
    touched = set() if touched is None else touched
    # No reply's models are kept across the waits that follow: a fleet's resyncs wait minutes for their turns in
    # the budget, and the tasks' and agents' pydantic models (each with a dict and a set of its fields) held
    # meanwhile were ~8 KB a company while 300 opened (tests/perf/fleet.py); their rows are in the Store.
    tasks = [task async for task in client.iter_tasks(company_id)]
    waiting = any(task.status == "awaiting_approval" for task in tasks)
    _replace_beside(store, "tasks", company_id, model_rows(tasks), touched)
    del tasks
    _replace_beside(store, "agents", company_id, model_rows(await client.list_agents(company_id)), touched)
    await refresh_costs(client, store, company_id)
    return waiting


def _replace_beside(store: Store, kind: str, company_id: str, rows: dict[str, dict[str, Any]],
                    touched: set[str]) -> None:
    """`store.replace` for one company's rows, except those the stream changed while the answer was on its way and
    that are newer than it: a row the answer does not have yet, or one whose event is later than the answer's row.
    (After a reconnect the stream may replay events older than the answer: those do not win.)"""
    current = store.rows(kind)
    merged = {entity_id: {**row, "company_id": company_id} for entity_id, row in rows.items()}
    for entity_id in touched:
        ours = current.get(entity_id)
        if ours is None or ours.get("company_id") != company_id:
            continue
        theirs = merged.get(entity_id)
        if theirs is None or _newer(ours, theirs):
            merged[entity_id] = {**(theirs or {}), **ours}
    store.replace(kind, merged, where=lambda row: row.get("company_id") == company_id)


def _newer(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether the stream's row changed after the server's row (unknown times: the stream's, as it came later)."""
    mine = parse_timestamp(ours.get("updated_at"))
    server = parse_timestamp(theirs.get("updated_at") or theirs.get("last_heartbeat_at"))
    return mine is None or server is None or mine > server


async def refresh_costs(client: CapxClient, store: Store, company_id: str) -> None:
    costs = await client.get_costs(company_id)
    store.upsert("costs", company_id, sanitize_data(costs.model_dump(mode="json")), "resync")


class SeenActivity:
    """Capx sends the same activity over SSE and by webhook: remember recent ones so each reaches the timeline
    once. An event is known by its type, the entities it names and its own time (the activity's `timestamp`),
    never by when it was delivered; one with no time of its own cannot be told apart and is always new."""

    def __init__(self, size: int = 5000):
        self.keys: OrderedDict[tuple, None] = OrderedDict()
        self.size = size

    @staticmethod
    def key(payload: dict[str, Any]) -> tuple:
        get = payload.get  # per event: spelled out rather than a generator
        return (get("type"), get("timestamp"), get("company_id"), get("agent_id"), get("task_id"), get("run_id"))

    def remember(self, payload: dict[str, Any]) -> bool:
        """Record `payload`; whether it was new."""
        if payload.get("timestamp") is None:
            return True
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


class CompanyGone(FatalChannelError):
    """The company answered 404: it no longer exists."""


def forget_company(store: Store, company_id: str, reason: str) -> None:
    """A company that no longer exists: its rows go, and an event says so (the same `company.gone` as when the
    company list no longer has it; once, whichever noticed first). Its channel's light goes as the channel ends
    (`CapxActivity.run`): once, after whatever the channel recorded on its way out."""
    for kind in ("agents", "tasks", "runs"):
        for entity_id in [k for k, row in store.rows(kind).items() if row.get("company_id") == company_id]:
            store.remove(kind, entity_id)
    store.remove("costs", company_id)
    listed = store.remove("companies", company_id)
    if listed:
        store.apply(Event(time.time(), "capx", "company.gone", company_id,
                          {"company_id": company_id, "reason": sanitize(reason, single_line=True)}), "resync")


class CapxActivity(Channel):
    """One company's activity stream. Its REST resync runs beside the stream: queued (`Resyncs`, shared by the
    fleet: a few workers take the companies by priority), then read in a task of its own; one at a time per company,
    retried on its own backoff (queued again when it is over). A reconnect while one is queued asks for nothing more
    (its reads go after the reconnect); one while it reads makes it read again once it is done: a read that went out
    before the stream reopened may hold the server's state from before a gap the stream did not see (the client
    retries a request across a server's restart, so a resync can begin on one side of a gap and end on the other)."""

    service = "capx"
    # Hundreds, one per company: Capx is down only when the listing is lost, or every stream that had data; a few
    # streams reconnecting are a partial outage (tui/live/currency.py).
    fleet = Fleet(members="company streams", entities="companies")
    resync_retry_cap = 60.0

    def __init__(self, client: CapxClient, store: Store, company_id: str, *,
                 priority: Callable[[], Priority] | None = None, webhooks_arrive: Callable[[], bool] | None = None,
                 on_gone: Callable[[str], None] | None = None, on_open: Callable[[], None] | None = None,
                 on_not_found: Callable[[], None] | None = None, resyncs: Resyncs | None = None, **kwargs):
        super().__init__(f"capx.{company_id}", store, **kwargs)
        self.client = client
        self.company_id = company_id
        self.sse = SSEReader()
        self.seen_webhooks: SeenActivity | None = None  # shared with the webhook path (CapxIntegration)
        self.priority = priority or (lambda: Priority.RESYNC)  # this company's class for its REST snapshot
        self.webhooks_arrive = webhooks_arrive or (lambda: False)
        self.on_gone = on_gone
        self.on_open = on_open  # the stream opened: what it did not replay of the company's own row is re-listed
        self.on_not_found = on_not_found  # the company answered 404: the listing is out of date (re-listed at once)
        self.snapshot_at: float | None = None  # when the last resync completed (None: no snapshot yet)
        self.created_at = time.monotonic()  # a listing that began before it may not have the company yet
        self.is_gone = False
        self.approvals: set[str] | None = None  # set by the integration: the companies with tasks awaiting approval
        self.resyncs = Resyncs() if resyncs is None else resyncs  # where its resyncs queue (the fleet's)
        self._resync: asyncio.Task | None = None  # the resync reading now (None once it is done, and while queued)
        self._touched: set[str] | None = None  # while a resync runs: the entities the stream changed meanwhile
        self._opened_at = 0.0  # when the stream last opened (monotonic)
        self._first_read_at: float | None = None  # when the running resync's first request went out (monotonic)
        self._failures = 0  # resyncs failed in a row (its backoff)
        self._retry: asyncio.TimerHandle | None = None  # while a failed resync waits to be queued again
        self._ended = False  # its run is over: nothing more is queued or started for it
        self._costs: asyncio.Task | None = None

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            self._ended = True
            self._unqueue()
            for task in (self._resync, self._costs):
                if task is not None:
                    task.cancel()
            if self.is_gone:
                self.store.forget_channel(self.name)  # no light for a company gone

    async def session(self) -> None:
        # A company whose webhooks arrive loses nothing while its stream is down: it reopens with the resyncs.
        priority = Priority.RESYNC if self.webhooks_arrive() and self.snapshot_at else Priority.STREAM
        try:
            async with self.client.open_activity(self.company_id, last_event_id=self.sse.last_event_id_header(),
                                                 priority=priority) as reply:
                self._opened_at = time.monotonic()
                self.mark_live()
                self.want_resync()
                if self.on_open is not None:
                    self.on_open()
                async for message in self.sse.events(reply):
                    self.handle(message.data)
        except ApiError as error:
            if error.status == 404:
                self.gone(str(error))
            raise
        raise StreamEnded("activity stream ended")

    def want_costs(self) -> None:
        """The costs changed (a threshold was reached): their breakdown by agent is re-read, so that it sums to the
        total the event gave. One read at a time, within the budget, at the company's priority."""
        if self._costs is None or self._costs.done():
            try:
                self._costs = asyncio.get_running_loop().create_task(self._refresh_costs())
            except RuntimeError:  # a message handled outside any event loop (as the property tests feed them)
                pass  # nothing runs that could read them; the next resync does

    async def _refresh_costs(self) -> None:
        try:
            with request_class(self.priority, key=self.company_id):
                await refresh_costs(self.client, self.store, self.company_id)
        except ApiError as error:
            if error.status == 404:
                self.gone(str(error))
            else:
                self.store.record_error(self.name, f"costs: {error}")

    def want_resync(self) -> None:
        """Re-read the company from REST, beside the stream; nothing more when a resync is already queued or runs
        (one waiting out a failure is queued now: the stream just reconnected, so the server answers again; one
        whose reads began before the stream reopened reads again when it is done, `_resync_until_done`)."""
        if self._ended or (self._resync is not None and not self._resync.done()):
            return
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.resyncs.add(self)

    def start_resync(self) -> asyncio.Task | None:
        """Its turn in the queue (`Resyncs`' worker): the resync, as a task of its own (None: the channel ended)."""
        if self._ended or self.is_gone:
            return None
        self._resync = asyncio.ensure_future(self._resync_until_done())
        self._resync.add_done_callback(self._resync_ended)
        return self._resync

    def _resync_ended(self, task: asyncio.Task) -> None:
        if self._resync is task:
            self._resync = None

    def _unqueue(self) -> None:
        self.resyncs.discard(self)
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _retry_due(self) -> None:
        self._retry = None
        self.want_resync()

    async def _resync_until_done(self) -> None:
        while True:
            self._touched, self._first_read_at = set(), None
            try:
                with request_class(self.priority, key=self.company_id, on_sent=self._read_sent):
                    waiting = await resync_company(self.client, self.store, self.company_id, self._touched)
            except ApiError as error:
                if error.status == 404:
                    self.gone(str(error))
                    return
                if error.status in (401, 403):
                    return  # the stream's own loop reports a wrong key
                self.store.record_error(self.name, f"resync: {error}")
                self._touched = None
                self._failures += 1
                # Queued again after its backoff (or at once by `want_resync`: a reconnect), not waiting in a task.
                self._retry = asyncio.get_running_loop().call_later(
                    random.uniform(0.5, min(self.resync_retry_cap, 2.0 ** self._failures)), self._retry_due)
                return
            self._touched = None
            if self._first_read_at is not None and self._first_read_at < self._opened_at:
                continue  # the stream reopened after this resync began reading: read again, after the reopening
            self._failures = 0
            self.snapshot_at = time.time()
            if self.approvals is not None:
                (self.approvals.add if waiting else self.approvals.discard)(self.company_id)
            return

    def _read_sent(self) -> None:
        if self._first_read_at is None:
            self._first_read_at = time.monotonic()

    def gone(self, reason: str) -> None:
        """The company answered 404: stop, and forget it."""
        if self.is_gone:
            return
        self.forget(reason)
        if self.on_not_found is not None:
            self.on_not_found()
        if asyncio.current_task() is not self._resync:
            raise CompanyGone(f"company {self.company_id} no longer exists: {reason}")

    def forget(self, reason: str) -> None:
        """The company is gone (it answered 404, or a listing no longer has it): its resync stops, its rows go, and
        `on_gone` ends its channel (whose light goes as it ends, `run`)."""
        self.is_gone = True
        self._unqueue()
        if self._resync is not None and self._resync is not asyncio.current_task():
            self._resync.cancel()
        forget_company(self.store, self.company_id, reason)
        if self.on_gone is not None:
            self.on_gone(self.company_id)

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
        event = activity_event(payload, company_id=self.company_id, received=now, sanitized=json_text_is_clean(raw))
        if self._touched is not None:
            self._touched.add(event.id)
        kind = payload.get("type")
        if self.approvals is not None and kind == "task.approval_required":
            self.approvals.add(self.company_id)
        elif kind == "costs.threshold_reached":
            self.want_costs()
        if self.seen_webhooks is not None and not self.seen_webhooks.remember(payload):
            # Its webhook came first and is on the timeline already. The stream keeps the real order, which the
            # webhooks (delivered several at a time) do not: its state still applies, as an event's would.
            self.store.apply_state(event)
        else:
            self.store.apply(event)


class CapxCompanies(Poller):
    """The company list (every 60 s), which starts a CapxActivity channel for each company to watch via
    `on_companies`, and a sweep of the companies' costs with what the minute has left (the first round of costs
    comes with each channel's resync).

    A stream replays nothing from before it opened, and a company's resync reads its agents, tasks and costs, not
    its own row: a company paused or stopped between the listing and its stream's opening would show its old
    status (and no events) until the next listing, a minute later. So once streams opened after the last listing
    (`stream_opened`), the list is read again as soon as no stream waits for its turn: a page per hundred
    companies, not a read per company."""

    service = "capx"
    relist_settle = 1.0  # seconds: how often a re-listing that is due checks whether streams still wait to open
    relist_within = 10.0  # seconds after the first stream opened since the last listing: re-listed by then

    def __init__(self, client: CapxClient, store: Store, on_companies, every: float = 60.0,
                 costs_every: float = 60.0):
        super().__init__("capx.companies", store)
        self.client = client
        self.on_companies = on_companies
        self.every = every
        self.costs_every = costs_every  # no company's costs are read more often than this
        self.first = True
        self.company_ids: list[str] = []
        self._sweep: asyncio.Task | None = None
        self.listed_at: float | None = None  # when the last listing that succeeded began (monotonic)
        self._opened_at = 0.0  # when a stream last opened
        self._relist: asyncio.Task | None = None
        self._relisting = False  # the poll asked for by `stream_opened` or `company_not_found`, not the minute's
        self._polling = False  # a listing is under way

    def interval(self) -> float:
        return self.every

    def turn_in(self) -> float:
        """A check of the server is a listing, at the streams' priority: it asks when the minute has room for it."""
        return self.client.budget.turn_in(Priority.STREAM)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for task in (self._sweep, self._relist):
                if task is not None:
                    task.cancel()

    async def poll(self) -> None:
        # The listing says which streams exist (and a check of the server, when another channel lost it, must not
        # wait behind resyncs): it goes with the streams, a page per hundred companies a minute, ahead of the streams
        # that wait, every page of it (a server back as a new world: the streams of companies it no longer lists
        # would each spend a request on a 404 first, those of its new companies not open till the listing is read).
        began, relisting, self._relisting = time.monotonic(), self._relisting, False
        # What changes while the listing is on its way (a stream's status, an action) is newer than its answer.
        meanwhile = self.store.subscribe(max_events=0)
        self._polling = True
        try:
            with request_class(Priority.STREAM, ahead=True):
                companies = [company async for company in self.client.iter_companies()]
            changed = meanwhile.take()
        finally:
            self._polling = False
            meanwhile.close()
        self.listed_at = began
        drop_gone_companies(self.store, model_rows(companies), changed.kinds.get("companies", ()) if changed else ())
        self.store.mark_complete("capx.companies")
        self.company_ids = [c.id for c in companies if c.id]
        await self.on_companies(self.company_ids)
        if not self.first and not relisting and (self._sweep is None or self._sweep.done()):
            self._sweep = asyncio.ensure_future(self._sweep_costs())
        self.first = False
        self.publish_figures()

    def company_not_found(self) -> None:
        """A company the listing had listed answered 404: the server's companies are not the listing's any more (a server
        back as a new world answers 404 for each company of the old one, and when none of them survived, no stream
        opens to say the server is back, and the listing waited out its backoff, up to a minute, with the new
        world unknown). It is read again now, ahead of the streams waiting, whatever its backoff or interval; a
        listing under way answers the 404s that come meanwhile (one that no longer lists their companies ends
        their channels, so a new world's hundreds of 404s ask for a listing or two, not hundreds)."""
        if not self._polling:
            self._relisting = True  # not the minute's: no sweep of the costs comes with it
            self.check_now()

    def stream_opened(self) -> None:
        """A company's stream opened: the list is read again once no stream waits for its turn (at the latest
        `relist_within` later), unless a listing begins after it meanwhile."""
        self._opened_at = time.monotonic()
        if self._relist is None or self._relist.done():
            self._relist = asyncio.ensure_future(self._relist_when_opened())

    async def _relist_when_opened(self) -> None:
        first = time.monotonic()
        while self.listed_at is None or self.listed_at < self._opened_at:
            await asyncio.sleep(self.relist_settle)
            if self.store.channel(self.name, "").state is not ChannelState.LIVE:
                return  # the listing fails: its own retry, when it succeeds, is a listing after these streams
            if self.client.budget.waiting_streams() and time.monotonic() - first < self.relist_within:
                continue  # streams still wait for their turn: one listing after them all
            self._relisting = True
            self.check_now()  # (asked again a second later if a poll under way swallowed it)

    async def _sweep_costs(self) -> None:
        """Each company's costs once, one at a time, at the lowest priority: a fleet's costs take the minutes the
        budget needs, never the streams' or the operator's share."""
        for company_id in list(self.company_ids):
            started = time.monotonic()
            try:
                with request_class(Priority.REFRESH, key=company_id):
                    await refresh_costs(self.client, self.store, company_id)
            except ApiError as error:
                if error.status != 404:  # a company gone is its channel's business
                    self.store.record_error(self.name, str(error))
            # Spread over `costs_every`, at the most one company's costs per share of it.
            await asyncio.sleep(max(0.0, self.costs_every / max(1, len(self.company_ids)) -
                                    (time.monotonic() - started)))

    def publish_figures(self) -> None:
        publish_capx_figures(self.client, self.store)


def drop_gone_companies(store: Store, companies: dict[str, dict[str, Any]], changed: Iterable[str] = ()) -> None:
    """A full company list replaces the companies; one the server no longer lists is gone, and so are its agents,
    tasks, costs and runs (an event says so). `changed`: the companies whose row changed while the list was on its
    way (a stream's `company.status_changed`, an action): the list does not take back what is newer than its own
    row (`_newer`: the rows' own times; the list gives none, so the later word), nor drop a company it does not
    list yet (created meanwhile)."""
    current = store.rows("companies")
    for company_id in changed:
        ours, theirs = current.get(company_id), companies.get(company_id)
        if ours is not None and (theirs is None or _newer(ours, theirs)):
            companies[company_id] = {**(theirs or {}), **ours}
    gone = [company_id for company_id in current if company_id not in companies]
    store.replace("companies", companies)
    for kind in ("agents", "tasks", "costs", "runs"):
        store.replace(kind, {}, where=lambda row: str(row.get("company_id") or "") not in companies)
    for company_id in gone:
        store.apply(Event(time.time(), "capx", "company.gone", company_id,
                          {"company_id": company_id, "reason": "no longer listed by the server"}), "resync")


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
