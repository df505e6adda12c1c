"""The webhook receiver's HTTP/1.1 server: asyncio and httptools (llhttp, in C), made to hold against hostile peers.

uvicorn served the receiver until issue 17; no setting of uvicorn 0.55 makes it hold (its httptools_impl.py,
uvicorn#157): nothing times a connection out before its first request or while its head trickles in; no cap
on the head with httptools (every header kept in a list); `limit_concurrency` counts idle connections and
answers 503 beyond it; no per-peer cap; asyncio's accept loop at EMFILE logs a traceback per try, up to
`backlog` tries per wake-up; a WebSocket upgrade gets 500. The requests served here are small POSTs answered
from memory, so each is parsed, checked and answered in the parser callback that completes it: no ASGI task,
event or scope per request (0.14 M instructions per delivery, 0.32 M on uvicorn: tests/perf/receiver_cost.py).

How it holds:
- no byte of a request within IDLE_TIMEOUT of connecting (or of the previous reply): closed; a request must be
  whole within REQUEST_TIMEOUT of its first byte, with no gap over READ_GAP (408);
- the parser is fed at most MAX_HEAD bytes of head and MAX_HEADERS headers (431 past either);
- a connection without a whole head yet is *evictable*: when its peer holds MAX_PER_PEER connections, or all
  hold `capacity`, a newcomer takes the place of the oldest evictable one (of that peer first). Idle and
  half-sent connections never keep a delivery out; a newcomer finding none to evict gets a 503 at once;
- `capacity` is what the file limit leaves after FILE_RESERVE descriptors kept for capwatch's own connections.
  An accepted descriptor numbered in that reserve (the kernel hands out the lowest free one: all below are
  taken) is refused and capacity shrinks to what is held; accept() failing (EMFILE) pauses accepting for
  ACCEPT_PAUSE and drops idle connections. One log line per episode; it eases by itself;
- refusals, evictions and time-outs are counted, and each is told to `pressure` (tui/live/webhooks.py
  Pressure), which says when they are sustained and when a quiet window has passed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Protocol

import httptools

try:
    import resource
except ImportError:  # not on Unix: no file limit to read
    resource = None  # type: ignore[assignment]

log = logging.getLogger("capwatch.webhooks")

MAX_HEAD = 16 << 10  # request line and headers; a vendor's webhook head is well under 1 KiB
MAX_HEADERS = 100
MAX_BODY = 1 << 20  # 1 MiB: a result document is a few KiB; anything near this is not a vendor's webhook
IDLE_TIMEOUT = 5.0  # no byte of a request this long after connecting, or after the previous reply: closed
REQUEST_TIMEOUT = 10.0  # from a request's first byte to its last: 408 and closed
READ_GAP = 5.0  # no byte this long while a request is coming in: 408 and closed
WRITE_TIMEOUT = 10.0  # a peer that stops reading our replies (pipelining without reading) this long: closed
# After a refusal the rest of the request is read and dropped for a moment before the close ("lingering close",
# as nginx does): closing with unread data sends a reset, which a sender still writing its body would get in
# place of the reply. At most this long, this much, and this many connections at once.
LINGER = 2.0
LINGER_BYTES = 2 << 20
MAX_LINGERING = 64
MAX_PER_PEER = 64  # connections from one address; a vendor sends 8 or so at a time
MAX_CONNECTIONS = 1024
FILE_RESERVE = 256  # descriptors kept for capwatch's own connections (at most a quarter of the file limit)
ACCEPT_BATCH = 64  # accepts per wake-up of the listening socket
ACCEPT_PAUSE = 0.5  # accept() out of files: try again after this, not in a loop
SWEEP_INTERVAL = 0.5  # how often deadlines are checked (only while connections are open or pressure lasts)

Reply = tuple[int, bytes]
_now = time.monotonic

_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 405: b"Method Not Allowed",
            408: b"Request Timeout", 413: b"Content Too Large", 431: b"Request Header Fields Too Large",
            500: b"Internal Server Error", 503: b"Service Unavailable"}
_EXTRA_HEADERS = {405: b"allow: POST\r\n", 503: b"retry-after: 1\r\n"}
_responses: dict[tuple[Reply, bool], bytes] = {}


def response_bytes(reply: Reply, keep_alive: bool) -> bytes:
    """A whole response, head and body in one write. Replies are a few fixed constants: each is built once."""
    data = _responses.get((reply, keep_alive))
    if data is None:
        status, body = reply
        data = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s%s\r\n%s" % (
            status, _REASONS.get(status, b""), len(body), _EXTRA_HEADERS.get(status, b""),
            b"" if keep_alive else b"connection: close\r\n", body)
        if len(_responses) < 64:
            _responses[(reply, keep_alive)] = data
    return data


def _fixed(status: int, error: str) -> Reply:
    return status, b'{"error":"%s"}' % error.encode()


BAD_REQUEST = _fixed(400, "bad request")
UPGRADE_REFUSED = _fixed(400, "upgrade not supported")
TIMED_OUT = _fixed(408, "request timeout")
TOO_LARGE = _fixed(413, "payload too large")
HEAD_TOO_LARGE = _fixed(431, "request head too large")
FAILED = _fixed(500, "internal error")
BUSY = _fixed(503, "busy")
_BUSY_RESPONSE = response_bytes(BUSY, False)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Handler(Protocol):
    """What the server asks of the application (the WebhookReceiver), in this order per request."""

    def route(self, method: bytes, path: bytes) -> Reply | None:
        """At the end of the head: a refusal (404, 405) to answer at once without reading the body, or None."""

    def handle(self, path: bytes, signature: bytes | None, body: bytes) -> Reply:
        """The whole request, routed and within the size limit: the reply."""


class PressureGauge(Protocol):
    """Hears every refusal, eviction and time-out (and each time at the file limit); `tick` runs with the sweep
    and says whether a whole quiet window has passed, `active` whether the sweep must keep running for it."""

    active: bool

    def note(self, kind: str) -> None: ...

    def tick(self, now: float) -> bool: ...


class _Stop(Exception):
    """Raised in a parser callback after the connection was answered and closed: stop parsing."""


class _Connection(asyncio.Protocol):
    """One client connection: the parser's callbacks, the limits, the deadlines the server's sweep checks."""

    def __init__(self, server: WebhookServer, peer: str):
        self.server = server
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closing = False
        self.fresh = True  # no request yet on this connection
        self.in_request = False  # a request's first byte came, its last not yet
        self.in_head = True  # bytes fed now belong to a head (the budget applies)
        self.head_bytes = 0
        self.idle_since = self.last_read = self.request_started = _now()
        self.write_paused_since: float | None = None
        self.lingering = False
        self.discarded = 0
        # The request being read.
        self.url = b""
        self.path = b""
        self.headers = 0
        self.signature: bytes | None = None
        self.length: bytes | None = None
        self.expect_continue = False
        self.keep_alive = True
        self.body: bytes | bytearray | None = None

    # ------------------------------------------------------------------------------------------- transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.closing:  # evicted between accept() and now
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server._lingering.pop(self, None)
        self.parser = None  # the parser holds our callbacks: no cycle left for the collector
        self.body = None
        self.server._unlist(self)

    def pause_writing(self) -> None:  # the peer does not read what we write: stop reading what it sends
        self.write_paused_since = _now()
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused_since = None
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            if self.lingering:
                self.discarded += len(data)
                if self.discarded > LINGER_BYTES:
                    self.transport.abort()
            return
        self.last_read = _now()
        if self.in_head:
            room = MAX_HEAD - self.head_bytes
            if len(data) > room:  # only the head's budget reaches the parser: it buffers a header value whole
                self._feed(data[:room])
                if self.closing:
                    return
                if self.in_head:
                    self._refuse(HEAD_TOO_LARGE, "head_too_large")
                    return
                data = data[room:]
            else:
                self.head_bytes += len(data)
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # llhttp stops after an Upgrade or CONNECT head: the rest is not HTTP
            if not self.closing:
                self._refuse(UPGRADE_REFUSED, "unserved")
        except httptools.HttpParserCallbackError:
            if not self.closing:  # not a _Stop: a bug in a callback; answer, and stay up
                log.debug("webhook receiver: a parser callback failed", exc_info=True)
                self._refuse(FAILED)
        except httptools.HttpParserError:
            if not self.closing:
                self._refuse(BAD_REQUEST, "bad_request")

    def _refuse(self, reply: Reply, counted: str | None = None) -> None:
        """Answer and close. The rest of what the peer sends is not parsed: read and dropped for LINGER
        seconds after our end is shut (so that the peer reads the reply), or not read at all."""
        if counted is not None:
            self.server.counts[counted] += 1
        self.closing = True
        self.server._unlist(self)
        transport = self.transport
        transport.write(response_bytes(reply, False))
        if transport.can_write_eof() and self.server._linger(self):
            transport.write_eof()  # the FIN follows the reply; the peer's own close then ends the connection
            self.lingering = True
        else:
            transport.close()

    def evict(self) -> None:
        """Closed to make room for a newcomer (the server has unlisted it)."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def check(self, now: float) -> None:
        """The sweep: close this connection if one of its deadlines passed."""
        if self.closing or self.transport is None:
            return
        if self.write_paused_since is not None:
            if now - self.write_paused_since > WRITE_TIMEOUT:
                self.server.counts["timeouts"] += 1
                self.server._trouble("timeouts")
                self.evict()
                self.server._unlist(self)
        elif self.in_request:
            if now > self.request_started + REQUEST_TIMEOUT or now > self.last_read + READ_GAP:
                self.server._trouble("timeouts")
                self._refuse(TIMED_OUT, "timeouts")
        elif now > self.idle_since + IDLE_TIMEOUT:
            if self.fresh:  # connected and never sent a request: counted; a kept-alive one ending is not
                self.server.counts["timeouts"] += 1
                self.server._trouble("timeouts")
            self.closing = True
            self.server._unlist(self)
            self.transport.close()

    # ------------------------------------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        if self.closing:  # a request pipelined after one that closed the connection
            raise _Stop
        self.in_request = True
        self.fresh = False
        self.request_started = self.last_read
        self.url = b""
        self.headers = 0
        self.signature = self.length = self.body = None
        self.expect_continue = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers += 1
        if self.headers > MAX_HEADERS:
            self._refuse(HEAD_TOO_LARGE, "head_too_large")
            raise _Stop
        size = len(name)  # only three headers matter; the rest are counted and dropped
        if size == 19:
            if name.lower() == b"x-webhook-signature":
                self.signature = value.strip()  # a repeated header keeps its last value
        elif size == 14:
            if name.lower() == b"content-length":
                self.length = value.strip()
        elif size == 6 and name.lower() == b"expect":
            self.expect_continue = value.strip().lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.server._engaged(self)  # a whole head: no longer evictable
        parser = self.parser
        url = self.url
        query = url.find(b"?")
        self.path = path = url if query < 0 else url[:query]
        refusal = self.server.handler.route(parser.get_method(), path)
        if refusal is None and parser.should_upgrade():
            refusal = UPGRADE_REFUSED
        if refusal is not None:
            self._refuse(refusal, "unserved")
            raise _Stop
        length = self.length
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            self._refuse(TOO_LARGE, "too_large")
            raise _Stop
        self.keep_alive = parser.should_keep_alive()  # asked now: once the message is complete it is reset
        if self.expect_continue and length != b"0":
            self.transport.write(_CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        body = self.body
        if body is None:
            self.body = body = chunk
        else:
            if body.__class__ is bytes:  # a second piece: from now on a bytearray, not copied whole each time
                self.body = body = bytearray(body)
            body += chunk
        if len(body) > MAX_BODY:  # chunked, or more than the length said: stop reading here
            self._refuse(TOO_LARGE, "too_large")
            raise _Stop

    def on_message_complete(self) -> None:
        if self.closing:
            return
        body = self.body
        self.body = None
        if body is None:
            body = b""
        elif body.__class__ is bytearray:
            body = bytes(body)
        reply = self.server.handler.handle(self.path, self.signature, body)
        self.transport.write(response_bytes(reply, self.keep_alive))
        self.in_request = False
        if not self.keep_alive:
            self.closing = True
            self.server._unlist(self)
            self.transport.close()
            return
        self.in_head = True
        self.head_bytes = 0
        self.idle_since = self.last_read
        self.server._idle(self)


class WebhookServer:
    """Serves `handler` on one listening socket with the limits above. `counts` is the handler's counter dict:
    the server adds refused, evicted, timeouts, head_too_large, bad_request, unserved (and too_large)."""

    def __init__(self, handler: Handler, counts: dict[str, int], pressure: PressureGauge):
        self.handler = handler
        self.counts = counts
        self.pressure = pressure
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self.open: dict[_Connection, None] = {}  # every connection not yet closed by us
        self._per_peer: dict[str, int] = {}
        self._evictable: dict[_Connection, None] = {}  # insertion order: the oldest first
        self._evictable_by_peer: dict[str, dict[_Connection, None]] = {}
        self._connecting: set[asyncio.Task] = set()
        self._lingering: dict[_Connection, float] = {}  # refused connections read for a moment: until when
        self._sweeper: asyncio.TimerHandle | None = None
        self._resume: asyncio.TimerHandle | None = None
        self.full_capacity = self.capacity = MAX_CONNECTIONS
        self._fd_ceiling = 1 << 30
        self.reserve = 0
        self.file_limit: int | None = None
        self._at_file_limit = False  # an episode is under way (logged once)

    @property
    def connections(self) -> int:
        return len(self.open)

    # ------------------------------------------------------------------------------------------- lifecycle

    def start(self, sock: socket.socket) -> None:
        """Serve on `sock`, bound already; listening starts here."""
        self.loop = asyncio.get_running_loop()
        self._sock = sock
        self._measure_file_limit()
        sock.listen(2048)
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._accept_ready)

    def _measure_file_limit(self) -> None:
        if resource is None:
            return
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY or soft <= 0:
            return
        self.file_limit = soft
        self.reserve = min(FILE_RESERVE, soft // 4)
        self._fd_ceiling = soft - self.reserve
        try:
            in_use = len(os.listdir("/proc/self/fd"))
        except OSError:  # no /proc: the listening socket's number is a floor of what is open
            in_use = self._sock.fileno() + 1
        self.full_capacity = self.capacity = max(1, min(MAX_CONNECTIONS, self._fd_ceiling - in_use))

    async def stop(self) -> None:
        if self.loop is not None and self._sock is not None:
            self.loop.remove_reader(self._sock.fileno())
        for handle in (self._sweeper, self._resume):
            if handle is not None:
                handle.cancel()
        self._sweeper = self._resume = None
        for task in self._connecting:
            task.cancel()
        for connection in [*self.open, *self._lingering]:
            connection.evict()
        self.open.clear()
        self._lingering.clear()
        self._evictable.clear()
        self._evictable_by_peer.clear()
        self._per_peer.clear()
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)
        await asyncio.sleep(0)  # the transports' connection_lost callbacks run
        self._sock = None

    # ------------------------------------------------------------------------------------------- accepting

    def _accept_ready(self) -> None:
        sock = self._sock
        for _ in range(ACCEPT_BATCH):
            try:
                client, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as error:  # EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse: never a loop of retries
                self._out_of_files(error)
                return
            self._admit(client, address[0] if isinstance(address, tuple) else str(address))

    def _admit(self, client: socket.socket, peer: str) -> None:
        if client.fileno() >= self._fd_ceiling:  # the kernel gives the lowest free number: all below are taken
            self._file_limit_reached(f"descriptor {client.fileno()} is among the last {self.reserve}")
            self.capacity = max(1, min(self.capacity, len(self.open)))
            self._evict_one(self._evictable)  # so that the next newcomer finds a low descriptor free
            self._refuse_socket(client)
            return
        if self._per_peer.get(peer, 0) >= MAX_PER_PEER:
            if not self._evict_one(self._evictable_by_peer.get(peer)):
                self._refuse_socket(client)
                return
        elif len(self.open) >= self.capacity and not self._evict_one(self._evictable):
            self._refuse_socket(client)
            return
        connection = _Connection(self, peer)
        self.open[connection] = None
        self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        self._idle(connection)
        task = self.loop.create_task(self._connect(connection, client))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        self._sweep_soon()

    async def _connect(self, connection: _Connection, client: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: connection, client)
        except BaseException as error:  # cancelled by stop(), or the transport could not be made: let it go
            if connection.transport is None:
                self._unlist(connection)
                client.close()
            if not isinstance(error, Exception):
                raise
            log.debug("webhook receiver: a connection failed to start: %s", type(error).__name__)

    def _refuse_socket(self, client: socket.socket) -> None:
        self.counts["refused"] += 1
        self._trouble("refused")
        try:
            client.setblocking(False)
            client.send(_BUSY_RESPONSE)
        except OSError:
            pass
        client.close()

    def _evict_one(self, candidates: dict[_Connection, None] | None) -> bool:
        if not candidates:
            return False
        victim = next(iter(candidates))
        self.counts["evicted"] += 1
        self._trouble("evicted")
        self._unlist(victim)
        victim.evict()
        return True

    def _out_of_files(self, error: OSError) -> None:
        self._file_limit_reached(f"accept() failed: {os.strerror(error.errno) if error.errno else error}")
        # Give descriptors back, to capwatch's own connections as much as to the next delivery.
        self.capacity = max(1, len(self.open) - 16)
        for _ in range(16):
            if not self._evict_one(self._evictable):
                break
        self.loop.remove_reader(self._sock.fileno())
        self._resume = self.loop.call_later(ACCEPT_PAUSE, self._resume_accepting)
        self._sweep_soon()

    def _resume_accepting(self) -> None:
        self._resume = None
        if self._sock is not None:
            self.loop.add_reader(self._sock.fileno(), self._accept_ready)

    def _file_limit_reached(self, detail: str) -> None:
        self._trouble("file_limit")
        if not self._at_file_limit:
            self._at_file_limit = True
            log.warning("capwatch: the webhook receiver is at the file limit (%s; %d connections held, open files "
                        "limited to %s): it keeps %d descriptors for capwatch's own connections, drops idle "
                        "connections and refuses new ones until it eases", detail, len(self.open), self.file_limit,
                        self.reserve)

    # ------------------------------------------------------------------------------------------- registries

    def _idle(self, connection: _Connection) -> None:
        """Evictable: connected, or kept alive after a reply, with no whole head yet."""
        self._evictable[connection] = None
        by_peer = self._evictable_by_peer.get(connection.peer)
        if by_peer is None:
            by_peer = self._evictable_by_peer[connection.peer] = {}
        by_peer[connection] = None

    def _engaged(self, connection: _Connection) -> None:
        """A whole head came: it holds its slot until answered."""
        self._evictable.pop(connection, None)
        by_peer = self._evictable_by_peer.get(connection.peer)
        if by_peer is not None:
            by_peer.pop(connection, None)
            if not by_peer:
                del self._evictable_by_peer[connection.peer]

    def _unlist(self, connection: _Connection) -> None:
        """Closing: its slot is free from now (its descriptor once the transport lets go of it)."""
        if self.open.pop(connection, 0) is None:
            self._engaged(connection)
            left = self._per_peer[connection.peer] - 1
            if left:
                self._per_peer[connection.peer] = left
            else:
                del self._per_peer[connection.peer]

    def _linger(self, connection: _Connection) -> bool:
        """Whether a refused connection may stay open for LINGER seconds to drain (bounded in number)."""
        if len(self._lingering) >= MAX_LINGERING:
            return False
        self._lingering[connection] = _now() + LINGER
        return True

    # ------------------------------------------------------------------------------------------- the sweep

    def _sweep_soon(self) -> None:
        if self._sweeper is None and self.loop is not None:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = _now()
        for connection in list(self.open):
            connection.check(now)
        for connection, until in list(self._lingering.items()):
            if now > until:
                del self._lingering[connection]
                connection.transport.abort()
        if self.pressure.tick(now):  # a whole window without trouble: the episode is over
            self._at_file_limit = False  # the next one is logged again
            self.capacity = self.full_capacity
        if self.open or self._lingering or self.pressure.active or self._at_file_limit or \
                self.capacity < self.full_capacity:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _trouble(self, kind: str) -> None:
        self.pressure.note(kind)
        self._sweep_soon()
