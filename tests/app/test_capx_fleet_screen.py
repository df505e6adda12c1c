"""A Capx fleet on screen: the header counts channels per state past a handful (with the streams waiting for the
budget), the Capx tab says what the request budget holds back and until when, and the company the operator
selects is the one whose snapshot goes first."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from textual.app import App, ComposeResult

from tests.helpers.pane_host import PaneHost, StubHub
from tui.app.header import ServiceLights
from tui.app.panes.capx import CapxPane
from tui.app.panes.capx_budget import budget_text
from tui.live.events import ChannelHealth, ChannelState


class LightsHost(App):
    def compose(self) -> ComposeResult:
        yield ServiceLights("capx")


def fleet(live: int, reconnecting: int = 0, failed: int = 0) -> list[ChannelHealth]:
    states = [ChannelState.LIVE] * live + [ChannelState.RECONNECTING] * reconnecting + [ChannelState.FAILED] * failed
    return [ChannelHealth(name=f"capx.co_{n}", service="capx", state=state) for n, state in enumerate(states)]


def show(lights: ServiceLights, channels: list[ChannelHealth], waiting: int = 0) -> None:
    """As the header does with room to spare: the richest form (a light per channel, or counts past MAX_LIGHTS)."""
    lights.set_channels(channels, waiting)
    lights.show_form("lights")


async def test_past_a_handful_of_channels_the_header_counts_them_per_state():
    host = LightsHost()
    async with host.run_test() as pilot:
        lights = host.query_one(ServiceLights)
        show(lights, fleet(3, 1))
        await pilot.pause()
        assert str(lights.render()) == "capx ●●●◐"  # a few: a light each
        show(lights, fleet(290, 9, 1), waiting=8)  # (a stream waiting is one not open yet: one of the 9)
        await pilot.pause()
        shown = str(lights.render())
        assert shown == "capx ✖1 ◐9 ●290 ⧗8"  # counts per state, worst first; ⧗ the streams waiting
        assert len(shown) < 40  # one light per company would be 300 cells wide
        tooltip = str(lights.tooltip)
        assert "… and 288 more" in tooltip and "8 streams wait" in tooltip
        # The ones not live are listed first (worst first: the failed one, then the reconnecting ones).
        assert tooltip.startswith("capx.co_299: failed") and "capx.co_290: reconnecting" in tooltip
        assert tooltip.index("capx.co_298: reconnecting") < tooltip.find(": live")


def test_the_budget_line_says_what_waits_and_until_when():
    assert budget_text(None).plain == ""
    line = budget_text({"used": 541, "minute": 600, "in_flight": 10, "concurrent": 10, "waiting_streams": 4,
                        "waiting_requests": 270, "awaiting_snapshot": 266, "snapshot_eta_s": 95, "throttled": 0,
                        "limited": True})
    assert line.plain == ("Requests 541 of 600 this minute · 266 companies wait for a first snapshot, about 1 min 35 s"
                          " · 4 streams wait to open")
    assert line.style == "yellow"  # the budget is the limit
    calm = budget_text({"used": 12, "minute": 600, "awaiting_snapshot": 0, "waiting_streams": 0, "limited": False})
    assert calm.plain == "Requests 12 of 600 this minute" and calm.style == "dim"


async def test_the_company_selected_is_the_one_the_budget_serves_first():
    looked_at = []
    hub = StubHub(capx=SimpleNamespace(look_at=looked_at.append))
    store = hub.store
    store.replace("companies", {f"co_{n}": {"id": f"co_{n}", "name": f"Company {n:03}", "status": "running"}
                                for n in range(300)})
    store.set_figure("capx.budget", {"used": 300, "minute": 600, "awaiting_snapshot": 250, "snapshot_eta_s": 40,
                                     "waiting_streams": 0, "limited": True})
    host = PaneHost(CapxPane, hub)
    async with host.run_test(size=(120, 40)) as pilot:
        host.flush()
        await pilot.pause()
        pane = host.query_one(CapxPane)
        assert "250 companies wait for a first snapshot, about 40 s" in str(pane.query_one("#capx-budget").render())
        pane.table("companies").focus()
        await pilot.press("down", "down")
        await pilot.pause()
        assert looked_at and looked_at[-1] == pane.selected


@pytest.mark.parametrize("width", [120, 80])
async def test_a_companys_status_is_whole_before_its_name_gets_room_to_spare(sim, width):
    """Seen at 120 columns: `running ◐…` while the Company column had room to spare. The simulator fails one company's
    activity stream (its opening requests answer 500), so its Status cell is `running ◐ reconnecting` (or failing)."""
    import httpx

    from tests.app.test_cursor_seen import capx_monitor
    from tests.app.test_fleet_banner import status_cell
    from tests.helpers.waiting import eventually

    state = httpx.get(f"{sim.root}/_admin/state").json()["capx"]["companies"]
    company_id, company = next(iter(state.items()))
    httpx.post(f"{sim.root}/_admin/faults",
               json={"first": f"GET /capx/v1/companies/{company_id}/activity:100000"}).raise_for_status()
    app = capx_monitor(sim)
    async with app.run_test(size=(width, 30)) as pilot:
        await eventually(app.started_up.is_set, pilot=pilot)
        await pilot.press("4")
        pane = app.query_one(CapxPane)
        companies = pane.table("companies")
        await eventually(lambda: companies.get_row(company_id) and companies.get_row(company_id).get("_stream"),
                         pilot=pilot, message="the company's stream was never marked")
        await pilot.pause()
        words = status_cell(pane, company_id)
        assert words.startswith("running ◐ "), words
        line = companies.render_line(1 + companies.row_ids.index(company_id) - round(companies.scroll_y)).text
        assert company["name"] in line, line  # the name whole, at both widths
        if width == 120:
            assert words in line, f"the status cut at {width} columns: {line!r}"
        else:  # the names whole, the status what is left of the line (10 cells at least: its glyph), cut
            assert "running ◐" in line and words not in line, line
            pane.show_entity("companies", company_id)
            await pilot.pause()
            assert "◐ stream" in str(pane.query_one("#capx-company-title").render())  # the words, under the table
