"""One line that fits its width by priorities, not by cutting its end: each part has forms, longest first; while the
line is too wide, the part that matters least takes its next shorter form (a last empty form: it goes), then the
next, and only a line that still does not fit is cut (…). The Overview's alerts title, the Query tab's status: at 80
columns they lost their end ("Enter opens · a", the database's name)."""

from __future__ import annotations

from typing import NamedTuple, Sequence

from rich.text import Text
from textual.widgets import Static


class Part(NamedTuple):
    forms: tuple[Text, ...]  # longest first; a part that may go ends with an empty form
    rank: int = 0  # the lower, the sooner it gives way (of equal ranks, the rightmost first)
    lead: str = " · "  # what comes before it, unless it is the first shown


def part(*forms: str | Text, rank: int = 0, style: str = "", lead: str = " · ") -> Part:
    return Part(tuple(form if isinstance(form, Text) else Text(form, style=style) for form in forms), rank, lead)


def fit(parts: Sequence[Part], width: int) -> Text:
    """The longest forms that fit in `width` cells (0: no width known yet, every part whole)."""
    chosen = [0] * len(parts)

    def line() -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for part_, n in zip(parts, chosen):
            form = part_.forms[n]
            if form:
                if text:
                    text.append(part_.lead, style="dim")
                text.append_text(form)
        return text

    text = line()
    while width and text.cell_len > width:
        shrinkable = [i for i, part_ in enumerate(parts) if chosen[i] < len(part_.forms) - 1]
        if not shrinkable:
            text.truncate(width, overflow="ellipsis")
            break
        chosen[min(shrinkable, key=lambda i: (parts[i].rank, -i))] += 1
        text = line()
    return text


class FitLine(Static):
    """A one-line Static that fits its parts (`show`) to its width whenever it is drawn, a resize included."""

    def __init__(self, *parts: Part, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._parts: tuple[Part, ...] = parts

    def show(self, *parts: Part) -> None:
        if parts != self._parts:
            self._parts = parts
            self.refresh()  # one line high: no layout of the screen

    def show_text(self, text: Text) -> None:
        """A line of one part, cut at its end when it does not fit."""
        self.show(Part((text,)))

    def render(self) -> Text:
        return fit(self._parts, self.size.width)
