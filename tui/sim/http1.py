"""A lean HTTP/1.1 POST over one keep-alive connection, for the simulator's webhook sender.

At load-test rates the simulator sends a few hundred webhooks a second, and through httpx each one cost
~1.4 ms of the simulator's one core (client layers, the connection pool, response streaming): two thirds of
its time at 2,000 events/s, enough to back the deliveries up whenever the machine slowed, which the benchmarks
then measured as the monitor's lag. Here a request is one formatted write and the reply is parsed by httptools
(llhttp, in C, a dependency already): status, Content-Length or chunked body, keep-alive. No redirects, no
cookies, no proxies: a vendor's delivery does not follow them either.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any
from urllib.parse import urlsplit

import httptools


class DeliveryError(Exception):
    """The connection failed or the reply was not HTTP: close it, and retry on a new one."""


class _NoReply(EOFError):
    """The connection ended before any byte of the reply."""


class _Reply:
    """httptools callbacks: the parser calls these as it reads the reply."""

    def __init__(self) -> None:
        self.parser: Any = httptools.HttpResponseParser(self)
        self.started = self.head_read = self.complete = self.keep_alive = False

    def on_headers_complete(self) -> None:
        self.head_read = True
        # Asked here: once the message is complete the parser is reset for the next one, and says False.
        self.keep_alive = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self.complete = True


class Http1Connection:
    """POSTs to one origin (`http://` or `https://`), reconnecting when the previous connection was closed."""

    def __init__(self, url: str, *, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.base_path = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST `body` to `base_path + path`; the reply's status code. Raises DeliveryError."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(path, body, headers)
        except (OSError, EOFError, TimeoutError, httptools.HttpParserError) as error:
            self.close()
            raise DeliveryError(type(error).__name__) from error

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        reused = self._writer is not None and not self._writer.is_closing() and not self._reader.at_eof()
        if not reused:
            self.close()
            await self._connect()
        try:
            return await self._exchange(path, body, headers)
        except (ConnectionError, _NoReply):
            if not reused:
                raise
        # A kept-alive connection the receiver closed as we sent (it times idle ones out): once more, anew. A
        # receiver that did get it sees the same signed body twice, which it acknowledges as a duplicate.
        self.close()
        await self._connect()
        return await self._exchange(path, body, headers)

    async def _connect(self) -> None:
        context = ssl.create_default_context() if self.tls else None
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, ssl=context)

    async def _exchange(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        assert self._reader is not None and self._writer is not None
        head = [f"POST {self.base_path}{path} HTTP/1.1", f"Host: {self._host_header}",
                f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await self._writer.drain()
        reply = _Reply()
        parser = reply.parser
        try:
            while not reply.complete:
                chunk = await self._reader.read(65536)
                if not chunk:
                    if reply.head_read:  # a body without a length ends with the connection
                        break
                    raise EOFError("the receiver closed the connection in its reply") if reply.started else _NoReply()
                reply.started = True
                parser.feed_data(chunk)
        finally:
            reply.parser = None  # it holds the reply: no cycle left for the collector, at hundreds a second
        if not (reply.complete and reply.keep_alive):
            self.close()
        return parser.get_status_code()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
