"""Simulated Capx: companies run by agents that heartbeat, take tasks (some waiting for approval), spend money
against thresholds and run playbooks; the envelope, error table, rolling rate limit, cursor pagination,
Idempotency-Key replay and 409 conflicts of the docs; an activity SSE stream per company; signed webhooks.

Choices where the docs are silent: `limit` outside 1..100 is a 422 validation_error; a repeated
Idempotency-Key returns the first status and body as they were (kept for the run, bounded, not 24 h).
"""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict, deque
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sim.core import VendorSim, iso, sse_response

DOCS = "https://capx.ai/docs/api"
CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
         422: "validation_error", 429: "rate_limit_exceeded", 500: "internal_error"}
COMPANY_NAMES = ["Acme Research", "Northwind Ops", "Blue Harbor Claims", "Quill & Ledger", "Orbit Logistics"]
ROLES = ["researcher", "analyst", "writer", "reviewer", "operator", "planner"]
AGENT_NAMES = ["Ada", "Bram", "Cleo", "Dario", "Esme", "Falk", "Gus", "Hana", "Ivo", "June", "Kit", "Lior"]
TASK_TITLES = ["Summarize claim backlog", "Draft supplier email", "Reconcile March invoices", "Review policy change",
               "Prepare board update", "Triage support queue", "Price the renewal", "Audit agent spend"]
PLAYBOOKS = [("pb_weekly_report", "Weekly report", "Collect metrics and write the weekly report"),
             ("pb_cost_review", "Cost review", "Review spend per agent against the budget"),
             ("pb_backlog_sweep", "Backlog sweep", "Close or reassign stale tasks")]
# Heartbeats dominate, as in a real fleet.
EVENT_WEIGHTS = [("agent.heartbeat", 50), ("task.created", 10), ("task.completed", 9),
                 ("task.approval_required", 5), ("agent.error", 2), ("playbook.run_started", 2),
                 ("playbook.run_completed", 2), ("costs", 18), ("company.status_changed", 0.3)]
MAX_TASKS_PER_COMPANY = 400
MAX_RUNS = 500
IDEMPOTENCY_KEEP = 2000


class CapxSim(VendorSim):
    name = "capx"
    prefix = "/capx/v1"
    weight = 0.45

    def __init__(self, sim):
        super().__init__(sim)
        self.window = 60.0  # seconds: the rolling rate-limit window (tests may shorten it)
        self.requests: dict[str, deque[float]] = {}
        self.idempotent: OrderedDict[str, tuple[int, dict]] = OrderedDict()
        self.credits_remaining = 10_000.0
        self.companies: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.agents: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, OrderedDict[str, dict[str, Any]]] = {}
        self.costs: dict[str, dict[str, Any]] = {}
        self.runs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.playbooks = [{"id": i, "name": n, "description": d} for i, n, d in PLAYBOOKS]
        for name in COMPANY_NAMES:
            self._new_company(name, announce=False)
        self._kinds = [k for k, _ in EVENT_WEIGHTS]
        self._weights = [w for _, w in EVENT_WEIGHTS]

    # ------------------------------------------------------------------------------------------- world

    def _new_company(self, name: str, *, announce: bool = True) -> dict[str, Any]:
        rng = self.sim.rng
        company_id = self.sim.new_id("co_", 8)
        company = {"id": company_id, "name": self.sim.label(name), "status": "running", "created_at": iso(),
                   "agent_count": 0, "monthly_budget_usd": float(rng.choice([500, 1000, 2500]))}
        self.companies[company_id] = company
        self.tasks[company_id] = OrderedDict()
        for _ in range(rng.randint(3, 6)):
            agent_id = self.sim.new_id("ag_", 8)
            self.agents[agent_id] = {"id": agent_id, "company_id": company_id,
                                     "name": self.sim.label(rng.choice(AGENT_NAMES)), "role": rng.choice(ROLES),
                                     "status": "idle", "last_heartbeat_at": iso()}
            company["agent_count"] += 1
        self.costs[company_id] = {"company_id": company_id, "period_start": iso(time.time() - 86400 * 10),
                                  "period_end": iso(time.time() + 86400 * 20), "total_usd": 0.0,
                                  "threshold_usd": round(company["monthly_budget_usd"] * 0.8, 2),
                                  "by_agent": {}}
        for _ in range(rng.randint(2, 5)):
            self._task_created(company_id, publish=False)
        if announce:
            self._emit(company_id, "company.created", {})
        return company

    def _agents_of(self, company_id: str) -> list[dict[str, Any]]:
        return [a for a in self.agents.values() if a["company_id"] == company_id]

    def _emit(self, company_id: str, kind: str, fields: dict[str, Any]) -> None:
        payload = {"type": kind, "timestamp": iso(), "company_id": company_id, **fields}
        self.sim.topic(f"capx:{company_id}").publish(payload)
        if kind != "agent.heartbeat":  # heartbeats are too chatty for webhooks: dashboards subscribe to the rest
            self.sim.webhooks.send("capx", kind, payload, self.sim.options.capx_webhook_secret)

    def _task_created(self, company_id: str, *, publish: bool = True) -> None:
        agents = self._agents_of(company_id)
        agent = self.sim.rng.choice(agents)
        task_id = self.sim.new_id("tsk_", 8)
        now = iso()
        tasks = self.tasks[company_id]
        tasks[task_id] = {"id": task_id, "title": self.sim.label(self.sim.rng.choice(TASK_TITLES)), "status": "open",
                          "agent_id": agent["id"], "created_at": now, "updated_at": now}
        while len(tasks) > MAX_TASKS_PER_COMPANY:
            oldest = next((k for k, t in tasks.items() if t["status"] in ("completed", "rejected")), None)
            tasks.pop(oldest or next(iter(tasks)))
        if publish:
            task = tasks[task_id]
            self._emit(company_id, "task.created", {"task_id": task_id, "agent_id": agent["id"], "title": task["title"],
                                                    "status": "open"})

    def _pick_task(self, company_id: str, statuses: tuple[str, ...]) -> dict[str, Any] | None:
        for task in self.tasks[company_id].values():
            if task["status"] in statuses:
                return task
        return None

    def tick(self, count: int) -> None:
        rng = self.sim.rng
        running = [c for c in self.companies.values() if c["status"] == "running"]
        for _ in range(count):
            if not running:
                return
            company_id = rng.choice(running)["id"]
            kind = rng.choices(self._kinds, self._weights)[0]
            agents = self._agents_of(company_id)
            agent = rng.choice(agents)
            now = iso()
            if kind == "agent.heartbeat":
                agent["last_heartbeat_at"] = now
                agent["status"] = "working" if agent["status"] != "error" or rng.random() < 0.3 else "error"
                self._emit(company_id, kind, {"agent_id": agent["id"], "status": agent["status"]})
            elif kind == "agent.error":
                agent["status"] = "error"
                self._emit(company_id, kind, {"agent_id": agent["id"], "status": "error",
                                              "error": self.sim.label("tool call timed out")})
            elif kind == "task.created":
                self._task_created(company_id)
            elif kind in ("task.completed", "task.approval_required"):
                task = self._pick_task(company_id, ("open", "in_progress"))
                if task is None:
                    self._task_created(company_id)
                    continue
                task["status"] = "completed" if kind == "task.completed" else "awaiting_approval"
                task["updated_at"] = now
                self._emit(company_id, kind, {"task_id": task["id"], "agent_id": task["agent_id"],
                                              "status": task["status"], "title": task["title"]})
            elif kind == "playbook.run_started":
                playbook = rng.choice(self.playbooks)
                self._start_run(playbook["id"], company_id)
            elif kind == "playbook.run_completed":
                run = next((r for r in self.runs.values() if r["company_id"] == company_id and r["status"] == "running"),
                           None)
                if run is not None:
                    run.update(status="failed" if rng.random() < 0.1 else "completed", completed_at=now)
                    self._emit(company_id, kind, {"run_id": run["id"], "playbook_id": run["playbook_id"],
                                                  "status": run["status"]})
            elif kind == "costs":
                self._spend(company_id, agent["id"], round(rng.uniform(0.05, 2.5), 2))
            elif kind == "company.status_changed" and len(running) > 2:
                company = self.companies[company_id]
                company["status"] = "paused"
                self._emit(company_id, kind, {"status": "paused", "name": company["name"]})
                running = [c for c in running if c["id"] != company_id]
        # Paused companies come back after a while, so the demo never goes quiet.
        for company in self.companies.values():
            if company["status"] == "paused" and rng.random() < 0.002 * count:
                company["status"] = "running"
                self._emit(company["id"], "company.status_changed", {"status": "running", "name": company["name"]})

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
            self.runs.popitem(last=False)
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

    # ------------------------------------------------------------------------------------------- HTTP

    def _rate_headers(self, key: str) -> dict[str, str]:
        now = time.time()
        window = self.requests.setdefault(key, deque())
        while window and window[0] <= now - self.window:
            window.popleft()
        limit = self.sim.options.capx_rate_limit
        reset = int((window[0] + self.window) if window else now + self.window) + 1
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - len(window))),
                "X-RateLimit-Reset": str(reset)}

    def fault_headers(self, request: Request) -> dict[str, str]:
        return self._rate_headers(self._key(request) or "anonymous")

    @staticmethod
    def _key(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        if code not in CODES.values():  # e.g. a simulated 504: the docs' table has no code for it
            code = CODES.get(status, "internal_error")
        return JSONResponse({"success": False, "error": {"code": code, "message": message, "docs": f"{DOCS}#errors"}},
                            status_code=status, headers=headers)

    def _ok(self, data: Any, headers: dict[str, str], *, cost: float = 1, **meta: Any) -> JSONResponse:
        self.credits_remaining = max(0.0, self.credits_remaining - cost)
        return JSONResponse({"success": True, "data": data,
                             "meta": {"credits_used": cost, "credits_remaining": self.credits_remaining, **meta}},
                            headers=headers)

    def _gate(self, request: Request) -> tuple[Response | None, dict[str, str], str]:
        """Auth, then the rolling rate limit (counted per key). Returns (refusal or None, headers, key)."""
        key = self._key(request)
        if key != self.sim.options.capx_api_key:
            return self.error(401, "unauthorized", "Missing or invalid API key"), {}, ""
        headers = self._rate_headers(key)
        if int(headers["X-RateLimit-Remaining"]) <= 0:
            retry = max(1, int(headers["X-RateLimit-Reset"]) - int(time.time()))
            return self.error(429, "rate_limit_exceeded",
                              f"You have exceeded {self.sim.options.capx_rate_limit} requests per minute.",
                              {**headers, "Retry-After": str(retry)}), headers, key
        self.requests[key].append(time.time())
        headers = self._rate_headers(key)
        return None, headers, key

    def routes(self) -> list[BaseRoute]:
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
        ]

    def _paginate(self, request: Request, rows: list[dict[str, Any]], headers: dict[str, str]) -> Response:
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
                last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"]
                start = next(i for i, row in enumerate(rows) if row["id"] == last_id) + 1
            except (ValueError, KeyError, TypeError, StopIteration):
                return self.error(400, "invalid_request", "Invalid cursor", headers)
        page = rows[start:start + limit]
        has_more = start + limit < len(rows)
        next_cursor = base64.urlsafe_b64encode(json.dumps({"id": page[-1]["id"]}).encode()).decode() \
            if has_more and page else None
        return self._ok(page, headers, cursor=next_cursor, has_more=has_more)

    async def _mutation(self, request: Request, operation) -> Response:
        refused, headers, key = self._gate(request)
        if refused:
            return refused
        idempotency = request.headers.get("idempotency-key")
        if idempotency and f"{key}:{idempotency}" in self.idempotent:
            status, body = self.idempotent[f"{key}:{idempotency}"]
            return JSONResponse(body, status_code=status, headers={**headers, "Idempotent-Replayed": "true"})
        response = await operation(headers)
        if idempotency:
            self.idempotent[f"{key}:{idempotency}"] = (response.status_code, json.loads(response.body))
            while len(self.idempotent) > IDEMPOTENCY_KEEP:
                self.idempotent.popitem(last=False)
        return response

    async def list_companies(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        return refused or self._paginate(request, list(self.companies.values()), headers)

    async def get_company(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        if refused:
            return refused
        company = self.companies.get(request.path_params["company_id"])
        if company is None:
            return self.error(404, "not_found", "Company not found", headers)
        return self._ok(company, headers)

    async def _set_status(self, request: Request, target: str) -> Response:
        async def operate(headers: dict[str, str]) -> Response:
            company = self.companies.get(request.path_params["company_id"])
            if company is None:
                return self.error(404, "not_found", "Company not found", headers)
            if company["status"] == target:
                return self.error(409, "conflict", f"Company is already {target}", headers)
            company["status"] = target
            self._emit(company["id"], "company.status_changed", {"status": target, "name": company["name"]})
            return self._ok(company, headers, cost=2)

        return await self._mutation(request, operate)

    async def pause(self, request: Request) -> Response:
        return await self._set_status(request, "paused")

    async def resume(self, request: Request) -> Response:
        return await self._set_status(request, "running")

    async def list_agents(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        if refused:
            return refused
        company_id = request.path_params["company_id"]
        if company_id not in self.companies:
            return self.error(404, "not_found", "Company not found", headers)
        rows = [{k: v for k, v in a.items() if k != "company_id"} for a in self._agents_of(company_id)]
        return self._paginate(request, rows, headers)

    async def list_tasks(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        if refused:
            return refused
        tasks = self.tasks.get(request.path_params["company_id"])
        if tasks is None:
            return self.error(404, "not_found", "Company not found", headers)
        status = request.query_params.get("status")
        rows = [t for t in tasks.values() if not status or t["status"] == status]
        return self._paginate(request, rows, headers)

    async def get_costs(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        if refused:
            return refused
        company_id = request.path_params["company_id"]
        if company_id not in self.costs:
            return self.error(404, "not_found", "Company not found", headers)
        return self._ok(self._costs_out(company_id), headers)

    async def _decide(self, request: Request, approve: bool) -> Response:
        async def operate(headers: dict[str, str]) -> Response:
            task_id = request.path_params["task_id"]
            for company_id, tasks in self.tasks.items():
                task = tasks.get(task_id)
                if task is not None:
                    break
            else:
                return self.error(404, "not_found", "Task not found", headers)
            if task["status"] != "awaiting_approval":
                return self.error(409, "conflict", f"Task is {task['status']}, not awaiting_approval", headers)
            task["status"] = "completed" if approve else "rejected"
            task["updated_at"] = iso()
            self._emit(company_id, "task.completed" if approve else "task.rejected",
                       {"task_id": task_id, "agent_id": task["agent_id"], "status": task["status"],
                        "title": task["title"]})
            return self._ok(task, headers, cost=2)

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
            if not company_id:
                return self.error(422, "validation_error", "company_id is required", headers)
            if company_id not in self.companies:
                return self.error(404, "not_found", "Company not found", headers)
            return self._ok(self._start_run(playbook_id, company_id), headers, cost=5)

        return await self._mutation(request, operate)

    async def activity(self, request: Request) -> Response:
        refused, headers, _ = self._gate(request)
        if refused:
            return refused
        company_id = request.path_params["company_id"]
        if company_id not in self.companies:
            return self.error(404, "not_found", "Company not found", headers)
        topic = self.sim.topic(f"capx:{company_id}")
        if request.query_params.get("stream") != "true":
            return self._ok([e.payload for e in list(topic.buffer)[-50:]], headers)
        response = await sse_response(self.sim, request, topic, event_name="activity")
        response.headers.update(headers)
        return response
