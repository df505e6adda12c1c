"""The simulator's shared machinery: it starts, serves the admin side, parses faults, frames SSE, sends
webhooks several at a time."""

import asyncio
import time

import httpx
import pytest

from tui.sim.core import Faults, Topic, Journal, sse_block


def test_sim_starts_and_serves_admin(sim):
    root = httpx.get(sim.root + "/").json()
    assert root["services"]["capx"].endswith("/capx/v1")
    journal = httpx.get(sim.root + "/_admin/journal").json()
    assert journal["requests"]["GET /"] == 1
    faults = httpx.post(sim.root + "/_admin/faults", json={"drop": 3, "hostile": True}).json()
    assert faults["drop_every"] == 3.0 and faults["hostile_strings"] is True
    bad = httpx.post(sim.root + "/_admin/faults", json={"nonsense": 1})
    assert bad.status_code == 400 and "nonsense" in bad.json()["error"]


def test_fault_spec_parses_every_switch():
    faults = Faults.parse("drop=5,close=4001,errors=0.1,throttle=0.05,latency=200,drip=20,framing,malformed=0.05,hostile")
    assert (faults.drop_every, faults.ws_close_code, faults.error_rate, faults.throttle_rate) == (5.0, 4001, 0.1, 0.05)
    assert (faults.latency_ms, faults.drip_ms, faults.malformed_rate) == (200, 20, 0.05)
    assert faults.hostile_framing and faults.hostile_strings
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.parse("explode")


@pytest.mark.parametrize("spec, words", [
    ("bogus=1", "unknown fault"),
    ("errors=", "errors takes a number: errors=N"),  # not every request failing (True as 1.0)
    ("drop", "drop takes a number: drop=N"),
    ("latency=abc", "latency takes a number, not 'abc'"),
])
def test_a_bad_fault_spec_is_one_line_naming_it_not_a_traceback(spec, words):
    import subprocess
    import sys

    # argparse checks --faults before the simulator starts: it exits 2 with a usage line and the reason
    done = subprocess.run([sys.executable, "-m", "tui", "sim", "--port", "0", "--faults", spec],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"argument --faults: {words}" in done.stderr


def test_topic_resumes_after_known_id_only():
    topic = Topic("t", "boot", Journal(), keep=3)
    events = [topic.publish({"n": n}) for n in range(5)]
    assert [e.payload["n"] for e in topic.since(events[2].id)] == [3, 4]
    assert topic.since(events[4].id) == []
    assert topic.since(events[0].id) is None  # fell out of the buffer
    assert topic.since("otherboot-3") is None  # from before a restart
    assert topic.since(None) is None


def test_sse_block_splits_multiline_data():
    assert sse_block("a\nb", event="x", event_id="1") == "event: x\nid: 1\ndata: a\ndata: b\n\n"


def test_sim_cli_starts_quickly(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "tui", "sim", "--port", str(port), "--seed", "1"])
    try:
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
                break
            except httpx.HTTPError:
                assert child.poll() is None, "capwatch sim exited"
                assert time.monotonic() - started < 10
                time.sleep(0.05)
        elapsed = time.monotonic() - started
        print(f"capwatch sim answered after {elapsed:.2f}s")
    finally:
        child.terminate()
        child.wait(10)


def test_a_webhook_url_that_is_not_http_is_refused_at_the_command_line():
    from tui.cli import main

    for url in ("ftp://example.com", "localhost:8080", "http://127.0.0.1:99999"):
        with pytest.raises(SystemExit) as exit_info:
            main(["sim", "--webhook-url", url])
        assert exit_info.value.code == 2


class HoldingReceiver:
    """A plain HTTP/1.1 server that holds each signed Capx delivery until three were in flight at once, then
    answers them all (the monitor's receiver answers each in the callback that completes it: it cannot hold)."""

    def __init__(self, secret: str):
        self.secret = secret
        self.in_flight = self.most = 0
        self.accepted = self.rejected = 0
        self.released = asyncio.Event()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from tui.vendors.casmo.client import verify_signature

        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if line)
                headers = {name.lower(): value for name, value in headers.items()}
                body = await reader.readexactly(int(headers["content-length"]))
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
                if self.most >= 3:
                    self.released.set()
                try:
                    await asyncio.wait_for(self.released.wait(), 10)
                finally:
                    self.in_flight -= 1
                if verify_signature(body, headers.get("x-webhook-signature"), self.secret):
                    self.accepted += 1
                else:
                    self.rejected += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"ok\":true}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def test_webhooks_go_out_several_at_a_time_and_each_is_counted(sim_factory):
    """A vendor's delivery fleet sends in parallel: a receiver that holds every request sees several at once."""
    from tui.sim.server import WebhookSender

    receiver = HoldingReceiver("whsec_capx_demo")
    await receiver.start()
    try:
        running = sim_factory(webhook_url=receiver.url)
        await asyncio.to_thread(httpx.post, f"{running.root}/_admin/step", params={"count": 200, "vendor": "capx"})
        deadline = time.monotonic() + 20
        while True:
            journal = (await asyncio.to_thread(httpx.get, f"{running.root}/_admin/journal")).json()
            if journal["webhooks_sent"] == journal["webhooks_queued"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert 3 <= receiver.most <= WebhookSender.DELIVERY_WORKERS
        assert journal["webhooks_sent"] == journal["webhooks_queued"] and not journal["webhooks_failed"]
        # Every delivery signed with the Capx secret, each one counted once.
        assert receiver.rejected == 0
        assert receiver.accepted == journal["webhooks_sent"]["capx"] > 20
    finally:
        await receiver.stop()
