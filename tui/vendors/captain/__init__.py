"""Captain (data lake): databases, files, indexing jobs (polled: Captain has no push channel) and the
natural-language query console. `client.py` is its REST client, `live.py` its pollers, `integration.py` both
behind the hub's interface, with the operator's actions (databases, files, indexing, queries)."""

from tui.vendors.base import KeyEnvironment, Kind, Tab, Vendor

VENDOR = Vendor(
    name="captain",
    title="Captain",
    default_base_url="https://api.runcaptain.com",
    key_prefixes=("cap_dev_", "cap_stage_", "cap_prod_"),
    kinds=(
        Kind("databases"),
        Kind("files", overview=False),
        Kind("indexing_jobs", finished=frozenset({"completed", "failed", "error"}), finished_flag="done"),
    ),
    integration="tui.vendors.captain.integration:CaptainIntegration",
    settings="tui.vendors.captain.settings:CaptainSettings",
    tabs=(
        Tab("captain", "Captain", "tui.app.panes.captain:CaptainPane"),
        Tab("query", "Query", "tui.app.panes.query:QueryPane"),
    ),
    style="green",
    # A key reaches one environment, named by its prefix (the client's `environment`, the header's badge).
    environments=(
        KeyEnvironment("cap_dev_", "development", "dev", "dev"),
        KeyEnvironment("cap_stage_", "staging", "stage", "stage"),
        KeyEnvironment("cap_prod_", "production", "PROD", "prod"),
    ),
)
