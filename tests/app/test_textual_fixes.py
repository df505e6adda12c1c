"""Memory under a stream of repaints: the Textual workaround (tui/app/textual_fixes.py) and the tables' line
cache. Each test fails without its fix (Textual's LRUCache, for one, leaves its entries in cycles on `clear`)."""

from __future__ import annotations

import gc

from rich.segment import Segment
from textual.strip import Strip

from tui.app import textual_fixes


def test_dividing_or_cropping_a_line_at_its_ends_leaves_no_reference_cycle():
    textual_fixes.install()
    gc.collect()
    gc.disable()  # from here only a reference count can free the strip
    try:
        strip = Strip([Segment("hello "), Segment("world")], 11)
        assert strip.divide([11]) == [strip]
        assert [part.text for part in strip.divide([6, 11])] == ["hello ", "world"]  # real cuts: Textual's own
        assert strip.crop_extend(0, 11, None) is strip
        assert strip.crop_extend(0, 13, None).text == "hello world  "
        del strip
        assert gc.collect() == 0, "the strip was left in a reference cycle"
    finally:
        gc.enable()


def test_table_line_cache_keeps_the_recent_lines_and_clears_without_cycles():
    from tui.app.widgets.table import LineCache

    cache = LineCache(2)
    first, second, third = (Strip([Segment(text)], len(text)) for text in ("one", "two", "six"))
    cache[("a",)], cache[("b",)] = first, second
    assert cache.get(("a",)) is first  # now the most recently used
    cache[("c",)] = third  # beyond its size: "b", the least recently used, goes
    assert cache.get(("b",)) is None and cache.get(("a",)) is first and cache.get(("c",)) is third
    del first, second, third
    gc.collect()
    gc.disable()
    try:
        cache.clear()  # a table clears its lines every second: they must go by reference count
        assert gc.collect() == 0
    finally:
        gc.enable()
