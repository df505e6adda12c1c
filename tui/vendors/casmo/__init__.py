"""Casmo AI (extraction and review): jobs this client submits, and their results by signed webhook.
`client.py` is its REST client, `live.py` turns its webhooks into Store events, `integration.py` is both behind the
hub's interface, with the submit action."""

from tui.vendors.base import Kind, Tab, Vendor

VENDOR = Vendor(
    name="casmo",
    title="Casmo",
    default_base_url="https://api.casmoai.com",
    key_prefixes=("cai_",),
    kinds=(Kind("jobs", finished=frozenset({"completed", "failed", "error"})),),
    webhooks=True,
    alert_statuses=frozenset({"failed"}),
    integration="tui.vendors.casmo.integration:CasmoIntegration",
    settings="tui.vendors.casmo.settings:CasmoSettings",
    tabs=(Tab("extraction", "Extraction", "tui.app.panes.extraction:ExtractionPane"),),
    style="magenta",
)
