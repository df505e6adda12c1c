"""What one signed webhook delivery costs the receiver: instructions (callgrind) and CPU time.

    .venv/bin/python tests/perf/receiver_cost.py [--deliveries 2000] [--callgrind]

The receiver runs alone in a child process (under callgrind with --callgrind); this process sends the
deliveries as the simulator does (its lean HTTP/1.1 POST, 8 keep-alive connections at a time, each body a
different signed Casmo event). The child's cost with no delivery is subtracted, so what remains is the
per-delivery cost: parsing, checks, reply, and the (empty) delivery handler. Run it through the perf lock:
`flock /tmp/capwatch-perf.lock ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import time

SECRET = "whsec_cost"
WORKERS = 8


def serve() -> None:
    """The child: a receiver on a free port; prints it, serves until stdin closes, prints its CPU seconds."""
    from tui.live.webhooks import WebhookReceiver

    async def main() -> None:
        receiver = WebhookReceiver(port=0, secrets={"casmo": SECRET}, on_delivery=lambda *args: None)
        await receiver.start()
        print(receiver.port, flush=True)
        loop = asyncio.get_running_loop()
        before = time.process_time()
        await loop.run_in_executor(None, sys.stdin.read)
        print(json.dumps({"cpu": time.process_time() - before, "counts": receiver.counts}), flush=True)
        await receiver.stop()

    asyncio.run(main())


async def send(port: int, count: int) -> float:
    from tui.sim.http1 import Http1Connection

    bodies = []
    for n in range(count):
        body = json.dumps({"event": "extraction.completed", "timestamp": "2026-12-06T10:00:00.000Z",
                           "data": {"job_id": f"temp_1_{n:08d}", "filename": "invoice.pdf", "status": "completed",
                                    "result": {"total": 1234.5, "currency": "EUR"}}}).encode()
        bodies.append((body, hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()))
    queue = iter(bodies)

    async def worker() -> None:
        connection = Http1Connection(f"http://127.0.0.1:{port}")
        for body, signature in queue:
            status = await connection.post("/webhooks/casmo", body, {"Content-Type": "application/json",
                                                                     "X-Webhook-Signature": signature})
            assert status == 200, status
        connection.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return time.monotonic() - started


def run(deliveries: int, callgrind: bool) -> dict:
    argv = [sys.executable, __file__, "--serve"]
    out = None
    if callgrind:
        out = tempfile.mktemp(prefix="receiver-cost-", suffix=".callgrind")
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=yes", *argv]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    port = int(child.stdout.readline())
    seconds = asyncio.run(send(port, deliveries)) if deliveries else 0.0
    child.stdin.close()
    report = json.loads(child.stdout.readline())
    child.wait(timeout=300)
    report["seconds"] = seconds
    if out:
        with open(out) as profile:
            text = profile.read()
        os.unlink(out)
        report["instructions"] = int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--callgrind", action="store_true", help="count instructions (slow: ~a minute)")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    none = run(0, args.callgrind)
    some = run(args.deliveries, args.callgrind)
    n = args.deliveries
    print(f"{n} deliveries, {WORKERS} at a time: {some['seconds']:.2f} s to send; receiver CPU "
          f"{(some['cpu'] - none['cpu']) / n * 1e6:.0f} µs per delivery; counts {some['counts']}")
    if args.callgrind:
        print(f"instructions per delivery: {(some['instructions'] - none['instructions']) / n / 1e6:.3f} M "
              f"(callgrind, start-up and shut-down subtracted)")


if __name__ == "__main__":
    main()
