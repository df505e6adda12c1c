"""Modal screens: keys, channel health, JSON detail, and the confirmations every mutation asks for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Button, Input, Label, Static

from tui.app.widgets.keybar import KeyBar
from tui.text import sanitize, sanitize_data

if TYPE_CHECKING:
    from rich.syntax import Syntax


class Window(ModalScreen[ScreenResultType]):
    """Every window of the monitor (a detail, a form, a question, the keys): it takes every key while it is up, so it
    has a key bar of its own over the screen's, offering its own keys only. (Under a window the screen's bar went on
    offering the tab's keys, `a Approve` among them, and none of them did anything.)"""

    def on_mount(self) -> None:
        self.mount(KeyBar())


class WindowKey(NamedTuple):
    """A key a detail window offers for its entity (`a` Approve on a task awaiting approval): pressing it closes the
    window, on the entity's row, and runs the pane's action `action` there (its confirmation, read-only's refusal)."""

    key: str
    action: str
    description: str


class FormScreen(Window[dict | None]):
    """The shell every form dialog shares: Enter in a field or the primary button submits, Escape or Cancel
    dismisses with None, `fail` shows what is wrong in the dialog's `.form-error` line. Subclasses compose
    the fields and implement `submit`, which dismisses with the form's values once they are valid."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def fail(self, message: str) -> None:
        self.query_one(".form-error", Static).update(Text(message))

    def value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def submit(self) -> None:
        raise NotImplementedError


class _Modal(Window):
    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def pretty_json(value: Any) -> Syntax:
    """Highlighted JSON built from sanitized data: Syntax highlights text, it never interprets markup."""
    from rich.syntax import Syntax  # pygments: imported when a detail is first opened, not before the first frame

    text = json.dumps(sanitize_data(value), indent=2, ensure_ascii=False, default=str)
    return Syntax(text, "json", theme="ansi_dark", word_wrap=True, background_color="default")


class DetailScreen(_Modal):
    """A row (or any payload) as pretty JSON, including the fields capwatch does not know; and the keys of what can
    be done to its entity (`keys`: approve, reject, pause), first in its key bar. Dismisses with the chosen key's
    action (the caller runs it, on the entity's row), or None."""

    BINDINGS = [Binding("escape,q,enter", "dismiss_none", "Close"), Binding("y", "copy", "Copy JSON")]

    def __init__(self, title: str, value: Any, *, keys: Sequence[WindowKey] = ()):
        super().__init__(classes="modal")
        self.title_text = sanitize(title, single_line=True)
        self.value = value
        self.keys = tuple(keys)
        if self.keys:  # the entity's keys first, then Close and Copy
            own = [binding for _key, binding in self._bindings]
            self._bindings = BindingsMap([*(Binding(key.key, f"choose({key.action!r})", key.description)
                                            for key in self.keys), *own])

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(self.title_text, style="bold"), classes="dialog-title")
            with VerticalScroll(classes="detail-body"):
                yield Static(pretty_json(self.value), classes="detail-json")
            yield Label(self._hint(), id="detail-hint")

    def _hint(self, said: str = "") -> Text:
        hint = [f"{key.key} {key.description.lower()}" for key in self.keys]
        text = Text(" · ".join([*hint, "Esc closes", "y copies the JSON"]), style="dim")
        if said:  # what a key did, in the window (a toast would wait for it to close)
            text = Text.assemble((said, "bold green"), " · ", text)
        return text

    def action_choose(self, action: str) -> None:
        self.dismiss(action)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(json.dumps(sanitize_data(self.value), indent=2, default=str))
        self.query_one("#detail-hint", Label).update(self._hint("✔ Copied the JSON"))


class ConfirmScreen(_Modal):
    """Yes/no before a mutation. Dismisses with True or False."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("escape,n", "answer(False)", "No")]  # as the buttons

    def __init__(self, question: str, *, danger: bool = False):
        super().__init__(classes="modal")
        self.question = question
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.question), classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TypeToConfirmScreen(_Modal):
    """Destructive actions ask the operator to type the name of what goes away."""

    def __init__(self, question: str, expected: str):
        super().__init__(classes="modal")
        self.question = question
        self.expected = expected

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.question), classes="dialog-question")
            yield Label(Text.assemble("Type ", (self.expected, "bold"), " to confirm, Esc to cancel"))
            yield Input(placeholder=self.expected, id="confirm-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.expected:
            self.dismiss(True)
        else:
            self.app.notify("The name does not match; nothing was deleted", severity="warning", markup=False)
            self.dismiss(False)


# The rules keys follow (README "Using it"; tui/app/keys.py makes them hold however fast keys come).
KEY_RULES = (
    ("in order", "every key acts before the next is looked at: a paste or a fast burst over SSH loses none"),
    ("commands, text", "outside a text field every key is a command; in one (the question, a filter, a form) "
                       "every printable key is text"),
    ("escape", "always leaves a text field (a filter: clears it); outside the question, cancels a running query"),
    ("enter", "in a filter: keeps it and goes back to the table; on the Query tab: edits the question"),
    ("mouse", "click a tab, a row (again: open it), a key in the key bar, the lights (channel health)"),
)


class HelpScreen(_Modal):
    """Every key: the global ones and each tab's."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss_none", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False, expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True, width=24)
        table.add_column("action", ratio=1)
        table.add_row(Text("Global", style="bold underline"), "")
        for n, (_, label) in enumerate(self.app.TABS, start=1):  # type: ignore[attr-defined]
            table.add_row(str(n), f"show {label.split(' ', 1)[1]}")
        for key, text in (("?", "this list"), ("h", "channel health"), ("ctrl+p", "command palette: every action"),
                          ("m", "mute or unmute alert toasts and the bell (the palette snoozes them)"),
                          ("ctrl+e", "export the shown table, as filtered and sorted, to CSV or JSON lines"),
                          ("tab / shift+tab", "move focus"), ("q", "quit")):
            table.add_row(key, text)
        table.add_row(Text("Keys and typing", style="bold underline"), "")
        for key, text in KEY_RULES:
            table.add_row(key, text)
        table.add_row(Text("Tables", style="bold underline"), "")
        for key, text in (("/", "filter"), ("s", "sort by the next column (S reverses)"), ("enter", "open the row as JSON"),
                          ("y", "copy the row's id (OSC 52)"), ("↑ ↓ pgup pgdn home end", "move")):
            table.add_row(key, text)
        # By type name, which Textual matches against a widget's base classes too: the screens import no pane
        # (the panes' confirm-and-run imports the screens).
        for pane in self.app.query("Pane"):
            keys = pane.help_keys()
            if keys:
                table.add_row(Text(pane.HELP_TITLE, style="bold underline"), "")
                for key, text in keys:
                    table.add_row(key, text)
        with Vertical(classes="dialog wide"):
            yield Label(Text("Keys", style="bold"), classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
            yield Label(Text("Esc, q or ? closes · ↑ ↓ PgUp PgDn scroll", style="dim"))


class HealthScreen(_Modal):
    """Every channel, the worst first, named by what it follows (a Capx company's name): state, age of the last
    event (`6m24s ago`), events, reconnects, last error; under them what channels count (the receiver's refusals
    and time-outs, bad messages). Refreshes every second."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text.assemble(("Channel health", "bold"), ("   the worst first", "dim")),
                        classes="dialog-title")
            with VerticalScroll():
                yield Static(id="health-table")
            yield Label(Text("Esc closes", style="dim"))

    def on_mount(self) -> None:
        self._refresh_table()
        self.set_interval(1.0, self._refresh_table)

    def _refresh_table(self) -> None:
        from rich.console import Group

        from tui.app.health_words import age_text, channel_label, worst_first

        store = self.app.hub.store  # type: ignore[attr-defined]
        table = Table(expand=True, box=None)
        for column in ("channel", "state", "last event", "events", "reconnects"):
            table.add_column(column, no_wrap=True)
        channels = worst_first(list(store.health.values()), store)
        for health in channels:
            table.add_row(Text(channel_label(health, store)),
                          Text(health.state.value, style=f"bold {STATE_COLOURS.get(health.state.value, '')}"),
                          Text(age_text(health)), Text(str(health.events)), Text(str(health.reconnects)))
        # The last errors and what channels count beside their events (the receiver's refusals and time-outs, bad
        # messages) go under the table, a channel a paragraph each, the window's whole width: a column for the
        # error was squeezed to a few characters in the 100-column window (a word per line at 80x24).
        sections = []
        for title, lines in (
                ("Last errors", [(health, sanitize(health.last_error, single_line=True) + health.error_time())
                                 for health in channels if health.last_error]),
                ("Counts", [(health, health.counters_text()) for health in channels if health.counters_text()])):
            if lines:
                sections.append(Text("\n" + title, style="bold"))
                sections += [Text.assemble((f"{channel_label(health, store)}: ", "bold"), text)
                             for health, text in lines]
        self.query_one("#health-table", Static).update(Group(table, *sections))


STATE_COLOURS = {"live": "green", "degraded": "yellow", "connecting": "yellow", "reconnecting": "yellow",
                 "failing": "yellow", "stale": "yellow", "failed": "red", "off": "dim"}
