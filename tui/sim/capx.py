"""Simulated Capx: companies run by agents that heartbeat, take tasks (some waiting for approval), spend money
against thresholds and run playbooks; the envelope, error table, rolling rate limit, cursor pagination,
Idempotency-Key replay and 409 conflicts of the docs; an activity SSE stream per company; signed webhooks.

Choices where the docs are silent:
- `limit` outside 1..100 (or not a number) is a 422 validation_error: the request is well formed, a value
  fails validation. A cursor we cannot read is a 400 invalid_request.
- a repeated Idempotency-Key returns the first status and body as they were; keys are kept for the run in a
  bounded dict (the docs' 24 h expiry does not matter for a simulator).
- replies to unknown routes and to a wrong API key carry the rate-limit headers too (one shared bucket for
  every unauthenticated caller, so made-up keys cannot grow the table).
- the plan (`--plan`, capx_limits.py) is enforced per key: the minute, and the requests in flight.
- a fleet (`--companies N`): the first five companies are the demo's, the rest get generated names; a few
  generated companies start with a task awaiting approval, as a real fleet has.
- a company removed (`DELETE /_admin/capx/companies/{id}`) is gone: its open streams end, and it answers 404
  (`not_found`) on its stream and its resources from then on.
"""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from tui.sim.capx_limits import UNAUTHENTICATED, InFlight, KeyLimits
from tui.sim.core import VendorSim, iso, sse_response

DOCS = "https://capx.ai/docs/api"
CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
         422: "validation_error", 429: "rate_limit_exceeded", 500: "internal_error"}
COMPANY_NAMES = ["Acme Research", "Northwind Ops", "Blue Harbor Claims", "Quill & Ledger", "Orbit Logistics"]
LATER_COMPANY_NAMES = ["Juniper Labs", "Copper Kettle Media", "Fieldstone Legal", "Lumen Freight", "Redwood Care"]
FLEET_WORDS = ["Alder", "Basalt", "Cinder", "Delta", "Ember", "Fjord", "Garnet", "Harbor", "Indigo", "Jasper",
               "Kestrel", "Linden", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quartz", "Ridge", "Summit", "Tundra"]
FLEET_TRADES = ["Research", "Ops", "Claims", "Ledger", "Logistics", "Media", "Legal", "Freight", "Care", "Labs"]
AWAITING_SHARE = 0.15  # generated companies that start with a task awaiting approval
ROLES = ["researcher", "analyst", "writer", "reviewer", "operator", "planner"]
AGENT_NAMES = ["Ada", "Bram", "Cleo", "Dario", "Esme", "Falk", "Gus", "Hana", "Ivo", "June", "Kit", "Lior"]
TASK_TITLES = ["Summarize claim backlog", "Draft supplier email", "Reconcile March invoices", "Review policy change",
               "Prepare board update", "Triage support queue", "Price the renewal", "Audit agent spend"]
PLAYBOOKS = [("pb_weekly_report", "Weekly report", "Collect metrics and write the weekly report"),
             ("pb_cost_review", "Cost review", "Review spend per agent against the budget"),
             ("pb_backlog_sweep", "Backlog sweep", "Close or reassign stale tasks")]
# What one unit of world activity is. Heartbeats dominate, as in a real fleet. "spend" raises an agent's
# costs and only becomes an event (costs.threshold_reached) when the company's total crosses its threshold.
ACTIVITY_WEIGHTS = [("agent.heartbeat", 50), ("task.created", 10), ("task.completed", 9),
                    ("task.approval_required", 5), ("agent.error", 2), ("playbook.run_started", 2),
                    ("playbook.run_completed", 2), ("spend", 18), ("company.status_changed", 0.3),
                    ("company.created", 0.5)]
MAX_COMPANIES = 10  # company.created stops happening here: the world stays bounded
FOUNDING_INTERVAL = 120.0  # seconds of wall-clock time between two company.created, at the least
MAX_TASKS_PER_COMPANY = 400
MAX_RUNS = 500
IDEMPOTENCY_KEEP = 2000
RECENT_ACTIVITY = 50  # events returned by GET /companies/{id}/activity without stream=true
STARTING_CREDITS = 10_000
READ_COST, MUTATION_COST, PLAYBOOK_COST = 1, 2, 5


def encode_cursor(last_id: str) -> str:
    """Opaque to clients; the docs' example cursor is base64 of {"id": "co_999"}, so ours is too."""
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode()


def decode_cursor(cursor: str) -> str:
    value = json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"]
    if not isinstance(value, str):
        raise ValueError("cursor id is not a string")
    return value


class CapxSim(VendorSim):
    name = "capx"
    prefix = "/capx/v1"
    weight = 0.45

    def __init__(self, sim):
        super().__init__(sim)
        options = sim.options
        self.limits = KeyLimits(options.capx_rate_limit, options.capx_concurrency)
        # Companies are founded rarely in wall-clock time, not per event: a stress run would otherwise reach
        # MAX_COMPANIES in seconds, and a short test would see companies its streams were never opened for.
        self.founding_interval = FOUNDING_INTERVAL
        self.last_founded = time.monotonic()
        self.idempotent: OrderedDict[str, tuple[int, dict]] = OrderedDict()  # "key:idempotency" -> reply
        self.credits_remaining = STARTING_CREDITS
        self.companies: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.agents: dict[str, dict[str, Any]] = {}
        self.company_agents: dict[str, list[dict[str, Any]]] = {}
        self.tasks: dict[str, OrderedDict[str, dict[str, Any]]] = {}
        self.costs: dict[str, dict[str, Any]] = {}
        self.runs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.playbooks = [{"id": i, "name": n, "description": d} for i, n, d in PLAYBOOKS]
        for name in COMPANY_NAMES[:options.capx_companies]:
            self._new_company(name, announce=False)
        self._found_fleet(options.capx_companies - len(COMPANY_NAMES))
        self.max_companies = max(MAX_COMPANIES, options.capx_companies)
        self._kinds = [kind for kind, _ in ACTIVITY_WEIGHTS]
        self._cumulative_weights = []
        total = 0.0
        for _, weight in ACTIVITY_WEIGHTS:
            total += weight
            self._cumulative_weights.append(total)

    @property
    def window(self) -> float:
        """Seconds: the rolling rate-limit window (tests shorten it after start)."""
        return self.limits.window

    @window.setter
    def window(self, seconds: float) -> None:
        self.limits.window = seconds

    # ------------------------------------------------------------------------------------------- world

    def _found_fleet(self, count: int) -> None:
        rng = self.sim.rng
        for number in range(count):
            name = f"{FLEET_WORDS[number % len(FLEET_WORDS)]} {rng.choice(FLEET_TRADES)} {number + 6}"
            company = self._new_company(name, announce=False)
            if rng.random() < AWAITING_SHARE:
                task = next(iter(self.tasks[company["id"]].values()))
                task.update(status="awaiting_approval", updated_at=iso())

    def remove_company(self, company_id: str) -> bool:
        """The company is gone: its rows go, its open streams end, and it answers 404 from now on."""
        if self.companies.pop(company_id, None) is None:
            return False
        for agent in self.company_agents.pop(company_id, []):
            self.agents.pop(agent["id"], None)
        self.tasks.pop(company_id, None)
        self.costs.pop(company_id, None)
        for run_id in [k for k, run in self.runs.items() if run["company_id"] == company_id]:
            del self.runs[run_id]
        topic = self.sim.topics.get(f"capx:{company_id}")
        if topic is not None:
            for queue in list(topic.subscribers):
                topic.unsubscribe(queue)
                queue.put_nowait(None)  # the stream ends; reopening it is a 404
        return True

    def _new_company(self, name: str, *, announce: bool = True) -> dict[str, Any]:
        rng = self.sim.rng
        company_id = self.sim.new_id("co_", 8)
        budget = float(rng.choice([500, 1000, 2500]))
        company = {"id": company_id, "name": self.sim.label(name), "status": "running", "created_at": iso(),
                   "agent_count": 0, "monthly_budget_usd": budget}
        self.companies[company_id] = company
        self.tasks[company_id] = OrderedDict()
        agents = self.company_agents[company_id] = []
        for _ in range(rng.randint(3, 6)):
            agent = {"id": self.sim.new_id("ag_", 8), "company_id": company_id,
                     "name": self.sim.label(rng.choice(AGENT_NAMES)), "role": rng.choice(ROLES),
                     "status": "idle", "last_heartbeat_at": iso()}
            self.agents[agent["id"]] = agent
            agents.append(agent)
        company["agent_count"] = len(agents)
        # The month is under way: spend starts well below the threshold but near enough that the demo sees
        # a costs.threshold_reached within minutes.
        threshold = round(budget * 0.8, 2)
        by_agent = {agent["id"]: round(threshold * rng.uniform(0.6, 0.95) / len(agents), 2) for agent in agents}
        self.costs[company_id] = {"company_id": company_id, "period_start": iso(time.time() - 86400 * 10),
                                  "period_end": iso(time.time() + 86400 * 20),
                                  "total_usd": round(sum(by_agent.values()), 2), "threshold_usd": threshold,
                                  "by_agent": by_agent}
        for _ in range(rng.randint(2, 5)):
            self._create_task(company_id, announce=False)
        if announce:
            self._emit(company_id, "company.created", {"name": company["name"], "status": "running"})
        return company

    def _emit(self, company_id: str, kind: str, fields: dict[str, Any]) -> None:
        payload = {"type": kind, "timestamp": iso(), "company_id": company_id, **fields}
        self.sim.topic(f"capx:{company_id}").publish(payload)
        # Heartbeats stay off the webhooks: one per agent per cycle would drown the receiver, and a dashboard
        # learns of liveness from the activity stream (the docs list the type; it is just not worth a POST).
        if kind != "agent.heartbeat":
            self.sim.webhooks.send("capx", kind, payload, self.sim.options.capx_webhook_secret)

    def _create_task(self, company_id: str, *, announce: bool = True) -> None:
        agent = self.sim.rng.choice(self.company_agents[company_id])
        now = iso()
        task = {"id": self.sim.new_id("tsk_", 8), "title": self.sim.label(self.sim.rng.choice(TASK_TITLES)),
                "status": "open", "agent_id": agent["id"], "created_at": now, "updated_at": now}
        tasks = self.tasks[company_id]
        tasks[task["id"]] = task
        while len(tasks) > MAX_TASKS_PER_COMPANY:
            # The oldest finished task goes first. When none is finished (approvals nobody gave, at load-test
            # rates), the oldest expires, with an event: clients were told it waits, so they are told it no
            # longer does; a task forgotten in silence would wait in every client's view for ever.
            oldest = next((k for k, t in tasks.items() if t["status"] in ("completed", "rejected")), None)
            if oldest is None:
                oldest = next(iter(tasks))
                expired = tasks[oldest]
                expired.update(status="rejected", updated_at=iso())
                self._emit(company_id, "task.completed", {"task_id": oldest, "agent_id": expired["agent_id"],
                                                          "status": "rejected", "title": expired["title"],
                                                          "reason": "expired"})
            tasks.pop(oldest)
        if announce:
            self._emit(company_id, "task.created", {"task_id": task["id"], "agent_id": agent["id"],
                                                    "title": task["title"], "status": "open"})

    def _open_task(self, company_id: str) -> dict[str, Any] | None:
        return next((t for t in self.tasks[company_id].values() if t["status"] in ("open", "in_progress")), None)

    def _heartbeat(self, company_id: str, agent: dict[str, Any]) -> None:
        agent["last_heartbeat_at"] = iso()
        if agent["status"] != "error" or self.sim.rng.random() < 0.3:  # an agent in error recovers after a while
            agent["status"] = "working" if self.sim.rng.random() < 0.8 else "idle"
        self._emit(company_id, "agent.heartbeat", {"agent_id": agent["id"], "status": agent["status"]})

    def tick(self, count: int) -> None:
        rng = self.sim.rng
        # Paused and stopped companies do nothing on their own.
        running = [c["id"] for c in self.companies.values() if c["status"] == "running"]
        for _ in range(count):
            if not running:
                break
            company_id = rng.choice(running)
            kind = rng.choices(self._kinds, cum_weights=self._cumulative_weights)[0]
            agent = rng.choice(self.company_agents[company_id])
            if not self._happen(kind, company_id, agent, len(running)):
                self._heartbeat(company_id, agent)  # what was drawn cannot happen now: the unit is a heartbeat
            elif kind == "company.status_changed":
                running.remove(company_id)
        # Paused companies come back after a while, so the demo never goes quiet. Stopped ones stay stopped.
        for company in self.companies.values():
            if company["status"] == "paused" and rng.random() < 0.002 * count:
                company["status"] = "running"
                self._emit(company["id"], "company.status_changed", {"status": "running", "name": company["name"]})

    def _happen(self, kind: str, company_id: str, agent: dict[str, Any], running: int) -> bool:
        """Make one `kind` of thing happen in a running company; False when it cannot happen now."""
        rng = self.sim.rng
        if kind == "agent.heartbeat":
            self._heartbeat(company_id, agent)
        elif kind == "agent.error":
            agent["status"] = "error"
            self._emit(company_id, kind, {"agent_id": agent["id"], "status": "error",
                                          "error": self.sim.label("tool call timed out")})
        elif kind == "task.created":
            self._create_task(company_id)
        elif kind in ("task.completed", "task.approval_required"):
            task = self._open_task(company_id)
            if task is None:
                return False
            task["status"] = "completed" if kind == "task.completed" else "awaiting_approval"
            task["updated_at"] = iso()
            self._emit(company_id, kind, {"task_id": task["id"], "agent_id": task["agent_id"],
                                          "status": task["status"], "title": task["title"]})
        elif kind == "playbook.run_started":
            self._start_run(rng.choice(self.playbooks)["id"], company_id)
        elif kind == "playbook.run_completed":
            run = next((r for r in self.runs.values() if r["company_id"] == company_id and r["status"] == "running"),
                       None)
            if run is None:
                return False
            run.update(status="failed" if rng.random() < 0.1 else "completed", completed_at=iso())
            self._emit(company_id, kind, {"run_id": run["id"], "playbook_id": run["playbook_id"],
                                          "status": run["status"]})
        elif kind == "spend":
            self._spend(company_id, agent["id"], round(rng.uniform(0.05, 2.5), 2))
        elif kind == "company.status_changed":
            if running <= 2:  # keep most of the world busy
                return False
            company = self.companies[company_id]
            company["status"] = "stopped" if rng.random() < 0.2 else "paused"
            self._emit(company_id, kind, {"status": company["status"], "name": company["name"]})
        elif kind == "company.created":
            if len(self.companies) >= self.max_companies or \
                    time.monotonic() - self.last_founded < self.founding_interval:
                return False
            self.last_founded = time.monotonic()
            self._new_company(f"{rng.choice(LATER_COMPANY_NAMES)} {len(self.companies) + 1}")
        return True

    def _spend(self, company_id: str, agent_id: str, usd: float) -> None:
        costs = self.costs[company_id]
        before = costs["total_usd"]
        costs["total_usd"] = round(before + usd, 2)
        costs["by_agent"][agent_id] = round(costs["by_agent"].get(agent_id, 0.0) + usd, 2)
        if before < costs["threshold_usd"] <= costs["total_usd"]:
            self._emit(company_id, "costs.threshold_reached", {"total_usd": costs["total_usd"],
                                                                "threshold_usd": costs["threshold_usd"]})
            # The finance team raises the threshold, so it can be crossed again later in the demo.
            costs["threshold_usd"] = round(costs["threshold_usd"] * 1.25, 2)

    def _start_run(self, playbook_id: str, company_id: str) -> dict[str, Any]:
        run = {"id": self.sim.new_id("run_", 8), "playbook_id": playbook_id, "company_id": company_id,
               "status": "running", "started_at": iso()}
        self.runs[run["id"]] = run
        while len(self.runs) > MAX_RUNS:
            _, oldest = self.runs.popitem(last=False)
            if oldest["status"] == "running":  # as with tasks: a run forgotten in silence would run for ever
                oldest.update(status="failed", completed_at=iso())
                self._emit(oldest["company_id"], "playbook.run_completed",
                           {"run_id": oldest["id"], "playbook_id": oldest["playbook_id"], "status": "failed",
                            "reason": "timed out"})
        self._emit(company_id, "playbook.run_started", {"run_id": run["id"], "playbook_id": playbook_id,
                                                        "status": "running"})
        return run

    def _costs_out(self, company_id: str) -> dict[str, Any]:
        costs = self.costs[company_id]
        return {**{k: v for k, v in costs.items() if k != "by_agent"},
                "by_agent": [{"agent_id": a, "usd": u} for a, u in costs["by_agent"].items()]}

    def snapshot(self) -> dict[str, Any]:
        return {
            "companies": {k: dict(v) for k, v in self.companies.items()},
            "agents": {k: dict(v) for k, v in self.agents.items()},
            "tasks": {tid: {**t, "company_id": cid} for cid, tasks in self.tasks.items() for tid, t in tasks.items()},
            "costs": {cid: self._costs_out(cid) for cid in self.costs},
            "runs": {k: dict(v) for k, v in self.runs.items()},
            "credits_remaining": self.credits_remaining,
        }

    # ------------------------------------------------------------------------------------------- HTTP plumbing

    def _bucket(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        key = header[7:] if header.lower().startswith("bearer ") else None
        return key if key == self.sim.options.capx_api_key else UNAUTHENTICATED

    def fault_headers(self, request: Request) -> dict[str, str]:
        return self.limits.headers(self._bucket(request))

    def _too_many(self, headers: dict[str, str], message: str) -> Response:
        retry = max(1, int(headers["X-RateLimit-Reset"]) - int(time.time()))
        return self.error(429, "rate_limit_exceeded", message, {**headers, "Retry-After": str(retry)})

    def _refuse_concurrent(self, bucket: str) -> Response:
        headers = self.limits.headers(bucket)
        return self.error(429, "rate_limit_exceeded",
                          f"You have more than {self.limits.concurrent} requests in flight.",
                          {**headers, "Retry-After": "1"})

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        if code not in CODES.values():  # e.g. a simulated 504: the docs' table has no code for it
            code = CODES.get(status, "internal_error")
        return JSONResponse({"success": False, "error": {"code": code, "message": message, "docs": f"{DOCS}#errors"}},
                            status_code=status, headers=headers)

    def _ok(self, data: Any, headers: dict[str, str], *, cost: int = READ_COST, **meta: Any) -> JSONResponse:
        self.credits_remaining = max(0, self.credits_remaining - cost)
        return JSONResponse({"success": True, "data": data,
                             "meta": {"credits_used": cost, "credits_remaining": self.credits_remaining, **meta}},
                            headers=headers)

    def _gate(self, request: Request) -> tuple[Response | None, dict[str, str], str]:
        """Auth, then the rolling rate limit (counted per key). Returns (refusal or None, headers, key)."""
        bucket = self._bucket(request)
        counted, headers = self.limits.count(bucket)  # a refused request is not counted
        if not counted and bucket != UNAUTHENTICATED:
            return self._too_many(headers, f"You have exceeded {self.limits.minute} requests per minute."), \
                headers, bucket
        if bucket == UNAUTHENTICATED:
            return self.error(401, "unauthorized", "Missing or invalid API key", headers), headers, bucket
        return None, headers, bucket

    def routes(self) -> list[BaseRoute]:
        """Every route, behind the count of requests in flight per key."""
        inner = Router(self._routes())
        return [Mount("", app=InFlight(inner, self.limits, lambda scope: self._bucket(Request(scope)),
                                       self._refuse_concurrent))]

    def _routes(self) -> list[BaseRoute]:
        return [
            Route("/companies", self.list_companies),
            Route("/companies/{company_id}", self.get_company),
            Route("/companies/{company_id}/pause", self.pause, methods=["POST"]),
            Route("/companies/{company_id}/resume", self.resume, methods=["POST"]),
            Route("/companies/{company_id}/agents", self.list_agents),
            Route("/companies/{company_id}/tasks", self.list_tasks),
            Route("/companies/{company_id}/costs", self.get_costs),
            Route("/companies/{company_id}/activity", self.activity),
            Route("/tasks/{task_id}/approve", self.approve, methods=["POST"]),
            Route("/tasks/{task_id}/reject", self.reject, methods=["POST"]),
            Route("/playbooks", self.list_playbooks),
            Route("/playbooks/{playbook_id}/run", self.run_playbook, methods=["POST"]),
            # Last: anything else (or a known path with the wrong method) still gets the envelope and headers.
            Route("/{path:path}", self.no_such_route,
                  methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
        ]

    def _paginate(self, request: Request, rows: list[dict[str, Any]], headers: dict[str, str],
                  keep: Callable[[dict[str, Any]], bool] | None = None) -> Response:
        """One page of `rows` (oldest first). The cursor is found among all rows, and `keep` filters after,
        so a row that left the filter (a task that changed status) does not break a walk in progress."""
        try:
            limit = int(request.query_params.get("limit", "25"))
        except ValueError:
            return self.error(422, "validation_error", "limit must be an integer", headers)
        if not 1 <= limit <= 100:
            return self.error(422, "validation_error", "limit must be between 1 and 100", headers)
        start = 0
        cursor = request.query_params.get("cursor")
        if cursor:
            try:
                last_id = decode_cursor(cursor)
                start = next(i for i, row in enumerate(rows) if row["id"] == last_id) + 1
            except (ValueError, KeyError, TypeError, StopIteration):
                return self.error(400, "invalid_request", "Invalid cursor", headers)
        following = rows[start:] if keep is None else [row for row in rows[start:] if keep(row)]
        page = following[:limit]
        has_more = len(following) > limit
        return self._ok(page, headers, cursor=encode_cursor(page[-1]["id"]) if has_more else None,
                        has_more=has_more)

    async def _mutation(self, request: Request,
                        operation: Callable[[dict[str, str]], Awaitable[Response]]) -> Response:
        refused, headers, key = self._gate(request)
        if refused:
            return refused
        idempotency = request.headers.get("idempotency-key")
        remembered = f"{key}:{idempotency}"  # keys are scoped to the API key, as the docs say
        if idempotency and remembered in self.idempotent:
            status, body = self.idempotent[remembered]
            return JSONResponse(body, status_code=status, headers={**headers, "Idempotent-Replayed": "true"})
        response = await operation(headers)
        if idempotency:
            self.idempotent[remembered] = (response.status_code, json.loads(response.body))
            while len(self.idempotent) > IDEMPOTENCY_KEEP:
                self.idempotent.popitem(last=False)
        return response

    async def no_such_route(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        return refused or self.error(404, "not_found", f"No endpoint {request.method} {request.url.path}", headers)

    def _company_or_404(self, request: Request, headers: dict[str, str]) -> tuple[str, Response | None]:
        company_id = request.path_params["company_id"]
        if company_id not in self.companies:
            return company_id, self.error(404, "not_found", "Company not found", headers)
        return company_id, None

    def _company_gate(self, request: Request) -> tuple[Response | None, dict[str, str], str]:
        """`_gate`, then the company the path names: (the refusal or its 404, or None; headers; company id)."""
        refused, headers, _ = self._gate(request)
        if refused:
            return refused, headers, ""
        company_id, missing = self._company_or_404(request, headers)
        return missing, headers, company_id

    # ------------------------------------------------------------------------------------------- endpoints

    async def list_companies(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        return refused or self._paginate(request, list(self.companies.values()), headers)

    async def get_company(self, request: Request) -> Response:
        refused, headers, company_id = self._company_gate(request)
        return refused or self._ok(self.companies[company_id], headers)

    async def _set_status(self, request: Request, target: str) -> Response:
        async def operate(headers: dict[str, str]) -> Response:
            company_id, missing = self._company_or_404(request, headers)
            if missing:
                return missing
            company = self.companies[company_id]
            if company["status"] == target:
                return self.error(409, "conflict", f"Company is already {target}", headers)
            company["status"] = target
            self._emit(company_id, "company.status_changed", {"status": target, "name": company["name"]})
            return self._ok(company, headers, cost=MUTATION_COST)

        return await self._mutation(request, operate)

    async def pause(self, request: Request) -> Response:
        return await self._set_status(request, "paused")

    async def resume(self, request: Request) -> Response:
        return await self._set_status(request, "running")

    async def list_agents(self, request: Request) -> Response:
        refused, headers, company_id = self._company_gate(request)
        if refused:
            return refused
        rows = [{k: v for k, v in a.items() if k != "company_id"} for a in self.company_agents[company_id]]
        return self._paginate(request, rows, headers)

    async def list_tasks(self, request: Request) -> Response:
        refused, headers, company_id = self._company_gate(request)
        if refused:
            return refused
        status = request.query_params.get("status")
        return self._paginate(request, list(self.tasks[company_id].values()), headers,
                              keep=(lambda task: task["status"] == status) if status else None)

    async def get_costs(self, request: Request) -> Response:
        refused, headers, company_id = self._company_gate(request)
        return refused or self._ok(self._costs_out(company_id), headers)

    async def _decide(self, request: Request, approve: bool) -> Response:
        async def operate(headers: dict[str, str]) -> Response:
            task_id = request.path_params["task_id"]
            company_id, task = next(((cid, tasks[task_id]) for cid, tasks in self.tasks.items() if task_id in tasks),
                                    (None, None))
            if task is None:
                return self.error(404, "not_found", "Task not found", headers)
            if task["status"] != "awaiting_approval":
                return self.error(409, "conflict", f"Task is {task['status']}, not awaiting_approval", headers)
            task["status"] = "completed" if approve else "rejected"
            task["updated_at"] = iso()
            # The ten event types have no task.rejected: a decided task is finished either way, and its
            # status says which.
            self._emit(company_id, "task.completed", {"task_id": task_id, "agent_id": task["agent_id"],
                                                      "status": task["status"], "title": task["title"]})
            return self._ok(task, headers, cost=MUTATION_COST)

        return await self._mutation(request, operate)

    async def approve(self, request: Request) -> Response:
        return await self._decide(request, True)

    async def reject(self, request: Request) -> Response:
        return await self._decide(request, False)

    async def list_playbooks(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        return refused or self._paginate(request, self.playbooks, headers)

    async def run_playbook(self, request: Request) -> Response:
        async def operate(headers: dict[str, str]) -> Response:
            playbook_id = request.path_params["playbook_id"]
            if playbook_id not in {p["id"] for p in self.playbooks}:
                return self.error(404, "not_found", "Playbook not found", headers)
            try:
                body = await request.json()
            except ValueError:
                return self.error(400, "invalid_request", "The body must be JSON", headers)
            company_id = body.get("company_id") if isinstance(body, dict) else None
            if not isinstance(company_id, str) or not company_id:
                return self.error(422, "validation_error", "company_id is required", headers)
            if company_id not in self.companies:
                return self.error(404, "not_found", "Company not found", headers)
            return self._ok(self._start_run(playbook_id, company_id), headers, cost=PLAYBOOK_COST)

        return await self._mutation(request, operate)

    async def activity(self, request: Request) -> Response:
        """`?stream=true`: the SSE stream (opening it counts as one request); otherwise the recent events."""
        refused, headers, company_id = self._company_gate(request)
        if refused:
            return refused
        topic = self.sim.topic(f"capx:{company_id}")
        if request.query_params.get("stream") != "true":
            return self._ok([event.payload for event in list(topic.buffer)[-RECENT_ACTIVITY:]], headers)
        response = await sse_response(self.sim, request, topic, event_name="activity")
        response.headers.update(headers)
        return response
