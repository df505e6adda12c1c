"""Casmo live: Casmo has no list or status endpoint, so its jobs are the ones this client submitted plus
every signed webhook received (the receiver verified the signature before anything here runs)."""

from __future__ import annotations

import time
from typing import Any

from tui.live.events import Event, iso_utc, parse_timestamp
from tui.text import sanitize_data

JOB_KINDS = {"extraction.completed": "extract", "review.completed": "review"}


def job_status(data: dict[str, Any]) -> str:
    status = data.get("status")
    if isinstance(status, str) and status:
        return status
    result = data.get("result")
    return "failed" if isinstance(result, dict) and result.get("error") else "completed"


def casmo_webhook_event(payload: dict[str, Any], received: float | None = None) -> Event:
    """A verified Casmo webhook as a normalized event that completes its job."""
    now = received or time.time()
    body = sanitize_data(payload)
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    event_type = str(body.get("event") or "webhook")
    job_id = str(data.get("job_id") or "")
    at = parse_timestamp(body.get("timestamp")) or now
    patch = None
    if job_id:
        patch = {
            "job_id": job_id,
            "filename": data.get("filename"),
            "status": job_status(data),
            "completed_at": body.get("timestamp") or iso_utc(now),
            "result": data.get("result"),
            "signature_verified": True,
        }
        if event_type in JOB_KINDS:
            patch["kind"] = JOB_KINDS[event_type]
    return Event(time=at, service="casmo", type=event_type, id=job_id, data=body,
                 kind="jobs" if job_id else None, patch=patch, received=now)


def submitted_job_row(reply: dict[str, Any], *, kind: str, mode: str, workflow_id: str | None) -> dict[str, Any]:
    """The row for a job this client submitted (before, or instead of, its webhook)."""
    row = sanitize_data(reply)
    row.update(kind=kind, mode=mode, submitted_at=iso_utc(time.time()))
    if workflow_id:
        row["workflow_id"] = workflow_id
    if row.get("status") not in (None, "processing"):
        row["completed_at"] = row["submitted_at"]  # response mode: it came back finished
    return row
