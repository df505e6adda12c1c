"""The filter box: one behaviour on every tab that filters a table.

- `/` opens it on the table that has focus (the pane's main table when none of its tables has), holding that
  table's filter; typing filters the table as you type (the table's `filter_text`: every column's text).
- Enter goes back to the table and keeps the filter. While the table stays filtered the box stays on screen,
  out of the way: "tasks filtered by  progress  / to change", so a filtered table always says so, and by what.
- Escape clears the filter, closes the box and goes back to the table; on the filtered table too (a table whose
  filter matches nothing says so, and that Escape clears it).
- One filter per box: opening it on another table of the pane clears the previous table's filter, so switching
  tables never leaves a filter behind that nothing shows.

A pane with a box mixes in `FilterablePane` and names its main table; the Events tab's two filters are boxes
that are always shown (`inline`), one of them filtering by event type rather than the table's text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.actions import SkipAction
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label

from tui.app.keys import focus_now

if TYPE_CHECKING:
    from tui.app.widgets.table import LiveTable

HINT = "type to filter · Enter keeps it · Esc clears"


class FilterInput(Input):
    """The box's field. Enter keeps the filter and goes back to the table at once, not through a Submitted message
    (that would come after the rest of a burst of keys, and a tab's number after Enter would be typed here)."""

    async def action_submit(self) -> None:
        box = self.parent
        if isinstance(box, FilterBox):
            box.keep()


class FilterBox(Horizontal):
    """A one-line filter bound to a table (see the module's docstring). `inline`: always shown (a toolbar's
    field), Escape clears it but does not hide it. `filters_table=False`: the box only says what was typed
    (`Changed`) and the pane applies it, e.g. as a filter by event type."""

    DEFAULT_CSS = """
    FilterBox {
        dock: top;
        height: 1;
        padding: 0 1;
        background: $boost;
        display: none;
        &.-open { display: block; }
        &.-inline { dock: none; display: block; padding: 0; background: transparent; }
        & > .filter-box--label { width: auto; color: $text-muted; padding-right: 1; }
        &.-applied > .filter-box--label { color: $text-warning; text-style: bold; }
        & > .filter-box--hint { width: auto; color: $text-muted; padding-left: 1; display: none; }
        &.-applied > .filter-box--hint { display: block; }
        &.-inline > .filter-box--label, &.-inline > .filter-box--hint { display: none; }
        &.-inline.-applied > Input { color: $text-warning; text-style: bold; }
        & > Input { width: 1fr; }
    }
    """

    BINDINGS = [Binding("escape", "clear", "Clear filter", show=False)]

    class Changed(Message):
        """What the box holds changed (typing, or Escape clearing it)."""

        def __init__(self, box: FilterBox, value: str) -> None:
            super().__init__()
            self.box = box
            self.value = value

        @property
        def control(self) -> FilterBox:
            return self.box

    def __init__(self, *, placeholder: str = HINT, inline: bool = False, filters_table: bool = True,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.placeholder = placeholder
        self.inline = inline
        self.filters_table = filters_table
        self.target: LiveTable | None = None  # the table it filters, and where Enter and Escape go back to
        self.set_class(inline, "-inline")

    def compose(self) -> ComposeResult:
        yield Label("", classes="filter-box--label")
        yield FilterInput(placeholder=self.placeholder, compact=True)
        yield Label(Text("/ to change", style="dim"), classes="filter-box--hint")

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def value(self) -> str:
        return self.input.value

    @property
    def is_open(self) -> bool:
        return self.inline or self.has_class("-open")

    # ------------------------------------------------------------------------------------------- opening

    def open(self, table: LiveTable) -> None:
        """Show the box on `table` and give it focus, holding what the table is filtered by."""
        if self.filters_table and self.target is not None and self.target is not table:
            self.target.filter_text = ""  # one filter at a time: the one this box shows
        self.target = table
        box = self.input
        if self.filters_table:
            with box.prevent(Input.Changed):
                box.value = table.filter_text
        box.cursor_position = len(box.value)
        self.add_class("-open")
        self._show_state(editing=True)
        focus_now(box)

    def action_clear(self) -> None:
        """Escape: clear the filter, close (unless inline), back to the table."""
        box = self.input
        if box.value:
            with box.prevent(Input.Changed):
                box.value = ""
            self._apply("")
        self.keep()

    def keep(self) -> None:
        """Enter: back to the table, the filter kept (the box stays on screen while it filters)."""
        if not self.value:
            self.remove_class("-open")
        self._show_state(editing=False)
        if self.target is not None:
            focus_now(self.target)

    # ------------------------------------------------------------------------------------------- typing

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply(event.value)

    def _apply(self, value: str) -> None:
        if self.filters_table and self.target is not None:
            self.target.filter_text = value
        self.post_message(self.Changed(self, value))

    def on_descendant_focus(self, event: Any) -> None:
        self._show_state(editing=True)

    def on_descendant_blur(self, event: Any) -> None:
        if not self.value and not self.inline:
            self.remove_class("-open")  # left empty: nothing to show
        self._show_state(editing=False)

    def _show_state(self, *, editing: bool) -> None:
        name = self._target_name()
        applied = bool(self.value) and not editing
        self.set_class(applied, "-applied")
        label = f"{name} filtered by" if applied else f"filter {name}"
        self.query_one(".filter-box--label", Label).update(Text(label))

    def _target_name(self) -> str:
        return self.target.what if self.target is not None else "table"


class FilterablePane:
    """For a pane with a `FilterBox`: the `/` key (bind `FILTER_KEY`) opens it on the focused table; Escape on the
    table (bind `CLEAR_KEY`) clears the filter, when there is one."""

    FILTER_KEY = Binding("slash", "filter", "Filter", key_display="/")
    CLEAR_KEY = Binding("escape", "clear_filter", "Clear filter", show=False)

    def action_clear_filter(self) -> None:
        box = self.filter_box()
        if not box.value:
            raise SkipAction()  # nothing to clear: Escape goes on to whoever else wants it
        box.action_clear()

    def main_table(self) -> LiveTable:
        """The table `/` filters when none of the pane's tables has focus."""
        raise NotImplementedError

    def filter_box(self) -> FilterBox:
        return self.query_one(FilterBox)  # type: ignore[attr-defined]

    def reveal(self, table: LiveTable, row_id: str) -> bool:
        """Put the cursor on `row_id` of `table` and focus it; a filter that hides the row is cleared (its box
        with it). False when the table has no such row."""
        if table.get_row(row_id) is None:
            return False
        if row_id not in table.row_ids:
            box = self.filter_box()
            if box.target is table and box.value:
                box.action_clear()
            table.filter_text = ""
        table.choose_row(row_id)
        table.focus()
        return True

    def action_filter(self) -> None:
        focused = self.app.focused  # type: ignore[attr-defined]
        mine = focused is not None and self in focused.ancestors and hasattr(focused, "filter_text")
        self.filter_box().open(focused if mine else self.main_table())  # type: ignore[arg-type]
