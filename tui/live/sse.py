"""A Server-Sent Events reader that survives real servers, following the WHATWG event-stream rules.

Why our own decoder rather than a wrapper around httpx-sse (0.4.3): its quirks are in the parts a wrapper
cannot reach. `SSEDecoder` resets `retry` after every event, yields events with empty data after keepalive
comments once an id was seen, commits an id-only block as an event, and does not strip the BOM; its
`SSELineDecoder` buffers a line without newline with no limit, so a hostile or broken server can grow our
memory at will. Fixing all of that from outside would mean re-deciding every event it yields; the event-stream
format is ~40 lines of rules, so we implement them once, here, with the limits built in.

One `SSEReader` outlives its connections: it keeps `last_event_id` (send it as `Last-Event-ID` when
reconnecting) and the server's `retry_ms`. Per connection: `async for message in reader.events(response)`.
"""

from __future__ import annotations

import re
import time
from codecs import utf_8_decode as _utf8_decode
from typing import AsyncIterable, AsyncIterator, NamedTuple

import httpx

DEFAULT_MAX_EVENT_SIZE = 1 << 20  # characters of data per event (1 MiB of ASCII JSON)
# While discarding an over-size event we keep reading, in bounded memory, until the event ends so that its id
# is known and a reconnect resumes after it. A stream that never ends the event is given up after this much.
DISCARD_LIMIT_FACTOR = 8
MAX_RETRY_MS = 999_999_999  # ~11 days: a longer `retry:` is read as this (int() refuses > 4,300 digits)


class SSEMessage(NamedTuple):
    event: str  # "message" when the server named none
    data: str  # data lines joined with "\n"; "" for a `data:` line with nothing after it (each channel decides)
    id: str | None  # the stream's last event id when this event was dispatched


# Building an SSEMessage per event: tuple.__new__ straight, not the generated __new__ that calls it (half the time).
_tuple_new = tuple.__new__
# One whole event block of the usual shape, every line ended by LF (CR line ends were made LF before). Without
# DOTALL, "." is any character but LF: as [^\n], and a sixth faster.
_SIMPLE_BLOCK = re.compile(r"(?:event: ?(.*)\n)?(?:id: ?(.*)\n)?data: ?(.*)\n\n")


class SSEProtocolError(Exception):
    """The stream broke a limit (an over-size event or line, a wrong content type). The connection cannot
    continue; the reader's `last_event_id` already points past the offending event when it was known."""


class SSEReader:
    """Decodes event streams, one connection at a time, remembering `last_event_id` and `retry_ms`."""

    def __init__(self, *, last_event_id: str | None = None, max_event_size: int = DEFAULT_MAX_EVENT_SIZE):
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None  # the server's last `retry:` value
        self.max_event_size = max_event_size
        self.last_read: float | None = None  # monotonic time the last chunk (an event or a keepalive) arrived

    def request_headers(self) -> dict[str, str | bytes]:
        """Headers for opening (or reopening) the stream."""
        headers: dict[str, str | bytes] = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        last_event_id = self.last_event_id_header()
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        return headers

    def last_event_id_header(self) -> bytes | None:
        """`Last-Event-ID` as sent: the id UTF-8 encoded, as the standard says. An id may be any text without NUL,
        CR or LF (WPT's format-field-id uses "…"); given as a str, httpx encodes a header value as ASCII and
        refused it before sending, on every reconnect. Spaces and tabs at its ends are left out: no header
        value can carry them (h11 refuses them; a server strips them). None when there is nothing to send."""
        if not self.last_event_id:
            return None
        return self.last_event_id.encode("utf-8", "replace").strip(b" \t") or None

    def decoder(self) -> "SSEDecoder":
        """A fresh decoder for one connection, reporting ids and retry back to this reader."""
        return SSEDecoder(self)

    async def events(self, source: httpx.Response | AsyncIterable[bytes | str]) -> AsyncIterator[SSEMessage]:
        """The messages of one connection: an open streaming `httpx.Response`, or any async iterable of
        byte (or text) chunks. Ends at EOF (an unfinished event is dropped, as the standard says); raises
        SSEProtocolError on a broken limit, after yielding every message decoded before it."""
        if isinstance(source, httpx.Response):
            content_type = source.headers.get("content-type", "").partition(";")[0].strip().lower()
            if content_type != "text/event-stream":
                raise SSEProtocolError(f"expected an event stream, got content type {content_type or 'none'!r}")
            chunks: AsyncIterable[bytes | str]
            if source.headers.get("content-encoding", "identity").strip().lower() == "identity" and \
                    not source.is_stream_consumed and isinstance(source.stream, httpx.AsyncByteStream):
                # Not compressed: the raw bytes are the content, read from the reply's own stream, without the
                # layers of aiter_raw (a generator, a context manager, a chunker and its buffer: ~1 KB held for as
                # long as each of a fleet's streams is open) or aiter_bytes (two pass-through steps for every
                # chunk, often one event each). The caller closes the reply, as it does after either.
                source.is_stream_consumed = True
                chunks = source.stream
            else:
                chunks = source.aiter_bytes()
        else:
            chunks = source
        decoder = self.decoder()
        async for chunk in chunks:
            self.last_read = time.monotonic()
            for message in decoder.feed(chunk):
                yield message
            if decoder.error is not None:
                raise decoder.error


class SSEDecoder:
    """The incremental event-stream parser for one connection: `feed(chunk)` returns the messages completed
    by that chunk. After a limit is broken, `error` is set and further input is ignored."""

    def __init__(self, reader: SSEReader):
        self.reader = reader
        self.error: SSEProtocolError | None = None
        self._limit = reader.max_event_size
        self._utf8_pending = b""  # the bytes of a UTF-8 sequence split between chunks: the format is always UTF-8
        self._at_start = True  # a BOM is allowed (and dropped) only as the stream's first character
        self._after_cr = False  # the previous chunk ended with CR: a leading LF completes that CRLF
        self._partial: list[str] = []  # the current line's pieces until its line end arrives
        self._partial_size = 0
        self._skip_line = False  # the current line overflowed: drop it up to its line end
        # The event being built.
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._id = reader.last_event_id  # the "last event ID buffer": committed when an event ends
        self._discarding = False  # the event went over the limit: parse its fields, drop its data
        self._discarded = 0

    def feed(self, chunk: bytes | str) -> list[SSEMessage]:
        if self.error is not None:
            return []
        if isinstance(chunk, (bytes, bytearray)):
            # What codecs' incremental UTF-8 decoder (errors="replace") does, without its Python-level call.
            if self._utf8_pending:
                chunk = self._utf8_pending + chunk
                self._utf8_pending = b""
            text, used = _utf8_decode(chunk, "replace", False)
            if used != len(chunk):
                self._utf8_pending = bytes(chunk[used:])
        else:
            text = chunk
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        if self._after_cr:
            self._after_cr = False
            if text[:1] == "\n":
                text = text[1:]
        if "\r" in text:
            self._after_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        messages: list[SSEMessage] = []
        limit = self._limit
        if not (self._partial or self._skip_line or self._discarding or self._data or self._event):
            # Fast path, between events: whole blocks of the usual shape ([event:] [id:] data:, blank line)
            # with one regex match each. The rules are the ones below, applied to exactly those lines.
            position = 0
            match = _SIMPLE_BLOCK.match(text)
            while match is not None:
                end = match.end()
                if end - position > limit:
                    break
                event, event_id, data = match.groups()
                if event_id is not None and "\0" not in event_id:
                    self._id = event_id or None
                event_id = self.reader.last_event_id = self._id
                messages.append(_tuple_new(SSEMessage, (event or "message", data, event_id)))
                position = end
                if end == len(text):
                    return messages  # the usual end: a chunk of whole events
                match = _SIMPLE_BLOCK.match(text, end)
            if position:
                text = text[position:]
        lines = text.split("\n")
        tail = lines.pop()  # the unfinished last line ("" when the chunk ended with a line end)

        if lines and (self._skip_line or self._partial):  # the first line ends one begun in earlier chunks
            if self._skip_line:
                self._skip_line = False
                self._discard(len(lines[0]))
                if self.error is not None:
                    return messages
                del lines[0]  # dropped whole
            else:
                self._partial.append(lines[0])
                lines[0] = "".join(self._partial)
                self._partial.clear()
                self._partial_size = 0
        for line in lines:  # per event: the usual fields and dispatch are handled inline
            if not line:
                data = self._data
                if data and not self._discarding:  # what _dispatch does with an event that has data
                    event_id = self.reader.last_event_id = self._id
                    event = self._event
                    self._event, self._data, self._data_size = "", [], 0
                    text = data[0] if len(data) == 1 else "\n".join(data)
                    messages.append(_tuple_new(SSEMessage, (event or "message", text, event_id)))
                else:
                    message = self._dispatch()
                    if message is not None:
                        messages.append(message)
            elif len(line) > limit:
                self._overflow(len(line))
            elif line[:5] == "data:" and not self._discarding:  # what _field does with a data line
                value = line[6:] if line[5:6] == " " else line[5:]
                self._data.append(value)
                self._data_size += len(value) + 1
                if self._data_size > limit:
                    self._overflow(0)
            elif line[:3] == "id:":  # what _field does with an id line
                value = line[4:] if line[3:4] == " " else line[3:]
                if "\0" not in value:
                    self._id = value or None
            else:
                self._field(line)
            if self.error is not None:
                return messages

        if tail:
            if self._skip_line:
                self._discard(len(tail))
            else:
                self._partial.append(tail)
                self._partial_size += len(tail)
                if self._partial_size > limit:
                    self._overflow(self._partial_size)
                    self._partial.clear()
                    self._partial_size = 0
                    self._skip_line = True
        return messages

    def _field(self, line: str) -> None:
        if line[0] == ":":
            return  # a comment (keepalives)
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            if self._discarding:
                self._discard(len(value))
                return
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._limit:
                self._overflow(0)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value or None
        elif name == "retry":
            if value.isascii() and value.isdigit():
                digits = value.lstrip("0") or "0"
                self.reader.retry_ms = int(digits) if len(digits) < 10 else MAX_RETRY_MS
        # other field names are ignored, as the standard says

    def _dispatch(self) -> SSEMessage | None:
        """A blank line ends the event: commit its id, then yield it if it had a data line (WHATWG: an event
        whose data buffer is empty is not dispatched; `data:` alone makes it "\n", dispatched as "")."""
        self.reader.last_event_id = self._id
        event, data, discarded = self._event, self._data, self._discarding
        self._event, self._data, self._data_size = "", [], 0
        self._discarding, self._discarded = False, 0
        if discarded:
            self.error = SSEProtocolError(
                f"an event larger than {self._limit} characters was discarded (id {self._id or 'none'})"
            )
            return None
        if not data:
            # an id-only block, a retry, or the blank line after a keepalive comment: the phantom events
            # httpx-sse yields (with data "") once an id was seen
            return None
        return SSEMessage(event or "message", "\n".join(data), self._id)

    def _overflow(self, size: int) -> None:
        """The current event broke the size limit: drop what it holds and discard the rest of it."""
        if not self._discarding:
            self._discarding = True
            size += self._data_size
            self._data, self._data_size = [], 0
        self._discard(size)

    def _discard(self, size: int) -> None:
        self._discarding = True
        self._discarded += size
        if self._discarded > self._limit * DISCARD_LIMIT_FACTOR:
            self.error = SSEProtocolError(
                f"an event or line grew past {self._limit * DISCARD_LIMIT_FACTOR} characters without ending"
            )
