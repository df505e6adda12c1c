"""The header at the sizes an operator uses (80x24 over SSH, 120x40, 200x50): every service's lights in the richest
form that fits, never cut; a fleet of 300 Capx companies as counts, the worst state first; a service's streams
waiting for a request budget counted from its figure; and `h` naming channels by what they follow."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest
from rich.text import Text

from tests.helpers.parcelco import PARCELCO
from tests.helpers.recorded import RecordedHub, recorded_app
from tests.helpers.waiting import eventually
from tui.app.header import HeaderBar, environment_badge
from tui.app.screens import HealthScreen
from tui.live.events import ChannelState
from tui.vendors import BY_NAME

CLOCK = re.compile(r" \d\d:\d\d:\d\d$")


def header_line(app) -> str:
    return app.screen._compositor.render_strips()[0].text


def fleet_hub(companies: int, failing: int = 0, stale: int = 0) -> RecordedHub:
    """The recorded world with `companies` more Capx activity channels, some failing or stale."""
    hub = RecordedHub()
    store = hub.store
    for n in range(companies):
        name = f"capx.co_fleet{n:04d}"
        store.channel(name, "capx")
        store.set_state(name, ChannelState.FAILING if n < failing else
                        ChannelState.STALE if n < failing + stale else ChannelState.LIVE)
    return hub


async def shown(app, pilot) -> str:
    await eventually(lambda: app.started_up.is_set(), pilot=pilot)
    await pilot.pause()
    header = app.query_one(HeaderBar)
    header.fit()
    await pilot.pause()
    return header_line(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_every_service_fits_and_nothing_is_cut(size):
    app = recorded_app()
    async with app.run_test(size=size) as pilot:
        line = (await shown(app, pilot)).rstrip()
        assert CLOCK.search(line), line  # the clock whole, after a space
        for service in ("capout", "capx", "captain", "webhooks"):
            assert re.search(rf"{service} [●◐✖◔◌○]", line), line
        if size[0] >= 120:
            assert app.query_one(HeaderBar).form == "lights" and "capx ●●●●●●" in line


async def test_ten_companies_at_120_and_a_fleet_of_300_are_counted_worst_first():
    app = recorded_app(fleet_hub(10))
    async with app.run_test(size=(120, 40)) as pilot:
        line = (await shown(app, pilot)).rstrip()
        assert "capx ●16" in line and CLOCK.search(line), line  # 16 channels, more than MAX_LIGHTS: counted

    app = recorded_app(fleet_hub(300, failing=2, stale=1))
    async with app.run_test(size=(120, 40)) as pilot:
        line = (await shown(app, pilot)).rstrip()
        assert "capx ◐2 ◔1 ●303" in line and CLOCK.search(line), line

    app = recorded_app(fleet_hub(300, failing=2, stale=1))
    async with app.run_test(size=(80, 24)) as pilot:
        line = (await shown(app, pilot)).rstrip()
        assert "capx ◐2 ◔1" in line and CLOCK.search(line), line  # only what is not live, never cut


async def test_streams_waiting_for_a_request_budget_are_counted_from_the_services_figure():
    hub = fleet_hub(300)
    for n in range(12):  # a stream waiting for the budget is one not open yet
        hub.store.set_state(f"capx.co_fleet{n:04d}", ChannelState.CONNECTING)
    hub.store.set_figure("capx.budget", {"waiting_streams": 12})
    app = recorded_app(hub)
    async with app.run_test(size=(120, 40)) as pilot:
        line = (await shown(app, pilot)).rstrip()
        assert "capx ◌12 ●294 ⧗12" in line, line
        # The figure is a second old at most: streams it counted that have opened since are not shown waiting (at
        # 300 companies the header said `◐167 ⧗300`).
        hub.store.set_state("capx.co_fleet0000", ChannelState.LIVE)
        app.update_health()
        line = (await shown(app, pilot)).rstrip()
        assert "capx ◌11 ●295 ⧗11" in line, line


async def test_h_names_channels_by_what_they_follow_worst_first_with_ages_in_minutes():
    hub = fleet_hub(0)
    store = hub.store
    store.set_state("capx.co_9tgiqhg9", ChannelState.FAILING, error="connection refused")
    app = recorded_app(hub)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        store.health["capx.co_195jmsnd"].last_event_at = time.time() - 384
        await pilot.press("h")
        await eventually(lambda: isinstance(app.screen, HealthScreen), pilot=pilot)
        await pilot.pause()
        text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "capx Northwind Ops" in text and "capx Acme Research" in text and "capx.co_" not in text
        assert "6m24s ago" in text or "6m25s ago" in text
        assert "s ago" in text and not re.search(r"\d{3,}s ago", text)
        assert text.index("capx Northwind Ops") < text.index("capx Acme Research")  # failing first
        assert "Esc closes" in text


async def test_a_lights_tooltip_shows_a_servers_error_as_text_not_markup():
    hub = fleet_hub(0)
    hub.store.set_state("capx.co_9tgiqhg9", ChannelState.FAILING, error="[@click=app.quit]refused[/] \x1b]0;x\x07")
    app = recorded_app(hub)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(lambda: app.started_up.is_set(), pilot=pilot)
        capx = next(light for light in app.query("ServiceLights") if light.service == "capx")
        tooltip = capx.tooltip
        assert isinstance(tooltip, Text) and not tooltip.spans  # a Text: Textual's tooltip reads a str as markup
        assert "[@click=app.quit]refused[/]" in tooltip.plain and "\x1b" not in tooltip.plain


def test_the_environment_badge_says_what_the_keys_vendors_declare_the_loudest_colour_first():
    def keys(**keys: str | None):
        return SimpleNamespace(**{name: SimpleNamespace(api_key_value=key) for name, key in keys.items()})

    captain = BY_NAME["captain"]
    assert environment_badge(keys(captain="cap_prod_x")) == ("PROD", "env-prod", "Captain key: production")
    assert environment_badge(keys(captain="cap_dev_x")) == ("dev", "env-dev", "Captain key: development")
    assert environment_badge(keys(captain=None)) is None and environment_badge(keys(captain="capx_sk_x")) is None
    # Keys of two vendors that declare environments: each named, in the colour of the loudest.
    both = environment_badge(keys(captain="cap_stage_x", parcelco="pco_live_y"), (captain, PARCELCO))
    assert both == ("captain stage parcelco LIVE", "env-prod", "Captain key: staging\nParcelCo key: live")
    assert environment_badge(keys(captain="cap_stage_x", parcelco="pco_test_y"), (captain, PARCELCO))[1] == "env-stage"
