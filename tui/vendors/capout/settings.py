"""CapOut's config section, `[capout]`: base_url and api_key come from its declaration (CAPOUT_BASE_URL,
CAPOUT_API_KEY); these are its own."""

from tui.config.settings import Setting, VendorSettings
from tui.vendors.capout import VENDOR


class CapOutSettings(VendorSettings, vendor=VENDOR):
    transport = Setting(str, "ws", choices=("ws", "sse"), env="CAPWATCH_CAPOUT_TRANSPORT", flag="transport",
                        ask="CapOut realtime transport, ws or sse")
    recent = Setting(int, 50, bounds=(0, 1000))  # documents backfilled when the realtime stream opens
    xn_address = Setting(str, "")  # offered by default when uploading
