"""HTTP/1.1 connections sized to the fleet against one multiplexed HTTP/2 connection, for Capx streams (README,
"How capwatch spends a plan's minute"). Not part of run.py: it needs `pip install hypercorn h2`, which capwatch
does not depend on (uvicorn, the simulator's server, has no HTTP/2).

    python tests/perf/fleet_h2.py [--companies 300] [--rate 700] [--seconds 20]

Serves the simulator with hypercorn (HTTP/1.1, and h2c by prior knowledge) in a child process, then opens every
company's activity stream over HTTP/1.1 (a connection each) and over HTTP/2 (one connection), reads them with the
live layer's SSEReader, and prints events read per second, the client's CPU per event and RSS per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tui.live.sse import SSEReader  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
AUTH = {"Authorization": "Bearer capx_sk_test_demo"}
SERVE = """
import asyncio, sys
from hypercorn.asyncio import serve
from hypercorn.config import Config
from tui.sim.core import SimOptions
from tui.sim.server import create_app
port, companies, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
options = SimOptions(port=port, seed=17, rate=rate, capx_rate_limit=1_000_000, capx_companies=companies)
config = Config()
config.bind = [f"127.0.0.1:{port}"]
config.loglevel = "warning"
config.h2_max_concurrent_streams = 5000
asyncio.run(serve(create_app(options), config))
"""


def rss_kb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 1000


async def companies(base: str) -> list[str]:
    ids, cursor = [], None
    async with httpx.AsyncClient(headers=AUTH) as http:
        while True:
            page = (await http.get(f"{base}/companies", params={"limit": 100, **({"cursor": cursor} if cursor else {})}))
            body = page.json()
            ids += [c["id"] for c in body["data"]]
            cursor = body["meta"]["cursor"]
            if not cursor:
                return ids


async def measure(base: str, mode: str, seconds: float) -> str:
    ids = await companies(base)
    client = httpx.AsyncClient(headers=AUTH, limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
                               http1=mode == "h1", http2=mode == "h2", timeout=httpx.Timeout(10, read=60))
    counts, versions = [0], set()

    async def read(company_id: str) -> None:
        async with client.stream("GET", f"{base}/companies/{company_id}/activity", params={"stream": "true"},
                                 headers={"Accept": "text/event-stream"}) as reply:
            versions.add(reply.http_version)
            async for _ in SSEReader().events(reply):
                counts[0] += 1

    before = rss_kb()
    tasks = [asyncio.create_task(read(c)) for c in ids]
    await asyncio.sleep(5)  # every stream open
    grown = rss_kb() - before
    cpu, events, began = time.process_time(), counts[0], time.monotonic()
    await asyncio.sleep(seconds)
    cpu, events, elapsed = time.process_time() - cpu, counts[0] - events, time.monotonic() - began
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    return (f"{mode}: {len(ids)} streams over {sorted(versions)}: {events / elapsed:,.0f} events/s read, client CPU "
            f"{cpu / elapsed:.1%} of a core ({cpu / max(events, 1) * 1e6:,.0f} us an event), "
            f"RSS {grown / len(ids):.1f} KB a stream")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=300)
    parser.add_argument("--rate", type=float, default=700.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--one", choices=["h1", "h2"], help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(asyncio.run(measure(args.base, args.one, args.seconds)), flush=True)
        return
    from tui.sim.server import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port), str(args.companies), str(args.rate)],
                              cwd=str(ROOT))
    try:
        base = f"http://127.0.0.1:{port}/capx/v1"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("hypercorn did not start")
                time.sleep(0.1)
        for mode in ("h1", "h2", "h1", "h2"):  # interleaved: both see the same machine; each in a fresh process,
            # as a process reuses the memory an earlier run freed (its RSS would not grow)
            subprocess.run([sys.executable, __file__, "--one", mode, "--base", base, "--seconds", str(args.seconds)],
                           check=True)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
