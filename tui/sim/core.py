"""The simulator's shared machinery: options, faults, the journal, event topics and SSE framing.

Each vendor lives in its own module (`capout.py`, `casmo.py`, `capx.py`, `captain.py`) as a `VendorSim`
subclass: its world state, its routes, its auth and error format. This module holds what they share, and
`server.py` assembles them into one Starlette app served by uvicorn.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

DEMO_ORGANIZATION = "00000000-0000-4000-8000-000000000000"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | float | None = None) -> str:
    """ISO 8601 in UTC with a trailing Z, as the vendor docs show."""
    if moment is None:
        moment = utc_now()
    elif isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------- options


@dataclass
class Faults:
    """Fault switches. Every one is off by default; `--faults` and `POST /_admin/faults` set them."""

    drop_every: float = 0.0  # seconds: close every realtime stream this often
    ws_close_code: int = 1011  # the close code used when a WebSocket is dropped
    error_rate: float = 0.0  # share of REST replies answered 5xx (500 or 504)
    throttle_rate: float = 0.0  # share of REST replies answered 429
    latency_ms: int = 0  # added to every REST reply
    drip_ms: int = 0  # REST bodies sent a few bytes at a time, this long between pieces
    hostile_framing: bool = False  # BOM, CR line ends, comments, id-only blocks, retry: in SSE
    malformed_rate: float = 0.0  # share of realtime messages sent as broken JSON
    hostile_strings: bool = False  # escape sequences and Rich markup in names and titles
    # Start-up faults: "METHOD /path" glob (or "/path" for any method) -> how many of the next matching REST
    # requests fail with 500, as a server still warming up fails its first requests. Spent as they match.
    fail_first: dict[str, int] = field(default_factory=dict)

    # `--faults drop=5,errors=0.1,throttle=0.05,latency=200,drip=20,framing,malformed=0.05,hostile,close=4001,
    # first=GET /capx/v1/companies:1`
    ALIASES = {
        "drop": "drop_every",
        "close": "ws_close_code",
        "errors": "error_rate",
        "throttle": "throttle_rate",
        "latency": "latency_ms",
        "drip": "drip_ms",
        "framing": "hostile_framing",
        "malformed": "malformed_rate",
        "hostile": "hostile_strings",
        "first": "fail_first",
    }

    @classmethod
    def parse(cls, spec: str) -> "Faults":
        faults = cls()
        faults.update_from_spec(spec)
        return faults

    def update_from_spec(self, spec: str) -> None:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, value = item.partition("=")
            self.update({name.strip(): value.strip() or True})  # `update` reads the spec's words

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for given, value in values.items():
            name = self.ALIASES.get(given, given)
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(self.ALIASES))}")
            current = getattr(self, name)
            if isinstance(current, dict):  # fail_first: a whole mapping replaces it, "PATTERN:N" adds one
                if isinstance(value, dict):
                    setattr(self, name, {str(k): int(v) for k, v in value.items() if int(v) > 0})
                else:
                    pattern, _, count = str(value).rpartition(":")
                    if not pattern or not count.strip().isdigit():
                        raise ValueError(f"{name} takes PATTERN:N, e.g. 'GET /capx/v1/companies:1'")
                    current[pattern.strip()] = int(count)
                continue
            if value is True and not isinstance(current, bool):  # `errors` or `errors=` in a spec: no number
                raise ValueError(f"{given} takes a number: {given}=N")
            try:
                if isinstance(current, bool):
                    value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "on", "yes")
                elif isinstance(current, int):
                    value = int(float(value))
                else:
                    value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{given} takes a number, not {value!r}") from None
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def take_start_fault(self, method: str, path: str) -> bool:
        """Whether this request is one of the first N of a `fail_first` pattern (and spend it)."""
        if not self.fail_first:
            return False
        request = f"{method} {path}"
        for pattern, left in self.fail_first.items():
            if fnmatch.fnmatchcase(request if not pattern.startswith("/") else path, pattern):
                if left <= 1:
                    del self.fail_first[pattern]
                else:
                    self.fail_first[pattern] = left - 1
                return True
        return False


@dataclass
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    seed: int | None = None
    # Which world of the seed: 1 is the seed's own, N + 1 what `POST /_admin/new-world` makes of world N (new ids,
    # some companies gone). Restarting with `--world 2` is a server that came back from a data reset.
    world: int = 1
    rate: float = 4.0  # world events per second, all vendors together
    token_ttl: float = 900.0  # CapOut realtime token lifetime, seconds
    webhook_url: str | None = None  # Casmo to URL/webhooks/casmo, Capx to URL/webhooks/capx
    keepalive: float = 15.0  # seconds between SSE keepalive comments / WS pings
    capx_rate_limit: int = 60  # requests per rolling minute per key
    capx_concurrency: int | None = None  # requests in flight at once per key (None: no limit)
    capx_companies: int = 5  # companies at start (`--companies`): a fleet beyond the demo's five
    capout_api_key: str = "capout_test_demo"
    casmo_api_key: str = "cai_demo"
    casmo_webhook_secret: str = "whsec_casmo_demo"
    capx_api_key: str = "capx_sk_test_demo"
    capx_webhook_secret: str = "whsec_capx_demo"
    captain_api_key: str = "cap_dev_demo"
    captain_organization_id: str = DEMO_ORGANIZATION
    capout_credits: int = 500
    faults: Faults = field(default_factory=Faults)

    def base_urls(self, host: str | None = None, port: int | None = None) -> dict[str, str]:
        root = f"http://{host or self.host}:{port or self.port}"
        return {
            "capout": f"{root}/capout",
            "casmo": f"{root}/casmo",
            "capx": f"{root}/capx/v1",
            "captain": f"{root}/captain",
        }

    def client_env(self, port: int | None = None) -> dict[str, str]:
        """The environment variables that point a capwatch client at this simulator."""
        urls = self.base_urls(port=port)
        return {
            "CAPOUT_BASE_URL": urls["capout"],
            "CAPOUT_API_KEY": self.capout_api_key,
            "CASMO_BASE_URL": urls["casmo"],
            "CASMO_API_KEY": self.casmo_api_key,
            "CASMO_WEBHOOK_SECRET": self.casmo_webhook_secret,
            "CAPX_BASE_URL": urls["capx"],
            "CAPX_API_KEY": self.capx_api_key,
            "CAPX_WEBHOOK_SECRET": self.capx_webhook_secret,
            "CAPTAIN_BASE_URL": urls["captain"],
            "CAPTAIN_API_KEY": self.captain_api_key,
            "CAPTAIN_ORGANIZATION_ID": self.captain_organization_id,
        }


# --------------------------------------------------------------------------------------------- journal


class Journal:
    """What the simulator did, so tests can compare what a client shows with what the server sent."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # "GET /capout/status/{document_id}" -> count
        self.statuses: Counter[str] = Counter()  # "429" -> count
        self.events: Counter[str] = Counter()  # topic -> events published
        self.delivered: Counter[str] = Counter()  # topic -> messages written to clients
        self.webhooks_queued: Counter[str] = Counter()  # "casmo" -> webhooks due (sent, failed or on their way)
        self.webhooks_sent: Counter[str] = Counter()  # "casmo" -> delivered (2xx)
        self.webhooks_failed: Counter[str] = Counter()  # queue full, or three attempts failed
        self.tokens_minted = 0
        self.streams_opened: Counter[str] = Counter()
        self.streams_dropped: Counter[str] = Counter()

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "events": dict(self.events),
            "delivered": dict(self.delivered),
            "webhooks_queued": dict(self.webhooks_queued),
            "webhooks_sent": dict(self.webhooks_sent),
            "webhooks_failed": dict(self.webhooks_failed),
            "tokens_minted": self.tokens_minted,
            "streams_opened": dict(self.streams_opened),
            "streams_dropped": dict(self.streams_dropped),
        }


# --------------------------------------------------------------------------------------------- topics


@dataclass(slots=True)
class TopicEvent:
    id: str  # the SSE id: "<boot>-<seq>", so ids from before a restart are recognised as foreign
    seq: int
    payload: dict[str, Any]


class Topic:
    """A stream of events with a replay buffer, fanned out to every subscriber's queue.

    A subscriber that falls `queue_size` events behind is cut off (its queue gets `None`), as a real
    server would close a slow consumer; the client then reconnects and resumes with Last-Event-ID.
    """

    def __init__(self, name: str, boot: str, journal: Journal, keep: int = 5000, queue_size: int = 20000):
        self.name = name
        self.boot = boot
        self.journal = journal
        self.seq = 0
        self.buffer: deque[TopicEvent] = deque(maxlen=keep)
        self.queue_size = queue_size
        self.subscribers: set[asyncio.Queue[TopicEvent | None]] = set()

    def publish(self, payload: dict[str, Any]) -> TopicEvent:
        self.seq += 1
        event = TopicEvent(f"{self.boot}-{self.seq}", self.seq, payload)
        self.buffer.append(event)
        self.journal.events[self.name] += 1
        for queue in list(self.subscribers):
            if queue.qsize() >= self.queue_size:
                self.subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(event)
        return event

    def since(self, last_event_id: str | None) -> list[TopicEvent] | None:
        """Events after `last_event_id`, or None when that id is unknown or no longer buffered."""
        if not last_event_id:
            return None
        boot, _, seq_text = last_event_id.rpartition("-")
        if boot != self.boot or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        if seq > self.seq:
            return None
        if seq == self.seq:
            return []
        if not self.buffer or self.buffer[0].seq > seq + 1:
            return None
        return [event for event in self.buffer if event.seq > seq]

    def subscribe(self) -> asyncio.Queue[TopicEvent | None]:
        queue: asyncio.Queue[TopicEvent | None] = asyncio.Queue()
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[TopicEvent | None]) -> None:
        self.subscribers.discard(queue)


# --------------------------------------------------------------------------------------------- SSE


def sse_block(data: str, *, event: str | None = None, event_id: str | None = None) -> str:
    lines = []
    if event:
        lines.append(f"event: {event}")
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return "\n".join(lines) + "\n\n"


def hostile_sse_block(data: str, *, event: str | None, event_id: str | None, rng: random.Random) -> str:
    """The same event in legal but awkward framing: CR or CRLF line ends, comments, split data lines,
    `retry:` fields and id-only blocks, in random order of appearance."""
    newline = rng.choice(["\r", "\r\n", "\n"])
    lines: list[str] = []
    if rng.random() < 0.3:
        lines.append(": keep calm")
    if rng.random() < 0.2:
        lines.append(f"retry: {rng.choice([500, 1500, 3000])}")
    if event:
        lines.append(f"event:{event}")  # no space after the colon is legal
    if event_id:
        lines.append(f"id: {event_id}")
    cut = _json_safe_cut(data) if "\n" not in data and len(data) > 20 and rng.random() < 0.3 else None
    if cut:  # a JSON object split over two data lines joins back with "\n" between tokens: still valid
        lines.extend([f"data: {data[:cut]}", f"data: {data[cut:]}"])
    else:
        lines.append(f"data: {data}")
    block = newline.join(lines) + newline + newline
    if rng.random() < 0.15 and event_id:
        block += f"id: {event_id}{newline}{newline}"  # an id-only block: dispatches nothing
    return block


def _json_safe_cut(data: str) -> int | None:
    """A position after a comma where a newline falls between JSON tokens (never inside a string), or None."""
    start = len(data) // 2
    for _ in range(8):
        cut = data.find(",", start) + 1
        if cut <= 0:
            return None
        try:
            json.loads(data[:cut] + "\n" + data[cut:])
            return cut
        except ValueError:
            start = cut
    return None


MALFORMED_MESSAGES = ['{"type": "document.status", "document_id": ', "not json at all", "[1, 2", '{"a": NaN}', "{}"]


class StreamSession:
    """One open realtime connection: decides framing and faults for each message it writes."""

    def __init__(self, sim: "Simulator", topic_name: str):
        self.sim = sim
        self.topic_name = topic_name
        self.opened = time.monotonic()
        self.first = True

    def encode_payload(self, payload: dict[str, Any]) -> str:
        faults = self.sim.faults
        if faults.malformed_rate and self.sim.rng.random() < faults.malformed_rate:
            return self.sim.rng.choice(MALFORMED_MESSAGES)
        return json.dumps(payload, separators=(",", ":"))

    def sse(self, payload: dict[str, Any], *, event: str | None, event_id: str | None) -> str:
        data = self.encode_payload(payload)
        self.sim.journal.delivered[self.topic_name] += 1
        if self.sim.faults.hostile_framing:
            block = hostile_sse_block(data, event=event, event_id=event_id, rng=self.sim.rng)
            if self.first:
                block = "\ufeff" + block
        else:
            block = sse_block(data, event=event, event_id=event_id)
        self.first = False
        return block

    def should_drop(self) -> bool:
        every = self.sim.faults.drop_every
        return bool(every) and time.monotonic() - self.opened >= every


async def sse_response(
    sim: "Simulator",
    request: Request,
    topic: Topic,
    *,
    event_name: str | None,
    accept: Callable[[dict[str, Any]], bool] = lambda payload: True,
    backfill: Iterable[dict[str, Any]] = (),
    deadline: float | None = None,
) -> StreamingResponse:
    """Serve `topic` as SSE: resume after Last-Event-ID when buffered (else send `backfill`), then live
    events; keepalive comments; close at `deadline` (monotonic; token expiry) or on the drop fault."""
    session = StreamSession(sim, topic.name)
    queue = topic.subscribe()  # subscribe before reading the buffer, so nothing falls in between
    sim.journal.streams_opened[topic.name] += 1
    resumed = topic.since(request.headers.get("last-event-id"))
    initial: list[tuple[dict[str, Any], str | None]]
    if resumed is not None:
        initial = [(e.payload, e.id) for e in resumed if accept(e.payload)]
        skip_upto = topic.seq
    else:
        # Backfill carries the current topic position as its id, so a later resume starts from here.
        position = f"{topic.boot}-{topic.seq}"
        initial = [(payload, position) for payload in backfill]
        skip_upto = topic.seq

    async def body() -> AsyncIterator[str]:
        try:
            for payload, event_id in initial:
                yield session.sse(payload, event=event_name, event_id=event_id)
            if session.first:
                yield ": connected\n\n" if not sim.faults.hostile_framing else "\ufeff: connected\r\r"
                session.first = False
            keepalive = sim.options.keepalive
            while True:
                timeout = keepalive
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - time.monotonic()))
                if sim.faults.drop_every:
                    timeout = min(timeout, max(0.0, session.opened + sim.faults.drop_every - time.monotonic()))
                try:
                    async with asyncio.timeout(max(timeout, 0.001)):  # not wait_for: it can lose a cancel on 3.11
                        event = await queue.get()
                except TimeoutError:
                    event = False  # type: ignore[assignment]
                if deadline is not None and time.monotonic() >= deadline:
                    return  # token expired: the stream ends, as the contract says
                if session.should_drop():
                    sim.journal.streams_dropped[topic.name] += 1
                    return
                if event is False:
                    yield ": keepalive\n\n"
                    continue
                if event is None:  # too slow: cut off
                    sim.journal.streams_dropped[topic.name] += 1
                    return
                if event.seq <= skip_upto or not accept(event.payload):
                    continue
                yield session.sse(event.payload, event=event_name, event_id=event.id)
        finally:
            topic.unsubscribe(queue)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --------------------------------------------------------------------------------------------- hostile strings

HOSTILE_SNIPPETS = [
    "\x1b]0;pwned\x07",  # retitle the terminal
    "\x1b[5m",  # blink
    "\x1b]52;c;cHduZWQ=\x07",  # write the clipboard (OSC 52)
    "[@click=app.quit]click me[/]",  # Textual action markup
    "[bold red]",  # Rich markup
    "\x9b2J",  # C1 CSI: clear the screen
    "\x00\x08\x7f",  # NUL, backspace, DEL
    "\u202egnp.exe",  # a right-to-left override: "x\u202egnp.exe" would show as "xexe.png"
]


# --------------------------------------------------------------------------------------------- vendors


class VendorSim:
    """One vendor's world and routes. Subclasses set `name`, `prefix`, `weight` and implement the rest."""

    name: str = ""
    prefix: str = ""
    weight: float = 1.0  # share of the world's activity

    def __init__(self, sim: "Simulator"):
        self.sim = sim

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def error(self, status: int, code: str, message: str) -> Response:
        """A reply in this vendor's own error format."""
        raise NotImplementedError

    def fault_headers(self, request: Request) -> dict[str, str]:
        """Extra headers for a faulted reply (Capx adds its rate-limit headers)."""
        return {}

    def tick(self, count: int) -> None:
        """Make `count` things happen in this vendor's world."""

    def snapshot(self) -> dict[str, Any]:
        """The world's current state, as the client should see it after a resync."""
        return {}

    async def start(self) -> None:
        """Called once the event loop runs."""

    async def stop(self) -> None:
        """Called at shutdown."""


class Simulator:
    """Holds the options, the random source, the journal, the topics and the vendors."""

    def __init__(self, options: SimOptions):
        self.options = options
        self.faults = options.faults
        self.rng = random.Random(options.seed)
        self.journal = Journal()
        self.boot = f"{self.rng.getrandbits(32):08x}"
        self.topics: dict[str, Topic] = {}
        self.vendors: list[VendorSim] = []
        self.paused = False
        self.ticks = 0
        self.world = 1  # which world of the seed this is (see SimOptions.world and tui/sim/worlds.py)
        self.webhooks: Any = None  # server.WebhookSender: `send(vendor, event, data, secret)`

    def topic(self, name: str) -> Topic:
        if name not in self.topics:
            self.topics[name] = Topic(name, self.boot, self.journal)
        return self.topics[name]

    def vendor(self, name: str) -> VendorSim:
        return next(v for v in self.vendors if v.name == name)

    def vendor_for_path(self, path: str) -> VendorSim | None:
        for vendor in self.vendors:
            if path == vendor.prefix or path.startswith(vendor.prefix + "/"):
                return vendor
        return None

    def new_id(self, prefix: str, length: int = 10) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(length))

    def label(self, text: str) -> str:
        """A server-provided name or title; with the `hostile` fault, laced with escapes and markup."""
        if self.faults.hostile_strings:
            return f"{self.rng.choice(HOSTILE_SNIPPETS)}{text}{self.rng.choice(HOSTILE_SNIPPETS)}"
        return text

    def step(self, dt: float, carry: float) -> float:
        """Advance the world by `dt` seconds at `options.rate` realtime events per second; returns the
        remainder (fractional, or negative after an overshoot) for the next step.

        The rate counts events published on the realtime topics, not world changes: some changes publish
        nothing (Captain progress is polled, Casmo finishes go by webhook, most Capx spend stays under the
        threshold), so more changes are made until the topics published the budget (a few rounds at most)."""
        budget = self.options.rate * dt + carry
        count = int(budget)
        published = 0
        if count > 0:
            before = sum(self.journal.events.values())
            for _ in range(8):
                self.happen(count - published)
                published = sum(self.journal.events.values()) - before
                if published >= count:
                    break
        self.ticks += 1
        return budget - max(published, count)

    def happen(self, count: int) -> None:
        """Make `count` things happen, shared among the vendors by weight."""
        if count <= 0 or not self.vendors:
            return
        total = sum(v.weight for v in self.vendors)
        # Deterministic split: each vendor gets its share, the remainder goes by weighted draw.
        shares = {v.name: int(count * v.weight / total) for v in self.vendors}
        for _ in range(count - sum(shares.values())):
            pick = self.rng.choices(self.vendors, weights=[v.weight for v in self.vendors])[0]
            shares[pick.name] += 1
        for vendor in self.vendors:
            if shares[vendor.name]:
                vendor.tick(shares[vendor.name])

    async def run_world(self, interval: float = 0.05) -> None:
        carry = 0.0
        last = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            dt, last = now - last, now
            if not self.paused:
                carry = self.step(dt, carry)
