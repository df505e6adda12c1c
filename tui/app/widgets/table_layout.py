"""How wide a LiveTable's columns are, with no Textual import: fixed columns as declared, auto columns sized
from a sample of their rows, then stretched or squeezed to the widget's width by priority (tui/app/widgets/
table_model.py `Column`): the lowest priority gives way first, down to its minimum, then is hidden; the highest
is never hidden. A line is a space, then each shown cell followed by a space; a hidden column has width 0."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len

from tui.app.widgets.table_model import Column, Row, cell_plain

AUTO_WIDTH_MAX = 48  # an auto-sized column never asks for more than this from its sample
AUTO_WIDTH_MIN = 8  # ... and is never squeezed below this (or its natural width, if smaller)


def minimum_width(column: Column, natural: int) -> int:
    """The narrowest a column gets before it is hidden."""
    if column.width is None:
        floor = min(natural, AUTO_WIDTH_MIN)
        return max(floor, column.min_width) if column.min_width is not None else floor
    return min(column.width, column.min_width) if column.min_width is not None else column.width


def layout_columns(columns: tuple[Column, ...], natural: list[int], width: int,
                   hidden: frozenset[str] = frozenset()) -> tuple[int, ...]:
    """Column widths for a widget `width` (0: the narrowest the table can be). Fixed columns as declared, auto
    columns at their natural width; the spare space goes to the auto columns that grow (all of them when none does),
    evenly. Too wide: columns of lower
    priority are hidden (width 0) while even the minimums do not fit (the lowest first, the rightmost of equals
    first; never one of the highest priority), then the shown ones shrink, lowest priority first (an id before
    the others of its priority, the rightmost of equals first), down to their minimum. The columns keyed in
    `hidden` are not shown at any width (a view that says what they say another way)."""
    count = len(columns)
    wants = [column.width if column.width is not None else natural[i] for i, column in enumerate(columns)]
    floors = [minimum_width(column, wants[i]) for i, column in enumerate(columns)]
    top = max((column.priority for column in columns if column.key not in hidden), default=0)
    shown = [column.key not in hidden for column in columns]
    for i in sorted(range(count), key=lambda i: (columns[i].priority, -i)):
        if not shown[i]:
            continue
        if line_width(tuple(floor if on else 0 for floor, on in zip(floors, shown))) <= width:
            break
        if columns[i].priority < top:
            shown[i] = False
    widths = [want if on else 0 for want, on in zip(wants, shown)]
    spare = width - line_width(tuple(widths))
    auto = [i for i, column in enumerate(columns) if column.width is None and shown[i]]
    auto = [i for i in auto if columns[i].grow] or auto
    if auto and spare > 0:
        share, extra = divmod(spare, len(auto))
        for n, i in enumerate(auto):
            widths[i] += share + (1 if n < extra else 0)
    elif spare < 0:
        for i in sorted(range(count), key=lambda i: (columns[i].priority, columns[i].cut != "start", -i)):
            if not shown[i]:
                continue
            cut = min(widths[i] - floors[i], -spare)
            widths[i] -= cut
            spare += cut
            if spare >= 0:
                break
    return tuple(max(1, w) if on else 0 for w, on in zip(widths, shown))


def line_width(widths: tuple[int, ...]) -> int:
    """The shown cells of a line with the space before each and the one after the last."""
    return sum(widths) + sum(1 for w in widths if w) + 1


class ColumnLayout:
    """The natural width of each column (its label, or what its rows were seen to need) and the widths laid
    out for a given width, kept until a column's natural width changes."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.natural = [self._label_width(column) for column in columns]
        self._widths: dict[int, tuple[int, ...]] = {}  # by widget width
        self.hidden: frozenset[str] = frozenset()  # keys of the columns not shown at any width

    def hide(self, keys: frozenset[str]) -> bool:
        """Show every column but those keyed in `keys`; whether that changed anything."""
        if keys == self.hidden:
            return False
        self.hidden = keys
        self._widths.clear()
        return True

    @staticmethod
    def _label_width(column: Column) -> int:
        return cell_len(column.label) + 2  # room for the sort arrow

    def reset(self) -> None:
        """Forget what rows needed (set_rows): back to the labels' widths."""
        self.natural = [self._label_width(column) for column in self.columns]
        self._widths.clear()

    def widen(self, rows: Iterable[Row]) -> None:
        """Grow auto columns to fit a sample of rows (they never shrink until the next reset)."""
        auto = [(i, column) for i, column in enumerate(self.columns) if column.width is None]
        if not auto:
            return
        natural = list(self.natural)
        for row in rows:
            for i, column in auto:
                natural[i] = max(natural[i], min(AUTO_WIDTH_MAX, cell_len(cell_plain(column, row))))
        if natural != self.natural:
            self.natural = natural
            self._widths.clear()

    def widths(self, width: int) -> tuple[int, ...]:
        """Each column's width in a widget `width` cells wide (0: the narrowest the table can be)."""
        widths = self._widths.get(width)
        if widths is None:
            if len(self._widths) > 8:  # a resize passes through many widths: keep the last few
                self._widths.clear()
            widths = self._widths[width] = layout_columns(self.columns, self.natural, width, self.hidden)
        return widths

    def column_at(self, x: int, width: int) -> Column | None:
        """The column under content offset `x` (a cell or the space before it)."""
        edge = 0
        for column, column_width in zip(self.columns, self.widths(width)):
            if not column_width:
                continue  # hidden
            edge += 1 + column_width  # the space before each cell, then the cell
            if x < edge + 1:
                return column
        return None
