"""Captain's config section, `[captain]`: base_url and api_key come from its declaration (CAPTAIN_BASE_URL,
CAPTAIN_API_KEY); this is its own. Captain stays off without its organization id, even with a key."""

from tui.config.settings import Setting, VendorSettings, check_uuid
from tui.vendors.captain import VENDOR


class CaptainSettings(VendorSettings, vendor=VENDOR):
    organization_id = Setting(str, check=check_uuid, env="CAPTAIN_ORGANIZATION_ID", needed=True,
                              ask="Captain organization id (a UUID)")
