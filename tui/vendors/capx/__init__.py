"""Capx (agent-run companies): companies, agents, tasks awaiting approval, playbook runs and costs, over one
activity SSE stream per company and signed webhooks. `client.py` is its REST client, `live.py` its channels,
`integration.py` both behind the hub's interface, with the operator's actions (approve, pause, run a playbook)."""

from tui.vendors.base import Kind, Tab, Vendor

VENDOR = Vendor(
    name="capx",
    title="Capx",
    default_base_url="https://api.capx.ai/v1",
    key_prefixes=("capx_sk_",),
    kinds=(
        Kind("companies"),
        Kind("agents"),
        Kind("tasks", finished=frozenset({"completed", "rejected"})),
        Kind("costs", overview=False),
        Kind("runs", finished=frozenset({"completed", "failed"}), overview=False),
    ),
    webhooks=True,
    alert_types=frozenset({"agent.error", "task.approval_required", "costs.threshold_reached"}),
    integration="tui.vendors.capx.integration:CapxIntegration",
    settings="tui.vendors.capx.settings:CapxSettings",
    tabs=(Tab("capx", "Capx", "tui.app.panes.capx:CapxPane"),),
    style="bright_blue",
    type_styles={"agent.error": "bold red", "task.approval_required": "yellow", "costs.threshold_reached": "yellow"},
)
