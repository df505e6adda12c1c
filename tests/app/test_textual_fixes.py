"""Memory under a stream of repaints: the Textual workaround (tui/app/textual_fixes.py) and the tables' line
cache. Each test fails without its fix (Textual's LRUCache, for one, leaves its entries in cycles on `clear`).
The workaround patches private internals: on a Textual it was not checked against, or whose Strip has another
shape, it patches nothing and says so in one debug line."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
from importlib.metadata import version

import pytest
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


@pytest.fixture
def unpatched(monkeypatch, caplog):
    """Textual's own Strip methods for the test (an app built earlier in this process may have patched them),
    put back as they were after it; debug lines recorded."""
    monkeypatch.setattr(Strip, "divide", textual_fixes._divide)
    monkeypatch.setattr(Strip, "crop_extend", textual_fixes._crop_extend)
    caplog.set_level(logging.DEBUG, logger="capwatch.textual_fixes")
    return caplog


def test_the_installed_textual_version_is_read_without_importlib_metadata_and_is_one_checked(unpatched):
    major, minor, *_ = (int(part) for part in version("textual").split("."))
    assert textual_fixes.textual_version() == (major, minor)
    # importlib.metadata (which Textual's own `__version__` imports) would cost the start-up ~50 ms
    code = ("import sys; import tui.app.app; from tui.app import textual_fixes; assert textual_fixes.install(); "
            "print('importlib.metadata' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
    assert textual_fixes.install() is True
    assert Strip.divide is textual_fixes._divide_without_self_cycle
    assert Strip.crop_extend is textual_fixes._crop_extend_without_self_cycle
    assert textual_fixes.install() is True and not unpatched.records  # once; nothing to say


@pytest.mark.parametrize("found, reason", [((9, 0), "Textual 9.0 is not among the versions checked"),
                                           ((7, 9), "Textual 7.9 is not among the versions checked"),
                                           (None, "Textual's version is unknown")])
def test_an_unchecked_textual_version_is_left_unpatched_with_one_debug_line(unpatched, monkeypatch, found, reason):
    monkeypatch.setattr(textual_fixes, "textual_version", lambda: found)
    assert textual_fixes.install() is False
    assert Strip.divide is textual_fixes._divide and Strip.crop_extend is textual_fixes._crop_extend
    assert [(record.levelno, record.getMessage()) for record in unpatched.records] == [
        (logging.DEBUG, f"Textual's Strip left unpatched: {reason}")]
    strip = Strip([Segment("hello")], 5)  # and Textual's own methods still work
    assert strip.crop_extend(0, 7, None).text == "hello  " and [part.text for part in strip.divide([2, 5])] == ["he", "llo"]


def copying_divide(self, cuts):  # a Textual that answers a cut at the end with a copy, not the strip itself
    return [Strip(list(self), self.cell_length)]


def raising_crop_extend(self, start, end, style):
    raise AttributeError("_crop_extend_cache")


def crop_extend_with_other_parameters(self, start, end):
    return self


@pytest.mark.parametrize("name, replacement, reason", [
    ("_divide", copying_divide, "Strip.divide or Strip.crop_extend no longer answers with the strip itself"),
    ("_crop_extend", raising_crop_extend, "Strip's methods fail on a probe line (AttributeError)"),
    ("_crop_extend", crop_extend_with_other_parameters, "Strip.divide or Strip.crop_extend takes other parameters"),
])
def test_a_strip_of_another_shape_is_left_unpatched_with_one_debug_line(unpatched, monkeypatch, name, replacement,
                                                                         reason):
    monkeypatch.setattr(textual_fixes, name, replacement)
    monkeypatch.setattr(Strip, name.removeprefix("_"), replacement)
    assert textual_fixes.install() is False
    assert Strip.divide is not textual_fixes._divide_without_self_cycle
    assert Strip.crop_extend is not textual_fixes._crop_extend_without_self_cycle
    assert [record.getMessage() for record in unpatched.records] == [f"Textual's Strip left unpatched: {reason}"]
