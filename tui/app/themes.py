"""The colours capwatch's cells are written in (Rich's named colours: green, yellow, red...) as each theme shows them,
and the themes the palette offers.

Textual turns a named colour into RGB with an ANSI theme, one for dark themes and one for light ones; its own
(Monokai, Alabaster) put red at 2.2:1 on a dark panel and yellow at 1.8:1 on light grey. These are chosen for 3:1 or
more on every background of the offered themes (surface, panel, the cursor row): bright and light on dark, deep on
light. Highlights are `reverse <colour>` rather than `black on <colour>`, so that they read on both.

`OFFERED_THEMES`: the themes whose every text cell has 3:1 or more on every tab, at 80x24 and 120x40 (WCAG 2's
floor for interface text; measured cell by cell from what is drawn: tests/app/test_themes.py, tests/helpers/
contrast.py). The others are taken out of the palette (`offer_themes`); "ansi-dark" and "ansi-light" use the
terminal's own colours, which capwatch cannot measure, and are left to the operator's terminal.

`on_panel_variables`: the header's lights are drawn on `$panel`, which light themes make darker than the background
Textual's `$text-warning` and `$text-success` are made for (a fleet's ◐ counts read 2.14:1 in atom-one-light, 2.80:1
in textual-light). The header writes them in `$panel-error`, `$panel-warning`, `$panel-success`: the same hues,
darkened (on a light panel) or lightened (on a dark one) until they have PANEL_CONTRAST with the panel; a colour that
has it already is kept.
"""

from __future__ import annotations

from rich.terminal_theme import TerminalTheme
from textual.color import Color, ColorParseError

CAPWATCH_DARK = TerminalTheme(
    (12, 12, 12), (217, 217, 217),
    [(26, 26, 26), (255, 120, 120), (110, 220, 120), (245, 205, 90),
     (125, 170, 255), (230, 140, 255), (90, 215, 235), (220, 220, 220)],
    [(150, 150, 150), (255, 145, 145), (145, 235, 145), (255, 225, 125),
     (150, 190, 255), (240, 165, 255), (130, 230, 245), (246, 246, 239)],
)
CAPWATCH_LIGHT = TerminalTheme(
    (247, 247, 247), (0, 0, 0),
    [(0, 0, 0), (165, 20, 30), (20, 105, 30), (120, 80, 0),
     (20, 70, 175), (125, 40, 145), (0, 95, 120), (247, 247, 247)],
    [(85, 85, 85), (180, 35, 35), (25, 115, 35), (130, 88, 0),
     (30, 85, 190), (140, 45, 160), (0, 105, 130), (255, 255, 255)],
)

# Measured (tests/app/test_themes.py) after the fixes of issue 18 (the blurred cursor's colour, the key bar's keys,
# the inactive tabs, the badges, these ANSI themes): every text cell of every tab at 3:1 or more. Not offered:
# gruvbox (its blurred cursor row: 2.4:1), solarized-dark and solarized-light (dim text: 2.6 to 2.8:1).
OFFERED_THEMES: frozenset[str] | None = frozenset({
    "textual-dark", "textual-light", "atom-one-dark", "atom-one-light", "catppuccin-frappe", "catppuccin-latte",
    "catppuccin-macchiato", "catppuccin-mocha", "dracula", "flexoki", "monokai", "nord", "rose-pine",
    "rose-pine-dawn", "rose-pine-moon", "tokyo-night",
    "ansi-dark", "ansi-light",  # the terminal's own colours: not measurable here, left to the terminal
})


def offer_themes(app, offered: frozenset[str] | None) -> None:
    """Take every theme not in `offered` out of the app's palette (None: keep them all)."""
    if offered is None:
        return
    for name in list(app.available_themes):
        if name not in offered and name != app.theme:
            app.unregister_theme(name)


PANEL_CONTRAST = 4.5  # WCAG 2's body text: a margin over the 3:1 floor every text cell is measured against
PANEL_TEXT = ("error", "warning", "success")  # $text-<name> -> $panel-<name>


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2's relative luminance of an sRGB colour."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG 2's contrast ratio, (L1 + 0.05) / (L2 + 0.05): 1 (none) to 21 (black on white)."""
    a, b = sorted((luminance(first), luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def readable_on(color: Color, background: Color, floor: float = PANEL_CONTRAST) -> Color:
    """`color` as drawn on `background`, darkened (on a light background) or lightened (on a dark one) in small steps
    until it has `floor` with it (or can go no further)."""
    drawn = background + color
    step = -0.02 if luminance(background.rgb) > 0.18 else 0.02
    for _ in range(50):
        if contrast(drawn.rgb, background.rgb) >= floor:
            break
        drawn = drawn.lighten(step)
    return drawn


def on_panel_variables(variables: dict[str, str]) -> dict[str, str]:
    """`panel-error`, `panel-warning`, `panel-success` for a theme's variables (see the module's docstring). A theme
    of the terminal's own colours (ansi-dark, ansi-light: a transparent panel) keeps them as they are."""
    kept = {f"panel-{name}": variables.get(f"text-{name}", name) for name in PANEL_TEXT}
    try:
        panel = Color.parse(variables["panel"])
        background = Color.parse(variables["background"])
        colours = {name: Color.parse(variables[f"text-{name}"]) for name in PANEL_TEXT}
    except (KeyError, ColorParseError):
        return kept
    if panel.a == 0 or background.a == 0 or any(c.ansi is not None for c in (panel, background, *colours.values())):
        return kept
    panel = background + panel  # as drawn
    return {f"panel-{name}": readable_on(colour, panel).hex for name, colour in colours.items()}


def on_panel(style: str) -> str:
    """A style of the state colours (`bold $text-warning`) for text on `$panel` (`bold $panel-warning`)."""
    for name in PANEL_TEXT:
        style = style.replace(f"$text-{name}", f"$panel-{name}")
    return style
