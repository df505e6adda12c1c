"""Casmo AI over real sockets: the doc's extract example, callback mode with a signed webhook that verifies
with the doc's recipe, reviews, its error format, and read-only refusal."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
import pytest

from tui.live.webhooks import WebhookReceiver
from tui.services.base import ApiError, ReadOnlyError
from tui.services.casmo import CasmoClient

KEY = "cai_demo"


def doc_verify_signature(body: bytes, signature: str, secret: str) -> bool:
    """Verbatim from the vendor doc."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def test_doc_curl_extract_in_response_mode(sim):
    reply = httpx.post(f"{sim.base_urls['casmo']}/v1/extract", headers={"X-API-Key": KEY},
                       files={"file": ("document.pdf", b"%PDF-1.4")}, data={"mode": "response"})
    body = reply.json()
    assert reply.status_code == 200 and set(body) >= {"job_id", "status", "filename", "result"}
    assert body["status"] in ("completed", "failed") and body["filename"] == "document.pdf"


@pytest.mark.parametrize("files,data,status,needle", [
    ({"file": ("a.pdf", b"x")}, {"mode": "later"}, 400, "mode"),
    ({"file": ("movie.mp4", b"x")}, {"mode": "response"}, 400, "file type"),
    (None, {"mode": "response"}, 400, "file"),
])
def test_bad_requests_are_400_with_the_error_string(sim, files, data, status, needle):
    reply = httpx.post(f"{sim.base_urls['casmo']}/v1/extract", headers={"X-API-Key": KEY}, files=files, data=data)
    assert reply.status_code == status and needle in reply.json()["error"]


def test_wrong_key_and_unknown_workflow(sim):
    base = sim.base_urls["casmo"]
    assert httpx.post(f"{base}/v1/extract", headers={"X-API-Key": "cai_wrong"},
                      files={"file": ("a.pdf", b"x")}).status_code == 401
    reply = httpx.post(f"{base}/v1/review", headers={"X-API-Key": KEY}, files={"file": ("a.pdf", b"x")},
                       data={"mode": "response", "workflow_id": "wf_missing"})
    assert reply.status_code == 404 and "workflow" in reply.json()["error"].lower()


async def test_callback_mode_returns_202_then_a_webhook_that_verifies(sim_factory):
    deliveries: list[tuple[bytes, str]] = []
    secret = "whsec_casmo_demo"
    receiver = WebhookReceiver(port=0, secrets={"casmo": secret}, on_delivery=lambda s, p, t: deliveries.append(p))
    await receiver.start()
    try:
        running = sim_factory(webhook_url=receiver.url)
        async with CasmoClient(running.base_urls["casmo"], api_key=KEY) as client:
            accepted = await client.extract(b"%PDF-1.4", "invoice.pdf", mode="callback")
            assert accepted.status == "processing" and accepted.job_id
            review = await client.review(b"%PDF-1.4", "claim.pdf", "wf_claim", mode="response")
            assert review.status in ("completed", "failed")
        deadline = asyncio.get_running_loop().time() + 10
        while not any(p["data"]["job_id"] == accepted.job_id for p in deliveries):
            assert asyncio.get_running_loop().time() < deadline, "no webhook arrived"
            await asyncio.sleep(0.05)
        webhook = next(p for p in deliveries if p["data"]["job_id"] == accepted.job_id)
        assert webhook["event"] == "extraction.completed" and set(webhook) == {"event", "timestamp", "data"}
        assert {p["event"] for p in deliveries} >= {"extraction.completed", "review.completed"}
        # The signature the simulator sent verifies with the doc's own recipe (the receiver already checked it).
        body = json.dumps(webhook).encode()
        assert doc_verify_signature(body, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), secret)
        assert receiver.counts["accepted"] >= 2 and receiver.counts["rejected_signature"] == 0
    finally:
        await receiver.stop()


async def test_errors_and_read_only(sim):
    async with CasmoClient(sim.base_urls["casmo"], api_key=KEY) as client:
        with pytest.raises(ApiError) as caught:
            await client.review(b"x", "a.pdf", "wf_missing", mode="response")
        assert caught.value.status == 404
    before = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    async with CasmoClient(sim.base_urls["casmo"], api_key=KEY, read_only=True) as client:
        for call in (client.extract(b"x", "a.pdf"), client.review(b"x", "a.pdf", "wf_claim")):
            with pytest.raises(ReadOnlyError):
                await call
    after = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    casmo = lambda counts: {k: v for k, v in counts.items() if k.startswith("POST /casmo")}  # noqa: E731
    assert casmo(after) == casmo(before)
