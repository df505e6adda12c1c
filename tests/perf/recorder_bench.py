"""What recording into the event history costs the live layer, per event (issue 19: the writer must not slow the
monitor). A script, not a test:

    flock /tmp/capwatch-perf.lock .venv/bin/python -m tests.perf.recorder_bench [--seconds 4] [--rounds 7]

Records the simulator's SSE streams at 2,000 events/s (as run.py's ingest section does), then replays the same
bytes through the live layer (SSEReader, JSON, sanitize, normalize, Store.apply with a ChangeFeed) without a
recorder and with an event history's `append` as the Store's recorder (SQLite in a fresh file, the default
back end), interleaved, best of each. Per event:

  loop      CPU of the event loop's thread during the replay (`time.thread_time`): what the monitor pays
  wall      the replay's elapsed time (the loop's thread also waits for the GIL the writer holds)
  total     CPU of the whole process from the replay's start until the history has committed it all (the writer's
            thread and SQLite's included): what the machine pays

and each as a ratio on/off measured in the same run. Machines are noisy: the ratios are the figures to read.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import run  # noqa: E402  (tests/perf/run.py: the simulator, the recorded streams, the replay)


async def replay(recorded, capout, capx, directory: Path | None) -> tuple[int, float, float, float, int]:
    """One replay: (events, loop CPU, wall, total CPU, transactions), the history (when `directory`) flushed."""
    from tui.history import History

    history = None
    if directory is not None:
        # Batches of 200, as the writer takes them at 2,000 events/s (it writes every 0.1 s): a replay runs faster.
        history = History(str(directory / "history.sqlite3"), max_age=None, max_bytes=None, batch_size=200)
        history.start()
        await history.flush()  # nothing to write: the thread is up
        await asyncio.sleep(0.2)  # and has opened the file (its first wait)
    gc.collect()  # the previous replay's Store is cyclic garbage: collected here, not inside a timed replay
    process, loop, wall = time.process_time(), time.thread_time(), time.perf_counter()
    count = await run.replay_live(recorded, capout, capx, recorder=None if history is None else history.append)
    loop, wall = time.thread_time() - loop, time.perf_counter() - wall
    batches = 0
    if history is not None:
        await history.flush(timeout=120)
        batches = history.batches
        assert history.status()["written"] == history.status()["appended"], history.status()
    process = time.process_time() - process
    if history is not None:
        await history.close()
    return count, loop, wall, process, batches


async def bench(seconds: float, rounds: int) -> None:
    from tui.vendors.capout.client import CapOutClient
    from tui.vendors.capx.client import CapxClient

    scratch = Path(tempfile.mkdtemp(prefix="capwatch-recorder-"))
    try:
        with run.simulator(2000) as sim:
            run.log(f"recorder: recording {seconds:g} s of SSE at --rate 2000")
            recorded = await run.record_streams(sim.env, seconds)
            capout = CapOutClient(sim.env["CAPOUT_BASE_URL"], api_key=sim.env["CAPOUT_API_KEY"])
            capx = CapxClient(sim.env["CAPX_BASE_URL"], api_key=sim.env["CAPX_API_KEY"])
            off: list[tuple] = []
            on: list[tuple] = []
            for number in range(rounds):  # interleaved: both see the same machine noise
                off.append(await replay(recorded, capout, capx, None))
                directory = scratch / f"round-{number}"
                directory.mkdir()
                on.append(await replay(recorded, capout, capx, directory))
                shutil.rmtree(directory)
            await capout.aclose()
            await capx.aclose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    events = off[0][0]
    rows = []
    for label, index in (("loop CPU", 1), ("wall", 2), ("total CPU", 3)):
        best_off = min(r[index] for r in off) / events * 1e6
        best_on = min(r[index] for r in on) / events * 1e6
        rows.append((label, best_off, best_on))
    print(f"\n{events:,} events replayed ({len(recorded)} streams), best of {rounds} interleaved; "
          f"the history wrote them in {on[0][4]} transactions")
    print(f"{'per event':<12} {'off us':>8} {'on us':>8} {'recorder us':>12} {'on/off':>7}")
    for label, best_off, best_on in rows:
        print(f"{label:<12} {best_off:>8.2f} {best_on:>8.2f} {best_on - best_off:>12.2f} {best_on / best_off:>7.2f}")
    loop_on, total_on = min(r[1] for r in on), min(r[3] for r in on)
    print(f"at 2,000 events/s the recorder costs the loop's thread {(rows[0][2] - rows[0][1]) * 2000 / 1e4:.1f} % of "
          f"a core and the process {(rows[2][2] - rows[2][1]) * 2000 / 1e4:.1f} % (the writer's threads "
          f"{(total_on - loop_on) / events * 1e6:.1f} us an event)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="of SSE recorded from the simulator")
    parser.add_argument("--rounds", type=int, default=7, help="replays of each, interleaved")
    args = parser.parse_args()
    asyncio.run(bench(args.seconds, args.rounds))


if __name__ == "__main__":
    main()
