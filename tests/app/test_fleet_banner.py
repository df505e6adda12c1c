"""A Capx fleet on the monitor (issue 16, seen by hand at 300 companies): a few company streams reconnecting are
not an outage of Capx. The banner says how many of how many and since when, in its calmer style; no pane is dimmed;
the Capx tab marks the companies whose stream is not live. The listing lost, or every stream, is still "capx down"
(tests/app/test_app.py::test_a_service_down_shows_a_banner_and_its_panes_look_stale)."""

from __future__ import annotations

import time

from tests.helpers.pane_host import StubHub
from tui.app.app import CapwatchApp
from tui.app.panes.capx import CapxPane
from tui.app.panes.overview import OverviewPane
from tui.app.widgets.banner import IncidentBanner
from tui.config import Config
from tui.live.events import ChannelState
from tui.vendors.capx.client import CapxClient
from tui.vendors.capx.live import CapxActivity, CapxCompanies

COMPANIES = 300


def fleet_hub() -> StubHub:
    """A Store holding 300 companies, their listing and one activity stream each, built as the Capx integration
    builds them (not run), all live."""
    hub = StubHub()
    store = hub.store
    store.replace("companies", {f"co_{n:03}": {"id": f"co_{n:03}", "name": f"Company {n:03}", "status": "running"}
                                for n in range(COMPANIES)})
    client = CapxClient("http://127.0.0.1:9", api_key="cx_test_0000")
    CapxCompanies(client, store, on_companies=None)
    for n in range(COMPANIES):
        CapxActivity(client, store, f"co_{n:03}")
    for name in list(store.health):
        store.set_state(name, ChannelState.LIVE)
    return hub


def status_cell(pane: CapxPane, company_id: str) -> str:
    """The company's Status cell as the table renders it (before it is cut to the column's width)."""
    from tui.app.widgets.table_model import cell_plain

    table = pane.table("companies")
    column = next(column for column in table.columns if column.key == "status")
    return cell_plain(column, table.get_row(company_id))


async def test_a_few_company_streams_not_live_are_a_partial_outage_not_capx_down():
    hub = fleet_hub()
    store = hub.store
    app = CapwatchApp(Config(max_output_kbps=0), hub=hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.action_show_tab("capx")
        app.flush_changes()
        await pilot.pause()
        assert not app.query(IncidentBanner)  # all live: no banner (it is mounted at the first outage)

        lost = [f"co_{n:03}" for n in range(0, 140, 10)]  # 14 companies, spread over the table
        for company_id in lost:
            store.set_state(f"capx.{company_id}", ChannelState.RECONNECTING, "activity stream ended")
        first = store.health[f"capx.{lost[0]}"].since
        app.flush_changes()
        await pilot.pause()
        banner = app.query_one(IncidentBanner)
        shown = str(banner.render())
        assert banner.has_class("-partial") and not banner.has_class("-down"), shown
        assert f"capx: 14 of 300 company streams not live since {time.strftime('%H:%M:%S', time.localtime(first))}" \
            in shown and "down" not in shown
        capx, overview = app.query_one(CapxPane), app.query_one(OverviewPane)
        assert not capx.has_class("-stale") and not capx.border_title  # the other 286 companies are current
        assert not overview.has_class("-stale") and not overview.border_title
        # Which companies: their Status cell says so (the health's glyph first, then its words, which a filter finds).
        assert status_cell(capx, lost[3]) == "running ◐ reconnecting" and status_cell(capx, "co_001") == "running"
        table = capx.table("companies")
        table.filter_text = "reconnecting"
        assert set(table.row_ids) == set(lost), table.row_ids
        table.filter_text = ""
        capx.show_entity("companies", lost[1])
        await pilot.pause()
        since = time.strftime("%H:%M:%S", time.localtime(store.health[f"capx.{lost[1]}"].since))
        assert f"◐ stream reconnecting since {since}, as of then" in str(capx.query_one("#capx-company-title").render())

        # A company whose stream never opened yet (waiting for the request budget) lost nothing: not counted.
        store.forget_channel("capx.co_299")
        CapxActivity(CapxClient("http://127.0.0.1:9", api_key="cx_test_0000"), store, "co_299")
        store.set_state("capx.co_299", ChannelState.CONNECTING)
        app.flush_changes()
        await pilot.pause()
        assert "14 of 300 company streams" in str(banner.render())

        # Every stream that had data lost it (a server restart): Capx is down, its panes as of then.
        for n in range(COMPANIES - 1):
            store.set_state(f"capx.co_{n:03}", ChannelState.RECONNECTING, "activity stream ended")
        app.flush_changes()
        await pilot.pause()
        assert banner.has_class("-down") and "capx down since" in str(banner.render())
        assert capx.has_class("-stale") and overview.has_class("-stale")

        # Every stream back: no banner, no mark.
        store.set_state("capx.co_299", ChannelState.LIVE)
        lost = [f"co_{n:03}" for n in range(COMPANIES - 1)]
        for company_id in lost:
            store.set_state(f"capx.{company_id}", ChannelState.LIVE)
        app.flush_changes()
        await pilot.pause()
        assert not banner.has_class("-partial") and not banner.has_class("-down")
        assert status_cell(capx, lost[0]) == "running"


async def test_the_panes_are_repainted_only_when_their_outage_changes():
    """Every frame under load changes some channel's health (its event count); the panes' stale look was set again
    each time, and setting a border title repaints the whole pane even to the same title: every pane's region was
    drawn again on every frame (242 times each in 15 s at 2,000 events/s)."""
    from textual.app import App
    from textual.widget import Widget

    from tui.app.widgets.banner import mark_stale_panes

    class Counted(Widget):
        KINDS = ("documents",)
        repaints = 0

        def refresh(self, *args, **kwargs):
            Counted.repaints += 1
            return super().refresh(*args, **kwargs)

    class Host(App):
        def compose(self):
            yield Counted()

    async with Host().run_test() as pilot:
        pane = pilot.app.query_one(Counted)
        await pilot.pause()
        Counted.repaints = 0
        for _ in range(5):
            mark_stale_panes([pane], {})
        assert Counted.repaints == 0
        down_since = time.time()
        mark_stale_panes([pane], {"capout": down_since})
        assert pane.has_class("-stale") and pane.border_title.startswith("as of ")
        repaints = Counted.repaints
        for _ in range(5):
            mark_stale_panes([pane], {"capout": down_since})
        assert Counted.repaints == repaints
        mark_stale_panes([pane], {})
        assert not pane.has_class("-stale") and pane.border_title is None
