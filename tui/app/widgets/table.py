"""LiveTable: a line-API table over a mapping of rows, fast at 100k rows.

Textual's DataTable builds every row up front (11-14 s for 100k rows on these machines). LiveTable keeps its rows
in a TableModel (tui/app/widgets/table_model.py: the rows, their order, the filter; no Textual) and renders only
the lines on screen (tui/app/widgets/table_lines.py: the drawing, with a cache of rendered rows). This module is
the widget: the cursor, following the newest rows, what arrived out of sight, and the column layout
(tui/app/widgets/table_layout.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from time import perf_counter
from typing import ClassVar, Literal

from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.timer import Timer

from tui.app.widgets.table_layout import ColumnLayout, line_width
from tui.app.widgets.table_lines import LineCache, TableLines, _PassStyles
from tui.app.widgets.table_model import CellValue, Column, Row, TableModel
from tui.app.widgets.table_seen import SeenRows
from tui.text import sanitize

__all__ = ["CellValue", "Column", "LineCache", "LiveTable", "Row", "TableModel"]

WIDTH_SAMPLE = 200  # rows looked at to size auto columns on set_rows
UPDATE_SAMPLE = 32  # changed rows looked at per update_rows call to widen auto columns
WARM_AFTER_ROWS = 5_000  # above this many rows, search strings are built in idle slices after set_rows
WARM_SLICE_SECONDS = 0.008
ARRIVALS_SAMPLE = 512  # new rows looked up one by one to see where they landed; the rest are counted alike


class LiveTable(SeenRows, TableLines, ScrollView, can_focus=True):
    """A virtual table: a fixed header line, then one line per row of the filtered, sorted view, and a foot line
    when there is something to say (table_lines.py).

    Following (`f`, or the edge key: End where the newest rows arrive at the bottom, Home where they arrive at the
    top): the cursor stays on the row at the edge where new rows arrive (`newest_at`), so what arrives is in sight;
    any cursor key of the operator's stops following. Not following, rows that arrive out of sight are counted, "3 new
    ↑" in the header, until the view gets back to them.

    What the operator acts on is what they saw: the row under the cursor as last drawn, or where their own keys put
    the cursor since (`chosen_row_id`). Following moves the cursor between two frames (an alert arrives just before
    Enter): Enter, a click and every action on "the selected row" still take the row the screen showed, and a cursor
    key moves from it. What was drawn is noted as it is drawn (`render_lines`)."""

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
        Binding("f", "toggle_follow", "Follow", show=False),
    ]

    can_follow: bool = False
    """Whether End (Home, where the newest rows arrive at the top) turns following on: in a table whose newest rows
    arrive at an edge (a timeline, a list sorted newest first), not one sorted by name. `f` follows in any."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"livetable--header", "livetable--cursor", "livetable--row-odd",
                                             "livetable--foot", "livetable--news"}

    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        color: $foreground;
        & > .livetable--header { background: $panel; text-style: bold; }
        & > .livetable--row-odd { background: $surface-lighten-1 40%; }
        & > .livetable--foot { background: $panel; color: $text-muted; }
        & > .livetable--news { background: $warning; color: $background; text-style: bold; }
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

    class FollowChanged(Message):
        """Following the newest rows was turned on or off (a key, or moving away from the edge)."""

        def __init__(self, table: LiveTable, follow: bool) -> None:
            super().__init__()
            self.table = table
            self.follow = follow

        @property
        def control(self) -> LiveTable:
            return self.table

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
        newest_at: Literal["top", "bottom"] = "bottom",
        foot: bool = True,
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
        """Keep the cursor on the row at the edge where new rows arrive (and that edge in sight)."""
        self.newest_at = newest_at
        """Where new rows arrive: "bottom" in insertion order, "top" in a table sorted newest first."""
        self.foot = foot
        """Show the foot line (counts under a filter, following); a pane that shows them itself turns it off.
        Rows that arrived out of sight are said there either way."""
        self.shows: str | None = None
        """What its rows are, when not its name (the Events table's alerts view: "alerts"): see `what`."""
        self.new_above = 0  # rows that arrived above the view since it was last at the top
        self.new_below = 0  # ... below the view since it was last at the bottom
        self.holding = False  # the cursor's row is the operator's (a key, a click, a pane's choice): it keeps its line
        self._view_height = 0  # the lines of its view when last laid out (0: never yet; hidden, it keeps them)
        self._reveal_pending = False  # the cursor is to be brought into sight once the view has lines

        self._cursor_id: str | None = None
        self._seen: tuple[str, Row] | None = None  # the row the operator has under the cursor: `chosen_row_id`
        self._drawn: list[str] = []  # the row ids on the lines last drawn, top to bottom
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

    def set_rows(self, rows: Mapping[str, Row], *, arrivals: bool = False) -> None:
        """Replace every row. The cursor stays on its row id if that row is still there. `arrivals`: the rows are
        the ones shown before and a few more (a view made again from a log, as it grew), and those new to the table
        that land out of sight are counted, as `update_rows` counts them; otherwise all of it is new."""
        anchor = self._anchor()
        model = self.model
        added = [row_id for row_id in rows if row_id not in model.rows] if arrivals else None
        model.set_rows(rows)
        self._strips.clear()
        self._columns_layout.reset()
        self._columns_layout.widen(islice(model.rows.values(), WIDTH_SAMPLE))
        if not arrivals:
            self.new_above = self.new_below = 0  # all of it is new: nothing to point at
        self._after_change(anchor, added=added)
        self._start_warming()

    def update_rows(self, changed: Mapping[str, Row | None]) -> None:
        """Insert, replace (a dict) or remove (None) rows; moves only the changed rows in the view."""
        if not changed:
            return
        anchor = self._anchor()
        added = self.model.update_rows(changed)
        self._columns_layout.widen(row for row in islice(changed.values(), UPDATE_SAMPLE) if row is not None)
        self._after_change(anchor, added=added)

    # ---------------------------------------------------------------------------------- filter, sort

    @property
    def filter_text(self) -> str:
        return self.model.filter_text

    @filter_text.setter
    def filter_text(self, value: str) -> None:
        """Case-insensitive substring over the rendered text of every column; "" shows every row."""
        anchor = self._anchor()
        if self.model.set_filter(value):
            self.new_above = self.new_below = 0
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

    def _after_change(self, anchor: tuple[str | None, int | None, int], *, added: list[str] | None = None,
                      reveal_cursor: bool = False) -> None:
        """Put the cursor back on its row (or a neighbour, if that row went), or on the edge row when following;
        resize; count what arrived out of sight; repaint once."""
        old_id, old_index, old_line = anchor
        model = self.model
        count = model.row_count
        if self.follow and count:
            self._cursor_id = model.row_at(self._edge_index())
            reveal_cursor = True
        elif self._cursor_id is None or model.position(self._cursor_id) is None:
            if count:
                self._cursor_id = model.row_at(min(old_index or 0, count - 1))
            else:
                self._cursor_id = None
        self._update_virtual_size()
        if not self._view_lines():
            self._reveal_pending = self._reveal_pending or reveal_cursor  # in sight once laid out (`on_resize`)
        elif self.is_mounted:
            index = self.cursor_index
            if reveal_cursor:
                self._scroll_to_cursor()
            elif index is not None and (self.scroll_y > 0 or self.holding and self.can_follow) \
                    and 0 <= old_line < self._page_rows():
                # Keep the cursor row on the same screen line while rows move around it (unless the view is at the
                # top: there new rows come into sight; but where they arrive at an edge that the table can follow, a
                # row chosen there, not followed, stays put and what arrives above it is counted).
                self.scroll_to(y=max(0, index - old_line), animate=False, force=True)
            if added and not self.follow:
                self._count_arrivals(added)
        if self._cursor_id != old_id:
            self.post_message(self.CursorMoved(self, self._cursor_id))
        self.refresh()

    def _count_arrivals(self, added: list[str]) -> None:
        """Count the new rows that landed out of sight: above the view, or below it."""
        top = round(self.scroll_y)
        bottom = top + self._page_rows()
        above = below = seen = 0
        for row_id in added[-ARRIVALS_SAMPLE:]:
            position = self.model.position(row_id)
            if position is None:
                continue  # filtered out
            seen += 1
            above += position < top
            below += position >= bottom
        if seen and len(added) > ARRIVALS_SAMPLE:  # the rest landed as the sample did
            scale = len(added) / ARRIVALS_SAMPLE
            above, below = round(above * scale), round(below * scale)
        if above or below:
            foot = self.foot_lines()
            self.new_above += above
            self.new_below += below
            if self.foot_lines() != foot:  # the foot came: the view is a row shorter
                self._update_virtual_size()
                self._scroll_to_cursor()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._forget_seen_arrivals()

    def _forget_seen_arrivals(self) -> None:
        """The view is back at the top (or the bottom): what arrived there is in sight."""
        top = round(self.scroll_y)
        forget_above = self.new_above and top <= 0
        forget_below = self.new_below and top + self._page_rows() >= self.model.row_count
        if forget_above or forget_below:
            if forget_above:
                self.new_above = 0
            if forget_below:
                self.new_below = 0
            self._update_virtual_size()
            self.refresh()

    def _view_lines(self) -> int:
        """The lines of the view, or those it had when last laid out while it is hidden (0: never laid out yet: a tab
        shown and its row chosen in the same handler, where a height of 0 scrolled the row to the top line, the rows
        above it out of sight and uncounted)."""
        height = self.scrollable_content_region.height
        if height:
            self._view_height = height
        return height or self._view_height

    def _page_rows(self) -> int:
        """Rows the view shows: its height less the header and, when shown, the foot."""
        return max(1, self._view_lines() - 1 - self.foot_lines())

    # ------------------------------------------------------------------------------------ following

    def _edge_index(self) -> int:
        return 0 if self.newest_at == "top" else max(0, self.model.row_count - 1)

    def set_follow(self, follow: bool) -> None:
        """Follow the newest rows (the cursor to the edge where they arrive), or stop."""
        self.holding = not follow and self.holding
        if follow != self.follow:
            self.follow = follow
            self.post_message(self.FollowChanged(self, follow))
            self._update_virtual_size()  # the foot may come or go
            self.refresh()
        if follow and self.model.row_count:
            self.move_cursor(self._edge_index())

    def action_toggle_follow(self) -> None:
        self.set_follow(not self.follow)

    def _moving(self) -> None:
        """A cursor key of the operator's: it moves from the row they saw under the cursor (following may have moved
        the cursor since the last frame), and the table stops following (it then counts what arrives out of sight)."""
        seen = self.chosen_row_id
        if seen != self._cursor_id and seen is not None and self.model.position(seen) is not None:
            self._cursor_id = seen
        if self.follow:
            self.set_follow(False)
        self.holding = True

    def choose_row(self, row_id: str) -> bool:
        """A pane puts the cursor on `row_id` for the operator (Enter on an alert shows its entity): as the operator's
        own key would, it stops following, and the row keeps its line while rows arrive above it ("3 new ↑", Home).
        False when the view has no such row."""
        index = self.model.position(row_id)
        if index is None:
            return False
        self._moving()
        self.move_cursor(index)
        return True

    def _scroll_to_cursor(self) -> None:
        index = self.cursor_index
        if index is None:
            return
        if not self._view_lines():
            self._reveal_pending = True
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
        self._choose(row_id)
        if row_id != self._cursor_id:
            self._cursor_id = row_id
            self.post_message(self.CursorMoved(self, row_id))
            self.refresh()
        self._scroll_to_cursor()

    def action_cursor_up(self) -> None:
        self._moving()
        self.move_cursor((self.cursor_index or 0) - 1)

    def action_cursor_down(self) -> None:
        self._moving()
        index = self.cursor_index
        self.move_cursor(0 if index is None else index + 1)

    def action_page_up(self) -> None:
        self._moving()
        self.move_cursor((self.cursor_index or 0) - self._page_rows())

    def action_page_down(self) -> None:
        self._moving()
        self.move_cursor((self.cursor_index or 0) + self._page_rows())

    def action_cursor_home(self) -> None:
        """The first row; where the newest rows arrive at the top, following them again."""
        if self.newest_at == "top" and self.can_follow:
            self.set_follow(True)
        else:
            self._moving()
            self.move_cursor(0)

    def action_cursor_end(self) -> None:
        """The last row; where the newest rows arrive at the bottom, following them again."""
        if self.newest_at == "bottom" and self.can_follow:
            self.set_follow(True)
        else:
            self._moving()
            self.move_cursor(self.model.row_count - 1)

    def action_select_row(self) -> None:
        """Enter: the row the operator saw under the cursor (`chosen_row_id`)."""
        row_id, row = self.chosen_row_id, self.chosen_row()
        if row_id is not None and row is not None:
            self.post_message(self.RowSelected(self, row_id, row))

    def action_copy_id(self) -> None:
        row_id = self.chosen_row_id
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
        width = self.scrollable_content_region.width
        if self.foot_lines() and offset.y == self.scrollable_content_region.height - 1:
            if self.new_below:  # "3 new ↓": show them
                self.move_cursor(self.model.row_count - 1)
            return
        if offset.y == 0 and self.new_above and offset.x >= width - self.news_above_width():
            self.move_cursor(0)  # "3 new ↑": show them
            self.scroll_to(y=0, animate=False, force=True)
            return
        if offset.y == 0:
            column = self._columns_layout.column_at(offset.x + round(self.scroll_x), width)
            if column is not None:
                self.sort_by(column.key)
            return
        row_id = self._drawn_at(offset.y)  # the row the operator clicked is the one drawn there
        index = None if row_id is None else self.model.position(row_id)
        if index is None:
            return
        if row_id == self.chosen_row_id:
            self.action_select_row()
        else:
            if index != self._edge_index() or not self.follow:
                self._moving()  # the operator chose a row: the cursor stays on it
            self.move_cursor(index)

    @property
    def what(self) -> str:
        """What its rows are, in a word: the title and file name of its export, its filter's label."""
        return self.shows or self.name or self.id or "table"

    # ------------------------------------------------------------------------------------ the layout

    def hide_columns(self, *keys: str) -> None:
        """Show every column but these (none: all of them, as wide as they may be): a view of the rows that says
        what those columns say another way gives their room to the others."""
        if self._columns_layout.hide(frozenset(keys)):
            self._strips.clear()
            self._update_virtual_size()
            self.refresh()

    def _layout(self, width: int) -> tuple[int, ...]:
        return self._columns_layout.widths(width)

    def _update_virtual_size(self) -> None:
        # The virtual width is the narrowest the table can be (auto columns squeezed), so it never depends on
        # the widget's width: a horizontal scrollbar appears only when even that does not fit, and a vertical
        # scrollbar coming or going just re-lays the columns out on the next frame.
        size = Size(line_width(self._layout(0)), self.model.row_count + 1 + self.foot_lines())
        if size == self.virtual_size:
            return
        height = self.styles.height
        if self.is_mounted and self.container_size and height is not None and not height.is_auto:
            # Its height is the stylesheet's, not its rows': rows that come and go need the scrollbars told, not a
            # layout of the whole screen, which Textual asks for on any change of `virtual_size` (under load, one
            # per batch of new documents: most of the layouts). A scrollbar that comes or goes still asks for one.
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
            return
        self.virtual_size = size

    def on_mount(self) -> None:
        self._update_virtual_size()
        self._start_warming()

    def on_resize(self, event: events.Resize) -> None:
        """Shorter (a terminal made smaller, a line shown under the table): following, the newest row stays in sight
        (the Events tab's alerts view went on showing older alerts, the newest under its preview, until a key)."""
        if self.follow or self._reveal_pending:
            self._reveal_pending = False
            self._scroll_to_cursor()
