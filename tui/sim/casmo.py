"""Simulated Casmo AI: `POST /v1/extract` and `/v1/review` (multipart, `mode=response|callback`), results
by signed webhook in both modes, and background jobs from the account's other integrations so webhooks keep
arriving in the demo. Errors are `{"error": "..."}` with the documented statuses."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sim.core import VendorSim, iso

ALLOWED_TYPES = ("pdf", "png", "jpg", "jpeg", "tiff", "docx", "txt")
WORKFLOWS = {"wf_invoice": "Invoice approval", "wf_claim": "Claim intake", "wf_contract": "Contract review"}
BACKGROUND_FILES = ["invoice-{n}.pdf", "receipt-{n}.jpg", "claim-form-{n}.pdf", "w9-{n}.pdf", "lease-{n}.docx"]
MAX_JOBS = 5000


class CasmoSim(VendorSim):
    name = "casmo"
    prefix = "/casmo"
    weight = 0.05

    def __init__(self, sim):
        super().__init__(sim)
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.pending: OrderedDict[str, dict[str, Any]] = OrderedDict()  # background jobs not finished (<= 4)
        self.counter = 0
        self._timers: set[asyncio.Task] = set()

    # ------------------------------------------------------------------------------------------- world

    def _new_job(self, filename: str, kind: str, workflow_id: str | None, mode: str) -> dict[str, Any]:
        self.counter += 1
        job_id = f"temp_{self.counter}_{int(time.time())}"  # the doc's "temp_1_1234567890" shape
        job = {"job_id": job_id, "filename": filename, "kind": kind, "workflow_id": workflow_id, "mode": mode,
               "status": "processing", "submitted_at": iso(), "completed_at": None, "result": None}
        self.jobs[job_id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
        return job

    def _result(self, job: dict[str, Any]) -> dict[str, Any]:
        rng = self.sim.rng
        if rng.random() < 0.08:
            return {"error": self.sim.label("Document parsing failed: unreadable page 2")}
        if job["kind"] == "review":
            checks = ["totals match line items", "vendor is approved", "dates within policy", "signature present"]
            failed = [c for c in checks if rng.random() < 0.2]
            return {"workflow_id": job["workflow_id"], "workflow": WORKFLOWS.get(job["workflow_id"] or ""),
                    "passed": not failed, "checks": [{"name": c, "passed": c not in failed} for c in checks],
                    "findings": [self.sim.label(f"Check failed: {c}") for c in failed]}
        return {"document_type": rng.choice(["invoice", "receipt", "claim", "contract"]),
                "pages": rng.randint(1, 12), "confidence": round(rng.uniform(0.82, 0.99), 3),
                "fields": {"invoice_number": f"INV-{rng.randint(1000, 9999)}",
                           "total": round(rng.uniform(40, 9000), 2), "currency": rng.choice(["USD", "EUR"]),
                           "issued_on": "2026-11-02", "vendor": self.sim.label(rng.choice(["Acme Supply", "Globex"]))}}

    def _finish(self, job: dict[str, Any]) -> dict[str, Any]:
        """Complete `job` (held by the caller, so eviction from `jobs` meanwhile does not matter) and send
        its webhook: in both modes, as the doc says."""
        job_id = job["job_id"]
        self.pending.pop(job_id, None)
        if job["status"] != "processing":
            return job
        result = self._result(job)
        job.update(result=result, status="failed" if "error" in result else "completed", completed_at=iso())
        event = "review.completed" if job["kind"] == "review" else "extraction.completed"
        self.sim.webhooks.send("casmo", event, {"job_id": job_id, "filename": job["filename"], "status": job["status"],
                                               "result": result}, self.sim.options.casmo_webhook_secret)
        return job

    def _finish_later(self, job: dict[str, Any]) -> None:
        """Callback jobs finish on their own clock, so they complete even in a still world (rate 0)."""
        delay = 0.2 + self.sim.rng.random() * 0.8

        async def later() -> None:
            await asyncio.sleep(delay)
            self._finish(job)

        task = asyncio.get_running_loop().create_task(later())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def tick(self, count: int) -> None:
        for _ in range(count):
            if self.pending and (len(self.pending) > 3 or self.sim.rng.random() < 0.5):
                self._finish(self.pending.pop(next(iter(self.pending))))
                continue
            kind = "review" if self.sim.rng.random() < 0.3 else "extract"
            name = self.sim.rng.choice(BACKGROUND_FILES).format(n=2000 + self.counter)
            job = self._new_job(self.sim.label(name), kind, self.sim.rng.choice(list(WORKFLOWS)) if kind == "review"
                                else None, "callback")
            self.pending[job["job_id"]] = job

    def snapshot(self) -> dict[str, Any]:
        return {"jobs": {k: dict(v) for k, v in self.jobs.items()}, "workflows": WORKFLOWS}

    async def stop(self) -> None:
        for task in list(self._timers):
            task.cancel()

    # ------------------------------------------------------------------------------------------- HTTP

    def error(self, status: int, code: str, message: str) -> Response:
        return JSONResponse({"error": message}, status_code=status)

    def routes(self) -> list[BaseRoute]:
        return [Route("/v1/extract", self.extract, methods=["POST"]),
                Route("/v1/review", self.review, methods=["POST"])]

    async def extract(self, request: Request) -> Response:
        return await self._submit(request, "extract")

    async def review(self, request: Request) -> Response:
        return await self._submit(request, "review")

    async def _submit(self, request: Request, kind: str) -> Response:
        if request.headers.get("x-api-key") != self.sim.options.casmo_api_key:
            return self.error(401, "unauthorized", "Missing or invalid API key")
        try:
            form = await request.form()
        except Exception:  # not multipart, or broken multipart
            return self.error(400, "bad_request", "Expected a multipart/form-data body")
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return self.error(400, "bad_request", "Missing parameter: file")
        extension = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        if extension not in ALLOWED_TYPES:
            return self.error(400, "bad_request", f"Invalid file type; allowed: {', '.join(ALLOWED_TYPES)}")
        mode = str(form.get("mode") or "response")
        if mode not in ("response", "callback"):
            return self.error(400, "bad_request", "Invalid mode: use response or callback")
        workflow_id = None
        if kind == "review":
            workflow_id = str(form.get("workflow_id") or "")
            if not workflow_id:
                return self.error(400, "bad_request", "Missing parameter: workflow_id")
            if workflow_id not in WORKFLOWS:
                return self.error(404, "not_found", "Workflow does not exist or does not belong to you")
        await upload.read()
        # The name comes back from the server, so the `hostile` fault may lace it like any other.
        job = self._new_job(self.sim.label(upload.filename), kind, workflow_id, mode)
        if mode == "callback":
            self._finish_later(job)
            return JSONResponse({"job_id": job["job_id"], "status": "processing", "filename": job["filename"]},
                                status_code=202)
        await asyncio.sleep(0.05 + self.sim.rng.random() * 0.2)  # the work, in response mode
        self._finish(job)
        return JSONResponse({"job_id": job["job_id"], "status": job["status"], "filename": job["filename"],
                             "result": job["result"]})
