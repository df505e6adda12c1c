"""Frame pacing by output bandwidth (tui/app/pacing.py): the budget's arithmetic, the driver that meters what
it writes, and the app holding Store changes back while the budget is spent, then showing the latest state."""

from __future__ import annotations

import asyncio
import time

from tests.helpers.pane_host import StubHub
from tests.helpers.waiting import eventually

from tui.app.app import MAX_HOLD, CapwatchApp
from tui.app.pacing import OutputBudget, metered_driver
from tui.config import Config
from tui.live.events import Event


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_refills_at_its_rate_and_holds_one_second_at_most():
    clock = FakeClock()
    budget = OutputBudget(1000, clock=clock)
    assert budget.has_room()
    budget.spend(2500)  # one big frame: into debt
    assert not budget.has_room()
    clock.now += 1.4  # 1,400 bytes back: still 100 short
    assert not budget.has_room()
    clock.now += 0.2
    assert budget.has_room()
    clock.now += 60  # a quiet minute saves one second's worth, not a minute's
    budget.spend(1000)
    assert not budget.has_room() and budget.written == 3500


def test_zero_means_no_limit():
    budget = OutputBudget(0)
    budget.spend(10**9)
    assert budget.unlimited and budget.has_room() and budget.written == 10**9


def test_the_metered_driver_counts_utf8_bytes_against_the_apps_budget():
    written: list[str] = []

    class Base:
        def __init__(self, app):
            self._app = app

        def write(self, data: str) -> None:
            written.append(data)

    app = type("App", (), {"output_budget": OutputBudget(100)})()
    driver = metered_driver(Base, lambda owner: owner.output_budget)(app)
    driver.write("█ ok")  # one 3-byte character, a space, two letters
    assert written == ["█ ok"] and app.output_budget.written == 6


async def test_changes_wait_while_the_budget_is_spent_and_then_show_the_latest_state():
    hub = StubHub()
    hub.run = _idle
    hub.stop = _idle
    app = CapwatchApp(Config(max_output_kbps=1), hub=hub)
    async with app.run_test(size=(100, 30)) as pilot:
        app.output_budget.spend(50_000)  # far in debt: nothing may be drawn for a while
        frames = app.frames
        for status in ("processing", "completed"):
            hub.store.apply(Event(time=0, service="capout", type="document.status", id="doc_1", kind="documents",
                                  data={}, patch={"document_id": "doc_1", "status": status}))
        app.flush_changes()
        assert app.frames == frames  # held back, not lost
        app.output_budget.tokens = 1_000  # the link caught up
        app.flush_changes()
        await pilot.pause()
        assert app.frames == frames + 1
        assert hub.store.get("documents", "doc_1")["status"] == "completed"
        assert app.feed.take() is None  # both changes went out in that one frame


async def test_an_operator_at_work_keeps_the_budget_spent_and_changes_still_show_within_max_hold():
    """Keys are not paced, and their screens count against the budget: an operator exporting the Events tab again
    and again (a window, a path typed, a toast: more than the default 24 KB/s) kept it spent, and the tables showed
    nothing new for as long as that lasted (tests/system/test_team_tmux.py: 30 s). Held MAX_HOLD at most; and
    still paced: about one frame per MAX_HOLD, not twenty a second."""
    hub = StubHub()
    hub.run = _idle
    hub.stop = _idle
    app = CapwatchApp(Config(), hub=hub)  # the default budget, 24 KB/s
    async with app.run_test(size=(100, 30)):
        stop = asyncio.Event()

        async def operator() -> None:  # the keys' screens, written as the driver writes them: 60 KB/s
            while not stop.is_set():
                app.output_budget.spend(3_000)
                await asyncio.sleep(0.05)

        app.output_budget.spend(app.output_budget.rate)  # a window opened: the bucket's second spent
        typing = asyncio.create_task(operator())
        try:
            await asyncio.sleep(0.3)
            assert not app.output_budget.has_room()
            frames = app.frames
            held_for = MAX_HOLD + 1.0
            for n in range(round(held_for / 0.05)):  # a change every 50 ms, for longer than a hold
                hub.store.apply(Event(time=time.time(), service="capout", type="document.status", id=f"doc_{n}",
                                      kind="documents", data={}, patch={"document_id": f"doc_{n}",
                                                                         "status": "processing"}))
                await asyncio.sleep(0.05)
                assert not app.output_budget.has_room()
            shown = app.frames - frames
            changed = time.monotonic()
            hub.store.apply(Event(time=time.time(), service="capout", type="document.status", id="doc_last",
                                  kind="documents", data={}, patch={"document_id": "doc_last", "status": "completed"}))
            await eventually(lambda: app.frames > frames + shown,  # the next frame takes every change held
                             timeout=MAX_HOLD + 2.0, message="a change never reached the screen while the budget was "
                                                             "spent")
            assert time.monotonic() - changed <= MAX_HOLD + 1.0
            assert app.feed.take() is None  # the last change went out in it
            assert 1 <= shown <= held_for / MAX_HOLD + 1, f"{shown} frames in {held_for} s while the budget was spent"
        finally:
            stop.set()
            await typing


async def _idle() -> None:
    return None
