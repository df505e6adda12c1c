"""Frame pacing by output bandwidth (tui/app/pacing.py): the budget's arithmetic, the driver that meters what
it writes, and the app holding Store changes back while the budget is spent, then showing the latest state."""

from __future__ import annotations

from tests.helpers.pane_host import StubHub

from tui.app.app import CapwatchApp
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


async def _idle() -> None:
    return None
