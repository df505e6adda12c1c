"""CapOut (document workflows): documents and their status over WebSocket or SSE with short-lived tokens,
and the organization's credits. `client.py` is its REST client, `live.py` its channels, `integration.py` both
behind the hub's interface, with the upload action."""

from tui.vendors.base import Kind, Tab, Vendor

VENDOR = Vendor(
    name="capout",
    title="CapOut",
    default_base_url="https://api.capout.ai",
    key_prefixes=("capout_",),
    kinds=(Kind("documents", finished=frozenset({"completed", "failed"})),),
    alert_statuses=frozenset({"failed"}),
    integration="tui.vendors.capout.integration:CapOutIntegration",
    settings="tui.vendors.capout.settings:CapOutSettings",
    tabs=(Tab("documents", "Documents", "tui.app.panes.documents:DocumentsPane"),),
    style="cyan",
)
