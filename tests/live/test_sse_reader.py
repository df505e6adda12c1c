"""The SSE reader, fed real bytes over loopback by a small Starlette app, plus property tests on raw chunks."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket
import threading
import time
import zlib

import httpx
import pytest
import uvicorn
from hypothesis import event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tui.live.sse import SSEMessage, SSEProtocolError, SSEReader
from tui.sim.core import hostile_sse_block, sse_block


class ScriptedServer:
    """Serves each registered script (a list of byte chunks) as one event stream, chunk by chunk, and
    records the Last-Event-ID each request carried."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[bytes]] = {}
        self.gzipped: set[str] = set()  # scripts sent with Content-Encoding: gzip
        self.last_event_ids: list[str | None] = []
        self._names = itertools.count()
        self.raw_last_event_ids: list[bytes | None] = []  # as the bytes on the wire (WPT's last-event-id.py)
        app = Starlette(routes=[Route("/stream/{name}", self.stream), Route("/json", self.json),
                                Route("/wpt/last-event-id", self.wpt_last_event_id)])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.root = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def add(self, chunks: list[bytes], *, gzip: bool = False) -> str:
        name = str(next(self._names))
        self.scripts[name] = chunks
        if gzip:
            self.gzipped.add(name)
        return f"{self.root}/stream/{name}"

    async def stream(self, request: Request) -> StreamingResponse:
        self.last_event_ids.append(request.headers.get("last-event-id"))
        name = request.path_params["name"]
        chunks = self.scripts[name]
        compressor = zlib.compressobj(wbits=31) if name in self.gzipped else None  # 31: the gzip container

        async def body():
            for chunk in chunks:
                if compressor is not None:  # each chunk flushed, so events arrive as they are sent
                    chunk = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
                yield chunk
                await asyncio.sleep(0)  # one write per chunk, as a slow or hostile server would
            if compressor is not None:
                yield compressor.flush()

        headers = {"Content-Encoding": "gzip"} if compressor is not None else None
        return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

    async def wpt_last_event_id(self, request: Request) -> Response:
        """WPT's eventsource/resources/last-event-id.py: echo the Last-Event-ID it got as data, or, with none,
        send an id (`idvalue`, "…" by default), a retry and "hello"."""
        raw = dict(request.headers.raw).get(b"last-event-id")
        self.raw_last_event_ids.append(raw)
        if raw:
            body = b"data: " + raw + b"\n\n"
        else:
            body = b"id: " + request.query_params.get("idvalue", "\u2026").encode() + b"\nretry: 200\ndata: hello\n\n"
        return Response(body, media_type="text/event-stream")

    async def json(self, request: Request) -> JSONResponse:
        return JSONResponse({"not": "a stream"})

    def start(self) -> "ScriptedServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def server():
    running = ScriptedServer().start()
    yield running
    running.stop()


async def read(reader: SSEReader, url: str) -> list[SSEMessage]:
    """One connection: every message until EOF (SSEProtocolError propagates)."""
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", url, headers=reader.request_headers()) as response:
            return [message async for message in reader.events(response)]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


AWKWARD = (
    "\ufeff: a comment first\r\n"
    "retry: 1500\r\n"
    "event: greeting\r\n"
    "id: 1\r\n"
    "data: hello\r\n"
    "data:  two spaces keep one\r\n"
    "\r\n"
    ":keepalive\r\r"  # CR line ends
    "id: 2\rdata:{\"a\": 1}\r\r"
    "data\n"  # a field name without a colon: an empty data line
    "data: tail\n"
    "unknown: ignored\n"
    "\n"
).encode()

AWKWARD_EXPECTED = [
    SSEMessage("greeting", "hello\n two spaces keep one", "1"),
    SSEMessage("message", '{"a": 1}', "2"),
    SSEMessage("message", "\ntail", "2"),
]


async def test_bom_line_ends_comments_and_multiline_data(server):
    reader = SSEReader()
    assert await read(reader, server.add([AWKWARD])) == AWKWARD_EXPECTED
    assert (reader.last_event_id, reader.retry_ms) == ("2", 1500)


async def test_one_byte_at_a_time(server):
    reader = SSEReader()
    assert await read(reader, server.add(bytewise(AWKWARD))) == AWKWARD_EXPECTED
    # A CRLF split between two chunks is one line end, not a line end and a blank line.
    reader = SSEReader()
    assert await read(reader, server.add([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])) == [
        SSEMessage("message", "a\nb", None)
    ]
    # A multi-byte character split between chunks survives.
    snowman = "data: ☃\n\n".encode()
    assert await read(SSEReader(), server.add(bytewise(snowman))) == [SSEMessage("message", "☃", None)]


async def test_compressed_stream_is_decoded(server):
    """Uncompressed streams are read raw (one layer less per chunk); a gzip one must still be decoded."""
    reader = SSEReader()
    assert await read(reader, server.add([AWKWARD[:40], AWKWARD[40:]], gzip=True)) == AWKWARD_EXPECTED
    assert (reader.last_event_id, reader.retry_ms) == ("2", 1500)


async def test_id_only_blocks_and_retry(server):
    reader = SSEReader()
    script = b"id: 5\n\nretry: 3000\n\nretry: soon\n\nid: 6\ndata: x\n\nid: 7\n\n"
    assert await read(reader, server.add([script])) == [SSEMessage("message", "x", "6")]
    assert reader.last_event_id == "7"  # the id-only block moved the resume point, dispatching nothing
    assert reader.retry_ms == 3000  # a bad retry is ignored, and the value outlives the events after it
    reader = SSEReader(last_event_id="7")
    assert await read(reader, server.add([b"id\ndata: cleared\n\n"])) == [SSEMessage("message", "cleared", None)]
    assert reader.last_event_id is None and "Last-Event-ID" not in reader.request_headers()


async def test_keepalives_make_no_phantom_events_and_an_empty_data_field_is_an_event(server):
    """httpx-sse yields a phantom event with empty data for each keepalive once an id was seen: an event with
    no data line (a comment, `event:` alone) is not dispatched. But a data field with nothing in it is: WHATWG
    dispatches `data:` (or a bare `data` line) with data "" (WPT format-field-data, event-data); it used to be
    dropped here."""
    script = b"id: 1\ndata: a\n\n: keepalive\n\n: keepalive\n\ndata:\n\nevent: ping\n\ndata: b\n\n"
    reader = SSEReader()
    messages = await read(reader, server.add([script]))
    assert [(m.event, m.data, m.id) for m in messages] == [("message", "a", "1"), ("message", "", "1"),
                                                           ("message", "b", "1")]


async def test_unfinished_event_at_eof_is_dropped(server):
    reader = SSEReader()
    messages = await read(reader, server.add([b"data: done\n\nid: 9\ndata: half"]))
    assert messages == [SSEMessage("message", "done", None)]
    assert reader.last_event_id is None  # the unfinished event's id was never committed


async def test_oversize_event_raises_after_earlier_events_and_resumes_past_it(server):
    reader = SSEReader(max_event_size=1024)
    script = [b"id: 1\ndata: small\n\nid: big\ndata: "] + [b"x" * 512] * 8 + [b"\n\nid: 3\ndata: after\n\n"]
    seen: list[SSEMessage] = []
    with pytest.raises(SSEProtocolError, match="larger than 1024"):
        async with httpx.AsyncClient(timeout=10) as client:
            async with client.stream("GET", server.add(script)) as response:
                async for message in reader.events(response):
                    seen.append(message)
    assert seen == [SSEMessage("message", "small", "1")]
    assert reader.last_event_id == "big"  # a reconnect resumes after the event we could not take


async def test_many_data_lines_over_the_cap_raise(server):
    reader = SSEReader(max_event_size=1000)
    script = [b"data: " + b"y" * 90 + b"\n"] * 20 + [b"\n"]
    with pytest.raises(SSEProtocolError):
        await read(reader, server.add(script))


async def test_endless_line_raises_without_buffering_it(server):
    reader = SSEReader(max_event_size=1024)
    script = [b"data: "] + [b"z" * 1024] * 64  # 64 KiB and no line end in sight
    with pytest.raises(SSEProtocolError, match="without ending"):
        await read(reader, server.add(script))
    decoder = reader.decoder()  # and the decoder never held more than the cap of it
    decoder.feed(b"data: " + b"z" * 5000)
    assert decoder._partial_size == 0 and decoder._skip_line


async def test_last_event_id_is_kept_across_connections(server):
    reader = SSEReader()
    first = await read(reader, server.add([sse_block(f"m{n}", event_id=f"boot-{n}").encode() for n in range(3)]))
    assert [m.id for m in first] == ["boot-0", "boot-1", "boot-2"]
    second = await read(reader, server.add([b"data: resumed\n\n"]))
    assert server.last_event_ids[-2:] == [None, "boot-2"]
    assert second == [SSEMessage("message", "resumed", "boot-2")]  # the id buffer starts where we left off


async def test_simulator_hostile_framing_round_trip(server):
    rng = random.Random(11)
    payloads = [json.dumps({"type": "document.status", "n": n, "name": "x" * rng.randint(0, 60)}) for n in range(300)]
    text = "\ufeff" + "".join(
        hostile_sse_block(p, event="activity", event_id=f"b-{n}", rng=rng) + (": keepalive\n\n" if n % 7 == 0 else "")
        for n, p in enumerate(payloads)
    )
    data = text.encode()
    rng_cut = random.Random(5)
    cuts = sorted(rng_cut.sample(range(1, len(data)), 400))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    reader = SSEReader()
    messages = await read(reader, server.add(chunks))
    # hostile framing may split one data line in two; the reader joins them back with "\n" (json.dumps
    # output holds no raw newline, so removing it recovers the payload exactly).
    assert [m.data.replace("\n", "") for m in messages] == payloads
    assert any("\n" in m.data for m in messages)
    assert [m.id for m in messages] == [f"b-{n}" for n in range(300)]
    assert {m.event for m in messages} == {"activity"}
    assert reader.last_event_id == "b-299"


# WPT's EventSource cases (web-platform-tests/wpt, eventsource/), each over a real stream: the bytes their
# resources serve, and what the test expects of the events. These two parsing rules failed before issue 17.

async def test_wpt_format_field_id_a_non_ascii_id_is_resumed_utf8_encoded(server):
    """format-field-id(-2): the id "…" (U+2026). Before: Last-Event-ID was built as a str, httpx refused it
    with UnicodeEncodeError before sending, and every reconnect failed the same way for ever."""
    reader = SSEReader()
    url = f"{server.root}/wpt/last-event-id"
    assert await read(reader, url) == [SSEMessage("message", "hello", "…")]
    assert reader.retry_ms == 200
    for _ in range(2):  # format-field-id-2 reconnects twice
        assert await read(reader, url) == [SSEMessage("message", "…", "…")]
    assert server.raw_last_event_ids[-3:] == [None, "…".encode(), "…".encode()]


async def test_wpt_format_field_id_null_an_id_with_nul_is_ignored(server):
    """format-field-id-null: `id: \\0\\0` is ignored (the standard: "if the field value does not contain U+0000
    NULL"), so no Last-Event-ID is sent and the server says hello again."""
    reader = SSEReader()
    url = f"{server.root}/wpt/last-event-id?idvalue=%00%00"
    assert await read(reader, url) == [SSEMessage("message", "hello", None)]
    assert await read(reader, url) == [SSEMessage("message", "hello", None)]
    assert server.raw_last_event_ids[-2:] == [None, None]


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "byte-by-byte"])
async def test_wpt_format_field_data_an_empty_data_field_is_dispatched(server, cut):
    """format-field-data: resources/message.py?message=data%3A%0A%0Adata%0Adata%0A%0Adata%3Atest (the
    message, then "\\n\\n", then "\\n"). Before: the first event was dropped."""
    stream = b"data:\n\ndata\ndata\n\ndata:test" + b"\n\n" + b"\n"
    messages = await read(SSEReader(), server.add(bytewise(stream) if cut else [stream]))
    assert [m.data for m in messages] == ["", "\n", "test"]


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "byte-by-byte"])
async def test_wpt_event_data_lines_and_data_parsing(server, cut):
    """event-data: one round of resources/message2.py, written as it writes it."""
    writes = [b"data:msg", b"\n", b"data: msg", b"\n\n", b":", b"\n", b"falsefield:msg", b"\n\n",
              b"falsefield:msg", b"\n", b"Data:data", b"\n\n", b"data", b"\n\n", b"data:end", b"\n\n"]
    messages = await read(SSEReader(), server.add(bytewise(b"".join(writes)) if cut else writes))
    assert [m.data for m in messages] == ["msg\nmsg", "", "end"]


def test_last_event_id_header_is_sendable_for_any_id():
    """Any id the rules let through (no NUL, CR or LF) goes out as bytes httpx and h11 accept."""
    import h11

    for event_id in ["…", "é€😀", "\u2028", "a\x01b", "a\tb", " padded ", "x" * 5000, "\x7f"]:
        headers = SSEReader(last_event_id=event_id).request_headers()
        request = httpx.Request("GET", "http://x/", headers=headers)
        sent = h11.Connection(h11.CLIENT).send(h11.Request(method="GET", target="/", headers=[
            (b"host", b"x"), *((name, value) for name, value in request.headers.raw if name.lower() != b"host")]))
        assert b"Last-Event-ID: " + event_id.strip(" \t").encode() + b"\r\n" in sent
    assert "Last-Event-ID" not in SSEReader(last_event_id=" \t ").request_headers()  # nothing a header can carry


async def test_wrong_content_type_is_a_protocol_error(server):
    with pytest.raises(SSEProtocolError, match="application/json"):
        await read(SSEReader(), server.root + "/json")


# --------------------------------------------------------------------------------------------- properties

# Field lines, line ends, BOMs, broken UTF-8 and long lines, mixed with random bytes (the small cap used
# below makes the long ones overflow).
SSE_PIECES = st.sampled_from([
    b"data:", b"data: x", b"data: \xe2\x98\x83", b"\r", b"\n", b"\r\n", b"id: 1", b"id: 2", b"id:", b"id: a\x00b",
    b"retry: 10", b"retry: x", b":", b": ka", b"event: e", b"event:", b"\xef\xbb\xbf", b"\xff", b"\xe2\x82",
    b"yy" * 20, b"\ndata: x\n\n", b"\rid: 3\ndata: y\r\n\r\n", b"\ndata: z\n", b"\n\n", b"\r\r",
    b"data: " + b"w" * 30 + b"\n",
])
STREAMS = st.lists(
    st.one_of(st.binary(max_size=16), SSE_PIECES, SSE_PIECES, SSE_PIECES, SSE_PIECES), min_size=4, max_size=60
).map(b"".join)
Outcome = tuple[list[SSEMessage], str | None, str | None, int | None]


def decode(chunks: list[bytes], *, max_event_size: int = 48) -> Outcome:
    """Run the reader over `chunks`: (messages, error type or None, last id, retry)."""
    reader = SSEReader(max_event_size=max_event_size)

    async def source():
        for chunk in chunks:
            yield chunk

    async def collect():
        messages, error = [], None
        try:
            async for message in reader.events(source()):
                messages.append(message)
        except SSEProtocolError:
            error = "SSEProtocolError"
        return messages, error

    messages, error = run_without_loop(collect())
    return messages, error, reader.last_event_id, reader.retry_ms


def run_without_loop(coroutine):
    """The chunk source never waits, so the coroutine completes in one step, with no event loop needed."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("the reader waited on something other than its chunks")


@settings(max_examples=500, deadline=None)
@given(data=STREAMS, cut_seed=st.integers(0, 2**32))
def test_any_bytes_yield_messages_or_a_protocol_error_only(data, cut_seed):
    rng = random.Random(cut_seed)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 8)))) if len(data) > 1 else []
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    messages, error, last_id, retry = decode(chunks)  # anything but SSEProtocolError fails the test
    event(f"messages: {'yes' if messages else 'none'}")
    event(f"error: {error}")
    for message in messages:
        assert isinstance(message, SSEMessage) and isinstance(message.data, str) and isinstance(message.event, str)
        assert "\r" not in message.data
    # However the bytes are cut, the reader sees the same stream.
    assert decode(bytewise(data)) == (messages, error, last_id, retry)
    assert decode([data]) == (messages, error, last_id, retry)
