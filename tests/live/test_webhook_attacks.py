"""The webhook receiver against hostile peers, tried as an attacker would: real sockets on 127.0.0.1 against the
real receiver in this process (or, for the file limit, in a child process under a lowered RLIMIT_NOFILE). Every
loop is bounded in count and time. Through each attack a valid, signed delivery must be answered 2xx within 1 s,
and nothing forged is ever accepted."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.helpers.attack import open_blocking
from tests.helpers.waiting import eventually
from tui.live.webhooks import (
    IDLE_TIMEOUT, MAX_HEAD, MAX_PER_PEER, PRESSURE_WINDOW, REQUEST_TIMEOUT, WebhookReceiver,
)

SECRET = "whsec_attack_test"
HALF_HEAD = b"POST /webhooks/casmo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Webhook-Sig"


def sign(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture(autouse=True)
def enough_files():
    """1,500 connections cost 3,000 descriptors here (both ends live in this process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the file limit is {hard}; these attacks need {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
async def receiver():
    deliveries, pressure = [], []
    running = WebhookReceiver(port=0, secrets={"casmo": SECRET},
                              on_delivery=lambda service, payload, at: deliveries.append(payload),
                              on_pressure=lambda degraded, reason: pressure.append((degraded, reason)))
    await running.start()
    running.deliveries, running.pressure = deliveries, pressure
    yield running
    await running.stop()


class Attacker:
    """Raw sockets to the receiver, opened without blocking the event loop the receiver runs on."""

    def __init__(self, port: int):
        self.port = port
        self.sockets: list[socket.socket] = []

    async def open(self, count: int, *, sources: tuple[str, ...] = ("127.0.0.1",), send: bytes = b"",
                   within: float = 20.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + within
        opened = 0
        for n in range(count):
            if time.monotonic() > deadline:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.bind((sources[n % len(sources)], 0))
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", self.port)), 2)
                if send:
                    sock.send(send)
            except (OSError, TimeoutError):
                sock.close()
                continue
            self.sockets.append(sock)
            opened += 1
        return opened

    def closed_by_server(self) -> int:
        """How many of our sockets the receiver has closed (EOF or reset seen)."""
        closed = 0
        for sock in self.sockets:
            try:
                if sock.recv(65536, socket.MSG_PEEK) == b"":
                    closed += 1
                    continue
                data = sock.recv(65536)  # a reply (a 408 or a 503) before the close
                closed += data == b"" or b"HTTP/1.1" in data and self._eof_follows(sock)
            except BlockingIOError:
                pass
            except OSError:  # reset
                closed += 1
        return closed

    @staticmethod
    def _eof_follows(sock: socket.socket) -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


@pytest.fixture
def attacker(receiver):
    running = Attacker(receiver.port)
    yield running
    running.close()


async def timed_delivery(receiver, n: int) -> tuple[int | str, float]:
    """A valid signed delivery on a new connection: its status (or the error's name) and how long it took."""
    body = json.dumps({"event": "extraction.completed", "data": {"job_id": f"temp_1_attack_{n}"}}).encode()
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            reply = await http.post(f"{receiver.url}/webhooks/casmo", content=body,
                                    headers={"X-Webhook-Signature": sign(body)})
        return reply.status_code, time.monotonic() - started
    except httpx.HTTPError as error:
        return type(error).__name__, time.monotonic() - started


async def assert_deliveries_answered(receiver, count: int = 3) -> list[float]:
    seconds = []
    for n in range(count):
        status, took = await timed_delivery(receiver, n)
        assert status == 200 and took < 1.0, f"delivery {n}: {status} after {took:.2f} s"
        seconds.append(took)
    return seconds


@pytest.mark.parametrize("how", ["idle", "half-sent"])
async def test_slowloris_300_connections_held_and_deliveries_still_answered_within_a_second(receiver, attacker, how):
    """Before: 64 idle connections (uvicorn's limit_concurrency, which counts them) turned every valid delivery
    into a 503 for as long as they were held, and none of them was ever timed out."""
    opened = await attacker.open(300, send=HALF_HEAD if how == "half-sent" else b"")
    assert opened == 300
    seconds = await assert_deliveries_answered(receiver)
    assert len(receiver.deliveries) == 3
    # No peer holds more than its share: the oldest idle ones made room for the deliveries.
    assert receiver.counts["evicted"] >= 300 - MAX_PER_PEER
    # And the rest are timed out: idle ones before their first byte, half-sent ones before their head is whole.
    limit = IDLE_TIMEOUT if how == "idle" else REQUEST_TIMEOUT
    await eventually(lambda: attacker.closed_by_server() == 300, timeout=limit + 5,
                     message=lambda: f"{attacker.closed_by_server()} of 300 closed by the receiver")
    assert receiver.counts["timeouts"] >= 1 and receiver.connections == 0
    print(f"slowloris {how}: deliveries answered in {[round(s * 1000) for s in seconds]} ms, "
          f"{receiver.counts['evicted']} dropped, {receiver.counts['timeouts']} timed out")


async def test_sustained_refusals_are_reported_degraded_then_live_again_by_themselves(receiver, attacker):
    """Before: the simulator lost 54 webhooks while the monitor showed the receiver `live`. Held idle
    connections being dropped and timed out is reported as pressure (the hub's `degraded`), with what happened
    in words; a whole window without any (real timing: PRESSURE_WINDOW) reports the end of it."""
    await attacker.open(300)
    await eventually(lambda: receiver.pressure, timeout=5, message="no pressure reported")
    degraded, reason = receiver.pressure[0]
    assert degraded and "idle connections dropped" in reason, reason
    await assert_deliveries_answered(receiver, 1)
    attacker.close()
    ended = time.monotonic()
    await eventually(lambda: not receiver.pressure[-1][0], timeout=3 * PRESSURE_WINDOW + 5,
                     message=lambda: f"still degraded: {receiver.pressure[-1]}")
    assert receiver.pressure[-1] == (False, None)
    assert time.monotonic() - ended >= PRESSURE_WINDOW - 1  # not before a whole quiet window


async def test_the_hub_shows_the_receiver_degraded_with_its_counts_then_live_again():
    """Through the hub, as the header, `h` and `status` show it: the `webhooks` channel goes `degraded` with what
    happened, its counts in the health record, and `live` again once the attack has ended."""
    import argparse

    from tui.config import load_config
    from tui.live.events import ChannelState
    from tui.live.hub import LiveHub
    from tui.vendors import VENDORS

    env = {"CASMO_BASE_URL": "http://127.0.0.1:9", "CASMO_API_KEY": "cai_unused", "CASMO_WEBHOOK_SECRET": SECRET}
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile=None)
    hub = LiveHub(load_config(args, env=env).config, VENDORS)
    await hub.start()
    attacker = Attacker(hub.receiver.port)
    health = hub.store.health["webhooks"]
    try:
        assert health.state is ChannelState.LIVE
        await attacker.open(300)
        await eventually(lambda: health.state is ChannelState.DEGRADED, timeout=5, message=lambda: health.state)
        assert "idle connections dropped" in health.last_error
        status, took = await timed_delivery(hub.receiver, 0)
        assert status == 200 and took < 1.0
        counters = hub.store.snapshot()["health"]["webhooks"]["counters"]
        assert counters["evicted"] >= 300 - MAX_PER_PEER and counters["accepted"] == 1
        assert "idle dropped" in health.counters_text()
        attacker.close()
        await eventually(lambda: health.state is ChannelState.LIVE, timeout=3 * PRESSURE_WINDOW + 5,
                         message=lambda: f"{health.state}: {health.last_error}")
    finally:
        attacker.close()
        await hub.stop()


@pytest.mark.parametrize("sources", [1, 30], ids=["one-address", "30-addresses"])
async def test_a_crowd_of_1500_connections_and_deliveries_still_answered_within_a_second(receiver, attacker, sources):
    """Before: 2,000 connections, and every valid delivery got 503. From one address the per-peer cap holds
    them; from 30 (each under that cap) the receiver's own connection cap does."""
    opened = await attacker.open(1500, sources=tuple(f"127.0.0.{2 + n}" for n in range(sources)))
    assert opened == 1500
    seconds = await assert_deliveries_answered(receiver)
    assert receiver.connections <= receiver.capacity
    print(f"crowd from {sources} address(es): deliveries answered in {[round(s * 1000) for s in seconds]} ms, "
          f"{receiver.counts['evicted']} idle connections dropped, {receiver.counts['refused']} refused")


async def test_a_header_flood_on_one_connection_costs_a_few_mb_and_is_cut_off(receiver):
    """Before: the monitor's memory grew from 55 MB to 1,113 MB in 4 s, and 488 MB stayed after the close."""
    loop = asyncio.get_running_loop()
    await assert_deliveries_answered(receiver, 1)  # warm: the first delivery's imports are not the flood's cost
    before = rss_mb()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", receiver.port))
    header = b"X-Flood: " + b"a" * 4000 + b"\r\n"
    sent = 0
    cut_off = False
    started = time.monotonic()
    try:
        await loop.sock_sendall(sock, b"POST /webhooks/casmo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while sent < (256 << 20) and time.monotonic() - started < 20:  # at most 256 MiB, at most 20 s
            await asyncio.wait_for(loop.sock_sendall(sock, header * 64), 5)
            sent += len(header) * 64
    except (ConnectionError, BrokenPipeError):
        cut_off = True
    except TimeoutError:  # the receiver stopped reading: the kernel's buffers are full and nothing drains them
        pass
    grown = rss_mb() - before
    reply = b""
    try:
        reply = await asyncio.wait_for(loop.sock_recv(sock, 4096), 2)
    except (OSError, TimeoutError):
        pass
    sock.close()
    print(f"header flood: {sent / 2**20:.1f} MiB sent before the cut, RSS +{grown:.1f} MB, reply {reply[:40]!r}")
    assert cut_off or reply.startswith(b"HTTP/1.1 431"), "the flood was not cut off"
    assert sent < 16 << 20  # what the kernel's socket buffers take before the close is seen
    assert grown < 4, f"RSS grew {grown:.1f} MB"
    assert receiver.counts["head_too_large"] == 1 and receiver.connections == 0
    await assert_deliveries_answered(receiver, 1)


async def test_too_many_headers_is_431_and_closed(receiver):
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", receiver.port))
    head = b"POST /webhooks/casmo HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(200))
    assert len(head) < MAX_HEAD
    await loop.sock_sendall(sock, head + b"Content-Length: 2\r\n\r\n{}")
    reply = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
    assert reply.startswith(b"HTTP/1.1 431 ") and b"connection: close" in reply.lower()
    assert await asyncio.wait_for(loop.sock_recv(sock, 4096), 5) == b""
    sock.close()
    assert receiver.deliveries == []


# ------------------------------------------------------------------------------------------- the file limit

CHILD_FILE_LIMIT = 256


class ReceiverChild:
    """tests/helpers/receiver_child.py under a lowered RLIMIT_NOFILE."""

    def __init__(self, limit: int):
        def lower_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.process = subprocess.Popen([sys.executable, "-m", "tests.helpers.receiver_child", SECRET],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, preexec_fn=lower_limit)
        words = self.read_line(20).split()
        assert words[0] == "ready", words
        self.port = int(words[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def read_line(self, timeout: float = 10) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, "the child did not answer"
        return self.process.stdout.readline().strip()

    def ask(self, command: str, timeout: float = 10) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read_line(timeout)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def finish(self) -> str:
        """Quit; everything it wrote to stderr."""
        try:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            _, err = self.process.communicate(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            _, err = self.process.communicate()
        return err


def sync_delivery(url: str, n: int) -> tuple[int | str, float]:
    body = json.dumps({"event": "extraction.completed", "data": {"job_id": f"temp_1_files_{n}"}}).encode()
    started = time.monotonic()
    try:
        reply = httpx.post(f"{url}/webhooks/casmo", content=body, headers={"X-Webhook-Signature": sign(body)},
                           timeout=5)
        return reply.status_code, time.monotonic() - started
    except httpx.HTTPError as error:
        return type(error).__name__, time.monotonic() - started


def test_at_the_file_limit_one_line_outgoing_connections_work_and_it_recovers(sim):
    """Before: 503,805 tracebacks in 40 s (Python's accept loop out of files), a core at 99 %, and capwatch's own
    API calls failing with ConnectError until the connections closed. Here the receiver runs in a child whose
    file limit is 256; 600 connections from 12 addresses (each under the per-peer cap) try to take them all."""
    child = ReceiverChild(CHILD_FILE_LIMIT)
    attackers: list[socket.socket] = []
    try:
        probe = f"{sim.root}/_admin/journal"
        assert child.ask(f"probe {probe}") == "probe 200"
        cpu_before, wall_before = child.cpu_seconds(), time.monotonic()
        attackers = open_blocking(child.port, 600, [f"127.0.0.{2 + n}" for n in range(12)])
        assert len(attackers) > CHILD_FILE_LIMIT  # the kernel took them; the child cannot hold them all
        time.sleep(1.0)  # the attack goes on: nothing to wait for, this is the time it is given to spin or not
        cpu = (child.cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
        # capwatch's own outgoing connections still work, and so do deliveries.
        assert child.ask(f"probe {probe}") == "probe 200"
        for n in range(3):
            status, took = sync_delivery(child.url, n)
            assert status == 200 and took < 1.0, f"delivery {n}: {status} after {took:.2f} s"
        counts = json.loads(child.ask("counts"))
        assert counts["accepted"] == 3 and counts["evicted"] + counts["refused"] > 0
        assert cpu < 0.5, f"the child used {cpu:.0%} of a core under the attack"

        # Something else in the process takes every descriptor left: accept() itself fails (EMFILE).
        hogged = int(child.ask("hog").split()[1])
        assert hogged > 0
        more = open_blocking(child.port, 50, ["127.0.0.1"], within=5)
        attackers += more
        cpu_before, wall_before = child.cpu_seconds(), time.monotonic()
        time.sleep(1.5)
        cpu = (child.cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
        assert cpu < 0.5, f"the child used {cpu:.0%} of a core with accept() out of files"
        assert child.ask("release").startswith("release")

        # The attack ends: it recovers by itself.
        for sock in attackers:
            sock.close()
        attackers.clear()
        deadline = time.monotonic() + 10
        while True:
            status, took = sync_delivery(child.url, 10)
            if status == 200 or time.monotonic() > deadline:
                break
        assert status == 200
        assert child.ask(f"probe {probe}") == "probe 200"
    finally:
        for sock in attackers:
            sock.close()
        err = child.finish()
    print(f"child's stderr: {err!r}")
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 2, err[-3000:]
