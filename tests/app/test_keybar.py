"""The key bar (tui/app/widgets/keybar.py): the keys of what has focus, the palette key at the right end, a click
presses a key, and a tab switch mounts and drops no widget (Textual's Footer rebuilt a widget per key, every
time the focus moved: most of the monitor's cyclic garbage under load)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os

from textual import events
from textual.widget import Widget

from tui.app.app import CapwatchApp
from tui.app.screens import HelpScreen
from tui.app.widgets.keybar import KeyBar
from tui.config import load_config
from tui.sim.core import SimOptions
from tests.helpers.waiting import eventually


def offline_app(*services: str) -> CapwatchApp:
    """No service on, or `services` on with the simulator's keys at a port nothing listens on."""
    env = {name: value for name, value in SimOptions(port=9).client_env().items() if name.startswith(services)}
    return CapwatchApp(load_config(argparse.Namespace(config=os.devnull), env=env if services else {}).config)


def bottom_line(app: CapwatchApp) -> str:
    return app.screen._compositor.render_strips()[-1].text


async def test_it_shows_the_focused_tabs_keys_and_the_palette_key_at_the_right_end():
    app = offline_app("CAPTAIN")  # the Query tab's keys are Captain's: shown only with Captain on
    async with app.run_test(size=(120, 40)) as pilot:
        await app.mount_panes()
        bar = app.query_one(KeyBar)
        await pilot.press("2")
        await pilot.pause()
        assert "/ Filter" in bar.text and "q Quit" in bar.text
        line = bottom_line(app)
        assert " / Filter " in line and line.endswith("▏^p palette ") and len(line) == 120
        await pilot.press("6")
        await pilot.pause()
        assert "^r Run" in bar.text and "Filter" not in bar.text
        assert " ^r Run " in bottom_line(app)


async def test_the_first_tabs_keys_show_from_the_start():
    app = offline_app("CAPOUT")  # a service on: the Overview lists alerts (a first run has no list, nor its keys)
    async with app.run_test(size=(120, 40)):
        bar = app.query_one(KeyBar)
        await eventually(lambda: "a Acknowledge" in bar.text, message=lambda: f"the key bar shows {bar.text!r}")
        assert "⏎ Open" in bar.text
        await eventually(app.started_up.is_set)  # the other panes are still being mounted: let them finish


async def test_more_keys_than_room_give_way_to_a_mark_and_the_palette_key_stays():
    app = offline_app()
    async with app.run_test(size=(60, 24)) as pilot:
        await app.mount_panes()
        await pilot.press("5")
        await pilot.pause()
        line = bottom_line(app)
        # The tab's own key first, then the table's; the app's (? Keys, q Quit) give way to the mark.
        assert len(line) == 60 and line.startswith(" / Filter  ⏎ Open ") and line.endswith("▏^p palette ")
        assert " … ? " in line and "q Quit" not in line
        await pilot.click(KeyBar, offset=(line.index("… ?"), 0))  # the mark is `?`: every key
        await eventually(lambda: isinstance(app.screen, HelpScreen), pilot=pilot)


async def test_clicking_a_key_presses_it():
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.mount_panes()
        await pilot.pause()
        x = bottom_line(app).index(" ? Keys") + 1
        await pilot.click(KeyBar, offset=(x, 0))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_a_tab_switch_makes_no_widget():
    """No widget mounted and dropped (left to the collector) or mounted and kept (a leak) by tab switches."""
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.mount_panes()
        for key in "2716":  # every kind of pane once: what they make on first show is not a tab switch's
            await pilot.press(key)
        await pilot.pause()
        gc.collect()
        alive = len([o for o in gc.get_objects() if isinstance(o, Widget)])
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds unreachable stays in gc.garbage to be looked at
        try:
            for _ in range(5):
                for key in "2716":  # each switch moves the focus, and the keys shown change
                    # As a terminal's input thread sends keys, not waiting for the screen to settle in between
                    # (as `pilot.press` does): an operator's keys often come faster than one frame.
                    key_event = events.Key(key, key)
                    key_event.set_sender(app)
                    app._driver.send_message(key_event)
                    await asyncio.sleep(0.01)
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            gc.collect()
            dropped = [o for o in gc.garbage if isinstance(o, Widget)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert not dropped, f"{len(dropped)} widgets made and dropped: {sorted({type(o).__name__ for o in dropped})}"
        gc.collect()
        assert len([o for o in gc.get_objects() if isinstance(o, Widget)]) == alive
