"""What one history row holds, how an Event becomes one and back, and the filters of a query."""

from __future__ import annotations

import fnmatch
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from pydantic_core import PydanticSerializationError, to_json

from tui.live.events import Event, parse_timestamp

# Where a recorded event came from; replay applies each as the live layer did (see tui/history/__init__.py).
ORIGINS = ("stream", "webhook", "poll", "resync", "action", "figure", "app")

COLUMNS = "seq, time, received, service, type, entity_id, kind, origin, data, patch"
# Snapshots (tui/history/snapshot.py) kept in a database: the newest is what a follower starts from.
SNAPSHOTS_KEPT = 3
# What `--grep` searches (and what the search indexes hold): the event's JSON line, less its time.
SEARCHED = "(service || ' ' || type || ' ' || entity_id || ' ' || data)"


@dataclass(slots=True)
class Record:
    """One recorded event: its position in the history (`seq`, increasing in commit order), where it came from,
    and the Event as the Store applied it (kind and patch included, so replay rebuilds every tab)."""

    seq: int
    origin: str
    event: Event

    def to_json_dict(self) -> dict[str, Any]:
        """The shape `capwatch tail --json` prints."""
        return self.event.to_json_dict()


def dumps(value: Any) -> str:
    """Compact JSON text that both databases take. pydantic_core's encoder (in Rust: a sixth of json.dumps's time
    on the simulator's payloads, and the writer thread holds the GIL the monitor's loop needs while it encodes);
    what it refuses goes through json.dumps: a lone surrogate (which a hostile payload can carry through
    json.loads) is not UTF-8 and would make the whole batch fail forever, so that text is written escaped."""
    try:
        return to_json(value, fallback=str, inf_nan_mode="constants").decode()
    except (PydanticSerializationError, ValueError, TypeError):
        pass
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)
    return text


def _column(text: str) -> str:
    """A plain text column as both databases take it: no NUL (PostgreSQL refuses it), valid UTF-8."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def event_row(event: Event, origin: str, secrets: Sequence[tuple[str, str]] = ()) -> tuple:
    """The columns after `seq`, for an insert. `secrets`: (secret, mask) pairs replaced wherever they appear
    (events carry none; this is the guard that keeps a future mistake out of the file)."""
    data = dumps(event.data)
    patch = None if event.patch is None else (data if event.patch is event.data else dumps(event.patch))
    entity_id = event.id or ""
    for secret, mask in secrets:
        if secret in data:
            data = data.replace(secret, mask)
        if patch is not None and secret in patch:
            patch = patch.replace(secret, mask)
        if secret in entity_id:
            entity_id = entity_id.replace(secret, mask)
    return (float(event.time), float(event.received), _column(event.service), _column(event.type),
            _column(entity_id), None if event.kind is None else _column(event.kind), origin, data, patch)


def record_from_row(row: Sequence[Any]) -> Record:
    seq, moment, received, service, type_, entity_id, kind, origin, data, patch = row
    loaded = json.loads(data)
    event = Event(time=moment, service=service, type=type_, id=entity_id, data=loaded, kind=kind,
                  patch=None if patch is None else (loaded if patch == data else json.loads(patch)),
                  received=received)
    return Record(seq=seq, origin=origin, event=event)


# ------------------------------------------------------------------------------------------- queries


@dataclass
class Query:
    """What `capwatch history` asks: events with `since <= time < until`, of these services, whose type matches
    the glob, whose JSON line holds `grep` (case-insensitive); the newest `limit` of them (all when None),
    oldest first."""

    since: float | None = None
    until: float | None = None
    services: tuple[str, ...] = ()
    type_glob: str | None = None
    grep: str | None = None
    limit: int | None = None
    origins: tuple[str, ...] = ()
    types: tuple[str, ...] | None = field(default=None, repr=False)  # the glob resolved by the back end
    exclude_types: tuple[str, ...] = ()  # e.g. the state rows (tui/live/recording.py), for a timeline

    def resolve_types(self, known: Iterable[str]) -> "Query":
        """The types the glob matches among `known` (the catalog of types recorded): exact fnmatch semantics,
        and an indexed `type IN (...)` for the database."""
        if self.type_glob is None:
            return self
        matched = tuple(sorted(t for t in set(known) if fnmatch.fnmatchcase(t, self.type_glob)))
        return Query(self.since, self.until, self.services, self.type_glob, self.grep, self.limit, self.origins,
                     matched, self.exclude_types)


def like_pattern(text: str) -> str:
    """`%text%` for LIKE/ILIKE with `\\` as the escape character."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class WhereBuilder:
    """The WHERE clause of a Query in one dialect: `placeholder(n)` spells the n-th parameter, `ilike` the
    case-insensitive LIKE, `in_list` a membership test."""

    def __init__(self, placeholder, ilike: str, array_param: bool, search_first: str = ""):
        # `search_first`: what to put before `time` so that, when a search index narrows the rows, the planner
        # starts from those (SQLite's unary `+` keeps an index off a column) rather than walking a time range.
        self.search_first = search_first
        self.placeholder = placeholder
        self.ilike = ilike
        self.array_param = array_param

    def build(self, query: Query, after: tuple[float, int] | None = None,
              search: tuple[str, Any] | None = None) -> tuple[str, list[Any]]:
        """` WHERE ...` (or "") and its parameters; `after` (time, seq) adds the keyset condition of a page;
        `search` (a clause with one `?` and its value) narrows `--grep` through a search index first."""
        clauses: list[str] = []
        params: list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return self.placeholder(len(params))

        def member(column: str, values: Sequence[str]) -> None:
            if self.array_param:
                clauses.append(f"{column} = ANY({param(list(values))})")
            else:
                clauses.append(f"{column} IN ({', '.join(param(v) for v in values)})")

        moment = f"{self.search_first}time" if search is not None else "time"
        if query.since is not None:
            clauses.append(f"{moment} >= {param(float(query.since))}")
        if query.until is not None:
            clauses.append(f"{moment} < {param(float(query.until))}")
        if query.services:
            member("service", query.services)
        if query.origins:
            member("origin", query.origins)
        if query.types is not None:
            if not query.types:
                clauses.append("1 = 0")
            else:
                member("type", query.types)
        if query.exclude_types:
            clauses.append(f"type NOT IN ({', '.join(param(t) for t in query.exclude_types)})")
        if search is not None:
            clause, value = search
            clauses.append(clause.replace("?", param(value)))
        if query.grep:
            clauses.append(f"{SEARCHED} {self.ilike} {param(like_pattern(query.grep))} ESCAPE '\\'")
        if after is not None:
            clauses.append(f"(time > {param(after[0])} OR (time = {param(after[0])} AND seq > {param(after[1])}))")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# ------------------------------------------------------------------------------------------- times

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|hours?|d|days?|w|weeks?)\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float | None:
    """`90s`, `10m`, `2h`, `7d`, `1w` in seconds; None when it is not one."""
    match = _DURATION.match(text)
    if not match:
        return None
    unit = match.group(2).lower()
    unit = "m" if unit.startswith("min") else unit[0]
    return float(match.group(1)) * _UNITS[unit]


def parse_when(text: str, now: float | None = None) -> float:
    """A moment from `--since`/`--until`: a duration ago (`10m`, `2h`), `now`, or an ISO 8601 time (with a
    zone as given; without one, local time, as a person typing it means). ValueError otherwise."""
    now = time.time() if now is None else now
    text = text.strip()
    if text.lower() == "now":
        return now
    duration = parse_duration(text)
    if duration is not None:
        return now - duration
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is None:
        return moment.timestamp()  # naive: local time
    parsed = parse_timestamp(text)
    if parsed is None:
        raise ValueError(f"not a time: {text!r} (use e.g. 10m, 2h, 7d, or 2026-01-02T03:04:05Z)")
    return parsed
