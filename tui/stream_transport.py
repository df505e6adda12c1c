"""HTTP/1.1 for long-lived streams (a fleet's SSE connections): one connection per request, never pooled or reused.

httpx's own transport (httpcore over anyio) holds ~27 KB of Python objects per open connection (measured with 1,000
open streams: a pool entry, a connection and its HTTP/1.1 state each with anyio locks and events, anyio's socket
stream with its queues and events, the context managers of the read under way); at a fleet of 1,000 Capx streams
that was most of what a stream cost the monitor. This transport holds, per stream, the socket's asyncio transport,
a small protocol object and h11's parser (h11 is what httpcore parses with). TLS goes through an `ssl.SSLObject`
over memory BIOs, as anyio does (asyncio's own TLS keeps a 256 KiB buffer per connection), decrypting into one
buffer shared by every stream.

It does what a stream needs: a request (with a body, if any), the response head, the body as it comes (chunked,
sized, or until the server closes), connect, read and write timeouts (`request.extensions["timeout"]`, as httpx
passes them); its errors are httpx's (ConnectError, ConnectTimeout, ReadTimeout, WriteTimeout, ReadError,
RemoteProtocolError), so that callers cannot tell it from httpx's own transport. No proxies (httpx mounts its own
transport for a proxied URL), no HTTP/2.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from typing import AsyncIterator

import h11
import httpx

from tui.api import shared_ssl_context

READ_SIZE = 64 * 1024  # plaintext bytes decrypted at a time (into the shared buffer)
PAUSE_ABOVE = 256 * 1024  # bytes received and not read yet past which the socket stops being read
MAX_HEAD = 100 * 1024  # the response head's bytes at most (httpcore's bound)
_decrypted: list[bytearray] = []  # the buffer every TLS stream decrypts into (made at the first), then copies from


class _Connection(asyncio.Protocol):
    """One socket: bytes received and not read yet, and at most one reader waiting for more."""

    __slots__ = ("transport", "chunks", "buffered", "waiter", "eof", "error", "tls", "incoming", "outgoing",
                 "writable")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.waiter: asyncio.Future | None = None
        self.eof = False
        self.error: BaseException | None = None
        self.tls: ssl.SSLObject | None = None
        self.incoming: ssl.MemoryBIO | None = None
        self.outgoing: ssl.MemoryBIO | None = None
        self.writable: asyncio.Future | None = None  # set while the socket's write buffer is full

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > PAUSE_ABOVE:
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # the stream's side

    async def receive(self, timeout: float | None) -> bytes:
        """The bytes received since the last call (waiting for some up to `timeout`); b"" at the end."""
        while not self.chunks:
            if self.eof:
                if self.error is not None:
                    raise httpx.ReadError(f"{type(self.error).__name__}: {self.error}")
                return b""
            loop = asyncio.get_running_loop()
            self.waiter = waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                self.waiter = None
                if timer is not None:
                    timer.cancel()
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if self.buffered > PAUSE_ABOVE and not self.eof:
            self.transport.resume_reading()
        self.buffered = 0
        return data

    async def read(self, timeout: float | None) -> bytes:
        """Plaintext: what the socket received, decrypted when the connection is TLS; b"" at the end."""
        tls = self.tls
        if tls is None:
            return await self.receive(timeout)
        if not _decrypted:
            _decrypted.append(bytearray(READ_SIZE))
        buffer = _decrypted[0]
        while True:
            try:
                size = tls.read(READ_SIZE, buffer)
            except ssl.SSLWantReadError:
                self._flush_tls()
                data = await self.receive(timeout)
                if data:
                    self.incoming.write(data)
                else:
                    self.incoming.write_eof()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError as error:
                raise httpx.ReadError(f"TLS: {error}") from error
            return bytes(memoryview(buffer)[:size])

    async def write(self, data: bytes, timeout: float | None) -> None:
        if self.tls is not None:
            self.tls.write(data)
            data = self.outgoing.read()
        if self.error is not None or self.transport.is_closing():
            raise httpx.WriteError("the connection closed")
        self.transport.write(data)
        if self.writable is not None:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can lose a cancel (live/backoff.py)
                    await asyncio.shield(self.writable)
            except TimeoutError:
                raise httpx.WriteTimeout("the server read nothing within the write timeout") from None

    async def handshake(self, context: ssl.SSLContext, host: str, timeout: float | None) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=host)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush_tls()
                data = await self.receive(timeout)
                if not data:
                    raise httpx.ConnectError("the server closed the connection during the TLS handshake")
                self.incoming.write(data)
            except ssl.SSLError as error:
                raise httpx.ConnectError(f"TLS: {error}") from error
        self._flush_tls()

    def _flush_tls(self) -> None:
        pending = self.outgoing.read()
        if pending and not self.transport.is_closing():
            self.transport.write(pending)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # a stream is never reused: nothing to flush, nothing to wait for


def _is_address(host: str) -> bool:
    """An IP address: nothing to resolve, so no "happy eyeballs" race between addresses (its tasks and the cycles
    they leave, per stream, until the next collection)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("no data within the read timeout"))


class _Body(httpx.AsyncByteStream):
    """The response's body as it arrives; closing it closes the connection."""

    def __init__(self, parser: h11.Connection, connection: _Connection, timeout: float | None):
        self.parser = parser
        self.connection = connection
        self.timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parser, connection = self.parser, self.connection
        while True:
            event = await _next_event(parser, connection, self.timeout)
            if type(event) is h11.Data:
                yield bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return

    async def aclose(self) -> None:
        self.connection.close()


async def _next_event(parser: h11.Connection, connection: _Connection, timeout: float | None):
    while True:
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError as error:
            raise httpx.RemoteProtocolError(str(error)) from error
        if event is not h11.NEED_DATA:
            return event
        data = await connection.read(timeout)
        if not data and parser.their_state is h11.SEND_RESPONSE:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        parser.receive_data(data)


class StreamTransport(httpx.AsyncBaseTransport):
    """An httpx transport that opens a connection of its own for each request (see the module's docstring)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None):
        self.ssl_context = ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        tls = url.scheme == "https"
        port = url.port or (443 if tls else 80)
        connect = timeouts.get("connect")
        try:
            async with asyncio.timeout(connect):
                _, connection = await asyncio.get_running_loop().create_connection(
                    _Connection, url.host, port, happy_eyeballs_delay=None if _is_address(url.host) else 0.25)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {url.host}:{port} within the connect timeout") from None
        except OSError as error:
            raise httpx.ConnectError(f"{type(error).__name__}: {error}") from error
        try:
            if tls:
                try:
                    async with asyncio.timeout(connect):
                        await connection.handshake(self.ssl_context or shared_ssl_context(), url.host, connect)
                except TimeoutError:
                    raise httpx.ConnectTimeout(f"no TLS handshake with {url.host} within the connect timeout") \
                        from None
            parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
            try:
                head = parser.send(h11.Request(method=request.method, target=url.raw_path,
                                               headers=request.headers.raw))
            except h11.LocalProtocolError as error:
                raise httpx.LocalProtocolError(str(error)) from error
            write = timeouts.get("write")
            await connection.write(head, write)
            async for chunk in request.stream:
                if chunk:
                    await connection.write(parser.send(h11.Data(data=chunk)), write)
            await connection.write(parser.send(h11.EndOfMessage()), write)
            while True:
                event = await _next_event(parser, connection, timeouts.get("read"))
                if type(event) is h11.Response:
                    break
            return httpx.Response(event.status_code, headers=event.headers.raw_items(),
                                  stream=_Body(parser, connection, timeouts.get("read")),
                                  extensions={"http_version": b"HTTP/" + event.http_version,
                                              "reason_phrase": event.reason})
        except BaseException:
            connection.close()
            raise
