"""The Overview's activity board: per service, its state, a sparkline of events per second over the last minute,
and its entities counted by status (trouble first). It lays itself out for its width: inline rows when wide enough,
else each service's counts under its sparkline; it draws its lines itself (a Rich table cost ~7 ms per render under
load)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from tui.app.toolkit.cells import service_cell
from tui.app.widgets.meters import sparkline_text, squeeze

KIND_LABELS = {"indexing_jobs": "indexing"}
STATUS_STYLES = {
    "failed": "bold red", "error": "bold red", "rejected": "red", "stopped": "red", "inactive": "dim",
    "awaiting_approval": "bold yellow", "paused": "yellow",
    "completed": "green", "active": "green", "idle": "green",
    "processing": "cyan", "in_progress": "cyan", "working": "cyan", "running": "cyan", "open": "cyan",
}
STATE_LOOK = {  # a service's channels, worst first
    "failed": ("✖", "bold red"),
    "failing": ("◐", "yellow"),
    "stale": ("◔", "yellow"),
    "reconnecting": ("◐", "yellow"),
    "connecting": ("◌", "yellow"),
    "degraded": ("◒", "bold yellow"),  # the webhook receiver, under pressure (Casmo's results come through it)
    "live": ("●", "green"),
    "waiting": ("…", "dim"),
    "off": ("○", "dim"),
}
RATE_WINDOW = 60  # seconds of event rate the sparklines show
SPARK_WIDTH = 20  # bars: 3 s each
SPARK_WIDTH_NARROW = 12  # 5 s each, when the counts beside it would have less than COUNTS_ROOM (80 columns)
SPARK_WIDTH_COMPACT = 6  # 10 s each, on a short screen: a service's counts flow on beside it (`ActivityBoard.room`)
COUNTS_ROOM = 36  # cells the counts of a kind need beside the sparkline to keep to a line or two
STATUS_RANK = {"failed": 0, "error": 0, "rejected": 0, "awaiting_approval": 1}  # what needs a look comes first
STATUS_LABELS = {"awaiting_approval": "awaiting"}  # the colour says the rest; keeps a row on one line


@dataclass
class ServiceLine:
    """One service as the activity board shows it."""

    service: str
    state: str
    series: list[int] = field(default_factory=list)  # events in each of the last RATE_WINDOW seconds
    rate: float = 0.0
    counts: list[tuple[str, int, Counter]] = field(default_factory=list)  # (kind, total, by status)
    end: int = 0  # the epoch second the series ends at


def rate_words(rate: float) -> str:
    """Events per second in at most six cells: 0.4/s, 12/s, 2.1k/s."""
    if rate >= 1000:
        return f"{rate / 1000:.1f}k/s"
    return f"{rate:.0f}/s" if rate >= 10 else f"{rate:.1f}/s"


def counts_text(total: int, by_status: Counter) -> Text:
    """`12  1 failed · 8 completed · 3 processing`: trouble first, then by count, each in its colour."""
    text = Text(f"{total:,}", style="bold")
    ordered = sorted(by_status.items(), key=lambda item: (STATUS_RANK.get(item[0], 2), -item[1], item[0]))
    for n, (status, count) in enumerate(ordered):
        text.append("  " if n == 0 else " · ", style="dim")
        text.append(f"{count:,} {STATUS_LABELS.get(status, status)}", style=STATUS_STYLES.get(status, ""))
    return text


def count_pieces(counts: list[tuple[str, int, Counter]]) -> list[tuple[str, Text]]:
    """A service's counts as pieces that are never cut in two, each with the separator that goes before it:
    `documents 22`, `1 failed`, `18 completed`, ..., `agents 27`, ... (each kind as `counts_text` says it)."""
    pieces: list[tuple[str, Text]] = []
    for kind, total, by_status in counts:
        pieces.append(("   ", Text(KIND_LABELS.get(kind, kind), style="dim").append(f" {total:,}", style="bold")))
        ordered = sorted(by_status.items(), key=lambda item: (STATUS_RANK.get(item[0], 2), -item[1], item[0]))
        pieces.extend(("  " if n == 0 else " · ", Text(f"{count:,} {STATUS_LABELS.get(status, status)}",
                                                       style=STATUS_STYLES.get(status, "")))
                      for n, (status, count) in enumerate(ordered))
    return pieces


def flow(pieces: list[tuple[str, Text]], width: int) -> list[Text]:
    """Pieces onto lines of `width` cells, as many on a line as fit, each line padded to the width; a line starts
    with a piece, not its separator; a piece wider than a line is cut at its end."""
    lines: list[Text] = []
    line = Text()
    for separator, piece in pieces:
        if line.cell_len and line.cell_len + len(separator) + piece.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(separator, style="dim")
        line.append_text(piece)
    lines.append(line)
    for line in lines:
        line.truncate(width, overflow="ellipsis", pad=True)
    return lines


class ActivityBoard(Widget):
    """Per service: its state, a sparkline of events/s, and its entities counted by status. Lays itself out
    for its width: inline rows when wide enough, else each service's counts under its sparkline; and for the lines
    it is given (`set_room`: the Overview keeps its alerts' rows on a short screen), compact when the grid would
    take more: a line per service, its counts flowing on beside a shorter sparkline, wrapping only where they must
    (every count still said)."""

    DEFAULT_CSS = """
    ActivityBoard {
        height: auto;
    }
    """

    INLINE_WIDTH = 72

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.lines: list[ServiceLine] = []
        self.room: int | None = None  # the most lines the board should take (None: as many as the grid needs)
        self._shown_looks: list[tuple] | None = None  # `_looks` of what is shown: skip repaints that change nothing
        # ((width, room), lines, compact) of what is shown: `_laid_out`
        self._lines_cache: tuple[tuple[int, int | None], list[Text], bool] | None = None

    def show(self, lines: list[ServiceLine]) -> None:
        looks = self._looks(lines)
        if looks == self._shown_looks:
            return  # nothing visible moved (a quiet second): no repaint, no bytes
        # Only a change of height needs a layout (a kind appears, a service goes off, a counts cell wraps onto
        # another line): anything else repaints in place. A layout is of the whole screen, and counts that
        # merely grow a digit asked for one on most frames under load.
        width = self.size.width
        height = len(self._laid_out(width)) if width and self._shown_looks is not None else None
        self._shown_looks = looks
        self.lines = lines
        self._lines_cache = None
        # (Not shown, it has no width: showing its tab lays it out anyway.)
        self.refresh(layout=bool(width) and (height is None or len(self._laid_out(width)) != height))

    def set_room(self, lines: int | None) -> None:
        """The most lines the board should take: beyond them it is compact (the class's docstring)."""
        if lines != self.room:
            self.room = lines
            self._lines_cache = None
            self._shown_looks = None  # the sparkline's bars may change
            self.refresh(layout=True)

    @property
    def compact(self) -> bool:
        """Whether the board is laid out compact at its width, for the room it has."""
        return self._laid_out_at(self.size.width or 80)[1]

    def _looks(self, lines: list[ServiceLine]) -> list[tuple]:
        """What the board would show of `lines`: the bars at the current width, the rate as printed, counts."""
        spark_width = self._spark_width()
        return [(line.service, line.state, squeeze(line.series, spark_width, line.end), rate_words(line.rate),
                 line.counts) for line in lines]

    def _spark_width(self, width: int | None = None, compact: bool | None = None) -> int:
        """The sparkline's bars for the board's own width (not the screen's: at 200 columns the board is half of
        it): full, unless the counts beside it would be squeezed; under INLINE_WIDTH it has a line of its own;
        compact, SPARK_WIDTH_COMPACT."""
        width = width or self.size.width or 80
        if compact if compact is not None else self._laid_out_at(width)[1]:
            return SPARK_WIDTH_COMPACT
        if width < self.INLINE_WIDTH:
            return SPARK_WIDTH
        counts = width - (10 + SPARK_WIDTH + 7 + 9) - 3
        return SPARK_WIDTH if counts >= COUNTS_ROOM else SPARK_WIDTH_NARROW

    def render(self) -> RenderableType:
        return Group(*self._laid_out(self.size.width or 80))

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._laid_out(width))

    def _laid_out(self, width: int) -> list[Text]:
        return self._laid_out_at(width)[0]

    def _laid_out_at(self, width: int) -> tuple[list[Text], bool]:
        """The board's lines at `width` and whether they are compact, made once per change, width and room:
        Textual asks for the height twice and then for the lines on every layout, and a Rich table (what this once
        returned) costs ~7 ms per render under load (a fifth of showing the Overview tab)."""
        key = (width, self.room)
        if self._lines_cache is not None and self._lines_cache[0] == key:
            return self._lines_cache[1], self._lines_cache[2]
        lines, compact = self._lay_out(width, compact=False), False
        if self.room is not None and len(lines) > self.room:
            shorter = self._lay_out(width, compact=True)  # (in a narrow board the counts' room is narrow too)
            if len(shorter) < len(lines):
                lines, compact = shorter, True
        self._lines_cache = (key, lines, compact)
        return lines, compact

    def _lay_out(self, width: int, *, compact: bool) -> list[Text]:
        """The grid that a Rich table made: fixed columns, one space between them, the last column takes the rest
        and wraps; compact, the last column is a service's counts, every kind's, flowing on (`flow`)."""
        inline = width >= self.INLINE_WIDTH or compact
        spark_width = self._spark_width(width, compact)
        widths = [10, spark_width + 7, 9] if inline and not compact else [10, spark_width + 7] if compact else [11]
        last_width = max(1, width - sum(widths) - len(widths))
        console = self.app.console
        rows: list[tuple[list[Text], list[Text]]] = []  # (the fixed cells, the last column's lines)
        for line in self.lines:
            glyph, style = STATE_LOOK.get(line.state, ("?", ""))
            service_style = service_cell({"service": line.service}).style
            name = Text(glyph + " ", style=style).append(line.service, style=service_style)
            if line.state == "off":
                rate = Text("off", style="dim")
            else:
                rate = sparkline_text(squeeze(line.series, spark_width, line.end))
                rate.append(f" {rate_words(line.rate):>6}", style="bold" if line.rate else "dim")
            counts = line.counts if line.state != "off" else []
            if compact:
                rows.append(([name, rate], flow(count_pieces(counts), last_width)))
                continue
            if inline:
                first = counts[0] if counts else None
                cells = [[name, rate, *self._count_cells(first)]]
                cells.extend([Text(""), Text(""), *self._count_cells(extra)] for extra in counts[1:])
            else:
                cells = [[name, rate]]
                cells.extend([Text("  " + KIND_LABELS.get(kind, kind), style="dim"), counts_text(total, by_status)]
                             for kind, total, by_status in counts)
            rows.extend((fixed, last.wrap(console, last_width, justify="left", overflow="ellipsis"))
                        for *fixed, last in cells)
        gap = Text(" ")
        lines: list[Text] = []
        for fixed, wrapped in rows:
            cells = []
            for text, cell_width in zip(fixed, widths):
                text = text.copy()
                text.truncate(cell_width, overflow="ellipsis", pad=True)
                cells.append(text)
            for n, part in enumerate(wrapped or [Text(" " * last_width)]):
                columns = cells if n == 0 else [Text(" " * cell_width) for cell_width in widths]
                line = Text("").join([piece for cell in columns for piece in (cell, gap)] + [part])
                line.no_wrap = True  # already its width: Rich only copies it out
                lines.append(line)
        return lines

    @staticmethod
    def _count_cells(entry: tuple[str, int, Counter] | None) -> tuple[Text, Text]:
        if entry is None:
            return Text(""), Text("")
        kind, total, by_status = entry
        return Text(KIND_LABELS.get(kind, kind), style="dim"), counts_text(total, by_status)

    @property
    def text(self) -> str:
        """The board as plain text (for tests)."""
        parts = []
        for line in self.lines:
            parts.append(f"{line.service} {line.state} {line.rate:.1f}/s")
            for kind, total, by_status in line.counts:
                parts.append(f"{kind} {total} " + " ".join(f"{n} {s}" for s, n in sorted(by_status.items())))
        return "\n".join(parts)
