"""Attack a running capwatch's webhook receiver as issue 17 did, while sending it valid signed deliveries.

    .venv/bin/python tests/perf/attack_receiver.py --url http://127.0.0.1:PORT --secret SECRET \\
        [--attack idle,half,crowd,flood,files] [--hold 20]

Each attack is held for `--hold` seconds while a valid Casmo delivery (`extraction.completed`, job id
`attack-<attack>-<n>`, a new connection each) goes out every half second; it prints the statuses and the
delivery times, then lets go and waits for the receiver to take deliveries again. Everything is bounded in
count and time and talks only to the given loopback address. The file-limit attack opens connections from 16
loopback addresses (each under the per-peer cap): run the monitor under a low limit (`ulimit -n 512`) to see
the limit reached. For watching the monitor's lights and `h` while it runs (README, Reliability).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository's root
from tests.helpers.attack import open_blocking  # noqa: E402

HALF_HEAD = b"POST /webhooks/casmo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Webhook-Sig"
ATTACKS = {  # name: (connections, source addresses, what each sends first)
    "idle": (300, 1, b""),
    "half": (300, 1, HALF_HEAD),
    "crowd": (1500, 1, b""),
    "files": (1000, 16, b""),
}


def header_flood(host: str, port: int, stop: threading.Event, report: dict) -> None:
    """One connection sending headers for ever (at most 256 MiB): how much went before the receiver cut it."""
    header = b"X-Flood: " + b"a" * 4000 + b"\r\n"
    sent = 0
    with socket.create_connection((host, port), timeout=5) as sock:
        try:
            sock.sendall(b"POST /webhooks/casmo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while not stop.is_set() and sent < 256 << 20:
                sock.sendall(header * 64)
                sent += len(header) * 64
            report["flood"] = f"not cut off after {sent / 2**20:.1f} MiB"
        except OSError as error:
            report["flood"] = f"cut off after {sent / 2**20:.1f} MiB ({type(error).__name__})"


def deliver(url: str, secret: str, job_id: str) -> tuple[str, float]:
    body = json.dumps({"event": "extraction.completed", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                                                    time.gmtime()),
                       "data": {"job_id": job_id, "filename": f"{job_id}.pdf", "status": "completed",
                                "result": {"attack": True}}}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    started = time.monotonic()
    try:
        reply = httpx.post(f"{url}/webhooks/casmo", content=body, headers={"X-Webhook-Signature": signature},
                           timeout=5)
        return str(reply.status_code), time.monotonic() - started
    except httpx.HTTPError as error:
        return type(error).__name__, time.monotonic() - started


def summary(results: list[tuple[str, float]]) -> str:
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    times = sorted(took * 1000 for _, took in results)
    if not times:
        return "no delivery"
    return (f"{len(results)} deliveries: {statuses}; time p50 {statistics.median(times):.0f} ms, "
            f"max {times[-1]:.0f} ms")


def run(url: str, secret: str, attack: str, hold: float) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    print(f"== {attack}: ", end="", flush=True)
    held: list[socket.socket] = []
    stop, report = threading.Event(), {}
    flooder = None
    if attack == "flood":
        flooder = threading.Thread(target=header_flood, args=(host, port, stop, report), daemon=True)
        flooder.start()
        print("one connection sending headers", flush=True)
    else:
        count, sources, send = ATTACKS[attack]
        addresses = [f"127.0.0.{2 + n}" for n in range(sources)] if sources > 1 else [host]
        held = open_blocking(port, count, addresses, send=send, host=host)
        print(f"{len(held)} connections opened from {sources} address(es)", flush=True)
    results = []
    deadline = time.monotonic() + hold
    n = 0
    while time.monotonic() < deadline:
        results.append(deliver(url, secret, f"attack-{attack}-{n}"))
        n += 1
        time.sleep(0.5)
    print(f"   during: {summary(results)}")
    stop.set()
    if flooder is not None:
        flooder.join(10)
        print(f"   flood: {report.get('flood', 'still running')}")
    closed = answered = 0
    for sock in held:
        try:
            sock.setblocking(False)
            data = sock.recv(1 << 16, socket.MSG_PEEK)
            closed += data == b""
            answered += data.startswith(b"HTTP/1.1 ")  # a 408 or a 503, the close after it
        except BlockingIOError:
            pass
        except OSError:  # reset: dropped to make room for a newcomer
            closed += 1
        sock.close()
    if held:
        print(f"   when the attack ended the receiver had closed {closed} of the {len(held)} and answered "
              f"{answered} (408 or 503) before closing; {len(held) - closed - answered} still open")
    after = [deliver(url, secret, f"attack-{attack}-after-{k}") for k in range(3)]
    print(f"   after: {summary(after)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the receiver, e.g. http://127.0.0.1:8799 (loopback only)")
    parser.add_argument("--secret", required=True, help="the Casmo webhook secret the monitor was given")
    parser.add_argument("--attack", default="idle,half,crowd,flood,files")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds each attack is held")
    args = parser.parse_args()
    if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost"):
        parser.error("attack only a receiver on 127.0.0.1")
    for attack in args.attack.split(","):
        run(args.url, args.secret, attack, args.hold)


if __name__ == "__main__":
    main()
