"""Capx's config section, `[capx]`: base_url, api_key and webhook_secret come from its declaration (CAPX_BASE_URL,
CAPX_API_KEY, CAPX_WEBHOOK_SECRET); this is its own."""

from tui.config.settings import Setting, VendorSettings
from tui.vendors.capx import VENDOR


class CapxSettings(VendorSettings, vendor=VENDOR):
    companies = Setting(list, factory=list)  # company ids to watch; empty: every company
