"""The reconnect loop every realtime channel shares, in one place.

A channel connects, resyncs from REST, then consumes its stream until it ends; whatever ends it (clean EOF,
a dropped socket, a server error, an expired token), the loop records why, waits a jittered backoff that resets
only after a connection that lived a while, and starts again. Nothing escapes `run()` but cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tui.live.backoff import Backoff
from tui.live.events import ChannelState
from tui.live.store import Store
from tui.api import ApiError

log = logging.getLogger("capwatch.live")


class StreamEnded(Exception):
    """The server closed the stream; `reason` says how, in words an operator understands."""

    def __init__(self, reason: str, *, immediate: bool = False):
        super().__init__(reason)
        self.reason = reason
        # An expected, orderly end (a token that expired on schedule) reconnects at once; the backoff still
        # applies when it happens again before the connection counted as healthy.
        self.immediate = immediate


class FatalChannelError(Exception):
    """Retrying cannot help (a wrong API key): the channel goes to FAILED and stops."""


def describe_error(error: BaseException) -> str:
    if isinstance(error, (ApiError, StreamEnded, FatalChannelError)):
        return str(error)
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text


class Channel:
    """Subclasses implement `session()`: connect, call `self.mark_live()` once the stream is open, resync,
    then consume until the stream ends (return or raise)."""

    service = ""

    def __init__(self, name: str, store: Store, *, backoff: Backoff | None = None):
        self.name = name
        self.store = store
        self.backoff = backoff or Backoff()
        self.health = store.channel(name, self.service)
        self._stopping = False
        self._lost: asyncio.Event | None = None  # set when this connection lost a message (see lost_message)

    async def session(self) -> None:
        raise NotImplementedError

    def lost_message(self) -> None:
        """A message could not be read, so an update may be missing: reconnect (which resyncs) once the
        connection has lived `backoff.healthy_after` seconds. That is at most one such reconnect per that
        interval, and, the connection having counted healthy, one with no backoff delay."""
        if self._lost is not None:
            self._lost.set()

    async def _session_until_resync(self) -> None:
        lost = self._lost = asyncio.Event()
        session = asyncio.ensure_future(self.session())
        resync = asyncio.ensure_future(self._resync_due(lost))
        try:
            done, _ = await asyncio.wait({session, resync}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._lost = None
            session.cancel()
            resync.cancel()
            await asyncio.gather(session, resync, return_exceptions=True)  # the connection is closed here
        if session in done:
            session.result()  # its return or its exception
        else:
            raise StreamEnded("a message could not be read; reconnecting to resync", immediate=True)

    async def _resync_due(self, lost: asyncio.Event) -> None:
        await lost.wait()
        while True:
            started, backoff = self.backoff.connected_at, self.backoff
            wait = backoff.healthy_after if started is None else started + backoff.healthy_after - backoff.clock()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    def mark_live(self) -> None:
        self.backoff.connected()
        self.store.set_state(self.name, ChannelState.LIVE)

    def note_event(self, at: float | None = None) -> None:
        self.store.note_event(self.name, at or time.time())

    async def run(self) -> None:
        first = True
        while True:
            self.health.attempt_times.append(time.monotonic())
            self.store.set_state(self.name, ChannelState.CONNECTING if first else ChannelState.RECONNECTING,
                                 self.health.last_error if not first else None)
            first = False
            immediate = False
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
            except StreamEnded as error:
                reason, immediate = error.reason, error.immediate
            except Exception as error:  # a bad server reply must never kill the channel
                log.debug("channel %s failed", self.name, exc_info=True)
                reason = describe_error(error)
            healthy = self.backoff.disconnected()
            self.health.last_error = reason
            delay = 0.0 if immediate and healthy else self.backoff.next_delay()
            delay = max(delay, min(wait_at_least, 120.0))
            self.store.set_state(self.name, ChannelState.RECONNECTING, reason)
            if delay:
                await asyncio.sleep(delay)

    def retry_on_auth_error(self, error: ApiError) -> bool:
        """Whether a 401/403 is worth retrying (CapOut: an expired realtime token is; a bad API key is not)."""
        return False


class Poller:
    """A periodic job whose next run is scheduled when the previous one finished, never overlapping.
    `interval()` may change between runs (Captain polls jobs every 3 s only while any is running)."""

    service = ""

    def __init__(self, name: str, store: Store):
        self.name = name
        self.store = store
        store.channel(name, self.service)  # shown under its service from the start

    def interval(self) -> float:
        raise NotImplementedError

    async def poll(self) -> bool | None:
        """One round; returning False means it failed and set the channel's state itself (kept as it is)."""
        raise NotImplementedError

    async def run(self) -> None:
        while True:
            self.store.channel(self.name, "").attempt_times.append(time.monotonic())
            if not await self.poll_once():
                return
            await asyncio.sleep(self.interval())

    async def poll_once(self) -> bool:
        """One poll, its failure recorded in the Store (nothing but cancellation escapes); False when polling
        again cannot help."""
        try:
            outcome = await self.poll()
        except asyncio.CancelledError:
            raise
        except ApiError as error:
            if error.status in (401, 403):  # a wrong key: polling again cannot help
                self.store.set_state(self.name, ChannelState.FAILED, describe_error(error))
                return False
            self.store.record_error(self.name, describe_error(error))
        except Exception as error:  # a bad reply is shown, and the next poll still happens
            self.store.record_error(self.name, describe_error(error))
        else:
            if outcome is not False and self.store.channel(self.name, "").state is not ChannelState.LIVE:
                self.store.set_state(self.name, ChannelState.LIVE)
        return True
