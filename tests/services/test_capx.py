"""Capx over real sockets: the doc's examples and envelope, its error table, the rolling rate limit with
headers on every reply, cursor pagination, idempotent replay, 409 conflicts, the activity stream with
Last-Event-ID resume, the world's events, and the client's request budget, 429 waits and read-only refusals."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import pytest

from tui.live.sse import SSEReader
from tui.api import ApiError, ReadOnlyError
from tui.vendors.capx.budget import Priority, RequestBudget, RequestClass
from tui.vendors.capx.client import EVENT_TYPES, CapxClient
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
        # What the key spent since the first reply (every reply's meta says what that one request cost: 1).
        assert client.credits.used == 3 and client.credits.last_request == 1 and client.credits.since
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
        # Another process on the same key (the calls above) drained the minute: the client learns it from a 429.
        client.budget.window, client.budget.margin = 2.0, 0.1  # the simulator's short window
        started = time.monotonic()
        for _ in range(4):
            assert len((await client.list_companies()).items) == 5
        assert time.monotonic() - started < 8
        assert client.budget.throttled >= 1
    assert journal(running)["statuses"]["429"] >= 2  # it did hit the limit again, and still every call succeeded


async def test_the_budget_waits_before_the_limit(sim_factory):
    running = sim_factory(capx_rate_limit=6)
    running.simulator.vendor("capx").window = 1.0
    async with CapxClient(running.base_urls["capx"], api_key=KEY) as client:
        client.budget.window, client.budget.margin = 1.0, 0.1
        started = time.monotonic()
        for _ in range(9):
            await client.list_playbooks()
        assert time.monotonic() - started >= 1.0  # it waited for room rather than send past the limit
    assert "429" not in journal(running)["statuses"]  # it never ran into the limit


def budget_at(clock: list[float], *, heard: bool = True, **kwargs) -> RequestBudget:
    """A budget on a fake clock; `heard`: as after its first reply (past its probe), unless told otherwise."""
    budget = RequestBudget(clock=lambda: clock[0], **kwargs)
    budget.heard = heard
    return budget


async def grant(budget: RequestBudget, priority: Priority, key: str | None = None) -> asyncio.Task:
    task = asyncio.ensure_future(budget.acquire(RequestClass(priority, key)))
    await asyncio.sleep(0)
    return task


async def test_budget_limits_by_minute_and_concurrency_and_leaves_reserves():
    now = [1000.0]
    budget = budget_at(now, minute=60, concurrent=10)
    assert (budget.minute, budget.concurrent) == (60, 10)
    assert RequestBudget().minute == 60 and RequestBudget().concurrent == 10  # nothing known: Starter's
    assert RequestBudget(minute=300).concurrent == 50  # Pro's minute: Pro's concurrency
    # A minute no documented plan has: the concurrency of the largest plan it reaches (Enterprise: not Starter's)
    assert RequestBudget(minute=6000).concurrent == 50 and RequestBudget(minute=120).concurrent == 10
    first = [await grant(budget, Priority.RESYNC) for _ in range(12)]
    assert sum(t.done() for t in first) == 10 and budget.in_flight == 10  # 10 in flight at most
    for _ in range(10):
        budget.release()
    await asyncio.sleep(0)
    assert all(t.done() for t in first)
    # The minute: a resync leaves 10 % (6) to the priorities above it, a stream 3 % (at least 1), an action none.
    budget.concurrent = 1000
    more = [await grant(budget, Priority.RESYNC) for _ in range(50)]
    for task in more:
        if task.done():
            budget.release()
    await asyncio.sleep(0)
    assert budget.used() == 54 and sum(t.done() for t in more) == 42
    stream = await grant(budget, Priority.STREAM)
    assert stream.done() and budget.used() == 55
    budget.release()
    streams = [await grant(budget, Priority.STREAM) for _ in range(5)]
    for task in streams:
        if task.done():
            budget.release()
    assert sum(t.done() for t in streams) == 4  # up to 59 of 60
    action = await grant(budget, Priority.ACTION)
    assert action.done() and budget.used() == 60  # an action always finds room
    budget.release()
    # A minute later the oldest leave the window and the waiting go, streams before resyncs.
    now[0] += 61.5
    budget._grant()
    await asyncio.sleep(0)
    assert all(t.done() for t in streams)
    for task in [*more, *streams]:
        task.cancel()


async def test_budget_serves_in_priority_order_and_follows_the_operator():
    now = [1000.0]
    budget = budget_at(now, minute=60, concurrent=1)
    blocker = await grant(budget, Priority.ACTION)
    assert blocker.done()
    order = []
    waiting = {}
    for name, priority, key in [("resync-a", Priority.RESYNC, "co_a"), ("refresh", Priority.REFRESH, None),
                                ("approvals", Priority.APPROVALS, "co_b"), ("stream", Priority.STREAM, "co_c"),
                                ("resync-d", Priority.RESYNC, "co_d")]:
        task = await grant(budget, priority, key)
        task.add_done_callback(lambda _, name=name: order.append(name))
        waiting[name] = task
    focus = {"co_d"}  # the operator selects co_d while its resync waits
    budget._waiting = [w for w in budget._waiting]  # (the heap as it is)
    d = next(w for w in budget._waiting if w.request.key == "co_d")
    object.__setattr__(d.request, "priority", lambda: Priority.FOCUS if "co_d" in focus else Priority.RESYNC)
    budget.reprioritize("co_d")
    action = await grant(budget, Priority.ACTION)  # an action confirmed now still goes before all of them
    action.add_done_callback(lambda _: order.append("action"))
    for _ in range(7):
        budget.release()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert order == ["action", "stream", "resync-d", "approvals", "resync-a", "refresh"]


async def test_budget_learns_from_the_replies_and_holds_after_a_429():
    now = [1000.0]
    budget = budget_at(now)
    sent = await budget.acquire(RequestClass(Priority.STREAM))
    reply = httpx.Response(200, headers={"x-ratelimit-limit": "300", "x-ratelimit-remaining": "250",
                                         "x-ratelimit-reset": str(int(time.time()) + 60)})
    budget.observe(reply)
    budget.release()
    assert (budget.minute, budget.concurrent) == (300, 50)  # Pro, learnt from the limit
    assert budget.used() == 50  # 49 spent by another process on the key, and ours
    refused = httpx.Response(429, headers={"retry-after": "5", "x-ratelimit-limit": "300",
                                           "x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"})
    sent = await budget.acquire(RequestClass(Priority.RESYNC))
    budget.observe(refused)
    budget.release()
    assert budget.throttled == 1
    order = []
    resync = await grant(budget, Priority.RESYNC)
    resync.add_done_callback(lambda _: order.append("resync"))
    action = await grant(budget, Priority.ACTION)
    action.add_done_callback(lambda _: order.append("action"))
    assert not resync.done() and not action.done()  # the key's minute is spent: even an action would be refused
    now[0] += 5.1  # Retry-After has passed, but what the server counted has not left the minute yet
    budget._grant()
    await asyncio.sleep(0)
    assert not order
    now[0] += 56.5
    budget._grant()
    budget.release()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == ["action", "resync"]  # the action the operator confirmed goes first
    hostile = httpx.Response(200, headers={"x-ratelimit-limit": "nan", "x-ratelimit-remaining": "-5"})
    budget.observe(hostile)
    assert budget.minute == 300


async def test_budget_sends_one_probe_before_a_reply_and_reads_others_spending_less_ours_sent_up_to_it():
    """Until a reply has told it what other processes on the key spent, one request at a time; a reply's count is
    read less ours sent up to its request, not less ours in flight after it (which had not reached the server)."""
    now = [1000.0]
    budget = budget_at(now, heard=False, minute=300, concurrent=50)
    first = [await grant(budget, Priority.STREAM) for _ in range(5)]
    assert [t.done() for t in first] == [True, False, False, False, False] and budget.in_flight == 1
    probe_at = first[0].result()
    # The server had 30 of another process's in the minute, and counts our probe: 269 left.
    budget.observe(httpx.Response(200, headers={"x-ratelimit-limit": "300", "x-ratelimit-remaining": "269"}), probe_at)
    await asyncio.sleep(0)
    assert all(t.done() for t in first) and budget.in_flight == 5  # heard: the plan's concurrency
    assert budget.foreign == 30 and budget.used() == 35
    # A burst goes out; the reply to its first request counted it and the five before, not the 44 sent after it.
    burst = []
    for _ in range(45):
        now[0] += 0.001
        burst.append(await grant(budget, Priority.RESYNC))
    assert all(t.done() for t in burst)
    budget.observe(httpx.Response(200, headers={"x-ratelimit-limit": "300", "x-ratelimit-remaining": "264"}),
                   burst[0].result())
    assert budget.foreign == 30  # (less every one sent so far: 0, the other process's 30 unseen)
    for _ in range(50):
        budget.release()


async def test_an_action_waits_only_for_what_others_surely_spent_not_for_replies_read_out_of_order():
    """A burst's replies come back out of order: an early request's reply counts the later ones that reached the server
    first, which are read as another process's for as long as no newer reply corrects it. The resyncs hold back for
    them (never overspent); an action the operator confirms does not wait a window for them (CI saw 8.1 s)."""
    now = [1000.0]
    budget = budget_at(now, minute=60, concurrent=1000)
    burst = []
    for _ in range(54):  # as far as resyncs go: 10 % of the minute left to the priorities above
        now[0] += 0.001
        burst.append(await grant(budget, Priority.RESYNC))
    assert all(t.done() for t in burst)
    for _ in burst:
        budget.release()
    # The last reply read is the 45th request's, and the server had counted all 54 of ours by then.
    budget.observe(httpx.Response(200, headers={"x-ratelimit-limit": "60", "x-ratelimit-remaining": "6"}),
                   burst[44].result())
    resync = await grant(budget, Priority.RESYNC)
    action = await grant(budget, Priority.ACTION)
    assert action.done() and not resync.done()
    assert budget.used() == 64 and budget.used(surely=True) == 55  # (the action's counted)
    assert budget.turn_in(Priority.ACTION) == 0.0
    # Others surely spent the rest: the action waits too.
    budget.release()
    budget.observe(httpx.Response(200, headers={"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0"}),
                   action.result())
    second = await grant(budget, Priority.ACTION)
    assert not second.done() and budget.turn_in(Priority.ACTION) > 50
    for task in (resync, second):
        task.cancel()


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


def test_budget_says_when_a_priority_will_have_room():
    now = [1000.0]
    budget = budget_at(now, minute=60, concurrent=100)
    for n in range(58):
        budget.sent.append(1000.0 + n * 0.1)
    now[0] = 1010.0
    assert budget.next_room_in(Priority.ACTION) == 0.0  # 58 of 60: room for an action
    # A resync leaves 6: it has room once 58 - 54 + 1 = 5 of the oldest have left the window (+ its margin).
    assert budget.next_room_in(Priority.RESYNC) == pytest.approx(1000.4 + 60 + budget.margin - 1010.0)
