"""Capx (agent-run companies): wire models and the REST client.

Every reply is the `{success, data, meta}` envelope: the client unwraps it and records `meta.credits_*` and
the `X-RateLimit-*` headers of every reply (success or error) as live figures. Every request, REST or stream,
goes out when the key's request budget (budget.py) gives it a turn, by priority; mutations carry an
Idempotency-Key reused on retry.

Connections: each stream opens an HTTP/1.1 connection of its own with no pool at all (a pool's size would decide
which streams exist), through a transport that holds about half of what httpx's does per open connection
(tui/stream_transport.py); REST calls have httpx's pool, so an action never waits behind a stream for a
connection. How many go at once is the budget's business, not a pool's.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from tui.api import (STREAM_READ_TIMEOUT, ApiError, BaseClient, json_or_none, new_idempotency_key,
                     retry_after_seconds, shared_ssl_context)
from tui.stream_transport import StreamTransport
from tui.vendors.capx.budget import (BudgetTransport, Priority, RequestBudget, RequestClass, current_class,
                                     turn_first)

DEFAULT_BASE_URL = "https://api.capx.ai/v1"
MAX_PAGE_SIZE = 100  # the docs' maximum `limit`
STREAM_TIMEOUT = httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT)
REST_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=20)
EVENT_TYPES = (
    "company.created", "company.status_changed", "agent.heartbeat", "agent.error", "task.created",
    "task.completed", "task.approval_required", "playbook.run_started", "playbook.run_completed",
    "costs.threshold_reached",
)


class CapxModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class Meta(CapxModel):
    credits_used: float | None = None
    credits_remaining: float | None = None
    cursor: str | None = None
    has_more: bool | None = None


class ErrorBody(CapxModel):
    code: str | None = None
    message: str | None = None
    docs: str | None = None


class Company(CapxModel):
    id: str = ""
    name: str | None = None
    status: str | None = None
    created_at: str | None = None
    agent_count: int | None = None
    monthly_budget_usd: float | None = None


class Agent(CapxModel):
    id: str = ""
    name: str | None = None
    role: str | None = None
    status: str | None = None
    last_heartbeat_at: str | None = None


class Task(CapxModel):
    id: str = ""
    title: str | None = None
    status: str | None = None
    agent_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class AgentCost(CapxModel):
    agent_id: str | None = None
    usd: float | None = None


class Costs(CapxModel):
    company_id: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    total_usd: float | None = None
    threshold_usd: float | None = None
    by_agent: list[AgentCost] = []


class Playbook(CapxModel):
    id: str = ""
    name: str | None = None
    description: str | None = None


class PlaybookRun(CapxModel):
    id: str = ""
    playbook_id: str | None = None
    company_id: str | None = None
    status: str | None = None
    started_at: str | None = None


class ActivityEvent(CapxModel):
    type: str | None = None
    timestamp: str | None = None
    company_id: str | None = None
    agent_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    playbook_id: str | None = None
    total_usd: float | None = None
    threshold_usd: float | None = None


class WebhookPayload(CapxModel):
    event: str | None = None
    timestamp: str | None = None
    data: dict[str, Any] = {}


M = TypeVar("M", bound=CapxModel)


@dataclass
class Page(Generic[M]):
    items: list[M]
    cursor: str | None
    has_more: bool


@dataclass
class RateLimit:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # epoch seconds
    observed_at: float = 0.0


@dataclass
class CapxCredits:
    """`meta.credits_used` is what one request cost (the docs): the figure an operator wants is what the key spent
    since capwatch started (every process on the key: the fall of `credits_remaining`), and what is left."""

    used: float | None = None  # spent on the key since `since`
    remaining: float | None = None
    since: float | None = None  # epoch seconds of the first reply that carried credits
    last_request: float | None = None  # what the latest request cost

    def after(self, cost: float | None, remaining: float, now: float) -> "CapxCredits":
        """The figures after a reply that cost `cost` and left `remaining`."""
        if self.since is None or self.remaining is None or remaining > self.remaining:  # first reply, or a top-up
            start = remaining + (cost or 0)
            return CapxCredits(start - remaining, remaining, now if self.since is None else self.since, cost)
        return CapxCredits((self.used or 0) + self.remaining - remaining, remaining, self.since, cost)


def _q(value: str) -> str:
    """An id as one path segment: URL-quoted, so an id with "/", "?" or "#" cannot change the path."""
    return quote(value, safe="")


class CapxClient(BaseClient):
    service = "capx"

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, api_key: str, read_only: bool = False,
                 requests_per_minute: int | None = None, concurrent_requests: int | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, **kwargs):
        """`requests_per_minute` and `concurrent_requests`: the plan, when known (else learnt from the replies)."""
        self.budget = RequestBudget(minute=requests_per_minute, concurrent=concurrent_requests)
        rest = transport or httpx.AsyncHTTPTransport(verify=shared_ssl_context(), limits=REST_LIMITS)
        headers = {"Authorization": f"Bearer {api_key}"}
        super().__init__(base_url, headers=headers, read_only=read_only, transport=BudgetTransport(rest, self.budget),
                         api_key=api_key, **kwargs)
        streams = transport or StreamTransport(ssl_context=shared_ssl_context())
        self.stream_http = httpx.AsyncClient(base_url=self.base_url, headers=self.http.headers,
                                             transport=BudgetTransport(streams, self.budget))
        self.rate_limit = RateLimit()
        self.credits = CapxCredits()
        self.on_figures: Callable[[], None] | None = None  # called after every reply updated the figures
        # A response hook sees every reply: errors, the 429s that send() retries, and stream openings.
        self.http.event_hooks["response"].append(self._observe)
        self.stream_http.event_hooks["response"].append(self._observe)

    async def aclose(self) -> None:
        await self.stream_http.aclose()
        await super().aclose()

    # Whether the server answers (tui/live/channel.py asks): a request waiting for its turn in the budget is not on
    # the wire, and the wait for an answer starts when it got its turn. BaseClient counts around the whole call.
    @property
    def in_flight(self) -> int:
        return self.budget.in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        pass  # the budget counts what is on the wire

    @property
    def last_answer(self) -> float:
        oldest = self.budget.oldest_on_wire()
        return self._last_answer if oldest is None else max(self._last_answer, oldest)

    @last_answer.setter
    def last_answer(self, value: float) -> None:
        self._last_answer = value

    # ----------------------------------------------------------------------------------------- plumbing

    async def _observe(self, response: httpx.Response) -> None:
        """Record the live figures of one reply: rate limit from the headers, credits from `meta`."""
        headers = response.headers
        try:
            if "x-ratelimit-limit" in headers:
                self.rate_limit = RateLimit(int(float(headers["x-ratelimit-limit"])),
                                            int(float(headers["x-ratelimit-remaining"])),
                                            float(headers["x-ratelimit-reset"]), time.time())
        except (KeyError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
            pass  # a malformed header is ignored, the last good figures stay
        if "text/event-stream" not in headers.get("content-type", ""):  # a stream's body is never read here
            await response.aread()
            body = json_or_none(response)
            meta = body.get("meta") if isinstance(body, dict) else None
            if isinstance(meta, dict) and isinstance(meta.get("credits_remaining"), (int, float)):
                used = meta.get("credits_used")
                self.credits = self.credits.after(used if isinstance(used, (int, float)) else None,
                                                  meta["credits_remaining"], time.time())
        if self.on_figures is not None:
            self.on_figures()

    def error_from(self, response: httpx.Response) -> ApiError:
        body = json_or_none(response)
        detail = body.get("error") if isinstance(body, dict) else None
        if isinstance(detail, dict):
            error = ErrorBody.model_validate({k: v for k, v in detail.items() if isinstance(v, str)})
            return ApiError(self.service, response.status_code, error.message or "request failed",
                            code=error.code, docs=error.docs)
        return ApiError(self.service, response.status_code, response.reason_phrase or "request failed")

    async def _request(self, method: str, path: str, *, mutation: str | None = None, **kwargs: Any) -> tuple[Any, Meta]:
        """Send one call within the rate budget and unwrap the envelope. `mutation` names a mutating call:
        it is refused in read-only mode, and its Idempotency-Key is the same on every retry."""
        if mutation:
            self.guard(mutation)
            kwargs["headers"] = {**kwargs.get("headers", {}), "Idempotency-Key": new_idempotency_key()}
        async with turn_first(self.budget, current_class(method)):
            response = await self.send(method, path, **kwargs)
        body = json_or_none(response)
        if not isinstance(body, dict) or body.get("success") is not True:
            raise ApiError(self.service, response.status_code, "the reply was not a Capx success envelope")
        try:
            meta = Meta.model_validate(body.get("meta") or {})
        except ValidationError:
            meta = Meta()
        return body.get("data"), meta

    @staticmethod
    def _one(model: type[M], data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise ApiError("capx", None, f"unexpected {model.__name__}: {error.error_count()} problems") from None

    def _many(self, model: type[M], data: Any) -> list[M]:
        if not isinstance(data, list):
            raise ApiError(self.service, None, f"expected a list of {model.__name__}")
        return [self._one(model, row) for row in data]

    async def _page(self, model: type[M], path: str, *, limit: int, cursor: str | None,
                    params: dict[str, Any] | None = None) -> Page[M]:
        query = {"limit": limit, **(params or {})}
        if cursor:
            query["cursor"] = cursor
        data, meta = await self._request("GET", path, params=query)
        return Page(self._many(model, data), meta.cursor, bool(meta.has_more and meta.cursor))

    async def _walk(self, model: type[M], path: str, params: dict[str, Any] | None = None, *,
                    page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[M]:
        """Every item of a list endpoint, following `meta.cursor` until the last page."""
        cursor = None
        while True:
            page = await self._page(model, path, limit=page_size, cursor=cursor, params=params)
            for item in page.items:
                yield item
            if not page.has_more:
                return
            cursor = page.cursor

    # ----------------------------------------------------------------------------------------- resources

    async def list_companies(self, *, limit: int = 25, cursor: str | None = None) -> Page[Company]:
        return await self._page(Company, "/companies", limit=limit, cursor=cursor)

    def iter_companies(self, *, page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[Company]:
        return self._walk(Company, "/companies", page_size=page_size)

    async def get_company(self, company_id: str) -> Company:
        data, _ = await self._request("GET", f"/companies/{_q(company_id)}")
        return self._one(Company, data)

    async def pause_company(self, company_id: str) -> Company:
        data, _ = await self._request("POST", f"/companies/{_q(company_id)}/pause", mutation="pause company")
        return self._one(Company, data)

    async def resume_company(self, company_id: str) -> Company:
        data, _ = await self._request("POST", f"/companies/{_q(company_id)}/resume", mutation="resume company")
        return self._one(Company, data)

    async def list_agents(self, company_id: str) -> list[Agent]:
        return [agent async for agent in self._walk(Agent, f"/companies/{_q(company_id)}/agents")]

    async def list_tasks(self, company_id: str, *, status: str | None = None, limit: int = 25,
                         cursor: str | None = None) -> Page[Task]:
        return await self._page(Task, f"/companies/{_q(company_id)}/tasks", limit=limit, cursor=cursor,
                                params={"status": status} if status else None)

    def iter_tasks(self, company_id: str, *, status: str | None = None,
                   page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[Task]:
        return self._walk(Task, f"/companies/{_q(company_id)}/tasks", {"status": status} if status else None,
                          page_size=page_size)

    async def approve_task(self, task_id: str) -> Task:
        data, _ = await self._request("POST", f"/tasks/{_q(task_id)}/approve", mutation="approve task")
        return self._one(Task, data)

    async def reject_task(self, task_id: str) -> Task:
        data, _ = await self._request("POST", f"/tasks/{_q(task_id)}/reject", mutation="reject task")
        return self._one(Task, data)

    async def get_costs(self, company_id: str) -> Costs:
        data, _ = await self._request("GET", f"/companies/{_q(company_id)}/costs")
        return self._one(Costs, data)

    async def list_playbooks(self) -> list[Playbook]:
        return [playbook async for playbook in self._walk(Playbook, "/playbooks")]

    async def run_playbook(self, playbook_id: str, company_id: str) -> PlaybookRun:
        data, _ = await self._request("POST", f"/playbooks/{_q(playbook_id)}/run", mutation="run playbook",
                                      json={"company_id": company_id})
        return self._one(PlaybookRun, data)

    @asynccontextmanager
    async def open_activity(self, company_id: str, last_event_id: bytes | str | None = None, *,
                            priority: Priority = Priority.STREAM) -> AsyncIterator[httpx.Response]:
        """The activity SSE stream of one company, unparsed (the live layer reads it), resumed after
        `last_event_id` as the reader encodes it (UTF-8 bytes: SSEReader.last_event_id_header). Opening it counts
        against the rate limit. A non-2xx reply raises ApiError (with `retry_after` on a 429), and so does a
        transport failure while opening or reading."""
        headers: dict[str, str | bytes] = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            # The turn first, then the request (`turn_first`; a stream's: the budget counts it as a stream waiting to
            # open); `send(stream=True)` rather than httpx's `stream()`: one context manager (and its suspended
            # generator) less for as long as the stream is open.
            async with turn_first(self.budget, RequestClass(priority, company_id, stream=True)):
                request = self.stream_http.build_request(
                    "GET", f"/companies/{_q(company_id)}/activity", params={"stream": "true"}, headers=headers,
                    timeout=STREAM_TIMEOUT)
                response = await self.stream_http.send(request, stream=True)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    error = self.error_from(response)
                    if response.status_code == 429:
                        error.retry_after = retry_after_seconds(response)
                    raise error
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    raise ApiError(self.service, response.status_code, "the activity reply is not an event stream")
                yield response
            finally:
                await response.aclose()
        except httpx.TransportError as error:
            raise ApiError(self.service, None, f"{type(error).__name__}: {error}") from error
