"""Every theme the command palette offers reads: each text cell of every tab, at 80x24 and 120x40, has a contrast of
3:1 or more with its background (WCAG 2's floor for interface text), measured from what is drawn
(tests/helpers/contrast.py). Themes that do not pass are not offered (tui/app/themes.py `OFFERED_THEMES`); the two
that use the terminal's own colours cannot be measured and are left to the terminal."""

from __future__ import annotations

import pytest
from textual.color import Color

from tests.helpers.contrast import cells
from tests.helpers.recorded import recorded_app
from tests.helpers.waiting import eventually
from tui.app.themes import OFFERED_THEMES

FLOOR = 3.0
TERMINAL_THEMES = {"ansi-dark", "ansi-light"}


async def low_contrast(app, pilot, size: tuple[int, int]) -> list[str]:
    """Every text run under FLOOR on every tab, as `theme tab: 'text' ratio`."""
    variables = app.get_css_variables()
    background, foreground = Color.parse(variables["background"]).rgb, Color.parse(variables["foreground"]).rgb
    found = []
    for key, (tab, _label) in zip("1234567", app.TABS):
        await pilot.press(key)
        await pilot.pause()
        for cell in cells(app.screen._compositor.render_strips(), foreground, background):
            if cell.ratio < FLOOR:
                found.append(f"{app.theme} {tab} {size}: {cell.text[:30]!r} {cell.ratio:.2f} "
                             f"({cell.foreground} on {cell.background})")
    return found


MEASURED = sorted((OFFERED_THEMES or frozenset()) - TERMINAL_THEMES)


async def test_the_palette_offers_only_the_measured_themes():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        assert set(app.available_themes) == set(OFFERED_THEMES or ())
        assert "textual-dark" in MEASURED and "gruvbox" not in app.available_themes


@pytest.mark.parametrize("theme", MEASURED)
async def test_every_offered_theme_reads(theme):
    problems = []
    for size in ((80, 24), (120, 40)):
        app = recorded_app()
        async with app.run_test(size=size) as pilot:
            await eventually(lambda: app.started_up.is_set(), pilot=pilot)
            app.theme = theme
            await pilot.pause()
            problems += await low_contrast(app, pilot, size)
    assert not problems, "\n".join(problems[:40])
