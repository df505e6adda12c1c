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
    # Every tab, and the Events tab's alerts view (`a`: its own columns and the alert under the cursor whole).
    for keys, tab in (*(((key,), tab) for key, (tab, _label) in zip("1234567", app.TABS)), (("7", "a"), "alerts")):
        await pilot.press(*keys)
        await pilot.pause()
        for cell in cells(app.screen._compositor.render_strips(), foreground, background):
            if cell.ratio < FLOOR:
                found.append(f"{app.theme} {tab} {size}: {cell.text[:30]!r} {cell.ratio:.2f} "
                             f"({cell.foreground} on {cell.background})")
    return found


MEASURED = sorted((OFFERED_THEMES or frozenset()) - TERMINAL_THEMES)
# A Capx fleet's streams in every state a channel has, beside the recorded world's few: past a handful of channels the
# header counts them per state (`capx ✖1 ◐2 ◔1 ◌2 ◒1 ●4 ○1 ⧗2`), text the recorded world alone never showed.
FLEET_STATES = ("failed", "failing", "stale", "reconnecting", "reconnecting", "connecting", "connecting", "degraded",
                "live", "live", "live", "live", "off")


def fleet_world_app():
    """The recorded world and a Capx fleet of 13 streams more, a few of them not live (a partial outage)."""
    from tests.helpers.recorded import RecordedHub
    from tui.live.events import ChannelState
    from tui.vendors.capx.live import CapxActivity

    hub = RecordedHub()
    store = hub.store
    for n, state in enumerate(FLEET_STATES):
        store.channel(f"capx.co_fleet{n:02}", "capx", fleet=CapxActivity.fleet)
        store.set_state(f"capx.co_fleet{n:02}", ChannelState(state), None if state == "live" else "stream ended")
    store.set_figure("capx.budget", {"waiting_streams": 2, "used": 30, "minute": 60})
    return recorded_app(hub)


async def test_the_palette_offers_only_the_measured_themes():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        assert set(app.available_themes) == set(OFFERED_THEMES or ())
        assert "textual-dark" in MEASURED and "gruvbox" not in app.available_themes


@pytest.mark.parametrize("theme", MEASURED)
async def test_every_offered_theme_reads(theme):
    """The recorded world with a fleet (FLEET_STATES): the header counts its channels per state."""
    problems = []
    for size in ((80, 24), (120, 40)):
        app = fleet_world_app()
        async with app.run_test(size=size) as pilot:
            await eventually(lambda: app.started_up.is_set(), pilot=pilot)
            app.theme = theme
            await pilot.pause()
            header = app.screen._compositor.render_strips()[0].text
            assert "capx ✖1" in header and "⧗2" in header, header  # the counts, measured with the rest
            problems += await low_contrast(app, pilot, size)
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("theme", MEASURED)
async def test_the_partial_banner_and_the_streams_marked_read(theme):
    """A fleet's partial outage (tests/app/test_fleet_banner.py): the banner's warning colour, the Capx table's
    marks and the line under it read in every offered theme, as the rest does."""
    from tests.app.test_fleet_banner import fleet_hub
    from tui.app.app import CapwatchApp
    from tui.config import Config
    from tui.live.events import ChannelState

    hub = fleet_hub()
    app = CapwatchApp(Config(max_output_kbps=0), hub=hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        app.theme = theme
        for n in range(14):
            hub.store.set_state(f"capx.co_{n:03}", ChannelState.FAILED if n == 0 else ChannelState.RECONNECTING)
        app.flush_changes()
        await app.action_show_tab("capx")
        await pilot.pause()
        variables = app.get_css_variables()
        background, foreground = Color.parse(variables["background"]).rgb, Color.parse(variables["foreground"]).rgb
        strips = app.screen._compositor.render_strips()
        assert "14 of 300 company streams" in strips[1].text
        # The banner's line, and the words of the marks (a glyph alone is drawing, not measured: cells()).
        ours = [cell for n, strip in enumerate(strips) for cell in cells([strip], foreground, background)
                if n == 1 or "stream" in cell.text]
        assert any("stream failed since" in cell.text for cell in ours)
        problems = [f"{theme}: {cell.text[:30]!r} {cell.ratio:.2f} ({cell.foreground} on {cell.background})"
                    for cell in ours if cell.ratio < FLOOR]
    assert not problems, "\n".join(problems[:40])


def test_the_terminals_own_colours_stay_the_terminals_in_the_header():
    """ansi-dark and ansi-light (a transparent panel, ANSI colours): the header's state colours are the theme's own,
    not hex made from them (tui/app/themes.py `on_panel_variables`)."""
    from textual.app import App

    from tui.app.themes import on_panel_variables

    app = App()
    for theme in sorted(TERMINAL_THEMES):
        app.theme = theme
        variables = app.get_css_variables()
        assert on_panel_variables(variables) == {f"panel-{name}": variables[f"text-{name}"]
                                                 for name in ("error", "warning", "success")}
