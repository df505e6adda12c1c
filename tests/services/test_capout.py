"""CapOut over real sockets: the doc's examples, its error format, credits, realtime scope, backfill,
subscribe/unsubscribe, token expiry on both transports, Last-Event-ID resume and the stream faults."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers.simulator import make_options
from tui.api import ApiError, ReadOnlyError
from tui.vendors.capout.client import CapOutClient, DocumentStatus, RealtimeMessage, realtime_url
from tui.sim import capout as capout_sim
from tui.sim.core import MALFORMED_MESSAGES
from tui.sim.server import build_simulator

KEY = "capout_test_demo"
UPLOAD_FIELDS = {"document_id", "workflow_id", "status", "created_at", "status_url", "ws_url"}
STATUS_FIELDS = {"document_id", "status", "workflow_complete", "completed_at", "updated_at"}
MESSAGE_FIELDS = STATUS_FIELDS | {"type", "file_name"}


def headers(key: str = KEY) -> dict[str, str]:
    return {"content-type": "application/json", "capout-api-key": key}


async def mint(base: str) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.post(f"{base}/ws/token", headers={"capout-api-key": KEY})).json()


async def documents(sim) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{sim.root}/_admin/state")).json()["capout"]["documents"]


async def step_until_finished(sim, document_id: str, limit: int = 300) -> dict:
    """Advance the world one change at a time until the document leaves `processing`; its final state."""
    async with httpx.AsyncClient() as http:
        for _ in range(limit):
            state = (await http.get(f"{sim.root}/_admin/state")).json()["capout"]["documents"]
            if state[document_id]["status"] != "processing":
                return state[document_id]
            await http.post(f"{sim.root}/_admin/step?count=1&vendor=capout")
    raise AssertionError(f"{document_id} still processing after {limit} changes")


async def upload(sim, name: str) -> str:
    async with CapOutClient(sim.base_urls["capout"], api_key=KEY) as client:
        reply = await client.upload(name, "team@example.xn", url=f"https://example.com/{name}")
    return reply.document_id


async def receive(socket) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def next_data(events) -> dict:
    """The next SSE event that carries data (keepalive comments and id-only blocks carry none)."""
    while True:
        event = await asyncio.wait_for(anext(events), 5)
        if event.data:
            return json.loads(event.data)


# --------------------------------------------------------------------------------------------- REST


def test_doc_examples_upload_status_token_credits(sim):
    base = sim.base_urls["capout"]
    fresh = httpx.get(f"{base}/credits", headers={"capout-api-key": KEY}).json()
    assert fresh["credits_remaining"] == 500  # options.capout_credits: the seeded history was paid before
    by_url = httpx.post(f"{base}/upload", headers=headers(), json={
        "url": "https://example.com/claims/123/estimate.pdf", "file_name": "claim-123-estimate.pdf",
        "xn_address": "restoration-team@example.xn"}).json()
    assert set(by_url) >= UPLOAD_FIELDS and by_url["status"] == "processing"
    assert by_url["status_url"] == f"/status/{by_url['document_id']}" and by_url["ws_url"] == "/ws/status"
    inline = httpx.post(f"{base}/upload", headers=headers(), json={
        "file_base64": base64.b64encode(b"%PDF-1.4").decode(), "file_name": "claim-123-estimate.pdf",
        "xn_address": "restoration-team@example.xn"}).json()
    assert set(inline) >= UPLOAD_FIELDS and inline["document_id"] != by_url["document_id"]
    status = httpx.get(f"{base}/status/{by_url['document_id']}", headers={"capout-api-key": KEY}).json()
    assert status == {"document_id": by_url["document_id"], "status": "processing", "workflow_complete": False,
                      "completed_at": None, "updated_at": status["updated_at"]}
    token = httpx.post(f"{base}/ws/token", headers={"capout-api-key": KEY}).json()
    assert set(token) == {"token", "organization_id", "expires_at", "ws_url", "sse_url"}
    assert (token["ws_url"], token["sse_url"]) == ("/ws/status", "/sse/status")
    assert token["organization_id"] == fresh["organization_id"] and token["expires_at"].endswith("Z")
    credits = httpx.get(f"{base}/credits", headers={"capout-api-key": KEY}).json()
    assert set(credits) == {"organization_id", "credits_remaining", "credits_used", "credits_total", "updated_at"}
    assert credits["credits_remaining"] == 498 == credits["credits_total"] - credits["credits_used"]
    assert httpx.get(f"{sim.root}/_admin/journal").json()["tokens_minted"] == 1


@pytest.mark.parametrize("body,message", [
    ({"file_name": "a.pdf", "url": "https://x/a.pdf"}, "xn_address"),
    ({"xn_address": "t@x.xn", "url": "https://x/a.pdf"}, "file_name"),
    ({"file_name": "a.pdf", "xn_address": "t@x.xn"}, "exactly one"),
    ({"file_name": "a.pdf", "xn_address": "t@x.xn", "url": "https://x", "file_base64": "QQ=="}, "exactly one"),
    ({"file_name": "a.pdf", "xn_address": "t@x.xn", "file_base64": "not base64!"}, "base64"),
    (["not", "an", "object"], "object"),
])
def test_bad_uploads_are_400_in_capout_format(sim, body, message):
    reply = httpx.post(f"{sim.base_urls['capout']}/upload", headers=headers(), json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_request" and message in reply.json()["error"]["message"]
    not_json = httpx.post(f"{sim.base_urls['capout']}/upload", headers=headers(), content=b"{oops")
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_request"


async def test_wrong_key_is_401_everywhere_and_unknown_document_404(sim):
    base = sim.base_urls["capout"]
    async with httpx.AsyncClient(base_url=base, headers={"capout-api-key": "capout_wrong"}) as http:
        replies = [await http.post("/upload", json={"file_name": "a.pdf", "xn_address": "t@x.xn",
                                                     "url": "https://x/a.pdf"}),
                   await http.get("/status/doc_any"), await http.post("/ws/token"), await http.get("/credits")]
    for reply in replies + [httpx.post(f"{base}/ws/token")]:
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"
    async with CapOutClient(base, api_key="capout_wrong") as client:
        with pytest.raises(ApiError) as caught:
            await client.credits()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert "capout_wrong" not in str(caught.value) and "capout_wrong" not in repr(client)
    async with CapOutClient(base, api_key=KEY) as client:
        with pytest.raises(ApiError) as caught:
            await client.status("doc_nope")
        assert (caught.value.status, caught.value.code) == (404, "not_found")
        with pytest.raises(ApiError) as caught:  # quoted into one path segment, never a walk to /credits
            await client.status("../credits")
        assert caught.value.status == 404


async def test_client_round_trip_and_402_when_out_of_credits(sim_factory, tmp_path):
    running = sim_factory(capout_credits=1)
    pdf = tmp_path / "estimate.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    async with CapOutClient(running.base_urls["capout"], api_key=KEY) as client:
        first = await client.upload_path(pdf, "t@x.xn")
        assert first.status == "processing" and first.status_url == f"/status/{first.document_id}"
        status = await client.status(first.document_id)
        assert isinstance(status, DocumentStatus) and status.workflow_complete is False
        with pytest.raises(ApiError) as caught:
            await client.upload("b.pdf", "t@x.xn", url="https://example.com/b.pdf")
        assert (caught.value.status, caught.value.code) == (402, "insufficient_credits")
        # Others in the organization stop uploading below the reserve instead of going negative.
        httpx.post(f"{running.root}/_admin/step?count=50&vendor=capout")
        credits = await client.credits()
        assert (credits.credits_remaining, credits.credits_used) == (0, credits.credits_total)
        assert (await client.status(first.document_id)).status in ("completed", "failed")
        with pytest.raises(ValueError):
            await client.upload("c.pdf", "t@x.xn")
        with pytest.raises(ValueError):
            await client.upload("c.pdf", "t@x.xn", url="https://example.com/c.pdf", file_base64="QQ==")
    assert (await documents(running))[first.document_id]["file_name"] == "estimate.pdf"


async def test_read_only_client_refuses_upload_without_sending(sim, tmp_path):
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF")
    async with CapOutClient(sim.base_urls["capout"], api_key=KEY, read_only=True) as client:
        with pytest.raises(ReadOnlyError):
            await client.upload("c.pdf", "t@x.xn", url="https://example.com/c.pdf")
        with pytest.raises(ReadOnlyError):
            await client.upload_path(pdf, "t@x.xn")
        assert (await client.mint_token()).token  # realtime still works read-only
    requests = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    assert "POST /capout/upload" not in requests and requests["POST /capout/ws/token"] == 1


def test_idempotency_key_has_no_replay_semantics(sim):
    """CapOut documents no Idempotency-Key: the same key twice uploads twice."""
    body = {"file_name": "a.pdf", "xn_address": "t@x.xn", "url": "https://example.com/a.pdf"}
    same_key = {**headers(), "Idempotency-Key": "one-key"}
    first, second = (httpx.post(f"{sim.base_urls['capout']}/upload", headers=same_key, json=body).json()
                     for _ in range(2))
    assert first["document_id"] != second["document_id"]


def test_background_recharges_instead_of_running_dry(sim):
    httpx.post(f"{sim.root}/_admin/step?count=3000&vendor=capout")
    credits = httpx.get(f"{sim.root}/_admin/state").json()["capout"]["credits"]
    assert credits["credits_total"] > 500 + capout_sim.SEEDED_DOCUMENTS  # bought more
    assert credits["credits_remaining"] >= capout_sim.CREDIT_RESERVE - 1


def test_world_is_bounded_and_keeps_processing_documents(monkeypatch):
    monkeypatch.setattr(capout_sim, "MAX_DOCUMENTS", 30)
    world = build_simulator(make_options()).vendor("capout")
    world.tick(400)
    assert len(world.documents) == 30 and set(world.processing) <= set(world.documents)
    statuses = {doc["status"] for doc in world.documents.values()}
    assert {"completed", "failed"} <= statuses
    for doc in world.documents.values():
        assert (doc["completed_at"] is None) == (doc["status"] == "processing")
        assert doc["workflow_complete"] == (doc["status"] == "completed")


def test_realtime_url_keeps_the_base_path():
    assert realtime_url("http://127.0.0.1:8765/capout", "/ws/status", token="t", transport="ws",
                        document_ids=["d1", "d2"], recent=10) == \
        "ws://127.0.0.1:8765/capout/ws/status?token=t&document_id=d1&document_id=d2&recent=10"
    assert realtime_url("http://127.0.0.1:8765/capout/", "sse/status", token="t", transport="sse") == \
        "http://127.0.0.1:8765/capout/sse/status?token=t"
    assert realtime_url("https://api.capout.ai", "/sse/status", token="t", transport="sse") == \
        "https://api.capout.ai/sse/status?token=t"
    assert realtime_url("https://api.capout.ai", "/ws/status", token="a b&c", transport="ws",
                        document_ids=["doc_123"]) == "wss://api.capout.ai/ws/status?token=a+b%26c&document_id=doc_123"
    assert realtime_url("https://x", "wss://rt.example/ws?region=eu", token="t", transport="ws") == \
        "wss://rt.example/ws?region=eu&token=t"


# --------------------------------------------------------------------------------------------- WebSocket


async def test_websocket_doc_example_follows_its_document(sim):
    base = sim.base_urls["capout"]
    doc_id = await upload(sim, "claim-123-estimate.pdf")
    token = await mint(base)
    url = realtime_url(base, token["ws_url"], token=token["token"], transport="ws", document_ids=[doc_id])
    async with connect(url) as socket:
        await socket.send(json.dumps({"action": "subscribe", "document_ids": [doc_id]}))  # as the doc does
        backfill = await receive(socket)
        assert set(backfill) >= MESSAGE_FIELDS and backfill["type"] == "document.status"
        assert (backfill["document_id"], backfill["status"]) == (doc_id, "processing")
        final = await step_until_finished(sim, doc_id)
        update = RealtimeMessage.model_validate(await receive(socket))  # other documents changed first
        assert (update.document_id, update.status, update.updated_at) == (doc_id, final["status"],
                                                                          final["updated_at"])
        assert update.completed_at == final["completed_at"] and update.file_name == "claim-123-estimate.pdf"


async def test_subscribe_after_connect_then_unsubscribe(sim):
    base = sim.base_urls["capout"]
    dropped, kept = await upload(sim, "dropped.pdf"), await upload(sim, "kept.pdf")
    token = await mint(base)
    async with connect(realtime_url(base, "/ws/status", token=token["token"], transport="ws")) as socket:
        await socket.send(json.dumps({"action": "subscribe", "document_ids": [dropped, kept]}))
        assert {(await receive(socket))["document_id"] for _ in range(2)} == {dropped, kept}
        await socket.send(json.dumps({"action": "unsubscribe", "document_ids": [dropped]}))
        await socket.send("sync")  # actions are handled in order: its error reply means the unsubscribe is done
        assert (await receive(socket))["type"] == "error"
        # The world finishes documents oldest first, so an update of `dropped` would arrive before `kept`'s.
        await step_until_finished(sim, kept)
        assert (await documents(sim))[dropped]["status"] != "processing"
        update = await receive(socket)
        assert (update["document_id"], update["status"]) == (kept, (await documents(sim))[kept]["status"])


async def test_websocket_recent_backfill_and_bad_client_messages(sim):
    base = sim.base_urls["capout"]
    latest = list(await documents(sim))[-3:]
    token = await mint(base)
    async with connect(realtime_url(base, "/ws/status", token=token["token"], transport="ws", recent=3)) as socket:
        assert [(await receive(socket))["document_id"] for _ in range(3)] == latest
        for bad in (b"\x00binary", "not json", json.dumps({"action": "dance"}),
                    json.dumps({"action": "subscribe", "document_ids": "doc_x"}), json.dumps([1])):
            await socket.send(bad)
            error = await receive(socket)
            assert error["type"] == "error" and error["message"]
        # Still open, and with recent=N new documents of the organization are followed too.
        new_id = await upload(sim, "new.pdf")
        assert (await receive(socket))["document_id"] == new_id


async def test_websocket_refuses_unknown_token_with_401(sim):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(realtime_url(sim.base_urls["capout"], "/ws/status", token="rt_forged", transport="ws")):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "unauthorized"


async def test_websocket_drop_and_malformed_faults(sim_factory):
    running = sim_factory(faults="drop=0.5,close=1012,malformed=1")
    base = running.base_urls["capout"]
    token = await mint(base)
    async with connect(realtime_url(base, "/ws/status", token=token["token"], transport="ws", recent=2)) as socket:
        assert await asyncio.wait_for(socket.recv(), 5) in MALFORMED_MESSAGES
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == 1012
    assert httpx.get(f"{running.root}/_admin/journal").json()["streams_dropped"]["capout"] == 1


# --------------------------------------------------------------------------------------------- SSE


async def test_sse_doc_example_with_document_id(sim):
    base = sim.base_urls["capout"]
    doc_id = await upload(sim, "claim-123-estimate.pdf")
    token = await mint(base)
    url = realtime_url(base, token["sse_url"], token=token["token"], transport="sse", document_ids=[doc_id])
    async with httpx.AsyncClient(timeout=10) as http, aconnect_sse(http, "GET", url) as source:
        events = source.aiter_sse()
        backfill = await next_data(events)
        assert set(backfill) >= MESSAGE_FIELDS and (backfill["document_id"], backfill["status"]) == (doc_id,
                                                                                                     "processing")
        final = await step_until_finished(sim, doc_id)
        update = await next_data(events)  # other documents changed meanwhile, out of scope
        assert (update["document_id"], update["status"], update["updated_at"]) == (doc_id, final["status"],
                                                                                   final["updated_at"])


async def test_sse_recent_10_backfill_then_live_changes(sim):
    base = sim.base_urls["capout"]
    latest = list(await documents(sim))[-10:]
    token = await mint(base)
    url = realtime_url(base, token["sse_url"], token=token["token"], transport="sse", recent=10)
    async with httpx.AsyncClient(timeout=10) as http, aconnect_sse(http, "GET", url) as source:
        events = source.aiter_sse()
        backfill = [await next_data(events) for _ in range(10)]
        assert [m["document_id"] for m in backfill] == latest  # the 10 latest, oldest first
        assert all(set(m) >= MESSAGE_FIELDS for m in backfill)
        await http.post(f"{sim.root}/_admin/step?count=3&vendor=capout")
        live = [await next_data(events) for _ in range(3)]
        state = await documents(sim)
        for message in live:
            assert state[message["document_id"]]["updated_at"] >= message["updated_at"]


async def test_sse_unknown_token_is_401_json(sim):
    async with httpx.AsyncClient() as http:
        reply = await http.get(realtime_url(sim.base_urls["capout"], "/sse/status", token="rt_forged",
                                            transport="sse"))
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"


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
        await http.post(f"{sim.root}/_admin/step?count=5&vendor=capout")
        async with aconnect_sse(http, "GET", url, headers={"Last-Event-ID": last_id}) as source:
            resumed = []
            async for event in source.aiter_sse():
                if event.data:
                    resumed.append(event.id)
                if len(resumed) == 5:
                    break
    first_seq = int(last_id.rsplit("-", 1)[1])
    assert [int(i.rsplit("-", 1)[1]) for i in resumed] == list(range(first_seq + 1, first_seq + 6))


# --------------------------------------------------------------------------------------------- expiry


async def test_token_expiry_closes_websocket_4001_ends_sse_and_a_fresh_token_reopens(sim_factory):
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
    async with connect(realtime_url(base, "/ws/status", token=fresh["token"], transport="ws", recent=1)) as socket:
        assert (await receive(socket))["type"] == "document.status"
    sse_url = realtime_url(base, "/sse/status", token=fresh["token"], transport="sse", recent=1)
    async with httpx.AsyncClient(timeout=10) as http, aconnect_sse(http, "GET", sse_url) as source:
        async with asyncio.timeout(5):  # the stream ends on its own when the token expires
            received = [event async for event in source.aiter_sse()]
    assert any(event.data for event in received)


@pytest.mark.parametrize("body", [b'{"credits_remaining": "lots"}', b"not json", b"[1, 2]"])
async def test_a_reply_that_is_not_the_documented_shape_is_an_api_error(body):
    # The simulator always answers the documented shape; a broken server is only reachable through a transport.
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with CapOutClient("http://capout.test", api_key=KEY, transport=transport) as client:
        with pytest.raises(ApiError, match="unexpected Credits reply"):
            await client.credits()
        if not body.startswith(b"{"):
            with pytest.raises(ApiError, match="unexpected DocumentStatus reply"):
                await client.status("doc_1")
