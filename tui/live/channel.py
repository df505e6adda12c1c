"""The reconnect loop every realtime channel shares, the poll loop every poller shares, and what ties the channels
of one server together, in one place.

A channel connects, resyncs from REST, then consumes its stream until it ends; whatever ends it (clean EOF,
a dropped socket, a server error, an expired token), the loop records why, waits a jittered backoff that resets
only after a connection that lived a while, and starts again. Nothing escapes `run()` but cancellation.

A poller polls, and is LIVE only while its last poll succeeded: a failed poll makes it FAILING at once and is
retried on a short jittered backoff (1, 2, 4 ... s, capped at its interval); a poll with no answer after
`answer_within` seconds makes it STALE while it waits (a hung server). When any channel loses its server to a
connection error, the other channels of that server are checked at once (`ServerWatch`); a poller whose check
must wait for its turn in a request budget is not LIVE meanwhile when no stream of that server reads either. When
one reaches the server again, the streams waiting out a backoff after losing it try again at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from urllib.parse import urlsplit

import httpx

from tui.live.backoff import Backoff, wait_set
from tui.live.events import ChannelState, Event, Fleet
from tui.live.store import Store
from tui.api import ApiError
from tui.text import sanitize

log = logging.getLogger("capwatch.live")


class StreamEnded(Exception):
    """The server closed the stream; `reason` says how, in words an operator understands."""

    def __init__(self, reason: str, *, immediate: bool = False, lost_server: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.lost_server = lost_server  # the connection broke (not an orderly end): the server may be gone
        # An expected, orderly end (a token that expired on schedule) reconnects at once; the backoff still
        # applies when it happens again before the connection counted as healthy.
        self.immediate = immediate


class FatalChannelError(Exception):
    """Retrying cannot help (a wrong API key): the channel goes to FAILED and stops."""


def is_connection_error(error: BaseException) -> bool:
    """Whether `error` says the server could not be reached or stopped answering (refused, reset, timed out), as
    opposed to an answer we did not like (an HTTP error, a bad body)."""
    if isinstance(error, ApiError):
        return error.status is None and error.code != "read_only"
    if isinstance(error, StreamEnded):
        return error.lost_server
    return isinstance(error, (httpx.TransportError, OSError, asyncio.TimeoutError))


def server_of(client: object) -> str:
    """The server a client talks to, as scheme://host:port: the channels that share it share its fate."""
    base = getattr(client, "base_url", None)
    if not base:
        return ""
    parts = urlsplit(str(base))
    return f"{parts.scheme}://{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


class ServerWatch:
    """The channels and pollers of one Store that talk to one server. When one of them loses the server to a
    connection error, the others are checked at once rather than at their next interval: pollers poll now, and
    a poller with nothing to ask (idle) leaves LIVE with the same error. When one of them reaches the server
    again, the pollers that are not LIVE poll now, the streams the loss put in doubt are believed again, and the
    streams waiting out a backoff after losing the server try again (within `Channel.WAKE_SPREAD` seconds).

    Only those are told that the server was reached: every stream of a fleet reaches it as it opens, and telling
    each of 1,000 streams about each of the others was a million calls (a second of CPU) at every start."""

    _watches: "weakref.WeakKeyDictionary[Store, dict[str, ServerWatch]]" = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self.members: "weakref.WeakSet[Channel | Poller]" = weakref.WeakSet()
        self.pollers: "weakref.WeakSet[Poller]" = weakref.WeakSet()
        self.in_doubt: "weakref.WeakSet[Channel]" = weakref.WeakSet()  # streams a sibling's loss made STALE
        self.backing_off: "weakref.WeakSet[Channel]" = weakref.WeakSet()  # streams waiting out a backoff, server lost

    def join(self, member: "Channel | Poller") -> None:
        self.members.add(member)
        if isinstance(member, Poller):
            self.pollers.add(member)

    @classmethod
    def of(cls, store: Store, server: str) -> "ServerWatch":
        by_server = cls._watches.setdefault(store, {})
        watch = by_server.get(server)
        if watch is None:
            watch = by_server[server] = cls()
        return watch

    def lost(self, source: object, error: str) -> None:
        """`source` lost the server: the streams are told first, then the pollers, which may weigh what the streams
        now say (`reads`)."""
        members = [member for member in self.members if member is not source]
        for member in sorted(members, key=lambda member: isinstance(member, Poller)):
            member.server_lost(error, getattr(source, "name", ""))

    def reads(self) -> bool:
        """Whether a stream of this server still reads (LIVE): the server answers it, whatever a sibling lost."""
        return any(isinstance(member, Channel) and member.health.state is ChannelState.LIVE for member in self.members)

    def reached(self, source: object) -> None:
        doubted = [*self.in_doubt, *self.backing_off]
        self.in_doubt.clear()
        self.backing_off.clear()
        for member in [*self.pollers, *doubted]:
            if member is not source:
                member.server_reached()

    def refused(self, source: object, error: str) -> None:
        """The server refused `source`'s key (401/403): every poller using the same client (the same key) fails
        too, with the reason, rather than stay LIVE with nothing to ask (Captain jobs when none runs). Other
        vendors' channels on the same server (the simulator serves all four) have keys of their own."""
        client = getattr(source, "client", None)
        for member in list(self.members):
            if member is not source and client is not None and getattr(member, "client", None) is client:
                member.key_refused(error, getattr(source, "name", ""))


def describe_error(error: BaseException) -> str:
    if isinstance(error, (ApiError, StreamEnded, FatalChannelError)):
        return str(error)
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text


def bad_message_event(channel: str, service: str, raw: str | bytes, error: str) -> Event:
    sample = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return Event(time=time.time(), service=service, type="message.invalid", id=channel,
                 data={"error": error, "sample": sanitize(sample[:200], single_line=True)})


class Channel:
    """Subclasses implement `session()`: connect, call `self.mark_live()` once the stream is open, resync,
    then consume until the stream ends (return or raise)."""

    service = ""
    fleet: Fleet | None = None  # one of many alike, each following one entity (tui/live/events.py `Fleet`)

    def __init__(self, name: str, store: Store, *, backoff: Backoff | None = None):
        self.name = name
        self.store = store
        self.backoff = backoff or Backoff()
        self.health = store.channel(name, self.service, self.fleet)
        self._stopping = False
        self._session: asyncio.Task | None = None  # the task running a session now (None between sessions)
        self._lost_timer: asyncio.TimerHandle | None = None  # a lost message's reconnect, when due (lost_message)
        self._ending = False  # the session's task was cancelled to end it for that reconnect
        self._watch: ServerWatch | None = None
        self._server_back: asyncio.Event | None = None  # set when a sibling reaches the server this backoff lost

    async def session(self) -> None:
        raise NotImplementedError

    def watch(self) -> ServerWatch:
        """The ServerWatch of this channel's server (joined on first use: the client is set by then)."""
        if self._watch is None:
            self._watch = ServerWatch.of(self.store, server_of(getattr(self, "client", None)) or self.service)
            self._watch.join(self)
        return self._watch

    QUIET_SUSPECT = 3.0  # seconds without a byte after which a sibling's loss of the server makes this STALE
    WAKE_SPREAD = 1.0  # seconds over which the streams woken by the server's return spread their attempts

    def server_lost(self, error: str, by: str) -> None:
        """A sibling lost the server. A stream finds out for sure on its own (its connection breaks, or its read
        times out), but one that has read nothing for a while is already in doubt: STALE until it reads again
        (or a sibling reaches the server)."""
        reader = getattr(self, "sse", None)
        if reader is None or self.health.state is not ChannelState.LIVE:  # a WebSocket has its own pings
            return
        # Since the last chunk, or since the connection opened when nothing came on it yet (its resync may hold it).
        last = max(reader.last_read or 0.0, self.backoff.connected_at or 0.0)
        quiet = time.monotonic() - last
        if quiet >= self.QUIET_SUSPECT:
            self.store.set_state(self.name, ChannelState.STALE,
                                 f"nothing read for {quiet:.0f} s, and {by} lost the server: {error}")
            self.watch().in_doubt.add(self)

    def server_reached(self) -> None:
        """A sibling reached the server again: a stream in doubt is believed again (its read timeout still
        watches it); one waiting out a backoff because it lost the server tries again now (`_back_off`)."""
        if self.health.state is ChannelState.STALE:
            self.store.set_state(self.name, ChannelState.LIVE)
        if self._server_back is not None:
            self._server_back.set()

    async def _back_off(self, delay: float, *, server_lost: bool) -> None:
        """Wait `delay` seconds before the next attempt; after a lost server, only until a sibling reaches it again
        (then within WAKE_SPREAD s, so that many woken at once do not come in one burst). A server back after an
        outage of a minute left its streams to wait out backoffs of up to 30 s each, and the screen said "not
        live" while the server answered the rest."""
        if not server_lost:
            await asyncio.sleep(delay)
            return
        watch = self.watch()
        self._server_back = asyncio.Event()
        watch.backing_off.add(self)
        try:
            if await wait_set(self._server_back, delay):
                await asyncio.sleep(self.backoff.rng.uniform(0.0, min(self.WAKE_SPREAD, delay)))
        finally:
            watch.backing_off.discard(self)
            self._server_back = None

    def lost_message(self) -> None:
        """A message could not be read, so an update may be missing: reconnect (which resyncs) once the
        connection has lived `backoff.healthy_after` seconds. That is at most one such reconnect per that
        interval, and, the connection having counted healthy, one with no backoff delay."""
        if self._session is not None and self._lost_timer is None and not self._ending:
            self._lost_timer = asyncio.get_running_loop().call_soon(self._end_when_healthy)

    def _end_when_healthy(self) -> None:
        started, backoff = self.backoff.connected_at, self.backoff
        wait = backoff.healthy_after if started is None else started + backoff.healthy_after - backoff.clock()
        if wait > 0:
            self._lost_timer = asyncio.get_running_loop().call_later(wait, self._end_when_healthy)
            return
        self._lost_timer = None
        if self._session is not None:
            self._ending = True
            self._session.cancel()

    def bad_message(self, raw: str | bytes, error: str, *, lost: bool = True) -> None:
        """A message the vendor's format forbids: an event in the timeline, counted on the channel, and, when
        it may have carried an update (`lost`), a resync (see lost_message)."""
        self.store.apply(bad_message_event(self.name, self.service, raw, error))
        self.store.count(self.name, "bad_messages")
        if lost:
            self.lost_message()

    async def _session_until_resync(self) -> None:
        """`session()`, in this task (a task of its own, and one more to watch for a lost message, were ~3 KB per
        open stream of a fleet); a lost message ends it by cancelling this task (`_end_when_healthy`), told apart
        from any other cancellation as `asyncio.timeout` does."""
        task = self._session = asyncio.current_task()
        try:
            await self.session()
        except asyncio.CancelledError:
            if self._ending:
                self._ending = False
                if task.uncancel() == 0:  # no one else cancelled it: the reconnect for the lost message
                    raise StreamEnded("a message could not be read; reconnecting to resync", immediate=True) from None
            raise
        finally:
            if self._ending:  # the session swallowed the cancellation
                self._ending = False
                task.uncancel()
            self._session = None
            if self._lost_timer is not None:
                self._lost_timer.cancel()
                self._lost_timer = None

    def mark_live(self) -> None:
        self.backoff.connected()
        self.store.set_state(self.name, ChannelState.LIVE)
        self.watch().reached(self)

    def note_event(self, at: float | None = None) -> None:
        self.store.note_event(self.name, at or time.time())

    async def run(self) -> None:
        self.watch()
        first = True
        while True:
            self.health.note_attempt(time.monotonic())
            self.store.set_state(self.name, ChannelState.CONNECTING if first else ChannelState.RECONNECTING,
                                 self.health.last_error if not first else None)
            first = False
            immediate = lost_server = False
            wait_at_least = 0.0
            try:
                await self._session_until_resync()
                reason = "stream ended"
            except asyncio.CancelledError:
                raise
            except FatalChannelError as error:
                self.store.set_state(self.name, ChannelState.FAILED, describe_error(error))
                return
            except ApiError as error:
                if error.status in (401, 403) and not self.retry_on_auth_error(error):
                    self.store.set_state(self.name, ChannelState.FAILED, describe_error(error))
                    return
                reason = describe_error(error)
                wait_at_least = error.retry_after or 0.0  # a 429 says how long; never come back sooner
                lost_server = is_connection_error(error)
            except StreamEnded as error:
                reason, immediate, lost_server = error.reason, error.immediate, error.lost_server
            except Exception as error:  # a bad server reply must never kill the channel
                log.debug("channel %s failed", self.name, exc_info=True)
                reason = describe_error(error)
                lost_server = is_connection_error(error)
            healthy = self.backoff.disconnected()
            delay = 0.0 if immediate and healthy else self.backoff.next_delay()
            delay = max(delay, min(wait_at_least, 120.0))
            # The error goes in with the state, so that a changed error is a change (and on the timeline).
            self.store.set_state(self.name, ChannelState.RECONNECTING, reason)
            if lost_server:
                self.watch().lost(self, reason)
            if delay:
                await self._back_off(delay, server_lost=lost_server)

    def retry_on_auth_error(self, error: ApiError) -> bool:
        """Whether a 401/403 is worth retrying (CapOut: an expired realtime token is; a bad API key is not)."""
        return False


class Poller:
    """A periodic job whose next run is scheduled when the previous one finished, never overlapping.
    `interval()` may change between runs (Captain polls jobs every 3 s only while any is running).

    LIVE only while its last poll succeeded. A failed poll makes it FAILING at once, and the next try comes on a
    short jittered backoff (1, 2, 4 ... s, capped at the interval); a poll with no answer after `answer_within`
    seconds makes it STALE while it waits. `check_now()` cuts the wait short (a sibling lost the server)."""

    service = ""
    answer_within = 5.0  # seconds: a healthy server answers a poll well within this

    def __init__(self, name: str, store: Store):
        self.name = name
        self.store = store
        store.channel(name, self.service)  # shown under its service from the start
        self.retry = Backoff(base=1.0, cap=60.0, healthy_after=0.0)
        self._wake = asyncio.Event()
        self._watch: ServerWatch | None = None
        self._server_down = False  # idle, and a sibling lost the server: not LIVE until one reaches it
        self._refused: str | None = None  # a sibling's key (our key) was refused: FAILED, and no more polls

    watch = Channel.watch

    def interval(self) -> float:
        raise NotImplementedError

    def idle(self) -> bool:
        """Whether a poll now would ask the server nothing (Captain jobs with none running)."""
        return False

    async def poll(self) -> bool | None:
        """One round; returning False means it failed and set the channel's state itself (kept as it is)."""
        raise NotImplementedError

    def check_now(self) -> None:
        """Poll at once instead of at the end of the current wait."""
        self._wake.set()

    def turn_in(self) -> float:
        """Seconds before a poll asked now could ask the server anything (a rate governor's turn); 0: at once."""
        return 0.0

    def server_lost(self, error: str, by: str) -> None:
        """Only a LIVE poller is checked: one already failing keeps to its backoff (no storm of checks). A check
        that cannot ask the server before its turn in a request budget (`turn_in`) is no check for that long: when
        no stream of the server reads either, the poller is not LIVE meanwhile, on the streams' word (STALE)."""
        if self.store.channel(self.name, "").state is not ChannelState.LIVE:
            return
        if self.idle():  # nothing to ask: the sibling's word stands until one reaches the server again
            self._server_down = True
            self.store.set_state(self.name, ChannelState.FAILING, f"server unreachable ({by}): {error}")
            return
        self.check_now()
        wait = self.turn_in()
        if wait > 0 and not self.watch().reads():
            self._server_down = True  # (LIVE again when its check answers)
            self.store.set_state(self.name, ChannelState.STALE,
                                 f"server lost ({by}: {error}) and no stream of it reads; the check waits "
                                 f"{wait:.0f} s for the request budget")

    def server_reached(self) -> None:
        self._server_down = False
        if self.store.channel(self.name, "").state is not ChannelState.LIVE:
            self.check_now()

    def key_refused(self, error: str, by: str) -> None:
        """A sibling on the same client had its key refused: polling again cannot help this poller either."""
        self._refused = f"{error} (the key, as {by} was told)" if by else error
        self.store.set_state(self.name, ChannelState.FAILED, self._refused)
        self.check_now()

    async def run(self) -> None:
        self.watch()
        health = self.store.channel(self.name, "")
        if health.state is ChannelState.OFF:
            self.store.set_state(self.name, ChannelState.CONNECTING)
        while True:
            health.note_attempt(time.monotonic())
            if not await self.poll_once():
                return
            self._wake.clear()  # a check asked for during the poll: the poll just made was it
            if health.state is ChannelState.LIVE:
                self.retry.reset()
                delay = self.interval()
            else:
                self.retry.cap = max(self.retry.minimum, self.interval())
                delay = self.retry.next_delay()
            started = health.attempt_times[-1]
            await wait_set(self._wake, delay)
            early = started + self.retry.minimum - time.monotonic()
            if early > 0:  # woken by a check right after a poll: never two polls closer than the backoff's floor
                await asyncio.sleep(early)

    async def poll_once(self) -> bool:
        """One poll, its failure recorded in the Store (nothing but cancellation escapes); False when polling
        again cannot help."""
        if self._refused is not None:
            return False
        poll = asyncio.ensure_future(self._poll_and_answer())
        try:
            done = False
            while not done:
                done, _ = await asyncio.wait({poll}, timeout=self.answer_within)
                if not done and self.server_silent():  # a hung server: say so while still waiting for the answer
                    self.store.set_state(self.name, ChannelState.STALE,
                                         f"no answer from the server for {self.answer_within:.0f} s")
                    self.watch().lost(self, f"no answer for {self.answer_within:.0f} s")
                    break
            verdict = await poll
        except asyncio.CancelledError:
            poll.cancel()
            raise
        except ApiError as error:
            if error.status in (401, 403):  # a wrong key: polling again cannot help, here or for its siblings
                self.store.set_state(self.name, ChannelState.FAILED, describe_error(error))
                self.watch().refused(self, describe_error(error))
                return False
            self._failed(error)
        except Exception as error:  # a bad reply is shown, and the next poll still happens
            log.debug("poller %s failed", self.name, exc_info=True)
            self._failed(error)
        else:
            return verdict
        return True

    async def _poll_and_answer(self) -> bool:
        """`poll()`, and its answer on the channel's state in the same step as its last change to the Store: a
        snapshot the poll completed (`capwatch status`) sees its channel live, not still connecting. What
        `poll_once` returns."""
        outcome = await self.poll()
        health = self.store.channel(self.name, "")
        if self._refused is not None:  # refused while this poll ran: its answer changes nothing
            return False
        if self._server_down and self.idle():
            return True
        self._server_down = False
        if outcome is not False:
            self.answered()
        return outcome is not False or health.state is not ChannelState.FAILED

    def answered(self) -> None:
        """The server answered what this poller's light stands for: LIVE (at the end of a poll that succeeded, or
        within one whose first part is what the light says, as `status`'s Capx listing before its details), and the
        siblings that wait for the server to be reached are told."""
        self._server_down = False
        if self.store.channel(self.name, "").state is not ChannelState.LIVE:
            self.store.set_state(self.name, ChannelState.LIVE)
            self.watch().reached(self)

    def server_silent(self) -> bool:
        """Whether the poll waits on a server that has not answered for `answer_within` seconds: a request is on
        the wire and none ended since (a long poll that keeps getting answers, or waits on a rate governor, is
        not a hung server)."""
        client = getattr(self, "client", None)
        if not hasattr(client, "in_flight"):
            return True
        return client.in_flight > 0 and time.monotonic() - client.last_answer >= self.answer_within

    def _failed(self, error: BaseException) -> None:
        reason = describe_error(error)
        self.store.set_state(self.name, ChannelState.FAILING, reason)
        if is_connection_error(error):
            self.watch().lost(self, reason)
