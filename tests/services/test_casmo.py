"""Casmo AI over real sockets: the doc's extract example, callback mode with a signed webhook that verifies
with the doc's recipe on the bytes that crossed the wire, reviews, background jobs, its error format, and
read-only refusal."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import httpx
import pytest

import tui.live.webhooks as webhooks_module
from tui.live.webhooks import WebhookReceiver
from tui.api import ApiError, ReadOnlyError
from tui.vendors.casmo.client import CasmoClient, JobAccepted, JobResult, WebhookPayload, verify_signature
from tests.helpers.waiting import eventually

KEY = "cai_demo"
SECRET = "whsec_casmo_demo"


def doc_verify_signature(body: bytes, signature: str, secret: str) -> bool:
    """Verbatim from the vendor doc."""
    expected = hmac.new(
        secret.encode(), body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)




@pytest.fixture
async def receiver(monkeypatch):
    """A receiver whose signature check is the doc's own recipe, recording each (raw body, header, verdict)."""
    checked: list[tuple[bytes, str | None, bool]] = []

    def doc_recipe(body: bytes, signature: str | None, secret: str) -> bool:
        verdict = doc_verify_signature(body, signature or "", secret)
        checked.append((body, signature, verdict))
        return verdict

    monkeypatch.setattr(webhooks_module, "verify_signature", doc_recipe)
    deliveries: list[dict] = []
    running = WebhookReceiver(port=0, secrets={"casmo": SECRET}, on_delivery=lambda s, p, t: deliveries.append(p))
    running.deliveries, running.checked = deliveries, checked
    await running.start()
    yield running
    await running.stop()


def test_doc_curl_extract_in_response_mode(sim):
    reply = httpx.post(f"{sim.base_urls['casmo']}/v1/extract", headers={"X-API-Key": KEY},
                       files={"file": ("document.pdf", b"%PDF-1.4")}, data={"mode": "response"})
    body = reply.json()
    assert reply.status_code == 200 and set(body) >= {"job_id", "status", "filename", "result"}
    assert body["status"] in ("completed", "failed") and body["filename"] == "document.pdf"
    assert body["job_id"].startswith("temp_") and isinstance(body["result"], dict)
    # The doc: "response (default)".
    default = httpx.post(f"{sim.base_urls['casmo']}/v1/extract", headers={"X-API-Key": KEY},
                         files={"file": ("scan.png", b"\x89PNG")})
    assert default.status_code == 200 and "result" in default.json()


@pytest.mark.parametrize("path,files,data,needle", [
    ("extract", {"file": ("a.pdf", b"x")}, {"mode": "later"}, "mode"),
    ("extract", {"file": ("movie.mp4", b"x")}, {"mode": "response"}, "file type"),
    ("extract", {"file": ("no-extension", b"x")}, {"mode": "response"}, "file type"),
    ("extract", None, {"mode": "response"}, "file"),
    ("review", {"file": ("a.pdf", b"x")}, {"mode": "response"}, "workflow_id"),
])
def test_bad_requests_are_400_with_the_error_string(sim, path, files, data, needle):
    reply = httpx.post(f"{sim.base_urls['casmo']}/v1/{path}", headers={"X-API-Key": KEY}, files=files, data=data)
    assert reply.status_code == 400 and set(reply.json()) == {"error"} and needle in reply.json()["error"]


def test_wrong_key_and_unknown_workflow(sim):
    base = sim.base_urls["casmo"]
    for headers in ({"X-API-Key": "cai_wrong"}, {}):
        reply = httpx.post(f"{base}/v1/extract", headers=headers, files={"file": ("a.pdf", b"x")})
        assert reply.status_code == 401 and isinstance(reply.json()["error"], str)
    reply = httpx.post(f"{base}/v1/review", headers={"X-API-Key": KEY}, files={"file": ("a.pdf", b"x")},
                       data={"mode": "response", "workflow_id": "wf_missing"})
    assert reply.status_code == 404 and "workflow" in reply.json()["error"].lower()


async def test_callback_mode_returns_202_then_a_webhook_that_verifies(sim_factory, receiver):
    running = sim_factory(webhook_url=receiver.url)
    async with CasmoClient(running.base_urls["casmo"], api_key=KEY) as client:
        accepted = await client.extract(b"%PDF-1.4", "invoice.pdf", mode="callback")
        assert type(accepted) is JobAccepted and accepted.status == "processing" and accepted.job_id
        assert accepted.filename == "invoice.pdf"
        review = await client.review(b"%PDF-1.4", "claim.pdf", "wf_claim", mode="response")
        assert isinstance(review, JobResult) and review.status in ("completed", "failed")

    await eventually(lambda: {p["data"]["job_id"] for p in receiver.deliveries} >= {accepted.job_id, review.job_id},
                     10.0, "timed out waiting for both webhooks")
    webhook = next(p for p in receiver.deliveries if p["data"]["job_id"] == accepted.job_id)
    assert webhook["event"] == "extraction.completed" and set(webhook) == {"event", "timestamp", "data"}
    assert {"job_id", "filename", "result"} <= set(webhook["data"]) and webhook["data"]["filename"] == "invoice.pdf"
    assert WebhookPayload.model_validate(webhook).data.status in ("completed", "failed")
    # response mode fires its webhook too (the doc), with the same result the reply carried.
    reviewed = next(p for p in receiver.deliveries if p["data"]["job_id"] == review.job_id)
    assert reviewed["event"] == "review.completed" and reviewed["data"]["result"] == review.result

    # The receiver accepted them through the doc's exact recipe, applied to the raw bytes and header sent.
    assert len(receiver.checked) == 2 and all(verdict for _, _, verdict in receiver.checked)
    for body, signature, _ in receiver.checked:
        assert signature == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert not doc_verify_signature(body, signature, "whsec_some_other_secret")
    assert receiver.counts["accepted"] == 2 and receiver.counts["rejected_signature"] == 0


async def test_background_jobs_keep_webhooks_coming(sim_factory, receiver):
    """Each world event submits or completes one job of the account's other integrations."""
    running = sim_factory(webhook_url=receiver.url)
    async with httpx.AsyncClient() as http:
        await http.post(f"{running.root}/_admin/step", params={"count": 40, "vendor": "casmo"})
        jobs = (await http.get(f"{running.root}/_admin/state")).json()["casmo"]["jobs"]
    finished = {job_id: job for job_id, job in jobs.items() if job["status"] != "processing"}
    assert len(finished) >= 10 and len(jobs) - len(finished) <= 4  # background work stays bounded
    await eventually(lambda: {p["data"]["job_id"] for p in receiver.deliveries} >= set(finished), 10.0,
                     "timed out waiting for every webhook")
    for payload in receiver.deliveries:
        job = finished[payload["data"]["job_id"]]
        assert payload["event"] == {"extract": "extraction.completed", "review": "review.completed"}[job["kind"]]
        assert payload["data"]["status"] == job["status"] and job["completed_at"] and job["submitted_at"]
        result = payload["data"]["result"]
        if job["status"] == "failed":
            assert set(result) == {"error"}
        elif job["kind"] == "review":
            assert result["workflow_id"] == job["workflow_id"] and result["checks"]
        else:
            assert {"document_type", "fields", "confidence", "pages"} <= set(result)


async def test_client_errors_and_read_only(sim):
    async with CasmoClient(sim.base_urls["casmo"], api_key=KEY) as client:
        with pytest.raises(ApiError) as caught:
            await client.review(b"x", "a.pdf", "wf_missing", mode="response")
        assert caught.value.status == 404 and "workflow" in caught.value.message.lower()
        with pytest.raises(ApiError) as caught:
            await client.extract(b"x", "clip.mp4")
        assert caught.value.status == 400 and "file type" in caught.value.message
        with pytest.raises(ValueError):
            await client.extract(b"x", "a.pdf", mode="later")
    async with CasmoClient(sim.base_urls["casmo"], api_key="cai_wrong_key_1234") as client:
        with pytest.raises(ApiError) as caught:
            await client.extract(b"x", "a.pdf")
        assert caught.value.status == 401 and "cai_wrong" not in str(caught.value) + repr(client)

    before = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    async with CasmoClient(sim.base_urls["casmo"], api_key=KEY, read_only=True) as client:
        for call in (client.extract(b"x", "a.pdf"), client.review(b"x", "a.pdf", "wf_claim")):
            with pytest.raises(ReadOnlyError):
                await call
    after = httpx.get(f"{sim.root}/_admin/journal").json()["requests"]
    casmo = lambda counts: {k: v for k, v in counts.items() if k.startswith("POST /casmo")}  # noqa: E731
    assert casmo(after) == casmo(before)


def test_verify_signature_is_the_doc_recipe_and_never_raises():
    body = b'{"event":"extraction.completed"}'
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verify_signature(body, good, SECRET) and verify_signature(body, good.upper(), SECRET)
    assert doc_verify_signature(body, good, SECRET)
    for bad in (None, "", "not-hex", good[:-2], "\u00e9" * 64, good + "00"):
        assert not verify_signature(body, bad, SECRET)
    assert not verify_signature(body + b" ", good, SECRET) and not verify_signature(body, good, "other")


async def test_response_mode_is_not_retried_and_names_come_back_untrusted(sim_factory):
    """A 5xx in response mode (the work failed or took too long) is not re-run behind the caller's back, and
    the echoed file name is server text: with the `hostile` fault it carries escapes, kept as sent."""
    running = sim_factory(faults="errors=1")
    async with CasmoClient(running.base_urls["casmo"], api_key=KEY) as client:
        with pytest.raises(ApiError) as caught:
            await client.extract(b"x", "a.pdf")
    assert caught.value.status in (500, 504) and caught.value.message == "Simulated server fault"
    journal = httpx.get(f"{running.root}/_admin/journal").json()["requests"]
    assert journal == {"FAULT /casmo/v1/extract": 1}

    hostile = sim_factory(faults="hostile")
    async with CasmoClient(hostile.base_urls["casmo"], api_key=KEY) as client:
        reply = await client.extract(b"x", "a.pdf")
    assert "a.pdf" in reply.filename and reply.filename != "a.pdf"
