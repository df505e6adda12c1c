"""The webhook receiver with real signed requests: the doc's HMAC recipe, refusals before parsing, size
limits, duplicates applied once, nothing reflected back."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket

import httpx
import pytest

from tui.live.webhooks import MAX_BODY, WebhookReceiver

SECRET = "whsec_test_secret"
# Marker strings planted in request bodies; no reply may contain any of them.
MARKERS = (b"script", b"invoice", b"temp_1", b"review", b"SECRET", b"not json", b"yyyy", SECRET.encode())


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def assert_not_reflected(reply: httpx.Response) -> None:
    assert len(reply.content) < 100 and not any(marker in reply.content for marker in MARKERS)


@pytest.fixture
async def receiver():
    deliveries = []
    running = WebhookReceiver(port=0, secrets={"casmo": SECRET, "capx": "other_secret"},
                              on_delivery=lambda service, payload, at: deliveries.append((service, payload)))
    await running.start()
    running.deliveries = deliveries
    yield running
    await running.stop()


async def post(receiver, path: str, body: bytes, **headers) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{receiver.url}{path}", content=body, headers=headers)


async def test_good_signature_accepted_once_even_if_delivered_twice(receiver):
    body = json.dumps({"event": "extraction.completed", "timestamp": "2024-01-15T10:30:00.000Z",
                       "data": {"job_id": "temp_1_1234567890", "filename": "invoice.pdf", "result": {}}}).encode()
    first = await post(receiver, "/webhooks/casmo", body, **{"X-Webhook-Signature": sign(body)})
    second = await post(receiver, "/webhooks/casmo", body, **{"X-Webhook-Signature": sign(body)})
    assert first.status_code == second.status_code == 200
    assert receiver.deliveries == [("casmo", json.loads(body))]
    assert receiver.counts["accepted"] == 1 and receiver.counts["duplicates"] == 1
    assert_not_reflected(first)
    assert_not_reflected(second)
    assert "whsec" not in repr(receiver) and receiver.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("signature", [None, "", "00" * 32, "not-hex", sign(b"other body"), sign(b"x", "wrong"),
                                       pytest.param(b"\xe9" * 64, id="non-ascii")])
async def test_bad_or_missing_signature_is_401_and_changes_nothing(receiver, signature):
    body = b'{"event": "review.completed", "data": {"job_id": "j<script>"}}'
    headers = {} if signature is None else {"X-Webhook-Signature": signature}
    reply = await post(receiver, "/webhooks/casmo", body, **headers)
    assert reply.status_code == 401 and receiver.deliveries == []
    assert receiver.counts["rejected_signature"] == 1 and receiver.counts["accepted"] == 0
    assert_not_reflected(reply)


async def test_each_service_has_its_own_secret_and_a_missing_secret_is_a_closed_route(receiver):
    body = b'{"event": "task.created", "data": {}}'
    assert (await post(receiver, "/webhooks/capx", body, **{"X-Webhook-Signature": sign(body)})).status_code == 401
    good = await post(receiver, "/webhooks/capx", body, **{"X-Webhook-Signature": sign(body, "other_secret")})
    assert good.status_code == 200 and receiver.deliveries == [("capx", json.loads(body))]
    assert (await post(receiver, "/webhooks/other", body)).status_code == 404
    assert (await post(receiver, "/webhooks/capx/more", body)).status_code == 404
    async with httpx.AsyncClient() as http:
        wrong_method = await http.get(f"{receiver.url}/webhooks/capx")
    assert wrong_method.status_code == 405 and wrong_method.json() == {"error": "method not allowed"}

    closed = WebhookReceiver(port=0, secrets={"casmo": None, "capx": "other_secret"},
                             on_delivery=lambda *args: pytest.fail("a closed route delivered"))
    await closed.start()
    try:
        reply = await post(closed, "/webhooks/casmo", body, **{"X-Webhook-Signature": sign(body)})
        assert reply.status_code == 404
    finally:
        await closed.stop()


async def test_over_one_mebibyte_is_413_with_length_or_chunked(receiver):
    big = b"x" * (MAX_BODY + 1)
    reply = await post(receiver, "/webhooks/casmo", big, **{"X-Webhook-Signature": sign(big)})
    assert reply.status_code == 413
    assert_not_reflected(reply)

    async def chunks():  # no Content-Length: 1.25 MiB in 64 KiB pieces; refused before the signature matters
        for _ in range(20):
            yield b"y" * 65536

    async with httpx.AsyncClient() as http:
        try:
            reply = await http.post(f"{receiver.url}/webhooks/casmo", content=chunks(),
                                    headers={"X-Webhook-Signature": "00"})
            assert reply.status_code == 413
            assert_not_reflected(reply)
        except (httpx.WriteError, httpx.RemoteProtocolError):
            pass  # the receiver may hang up while the rest is still being written: also a refusal
    assert receiver.counts["too_large"] == 2 and receiver.deliveries == []

    # Exactly at the cap is fine.
    padded = json.dumps({"event": "review.completed", "pad": ""}).encode()
    edge = padded[:-2] + b"p" * (MAX_BODY - len(padded)) + padded[-2:]
    assert len(edge) == MAX_BODY
    reply = await post(receiver, "/webhooks/casmo", edge, **{"X-Webhook-Signature": sign(edge)})
    assert reply.status_code == 200 and len(receiver.deliveries) == 1


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2, 3]", b"\xff\xfe{}", b""])
async def test_invalid_json_with_a_valid_signature_is_400(receiver, body):
    reply = await post(receiver, "/webhooks/casmo", body, **{"X-Webhook-Signature": sign(body)})
    assert reply.status_code == 400 and receiver.deliveries == [] and receiver.counts["invalid"] == 1
    assert_not_reflected(reply)


async def test_a_failing_handler_answers_500_and_the_retry_is_applied():
    calls = []

    def flaky(service, payload, at):
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("store not ready")

    running = WebhookReceiver(port=0, secrets={"casmo": SECRET}, on_delivery=flaky)
    await running.start()
    try:
        body = b'{"event": "extraction.completed", "data": {"job_id": "temp_1_1"}}'
        first = await post(running, "/webhooks/casmo", body, **{"X-Webhook-Signature": sign(body)})
        retry = await post(running, "/webhooks/casmo", body, **{"X-Webhook-Signature": sign(body)})
        assert (first.status_code, retry.status_code) == (500, 200) and len(calls) == 2
        assert running.counts["accepted"] == 1 and running.counts["duplicates"] == 0
        assert b"store not ready" not in first.content
    finally:
        await running.stop()


async def test_start_raises_when_the_port_is_taken(receiver):
    other = WebhookReceiver(port=receiver.port, secrets={"casmo": SECRET}, on_delivery=lambda *args: None)
    with pytest.raises(OSError):
        await other.start()
    await other.stop()  # harmless after a failed start


async def test_a_delivery_is_answered_at_once_nagle_off_on_every_connection(receiver):
    """With Nagle on, each reply's body waited ~40 ms for the sender's delayed ACK: 25 deliveries a second
    from a sender that waits for each answer. Looked at on the server's side of a live connection."""
    body = b'{"event": "review.completed", "data": {"job_id": "j1"}}'
    async with httpx.AsyncClient() as http:  # the connection stays open (keep-alive) while we look
        reply = await http.post(f"{receiver.url}/webhooks/casmo", content=body,
                                headers={"X-Webhook-Signature": sign(body)})
        assert reply.status_code == 200
        connections = list(receiver.server.open)
        assert connections
        for connection in connections:
            server_side = connection.transport.get_extra_info("socket")
            assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def raw_exchange(receiver, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


UPGRADE = (b"GET /webhooks/casmo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


@pytest.mark.parametrize("request_bytes, status", [
    pytest.param(UPGRADE, 405, id="websocket-upgrade"),
    pytest.param(UPGRADE.replace(b"/webhooks/casmo", b"/ws"), 404, id="websocket-upgrade-elsewhere"),
    pytest.param(b"POST /webhooks/casmo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
                 b"Content-Length: 2\r\n\r\n{}", 400, id="post-with-upgrade"),
    pytest.param(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", 404, id="connect"),
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, id="http2-preface"),
    pytest.param(b"PUT /webhooks/casmo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405, id="put"),
    pytest.param(b"DELETE /webhooks/capx HTTP/1.1\r\nHost: x\r\n\r\n", 405, id="delete"),
    pytest.param(b"HEAD /webhooks/casmo HTTP/1.1\r\nHost: x\r\n\r\n", 405, id="head"),
    pytest.param(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404, id="options"),
    pytest.param(b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404, id="traversal"),
    pytest.param(b"BREW /webhooks/casmo HTCPCP/1.0\r\n\r\n", 400, id="unknown-method"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40, 400, id="tls-hello"),
    pytest.param(b"POST /webhooks/casmo HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                 id="length-and-chunked"),
])
async def test_what_it_does_not_serve_is_a_4xx_and_never_reaches_the_handler(receiver, request_bytes, status):
    """Before: a WebSocket upgrade was handed to uvicorn's WebSocket protocol, which answered 500."""
    reply = await raw_exchange(receiver, request_bytes)
    assert reply.startswith(b"HTTP/1.1 %d " % status), reply[:60]
    assert b"connection: close" in reply.lower() and receiver.deliveries == []
    assert_not_reflected(httpx.Response(status, content=reply.partition(b"\r\n\r\n")[2]))


async def test_a_websocket_client_is_refused_with_a_4xx(receiver):
    import websockets

    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{receiver.port}/webhooks/casmo", open_timeout=5):
            pass
    assert 400 <= refused.value.response.status_code < 500


async def test_keep_alive_pipelining_and_100_continue_still_work(receiver):
    """The fixes must not cost a sender what HTTP/1.1 gives it: several deliveries on one connection, sent
    back to back without waiting (pipelined), and `Expect: 100-continue` (curl's default for larger bodies)."""
    bodies = [json.dumps({"event": "review.completed", "data": {"job_id": f"j{n}"}}).encode() for n in range(3)]
    requests = b"".join(b"POST /webhooks/casmo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                        b"X-Webhook-Signature: %s\r\n\r\n%s" % (len(body), sign(body).encode(), body)
                        for body in bodies)
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    try:
        writer.write(requests)
        replies = b""
        while replies.count(b"HTTP/1.1 200 ") < 3:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, replies
            replies += chunk
        assert b"connection: close" not in replies.lower()
        body = json.dumps({"event": "review.completed", "data": {"job_id": "big", "pad": "x" * 4000}}).encode()
        writer.write(b"POST /webhooks/casmo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n"
                     b"X-Webhook-Signature: %s\r\n\r\n" % (len(body), sign(body).encode()))
        assert (await asyncio.wait_for(reader.read(65536), 5)).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(body)
        assert (await asyncio.wait_for(reader.read(65536), 5)).startswith(b"HTTP/1.1 200 ")
    finally:
        writer.close()
    assert [payload["data"]["job_id"] for _, payload in receiver.deliveries] == ["j0", "j1", "j2", "big"]
