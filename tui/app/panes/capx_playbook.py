"""The Capx tab's playbook chooser: one playbook to run on the selected company (a confirmation follows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.app.screens import Window
from tui.app.toolkit.cells import clean

class PlaybookScreen(Window[str | None]):
    """Choose one playbook to run. Dismisses with its id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, playbooks: Iterable[Any], company_name: str):
        super().__init__(classes="modal")
        self.company_name = company_name
        seen: set[str] = set()
        self.options: list[Option] = []
        for playbook in playbooks:
            playbook_id = str(getattr(playbook, "id", "") or "")
            if not playbook_id or playbook_id in seen:  # an option id must be unique
                continue
            seen.add(playbook_id)
            prompt = Text.assemble((clean(getattr(playbook, "name", None), playbook_id), "bold"), "  ",
                                   (clean(getattr(playbook, "description", None), ""), "dim"))
            self.options.append(Option(prompt, id=playbook_id))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="capx-playbook-dialog"):
            yield Label(Text(f"Run a playbook on {self.company_name}", style="bold"), classes="dialog-title")
            yield OptionList(*self.options, id="capx-playbook-list")
            yield Label(Text("Enter chooses · Esc cancels", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_id)

    def action_cancel(self) -> None:
        self.dismiss(None)
