"""A workaround for Textual (8.2) that matters to an app left running for days under a stream of updates. It was
found under load (tests/perf/run.py, load, with `gc.callbacks` and `gc.get_objects` probes) and changes nothing
but what Textual keeps alive (tests/app/test_textual_fixes.py fails without it).

`Strip.divide` and `Strip.crop_extend` made a reference cycle out of most lines drawn. The compositor divides
each line of each widget at the widgets' edges, and widgets crop and extend their lines to their width; when the
cut is the strip's own end (or the crop its whole width), Textual returns the strip itself (`[self]`, `self`) and
stores it in the strip's own cache, so the strip refers to itself and is freed only by the collector's cyclic
pass. capwatch repaints tables many times a second: thousands of such strips a second, each with its seven
caches. The replacements return the same without caching it (nothing is computed on that path, so the cache
saved nothing).

These are private internals, so `install` checks before it patches: a Textual version the fix was checked
against (TEXTUAL_CHECKED: the 8 series the app allows, `textual>=8.0,<9` in pyproject.toml; the tests pin 8.2.8),
and Textual's own methods still of the shape the replacements stand in for (their parameters, and the strip
itself as the answer on the two paths replaced). Otherwise nothing is patched and one debug line says why: the
app runs as Textual made it, with more work for the collector.

(Textual's Footer, the other source of cyclic garbage found then, is replaced by tui/app/widgets/keybar.py.)
"""

from __future__ import annotations

import inspect
import logging
import os
import re

import textual
from rich.segment import Segment
from textual.strip import Strip

log = logging.getLogger("capwatch.textual_fixes")

TEXTUAL_CHECKED = ((8, 0), (9, 0))  # from, up to (not included)

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


def textual_version() -> tuple[int, int] | None:
    """Textual's (major, minor), from its `__version__` when the module holds one, else from the name of its
    dist-info folder (`textual-8.2.8.dist-info`): Textual computes `__version__` on demand with
    importlib.metadata, which would cost the start-up ~50 ms of imports. None when neither says."""
    version = vars(textual).get("__version__")
    if not isinstance(version, str):
        package = os.path.dirname(os.path.dirname(os.path.abspath(textual.__file__)))
        try:
            names = [entry.name for entry in os.scandir(package)
                     if entry.name.startswith("textual-") and entry.name.endswith(".dist-info")]
        except OSError:
            names = []
        version = names[0].removeprefix("textual-") if len(names) == 1 else ""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else None


def _unfit(version: tuple[int, int] | None) -> str | None:
    """Why the fix must not be installed on this Textual, or None when it may."""
    low, high = TEXTUAL_CHECKED
    if version is None:
        return "Textual's version is unknown"
    if not low <= version < high:
        return f"Textual {version[0]}.{version[1]} is not among the versions checked"
    try:
        divide_parameters = list(inspect.signature(_divide).parameters)
        crop_parameters = list(inspect.signature(_crop_extend).parameters)
    except (TypeError, ValueError):
        return "Strip.divide or Strip.crop_extend cannot be inspected"
    if divide_parameters != ["self", "cuts"] or crop_parameters != ["self", "start", "end", "style"]:
        return "Strip.divide or Strip.crop_extend takes other parameters"
    try:
        probe = Strip([Segment("probe")], 5)
        shape = _divide(probe, [5]) == [probe] and _divide(probe, [5])[0] is probe
        shape = shape and _crop_extend(probe, 0, 5, None) is probe
    except Exception as error:  # whatever Textual changed, the app must start
        return f"Strip's methods fail on a probe line ({type(error).__name__})"
    if not shape:
        return "Strip.divide or Strip.crop_extend no longer answers with the strip itself"
    return None


def install() -> bool:
    """Apply the `Strip` fixes (once). False, with one debug line, when this Textual is not one they fit."""
    if Strip.divide is _divide_without_self_cycle:
        return True
    reason = _unfit(textual_version())
    if reason is not None:
        log.debug("Textual's Strip left unpatched: %s", reason)
        return False
    Strip.divide = _divide_without_self_cycle  # type: ignore[method-assign]
    Strip.crop_extend = _crop_extend_without_self_cycle  # type: ignore[method-assign]
    return True
