"""The webhook receiver with real signed requests: the doc's HMAC recipe, refusals before parsing, size
limits, duplicates applied once, nothing reflected back."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from tui.live.webhooks import WebhookReceiver

SECRET = "whsec_test_secret"


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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
    assert receiver.counts["duplicates"] == 1


@pytest.mark.parametrize("signature", [None, "", "00" * 32, "not-hex", sign(b"other body")])
async def test_bad_or_missing_signature_is_401_and_changes_nothing(receiver, signature):
    body = b'{"event": "review.completed", "data": {"job_id": "j<script>"}}'
    headers = {} if signature is None else {"X-Webhook-Signature": signature}
    reply = await post(receiver, "/webhooks/casmo", body, **headers)
    assert reply.status_code == 401 and receiver.deliveries == []
    assert b"script" not in reply.content and b"review" not in reply.content  # nothing reflected


async def test_each_service_has_its_own_secret(receiver):
    body = b'{"event": "task.created", "data": {}}'
    assert (await post(receiver, "/webhooks/capx", body, **{"X-Webhook-Signature": sign(body)})).status_code == 401
    good = await post(receiver, "/webhooks/capx", body, **{"X-Webhook-Signature": sign(body, "other_secret")})
    assert good.status_code == 200 and receiver.deliveries == [("capx", json.loads(body))]
    assert (await post(receiver, "/webhooks/other", body)).status_code == 404


async def test_over_one_mebibyte_is_413_with_length_or_chunked(receiver):
    big = b"x" * ((1 << 20) + 1)
    assert (await post(receiver, "/webhooks/casmo", big, **{"X-Webhook-Signature": sign(big)})).status_code == 413

    async def chunks():
        for _ in range(20):
            yield b"y" * 65536

    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{receiver.url}/webhooks/casmo", content=chunks(),
                                headers={"X-Webhook-Signature": "00"})
    assert reply.status_code == 413 and receiver.deliveries == []


async def test_invalid_json_with_a_valid_signature_is_400(receiver):
    body = b"{not json"
    reply = await post(receiver, "/webhooks/casmo", body, **{"X-Webhook-Signature": sign(body)})
    assert reply.status_code == 400 and receiver.deliveries == [] and b"not json" not in reply.content
