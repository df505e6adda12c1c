"""Team mode on a real PostgreSQL and the simulator: one `capwatch collect` (a child process), three followers (two
SourceHubs as the monitor runs it, and `capwatch tail --source` in a child process), and each piece killed and
restarted: the collector (kill -9; the followers say it went silent, at the real heartbeat timing), PostgreSQL (a
clean restart, then killed as in a crash). Each recovers, and
every follower ends with exactly the rows the database holds after its start: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from tests.helpers.collector import CollectorProcess, TailProcess, source_config
from tests.helpers.history import make_event
from tests.helpers.postgres import free_port
from tests.helpers.simproc import SimProcess
from tests.helpers.waiting import eventually
from tui.history import History
from tui.history.source import SILENT_AFTER, SOURCE, STARTED, SourceHub
from tui.live.events import APP_SERVICE, ChannelState
from tui.live.recording import is_timeline
from tui.vendors import VENDORS


class Follower:
    """A SourceHub as the monitor runs it, and the seqs it applied, in order."""

    def __init__(self, url: str):
        self.hub = SourceHub(source_config(url), VENDORS)
        self.seqs: list[int] = []
        self.hub.on_record = lambda record: self.seqs.append(record.seq)
        self.start_cursor: int | None = None

    async def start(self) -> None:
        await self.hub.start()
        await eventually(lambda: self.state() is ChannelState.LIVE, timeout=30,
                         message=lambda: f"the follower is {self.state()}")

    def state(self) -> ChannelState:
        return self.hub.store.health[SOURCE].state


def held_stale(follower: Follower) -> list[str]:
    """The channels a follower made stale itself (the collector unheard), not as recorded."""
    return [name for name, health in follower.hub.store.health.items() if health.state is ChannelState.STALE
            and (health.last_error or "").startswith("as the collector last told it")]


def canonical(line_or_dict) -> str:
    value = json.loads(line_or_dict) if isinstance(line_or_dict, str) else line_or_dict
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@pytest.mark.slow
async def test_followers_lose_and_double_nothing_across_collector_and_database_restarts(postgres_own_server):
    server = postgres_own_server
    url = server.url()
    reader = History(url)
    # The schema and one row before anything follows: `tail` starts after it, from now.
    seed = History(url)
    seed.append(make_event(0, 1.0))
    await seed.flush(timeout=30)
    await seed.close()
    tail = TailProcess(url).start()
    try:
        await eventually(lambda: any('"source"' in line and "channel.live" in line for line in tail.stdout_lines()),
                         timeout=30, message=lambda: f"tail --source never went live: {tail.stderr()[-2000:]}")

        webhook_port = free_port()
        followers = [Follower(url), Follower(url)]
        with SimProcess(seed=23, rate=20, extra=["--webhook-url", f"http://127.0.0.1:{webhook_port}"]) as sim:
            collector = CollectorProcess(sim.client_env(), history=url, webhook_port=webhook_port).start()
            try:
                await eventually(lambda: "webhooks on" in collector.stderr(), timeout=30,
                                 message=lambda: f"the collector did not start: {collector.stderr()[-2000:]}")
                for follower in followers:
                    await follower.start()

                async def progress(note: str, more: int = 40) -> None:
                    targets = [len(f.seqs) + more for f in followers]
                    await eventually(lambda: all(f.state() is ChannelState.LIVE and len(f.seqs) >= t
                                                 for f, t in zip(followers, targets)), timeout=60,
                                     message=lambda: f"{note}: followers at {[len(f.seqs) for f in followers]} of "
                                                     f"{targets}, {[f.state().value for f in followers]}; collector: "
                                                     f"{collector.stderr()[-1500:]}")

                await progress("at the start")
                # 1. The collector killed (kill -9): its channels' recorded health says nothing more, so the followers
                # say it is silent once its heartbeat is late; then it is started again.
                collector.kill()
                await eventually(lambda: all(f.state() is ChannelState.STALE for f in followers),
                                 timeout=SILENT_AFTER + 10,
                                 message=lambda: f"followers {[f.state().value for f in followers]} with no collector "
                                                 f"(silent for {followers[0].hub.silent_for()} s)")
                assert "no word from the collector" in (followers[0].hub.store.health[SOURCE].last_error or "")
                for follower in followers:  # and no light the dead collector recorded is green any more
                    assert not [name for name, health in follower.hub.store.health.items()
                                if health.state is ChannelState.LIVE], f"green with no collector: {follower.hub.store.health}"
                collector.start()
                await eventually(lambda: all(any(r for r in f.hub.store.timeline if r.type == STARTED)
                                             for f in followers))
                await progress("after the collector's restart")
                # 2. PostgreSQL restarted cleanly, then killed as in a crash.
                for mode in ("fast", "immediate"):
                    await asyncio.to_thread(server.stop, mode)
                    await eventually(lambda: all(f.state() is ChannelState.RECONNECTING for f in followers),
                                     message=lambda: f"followers {[f.state().value for f in followers]} with the "
                                                     f"database down ({mode})")
                    await asyncio.to_thread(server.start)
                    await progress(f"after PostgreSQL's {mode} restart")
                    # The lights held stale while the database was out of reach are as the collector says again.
                    await eventually(lambda: not any(map(held_stale, followers)),
                                     message=lambda: f"still held stale: {[held_stale(f) for f in followers]}")
                assert collector.terminate() == 0, collector.stderr()[-2000:]
                assert "stopped: history written" in collector.stderr()
            finally:
                collector.close()

            last = await reader.last_seq_committed()
            await eventually(lambda: all(f.hub.cursor == last for f in followers), timeout=30,
                             message=lambda: f"followers at {[f.hub.cursor for f in followers]}, "
                                             f"the database at {last}")
            for follower in followers:
                first = follower.seqs[0]
                expected = [r.seq for r in await reader.tail_after(first - 1, limit=10_000_000)]
                assert follower.seqs == expected, "a follower's rows differ from the database's"
                assert len(set(follower.seqs)) == len(follower.seqs)
                await follower.hub.stop()

            # `tail --source` printed every timeline row committed after its start (the seed's), once each.
            records = await reader.tail_after(1, limit=10_000_000)
            expected_lines = Counter(canonical(r.to_json_dict()) for r in records if is_timeline(r.event))
            await eventually(lambda: sum(1 for line in tail.stdout_lines() if f'"{SOURCE}"' not in line)
                             >= sum(expected_lines.values()), timeout=30,
                             message=lambda: f"tail printed {len(tail.stdout_lines())} lines of "
                                             f"{sum(expected_lines.values())}")
            assert tail.terminate() == 0
            printed = Counter(canonical(line) for line in tail.stdout_lines()
                              if not (json.loads(line)["service"] == APP_SERVICE and json.loads(line)["id"] == SOURCE))
            for line, count in expected_lines.items():  # every recorded row printed, once
                assert printed[line] == count, f"printed {printed[line]} times, recorded {count}: {line}"
            # Beyond them only the follower's own word on the lights it held stale while the collector was silent.
            extra = [json.loads(line) for line in printed - expected_lines]
            assert all(e["service"] == APP_SERVICE and e["type"].startswith("channel.") for e in extra), extra
    finally:
        tail.close()
        await reader.close()


async def test_a_follower_opens_no_vendor_connection_and_acts_only_with_its_own_key(postgres_url, sim):
    """Actions go to the vendor with the operator's own key (an integration built, none of its channels started);
    without one `vendor()` is None (the panes offer no action), while the Overview still shows the vendor the
    collector watches as on."""
    from tui.history.source import started_event

    writer = History(postgres_url)
    writer.append(started_event(["capx", "capout"], host="h", pid=1), "app")
    writer.append(make_event(1, 2.0), "stream")
    await writer.flush(timeout=30)
    await writer.close()
    env = {key: value for key, value in sim.options.client_env().items() if key.startswith("CAPX_")}
    keyed = SourceHub(source_config(postgres_url, **env), VENDORS)
    keyless = SourceHub(source_config(postgres_url), VENDORS)
    for hub in (keyed, keyless):
        await hub.start()
        await eventually(lambda: hub.store.health[SOURCE].state is ChannelState.LIVE and hub.applied == 2)
        assert hub.store.get("tasks", "e1") is not None
        assert hub.watched("capx") and hub.watched("capout") and not hub.watched("captain")
    assert keyless.vendor("capx") is None and not keyless.is_on("capx")
    capx = keyed.vendor("capx")
    assert capx is not None and capx.client.requests_sent == 0  # built for actions; nothing started
    assert not any(name.startswith("capx.") for name in keyed.store.health)
    companies = [company async for company in capx.client.iter_companies()]  # its own key works
    assert companies and capx.client.requests_sent >= 1
    for hub in (keyed, keyless):
        await hub.stop()


async def test_lights_held_while_the_database_is_out_of_reach_come_back_whatever_the_errors_said():
    """Seen by hand: PostgreSQL stopped, each reconnect failed with another error, and once the follower was back
    the collector's lights stayed stale (the release looked for the latest reason, the lights kept the first)."""
    hub = SourceHub(source_config("postgresql://capwatch@127.0.0.1:1/capwatch"), VENDORS)
    hub.store.set_state("capx.companies", ChannelState.LIVE)
    hub.store.set_state("webhooks", ChannelState.DEGRADED, "refusing connections")
    hub._state("reconnecting", "ConnectionRefusedError: [Errno 111]")
    assert {hub.store.health[n].state for n in ("capx.companies", "webhooks")} == {ChannelState.STALE}
    hub._state("reconnecting", "CannotConnectNowError: the database system is starting up")
    hub._state("live", None)
    assert hub.store.health["capx.companies"].state is ChannelState.LIVE
    assert hub.store.health["webhooks"].state is ChannelState.DEGRADED
    await hub.stop()
