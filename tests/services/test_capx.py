"""Capx over real sockets: the doc's examples and envelope, its error table, the rolling rate limit with
headers on every reply, cursor pagination, idempotent replay, 409 conflicts, the activity stream with
Last-Event-ID resume, the world's events, and the client's governor, 429 waits and read-only refusals."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import pytest

from tui.live.sse import SSEReader
from tui.api import ApiError, ReadOnlyError
from tui.vendors.capx.client import EVENT_TYPES, CapxClient, RateLimit, RateLimitGovernor
from tui.sim.capx import MAX_COMPANIES

KEY = "capx_sk_test_demo"
AUTH = {"Authorization": f"Bearer {KEY}"}
RATE_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}


def state(sim) -> dict:
    return httpx.get(f"{sim.root}/_admin/state").json()["capx"]


def journal(sim) -> dict:
    return httpx.get(f"{sim.root}/_admin/journal").json()


def step(sim, count: int) -> None:
    httpx.post(f"{sim.root}/_admin/step", params={"count": count, "vendor": "capx"}).raise_for_status()


def assert_error_envelope(reply: httpx.Response, status: int, code: str) -> None:
    body = reply.json()
    assert reply.status_code == status
    assert body == {"success": False, "error": {"code": code, "message": body["error"]["message"],
                                                "docs": body["error"]["docs"]}}
    assert body["error"]["message"] and body["error"]["docs"].startswith("https://capx.ai/docs/api")
    assert RATE_HEADERS <= set(reply.headers)


# --------------------------------------------------------------------------------------------- wire


def test_doc_list_example_envelope_headers_and_pagination_to_the_last_page(sim):
    base = sim.base_urls["capx"]
    reply = httpx.get(f"{base}/companies?limit=2", headers=AUTH)  # the doc's curl, with our key and limit
    body = reply.json()
    assert body["success"] is True and len(body["data"]) == 2
    assert set(body["meta"]) == {"credits_used", "credits_remaining", "cursor", "has_more"}
    assert isinstance(body["meta"]["credits_used"], int) and body["meta"]["has_more"] is True
    assert RATE_HEADERS <= set(reply.headers) and reply.headers["x-ratelimit-limit"] == "60"
    assert set(body["data"][0]) >= {"id", "name", "status", "created_at", "agent_count", "monthly_budget_usd"}
    seen = [c["id"] for c in body["data"]]
    credits = body["meta"]["credits_remaining"]
    while body["meta"]["has_more"]:
        page = {"limit": 2, "cursor": body["meta"]["cursor"]}
        body = httpx.get(f"{base}/companies", params=page, headers=AUTH).json()
        seen += [c["id"] for c in body["data"]]
        assert body["meta"]["credits_remaining"] < credits  # every read costs a credit
        credits = body["meta"]["credits_remaining"]
    assert body["meta"]["cursor"] is None and body["meta"]["has_more"] is False
    assert seen == list(state(sim)["companies"])  # every company once, in order
    assert_error_envelope(httpx.get(f"{base}/companies?limit=101", headers=AUTH), 422, "validation_error")
    assert_error_envelope(httpx.get(f"{base}/companies?limit=0", headers=AUTH), 422, "validation_error")
    assert_error_envelope(httpx.get(f"{base}/companies?cursor=bogus", headers=AUTH), 400, "invalid_request")


def test_errors_are_the_documented_envelope_with_rate_headers(sim):
    base = sim.base_urls["capx"]
    assert_error_envelope(httpx.get(f"{base}/companies", headers={"Authorization": "Bearer capx_sk_wrong"}),
                          401, "unauthorized")
    assert_error_envelope(httpx.get(f"{base}/companies"), 401, "unauthorized")
    assert_error_envelope(httpx.get(f"{base}/companies/co_nope", headers=AUTH), 404, "not_found")
    assert_error_envelope(httpx.get(f"{base}/no/such/endpoint", headers=AUTH), 404, "not_found")
    company = httpx.get(f"{base}/companies", headers=AUTH).json()["data"][0]["id"]
    bad_run = httpx.post(f"{base}/playbooks/pb_weekly_report/run", headers=AUTH, json={})
    assert_error_envelope(bad_run, 422, "validation_error")
    assert_error_envelope(httpx.post(f"{base}/playbooks/pb_nope/run", headers=AUTH, json={"company_id": company}),
                          404, "not_found")


async def test_client_walks_every_page_and_records_figures(sim):
    seen_figures = []
    async with CapxClient(sim.base_urls["capx"], api_key=KEY) as client:
        client.on_figures = lambda: seen_figures.append((client.rate_limit.remaining, client.credits.remaining))
        companies = [c async for c in client.iter_companies(page_size=2)]
        assert [c.id for c in companies] == list(state(sim)["companies"])
        assert journal(sim)["requests"]["GET /capx/v1/companies"] == 3  # 2 + 2 + 1
        assert client.rate_limit.limit == 60 and client.rate_limit.remaining == 57
        assert client.rate_limit.reset > time.time()
        assert client.credits.remaining == state(sim)["credits_remaining"]
        with pytest.raises(ApiError) as caught:
            await client.get_company("co_nope")
        assert (caught.value.status, caught.value.code) == (404, "not_found")
        assert client.rate_limit.remaining == 56  # figures come from error replies too
        assert len(seen_figures) == 4 and seen_figures[-1][0] == 56


async def test_client_reads_every_resource(sim):
    async with CapxClient(sim.base_urls["capx"], api_key=KEY) as client:
        company = (await client.list_companies(limit=1)).items[0]
        assert (await client.get_company(company.id)).name == company.name
        agents = await client.list_agents(company.id)
        assert len(agents) == company.agent_count and all(a.id.startswith("ag_") for a in agents)
        tasks = [t async for t in client.iter_tasks(company.id, page_size=1)]
        assert {t.id for t in tasks} == {k for k, v in state(sim)["tasks"].items() if v["company_id"] == company.id}
        assert all(t.status == "open" for t in (await client.list_tasks(company.id, status="open")).items)
        costs = await client.get_costs(company.id)
        assert costs.company_id == company.id and costs.total_usd < costs.threshold_usd
        assert sum(row.usd for row in costs.by_agent) == pytest.approx(costs.total_usd, abs=0.05)
        playbooks = await client.list_playbooks()
        run = await client.run_playbook(playbooks[0].id, company.id)
        assert run.id.startswith("run_") and (run.status, run.company_id) == ("running", company.id)


# --------------------------------------------------------------------------------------------- mutations


def test_idempotent_replay_runs_once(sim):
    base = sim.base_urls["capx"]
    company = httpx.get(f"{base}/companies", headers=AUTH).json()["data"][0]["id"]
    headers = {**AUTH, "Idempotency-Key": "req_unique_abc123"}  # the doc's example key
    first = httpx.post(f"{base}/playbooks/pb_weekly_report/run", headers=headers, json={"company_id": company})
    again = httpx.post(f"{base}/playbooks/pb_weekly_report/run", headers=headers, json={"company_id": company})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.headers.get("idempotent-replayed") == "true"
    assert list(state(sim)["runs"]) == [first.json()["data"]["id"]]
    other = httpx.post(f"{base}/playbooks/pb_weekly_report/run", headers={**AUTH, "Idempotency-Key": "req_2"},
                       json={"company_id": company})
    assert len(state(sim)["runs"]) == 2 and other.json()["data"]["id"] != first.json()["data"]["id"]


async def test_conflicts_are_409_and_decisions_are_events(sim):
    async with CapxClient(sim.base_urls["capx"], api_key=KEY) as client:
        company = (await client.list_companies()).items[0]
        assert (await client.pause_company(company.id)).status == "paused"
        with pytest.raises(ApiError) as caught:
            await client.pause_company(company.id)
        assert (caught.value.status, caught.value.code) == (409, "conflict")
        assert (await client.resume_company(company.id)).status == "running"
        with pytest.raises(ApiError) as caught:
            await client.resume_company(company.id)
        assert caught.value.code == "conflict"

        open_task = (await client.list_tasks(company.id, status="open")).items[0]
        with pytest.raises(ApiError) as caught:
            await client.approve_task(open_task.id)
        assert (caught.value.status, caught.value.code) == (409, "conflict")

        await asyncio.to_thread(step, sim, 400)
        waiting = [t for t, v in state(sim)["tasks"].items() if v["status"] == "awaiting_approval"]
        assert len(waiting) >= 2
        approved, rejected = await client.approve_task(waiting[0]), await client.reject_task(waiting[1])
        assert (approved.status, rejected.status) == ("completed", "rejected")
        with pytest.raises(ApiError) as caught:
            await client.reject_task(waiting[0])
        assert caught.value.status == 409
        companies = {t["company_id"] for t in state(sim)["tasks"].values() if t["id"] in waiting[:2]}
        recent = []
        for company_id in companies:  # the activity list without stream=true
            reply = await client.http.get(f"/companies/{company_id}/activity")
            recent += reply.json()["data"]
        decided = {e["task_id"]: e["status"] for e in recent if e["type"] == "task.completed"}
        assert decided[waiting[0]] == "completed" and decided[waiting[1]] == "rejected"


async def test_read_only_refuses_every_mutation_without_sending(sim):
    before = journal(sim)["requests"]
    async with CapxClient(sim.base_urls["capx"], api_key=KEY, read_only=True) as client:
        for call in (client.pause_company("co_x"), client.resume_company("co_x"), client.approve_task("tsk_x"),
                     client.reject_task("tsk_x"), client.run_playbook("pb_weekly_report", "co_x")):
            with pytest.raises(ReadOnlyError):
                await call
    assert journal(sim)["requests"] == before


# --------------------------------------------------------------------------------------------- rate limit


async def test_a_429_past_the_limit_and_the_client_waits_it_out(sim_factory):
    running = sim_factory(capx_rate_limit=5)
    running.simulator.vendor("capx").window = 2.0  # a short rolling window keeps the test quick
    base = running.base_urls["capx"]
    with httpx.Client(headers=AUTH) as http:
        remaining = [http.get(f"{base}/playbooks").headers["x-ratelimit-remaining"] for _ in range(5)]
        assert remaining == ["4", "3", "2", "1", "0"]
        refused = http.get(f"{base}/playbooks")
    assert_error_envelope(refused, 429, "rate_limit_exceeded")
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 3
    assert 0 < float(refused.headers["x-ratelimit-reset"]) - time.time() <= 3

    async with CapxClient(base, api_key=KEY) as client:
        client.governor.delay = lambda rate: 0.0  # no slowing down first: let the server say no
        started = time.monotonic()
        for _ in range(4):
            assert len((await client.list_companies()).items) == 5
        assert time.monotonic() - started < 8
    assert journal(running)["statuses"]["429"] >= 2  # it did hit the limit again, and still every call succeeded


async def test_the_governor_slows_down_before_the_limit(sim_factory):
    running = sim_factory(capx_rate_limit=6)
    running.simulator.vendor("capx").window = 1.0
    async with CapxClient(running.base_urls["capx"], api_key=KEY) as client:
        client.governor.reserve = 0.5  # start spacing with half the budget left
        for _ in range(9):
            await client.list_playbooks()
    assert "429" not in journal(running)["statuses"]  # it never ran into the limit


def test_governor_spacing_math():
    now = [1000.0]
    governor = RateLimitGovernor(reserve=0.1, clock=lambda: now[0])
    governor.last_sent = now[0]  # a request just went out
    assert governor.delay(RateLimit()) == 0.0  # no figures yet
    assert governor.delay(RateLimit(limit=60, remaining=30, reset=1030.0)) == 0.0  # plenty left
    assert governor.delay(RateLimit(limit=60, remaining=7, reset=1030.0)) == 0.0  # just above 10%
    assert governor.delay(RateLimit(limit=60, remaining=5, reset=1030.0)) == pytest.approx(6.0)  # 30 s / 5
    now[0] += 2.5  # time since the last request counts towards the spacing
    assert governor.delay(RateLimit(limit=60, remaining=5, reset=1030.0)) == pytest.approx(27.5 / 5 - 2.5)
    assert governor.delay(RateLimit(limit=60, remaining=0, reset=1012.0)) == pytest.approx(9.5)  # wait for reset
    assert governor.delay(RateLimit(limit=60, remaining=0, reset=990.0)) == 0.0  # figures from a past window


async def test_governor_waits_in_turn_reading_the_latest_figures():
    governor = RateLimitGovernor()
    figures = RateLimit(limit=10, remaining=0, reset=time.time() + 0.2)
    started = time.monotonic()
    await governor.wait(lambda: figures)  # nothing left: wait for the reset
    assert 0.15 < time.monotonic() - started < 1.0
    figures = RateLimit(limit=10, remaining=1, reset=time.time() + 0.2)
    started = time.monotonic()
    await governor.wait(lambda: figures)  # one left, and a request just went out: spaced to the reset
    assert 0.15 < time.monotonic() - started < 1.0
    figures = RateLimit(limit=10, remaining=10, reset=time.time() + 60)  # a fresh window: no waiting at all
    started = time.monotonic()
    await asyncio.gather(*(governor.wait(lambda: figures) for _ in range(5)))
    assert time.monotonic() - started < 0.1


# --------------------------------------------------------------------------------------------- activity


async def test_doc_stream_example_delivers_events_with_ids(sim):
    base = sim.base_urls["capx"]
    listed = httpx.get(f"{base}/companies", headers=AUTH)
    company = listed.json()["data"][0]["id"]
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", f"{base}/companies/{company}/activity?stream=true",
                               headers={**AUTH, "Accept": "text/event-stream"}) as reply:
            assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
            # Opening the stream counted as one request.
            assert int(reply.headers["x-ratelimit-remaining"]) == int(listed.headers["x-ratelimit-remaining"]) - 1
            await asyncio.to_thread(step, sim, 40)
            blocks, text = [], ""
            async for chunk in reply.aiter_text():
                text += chunk
                *done, text = text.split("\n\n")
                blocks += [b for b in done if b.startswith("event:")]
                if len(blocks) >= 3:
                    break
    for block in blocks:
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        assert fields["event"] == "activity" and fields["id"]
        data = json.loads(fields["data"])
        assert data["type"] in EVENT_TYPES and data["company_id"] == company and data["timestamp"].endswith("Z")


async def test_activity_stream_resumes_with_exactly_the_missed_events(sim):
    async with CapxClient(sim.base_urls["capx"], api_key=KEY) as client:
        company = (await client.list_companies()).items[0].id
        with pytest.raises(ApiError) as caught:
            async with client.open_activity("co_nope"):
                pass
        assert caught.value.status == 404
        reader = SSEReader()
        async with client.open_activity(company) as response:
            await asyncio.to_thread(step, sim, 40)
            async for message in reader.events(response):
                assert message.event == "activity" and json.loads(message.data)["company_id"] == company
                break
        first_id = reader.last_event_id
        await asyncio.to_thread(step, sim, 40)
        published = journal(sim)["events"][f"capx:{company}"]
        resumed = []
        async with client.open_activity(company, last_event_id=first_id) as response:
            async for message in reader.events(response):
                resumed.append(int(message.id.rsplit("-", 1)[1]))
                if resumed[-1] == published:
                    break
        start = int(first_id.rsplit("-", 1)[1])
        assert resumed == list(range(start + 1, published + 1))


# --------------------------------------------------------------------------------------------- world


def test_the_world_makes_the_ten_event_types(sim):
    capx = sim.simulator.vendor("capx")
    sent: list[tuple[str, dict]] = []
    sim.simulator.webhooks.send = lambda vendor, event, data, secret: sent.append((event, data))
    capx.founding_interval = 0.0  # let companies be founded as often as the draw says
    step(sim, 6000)

    world = state(sim)
    published = [e.payload for name, topic in list(sim.simulator.topics.items()) if name.startswith("capx:")
                 for e in topic.buffer]
    kinds = Counter(p["type"] for p in published)
    assert set(kinds) == set(EVENT_TYPES)
    assert kinds.most_common(1)[0][0] == "agent.heartbeat"
    assert all(p["timestamp"].endswith("Z") and p["company_id"] for p in published)
    assert len(world["companies"]) == MAX_COMPANIES  # founded up to the bound, no further

    for payload in (p for p in published if p["type"] == "costs.threshold_reached"):
        assert payload["total_usd"] >= payload["threshold_usd"]
        assert world["costs"][payload["company_id"]]["threshold_usd"] > payload["threshold_usd"]  # raised after
    # Webhooks carry every event but the heartbeats.
    assert "agent.heartbeat" not in {event for event, _ in sent}
    assert len(sent) == sum(count for kind, count in kinds.items() if kind != "agent.heartbeat")


def test_paused_companies_stay_quiet(sim):
    base = sim.base_urls["capx"]
    companies = list(state(sim)["companies"])
    for company in companies[:3]:
        httpx.post(f"{base}/companies/{company}/pause", headers=AUTH).raise_for_status()
    before = Counter(sim.simulator.journal.events)
    step(sim, 200)
    after, world = sim.simulator.journal.events, state(sim)
    for company in companies[:3]:
        # Nothing happened in it, unless the world resumed it at the end of the step (one status event).
        resumed = world["companies"][company]["status"] == "running"
        assert after[f"capx:{company}"] - before[f"capx:{company}"] == (1 if resumed else 0)
    assert sum(after[f"capx:{c}"] - before[f"capx:{c}"] for c in companies[3:]) >= 150


def test_the_world_forgets_no_task_or_run_a_client_was_told_is_unfinished(sim, monkeypatch):
    """The simulator keeps a bounded world. What it drops while unfinished (approvals nobody gave, runs that
    never ended) it first finishes with an event; else a client would show them waiting or running for ever."""
    import tui.sim.capx as capx_world

    monkeypatch.setattr(capx_world, "MAX_TASKS_PER_COMPANY", 30)
    monkeypatch.setattr(capx_world, "MAX_RUNS", 10)
    told: dict[str, dict[str, str]] = {"tasks": {}, "runs": {}}  # what a client following the events believes
    expired: list[dict] = []

    def follow(vendor, event, data, secret):
        if data.get("reason"):
            expired.append(data)
        if "task_id" in data:
            told["tasks"][data["task_id"]] = data["status"]
        elif "run_id" in data:
            told["runs"][data["run_id"]] = data["status"]

    sim.simulator.webhooks.send = follow
    step(sim, 6000)
    world = state(sim)
    waiting = {task_id for task_id, status in told["tasks"].items() if status not in ("completed", "rejected")}
    running = {run_id for run_id, status in told["runs"].items() if status == "running"}
    assert waiting and waiting <= set(world["tasks"])
    assert running <= set(world["runs"])
    # The bound was reached, unfinished tasks and runs were dropped, and each was announced first.
    assert {e["reason"] for e in expired} == {"expired", "timed out"}
    assert all(told["tasks"].get(e["task_id"]) == "rejected" for e in expired if "task_id" in e)
