"""The vendors capwatch watches: one folder each, and this registry of their declarations, in tab order.

Everything capwatch knows about a vendor lives in its folder, tui/vendors/<vendor>/, and none of it imports Textual:

    __init__.py      its declaration (tui/vendors/base.py `Vendor`): names, key prefixes, the entity kinds it fills
                     and which statuses finish them, which events are alerts, how its events look, the
                     environments its keys reach, its tabs, where the rest lives
    client.py        wire models and the async REST client (auth, errors, rate limits, pagination)
    live.py          its channels and pollers: how its streams, polls and webhooks become Store events
    integration.py   the vendor behind one interface (tui/live/integration.py `Integration`): its client built from
                     its config section, its channels started, its webhooks applied, its actions
                     (`hub.vendor("capx").decide_task(...)`), the parts of a complete snapshot (`capwatch status`)
    settings.py      its own config settings, beyond the base URL, key and webhook secret its declaration gives its
                     section (`config.<vendor>`, assembled by tui/config from this registry)

How to add a fifth vendor:

1. Give it a folder: client.py (a `tui.api.BaseClient`); live.py (`tui.live.channel.Channel`s or `Poller`s whose
   Store events carry `service=<name>` and, for an entity, one of its kinds, and that mark each part of a first
   complete picture in `Store.complete`); integration.py (an `Integration` whose `__init__` builds the client and
   whose `start()` spawns the channels through `self.hub.spawn`, with `snapshot_parts` naming the parts
   `capwatch status` waits for, `apply_webhook` if it signs webhooks, `figure_lines()` for its figures in
   `capwatch status`, and its actions as async methods); settings.py only if it has settings of its own.
2. Declare it in its __init__.py: `VENDOR = Vendor(name=..., kinds=(Kind(...),), alert_types=...,
   integration="tui.vendors.<name>.integration:<Name>Integration", settings=..., tabs=(Tab(...),), style=...,
   type_styles={...}, environments=(KeyEnvironment(...),))`; a tab's pane is a `tui.app.panes.base.Pane` under
   tui/app/panes (its CSS, if any, styles/<tab id>.tcss).
3. Add `<name>.VENDOR` to VENDORS below.

Nothing else changes: the config has its section and <NAME>_API_KEY, <NAME>_BASE_URL (and <NAME>_WEBHOOK_SECRET);
the hub builds and starts its integration when its section has a key (and gives it a route on the webhook receiver
when it is declared with `webhooks=True` and has a secret); the Store bounds its finished entities; the header has a
light for each of its channels, and a badge for the environment its key reaches; `capwatch status` shows its
channels, entities and figures and waits for its snapshot parts; its events are alerts as declared, and drawn in
its colour and its types' styles; its tabs come after the other vendors', numbered in turn.
tests/helpers/parcelco.py declares such a vendor, and tests/system/test_fifth_vendor.py finds it in all those places.
"""

from __future__ import annotations

from tui.vendors import capout, captain, capx, casmo
from tui.vendors.base import Kind, Vendor

VENDORS: tuple[Vendor, ...] = (
    capout.VENDOR,
    casmo.VENDOR,
    capx.VENDOR,
    captain.VENDOR,
)

BY_NAME: dict[str, Vendor] = {vendor.name: vendor for vendor in VENDORS}


def kinds() -> dict[str, Kind]:
    """Every entity kind the vendors fill, by name."""
    return {kind.name: kind for vendor in VENDORS for kind in vendor.kinds}
