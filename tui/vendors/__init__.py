"""The vendors capwatch watches: one folder each, and this registry of their declarations, in tab order.

Everything capwatch knows about a vendor lives in its folder:

    __init__.py      its declaration (tui/vendors/base.py `Vendor`): names, key prefixes, entity kinds, alerts, tabs
    client.py        wire models and the async REST client (auth, errors, rate limits, pagination). No Textual.
    live.py          its channels: streams, pollers, how its messages and webhooks become Store events. No Textual.

A fifth vendor is a new module (or folder) with its declaration, and one line below.
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
