"""Channels in words, for the header's lights, their tooltips and the health view (`h`): a channel named by what it
follows (`capx Acme Research`, not `capx.co_jyvlfshv`), states worst first, and ages as `6m24s`."""

from __future__ import annotations

from typing import Any

from tui.live.events import ChannelHealth, ChannelState
from tui.text import sanitize
from tui.vendors import VENDORS

# Worst first: what the header counts first, and the order of the health view.
STATE_ORDER = (ChannelState.FAILED, ChannelState.FAILING, ChannelState.STALE, ChannelState.RECONNECTING,
               ChannelState.CONNECTING, ChannelState.DEGRADED, ChannelState.LIVE, ChannelState.OFF)
GLYPHS = {
    ChannelState.FAILED: "✖",
    ChannelState.FAILING: "◐",
    ChannelState.STALE: "◔",
    ChannelState.RECONNECTING: "◐",
    ChannelState.CONNECTING: "◌",
    ChannelState.DEGRADED: "◒",
    ChannelState.LIVE: "●",
    ChannelState.OFF: "○",
}
# Theme variables (resolved when drawn, so every theme gets its own readable colours).
STATE_STYLES = {
    ChannelState.FAILED: "bold $text-error",
    ChannelState.FAILING: "bold $text-warning",
    ChannelState.STALE: "bold $text-warning",
    ChannelState.RECONNECTING: "bold $text-warning",
    ChannelState.CONNECTING: "$text-warning",
    ChannelState.DEGRADED: "bold $text-warning",
    ChannelState.LIVE: "$text-success",
    ChannelState.OFF: "$text-disabled",
}
SEVERITY = {state: rank for rank, state in enumerate(STATE_ORDER)}

# The entity kinds each service fills: a channel named `<service>.<id>` follows the entity of that id.
_SERVICE_KINDS: dict[str, tuple[str, ...]] = {vendor.name: tuple(kind.name for kind in vendor.kinds)
                                              for vendor in VENDORS}
NAME_FIELDS = ("name", "title", "database_name", "file_name", "filename")


def channel_label(health: ChannelHealth, store: Any) -> str:
    """`capx Acme Research` for a channel that follows one entity (its name from the Store), else the channel's
    own name (`captain.databases`). Sanitized."""
    service, _, rest = health.name.partition(".")
    if rest:
        for kind in _SERVICE_KINDS.get(health.service or service, ()):
            row = store.get(kind, rest) if store is not None else None
            if isinstance(row, dict):
                name = next((row[field] for field in NAME_FIELDS if isinstance(row.get(field), str) and row[field]),
                            None)
                if name:
                    return sanitize(f"{health.service or service} {name}", single_line=True)
    return sanitize(health.name, single_line=True)


def age_text(health: ChannelHealth) -> str:
    """How long ago the channel's last event was: `6m24s ago`, or `—` when it had none."""
    from tui.app.toolkit.cells import duration_text  # with the panes, after the first frame

    age = health.age()
    return "—" if age is None else f"{duration_text(age)} ago"


def worst_first(channels: list[ChannelHealth], store: Any = None) -> list[ChannelHealth]:
    """Channels by state, the worst first, then by name."""
    return sorted(channels, key=lambda h: (SEVERITY.get(h.state, len(SEVERITY)), channel_label(h, store)))


def health_tooltip(health: ChannelHealth, store: Any = None) -> str:
    name, label = sanitize(health.name, single_line=True), channel_label(health, store)
    parts = [f"{label} ({name}): {health.state.value}" if label != name else f"{name}: {health.state.value}",
             f"last event {age_text(health)}" if health.age() is not None else "no event yet",
             f"{health.events} events, {health.reconnects} reconnects"]
    if health.counters_text():
        parts.append(health.counters_text())
    if health.last_error:
        parts.append(f"last error{health.error_time()}: {sanitize(health.last_error, single_line=True)}")
    return "\n".join(parts)
