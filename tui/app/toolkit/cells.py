"""Every formatter a table cell uses, in one place: the panes import them from here, never from
each other. Each takes what the server sent (anything: a missing field, a string where a number belongs) and
gives sanitized text, `rich.text.Text` where there is colour; never markup.

No vendor module and no widget is imported here, only the vendors' declarations (how their events look): the panes
import it after the first frame. What an alert says is tui/app/alert_words.py's.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.text import Text

from tui import wall_clock
from tui.live.events import APP_SERVICE, Event, iso_utc, parse_timestamp
from tui.live.recording import RecalledEvent
from tui.text import sanitize
from tui.vendors import VENDORS

NONE = "—"  # what a cell shows for a value that is missing or unreadable


# ------------------------------------------------------------------------------------------------ text, numbers


def clean(value: Any, fallback: str = NONE) -> str:
    """A server value as one line of safe text; `fallback` when it is missing or empty."""
    return fallback if value is None or value == "" else sanitize(value, single_line=True)


def number(value: Any) -> float | None:
    """A server number, or None for anything else (a string, a bool, a missing field, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def money(value: float, cents: bool = False) -> str:
    return f"${value:,.2f}" if cents else f"${value:,.0f}"


def count(value: Any) -> str:
    """A whole number the server sent, or "?"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


# ------------------------------------------------------------------------------------------------ time


def age(value: Any, now: float | None = None, *, ago: bool = False) -> str:
    """How long ago `value` (a timestamp) was: "6m24s", "3h05m", "2d"; with `ago`, one unit and the word, for
    narrow columns: "6m ago". The dash when the time is missing or unreadable."""
    moment = parse_timestamp(value)
    if moment is None:
        return NONE
    seconds = max(0, int((wall_clock.now() if now is None else now) - moment))
    if ago:
        minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
        whole, unit = ((seconds, "s") if seconds < 60 else (minutes, "m") if seconds < 3600 else
                       (hours, "h") if seconds < 86400 else (days, "d"))
        return f"{whole}{unit} ago"
    return duration_text(seconds)


def duration_text(seconds: float) -> str:
    """A span of time in two units at most: "42s", "6m24s", "3h05m", "2d"."""
    seconds = max(0, int(seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{minutes}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d"


def clock(value: Any) -> str:
    """The local time of day of a timestamp (ISO text or epoch seconds): "14:03:22"; the dash when unknown."""
    moment = parse_timestamp(value)
    return wall_clock.hms(moment) if moment else NONE


def when(value: Any, now: float | None = None) -> str:
    """A time of day for today, a date and time before that; the dash when unknown."""
    moment = parse_timestamp(value)
    if moment is None:
        return NONE
    local = wall_clock.local(moment)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", wall_clock.local(now)):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def seconds_between(start: Any, end: Any) -> float | None:
    """Seconds from one timestamp to another; None when either is unknown."""
    first, last = parse_timestamp(start), parse_timestamp(end)
    return None if first is None or last is None else max(0.0, last - first)


def eta_text(seconds: float | None, *, done: bool = False) -> str:
    """Time left, compact: "~2m05s"; "…" while unknown, the dash once done."""
    if done:
        return NONE
    from tui.app.widgets.meters import seconds_words

    return "…" if seconds is None else "~" + seconds_words(seconds).replace(" ", "")


# ------------------------------------------------------------------------------------------------ status, bars


# A file's processing: CapOut documents, Casmo jobs.
FILE_STATUS_STYLES = {"completed": "green", "failed": "bold red", "processing": "yellow"}


def status_text(value: Any, styles: dict[str, str]) -> Text:
    """A status as it came (sanitized), coloured when `styles` knows it; unknown ones unstyled."""
    status = clean(value)
    return Text(status, style=styles.get(status, ""))


def yes_no(value: Any) -> Text:
    """A flag: green yes, red no, a grey "?" when the server did not say."""
    if value is None:
        return Text("?", style="dim")
    return Text("yes", style="green") if value else Text("no", style="red")


def bar(fraction: Any, width: int, *, style: str = "cyan", rest: str = "grey37", unknown: str = "░") -> Text:
    """`███████░░░`: `fraction` (0 to 1, clamped) of `width` cells; `unknown` cells in grey for no number."""
    value = number(fraction)
    if value is None:
        return Text(unknown * width, style="dim")
    filled = int(max(0.0, min(1.0, value)) * width + 0.5)
    return Text("█" * filled, style=style).append("░" * (width - filled), style=rest)


def percent_bar(fraction: Any, width: int, *, style: str = "cyan") -> Text:
    """`███████░░░  70%`; an empty bar and a dash before the total is known."""
    value = number(fraction)
    if value is None:
        return bar(None, width).append("    " + NONE, style="dim")
    return bar(value, width, style=style).append(f" {int(max(0.0, min(1.0, value)) * 100 + 0.5):3d}%")


def share_bar(share: float, width: int = 16) -> Text:
    """A share of a whole: `████████░░░░░░░░  50%`."""
    return bar(share, width, rest="dim").append(f" {min(max(share, 0.0), 1.0):4.0%}")


# ------------------------------------------------------------------------------------------------ row cells


def files_text(row: dict[str, Any]) -> Text:
    """An indexing job's files: "7/10", and "✖2" in red for failed ones."""
    text = Text(f"{count(row.get('indexed_files'))}/{count(row.get('total_files'))}")
    failed = row.get("failed_files")
    if isinstance(failed, int) and not isinstance(failed, bool) and failed > 0:
        text.append(f" ✖{failed}", style="red")
    return text


def first_time(row: dict[str, Any]) -> Any:
    """When a document was created, or when capwatch first saw it (the stream carries no created_at)."""
    return row.get("created_at") or row.get("first_seen_at")


def created_cell(row: dict[str, Any]) -> Text:
    """The server's `created_at`. A document only seen on the stream (whose messages carry none) shows the dash:
    when capwatch first saw it is not when it was created (the detail view has `first_seen_at`)."""
    if row.get("created_at"):
        return Text(clock(row["created_at"]))
    return Text(NONE, style="dim")


def signed_cell(row: dict[str, Any]) -> Text:
    """How a Casmo result arrived: by webhook, its HMAC verified before parsing; or in the reply."""
    if row.get("signature_verified"):
        return Text("✔ hmac", style="green")
    return Text("reply" if row.get("status") not in (None, "processing") else "…", style="dim")


def cost_share(costs: dict[str, Any] | None, budget: Any = None) -> tuple[float | None, float | None, float | None]:
    """(total, threshold, total/threshold) of a Capx costs row; the company's monthly budget stands in for a
    missing threshold."""
    if not costs:
        return None, None, None
    total = number(costs.get("total_usd"))
    threshold = number(costs.get("threshold_usd")) or number(budget)
    share = total / threshold if total is not None and threshold else None
    return total, threshold, share


def cost_text(costs: dict[str, Any] | None, budget: Any = None) -> Text:
    """"$412 / $500  82%": green under 75 %, yellow up to the threshold, red at or past it."""
    total, threshold, share = cost_share(costs, budget)
    if total is None:
        return Text(NONE, style="dim")
    if share is None:
        return Text(money(total))
    reached = share >= 1 or bool(costs and costs.get("threshold_reached_at"))
    style = "bold red" if reached else "yellow" if share >= 0.75 else "green"
    return Text(f"{money(total)} / {money(threshold)}  {share:.0%}", style=style)


# ------------------------------------------------------------------------------------------------ events, alerts

# Each vendor's name and event types as it declares (tui/vendors/base.py `Vendor.style`, `type_styles`); capwatch's
# own events in italic (not a grey, nor dim: under 3:1 on light themes).
SERVICE_STYLES = {**{vendor.name: vendor.style for vendor in VENDORS}, APP_SERVICE: "italic"}
TYPE_STYLES = {(vendor.name, event_type): style
               for vendor in VENDORS for event_type, style in vendor.type_styles.items()}
BAD_STATUSES = {"failed", "error"}
# Fields that say what an event is about, in the order the summary shows them.
SUMMARY_FIELDS = ("status", "state", "file_name", "filename", "title", "name", "job_name", "database_name",
                  "role", "error", "message", "last_error")
SUMMARY_MAX = 200


def service_cell(row: dict[str, Any]) -> Text:
    service = row.get("service") or ""
    return Text(service, style=SERVICE_STYLES.get(service, ""))


def type_cell(row: dict[str, Any]) -> Text:
    """An event type in the style its vendor declares for it, else red when it says something failed."""
    event_type = row.get("type") or ""
    style = TYPE_STYLES.get((row.get("service"), event_type), "")
    if not style and (event_type.endswith((".error", ".failed")) or row.get("status") in BAD_STATUSES):
        style = "red"
    return Text(event_type, style=style)


def summarize(event: Event) -> str:
    """Status, file, title, error... of an event in one short line (sanitized)."""
    data = event.data if isinstance(event.data, dict) else {}
    nested = data.get("data")
    if isinstance(nested, dict):  # Casmo webhooks wrap the job: {"event", "timestamp", "data": {...}}
        data = {**nested, **{key: value for key, value in data.items() if key != "data"}}
    parts: list[str] = []
    for key in SUMMARY_FIELDS:
        value = data.get(key)
        if value is None or value == "" or isinstance(value, (dict, list, bool)):
            continue
        parts.append(str(value))
    progress = data.get("progress")
    if isinstance(progress, (int, float)) and not isinstance(progress, bool):
        parts.append(f"{progress:.0%}")
    if "total_usd" in data:
        parts.append(f"${data.get('total_usd')} of ${data.get('threshold_usd', '?')}")
    if "dropped" in data:
        parts.append(f"{data['dropped']} events not shown (burst)")
    return sanitize(" · ".join(parts)[:SUMMARY_MAX], single_line=True)


def event_detail(event: Event) -> dict[str, Any]:
    """What Enter shows of an event or an alert: the whole event, with when capwatch received it."""
    return {**event.to_json_dict(), "received": iso_utc(event.received), "kind": event.kind}


# ------------------------------------------------------------------------------------------------ history


def is_recalled(event: Any) -> bool:
    """Read back from the history (the monitor's start, a search reaching back), not yet confirmed by live data."""
    return event.__class__ is RecalledEvent


def from_history(render: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """A cell drawn dim when its row's event was read back from the history (not yet confirmed by live data)."""
    def cell(row: dict[str, Any]) -> Any:
        value = render(row)
        if is_recalled(row["event"]):
            value = value.copy() if isinstance(value, Text) else Text(str(value))
            value.stylize("dim")
        return value

    return cell


def history_marked(words: Any) -> Text:
    """What an event or alert read back from the history says, dim, after "↺ history "."""
    body = words.copy() if isinstance(words, Text) else Text(str(words))
    body.stylize("dim")
    return Text.assemble(("↺ history ", "dim italic"), body)
