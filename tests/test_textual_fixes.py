"""The two Textual workarounds in tui/app/textual_fixes.py: each test fails without its fix."""

from __future__ import annotations

import argparse
import gc
import os

from rich.segment import Segment
from textual.strip import Strip

from tui.app import textual_fixes
from tui.app.app import CapwatchApp
from tui.config import load_config


def test_dividing_a_line_at_its_end_leaves_no_reference_cycle():
    textual_fixes.install()
    gc.collect()
    gc.disable()  # from here only a reference count can free the strip
    try:
        strip = Strip([Segment("hello "), Segment("world")], 11)
        assert strip.divide([11]) == [strip]
        assert [part.text for part in strip.divide([6, 11])] == ["hello ", "world"]  # real cuts: Textual's own
        del strip
        assert gc.collect() == 0, "the strip was left in a reference cycle"
    finally:
        gc.enable()


async def test_the_footer_lets_go_of_the_keys_it_no_longer_shows():
    config = load_config(argparse.Namespace(config=os.devnull), env={}).config
    app = CapwatchApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.mount_panes()
        for _ in range(10):  # each tab switch moves the focus, and the footer rebuilds its keys
            for key in ("2", "7", "1"):
                await pilot.press(key)
        await pilot.pause()
        gc.collect()
        kept = [o for o in gc.get_objects() if type(o).__name__ == "FooterKey" and o.parent is None]
        shown = [o for o in gc.get_objects() if type(o).__name__ == "FooterKey" and o.parent is not None]
        assert shown, "the footer shows keys"
        assert len(kept) == 0, f"{len(kept)} keys the footer no longer shows are still alive"
