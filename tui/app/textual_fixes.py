"""A workaround for Textual (8.2) that matters to an app left running for days under a stream of updates. It was
found under load (tests/perf/run.py, load, with `gc.callbacks` and `gc.get_objects` probes) and changes nothing
but what Textual keeps alive (tests/test_textual_fixes.py fails without it).

`Strip.divide` and `Strip.crop_extend` made a reference cycle out of most lines drawn. The compositor divides
each line of each widget at the widgets' edges, and widgets crop and extend their lines to their width; when the
cut is the strip's own end (or the crop its whole width), Textual returns the strip itself (`[self]`, `self`) and
stores it in the strip's own cache, so the strip refers to itself and is freed only by the collector's cyclic
pass. capwatch repaints tables many times a second: thousands of such strips a second, each with its seven
caches. The replacements return the same without caching it (nothing is computed on that path, so the cache
saved nothing).

(Textual's Footer, the other source of cyclic garbage found then, is replaced by tui/app/widgets/keybar.py.)
"""

from __future__ import annotations

from textual.strip import Strip

_divide = Strip.divide
_crop_extend = Strip.crop_extend


def _divide_without_self_cycle(self: Strip, cuts):
    # Per line per frame: the cuts are filtered once, as Textual does, and handed on already filtered.
    cell_length = self.cell_length
    kept = [cut for cut in cuts if cut <= cell_length]
    if kept == [cell_length]:
        return [self]
    return _divide(self, kept)


def _crop_extend_without_self_cycle(self: Strip, start: int, end: int, style):
    if start == 0 and end == self.cell_length:  # Textual's path returns the strip itself here, and caches it
        return self
    return _crop_extend(self, start, end, style)


def install() -> None:
    """Apply the `Strip` fixes (once)."""
    if Strip.divide is not _divide_without_self_cycle:
        Strip.divide = _divide_without_self_cycle  # type: ignore[method-assign]
        Strip.crop_extend = _crop_extend_without_self_cycle  # type: ignore[method-assign]

