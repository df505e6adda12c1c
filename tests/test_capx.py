"""Capx over real sockets: the doc's examples and envelope, its error table, the rolling rate limit with
headers on every reply, cursor pagination, idempotent replay, 409 conflicts and the activity stream."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tui.services.base import ApiError, ReadOnlyError
from tui.services.capx import CapxClient, RateLimit, RateLimitGovernor

KEY = "capx_sk_test_demo"
AUTH = {"Authorization": f"Bearer {KEY}"}


def test_doc_list_example_envelope_headers_and_pagination_to_the_last_page(sim):
    base = sim.base_urls["capx"]
    reply = httpx.get(f"{base}/companies?limit=2", headers=AUTH)
    body = reply.json()
    assert body["success"] is True and len(body["data"]) == 2
    assert set(body["meta"]) >= {"credits_used", "credits_remaining", "cursor", "has_more"}
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(reply.headers)
    seen = [c["id"] for c in body["data"]]
    while body["meta"]["has_more"]:
        body = httpx.get(f"{base}/companies", params={"limit": 2, "cursor": body["meta"]["cursor"]}, headers=AUTH).json()
        seen += [c["id"] for c in body["data"]]
    assert body["meta"]["cursor"] is None and body["meta"]["has_more"] is False
    assert seen == list(httpx.get(f"{sim.root}/_admin/state").json()["capx"]["companies"])
    assert httpx.get(f"{base}/companies?limit=101", headers=AUTH).json()["error"]["code"] == "validation_error"
    assert httpx.get(f"{base}/companies?cursor=bogus", headers=AUTH).json()["error"]["code"] == "invalid_request"


def test_wrong_key_is_the_documented_error_envelope(sim):
    reply = httpx.get(f"{sim.base_urls['capx']}/companies", headers={"Authorization": "Bearer capx_sk_wrong"})
    assert reply.status_code == 401
    assert reply.json() == {"success": False, "error": {"code": "unauthorized", "message": reply.json()["error"]["message"],
                                                        "docs": reply.json()["error"]["docs"]}}
    assert reply.json()["error"]["docs"].startswith("https://")


async def test_client_walks_every_page_and_records_figures(sim):
    async with CapxClient(sim.base_urls["capx"], api_key=KEY) as client:
        companies = [c async for c in client.iter_companies()]
        assert len(companies) == 5 and all(c.id.startswith("co_") for c in companies)
        assert client.rate_limit.limit == 60 and client.rate_limit.remaining is not None
        assert client.credits.remaining is not None


async def test_idempotent_replay_runs_once(sim):
    base = sim.base_urls["capx"]
    company = httpx.get(f"{base}/companies", headers=AUTH).json()["data"][0]["id"]
    headers = {**AUTH, "Idempotency-Key": "req_unique_abc123"}
    first = httpx.post(f"{base}/playbooks/pb_weekly_report/run", headers=headers, json={"company_id": company})
    again = httpx.post(f"{base}/playbooks/pb_weekly_report/run", headers=headers, json={"company_id": company})
    assert first.json() == again.json() and again.headers.get("idempotent-replayed") == "true"
    runs = httpx.get(f"{sim.root}/_admin/state").json()["capx"]["runs"]
    assert list(runs) == [first.json()["data"]["id"]]


async def test_conflicts_are_409(sim):
    async with CapxClient(sim.base_urls["capx"], api_key=KEY) as client:
        company = (await client.list_companies()).items[0]
        await client.pause_company(company.id)
        with pytest.raises(ApiError) as caught:
            await client.pause_company(company.id)
        assert (caught.value.status, caught.value.code) == (409, "conflict")
        task = next(t for t in (await client.list_tasks(company.id)).items if t.status != "awaiting_approval")
        with pytest.raises(ApiError) as caught:
            await client.approve_task(task.id)
        assert caught.value.status == 409


async def test_a_429_is_waited_out(sim_factory):
    running = sim_factory(capx_rate_limit=3)
    running.simulator.vendor("capx").window = 2.0  # a short window keeps the test quick
    async with CapxClient(running.base_urls["capx"], api_key=KEY) as client:
        client.governor.delay = lambda rate: 0.0  # no slowing down first: let the server say no
        for _ in range(6):
            await client.list_companies()
    journal = httpx.get(f"{running.root}/_admin/journal").json()
    assert journal["statuses"].get("429", 0) >= 1  # it did hit the limit, and still every call succeeded


def test_governor_spaces_requests_before_the_limit():
    now = [1000.0]
    governor = RateLimitGovernor(reserve=0.1, clock=lambda: now[0])
    governor.last_sent = now[0]  # a request just went out
    assert governor.delay(RateLimit(limit=60, remaining=30, reset=1030.0)) == 0.0
    assert governor.delay(RateLimit(limit=60, remaining=5, reset=1030.0)) == pytest.approx(6.0)
    assert governor.delay(RateLimit(limit=60, remaining=0, reset=1012.0)) == pytest.approx(12.0)
    assert governor.delay(RateLimit(limit=60, remaining=0, reset=990.0)) == 0.0


async def test_activity_stream_with_ids_and_last_event_id_resume(sim):
    async with CapxClient(sim.base_urls["capx"], api_key=KEY) as client:
        company = (await client.list_companies()).items[0].id
        from tui.live.sse import SSEReader

        reader = SSEReader()
        async with client.open_activity(company) as response:
            await asyncio.to_thread(httpx.post, f"{sim.root}/_admin/step?count=40&vendor=capx")
            async for message in reader.events(response):
                assert message.event == "activity" and json.loads(message.data)["company_id"] == company
                break
        first_id = reader.last_event_id
        await asyncio.to_thread(httpx.post, f"{sim.root}/_admin/step?count=40&vendor=capx")
        published = httpx.get(f"{sim.root}/_admin/journal").json()["events"][f"capx:{company}"]
        resumed = []
        async with client.open_activity(company, last_event_id=first_id) as response:
            async for message in reader.events(response):
                resumed.append(int(message.id.rsplit("-", 1)[1]))
                if resumed[-1] == published:
                    break
        start = int(first_id.rsplit("-", 1)[1])
        assert resumed == list(range(start + 1, published + 1))


async def test_read_only_refuses_every_mutation_without_sending(sim):
    before = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    async with CapxClient(sim.base_urls["capx"], api_key=KEY, read_only=True) as client:
        for call in (client.pause_company("co_x"), client.resume_company("co_x"), client.approve_task("tsk_x"),
                     client.reject_task("tsk_x"), client.run_playbook("pb_weekly_report", "co_x")):
            with pytest.raises(ReadOnlyError):
                await call
    after = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    assert not any(k.startswith("POST /capx") for k in after)
