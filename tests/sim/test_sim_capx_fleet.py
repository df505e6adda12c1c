"""The simulated Capx fleet and plan over real sockets: `--companies N`, the plan's minute and requests in flight
enforced per key (a stream costs one request at connect and is in flight only until its head), 429s with
Retry-After and X-RateLimit-*, and a removed company answering 404 on its stream and its resources."""

from __future__ import annotations

import asyncio

import httpx

from tests.helpers.waiting import eventually
from tui.cli import _sim_options, build_parser

KEY = "capx_sk_test_demo"
AUTH = {"Authorization": f"Bearer {KEY}"}
STREAM = {**AUTH, "Accept": "text/event-stream"}


def test_the_flags_set_the_fleet_and_the_plan():
    def options(*flags):
        return _sim_options(build_parser().parse_args(["sim", *flags]))

    default = options()
    assert (default.capx_companies, default.capx_rate_limit, default.capx_concurrency) == (5, 60, None)
    starter = options("--companies", "40", "--plan", "starter")
    assert (starter.capx_companies, starter.capx_rate_limit, starter.capx_concurrency) == (40, 60, 10)
    pro = options("--plan", "pro")
    assert (pro.capx_rate_limit, pro.capx_concurrency) == (300, 50)
    custom = options("--plan", "enterprise", "--rate-limit", "600", "--concurrency", "80")
    assert (custom.capx_rate_limit, custom.capx_concurrency) == (600, 80)


def test_a_generated_fleet_has_agents_tasks_and_some_approvals_waiting(sim_factory):
    running = sim_factory(capx_companies=300, capx_rate_limit=6000)
    state = httpx.get(f"{running.root}/_admin/state").json()["capx"]
    assert len(state["companies"]) == 300
    assert len({c["name"] for c in state["companies"].values()}) == 300
    with_agents = {a["company_id"] for a in state["agents"].values()}
    with_tasks = {t["company_id"] for t in state["tasks"].values()}
    waiting = {t["company_id"] for t in state["tasks"].values() if t["status"] == "awaiting_approval"}
    assert with_agents == with_tasks == set(state["companies"])
    assert 15 <= len(waiting) <= 90  # about 15 % of the generated companies
    base = running.base_urls["capx"]
    walked, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        meta_data = httpx.get(f"{base}/companies", params=params, headers=AUTH).json()
        walked += [c["id"] for c in meta_data["data"]]
        cursor = meta_data["meta"]["cursor"]
        if not cursor:
            break
    assert walked == list(state["companies"])


async def test_the_plan_counts_the_minute_and_the_requests_in_flight_per_key(sim_factory):
    running = sim_factory(capx_rate_limit=60, capx_concurrency=10, faults="drip=10")  # slow bodies stay in flight
    base = running.base_urls["capx"]
    company = httpx.get(f"{base}/companies?limit=1", headers=AUTH).json()["data"][0]["id"]
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=None)) as http:
        replies = await asyncio.gather(*(http.get(f"{base}/companies/{company}/agents", headers=AUTH)
                                         for _ in range(14)))
    refused = [r for r in replies if r.status_code == 429]
    assert len(refused) >= 4 and sum(r.status_code == 200 for r in replies) >= 10
    for reply in refused:
        assert reply.json()["error"]["code"] == "rate_limit_exceeded"
        assert reply.headers["retry-after"] == "1"
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(reply.headers)
    # A refused request is not counted in the minute: 1 + the ones answered.
    after = httpx.get(f"{base}/companies?limit=1", headers=AUTH)
    answered = sum(r.status_code == 200 for r in replies)
    assert int(after.headers["x-ratelimit-remaining"]) == 60 - (1 + answered + 1)
    # The last piece of a body reaches the client just before the server counts the request done.
    await eventually(lambda: running.simulator.vendor("capx").limits.in_flight[KEY] == 0)


async def test_a_stream_costs_one_request_at_connect_and_is_in_flight_only_until_its_head(sim_factory):
    running = sim_factory(capx_companies=15, capx_rate_limit=60, capx_concurrency=10)
    base = running.base_urls["capx"]
    companies = [c["id"] for c in httpx.get(f"{base}/companies?limit=100", headers=AUTH).json()["data"]]
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=None), timeout=10) as http:
        async with asyncio.TaskGroup() as group:
            opened = []

            async def hold(company_id: str) -> None:
                async with http.stream("GET", f"{base}/companies/{company_id}/activity", params={"stream": "true"},
                                       headers=STREAM) as reply:
                    opened.append(reply.status_code)
                    await asyncio.sleep(3600)

            tasks = []
            for company in companies:  # one after another: each open before the next, the earlier ones held open
                tasks.append(group.create_task(hold(company)))
                await eventually(lambda: len(opened) == len(tasks))
            assert opened == [200] * 15  # 15 open streams on a plan of 10 in flight
            assert running.simulator.vendor("capx").limits.in_flight[KEY] == 0
            reply = await http.get(f"{base}/companies?limit=1", headers=AUTH)
            assert int(reply.headers["x-ratelimit-remaining"]) == 60 - 1 - 15 - 1
            for task in tasks:
                task.cancel()


async def test_a_past_the_minute_stream_is_a_429_with_retry_after(sim_factory):
    running = sim_factory(capx_rate_limit=3)
    base = running.base_urls["capx"]
    company = httpx.get(f"{base}/companies?limit=1", headers=AUTH).json()["data"][0]["id"]
    httpx.get(f"{base}/companies?limit=1", headers=AUTH)
    httpx.get(f"{base}/companies?limit=1", headers=AUTH)
    reply = httpx.get(f"{base}/companies/{company}/activity", params={"stream": "true"}, headers=STREAM)
    assert reply.status_code == 429 and int(reply.headers["retry-after"]) >= 1
    assert reply.headers["x-ratelimit-remaining"] == "0"


async def test_a_removed_company_ends_its_stream_and_answers_404(sim):
    base = sim.base_urls["capx"]
    company = httpx.get(f"{base}/companies?limit=1", headers=AUTH).json()["data"][0]["id"]
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", f"{base}/companies/{company}/activity", params={"stream": "true"},
                               headers=STREAM) as reply:
            assert reply.status_code == 200
            gone = await http.delete(f"{sim.root}/_admin/capx/companies/{company}")
            assert gone.json() == {"removed": company}
            async for _ in reply.aiter_raw():
                pass  # the stream ends
        for path in ("", "/agents", "/tasks", "/costs", "/activity?stream=true"):
            answer = await http.get(f"{base}/companies/{company}{path}", headers=STREAM)
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", path
    state = httpx.get(f"{sim.root}/_admin/state").json()["capx"]
    assert company not in state["companies"]
    assert all(t["company_id"] != company for t in state["tasks"].values())
    assert all(a["company_id"] != company for a in state["agents"].values())
