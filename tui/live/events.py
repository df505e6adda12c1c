"""The normalized event every channel produces, and the health record every channel keeps."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Callable, NamedTuple

from tui import wall_clock
from tui.text import sanitize

APP_SERVICE = "capwatch"  # events the app itself makes: channel state changes, errors
MAX_ATTEMPT_TIMES = 256  # connection attempts (or polls) a channel's health remembers


def iso_utc(moment: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds and a trailing Z."""
    text = _iso_utc_cache.get(moment)  # events come in bursts that share their timestamps
    if text is None:
        text = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if len(_iso_utc_cache) >= 1024:
            _iso_utc_cache.clear()
        _iso_utc_cache[moment] = text
    return text


_iso_utc_cache: dict[float, str] = {}


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


_MISSING = object()
_from_json: Callable[[str], Any] | None = None  # pydantic_core.from_json, imported on the first message

# A vendor payload nests a few levels; past this it is hostile or broken (and would exhaust the stack).
MAX_JSON_DEPTH = 64


def _json_parser() -> Callable[[str], Any]:
    """The JSON parser pydantic ships (pydantic_core, in Rust): 0.8 µs for a usual 180-character message where
    the standard library's C scanner takes 2.8 (json.loads 4.1), most of what ingest costs. Imported on the
    first message, not at start-up (~35 ms)."""
    global _from_json
    if _from_json is None:
        from pydantic_core import from_json

        _from_json = from_json
    return _from_json


def load_json(raw: str | bytes) -> Any:
    """`json.loads` for untrusted messages: ValueError (never RecursionError) for anything not JSON, and for
    JSON nested deeper than MAX_JSON_DEPTH, which no code downstream has to survive then."""
    value = _MISSING
    if raw.__class__ is str:
        # The fast parser decodes JSON as json.loads does (tests/test_properties.py holds it to that); what it
        # refuses, json.loads decides: its errors, and the lone surrogates ("\ud800") it accepts.
        try:
            value = (_from_json or _json_parser())(raw)
        except (ValueError, TypeError):  # TypeError: a str with a raw lone surrogate, not UTF-8 encodable
            pass
        else:
            # Every container opens with a literal "{" or "[" in the text (outside strings or not), so a text with
            # at most MAX_JSON_DEPTH of them cannot nest deeper. Counting is one C-level scan each.
            if ("[" not in raw and raw.count("{") <= MAX_JSON_DEPTH) or \
                    raw.count("{") + raw.count("[") <= MAX_JSON_DEPTH:
                return value
    if value is _MISSING:
        try:
            value = json.loads(raw)  # UnicodeDecodeError is a ValueError too
        except RecursionError:
            raise ValueError("nested too deeply") from None
        if not isinstance(raw, str) and raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH:
            return value
    stack = [(value, 1)]
    while stack:  # iterative: the check itself must not recurse
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return value


def bad_message_event(channel: str, service: str, raw: str | bytes, error: str) -> Event:
    """A stream message that could not be read, as an event on the timeline: what was wrong and its first bytes."""
    sample = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return Event(time=time.time(), service=service, type="message.invalid", id=channel,
                 data={"error": error, "sample": sanitize(sample[:200], single_line=True)})


# Epoch numbers above this are taken as milliseconds (as seconds it would be the year 5138).
_MILLISECONDS_THRESHOLD = 1e11
# 'YYYY-MM-DDTHH:MM:SS.fffZ' texts parsed lately and their epoch seconds (cleared when full).
_iso_cache: dict[str, float] = {}
_ISO_CACHE_SIZE = 1024


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from an ISO 8601 string (Z, offsets, any fraction; naive means UTC) or an epoch
    number (seconds or milliseconds, also as a string). Anything else gives None, never an exception."""
    if value.__class__ is str:
        number = _iso_cache.get(value)  # a burst of events shares its timestamps; the cache holds only good ones
        if number is not None:
            return number
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) == 24 and value[23] == "Z" and value[10] == "T":  # 2026-01-02T03:04:05.678Z, the usual
            try:
                moment = datetime.fromisoformat(value)  # "Z" is UTC (Python 3.11+)
                number = moment.timestamp() if moment.tzinfo is not None else None
            except (ValueError, OverflowError, OSError):
                number = None
            if number is not None:
                if len(_iso_cache) >= _ISO_CACHE_SIZE:
                    _iso_cache.clear()
                _iso_cache[value] = number
                return number
            # else the general path below decides
        text = value.strip()
        if not text or len(text) > 64:
            return None
        try:
            value = float(text)
        except ValueError:
            return _parse_iso(text)
    if not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past 1e308
        return None
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


# How counters read on screen (ChannelHealth.counters: bad messages; the webhook receiver's `counts`).
COUNTER_WORDS = {
    "bad_messages": "bad messages", "rejected_signature": "bad signature", "too_large": "too large",
    "unserved": "not served", "bad_request": "bad request", "head_too_large": "head too large",
    "timeouts": "timed out", "evicted": "idle dropped", "refused": "refused (503)",
}


class ChannelState(str, Enum):
    """What a channel's data is worth now. Only LIVE means current; every other state means what is shown from the
    channel is as of its last event (stale), and the screens mark it so.

    - OFF: the service is not configured.
    - CONNECTING: not yet delivered its first data.
    - LIVE: connected (a stream) or its last poll succeeded and the next is not overdue (a poller).
    - DEGRADED: up and current, but refusing or losing part of its work (the webhook receiver under attack:
      connections refused, dropped or timed out, sustained).
    - RECONNECTING: a stream lost its connection and is opening a new one on its backoff.
    - FAILING: a poller's last poll failed (or its server was just lost by a sibling channel); it polls again on a
      short backoff (1, 2, 4 ... s, capped at its interval).
    - STALE: a poll has had no answer for longer than a healthy server takes (a hung server): still waiting.
    - FAILED: retrying cannot help (a wrong key); stopped.
    """

    OFF = "off"
    CONNECTING = "connecting"
    LIVE = "live"
    DEGRADED = "degraded"
    RECONNECTING = "reconnecting"
    FAILING = "failing"
    STALE = "stale"
    FAILED = "failed"


class Fleet(NamedTuple):
    """Channels of one service that each follow one entity, as many as there are entities (Capx: an activity stream
    per company, hundreds). A member is named `<service>.<entity id>`. The channel declares it (`Channel.fleet`):
    the service is down only when every member that had data lost it, and some members lost are a partial outage
    (tui/live/currency.py)."""

    members: str  # what the members are, counted: "company streams" ("14 of 300 company streams")
    entities: str  # the entity kind each member follows: "companies"

    @classmethod
    def recorded(cls, value: Any) -> "Fleet | None":
        """A fleet as a channel's recorded state says it (`[members, entities]`, Store.set_state), read back from a
        history file or a team's database: sanitized like any recorded text; None for anything else."""
        if isinstance(value, list) and len(value) == 2 and all(isinstance(word, str) for word in value):
            return cls(*(sanitize(word, single_line=True) for word in value))
        return None


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
    last_error_at: float | None = None  # epoch of the last error: one kept after recovery says when it was
    since: float = field(default_factory=time.time)  # epoch of the last state change
    # What the channel counts beside its events (bad messages; the webhook receiver's refusals and time-outs).
    counters: dict[str, int] = field(default_factory=dict)
    fleet: Fleet | None = None  # the fleet it is a member of (declared by its channel); None: it carries its service
    # When each connection attempt (or poll) started, monotonic seconds: the last few, to check the spacing. A list
    # (`note_attempt`): a deque is 760 bytes however little it holds, per channel of a fleet.
    attempt_times: list[float] = field(default_factory=list, repr=False)

    def note_attempt(self, at: float) -> None:
        times = self.attempt_times
        times.append(at)
        if len(times) > MAX_ATTEMPT_TIMES:
            del times[0]

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last event, or None when there was none."""
        if self.last_event_at is None:
            return None
        return max(0.0, (wall_clock.now() if now is None else now) - self.last_event_at)

    def error_time(self) -> str:
        """" at HH:MM:SS" when the last error has a time (an error kept after recovery says when it was)."""
        if self.last_error_at is None:
            return ""
        return time.strftime(" at %H:%M:%S", time.localtime(self.last_error_at))

    def counters_text(self) -> str:
        """The counters that are not zero, in words: "refused (503) 12, idle dropped 236" (not the accepted
        deliveries: those are the channel's events)."""
        return ", ".join(f"{COUNTER_WORDS.get(name, name.replace('_', ' '))} {value:,}"
                         for name, value in self.counters.items() if value and name != "accepted")

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
            "last_error_at": None if self.last_error_at is None else iso_utc(self.last_error_at),
            "since": iso_utc(self.since),
            "counters": dict(self.counters),
            "fleet": self.fleet.members if self.fleet is not None else None,
        }
