"""How wide a LiveTable's columns are, with no Textual import: fixed columns as declared, auto columns sized
from a sample of their rows, then stretched or squeezed to the widget's width. A line is a space, then each cell
followed by a space."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len

from tui.app.widgets.table_model import Column, Row, cell_plain

AUTO_WIDTH_MAX = 48  # an auto-sized column never asks for more than this from its sample
AUTO_WIDTH_MIN = 8  # ... and is never squeezed below this (or its natural width, if smaller)


def layout_columns(columns: tuple[Column, ...], natural: list[int], width: int) -> tuple[int, ...]:
    """Column widths for a widget width: fixed columns as given; auto columns at their natural width, then
    given the spare space, or squeezed (not below AUTO_WIDTH_MIN) when the table is too wide."""
    widths = [column.width if column.width is not None else natural[i] for i, column in enumerate(columns)]
    auto = [i for i, column in enumerate(columns) if column.width is None]
    spare = width - (len(widths) + 1) - sum(widths)
    if auto and spare > 0:
        share, extra = divmod(spare, len(auto))
        for n, i in enumerate(auto):
            widths[i] += share + (1 if n < extra else 0)
    elif auto and spare < 0:
        for i in reversed(auto):  # squeeze the rightmost auto column first
            floor = min(widths[i], AUTO_WIDTH_MIN)
            cut = min(widths[i] - floor, -spare)
            widths[i] -= cut
            spare += cut
            if spare >= 0:
                break
    return tuple(max(1, w) for w in widths)


def line_width(widths: tuple[int, ...]) -> int:
    """The cells of a line with the space before each and the one after the last."""
    return sum(widths) + len(widths) + 1


class ColumnLayout:
    """The natural width of each column (its label, or what its rows were seen to need) and the widths laid
    out for a given width, kept until a column's natural width changes."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.natural = [self._label_width(column) for column in columns]
        self._widths: dict[int, tuple[int, ...]] = {}  # by widget width

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
            widths = self._widths[width] = layout_columns(self.columns, self.natural, width)
        return widths

    def column_at(self, x: int, width: int) -> Column | None:
        """The column under content offset `x` (a cell or the space before it)."""
        edge = 0
        for column, column_width in zip(self.columns, self.widths(width)):
            edge += 1 + column_width  # the space before each cell, then the cell
            if x < edge + 1:
                return column
        return None
