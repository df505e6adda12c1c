"""Casmo's config section, `[casmo]`: base_url, api_key and webhook_secret, all from its declaration
(CASMO_BASE_URL, CASMO_API_KEY, CASMO_WEBHOOK_SECRET). It declares nothing of its own."""

from tui.config.settings import VendorSettings
from tui.vendors.casmo import VENDOR


class CasmoSettings(VendorSettings, vendor=VENDOR):
    pass
