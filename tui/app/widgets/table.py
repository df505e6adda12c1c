"""LiveTable: a line-API table over a mapping of rows, fast at 100k rows.

Textual's DataTable builds every row up front (11-14 s for 100k rows on these machines). LiveTable keeps the rows as
given (id -> dict) plus an ordered list of ids (the filtered, sorted view), and renders only the lines on
screen. Rendered rows are cached per (row id, row version, column widths, style), so scrolling and repaints
of unchanged rows cost a dictionary lookup.

Ordering: unsorted, the order is insertion order (a sequence number per row). Sorted, each row has a key that
is comparable whatever the column holds: None, numbers and text are ranked so they never meet in a comparison
(see `_orderable`). A changed row is moved with binary searches instead of a full re-sort, and a descending sort
is the ascending list read backwards, so reversing costs nothing.

Every cell is a `rich.text.Text` built from `tui.text.sanitize(..., single_line=True)`: server strings are
never parsed as markup and never reach the terminal with escape sequences in them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from math import isnan
from operator import methodcaller
from time import perf_counter
from typing import Any, ClassVar, Literal, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from tui.text import sanitize

CellValue = str | Text | None
Row = dict[str, Any]

AUTO_WIDTH_MAX = 48  # an auto-sized column never asks for more than this from its sample
AUTO_WIDTH_MIN = 8  # ... and is never squeezed below this (or its natural width, if smaller)
WIDTH_SAMPLE = 200  # rows looked at to size auto columns on set_rows
UPDATE_SAMPLE = 32  # changed rows looked at per update_rows call to widen auto columns
BULK_FRACTION = 8  # a batch changing more than 1/8 of the rows is applied with one full re-sort
WARM_AFTER_ROWS = 5_000  # above this many rows, search strings are built in idle slices after set_rows
WARM_SLICE_SECONDS = 0.008
BROKEN_CELL = "?"  # shown when a column's render function raises on a row


@dataclass(frozen=True)
class Column:
    """One column. `render(row)` gives the cell (str, Text or None); by default it is `row[key]` as text.
    `sort_key(row)` gives the value to sort on; by default the raw `row[key]`, else the rendered text."""

    key: str
    label: str
    width: int | None = None
    align: Literal["left", "right"] = "left"
    render: Callable[[Row], CellValue] | None = None
    sort_key: Callable[[Row], Any] | None = None


def _orderable(value: Any) -> tuple[int, Any]:
    """Rank a value so that any two ranked values compare: numbers < text < tuples < None."""
    if value is None:
        return (9, 0)
    if isinstance(value, (int, float)):
        return (9, 0) if value != value else (0, value)  # NaN sorts with None, last
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, tuple):
        return (2, tuple(_orderable(item) for item in value))
    return (1, str(value).casefold())


def _rank_all(values: list[Any]) -> tuple[int | None, list[Any]]:
    """Rank a whole column at once. When every value has the same kind (the usual case) return that rank and
    the bare comparable values; otherwise rank None and a (rank, value) pair per value."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return 1, list(map(str.casefold, values))
    if kinds <= {int, float, bool} and not (float in kinds and any(map(isnan, values))):
        return 0, values
    return None, list(map(_orderable, values))


class LineCache:
    """Rendered lines by key; beyond `size`, the least recently used is dropped. An OrderedDict rather than
    Textual's LRUCache: clearing that one leaves its linked entries in reference cycles, so every line it held
    waited for a full collection, and a table clears its lines every second (ages) and on style changes."""

    def __init__(self, size: int):
        self._lines: OrderedDict[tuple, Strip] = OrderedDict()
        self._size = size

    def get(self, key: tuple) -> Strip | None:
        strip = self._lines.get(key)
        if strip is not None:
            self._lines.move_to_end(key)
        return strip

    def __setitem__(self, key: tuple, strip: Strip) -> None:
        self._lines[key] = strip
        if len(self._lines) > self._size:
            self._lines.popitem(last=False)

    def clear(self) -> None:
        self._lines.clear()


class _PassStyles(NamedTuple):
    size: Size  # the widget's, when these were worked out
    width: int  # the content's width
    base: Style
    header: Style
    odd: Style  # every other row
    cursor: Style  # the cursor's row
    cursor_partial: Style  # the cursor's own part, laid over styled cells


class LiveTable(ScrollView, can_focus=True):
    """A virtual table: a fixed header line, then one line per row of the filtered, sorted view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_row", "Open"),
        Binding("y", "copy_id", "Copy id"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        Binding("up", "cursor_up", show=False),
        Binding("down", "cursor_down", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("pagedown", "page_down", show=False),
        Binding("home", "cursor_home", show=False),
        Binding("end", "cursor_end", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"livetable--header", "livetable--cursor", "livetable--row-odd"}

    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        color: $foreground;
        & > .livetable--header { background: $panel; text-style: bold; }
        & > .livetable--row-odd { background: $surface-lighten-1 40%; }
        & > .livetable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .livetable--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class RowSelected(Message):
        """Enter (or a click on the cursor row) on a row."""

        def __init__(self, table: LiveTable, row_id: str, row: Row) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id
            self.row = row

        @property
        def control(self) -> LiveTable:
            return self.table

    class CursorMoved(Message):
        """The cursor is on another row (or on none). Holding a key folds these into one."""

        def __init__(self, table: LiveTable, row_id: str | None) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

        @property
        def control(self) -> LiveTable:
            return self.table

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LiveTable.CursorMoved) and message.table is self.table

    class CopyRequested(Message):
        """`y` on a row: its id was sent to the clipboard."""

        def __init__(self, table: LiveTable, row_id: str) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

        @property
        def control(self) -> LiveTable:
            return self.table

    def __init__(
        self,
        columns: Iterable[Column],
        *,
        follow: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.columns: tuple[Column, ...] = tuple(columns)
        self.follow = follow
        """Move the cursor to (and show) the newest row each time rows are added."""

        self._rows: dict[str, Row] = {}
        self._seq: dict[str, int] = {}  # insertion order: the unsorted order
        self._next_seq = 0
        self._versions: dict[str, int] = {}  # rows changed since set_rows; others have _base_version
        self._base_version = 0
        self._generation = 0
        self._search: dict[str, str] = {}  # lowercase text of all cells, built once per row version
        self._keys: dict[str, Any] = {}  # sort keys for the current sort column

        self._order: list[str] = []  # every id, ascending by key
        self._view: list[str] = self._order  # the ids that match the filter, same order
        self._filter = ""
        self._sort_column: Column | None = None
        self._sort_value_of: Callable[[Row], Any] | None = None
        # Sort keys are bare values when every row's value has the same rank (see _orderable), which sorts
        # several times faster than tuples and allocates nothing; else (rank, value) pairs.
        self._key_rank: int | None = None
        self._reverse = False
        self._cursor_id: str | None = None

        self._natural = [self._header_width(column) for column in self.columns]
        self._widths_cache: tuple[tuple[int, tuple[int, ...]], tuple[int, ...]] | None = None
        self._strips = LineCache(256)
        self._pass_styles: _PassStyles | None = None  # this render pass's styles (render_lines)
        self._warm_ids: Iterator[str] | None = None  # rows whose search strings idle slices still build
        self._warm_timer: Timer | None = None

    # ------------------------------------------------------------------------------------------ data

    @property
    def row_count(self) -> int:
        """Rows in the view (after the filter)."""
        return len(self._view)

    @property
    def total_count(self) -> int:
        return len(self._rows)

    @property
    def row_ids(self) -> list[str]:
        """The view's row ids, top to bottom (a copy: O(rows))."""
        return self._view[::-1] if self._reverse else list(self._view)

    @property
    def cursor_row_id(self) -> str | None:
        return self._cursor_id

    @property
    def cursor_index(self) -> int | None:
        return None if self._cursor_id is None else self._position(self._cursor_id)

    def get_row(self, row_id: str) -> Row | None:
        return self._rows.get(row_id)

    def set_rows(self, rows: Mapping[str, Row]) -> None:
        """Replace every row. The cursor stays on its row id if that row is still there."""
        anchor = self._anchor()
        self._rows = dict(rows)
        self._seq = dict(zip(self._rows, range(len(self._rows))))
        self._next_seq = len(self._rows)
        self._generation += 1
        self._base_version = self._generation
        self._versions = {}
        self._search = {}
        self._keys = {}
        self._strips.clear()
        self._natural = [self._header_width(column) for column in self.columns]
        self._widen(islice(self._rows.values(), WIDTH_SAMPLE))
        self._rebuild_order()
        self._after_change(anchor, newest=next(reversed(self._rows), None) if self.follow else None)
        self._start_warming()

    def update_rows(self, changed: Mapping[str, Row | None]) -> None:
        """Insert, replace (a dict) or remove (None) rows; moves only the changed rows in the view."""
        if not changed:
            return
        anchor = self._anchor()
        self._generation += 1
        newest: str | None = None
        if len(changed) > max(64, len(self._rows) // BULK_FRACTION):
            newest = self._store_all(changed)
            self._rebuild_order()
        else:
            for row_id, row in changed.items():
                if row is not None and row_id not in self._rows:
                    newest = row_id
                self._move(row_id, row)
        self._widen(row for row in islice(changed.values(), UPDATE_SAMPLE) if row is not None)
        self._after_change(anchor, newest=newest if self.follow else None)

    def _store(self, row_id: str, row: Row | None) -> None:
        """Record a row change in the dictionaries (not in the ordered lists)."""
        self._search.pop(row_id, None)
        if row is None:
            if self._rows.pop(row_id, None) is not None:
                del self._seq[row_id]
                self._versions.pop(row_id, None)
                self._keys.pop(row_id, None)
            return
        if row_id not in self._rows:
            self._seq[row_id] = self._next_seq
            self._next_seq += 1
        self._rows[row_id] = row
        self._versions[row_id] = self._generation
        if self._sort_column is not None:
            key = self._sort_key_for(row)  # first: it may replace self._keys
            self._keys[row_id] = key

    def _store_all(self, changed: Mapping[str, Row | None]) -> str | None:
        """`_store` for a bulk update (the order is rebuilt after it), a dictionary at a time rather than a row at
        a time: a hidden Events tab catches up on thousands of rows in one call. Returns the last new row id."""
        rows, seq, versions, keys = self._rows, self._seq, self._versions, self._keys
        added: list[str] = []
        kept: dict[str, Row] = {}
        for row_id, row in changed.items():
            if row is not None:
                kept[row_id] = row
                if row_id not in rows:
                    added.append(row_id)
            elif rows.pop(row_id, None) is not None:
                del seq[row_id]
                versions.pop(row_id, None)
                keys.pop(row_id, None)
        rows.update(kept)  # new ids go last, in the batch's order, as `_store` one by one would put them
        seq.update(zip(added, range(self._next_seq, self._next_seq + len(added))))
        self._next_seq += len(added)
        versions.update(dict.fromkeys(kept, self._generation))
        if self._search:
            for row_id in changed:
                self._search.pop(row_id, None)
        return added[-1] if added else None

    def _move(self, row_id: str, row: Row | None) -> None:
        """Apply one row change and put the row where it now belongs in the order and the view."""
        existed = row_id in self._rows
        filtered = self._view is not self._order
        if existed:  # take the row out while its old key still finds it
            old_key = self._key_of(row_id)
            if row is None or self._sort_column is not None:
                self._remove(self._order, row_id, old_key)
            if filtered and self._filter in self._search_text(row_id):
                self._remove(self._view, row_id, old_key)
        self._store(row_id, row)
        if row is None:
            return
        if not existed or self._sort_column is not None:
            self._insert(self._order, row_id)
        if filtered and self._filter in self._search_text(row_id):
            self._insert(self._view, row_id)

    def _key_of(self, row_id: str) -> Any:
        return self._seq[row_id] if self._sort_column is None else self._keys[row_id]

    def _key_function(self) -> Callable[[str], Any]:
        return self._seq.__getitem__ if self._sort_column is None else self._keys.__getitem__

    def _locate(self, ids: list[str], row_id: str, key: Any) -> int | None:
        """Index of `row_id` in an ordered list: binary search for its key, then a scan of the equal keys."""
        key_function = self._key_function()
        low = bisect_left(ids, key, key=key_function)
        if low < len(ids) and ids[low] == row_id:
            return low
        high = bisect_right(ids, key, lo=low, key=key_function)
        try:
            return ids.index(row_id, low, high)
        except ValueError:
            pass
        try:  # only reached if sort values compare inconsistently (an object with odd comparisons)
            return ids.index(row_id)
        except ValueError:
            return None

    def _remove(self, ids: list[str], row_id: str, key: Any) -> None:
        index = self._locate(ids, row_id, key)
        if index is not None:
            del ids[index]

    def _insert(self, ids: list[str], row_id: str) -> None:
        if self._sort_column is None and (not ids or self._seq[ids[-1]] < self._seq[row_id]):
            ids.append(row_id)  # the common unsorted case: a new row goes last
        else:
            insort(ids, row_id, key=self._key_function())

    def _rebuild_order(self) -> None:
        """Sort every row from scratch (set_rows, a new sort column, a bulk update) and re-apply the filter."""
        ids = list(self._rows)  # dict order is insertion order, that is seq order
        if self._sort_column is None:
            self._order = ids
        else:
            try:
                values = list(map(self._sort_value_of, self._rows.values()))
            except Exception:
                values = list(map(self._sort_value, self._rows.values()))
            self._key_rank, comparables = _rank_all(values)
            self._keys = dict(zip(ids, comparables))
            # Positions sorted by a list's lookup, then mapped to ids: a fifth faster than ids by a dict's lookup.
            # Stable: equal values stay in seq order.
            self._order = list(map(ids.__getitem__, sorted(range(len(ids)), key=comparables.__getitem__)))
        self._apply_filter(narrowing=False)

    # ---------------------------------------------------------------------------------- filter, sort

    @property
    def filter_text(self) -> str:
        return self._filter

    @filter_text.setter
    def filter_text(self, value: str) -> None:
        """Case-insensitive substring over the rendered text of every column; "" shows every row."""
        needle = sanitize(value or "", single_line=True).lower()
        if needle == self._filter:
            return
        anchor = self._anchor()
        narrowing = bool(self._filter) and self._filter in needle
        self._filter = needle
        self._apply_filter(narrowing=narrowing)
        self._after_change(anchor)

    def _apply_filter(self, *, narrowing: bool) -> None:
        needle = self._filter
        if not needle:
            self._view = self._order
            return
        source = self._view if narrowing else self._order
        search = self._search
        if len(search) < len(self._rows):  # not every row's text is built yet (it is once idle slices ran)
            self._build_search([row_id for row_id in source if row_id not in search])
        self._view = [row_id for row_id in source if needle in search[row_id]]

    def _search_text(self, row_id: str) -> str:
        text = self._search.get(row_id)
        if text is None:
            self._build_search([row_id])
            text = self._search[row_id]
        return text

    def _build_search(self, ids: list[str]) -> None:
        """Build the search strings of many rows, a column at a time (about twice as fast as row by row)."""
        if not ids:
            return
        rows = [self._rows[row_id] for row_id in ids]
        columns: list[list[str]] = []
        for column in self.columns:
            if column.render is None:
                values = map(methodcaller("get", column.key), rows)
                columns.append([value if type(value) is str and value.isprintable()
                                else "" if value is None else sanitize(value, single_line=True) for value in values])
            else:
                columns.append([self._cell_plain(column, row) for row in rows])
        self._search.update(zip(ids, map(str.lower, map("\t".join, zip(*columns)))))

    def _start_warming(self) -> None:
        """Build search strings in idle slices, so the first filter keystroke on a big table is quick."""
        if len(self._rows) < WARM_AFTER_ROWS or not self.is_mounted:
            self._warm_ids = None
            return
        self._warm_ids = iter(list(self._rows))
        if self._warm_timer is None:  # else the running chain of slices picks up the new rows
            self._warm_timer = self.set_timer(0.05, self._warm_slice)

    @property
    def search_ready(self) -> bool:
        """False while search strings are still being built in the background after a big set_rows."""
        return self._warm_ids is None

    def _warm_slice(self) -> None:
        self._warm_timer = None
        ids = self._warm_ids
        if ids is None:
            return
        deadline = perf_counter() + WARM_SLICE_SECONDS
        rows, search = self._rows, self._search
        while perf_counter() < deadline:
            chunk = list(islice(ids, 500))
            if not chunk:
                self._warm_ids = None
                return
            self._build_search([row_id for row_id in chunk if row_id in rows and row_id not in search])
        self._warm_timer = self.set_timer(0.01, self._warm_slice)

    @property
    def sort_column(self) -> str | None:
        return None if self._sort_column is None else self._sort_column.key

    @property
    def sort_reverse(self) -> bool:
        return self._reverse

    def sort_by(self, column_key: str | None, reverse: bool | None = None) -> None:
        """Sort by a column (None: insertion order). Repeating the current column toggles the direction."""
        column = None if column_key is None else self._column(column_key)
        if reverse is None:
            reverse = (not self._reverse) if column is self._sort_column and column is not None else False
        anchor = self._anchor()
        if column is not self._sort_column:
            self._sort_column = column
            self._sort_value_of = None if column is None else self._sort_function(column)
            self._keys = {}
            self._rebuild_order()
        self._reverse = reverse
        self._after_change(anchor, reveal_cursor=True)

    def _column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(f"no column {key!r}")

    def _sort_function(self, column: Column) -> Callable[[Row], Any]:
        """What a column sorts on: its sort_key, else the raw value, else (a computed column) its text."""
        if column.sort_key is not None:
            return column.sort_key
        if column.render is None:
            return methodcaller("get", column.key)
        key = column.key
        return lambda row: row.get(key) if key in row else self._cell_plain(column, row)

    def _sort_value(self, row: Row) -> Any:
        try:
            return self._sort_value_of(row)
        except Exception:  # a malformed server row must not take the monitor down
            return None

    def _sort_key_for(self, row: Row) -> Any:
        rank, value = _orderable(self._sort_value(row))
        if self._key_rank is None:
            return (rank, value)
        if rank == self._key_rank:
            return value
        # The first value of another kind (say a None among strings): from now on every key is a
        # (rank, value) pair. The order does not change, so the ordered lists stay valid.
        shared = self._key_rank
        self._keys = {row_id: (shared, key) for row_id, key in self._keys.items()}
        self._key_rank = None
        return (rank, value)

    # ------------------------------------------------------------------------------------ the cursor

    def _row_at(self, index: int) -> str:
        return self._view[-1 - index] if self._reverse else self._view[index]

    def _position(self, row_id: str) -> int | None:
        """The view index of a row, or None if it is not in the view. O(log rows)."""
        if row_id not in self._rows:
            return None
        if self._filter and self._filter not in self._search_text(row_id):
            return None
        index = self._locate(self._view, row_id, self._key_of(row_id))
        if index is None:
            return None
        return len(self._view) - 1 - index if self._reverse else index

    def _anchor(self) -> tuple[str | None, int | None, int]:
        """Where the cursor is before a change: (row id, view index, line on screen)."""
        index = self.cursor_index
        line = -1 if index is None else index - round(self.scroll_y)
        return (self._cursor_id, index, line)

    def _after_change(
        self, anchor: tuple[str | None, int | None, int], *, newest: str | None = None, reveal_cursor: bool = False
    ) -> None:
        """Put the cursor back on its row (or a neighbour, if that row went), resize, repaint once."""
        old_id, old_index, old_line = anchor
        count = len(self._view)
        if newest is not None and self._position(newest) is not None:
            self._cursor_id = newest
            reveal_cursor = True
        elif self._cursor_id is None or self._position(self._cursor_id) is None:
            if count:
                self._cursor_id = self._row_at(min(old_index or 0, count - 1))
            else:
                self._cursor_id = None
        self._update_virtual_size()
        if self.is_mounted:
            index = self.cursor_index
            if reveal_cursor:
                self._scroll_to_cursor()
            elif index is not None and self.scroll_y > 0 and 0 <= old_line < self._page_rows():
                # Keep the cursor row on the same screen line while rows move around it (unless the view is
                # at the top: there new rows should come into sight).
                self.scroll_to(y=max(0, index - old_line), animate=False, force=True)
        if self._cursor_id != old_id:
            self.post_message(self.CursorMoved(self, self._cursor_id))
        self.refresh()

    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        index = self.cursor_index
        if index is None:
            return
        top = round(self.scroll_y)
        page = self._page_rows()
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif index >= top + page:
            self.scroll_to(y=index - page + 1, animate=False, force=True)

    def move_cursor(self, index: int) -> None:
        """Put the cursor on the view row `index` (clamped) and scroll it into view."""
        count = len(self._view)
        if not count:
            return
        row_id = self._row_at(max(0, min(index, count - 1)))
        if row_id != self._cursor_id:
            self._cursor_id = row_id
            self.post_message(self.CursorMoved(self, row_id))
            self.refresh()
        self._scroll_to_cursor()

    def action_cursor_up(self) -> None:
        self.move_cursor((self.cursor_index or 0) - 1)

    def action_cursor_down(self) -> None:
        index = self.cursor_index
        self.move_cursor(0 if index is None else index + 1)

    def action_page_up(self) -> None:
        self.move_cursor((self.cursor_index or 0) - self._page_rows())

    def action_page_down(self) -> None:
        self.move_cursor((self.cursor_index or 0) + self._page_rows())

    def action_cursor_home(self) -> None:
        self.move_cursor(0)

    def action_cursor_end(self) -> None:
        self.move_cursor(len(self._view) - 1)

    def action_select_row(self) -> None:
        row_id = self._cursor_id
        if row_id is not None and row_id in self._rows:
            self.post_message(self.RowSelected(self, row_id, self._rows[row_id]))

    def action_copy_id(self) -> None:
        row_id = self._cursor_id
        if row_id is None:
            return
        self.app.copy_to_clipboard(row_id)
        self.post_message(self.CopyRequested(self, row_id))
        self.notify(f"Copied {sanitize(row_id, single_line=True)}", markup=False, timeout=2)

    def action_cycle_sort(self) -> None:
        """Sort by the next column (ascending); after the last column, back to the first."""
        if not self.columns:
            return
        keys = [column.key for column in self.columns]
        current = self.sort_column
        next_index = 0 if current is None else (keys.index(current) + 1) % len(keys)
        self.sort_by(keys[next_index], reverse=False)

    def action_reverse_sort(self) -> None:
        column = self._sort_column or (self.columns[0] if self.columns else None)
        if column is not None:
            self.sort_by(column.key, reverse=not self._reverse)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x + round(self.scroll_x))
            if column is not None:
                self.sort_by(column.key)
            return
        index = round(self.scroll_y) + offset.y - 1
        if index >= len(self._view):
            return
        if self._row_at(index) == self._cursor_id:
            self.action_select_row()
        else:
            self.move_cursor(index)

    def _column_at(self, x: int) -> Column | None:
        edge = 0
        for column, width in zip(self.columns, self._layout(self.scrollable_content_region.width)):
            edge += 1 + width  # the space before each cell, then the cell
            if x < edge + 1:
                return column
        return None

    # ------------------------------------------------------------------------------------ the layout

    @staticmethod
    def _header_width(column: Column) -> int:
        return cell_len(column.label) + 2  # room for the sort arrow

    def _widen(self, rows: Iterable[Row]) -> None:
        """Grow auto columns to fit a sample of rows (they never shrink until the next set_rows)."""
        auto = [(i, column) for i, column in enumerate(self.columns) if column.width is None]
        if not auto:
            return
        natural = list(self._natural)
        for row in rows:
            for i, column in auto:
                natural[i] = max(natural[i], min(AUTO_WIDTH_MAX, cell_len(self._cell_plain(column, row))))
        if natural != self._natural:
            self._natural = natural
            self._widths_cache = None

    def _layout(self, width: int) -> tuple[int, ...]:
        """Column widths for a widget width: fixed columns as given; auto columns at their natural width, then
        given the spare space, or squeezed (not below AUTO_WIDTH_MIN) when the table is too wide."""
        key = (width, tuple(self._natural))
        if self._widths_cache is not None and self._widths_cache[0] == key:
            return self._widths_cache[1]
        widths = [column.width if column.width is not None else self._natural[i] for i, column in enumerate(self.columns)]
        auto = [i for i, column in enumerate(self.columns) if column.width is None]
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
        result = tuple(max(1, w) for w in widths)
        self._widths_cache = (key, result)
        return result

    def _table_width(self, widths: tuple[int, ...]) -> int:
        return sum(widths) + len(widths) + 1

    def _update_virtual_size(self) -> None:
        # The virtual width is the narrowest the table can be (auto columns squeezed), so it never depends on
        # the widget's width: a horizontal scrollbar appears only when even that does not fit, and a vertical
        # scrollbar coming or going just re-lays the columns out on the next frame.
        self.virtual_size = Size(self._table_width(self._layout(0)), len(self._view) + 1)

    def on_mount(self) -> None:
        self._update_virtual_size()
        self._start_warming()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._pass_styles = None

    def refresh_cells(self) -> None:
        """Re-render the visible rows (for columns computed from the clock, such as an age) and repaint only
        the lines that now read differently: ages in minutes cost nothing most seconds, over SSH too."""
        lines = range(1, self.scrollable_content_region.height)
        self._pass_styles = None  # a render pass of its own
        before = [self.render_line(y) for y in lines]
        self._strips.clear()
        for y, old in zip(lines, before):
            if self.render_line(y) != old:
                self.refresh(Region(0, y, self.size.width, 1))

    # ------------------------------------------------------------------------------------- rendering

    @staticmethod
    def _cell_value(column: Column, row: Row) -> Any:
        try:
            return column.render(row) if column.render is not None else row.get(column.key)
        except Exception:  # a malformed server row must not take the monitor down
            return BROKEN_CELL

    def _cell_plain(self, column: Column, row: Row) -> str:
        """The cell's text without styles (search strings, widths, sorting a computed column)."""
        value = self._cell_value(column, row)
        if value is None:
            return ""
        return sanitize(value.plain if isinstance(value, Text) else value, single_line=True)

    def _cell_text(self, column: Column, row: Row) -> Text:
        """The cell as a Text built from a sanitized string: never parsed as markup, never an escape."""
        value = self._cell_value(column, row)
        if value is None:
            return Text("")
        if value is BROKEN_CELL:
            return Text(BROKEN_CELL, style="dim")
        if isinstance(value, Text):
            clean = sanitize(value.plain, single_line=True)
            if clean != value.plain:  # spans no longer line up with the text: keep the base style only
                return Text(clean, style=value.style)
            return value.copy()
        return Text(sanitize(value, single_line=True))

    def _line_strip(self, cells: list[Text], widths: tuple[int, ...], style: Style,
                    cursor: Style | None = None) -> Strip:
        """One line: a space, then each cell cut or padded to its column's width, separated by spaces. The line
        style goes under the cells' own colours, the cursor's (partial) style over them; one Strip is made (each
        comes with seven caches of its own)."""
        line = Text(" ", no_wrap=True, end="")
        for cell, width, column in zip(cells, widths, self.columns):
            cell.truncate(width, overflow="ellipsis")
            gap = width - cell.cell_len
            if column.align == "right":
                line.append(" " * gap)
                line.append_text(cell)
            else:
                line.append_text(cell)
                line.append(" " * gap)
            line.append(" ")
        return Strip(Segment.apply_style(line.render(self.app.console), style, cursor), self._table_width(widths))

    def _header_strip(self, widths: tuple[int, ...], style: Style) -> Strip:
        cache_key = ("header", widths, self.sort_column, self._reverse, style)
        strip = self._strips.get(cache_key)
        if strip is None:
            cells = []
            for column, width in zip(self.columns, widths):
                label = Text(column.label)
                if column is self._sort_column:
                    arrow = "▼" if self._reverse else "▲"
                    if label.cell_len + 2 <= width:
                        label.append(" " + arrow)
                    else:  # a narrow column: the arrow replaces the end of the label
                        label.truncate(max(0, width - 1))
                        label.append(arrow)
                cells.append(label)
            strip = self._line_strip(cells, widths, style)
            self._strips[cache_key] = strip
        return strip

    def _row_strip(self, row_id: str, widths: tuple[int, ...], style: Style, cursor: Style | None) -> Strip:
        version = self._versions.get(row_id, self._base_version)
        cache_key = (row_id, version, widths, style, cursor)
        strip = self._strips.get(cache_key)
        if strip is None:
            row = self._rows[row_id]
            strip = self._line_strip([self._cell_text(column, row) for column in self.columns], widths, style, cursor)
            self._strips[cache_key] = strip
        return strip

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass_styles = None  # styles may have changed since the last pass (focus, hover, theme)
        return super().render_lines(crop)

    def _styles_of_pass(self) -> _PassStyles:
        """The width and styles every line of one render pass shares, worked out at its first line: the widget's
        own style walks the DOM for its background: 5 % of a loaded monitor's time when it was done per line."""
        styles = self._pass_styles
        if styles is None or styles.size != self.size:  # (render_line is also called outside a pass)
            base = self.rich_style
            styles = self._pass_styles = _PassStyles(
                self.size, self.scrollable_content_region.width, base,
                base + self.get_component_rich_style("livetable--header"),
                base + self.get_component_rich_style("livetable--row-odd"),
                base + self.get_component_rich_style("livetable--cursor"),
                self.get_component_rich_style("livetable--cursor", partial=True),
            )
        return styles

    def render_line(self, y: int) -> Strip:
        styles = self._styles_of_pass()
        width = styles.width
        scroll_x, scroll_y = self.scroll_offset
        widths = self._layout(width)
        if y == 0:
            style = styles.header
            strip = self._header_strip(widths, style)
        else:
            index = scroll_y + y - 1
            if index >= len(self._view):
                return Strip.blank(width, styles.base)
            row_id = self._row_at(index)
            cursor = None
            if row_id == self._cursor_id:
                cursor = styles.cursor_partial
                style = styles.cursor
            elif index % 2:
                style = styles.odd
            else:
                style = styles.base
            strip = self._row_strip(row_id, widths, style, cursor)
        if scroll_x == 0 and strip.cell_length == width:
            # Nothing to crop: `crop_extend` would cache the strip in itself, a reference cycle that only the
            # collector's slowest pass frees once the row cache drops it.
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)
