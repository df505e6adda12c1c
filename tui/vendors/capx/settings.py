"""Capx's config section, `[capx]`: base_url, api_key and webhook_secret come from its declaration (CAPX_BASE_URL,
CAPX_API_KEY, CAPX_WEBHOOK_SECRET); this is its own."""

from tui.config.settings import Setting, VendorSettings
from tui.vendors.capx import VENDOR


class CapxSettings(VendorSettings, vendor=VENDOR):
    companies = Setting(list, factory=list)  # company ids to watch; empty: every company
    # The key's plan (seed 003): its minute and its requests in flight. "auto": learnt from X-RateLimit-Limit on the
    # first reply (Starter's figures until then). Enterprise is custom: give its figures below.
    plan = Setting(str, "auto", choices=("auto", "starter", "pro", "enterprise"), env="CAPWATCH_CAPX_PLAN")
    requests_per_minute = Setting(int, bounds=(1, 1_000_000))  # overrides the plan's minute
    concurrent_requests = Setting(int, bounds=(1, 100_000))  # overrides the plan's requests in flight

    def plan_limits(self) -> tuple[int | None, int | None]:
        """(requests a minute, requests in flight) as far as the config knows them; None: learn or assume."""
        from tui.vendors.capx.budget import PLANS

        minute, concurrent = PLANS.get(self.plan, (None, None))
        return self.requests_per_minute or minute, self.concurrent_requests or concurrent
