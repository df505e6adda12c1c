"""LiveTable: a line-API table over a mapping of rows, fast at 100k rows.

Textual's DataTable builds every row up front (11-14 s for 100k rows on these machines). LiveTable keeps its rows
in a TableModel (tui/app/widgets/table_model.py: the rows, their order, the filter; no Textual) and renders only
the lines on screen. This module is the widget: the cursor, the column layout and the drawing. Rendered rows are
cached per (row id, row version, column widths, style), so scrolling and repaints of unchanged rows cost a
dictionary lookup.

Every cell is a `rich.text.Text` built from `tui.text.sanitize(..., single_line=True)`: server strings are
never parsed as markup and never reach the terminal with escape sequences in them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from time import perf_counter
from typing import ClassVar, NamedTuple

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

from tui.app.widgets.table_layout import ColumnLayout, line_width
from tui.app.widgets.table_model import BROKEN_CELL, CellValue, Column, Row, TableModel, cell_value
from tui.text import sanitize

__all__ = ["CellValue", "Column", "LineCache", "LiveTable", "Row", "TableModel"]

WIDTH_SAMPLE = 200  # rows looked at to size auto columns on set_rows
UPDATE_SAMPLE = 32  # changed rows looked at per update_rows call to widen auto columns
WARM_AFTER_ROWS = 5_000  # above this many rows, search strings are built in idle slices after set_rows
WARM_SLICE_SECONDS = 0.008


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
        self.model = TableModel(columns)
        """The rows, their order and the filter (no Textual): read it freely, change it through the table."""
        self.columns: tuple[Column, ...] = self.model.columns
        self.follow = follow
        """Move the cursor to (and show) the newest row each time rows are added."""

        self._cursor_id: str | None = None
        self._columns_layout = ColumnLayout(self.columns)
        self._strips = LineCache(256)
        self._pass_styles: _PassStyles | None = None  # this render pass's styles (render_lines)
        self._warm_ids: Iterator[str] | None = None  # rows whose search strings idle slices still build
        self._warm_timer: Timer | None = None

    # ------------------------------------------------------------------------------------------ data

    @property
    def row_count(self) -> int:
        """Rows in the view (after the filter)."""
        return self.model.row_count

    @property
    def total_count(self) -> int:
        return self.model.total_count

    @property
    def row_ids(self) -> list[str]:
        """The view's row ids, top to bottom (a copy: O(rows))."""
        return self.model.row_ids

    @property
    def cursor_row_id(self) -> str | None:
        return self._cursor_id

    @property
    def cursor_index(self) -> int | None:
        return None if self._cursor_id is None else self.model.position(self._cursor_id)

    def get_row(self, row_id: str) -> Row | None:
        return self.model.get_row(row_id)

    def set_rows(self, rows: Mapping[str, Row]) -> None:
        """Replace every row. The cursor stays on its row id if that row is still there."""
        anchor = self._anchor()
        model = self.model
        model.set_rows(rows)
        self._strips.clear()
        self._columns_layout.reset()
        self._columns_layout.widen(islice(model.rows.values(), WIDTH_SAMPLE))
        self._after_change(anchor, newest=next(reversed(model.rows), None) if self.follow else None)
        self._start_warming()

    def update_rows(self, changed: Mapping[str, Row | None]) -> None:
        """Insert, replace (a dict) or remove (None) rows; moves only the changed rows in the view."""
        if not changed:
            return
        anchor = self._anchor()
        added = self.model.update_rows(changed)
        self._columns_layout.widen(row for row in islice(changed.values(), UPDATE_SAMPLE) if row is not None)
        self._after_change(anchor, newest=added[-1] if added and self.follow else None)

    # ---------------------------------------------------------------------------------- filter, sort

    @property
    def filter_text(self) -> str:
        return self.model.filter_text

    @filter_text.setter
    def filter_text(self, value: str) -> None:
        """Case-insensitive substring over the rendered text of every column; "" shows every row."""
        anchor = self._anchor()
        if self.model.set_filter(value):
            self._after_change(anchor)

    def _start_warming(self) -> None:
        """Build search strings in idle slices, so the first filter keystroke on a big table is quick."""
        rows = self.model.rows
        if len(rows) < WARM_AFTER_ROWS or not self.is_mounted:
            self._warm_ids = None
            return
        self._warm_ids = iter(list(rows))
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
        while perf_counter() < deadline:
            chunk = list(islice(ids, 500))
            if not chunk:
                self._warm_ids = None
                return
            self.model.index_search(chunk)
        self._warm_timer = self.set_timer(0.01, self._warm_slice)

    @property
    def sort_column(self) -> str | None:
        return self.model.sort_column

    @property
    def sort_reverse(self) -> bool:
        return self.model.sort_reverse

    def sort_by(self, column_key: str | None, reverse: bool | None = None) -> None:
        """Sort by a column (None: insertion order). Repeating the current column toggles the direction."""
        anchor = self._anchor()
        self.model.sort_by(column_key, reverse)
        self._after_change(anchor, reveal_cursor=True)

    # ------------------------------------------------------------------------------------ the cursor

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
        model = self.model
        count = model.row_count
        if newest is not None and model.position(newest) is not None:
            self._cursor_id = newest
            reveal_cursor = True
        elif self._cursor_id is None or model.position(self._cursor_id) is None:
            if count:
                self._cursor_id = model.row_at(min(old_index or 0, count - 1))
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
        count = self.model.row_count
        if not count:
            return
        row_id = self.model.row_at(max(0, min(index, count - 1)))
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
        self.move_cursor(self.model.row_count - 1)

    def action_select_row(self) -> None:
        row_id = self._cursor_id
        row = None if row_id is None else self.model.get_row(row_id)
        if row is not None:
            self.post_message(self.RowSelected(self, row_id, row))

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
        key = self.sort_column
        if key is None and self.columns:
            key = self.columns[0].key
        if key is not None:
            self.sort_by(key, reverse=not self.sort_reverse)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._columns_layout.column_at(offset.x + round(self.scroll_x), self.scrollable_content_region.width)
            if column is not None:
                self.sort_by(column.key)
            return
        index = round(self.scroll_y) + offset.y - 1
        if index >= self.model.row_count:
            return
        if self.model.row_at(index) == self._cursor_id:
            self.action_select_row()
        else:
            self.move_cursor(index)

    # ------------------------------------------------------------------------------------ the layout

    def _layout(self, width: int) -> tuple[int, ...]:
        return self._columns_layout.widths(width)

    def _update_virtual_size(self) -> None:
        # The virtual width is the narrowest the table can be (auto columns squeezed), so it never depends on
        # the widget's width: a horizontal scrollbar appears only when even that does not fit, and a vertical
        # scrollbar coming or going just re-lays the columns out on the next frame.
        self.virtual_size = Size(line_width(self._layout(0)), self.model.row_count + 1)

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

    def _cell_text(self, column: Column, row: Row) -> Text:
        """The cell as a Text built from a sanitized string: never parsed as markup, never an escape."""
        value = cell_value(column, row)
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
        return Strip(Segment.apply_style(line.render(self.app.console), style, cursor), line_width(widths))

    def _header_strip(self, widths: tuple[int, ...], style: Style) -> Strip:
        sort_column, reverse = self.model.sort_column, self.model.sort_reverse
        cache_key = ("header", widths, sort_column, reverse, style)
        strip = self._strips.get(cache_key)
        if strip is None:
            cells = []
            for column, width in zip(self.columns, widths):
                label = Text(column.label)
                if column.key == sort_column:
                    arrow = "▼" if reverse else "▲"
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
        model = self.model
        cache_key = (row_id, model.version(row_id), widths, style, cursor)
        strip = self._strips.get(cache_key)
        if strip is None:
            row = model.rows[row_id]
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
            model = self.model
            if index >= model.row_count:
                return Strip.blank(width, styles.base)
            row_id = model.row_at(index)
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
