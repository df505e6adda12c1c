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
"""

from __future__ import annotations

from rich.terminal_theme import TerminalTheme

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
