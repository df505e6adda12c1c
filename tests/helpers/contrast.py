"""Contrast of what is on screen, cell by cell, as WCAG 2 measures it: the relative luminance of the text's colour
against its background's, (L1 + 0.05) / (L2 + 0.05), from 1 (none) to 21 (black on white). WCAG asks 4.5 for body
text and 3 for large text and interface parts; terminals have no large text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.color import Color

from tui.app.themes import contrast as ratio  # WCAG 2's formula, the one the header's colours are chosen with


def blend(top: tuple[int, int, int], bottom: tuple[int, int, int], share: float) -> tuple[int, int, int]:
    return tuple(round(t * share + b * (1 - share)) for t, b in zip(top, bottom))  # type: ignore[return-value]


@dataclass(frozen=True)
class Cell:
    text: str
    foreground: tuple[int, int, int]
    background: tuple[int, int, int]
    dim: bool

    @property
    def ratio(self) -> float:
        return ratio(self.foreground, self.background)


def truecolor(color: Color | None, fallback: tuple[int, int, int]) -> tuple[int, int, int]:
    if color is None or color.is_default:
        return fallback
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def cells(strips, default_fg: tuple[int, int, int], default_bg: tuple[int, int, int]) -> list[Cell]:
    """The text runs (with a letter or digit) of rendered strips with the colours a terminal would show them in (reverse swapped, dim as
    a terminal draws it: half way to the background)."""
    found = []
    for strip in strips:
        for segment in strip:
            text, style = segment.text, segment.style
            if style is None or segment.control or not any(ch.isalnum() for ch in text):
                continue  # blank, or drawing (borders, bars, scrollbars): not text to read
            fg = truecolor(style.color, default_fg)
            bg = truecolor(style.bgcolor, default_bg)
            if style.reverse:
                fg, bg = bg, fg
            if style.dim:
                fg = blend(fg, bg, 0.5)
            found.append(Cell(text.strip(), fg, bg, bool(style.dim)))
    return found
