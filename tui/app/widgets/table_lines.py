"""How a LiveTable draws its lines (tui/app/widgets/table.py is the widget: rows, cursor, following): the header,
with "3 new ↑" at its right end while rows arrived above the view (where they are, without moving the view), each
row from a cache of rendered lines, the message of a filter that matches nothing, and the foot, a last line shown
only when there is something to say (how many rows a filter shows, rows that arrived below the view, following).

Rendered rows are cached per (row id, row version, column widths, style), so scrolling and repaints of unchanged
rows cost a dictionary lookup. Every cell is a `rich.text.Text` built from `tui.text.sanitize(..., single_line=True)`:
server strings are never parsed as markup and never reach the terminal with escape sequences in them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple, Protocol

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip

from tui.app.widgets.table_layout import line_width
from tui.app.widgets.table_model import BROKEN_CELL, Column, Row, TableModel, cell_value
from tui.text import sanitize


def cut_start(cell: Text, width: int) -> Text:
    """`cell` cut to `width` cells at its start: `…9f3a2c`, the end that tells one id from another."""
    if width <= 1:
        return Text("…"[:width])
    start = 0
    while cell[start:].cell_len > width - 1:
        start += 1
    cut = Text(end="")
    cut.append("…", style="dim")  # (as the Text's own style, it would dim the whole id)
    cut.append_text(cell[start:])
    return cut


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
    foot: Style  # the foot line, and the no-match message
    news: Style  # "3 new ↑" in the foot


class DrawnTable(Protocol):
    """What the drawing reads of its table (LiveTable, tui/app/widgets/table.py, which this module does not import:
    the widget imports its drawing, not the other way round)."""

    app: Any  # Textual's App: its console renders the lines
    model: TableModel
    foot: bool
    follow: bool
    new_above: int
    new_below: int

    def get_component_rich_style(self, *names: str, partial: bool = False) -> Style: ...

    def _news_text(self, words: str, key: str) -> Text: ...

    def _styles_of_pass(self) -> _PassStyles: ...


class TableLines:
    """The drawing half of LiveTable (a mixin: `self` is the LiveTable, a `DrawnTable` and a Textual ScrollView)."""

    # ------------------------------------------------------------------------------------- the foot

    def foot_lines(self: DrawnTable) -> int:
        """1 when the foot line is shown: a filter is on or the table follows (unless its pane says these
        itself: `foot`), or rows arrived below the view."""
        shown = (self.foot and (bool(self.model.filter_text) or self.follow)) or self.new_below
        return 1 if shown else 0

    def foot_text(self: DrawnTable) -> Text:
        """`12 of 340 match “insp” · 3 new ↓ End · ● following (f: stop)`."""
        model = self.model
        parts: list[Text] = []
        if self.foot and model.filter_text:
            parts.append(Text(f"{model.row_count:,} of {model.total_count:,} match “{model.filter_text}”"))
        if self.new_below:
            parts.append(self._news_text(f"{self.new_below:,} new ↓", "End"))
        if self.foot and self.follow:
            parts.append(Text("● following (f: stop)"))
        return Text(" · ").join(parts)

    def _news_text(self: DrawnTable, words: str, key: str) -> Text:
        return Text(f" {words} ", style=self._styles_of_pass().news).append(f" {key}", style="dim")

    def news_above_width(self: DrawnTable) -> int:
        """Cells the header's "3 new ↑" marker takes at its right end (0: none)."""
        return self._news_text(f"{self.new_above:,} new ↑", "Home").cell_len + 1 if self.new_above else 0

    def _message_strip(self: DrawnTable, text: Text, style: Style, width: int) -> Strip:
        line = Text(" ", no_wrap=True, end="").append_text(text)
        line.truncate(width, overflow="ellipsis", pad=True)
        return Strip(Segment.apply_style(line.render(self.app.console), style), width)

    def _no_match_text(self: DrawnTable) -> Text:
        return Text(f"no rows match “{self.model.filter_text}” · Esc clears the filter", style="italic")

    def notify_style_update(self) -> None:
        """The styles are worked out again at the next pass; the lines drawn stay cached: their keys hold the styles
        they were drawn with, so a line whose style changed (a theme, the cursor's when the focus comes or goes) is
        drawn again and the others are not. Clearing them here redrew every visible row of a table given the focus
        by a tab switch, ~10 ms of the switch under load."""
        super().notify_style_update()
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
            if not width:
                continue  # hidden: the table is too narrow for it (table_layout.py)
            if column.cut == "start" and cell.cell_len > width:
                cell = cut_start(cell, width)
            else:
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
        if self.new_above:  # over the labels' right end, while the rows that arrived above are out of sight
            marker = self._news_text(f"{self.new_above:,} new ↑", "Home").append(" ")
            room = strip.cell_length - marker.cell_len
            if room > 0:
                strip = Strip.join([strip.crop(0, room),
                                    Strip(Segment.apply_style(marker.render(self.app.console), style))])
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
                self._over_style("livetable--cursor"),
                base + self.get_component_rich_style("livetable--foot"),
                self._over_style("livetable--news"),
            )
        return styles

    def _over_style(self: DrawnTable, name: str) -> Style:
        """A component's own style, to lay over cells that have colours of their own, with its colours as shown:
        Textual's partial style drops a colour's alpha (the blurred cursor's `$primary 30%` came out as the full
        primary, its text unreadable on it in most themes), the full style has them blended over the table."""
        partial = self.get_component_rich_style(name, partial=True)
        full = self.get_component_rich_style(name)
        return partial + Style(color=full.color if partial.color is not None else None,
                               bgcolor=full.bgcolor if partial.bgcolor is not None else None)

    def render_line(self, y: int) -> Strip:
        styles = self._styles_of_pass()
        width = styles.width
        scroll_x, scroll_y = self.scroll_offset
        widths = self._layout(width)
        model = self.model
        if y == 0:
            style = styles.header
            strip = self._header_strip(widths, style)
        elif self.foot_lines() and y == self.scrollable_content_region.height - 1:
            return self._message_strip(self.foot_text(), styles.foot, width)
        else:
            index = scroll_y + y - 1
            if index >= model.row_count:
                if index == 0 and model.filter_text:
                    return self._message_strip(self._no_match_text(), styles.foot, width)
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
