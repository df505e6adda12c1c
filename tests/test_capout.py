"""CapOut over real sockets: the doc's examples, its error format, credits, realtime scope, backfill,
subscribe/unsubscribe, token expiry on both transports, and Last-Event-ID resume."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tui.services.base import ApiError, ReadOnlyError
from tui.services.capout import CapOutClient, realtime_url

KEY = "capout_test_demo"
UPLOAD_FIELDS = {"document_id", "workflow_id", "status", "created_at", "status_url", "ws_url"}


def headers(key: str = KEY) -> dict[str, str]:
    return {"content-type": "application/json", "capout-api-key": key}


def test_doc_examples_upload_status_token_credits(sim):
    base = sim.base_urls["capout"]
    by_url = httpx.post(f"{base}/upload", headers=headers(), json={
        "url": "https://example.com/claims/123/estimate.pdf", "file_name": "claim-123-estimate.pdf",
        "xn_address": "restoration-team@example.xn"}).json()
    assert set(by_url) >= UPLOAD_FIELDS and by_url["status"] == "processing"
    assert by_url["status_url"] == f"/status/{by_url['document_id']}" and by_url["ws_url"] == "/ws/status"
    inline = httpx.post(f"{base}/upload", headers=headers(), json={
        "file_base64": base64.b64encode(b"%PDF-1.4").decode(), "file_name": "claim-123-estimate.pdf",
        "xn_address": "restoration-team@example.xn"}).json()
    assert set(inline) >= UPLOAD_FIELDS
    status = httpx.get(f"{base}/status/{by_url['document_id']}", headers={"capout-api-key": KEY}).json()
    assert status == {"document_id": by_url["document_id"], "status": "processing", "workflow_complete": False,
                      "completed_at": None, "updated_at": status["updated_at"]}
    token = httpx.post(f"{base}/ws/token", headers={"capout-api-key": KEY}).json()
    assert set(token) == {"token", "organization_id", "expires_at", "ws_url", "sse_url"}
    assert (token["ws_url"], token["sse_url"]) == ("/ws/status", "/sse/status")
    credits = httpx.get(f"{base}/credits", headers={"capout-api-key": KEY}).json()
    assert set(credits) == {"organization_id", "credits_remaining", "credits_used", "credits_total", "updated_at"}
    assert credits["credits_remaining"] == credits["credits_total"] - credits["credits_used"]
    assert httpx.get(f"{sim.root}/_admin/journal").json()["tokens_minted"] == 1


@pytest.mark.parametrize("body,message", [
    ({"file_name": "a.pdf", "url": "https://x/a.pdf"}, "xn_address"),
    ({"file_name": "a.pdf", "xn_address": "t@x.xn"}, "exactly one"),
    ({"file_name": "a.pdf", "xn_address": "t@x.xn", "url": "https://x", "file_base64": "QQ=="}, "exactly one"),
    ({"file_name": "a.pdf", "xn_address": "t@x.xn", "file_base64": "not base64!"}, "base64"),
])
def test_bad_uploads_are_400_in_capout_format(sim, body, message):
    reply = httpx.post(f"{sim.base_urls['capout']}/upload", headers=headers(), json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_request" and message in reply.json()["error"]["message"]


def test_wrong_key_and_unknown_document(sim):
    base = sim.base_urls["capout"]
    for reply in (httpx.get(f"{base}/credits", headers={"capout-api-key": "capout_wrong"}),
                  httpx.post(f"{base}/ws/token")):
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"
    missing = httpx.get(f"{base}/status/doc_nope", headers={"capout-api-key": KEY})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_client_upload_out_of_credits_and_read_only(sim_factory):
    running = sim_factory(capout_credits=13)  # the seeded world already spent 12
    async with CapOutClient(running.base_urls["capout"], api_key=KEY) as client:
        first = await client.upload("a.pdf", "t@x.xn", url="https://example.com/a.pdf")
        assert first.status == "processing"
        with pytest.raises(ApiError) as caught:
            await client.upload("b.pdf", "t@x.xn", url="https://example.com/b.pdf")
        assert caught.value.status == 402
    before = httpx.get(f"{running.root}/_admin/journal").json()["requests"].get("POST /capout/upload", 0)
    async with CapOutClient(running.base_urls["capout"], api_key=KEY, read_only=True) as client:
        with pytest.raises(ReadOnlyError):
            await client.upload("c.pdf", "t@x.xn", url="https://example.com/c.pdf")
    assert httpx.get(f"{running.root}/_admin/journal").json()["requests"].get("POST /capout/upload", 0) == before


def test_realtime_url_keeps_the_base_path():
    assert realtime_url("http://127.0.0.1:8765/capout", "/ws/status", token="t", transport="ws",
                        document_ids=["d1", "d2"], recent=10) == \
        "ws://127.0.0.1:8765/capout/ws/status?token=t&document_id=d1&document_id=d2&recent=10"
    assert realtime_url("https://api.capout.ai", "/sse/status", token="t", transport="sse") == \
        "https://api.capout.ai/sse/status?token=t"
    assert realtime_url("https://api.capout.ai", "/ws/status", token="t", transport="ws").startswith("wss://")
    assert realtime_url("https://x", "wss://rt.example/ws?region=eu", token="t", transport="ws") == \
        "wss://rt.example/ws?region=eu&token=t"


async def mint(base: str) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.post(f"{base}/ws/token", headers={"capout-api-key": KEY})).json()


async def test_websocket_doc_example_backfill_subscribe_unsubscribe(sim):
    base = sim.base_urls["capout"]
    documents = list(httpx.get(f"{sim.root}/_admin/state").json()["capout"]["documents"])
    token = await mint(base)
    url = realtime_url(base, token["ws_url"], token=token["token"], transport="ws", document_ids=[documents[0]])
    async with connect(url) as socket:
        backfill = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert backfill["document_id"] == documents[0] and backfill["type"] == "document.status"
        await socket.send(json.dumps({"action": "subscribe", "document_ids": [documents[1]]}))
        subscribed = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert subscribed["document_id"] == documents[1]
        await socket.send(json.dumps({"action": "unsubscribe", "document_ids": [documents[0], documents[1]]}))
        await socket.send("not json")
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "error"


async def test_recent_backfill_then_live_changes_over_sse(sim):
    base = sim.base_urls["capout"]
    latest = list(httpx.get(f"{sim.root}/_admin/state").json()["capout"]["documents"])[-10:]
    token = await mint(base)
    url = realtime_url(base, token["sse_url"], token=token["token"], transport="sse", recent=10)
    async with httpx.AsyncClient(timeout=10) as http, aconnect_sse(http, "GET", url) as source:
        seen = []
        async for event in source.aiter_sse():
            if not event.data:
                continue
            seen.append(json.loads(event.data))
            if len(seen) == 10:
                httpx.post(f"{sim.root}/_admin/step?count=3&vendor=capout")
            if len(seen) == 13:
                break
        state = httpx.get(f"{sim.root}/_admin/state").json()["capout"]["documents"]
        assert [m["document_id"] for m in seen[:10]] == latest  # the backfill: the 10 latest, oldest first
        for message in seen[10:]:
            assert state[message["document_id"]]["updated_at"] >= message["updated_at"]


async def test_token_expiry_closes_websocket_4001_and_ends_sse(sim_factory):
    running = sim_factory(token_ttl=1.0)
    base = running.base_urls["capout"]
    token = await mint(base)
    url = realtime_url(base, "/ws/status", token=token["token"], transport="ws", recent=1)
    async with connect(url) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(socket.recv(), 5)
        assert closed.value.rcvd.code == 4001
    with pytest.raises(InvalidStatus) as refused:  # the expired token no longer opens anything
        async with connect(url):
            pass
    assert refused.value.response.status_code == 401
    fresh = await mint(base)
    sse_url = realtime_url(base, "/sse/status", token=fresh["token"], transport="sse", recent=1)
    async with httpx.AsyncClient(timeout=10) as http, aconnect_sse(http, "GET", sse_url) as source:
        ended = False
        async for _ in source.aiter_sse():
            pass
        ended = True
    assert ended


async def test_sse_last_event_id_resumes_with_exactly_the_missed_events(sim):
    base = sim.base_urls["capout"]
    token = await mint(base)
    url = realtime_url(base, "/sse/status", token=token["token"], transport="sse", recent=1)
    async with httpx.AsyncClient(timeout=10) as http:
        async with aconnect_sse(http, "GET", url) as source:
            async for event in source.aiter_sse():
                if event.data:
                    last_id = event.id
                    break
        httpx.post(f"{sim.root}/_admin/step?count=5&vendor=capout")
        async with aconnect_sse(http, "GET", url, headers={"Last-Event-ID": last_id}) as source:
            resumed = []
            async for event in source.aiter_sse():
                if event.data:
                    resumed.append(event.id)
                if len(resumed) == 5:
                    break
    first_seq = int(last_id.rsplit("-", 1)[1])
    assert [int(i.rsplit("-", 1)[1]) for i in resumed] == list(range(first_seq + 1, first_seq + 6))
