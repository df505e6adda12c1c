"""One request budget per Capx key: the plan's minute and its requests in flight, spent by priority.

Capx limits each API key to a rolling minute of requests and a number of requests in flight (seed 003: Starter 60
and 10, Pro 300 and 50, Enterprise custom); a stream costs one request when it opens and is in flight only until
its reply's head (shared/API-CONTRACT.md). Every Capx request, REST or stream, goes out through `BudgetTransport`,
which asks the `RequestBudget` for a turn (or sends it on the turn its caller waited for before building it,
`turn_first`):

- the budget counts its own sends in a window a little longer than the server's minute, and learns the rest from
  `X-RateLimit-*` on every reply (the limit, and what other processes on the same key spent: the server's count less
  ours sent before that request); until the first reply its first request goes alone (a probe: another process,
  a `capwatch status` a moment ago, may have spent most of the minute, and a first burst that assumed a whole one
  earned 21 429s at 300 companies on Pro); it assumes the configured plan, else Starter, so it never sends past a
  limit it does not know yet; the
  requests in flight are the configured ones, else those of the documented plan the minute reaches (a custom
  Enterprise minute: Pro's 50, never Starter's 10), lowered when a 429 says fewer;
- a request goes only while the minute has room for its priority and the requests in flight are under the plan's
  concurrency. Each priority below the first leaves a reserve of the minute to the ones above it, so a confirmed
  action always finds room and a reconnect storm never waits behind a resync;
- waiting requests go in priority order (then first come, first served, but for the company listing, which says
  which streams exist, and goes ahead of the streams waiting, every page of it); a waiting request's priority can
  change (`reprioritize`: the operator selected its company), and takes effect at once;
- a 429 all the same (another process drained the key) holds every request but the operator's actions until its
  `Retry-After`, and a 429 with requests left in the minute means the concurrency was lower than believed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import heapq
import itertools
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Callable

import httpx

from tui.api import retry_after_seconds


class Priority(IntEnum):
    ACTION = 0  # an action the operator confirmed: always first
    STREAM = 1  # opening a stream, and the company list that says which streams exist
    FOCUS = 2  # what the operator is looking at: the selected company's agents, tasks, costs
    APPROVALS = 3  # companies with tasks awaiting approval
    RESYNC = 4  # every other company's snapshot
    REFRESH = 5  # periodic re-reads (the company list, costs) with what the minute has left


# The share of the minute each priority leaves to the ones above it (at least `MIN_RESERVE` requests).
RESERVES = {Priority.ACTION: 0.0, Priority.STREAM: 0.03, Priority.FOCUS: 0.06, Priority.APPROVALS: 0.1,
            Priority.RESYNC: 0.1, Priority.REFRESH: 0.3}
MIN_RESERVE = {Priority.ACTION: 0, Priority.STREAM: 1, Priority.FOCUS: 2, Priority.APPROVALS: 3, Priority.RESYNC: 3,
               Priority.REFRESH: 6}
# The documented plans (seed 003): requests a minute, requests in flight. Enterprise is custom: its figures come
# from the config (`capx.requests_per_minute`, `capx.concurrent_requests`) or, for the minute, from the replies.
PLANS = {"starter": (60, 10), "pro": (300, 50)}


def plan_concurrency(minute: int) -> int:
    """The requests in flight to assume for a key whose minute is `minute` when nothing else says (`X-RateLimit-*`
    tells the minute, never the concurrency): the largest documented plan's whose minute it reaches, Starter's
    below that. A custom (Enterprise) minute of 6,000 is at least Pro's 50, not Starter's 10; going above what a
    documented plan promises would earn 429s from a server that allows less (a 429 with room left in the minute
    lowers it: `RequestBudget.observe`), and the config says more when it is known (`capx.concurrent_requests`)."""
    reached = [concurrent for plan_minute, concurrent in sorted(PLANS.values()) if minute >= plan_minute]
    return reached[-1] if reached else min(PLANS.values())[1]


# Taken off the place in line of a request that goes ahead of its priority's line (first come, first served among
# those).
AHEAD = 2**62
WINDOW_MARGIN = 1.0  # seconds: the server counts a request when it arrives, a little after we send it

# What the request being sent is for: a request's extension, else set around a call (`with request_class(...)`).
CLASS_EXTENSION = "capwatch.capx_class"
_CLASS: contextvars.ContextVar["RequestClass | None"] = contextvars.ContextVar("capx_request_class", default=None)


@dataclass(frozen=True)
class RequestClass:
    priority: Priority | Callable[[], Priority]  # a callable is read when the request waits and when it is granted
    key: str | None = None  # what `reprioritize` finds it by (a company id)
    on_sent: Callable[[], None] | None = field(default=None, compare=False)  # told as each request is granted
    stream: bool = False  # a stream's opening (what `waiting_streams` counts), not a REST call
    ahead: bool = False  # goes ahead of the requests of its priority that wait (every page of the company listing)

    def now(self) -> Priority:
        return self.priority() if callable(self.priority) else self.priority


class request_class:
    """`with request_class(Priority.FOCUS, key=company_id): await client.list_agents(...)`; `on_sent` is called as
    each request sent within it is granted its turn (when it goes to the server, after any wait for the budget);
    `ahead`: each goes ahead of the requests of its priority that wait (`RequestClass.ahead`)."""

    def __init__(self, priority: Priority | Callable[[], Priority], key: str | None = None,
                 on_sent: Callable[[], None] | None = None, *, ahead: bool = False):
        self.value = RequestClass(priority, key, on_sent, ahead=ahead)
        self.token: contextvars.Token | None = None

    def __enter__(self) -> RequestClass:
        self.token = _CLASS.set(self.value)
        return self.value

    def __exit__(self, *exc: object) -> None:
        _CLASS.reset(self.token)


def current_class(method: str, given: RequestClass | None = None) -> RequestClass:
    """A mutation is an operator's action; a read is of the class `given` (a request's extension), else the one set
    around the call, else a resync."""
    if method not in ("GET", "HEAD"):
        return RequestClass(Priority.ACTION)
    return given or _CLASS.get() or RequestClass(Priority.RESYNC)


# The turn taken for the request about to be built (`turn_first`), which the transport sends it on.
_TURN: contextvars.ContextVar["list[float] | None"] = contextvars.ContextVar("capx_turn", default=None)


class turn_first:
    """`async with turn_first(budget, request_class): await client.send(...)`: the turn is waited for before the
    request is built, and the first request sent inside takes it (`BudgetTransport`); one not taken is given back,
    out of the minute. A request waiting for its turn then holds its caller's few frames, not httpx's call chain and
    its Request (~10 KB, for each of a fleet's thousands of requests waiting at start, and RSS keeps its peak)."""

    def __init__(self, budget: "RequestBudget", request: RequestClass):
        self.budget = budget
        self.request = request
        self.held: list[float] = []
        self.token: contextvars.Token | None = None

    async def __aenter__(self) -> None:
        self.held.append(await self.budget.acquire(self.request))
        self.token = _TURN.set(self.held)
        if self.request.on_sent is not None:
            self.request.on_sent()

    async def __aexit__(self, *exc: object) -> None:
        _TURN.reset(self.token)
        if self.held:  # nothing was sent on it
            self.budget.release(self.held.pop(), counted=False)


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future = field(compare=False)
    request: RequestClass = field(compare=False)
    live: bool = field(default=True, compare=False)  # False once granted, cancelled or re-queued


class RequestBudget:
    def __init__(self, *, minute: int | None = None, concurrent: int | None = None, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.configured = (minute, concurrent)
        self.minute = minute or PLANS["starter"][0]
        self.concurrent = concurrent or plan_concurrency(self.minute)
        self.window = window  # the server's rolling window (the docs: one minute)
        self.margin = WINDOW_MARGIN
        self.clock = clock
        self.sent: deque[float] = deque()  # our send times within the window (+ margin)
        self.foreign = 0  # requests other processes spent on the key, as of `foreign_at` (at most)
        self.foreign_surely = 0  # ... at least: what an action waits for (`used(surely=True)`)
        self.foreign_at = 0.0
        self.in_flight = 0
        self.held_until = 0.0  # after a 429: nothing but actions before this
        self.heard = False  # a reply came back: until then one request at a time (the probe)
        self.throttled = 0  # 429s answered to us
        self.granted: deque[tuple[float, Priority, str | None]] = deque(maxlen=5000)  # (when, priority, key)
        self.on_wire: Counter[float] = Counter()  # grant time -> requests granted then and not yet done
        self._waiting: list[_Waiter] = []
        self._by_key: dict[str, list[_Waiter]] = {}
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------------------------------- figures

    def used(self, *, surely: bool = False) -> int:
        """Requests counted against the key's current minute, ours and others'; `surely`: others' at least (a reply's
        count read less every one of ours sent so far), not at most (less ours sent up to its request)."""
        now = self.clock()
        ours = self.ours(now)
        if now - self.foreign_at >= self.window + self.margin:
            return ours
        return ours + (self.foreign_surely if surely else self.foreign)

    def used_as(self, priority: Priority) -> int:
        """The minute used, as a request of `priority` must see it: an action waits only for what others surely spent
        (a burst's replies read out of order can make their share look larger for a while, with nothing granted to
        correct it: an action confirmed then waited the window out, 8.1 s of an 8 s window in CI); should they have
        spent more, the action's 429 is waited out and it goes again (`BaseClient.send`)."""
        return self.used(surely=priority is Priority.ACTION)

    def ours(self, now: float | None = None) -> int:
        """Our requests counted against the key's current minute."""
        horizon = (self.clock() if now is None else now) - self.window - self.margin
        sent = self.sent
        while sent and sent[0] <= horizon:
            sent.popleft()
        return len(sent)

    def waiting(self) -> dict[Priority, int]:
        counts: dict[Priority, int] = {}
        for waiter in self._waiting:
            if waiter.live:
                counts[Priority(waiter.priority)] = counts.get(Priority(waiter.priority), 0) + 1
        return counts

    def waiting_streams(self) -> int:
        """Streams waiting for their turn to open: the header's `⧗`. Not the company listing, which goes at the
        streams' priority, nor any other REST call: each of these is a stream not open yet (connecting or
        reconnecting), so the count is never more than those."""
        return sum(1 for waiter in self._waiting if waiter.live and waiter.request.stream)

    def next_room_in(self, priority: Priority = Priority.ACTION) -> float:
        """Seconds until the minute has room for a request of `priority` (0 when it has now)."""
        excess = self.used_as(priority) - (self.minute - self.reserve(priority)) + 1
        if excess <= 0:
            return 0.0
        if excess > len(self.sent):  # what others spent on the key leaves with their observation
            return max(0.0, self.foreign_at + self.window + self.margin - self.clock())
        return max(0.0, self.sent[excess - 1] + self.window + self.margin - self.clock())

    def turn_in(self, priority: Priority) -> float:
        """Seconds before a request of `priority` asked now could go, as far as the minute and a 429's hold say (0: at
        once; the requests in flight, which end within moments, aside)."""
        held = self.held_until - self.clock() if priority is not Priority.ACTION else 0.0
        return max(self.next_room_in(priority), held, 0.0)

    def reserve(self, priority: Priority) -> int:
        """Requests of the minute `priority` leaves to those above it (never all of it)."""
        return min(max(MIN_RESERVE[priority], int(self.minute * RESERVES[priority])), self.minute - 1)

    def observe(self, response: httpx.Response, sent_at: float | None = None) -> None:
        """Learn from a reply's `X-RateLimit-*`: the limit, and what others spent (the server's count less ours);
        `sent_at`: what `acquire` returned for the request it answers."""
        self.heard = True
        headers = response.headers
        try:
            limit = int(float(headers["x-ratelimit-limit"]))
            remaining = int(float(headers["x-ratelimit-remaining"]))
        except (KeyError, ValueError, OverflowError):
            limit = remaining = None
        if limit is not None and limit > 0 and limit != self.minute:
            self.minute = limit
            if self.configured[1] is None:
                self.concurrent = plan_concurrency(limit)
        if limit is not None and limit > 0 and remaining is not None:
            # The server counted ours as they arrived: those sent before this one, this one, and some of those sent
            # while it was on its way. Counting those sent up to this one errs by the few sent after it that arrived
            # first (taken for another process's for a moment: the minute held a little, never overspent);
            # counting every one sent so far took all of a burst's requests in flight for counted ones, and with 50
            # in flight another process's 30 were not seen at all (429s: tests/live/test_capx_shared_key.py).
            # ... and what they surely spent, less every one of ours sent so far: what an action waits for (`used_as`).
            counted = limit - min(max(remaining, 0), limit)
            ours_sent = self.ours()
            ours = ours_sent if sent_at is None else bisect.bisect_right(self.sent, sent_at)
            self.foreign = max(0, counted - ours)
            self.foreign_surely = max(0, counted - ours_sent)
            self.foreign_at = self.clock()
        if response.status_code == 429:
            self.throttled += 1
            wait = min(retry_after_seconds(response, default=1.0), self.window)
            self.held_until = max(self.held_until, self.clock() + wait)
            if remaining is not None and remaining > 0 and self.in_flight > 1:
                # Room in the minute, yet refused: too many in flight for this key.
                self.concurrent = max(1, min(self.concurrent, self.in_flight - 1))
        self._grant()

    # ------------------------------------------------------------------------------------------- turns

    async def acquire(self, request: RequestClass) -> float:
        """Wait for a turn; returns the time the request was counted as sent."""
        seq = next(self._seq) - (AHEAD if request.ahead else 0)
        waiter = _Waiter(int(request.now()), seq, asyncio.get_running_loop().create_future(), request)
        heapq.heappush(self._waiting, waiter)
        if request.key is not None:
            self._by_key.setdefault(request.key, []).append(waiter)
        self._grant()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(waiter.future.result())  # granted just as it was cancelled: give the turn back
            waiter.live = False
            raise
        finally:
            self._forget(waiter)

    def release(self, granted_at: float | None = None, *, counted: bool = True) -> None:
        """A request is no longer in flight (a stream's head arrived, or a reply's body was read); `granted_at`:
        what `acquire` returned for it. `counted=False`: it never reached the server (no connection), so it leaves
        the minute too."""
        self.in_flight = max(0, self.in_flight - 1)
        if not counted and granted_at is not None:
            try:
                self.sent.remove(granted_at)
            except ValueError:
                pass
        if granted_at is not None and self.on_wire.get(granted_at):
            self.on_wire[granted_at] -= 1
            if not self.on_wire[granted_at]:
                del self.on_wire[granted_at]
        self._grant()

    def oldest_on_wire(self) -> float | None:
        """When the longest-waiting request on the wire got its turn (None: none is)."""
        return min(self.on_wire) if self.on_wire else None

    def reprioritize(self, key: str) -> None:
        """The requests waiting under `key` read their priority again (the operator selected that company)."""
        for waiter in list(self._by_key.get(key, ())):
            if not waiter.live:
                continue
            priority = int(waiter.request.now())
            if priority != waiter.priority:
                waiter.live = False
                moved = _Waiter(priority, waiter.seq, waiter.future, waiter.request)
                heapq.heappush(self._waiting, moved)
                self._by_key[key] = [w for w in self._by_key[key] if w is not waiter] + [moved]
        self._grant()

    def _forget(self, waiter: _Waiter) -> None:
        key = waiter.request.key
        if key is not None and key in self._by_key:
            left = [w for w in self._by_key[key] if w.future is not waiter.future]
            if left:
                self._by_key[key] = left
            else:
                del self._by_key[key]

    def in_flight_limit(self) -> int:
        """The requests that may be in flight now: the plan's concurrency once a reply was heard, one before (the
        probe whose `X-RateLimit-Remaining` says how much of the minute other processes left)."""
        return self.concurrent if self.heard else 1

    def _room(self, priority: Priority) -> bool:
        return self.used_as(priority) < self.minute - self.reserve(priority)

    def _grant(self) -> None:
        waiting = self._waiting
        while waiting:
            waiter = waiting[0]
            if not waiter.live or waiter.future.done():
                heapq.heappop(waiting)
                continue
            priority = Priority(waiter.priority)
            now = self.clock()
            if self.in_flight >= self.in_flight_limit() or not self._room(priority) or \
                    (priority is not Priority.ACTION and now < self.held_until):
                break
            heapq.heappop(waiting)
            waiter.live = False
            self.in_flight += 1
            self.sent.append(now)
            self.granted.append((now, priority, waiter.request.key))
            self.on_wire[now] += 1
            waiter.future.set_result(now)
        self._schedule_wake()

    def _schedule_wake(self) -> None:
        """Wake when the oldest request counted leaves the minute, or a 429's hold ends, if anyone waits."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:  # (after `_grant`, the first waiter is a live one)
            return
        if self.in_flight >= self.in_flight_limit():
            return  # a release (or the probe's reply) wakes us
        now = self.clock()
        due = []
        if self.held_until > now:
            due.append(self.held_until - now)
        first = Priority(self._waiting[0].priority)
        if self.sent and self.used_as(first) >= self.minute - self.reserve(first):
            due.append(self.sent[0] + self.window + self.margin - now)
        if self.foreign and self.foreign_at:
            due.append(self.foreign_at + self.window + self.margin - now)
        if not due:
            return
        delay = max(0.01, min(d for d in due if d > 0) if any(d > 0 for d in due) else 0.01)
        self._timer = asyncio.get_running_loop().call_later(delay, self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._grant()


class _ReleasingStream(httpx.AsyncByteStream):
    """A reply body that gives the budget its turn back once it is read or closed."""

    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]):
        self.inner = inner
        self._release: Callable[[], None] | None = release

    async def __aiter__(self):
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()


class BudgetTransport(httpx.AsyncBaseTransport):
    """Sends each request when the budget gives it a turn; a stream is done with its turn at its head, a REST
    call once its body is read."""

    def __init__(self, inner: httpx.AsyncBaseTransport, budget: RequestBudget):
        self.inner = inner
        self.budget = budget

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        budget = self.budget
        held = _TURN.get()
        if held:
            sent_at = held.pop()  # granted (and told) in turn_first
        else:
            wanted = current_class(request.method, request.extensions.get(CLASS_EXTENSION))
            sent_at = await budget.acquire(wanted)
            if wanted.on_sent is not None:
                wanted.on_sent()
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.ConnectError:
            budget.release(sent_at, counted=False)  # it never reached the server: not in the minute either
            raise
        except BaseException:
            budget.release(sent_at)
            raise
        budget.observe(response, sent_at)
        if "text/event-stream" in response.headers.get("content-type", "") and response.status_code < 300:
            budget.release(sent_at)
        else:
            response.stream = _ReleasingStream(response.stream, lambda: budget.release(sent_at))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
