"""What the operator saw of a LiveTable, for what their next key acts on (`chosen_row_id`): the row under the
cursor as last drawn and the rows drawn on each line, noted as a frame is drawn. Following moves the cursor between
two frames (an alert arrives just before Enter); Enter, a click and every action on "the selected row" still take
the row the screen showed. A mixin of tui/app/widgets/table.py `LiveTable`, whose model, cursor and scroll it reads."""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip

from tui.app.widgets.table_model import Row


class SeenRows:
    _seen: tuple[str, Row] | None  # the row the operator has under the cursor (LiveTable.__init__ sets both)
    _drawn: list[str]  # the row ids on the lines last drawn, top to bottom

    @property
    def chosen_row_id(self) -> str | None:
        """The row an action of the operator's is for: the one under the cursor as last drawn (or where their own
        keys put the cursor since), never one that following moved the cursor onto after the last frame. Before the
        first frame (and once hidden), the cursor's row. It may be a row gone since it was drawn: `chosen_row`."""
        return self._seen[0] if self._seen is not None else self._cursor_id

    def chosen_row(self) -> Row | None:
        """The chosen row's values: as they are now, or as drawn when the row is gone since (an alert acknowledged
        elsewhere, an event evicted): what the operator saw is what they open."""
        if self._seen is None:
            return None if self._cursor_id is None else self.model.get_row(self._cursor_id)
        row_id, drawn = self._seen
        return self.model.get_row(row_id) or drawn

    def _choose(self, row_id: str | None) -> None:
        """The operator put the cursor on `row_id` (a key, a click, a pane acting for them): it is theirs at once."""
        row = None if row_id is None else self.model.get_row(row_id)
        self._seen = None if row is None else (row_id, row)

    def _drawn_at(self, y: int) -> str | None:
        """The row drawn on content line `y` in the last frame (before the first: the one there now)."""
        ids = self._drawn
        if not ids:
            index = round(self.scroll_y) + y - 1
            return self.model.row_at(index) if 0 <= index < self.model.row_count else None
        return ids[y - 1] if 0 < y <= len(ids) else None

    def render_lines(self, crop: Region) -> list[Strip]:
        """Drawn: what the screen shows is what the operator's next key is about (`chosen_row_id`, `_drawn_at`). A
        frame draws the table whole (what is in sight of it); a single line is Textual asking a cell's style (under
        the mouse, on every move and click), which shows nothing."""
        strips = super().render_lines(crop)
        if crop.height > 1:
            self._note_drawn()
        return strips

    def _note_drawn(self) -> None:
        model, top = self.model, round(self.scroll_y)
        if self._cursor_id is not None and model.position(self._cursor_id) is not None:
            self._seen = (self._cursor_id, model.rows[self._cursor_id])
        else:
            self._seen = None
        shown = max(0, min(self._page_rows(), model.row_count - top))
        self._drawn = [model.row_at(top + n) for n in range(shown)]

    def on_hide(self) -> None:
        """Out of sight (another tab): nothing of it is on the screen to act on until it is drawn again."""
        self._seen = None
        self._drawn = []
