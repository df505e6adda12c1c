"""The streams' own HTTP/1.1 transport (tui/stream_transport.py) over real sockets: a Capx activity stream from the
simulator, and from a raw server the body framings (chunked, sized, until close), a chunk split anywhere, a request
body, and each failure as httpx's own transport reports it (refused, read timeout, a body cut short, no response);
TLS with a certificate the client trusts, and one it does not."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess

import httpx
import pytest

from tui.live.sse import SSEReader
from tui.sim.server import free_port
from tui.stream_transport import StreamTransport

EVENT = b'id: 7\nevent: activity\ndata: {"type":"agent.heartbeat"}\n\n'


class RawServer:
    """A loopback server that reads one request (head and body) per connection and answers with `reply`'s bytes,
    then holds the connection open (`hold`) or closes it."""

    def __init__(self, reply: bytes | list[bytes], *, hold: bool = False, tls: ssl.SSLContext | None = None):
        self.parts = [reply] if isinstance(reply, bytes) else reply
        self.hold, self.tls = hold, tls
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            self.requests.append(head + (await reader.readexactly(length) if length else b""))
            for part in self.parts:
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)  # each part in a segment of its own
            if self.hold:
                await asyncio.sleep(3600)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def client(base: str, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, transport=StreamTransport(**kwargs), timeout=httpx.Timeout(5.0, read=1.0))


async def body_of(base: str, **kwargs) -> tuple[httpx.Response, bytes]:
    async with client(base, **kwargs) as http:
        async with http.stream("GET", "/events?stream=true") as reply:
            return reply, b"".join([chunk async for chunk in reply.aiter_raw()])


async def test_a_capx_activity_stream_from_the_simulator(sim):
    from tui.vendors.capx.client import CapxClient

    async with CapxClient(sim.base_urls["capx"], api_key="capx_sk_test_demo") as capx:
        assert isinstance(capx.stream_http._transport.inner, StreamTransport)
        company = (await capx.list_companies()).items[0].id
        async with capx.open_activity(company) as reply:
            assert reply.status_code == 200 and reply.headers["x-ratelimit-limit"] == "60"
            httpx.post(f"{sim.root}/_admin/step", params={"count": 30, "vendor": "capx"})
            messages = SSEReader().events(reply)
            first = await asyncio.wait_for(anext(messages), 5)
            assert first.event == "activity" and first.id
            await messages.aclose()


@pytest.mark.parametrize("framing", ["chunked", "sized", "until close"])
async def test_every_framing_of_a_body_split_anywhere(framing):
    if framing == "chunked":
        body = b"".join(b"%x\r\n%s\r\n" % (len(EVENT), EVENT) for _ in range(3)) + b"0\r\n\r\n"
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    elif framing == "sized":
        body = EVENT * 3
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(body)
    else:
        body = EVENT * 3
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
    whole = head + body
    parts = [whole[i:i + 7] for i in range(0, len(whole), 7)]  # the head and the chunks' framing split too
    async with RawServer(parts) as base:
        reply, received = await body_of(base)
    assert reply.status_code == 200 and reply.headers["content-type"] == "text/event-stream"
    assert received == EVENT * 3


async def test_an_error_reply_and_a_request_body():
    error = b'{"success":false,"error":{"code":"rate_limit_exceeded"}}'
    server = RawServer(b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 3\r\n"
                       b"content-length: %d\r\n\r\n%s" % (len(error), error))
    async with server as base:
        async with client(base) as http:
            reply = await http.post("/tasks/t1/approve", json={"why": "ok"}, headers={"Idempotency-Key": "k1"})
    assert reply.status_code == 429 and reply.json()["error"]["code"] == "rate_limit_exceeded"
    assert reply.headers["retry-after"] == "3"
    request = server.requests[0]
    assert request.startswith(b"POST /tasks/t1/approve HTTP/1.1\r\n")
    assert b"\r\nIdempotency-Key: k1\r\n" in request and request.endswith(b'{"why":"ok"}')


async def test_failures_are_httpx_errors():
    port = free_port()
    with pytest.raises(httpx.ConnectError):  # nothing listens
        await body_of(f"http://127.0.0.1:{port}")
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    async with RawServer([head, b"%x\r\n%s\r\n" % (len(EVENT), EVENT)], hold=True) as base:
        with pytest.raises(httpx.ReadTimeout):  # the stream goes quiet past the read timeout
            await body_of(base)
    async with RawServer([head, b"%x\r\n%s" % (len(EVENT), EVENT[:10])]) as base:
        with pytest.raises(httpx.RemoteProtocolError):  # the server closes in the middle of a chunk
            await body_of(base)
    async with RawServer(b"") as base:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await body_of(base)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate with")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


async def test_tls_with_a_trusted_certificate_and_with_one_that_is_not(certificate):
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    chunks = [head, *(b"%x\r\n%s\r\n" % (len(EVENT), EVENT) for _ in range(40)), b"0\r\n\r\n"]
    trusting = ssl.create_default_context(cafile=cert)
    async with RawServer(chunks, tls=server_side) as base:
        reply, received = await body_of(base, ssl_context=trusting)
        assert reply.status_code == 200 and received == EVENT * 40
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await body_of(base, ssl_context=ssl.create_default_context())
