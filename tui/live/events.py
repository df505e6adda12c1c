"""The normalized event every channel produces, and the health record every channel keeps."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

SERVICES = ("capout", "casmo", "capx", "captain")
APP_SERVICE = "capwatch"  # events the app itself makes: channel state changes, errors

# The entity kinds an event may update (Store.entities keys); unknown kinds are kept as they come.
KINDS = (
    "documents", "jobs", "companies", "agents", "tasks", "costs", "runs", "databases", "files", "indexing_jobs",
)


def iso_utc(moment: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds and a trailing Z."""
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Event:
    """One thing that happened, from any service, in one shape.

    `data` is the vendor payload, already sanitized (tui.text.sanitize_data) by whoever made the event.
    When `kind` and `patch` are set, the Store merges `patch` into `entities[kind][id]`.
    """

    time: float  # epoch seconds: the server's timestamp when the payload has one, else receive time
    service: str
    type: str
    id: str  # entity id, or ""
    data: dict[str, Any]
    kind: str | None = None
    patch: dict[str, Any] | None = None
    received: float = field(default_factory=time.time)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "time": iso_utc(self.time), "service": self.service, "type": self.type, "id": self.id, "data": self.data,
        }

    @property
    def latency(self) -> float:
        """Seconds between the server's timestamp and our receipt (0 when the event had no timestamp)."""
        return self.received - self.time


# Epoch numbers above this are taken as milliseconds (as seconds it would be the year 5138).
_MILLISECONDS_THRESHOLD = 1e11


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from an ISO 8601 string (Z, offsets, any fraction; naive means UTC) or an epoch
    number (seconds or milliseconds, also as a string). Anything else gives None, never an exception."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            return None
        try:
            value = float(text)
        except ValueError:
            return _parse_iso(text)
    if not isinstance(value, (int, float)):
        return None
    number = float(value)
    if not math.isfinite(number) or number < 0:
        return None
    if number > _MILLISECONDS_THRESHOLD:
        number /= 1000.0
    return number if number < 253402300800 else None  # past year 9999: garbage


def _parse_iso(text: str) -> float | None:
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


class ChannelState(str, Enum):
    OFF = "off"
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


@dataclass
class ChannelHealth:
    """How one channel is doing, as shown by the header lights and `capwatch status`."""

    name: str
    service: str
    state: ChannelState = ChannelState.OFF
    last_event_at: float | None = None  # epoch seconds
    events: int = 0
    reconnects: int = 0
    last_error: str | None = None  # human words, sanitized
    since: float = field(default_factory=time.time)  # epoch of the last state change

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last event, or None when there was none."""
        if self.last_event_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.last_event_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "state": self.state.value,
            "last_event_at": None if self.last_event_at is None else iso_utc(self.last_event_at),
            "age": self.age(),
            "events": self.events,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "since": iso_utc(self.since),
        }
