"""The simulator's lean HTTP/1.1 POST (tui/sim/http1.py), against real loopback servers: the replies a receiver
may give (a length, chunks, the connection's end, `Connection: close`) and the failures it must survive."""

import asyncio

import pytest

from tui.sim.http1 import DeliveryError, Http1Connection


class ScriptedServer:
    """Answers each request with the next of `replies` (raw bytes); records request heads and connections."""

    def __init__(self, replies: list[bytes], *, close_after_reply: bool = False):
        self.replies = list(replies)
        self.close_after_reply = close_after_reply
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hooks"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self.requests.append((head, await reader.readexactly(length)))
                writer.write(self.replies.pop(0))
                await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def test_a_post_sends_its_head_and_body_and_keeps_the_connection():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server = ScriptedServer([ok, b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"])
    connection = Http1Connection(await server.start())
    try:
        assert await connection.post("/webhooks/capx", b'{"a":1}', {"X-Webhook-Signature": "ab"}) == 200
        assert await connection.post("/webhooks/casmo", b"{}", {}) == 401
    finally:
        connection.close()
    head, body = server.requests[0]
    assert head.startswith(b"POST /hooks/webhooks/capx HTTP/1.1\r\n") and body == b'{"a":1}'
    assert b"\r\nX-Webhook-Signature: ab\r\n" in head and b"\r\nContent-Length: 7\r\n" in head
    assert server.requests[1][0].startswith(b"POST /hooks/webhooks/casmo ")
    assert server.connections == 1  # kept alive


async def post_each(server: ScriptedServer, *bodies: bytes) -> list[int]:
    """POST each body to `server` over one Http1Connection, in turn; the statuses."""
    connection = Http1Connection(await server.start())
    try:
        return [await connection.post("/a", body, {}) for body in bodies]
    finally:
        connection.close()
        server.server.close()


async def test_a_chunked_reply_is_read_to_its_end_and_the_connection_kept():
    chunked = b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    server = ScriptedServer([chunked, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    assert await post_each(server, b"1", b"2") == [202, 200]
    assert server.connections == 1


async def test_a_reply_without_a_length_ends_with_its_connection():
    server = ScriptedServer([b"HTTP/1.1 200 OK\r\n\r\nno length: ends with the connection",
                             b"HTTP/1.1 204 No Content\r\n\r\n"], close_after_reply=True)
    assert await post_each(server, b"1", b"2") == [200, 204]
    assert server.connections == 2


async def test_connection_close_is_honoured_and_the_next_post_reconnects():
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    server = ScriptedServer([close, close], close_after_reply=True)
    assert await post_each(server, b"1", b"2") == [200, 200]
    assert server.connections == 2


async def test_a_kept_connection_the_receiver_closed_while_idle_is_replaced_without_an_error():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"  # says keep-alive, then the server closes (idle timeout)
    server = ScriptedServer([ok, ok], close_after_reply=True)
    # The second post sees the close first, or meets it while sending: either way no error.
    assert await post_each(server, b"1", b"2") == [200, 200]
    assert server.connections == 2 and [body for _, body in server.requests] == [b"1", b"2"]


async def test_a_dropped_or_garbled_reply_is_a_delivery_error_and_the_next_post_starts_afresh():
    server = ScriptedServer([b"HTTP/1.1 200 OK\r\nContent-Len", b"SMTP ready\r\n\r\n",
                             b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], close_after_reply=True)
    connection = Http1Connection(await server.start(), timeout=5)
    try:
        with pytest.raises(DeliveryError):  # closed halfway through the head
            await connection.post("/a", b"1", {})
        with pytest.raises(DeliveryError):  # not HTTP
            await connection.post("/a", b"2", {})
        assert await connection.post("/a", b"3", {}) == 200
    finally:
        connection.close()
    assert server.connections == 3


async def test_nothing_listening_is_a_delivery_error():
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(DeliveryError):
        await Http1Connection(f"http://127.0.0.1:{port}").post("/a", b"1", {})


def test_only_http_urls_with_a_host_are_taken():
    for url in ("ftp://example.com", "http://", "example.com/hooks"):
        with pytest.raises(ValueError):
            Http1Connection(url)
    assert Http1Connection("https://example.com/base/").base_path == "/base"
