"""What an alert says for triage: its entity by name (a file, an agent, a task), the entity's company by name,
what happened (`failed`, `error`, `approval required`) and why, when the server says (an error field, a result's
error, a cost against its threshold); and what Enter on it shows (the entity, its recent events). Names are looked
up in the Store; ids stand in for names not known yet. Every piece is sanitized; the line is a `Text`, never
markup. Imported after the first frame, with the panes (tui/app/alerts.py and alert_rules.py are what the monitor
needs before it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tui.app.alert_rules import FAILED_STATUSES, entity_status, is_failure
from tui.text import sanitize

if TYPE_CHECKING:
    from tui.live.events import Event
    from tui.live.store import Store

TEXT_MAX = 160  # characters of a name or a reason an alert line keeps

NAME_FIELDS = ("file_name", "filename", "title", "name")
REASON_FIELDS = ("error", "failure_reason", "reason", "error_message", "status_reason", "message", "last_error")


def _text(value: Any) -> str | None:
    """A server value as one short line of safe text; None when it says nothing."""
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    text = sanitize(value, single_line=True).strip()
    return text[:TEXT_MAX] + ("…" if len(text) > TEXT_MAX else "") if text else None


def _sources(event: Event, row: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Where an alert's fields may be: the payload, a webhook's inner `data`, a `result`, the entity's row."""
    data = event.data if isinstance(event.data, dict) else {}
    sources = [data]
    inner = data.get("data")
    if isinstance(inner, dict):
        sources.append(inner)
    if row:
        sources.append(row)
    for source in list(sources):
        result = source.get("result")
        if isinstance(result, dict):
            sources.append(result)
    return sources


def _first(sources: list[dict[str, Any]], fields: Sequence[str]) -> str | None:
    for source in sources:
        for field in fields:
            text = reason_text(source.get(field)) if field in REASON_FIELDS else _text(source.get(field))
            if text:
                return text
    return None


def reason_text(value: Any) -> str | None:
    """An error as the server gave it: a string, or an object with a message (and a code)."""
    if isinstance(value, dict):
        message = _text(value.get("message") or value.get("detail") or value.get("description"))
        code = _text(value.get("code") or value.get("type"))
        return f"{message} ({code})" if message and code else message or code
    return _text(value)


@dataclass(frozen=True)
class AlertWords:
    """What an alert says: `subject` (by name), `company`, `what` happened, and `reason` (why, or the figures)."""

    subject: str
    what: str
    company: str | None = None
    reason: str | None = None
    failure: bool = False  # a failure the server could have given a reason for
    named: bool = True  # the subject and the company by name; False: an id stands in for a name not known yet

    def text(self) -> Text:
        """`policy-608.pdf — failed: unreadable page 2`, `Nova · Acme Corp — error: tool call timed out`."""
        text = Text(self.subject, style="bold")
        if self.company:
            text.append(" · ").append(self.company, style="cyan")
        text.append(" — ", style="dim")
        text.append(self.what, style="bold red" if self.failure else "yellow")
        if self.reason:
            text.append(": ").append(self.reason)
        elif self.failure:
            text.append(" (no reason given)", style="italic")  # (not dim: under 3:1 on a cursor row)
        return text

    @property
    def plain(self) -> str:
        return self.text().plain


def alert_words(event: Event, store: Store | None) -> AlertWords:
    """What an alert says for triage, its names looked up in `store` (see the module's docstring)."""
    row = store.get(event.kind, event.id) if store is not None and event.kind and event.id else None
    sources = _sources(event, row)
    status = entity_status(event)
    failure = is_failure(event)
    # "failed" when the entity failed (a Casmo `extraction.completed` may carry a failure), else the event's
    # last word: "error", "approval required", "threshold reached".
    what = status if status in FAILED_STATUSES else event.type.rsplit(".", 1)[-1].replace("_", " ")
    company_id = _first(sources, ("company_id",))
    company = _company_name(store, company_id)
    if event.kind in ("companies", "costs"):  # the entity is the company itself
        named = company is not None or not company_id
        subject, company = company or _text(company_id or event.id) or "?", None
    else:
        name = _first(sources, NAME_FIELDS)
        named = name is not None and (company is not None or not company_id)
        subject = name or _text(event.id) or event.type
        company = company or company_id
    reason = None
    if failure:
        reason = _first(sources, REASON_FIELDS)
    elif event.type.startswith("costs."):
        reason = _cost_words(sources)
    return AlertWords(subject=subject, what=_text(what) or "alert", company=company, reason=reason,
                      failure=failure, named=named)


def _company_name(store: Store | None, company_id: str | None) -> str | None:
    """The company's name as the Store has it; None when it has none (yet)."""
    if not company_id:
        return None
    company = store.get("companies", company_id) if store is not None else None
    return _text(company.get("name")) if company else None


def _cost_words(sources: list[dict[str, Any]]) -> str | None:
    def money(field: str) -> str | None:
        for source in sources:
            value = source.get(field)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return f"${value:,.2f}".replace(".00", "")
        return None

    total, threshold = money("total_usd"), money("threshold_usd")
    return f"{total} of {threshold}" if total and threshold else total


def alert_line(event: Event, store: Store | None) -> str:
    """An alert on one line, for the notice and the export: `capout document.status: policy.pdf — failed`."""
    return sanitize(f"{event.service} {event.type}: {alert_words(event, store).plain}", single_line=True)


RECENT_EVENTS = 20  # an entity's latest events its detail shows


def recent_events(store: Store, event: Event, limit: int = RECENT_EVENTS) -> list[Event]:
    """The latest events about `event`'s entity (same service and id), newest first, from the Store's timeline."""
    if not event.id:
        return [event]
    found: list[Event] = []
    for candidate in reversed(store.timeline):
        if candidate.id == event.id and candidate.service == event.service:
            found.append(candidate)
            if len(found) == limit:
                break
    return found or [event]


def alert_detail(event: Event, store: Store) -> dict[str, Any]:
    """What Enter on an alert shows: what it says, its company (a Capx entity's, by name), the entity as the Store has
    it now, its recent events (one line each, newest first: "14:03:22 agent.error · error · tool call timed out"),
    and the alert's whole event."""
    from tui.app.toolkit.cells import clock, event_detail, summarize  # with the panes, after the first frame

    row = store.get(event.kind, event.id) if event.kind and event.id else None
    company = alert_words(event, store).company  # a Capx entity's company by name: its row says only its id
    return {"alert": alert_line(event, store), **({"company": company} if company else {}), "entity": row,
            "recent_events": [f"{clock(each.time)} {each.type} · {summarize(each)}"
                              for each in recent_events(store, event)],
            "event": event_detail(event)}
