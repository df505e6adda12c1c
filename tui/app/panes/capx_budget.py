"""The Capx tab's line about the key's request budget: what the minute holds, what waits for it, and when."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from tui.app.widgets.meters import number

BUDGET = "capx.budget"  # the key's request budget (tui/vendors/capx/integration.py budget_figure)


def budget_text(figure: Any) -> Text:
    """The key's request budget in one line: "Requests 541 of 600 this minute · 266 companies wait for a first
    snapshot, about 1 min 30 s · 12 streams wait"; yellow while the budget is what holds them back. What waits to
    open and what was refused are never dim, as the calm line is (dim yellow: 2.85:1 on textual-light's background)."""
    if not isinstance(figure, dict) or number(figure.get("minute")) is None:
        return Text("")
    used, minute = number(figure.get("used")) or 0, number(figure.get("minute"))
    text = Text(f"Requests {used:,.0f} of {minute:,.0f} this minute", style="yellow" if figure.get("limited") else "dim")
    pending = number(figure.get("awaiting_snapshot")) or 0
    if pending:
        eta = number(figure.get("snapshot_eta_s")) or 0
        when = f"{eta:.0f} s" if eta < 90 else f"{eta // 60:.0f} min {eta % 60:.0f} s"
        text.append(f" · {pending:,.0f} {'company waits' if pending == 1 else 'companies wait'} for a first snapshot, "
                    f"about {when}")
    streams = number(figure.get("waiting_streams")) or 0
    if streams:
        waits = "stream waits" if streams == 1 else "streams wait"
        text.append(f" · {streams:,.0f} {waits} to open", style="not dim yellow")
    throttled = number(figure.get("throttled")) or 0
    if throttled:
        text.append(f" · {throttled:,.0f} refused (429)", style="not dim red")
    return text
