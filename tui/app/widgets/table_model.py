"""The rows behind a LiveTable, with no Textual import: what is in the table, in which order, and which rows the
filter lets through. The widget (tui/app/widgets/table.py) adds the cursor, the layout and the drawing.

The rows are kept as given (id -> dict) plus an ordered list of ids, the view (filtered and sorted). Each row has
a version (the update that last changed it), so the widget can cache what it drew per row version.

Ordering: unsorted, the order is insertion order (a sequence number per row). Sorted, each row has a key that
is comparable whatever the column holds: None, numbers and text are ranked so they never meet in a comparison
(see `_orderable`). A changed row is moved with binary searches instead of a full re-sort, and a descending sort
is the ascending list read backwards, so reversing costs nothing.

Filtering: a case-insensitive substring over the text of every cell (`search_text`), built once per row version
and a column at a time. A big table's search strings can be built ahead, a slice at a time (`index_search`).

Cell text comes from `tui.text.sanitize(..., single_line=True)`: server strings are never parsed as markup and
never carry escape sequences.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from math import isnan
from operator import methodcaller
from typing import Any, Literal

from rich.text import Text

from tui.text import sanitize

CellValue = str | Text | None
Row = dict[str, Any]

BULK_FRACTION = 8  # a batch changing more than 1/8 of the rows is applied with one full re-sort
BROKEN_CELL = "?"  # shown when a column's render function raises on a row


@dataclass(frozen=True)
class Column:
    """One column. `render(row)` gives the cell (str, Text or None); by default it is `row[key]` as text.
    `sort_key(row)` gives the value to sort on; by default the raw `row[key]`, else the rendered text.

    How it gives way when the table is narrow (tui/app/widgets/table_layout.py): the columns of lowest `priority`
    shrink first, each down to its `min_width` (an auto column: AUTO_WIDTH_MIN; a fixed one: its width, unless
    it says less), and when even the minimums do not fit they are hidden, lowest priority first; the columns of
    the highest priority are never hidden. `cut="start"` cuts a long value at its start (`…9f3a2c`): an id's end
    tells it from the others, its start is often a prefix they share. `grow=False`: an auto column that takes its
    whole text (as the others allow) and no more, leaving the room to spare to the columns that grow (a status next
    to a name)."""

    key: str
    label: str
    width: int | None = None
    align: Literal["left", "right"] = "left"
    render: Callable[[Row], CellValue] | None = None
    sort_key: Callable[[Row], Any] | None = None
    priority: int = 1
    min_width: int | None = None
    cut: Literal["end", "start"] = "end"
    grow: bool = True


ID_MIN_WIDTH = 9  # an id cut to its last 8 characters and the ellipsis


def id_column(key: str, label: str, width: int, **options: Any) -> Column:
    """An id: it gives its width first (priority 0 among shrinking columns, down to ID_MIN_WIDTH) and, cut, keeps
    its end. It is hidden only after the columns below it in `priority` (1 unless given)."""
    options.setdefault("priority", 1)
    return Column(key, label, width=width, min_width=min(width, ID_MIN_WIDTH), cut="start", **options)


def cell_value(column: Column, row: Row) -> Any:
    """What a column shows for a row, or BROKEN_CELL when its render function raises."""
    try:
        return column.render(row) if column.render is not None else row.get(column.key)
    except Exception:  # a malformed server row must not take the monitor down
        return BROKEN_CELL


def cell_plain(column: Column, row: Row) -> str:
    """The cell's text without styles (search strings, widths, sorting a computed column)."""
    value = cell_value(column, row)
    if value is None:
        return ""
    return sanitize(value.plain if isinstance(value, Text) else value, single_line=True)


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


class TableModel:
    """Rows by id, their order (insertion or a column's sort, either direction) and the filtered view.

    Indexes and ids "in the view" are top to bottom as shown: a descending sort reads the view backwards."""

    def __init__(self, columns: Iterable[Column]) -> None:
        self.columns: tuple[Column, ...] = tuple(columns)
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

    # ------------------------------------------------------------------------------------------ reading

    @property
    def rows(self) -> Mapping[str, Row]:
        """Every row by id, in insertion order (the table's own mapping: do not change it)."""
        return self._rows

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

    def get_row(self, row_id: str) -> Row | None:
        return self._rows.get(row_id)

    def version(self, row_id: str) -> int:
        """Changes whenever the row does (a new set_rows changes every row's)."""
        return self._versions.get(row_id, self._base_version)

    def row_at(self, index: int) -> str:
        """The id of the view's row `index` (0 is the top)."""
        return self._view[-1 - index] if self._reverse else self._view[index]

    def position(self, row_id: str) -> int | None:
        """The view index of a row, or None if it is not in the view. O(log rows)."""
        if row_id not in self._rows:
            return None
        if self._filter and self._filter not in self.search_text(row_id):
            return None
        index = self._locate(self._view, row_id, self._key_of(row_id))
        if index is None:
            return None
        return len(self._view) - 1 - index if self._reverse else index

    # ------------------------------------------------------------------------------------------ changes

    def set_rows(self, rows: Mapping[str, Row]) -> None:
        """Replace every row."""
        self._rows = dict(rows)
        self._seq = dict(zip(self._rows, range(len(self._rows))))
        self._next_seq = len(self._rows)
        self._generation += 1
        self._base_version = self._generation
        self._versions = {}
        self._search = {}
        self._keys = {}
        self._rebuild_order()

    def update_rows(self, changed: Mapping[str, Row | None]) -> list[str]:
        """Insert, replace (a dict) or remove (None) rows; moves only the changed rows in the view. Returns the
        ids that were new, in the batch's order."""
        if not changed:
            return []
        self._generation += 1
        if len(changed) > max(64, len(self._rows) // BULK_FRACTION):
            added = self._store_all(changed)
            self._rebuild_order()
            return added
        added = []
        for row_id, row in changed.items():
            if row is not None and row_id not in self._rows:
                added.append(row_id)
            self._move(row_id, row)
        return added

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

    def _store_all(self, changed: Mapping[str, Row | None]) -> list[str]:
        """`_store` for a bulk update (the order is rebuilt after it), a dictionary at a time rather than a row at
        a time: a hidden Events tab catches up on thousands of rows in one call. Returns the new row ids."""
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
        return added

    def _move(self, row_id: str, row: Row | None) -> None:
        """Apply one row change and put the row where it now belongs in the order and the view."""
        existed = row_id in self._rows
        filtered = self._view is not self._order
        if existed:  # take the row out while its old key still finds it
            old_key = self._key_of(row_id)
            if row is None or self._sort_column is not None:
                self._remove(self._order, row_id, old_key)
            if filtered and self._filter in self.search_text(row_id):
                self._remove(self._view, row_id, old_key)
        self._store(row_id, row)
        if row is None:
            return
        if not existed or self._sort_column is not None:
            self._insert(self._order, row_id)
        if filtered and self._filter in self.search_text(row_id):
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

    # ------------------------------------------------------------------------------------------- filter

    @property
    def filter_text(self) -> str:
        return self._filter

    def set_filter(self, value: str) -> bool:
        """Case-insensitive substring over the rendered text of every column; "" shows every row. Returns
        whether the filter changed."""
        needle = sanitize(value or "", single_line=True).lower()
        if needle == self._filter:
            return False
        narrowing = bool(self._filter) and self._filter in needle
        self._filter = needle
        self._apply_filter(narrowing=narrowing)
        return True

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

    def search_text(self, row_id: str) -> str:
        """The lowercase text of every cell of a row, tab-separated: what the filter looks in."""
        text = self._search.get(row_id)
        if text is None:
            self._build_search([row_id])
            text = self._search[row_id]
        return text

    def index_search(self, ids: Iterable[str]) -> None:
        """Build ahead the search strings of those of `ids` that are rows and have none yet (so that the first
        filter keystroke on a big table need not build them all)."""
        rows, search = self._rows, self._search
        self._build_search([row_id for row_id in ids if row_id in rows and row_id not in search])

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
                columns.append([cell_plain(column, row) for row in rows])
        self._search.update(zip(ids, map(str.lower, map("\t".join, zip(*columns)))))

    # --------------------------------------------------------------------------------------------- sort

    @property
    def sort_column(self) -> str | None:
        return None if self._sort_column is None else self._sort_column.key

    @property
    def sort_reverse(self) -> bool:
        return self._reverse

    def sort_by(self, column_key: str | None, reverse: bool | None = None) -> None:
        """Sort by a column (None: insertion order). Repeating the current column toggles the direction."""
        column = None if column_key is None else self.column(column_key)
        if reverse is None:
            reverse = (not self._reverse) if column is self._sort_column and column is not None else False
        if column is not self._sort_column:
            self._sort_column = column
            self._sort_value_of = None if column is None else self._sort_function(column)
            self._keys = {}
            self._rebuild_order()
        self._reverse = reverse

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(f"no column {key!r}")

    @staticmethod
    def _sort_function(column: Column) -> Callable[[Row], Any]:
        """What a column sorts on: its sort_key, else the raw value, else (a computed column) its text."""
        if column.sort_key is not None:
            return column.sort_key
        if column.render is None:
            return methodcaller("get", column.key)
        key = column.key
        return lambda row: row.get(key) if key in row else cell_plain(column, row)

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
