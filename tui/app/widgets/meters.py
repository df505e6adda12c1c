"""Meters and rates for the Overview: a one-line gauge that adapts to its width, words for durations, and a
per-second event counter with a sparkline that scales from zero (Textual's Sparkline scales from the minimum,
so a steady 100 events/s would look like an idle stream)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from tui.text import sanitize

BARS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"
NO_VALUE = "—"


# ------------------------------------------------------------------------------------------------ words


def number(value: Any) -> float | None:
    """A finite number from a figure field (servers send numbers, numeric strings, or nothing)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def pick(figure: Any, *names: str) -> float | None:
    """The first of `names` that `figure` (a dict) holds as a number; None otherwise."""
    if not isinstance(figure, Mapping):
        return None
    for name in names:
        value = number(figure.get(name))
        if value is not None:
            return value
    return None


def count_words(value: float | None) -> str:
    """12,345 for whole numbers, 12.5 otherwise; the dash when there is nothing."""
    if value is None:
        return NO_VALUE
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def duration_words(hours: float | None) -> str:
    """A time to come in words: "~3h 20m", "~45m", "~2d 4h", "<1m"; the dash when unknown."""
    if hours is None or not math.isfinite(hours) or hours < 0:
        return NO_VALUE
    minutes = int(round(hours * 60))
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"~{minutes}m"
    if minutes < 48 * 60:
        return f"~{minutes // 60}h {minutes % 60:02d}m"
    days = minutes // (24 * 60)
    return f"~{days}d {minutes % (24 * 60) // 60}h"


def seconds_words(seconds: float | None) -> str:
    if seconds is None:
        return NO_VALUE
    seconds = max(0, int(math.ceil(seconds)))
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m {seconds % 60:02d}s"


def level_style(fraction: float | None) -> str:
    """Plenty left is green, getting low yellow, nearly out red."""
    if fraction is None:
        return "dim"
    if fraction > 0.5:
        return "green"
    if fraction > 0.2:
        return "yellow"
    return "bold red"


def bar_text(fraction: float | None, width: int) -> Text:
    """A horizontal gauge `width` cells wide, to an eighth of a cell; dim dots when the value is unknown."""
    if width <= 0:
        return Text("")
    if fraction is None:
        return Text("·" * width, style="dim")
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (EIGHTHS[part] if part else "")
    bar = Text(filled, style=level_style(fraction))
    bar.append("░" * (width - cell_len(filled)), style="grey37")
    return bar


def sparkline_text(values: Iterable[float], *, style: str = "cyan") -> Text:
    """One bar per value, scaled from zero to the largest; zero is a dim floor so an idle stream still shows."""
    values = list(values)
    peak = max(values, default=0)
    line = Text()
    for value in values:
        if value <= 0 or peak <= 0:
            line.append("▁", style="grey30")
        else:
            line.append(BARS[min(len(BARS) - 1, max(0, math.ceil(value / peak * len(BARS)) - 1))], style=style)
    return line


# ------------------------------------------------------------------------------------------------ meter


class Meter(Widget):
    """`label  ██████░░░░  value  detail` on one line when it fits, else the detail on a second line.
    The bar takes whatever width the words leave."""

    DEFAULT_CSS = """
    Meter {
        height: auto;
        width: 1fr;
    }
    """

    LABEL_WIDTH = 16
    MIN_BAR = 8

    def __init__(self, label: str, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.label = label
        self.fraction: float | None = None
        self.value = Text(NO_VALUE, style="dim")
        self.detail = Text("")
        self._shown: tuple | None = None

    def show(self, fraction: float | None, value: Text | str, detail: Text | str = "") -> None:
        """Set what the meter says; plain strings are sanitized (figures come from servers)."""
        value = value if isinstance(value, Text) else Text(sanitize(value, single_line=True))
        detail = detail if isinstance(detail, Text) else Text(sanitize(detail, single_line=True), style="dim")
        shown = (fraction, value.plain, detail.plain, str(value.style), str(detail.style))
        if shown == self._shown:
            return
        # Only a change of length can change the height (the detail moving to a second line).
        layout = self._shown is None or (len(shown[1]), len(shown[2])) != (len(self._shown[1]), len(self._shown[2]))
        self._shown = shown
        self.fraction, self.value, self.detail = fraction, value, detail
        self.refresh(layout=layout)

    @property
    def text(self) -> str:
        """Everything the meter says, as plain text (what tests and screen readers want)."""
        return f"{self.label} {self.value.plain} {self.detail.plain}".strip()

    def render(self) -> RenderableType:
        width = max(1, self.size.width or 80)
        label = Text(self.label.ljust(self.LABEL_WIDTH), style="bold")
        words = Text("  ").append_text(self.value)
        if self.detail.plain:
            words.append("  ").append_text(self.detail)
        bar_width = width - self.LABEL_WIDTH - words.cell_len
        if bar_width >= self.MIN_BAR:
            return label + bar_text(self.fraction, bar_width) + words
        # Narrow: label, bar and value on the first line; the detail under the bar.
        first_words = Text("  ").append_text(self.value)
        bar_width = max(self.MIN_BAR // 2, width - self.LABEL_WIDTH - first_words.cell_len)
        first = label + bar_text(self.fraction, bar_width) + first_words
        first.no_wrap, first.overflow = True, "ellipsis"
        if not self.detail.plain:
            return first
        second = Text(" " * self.LABEL_WIDTH).append_text(self.detail)
        second.no_wrap, second.overflow = True, "ellipsis"
        return Group(first, second)

    def get_content_height(self, container, viewport, width: int) -> int:
        words = 2 + self.value.cell_len + (2 + self.detail.cell_len if self.detail.plain else 0)
        fits = width - self.LABEL_WIDTH - words >= self.MIN_BAR
        return 1 if fits or not self.detail.plain else 2


# ------------------------------------------------------------------------------------------------ rates


class RateCounter:
    """Events per second per service over the last `window` seconds: one counter per service per second in a
    ring, so counting a batch of thousands of events is a dictionary increment each."""

    def __init__(self, window: int = 60):
        self.window = window
        self._counts: dict[str, list[int]] = {}
        self._stamps: dict[str, list[int]] = {}

    def clear(self) -> None:
        self._counts.clear()
        self._stamps.clear()

    def add(self, service: str, when: float, count: int = 1) -> None:
        second = int(when)
        counts = self._counts.get(service)
        if counts is None:
            counts = self._counts[service] = [0] * self.window
            self._stamps[service] = [-1] * self.window
        stamps = self._stamps[service]
        slot = second % self.window
        if stamps[slot] != second:
            if stamps[slot] > second:  # a straggler older than what the ring holds now
                return
            stamps[slot] = second
            counts[slot] = 0
        counts[slot] += count

    def series(self, service: str, now: float) -> list[int]:
        """Counts for each of the last `window` seconds, oldest first (the current, partial second last)."""
        counts, stamps = self._counts.get(service), self._stamps.get(service)
        end = int(now)
        if counts is None or stamps is None:
            return [0] * self.window
        window = self.window
        return [counts[s % window] if stamps[s % window] == s else 0 for s in range(end - window + 1, end + 1)]

    def rate(self, service: str, now: float, seconds: int = 5) -> float:
        """Mean events per second over the last `seconds` whole seconds (the running second is partial)."""
        series = self.series(service, now)
        recent = series[-seconds - 1:-1]
        return sum(recent) / len(recent) if recent else 0.0

    def services(self) -> list[str]:
        return list(self._counts)


def squeeze(series: list[int], width: int, end: int | None = None) -> list[float]:
    """Average a per-second series into `width` bars (60 seconds into 20 bars: 3 s a bar).

    With `end` (the epoch second the series ends at), bars cover fixed stretches of the clock and the newest bar
    is the last complete stretch (a partial one would read as a drop): the line only moves when a stretch ends,
    every 3 s rather than every frame, so the board is not repainted (nor sent over SSH) for nothing."""
    if width <= 0 or not series:
        return []
    if len(series) <= width:
        return [float(v) for v in series]
    step = len(series) / width
    if end is not None and step.is_integer():
        size, bars = int(step), []
        stop = len(series) - (end % size + 1)  # the running stretch is left out
        while len(bars) < width and stop > 0:
            chunk = series[max(0, stop - size):stop]
            bars.append(sum(chunk) / size)
            stop -= size
        return [0.0] * (width - len(bars)) + bars[::-1]
    bars = []
    for i in range(width):
        chunk = series[int(i * step):int((i + 1) * step)] or [0]
        bars.append(sum(chunk) / len(chunk))
    return bars
