"""The Overview tab: credits and rate limit, what each service holds by status, events per second per service
over the last minute, and every alert not yet acknowledged, newest first (Enter opens its entity, `a`
acknowledges it: it leaves this list and stays in the Events tab's "alerts only" view). With no service set up
at all (a first run), it says how to set one up.

Everything here is derived incrementally: status counts are adjusted from the ids each batch names (a full
recount only for a resynced kind), event rates are one counter per service per second, and the alerts come from
the app's own alert list. A 1 s clock shifts the sparklines and counts down the rate-limit reset while the
tab is visible.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.widgets import Static

from tui import wall_clock
from tui.app.alert_rules import entity_status
from tui.app.alerts import Alert
from tui.app.keys import focus_now
from tui.app.panes.base import Pane
from tui.app.toolkit.fit import FitLine, part
from tui.app.toolkit.cells import clock, from_history, history_marked, is_recalled, service_cell, type_cell
from tui.app.widgets.activity_board import RATE_WINDOW, ActivityBoard, ServiceLine
from tui.app.widgets.event_table import EventTable, TimelineReader
from tui.app.widgets.meters import (
    NO_VALUE, Meter, RateCounter, count_words, duration_words, level_style, pick, seconds_words,
)
from tui.app.widgets.table import Column
from tui.live.events import APP_SERVICE, Event
from tui.text import sanitize
from tui.vendors import VENDORS

# What each service holds, as its declaration lists it (the kinds counted on the Overview), in the board's order.
SERVICE_KINDS: dict[str, tuple[str, ...]] = {
    vendor.name: tuple(kind.name for kind in vendor.kinds if kind.overview) for vendor in VENDORS
}
# Services whose results only arrive by webhook when they have no channel of their own (Casmo).
BY_WEBHOOK = frozenset(vendor.name for vendor in VENDORS if vendor.webhooks)
WIDE = 100  # at this width and above the tab has two columns
ALERT_ROWS = 10  # alerts the tab keeps in sight on a short screen: the activity board goes compact first
TOP_SHARE = {True: 0.6, False: 0.75}  # the most of the tab its top takes, wide or not (styles/overview.tcss)
CAPX_RATE_LOW = 0.1  # below this fraction left the rate-limit line turns red whatever level_style says


def status_of(kind: str, row: dict[str, Any]) -> str:
    """The status a row counts under: Captain databases have none, only `is_active`."""
    status = row.get("status")
    if isinstance(status, str) and status:
        return sanitize(status, single_line=True)[:32]
    if kind == "databases":
        return "inactive" if row.get("is_active") is False else "active"
    return "unknown"


# Narrow, what the alert says keeps its room: the type gives way first (cut at its end, and hidden at 80 columns:
# the alert's own words say failed, error or awaiting), then the service; the time stays.
ALERT_COLUMNS = [
    # Sorted by when the alert arrived or was told again (its place in the log), not by the server's time: clocks of
    # four vendors differ, and what just arrived must come first.
    Column("time", "Time", width=8, priority=3, render=from_history(lambda row: clock(row.get("time"))),
           sort_key=lambda row: row["place"]),
    Column("service", "Service", width=8, priority=2, render=from_history(service_cell)),
    Column("type", "Type", width=22, priority=2, min_width=12, render=from_history(type_cell)),
    Column("subject", "Alert", priority=4, min_width=48),
]

FIRST_RUN = ("No service is set up: no API key for {services}.\n"
             "  capwatch init   asks for your keys and writes the config file\n"
             "                  {path}\n"
             "                  (or give them in the environment: README, Configuration)\n"
             "  capwatch demo   shows the monitor working on its built-in simulator")


def first_run_text() -> Text:
    """What the Overview says when no service has a key: what to run."""
    import os

    from tui.config import chosen_config_path

    path = str(chosen_config_path(None, os.environ)[0])  # $CAPWATCH_CONFIG, else the user config directory
    home = str(Path.home())
    if path.startswith(home + "/"):
        path = "~" + path[len(home):]
    titles = [vendor.title for vendor in VENDORS]
    services = ", ".join(titles[:-1]) + f" or {titles[-1]}" if len(titles) > 1 else "".join(titles)
    text = Text(FIRST_RUN.format(services=services, path=sanitize(path, single_line=True)))
    text.highlight_words(["capwatch init", "capwatch demo"], style="bold cyan")
    return text


class OverviewPane(Pane):
    HELP_TITLE = "Overview"
    KINDS = frozenset(kind for kinds in SERVICE_KINDS.values() for kind in kinds)
    WANTS_EVENTS = True
    WANTS_FIGURES = True
    LISTS_ALERTS = True
    APPLY_HIDDEN_AFTER = 500

    BINDINGS: ClassVar = [
        Binding("a", "acknowledge", "Acknowledge"),
        Binding("A", "acknowledge_all", "Acknowledge all", key_display="A", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.reader = TimelineReader()
        self.rates = RateCounter(RATE_WINDOW)
        self.counts: dict[str, Counter] = {kind: Counter() for kind in self.KINDS}
        self._status: dict[str, dict[str, str]] = {kind: {} for kind in self.KINDS}  # kind -> id -> status
        self._alerts_seen: tuple | None = None
        # in the table: seq -> (repeats, renamed, place, read back from the history)
        self._alerts_listed: dict[int, tuple[int, int, int, bool]] = {}
        self._alert_place = 0  # the order alerts arrived (or were told again) in: the list's order, newest first

    def compose(self) -> ComposeResult:
        with Container(id="overview-top"):
            with Vertical(id="overview-credits"):
                yield Static(Text("Credits", style="bold"), classes="overview-title wide-only")
                yield Meter("CapOut credits", id="meter-capout")
                yield Meter("Capx credits", id="meter-capx-credits")
                yield Meter("Capx rate limit", id="meter-capx-rate")
            with Vertical(id="overview-activity-box"):
                yield Static(Text.assemble(("Activity", "bold"), ("  events/s over the last minute", "dim")),
                             classes="overview-title wide-only")
                yield ActivityBoard(id="overview-activity")
        with Vertical(id="overview-alerts-box"):
            first_run = Static(first_run_text(), id="overview-first-run")
            first_run.border_title = "Getting started"
            yield first_run
            yield FitLine(part(Text("Alerts", style="bold")), id="overview-alerts-title", classes="overview-title")
            # Newest first, the cursor on the newest from the start (Enter opens what just arrived: seen by hand, it
            # stayed on the first alert while newer ones came above it); a cursor key stops following, Home (or f)
            # follows again, and "3 new ↑" counts the unseen. The title line says whether it follows (no foot line:
            # at 80x24 a row of alerts more).
            alerts = EventTable(ALERT_COLUMNS, newest_at="top", follow=True, foot=False, id="overview-alerts",
                                name="alerts")
            alerts.can_follow = True
            yield alerts

    def on_mount(self) -> None:
        # A first run (no service has a key, and no collector to follow): what to do, where the alerts would be
        # (there can be none). In team mode (`--source`) the collector's keys are the ones that count.
        first_run = not self.capwatch.config.source and not any(map(self.capwatch.hub.is_on, self.service_names()))
        self.query_one("#overview-first-run").display = first_run
        self.query_one("#overview-alerts-title").display = not first_run
        self.alerts_table.display = not first_run
        self.alerts_table.sort_by("time", reverse=True)  # newest first (ALERT_COLUMNS)
        self.refresh_all()

    @staticmethod
    def service_names() -> list[str]:
        return [vendor.name for vendor in VENDORS]

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")
        self._leave_the_alerts_room()

    def _leave_the_alerts_room(self) -> None:
        """The lines the activity board may take so that the alerts keep ALERT_ROWS rows (and their title and header
        line) and the top does not scroll: beyond them the board is compact, every count still said (at 80x24 it
        took 10 of the tab's 20 lines, and 4 alerts showed)."""
        height, wide = self.size.height, self.has_class("-wide")
        if not height:
            return
        beside = 1 if wide else sum(max(1, meter.outer_size.height) for meter in self.query(Meter))  # title, meters
        room = min(int(height * TOP_SHARE[wide]), height - 2 - ALERT_ROWS) - beside
        self.query_one(ActivityBoard).set_room(max(1, room))

    @property
    def alerts_table(self) -> EventTable:
        return self.query_one("#overview-alerts", EventTable)

    # ---------------------------------------------------------------------------------------- data

    def refresh_all(self) -> None:
        now = wall_clock.now()
        for kind in self.KINDS:
            self._recount(kind)
        self.rates.clear()
        since = now - RATE_WINDOW
        for event in reversed(self.store.timeline):
            if event.received < since:
                break
            self.rates.add(event.service, event.received)
        self.reader.mark(self.store.timeline)
        self._show_meters(now)
        self._show_activity(now)
        self._show_alerts(force=True)

    def apply_changes(self, batch) -> None:
        now = wall_clock.now()
        activity = False
        events = self.reader.from_batch(batch.events)
        if events:
            self._count_rates(events, batch.dropped_events)
            activity = True
        for kind in self.KINDS:
            if kind in batch.replaced:
                self._recount(kind)
                activity = True
            elif kind in batch.kinds:
                self._recount_ids(kind, batch.kinds[kind])
                activity = True
        if batch.figures or batch.health:
            self._show_meters(now)
            activity = True  # a service's state may have changed
        if activity:
            self._show_activity(now)
        self._show_alerts()

    def _count_rates(self, events: list[Event], dropped: int) -> None:
        add = self.rates.add
        for event in events:
            add(event.service, event.received)
        if dropped:  # squeezed out of the frame: spread over the services in the same proportions
            per_service = Counter(event.service for event in events)
            for service, count in per_service.items():
                add(service, events[-1].received, round(dropped * count / len(events)))

    def _recount(self, kind: str) -> None:
        statuses = {row_id: status_of(kind, row) for row_id, row in self.store.rows(kind).items()}
        self._status[kind] = statuses
        self.counts[kind] = Counter(statuses.values())

    def _recount_ids(self, kind: str, ids: set[str]) -> None:
        statuses, counts, rows = self._status[kind], self.counts[kind], self.store.rows(kind)
        for row_id in ids:
            old = statuses.get(row_id)
            row = rows.get(row_id)
            new = None if row is None else status_of(kind, row)
            if old == new:
                continue
            if old is not None:
                counts[old] -= 1
                if counts[old] <= 0:
                    del counts[old]
                del statuses[row_id]
            if new is not None:
                counts[new] += 1
                statuses[row_id] = new

    def service_state(self, service: str) -> str:
        """off (not configured), waiting (no channel yet), else the worst state of its channels. In team mode
        (`--source`) a service is on when the collector watches it, whether or not this config has its key."""
        hub = self.capwatch.hub
        if service != APP_SERVICE and not hub.watched(service):
            return "off"
        states = {health.state.value for health in self.store.health.values() if health.service == service}
        if not states and service in BY_WEBHOOK:  # no stream of its own (Casmo): its results come by webhook
            states = {health.state.value for health in self.store.health.values() if health.service == "webhooks"}
        for state in ("failed", "failing", "stale", "reconnecting", "connecting", "degraded", "live"):
            if state in states:
                return state
        return "live" if service == APP_SERVICE else "waiting"  # capwatch itself is running: it is showing this

    # ---------------------------------------------------------------------------------------- views

    def _missing(self, meter: Meter, service: str) -> None:
        state = self.service_state(service)
        words = f"{service} off" if state == "off" else f"waiting for {service}"
        meter.show(None, Text(NO_VALUE, style="dim"), Text(words, style="dim"))

    def _show_meters(self, now: float) -> None:
        self._show_capout(self.query_one("#meter-capout", Meter))
        self._show_capx_credits(self.query_one("#meter-capx-credits", Meter))
        self._show_capx_rate(self.query_one("#meter-capx-rate", Meter), now)

    def _show_capout(self, meter: Meter) -> None:
        figure = self.store.figures.get("capout.credits")
        remaining = pick(figure, "credits_remaining", "remaining")
        if remaining is None:
            self._missing(meter, "capout")
            return
        used = pick(figure, "credits_used", "used")
        total = pick(figure, "credits_total", "total") or (remaining + used if used is not None else None)
        fraction = remaining / total if total else None
        value = Text(count_words(remaining), style=level_style(fraction))
        if total:
            value.append(f" / {count_words(total)}", style="")
        burn = pick(figure, "burn_rate_per_hour")
        hours = pick(figure, "hours_to_empty")
        if burn is None:
            detail = "burn rate —"
        elif burn <= 0:
            detail = "no burn"
        else:
            detail = f"{count_words(round(burn, 1))}/h · {duration_words(hours)} to empty"
        meter.show(fraction, value, Text(detail, style="dim"))

    def _show_capx_credits(self, meter: Meter) -> None:
        figure = self.store.figures.get("capx.credits")
        if isinstance(figure, dict) and isinstance(figure.get("meta"), dict):  # the whole response meta
            figure = figure["meta"]
        remaining = pick(figure, "credits_remaining", "remaining")
        used = pick(figure, "credits_used", "used")
        if remaining is None and used is None:
            self._missing(meter, "capx")
            return
        total = pick(figure, "credits_total", "total", "limit")
        if total is None and remaining is not None and used is not None:
            total = remaining + used
        fraction = remaining / total if remaining is not None and total else None
        value = Text(count_words(remaining), style=level_style(fraction))
        value.append(" left")
        detail = f"{count_words(used)} used" if used is not None else ""
        since = pick(figure, "since")
        if detail and since is not None:  # what the key spent since capwatch started, not the last request's cost
            detail += f" since {time.strftime('%H:%M', time.localtime(since))}"
        meter.show(fraction, value, Text(detail, style="dim"))

    def _show_capx_rate(self, meter: Meter, now: float) -> None:
        figure = self.store.figures.get("capx.rate_limit")
        limit = pick(figure, "limit", "x-ratelimit-limit", "rate_limit")
        remaining = pick(figure, "remaining", "x-ratelimit-remaining")
        if limit is None or remaining is None:
            self._missing(meter, "capx")
            return
        fraction = remaining / limit if limit > 0 else None
        style = "bold red" if fraction is not None and fraction < CAPX_RATE_LOW else level_style(fraction)
        value = Text(count_words(remaining), style=style).append(f" / {count_words(limit)}")
        reset = pick(figure, "reset", "reset_at", "x-ratelimit-reset")
        if reset is not None and reset > 1e11:  # milliseconds
            reset /= 1000
        if reset is None:
            detail = "reset —"
        elif reset <= now:
            detail = "window reset"
        else:
            detail = f"resets in {seconds_words(reset - now)}"
        meter.show(fraction, value, Text(detail, style="dim"))

    def _show_activity(self, now: float) -> None:
        lines = []
        for service in (*SERVICE_KINDS, APP_SERVICE):
            series = self.rates.series(service, now)
            counts = [(kind, sum(self.counts[kind].values()), self.counts[kind])
                      for kind in SERVICE_KINDS.get(service, ())]
            lines.append(ServiceLine(service=service, state=self.service_state(service), series=series,
                                     rate=self.rates.rate(service, now), counts=counts, end=int(now)))
        self.query_one(ActivityBoard).show(lines)

    def _show_alerts(self, *, force: bool = False) -> None:
        """Every open alert, newest first (the table scrolls; it draws only what fits), and the title. Only what
        changed is handed to the table (new, told again, acknowledged, and in its place one that learned a name):
        rebuilding a thousand rows on every new alert cost each switch to the Overview under load ~8 ms."""
        log = self.capwatch.alerts
        quiet = log.quiet_words()
        seen = (log.version, quiet)
        if seen == self._alerts_seen and not force:
            return
        self._alerts_seen = seen
        shown, listed = ({} if force else self._alerts_listed), {}
        changes: dict[str, dict[str, Any] | None] = {}
        for alert in reversed(log.open()):  # oldest first: what arrived last gets the highest place
            was = shown.get(alert.seq) or (-1, 0, 0, False)
            if was[0] != alert.repeats:  # new, or told again: first
                self._alert_place += 1
                was = (-1, 0, self._alert_place, False)
            # (an alert read back from the history is drawn again when live data confirms it)
            listed[alert.seq] = (alert.repeats, alert.renamed, was[2], is_recalled(alert.event))
            if listed[alert.seq] != was:  # (or a name learned since: said again, in its place)
                changes[str(alert.seq)] = self._alert_row(alert, was[2])
        changes.update((str(seq), None) for seq in shown.keys() - listed.keys())
        self._alerts_listed = listed
        (self.alerts_table.set_rows if force else self.alerts_table.update_rows)(changes)
        self._show_alerts_title()

    def _show_alerts_title(self) -> None:
        """`Alerts  5 open · newest first · ● following · ...`: whether the list follows the newest (a cursor key stops it, Home
        follows again), muted or snoozed toasts, then the keys (the key bar has them too). At 80 columns the keys give
        way first, then "newest first", then shorter words for the rest (tui/app/toolkit/fit.py)."""
        quiet = self.capwatch.alerts.quiet_words()
        if self.alerts_table.follow:
            follow = part("● following", "●", rank=3, style="green")
        else:
            follow = part("○ follow off (Home)", "○ off (Home)", "○ Home", rank=3, style="bold")
        title = (part(Text("Alerts", style="bold"), rank=9),
                 part(f"{len(self._alerts_listed)} open", rank=8, style="dim", lead="  "),
                 part("newest first", "", rank=1, style="dim"),
                 follow,
                 *([part(quiet, quiet.replace("toasts ", "").replace(" (m)", ""), rank=2, style="yellow")]
                   if quiet else []),
                 part("Enter opens · a acknowledges", "⏎ opens · a acks", "", rank=0, style="dim"))
        self.query_one("#overview-alerts-title", FitLine).show(*title)  # (one line high: no layout of the screen)

    def on_live_table_follow_changed(self, message: EventTable.FollowChanged) -> None:
        if message.table is self.alerts_table:
            self._show_alerts_title()

    def _alert_row(self, alert: Alert, place: int) -> dict[str, Any]:
        told = alert.told(self.store)
        return {"time": alert.event.time, "service": alert.event.service, "type": alert.event.type,
                "subject": history_marked(told) if is_recalled(alert.event) else told, "status": entity_status(alert.event), "event": alert.event,
                "alert": alert, "place": place}

    def tick(self) -> None:
        """Sparklines move left and the rate-limit reset counts down; a snooze that ended shows."""
        now = wall_clock.now()
        self._show_activity(now)
        self._show_capx_rate(self.query_one("#meter-capx-rate", Meter), now)
        self._show_alerts()

    # ---------------------------------------------------------------------------------------- keys

    def focus_default(self) -> None:
        if self.alerts_table.display:
            focus_now(self.alerts_table)
        else:  # a first run: no alert list to take keys (a hidden widget can still be focused: its keys would show)
            self.screen.set_focus(None)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("acknowledge", "acknowledge_all") and not self.alerts_table.display:
            return False  # a first run: no alerts
        return super().check_action(action, parameters)

    def on_live_table_row_selected(self, message: EventTable.RowSelected) -> None:
        event = message.row.get("event")
        if isinstance(event, Event):
            message.stop()
            self.capwatch.open_entity(event)

    def action_open_latest_alert(self) -> None:
        alerts = self.capwatch.alerts.open()
        if alerts:
            self.capwatch.open_entity(alerts[0].event)
        else:
            self.capwatch.toast("No open alerts")

    def action_acknowledge(self) -> None:
        """a: the alert under the cursor, as the operator saw it, leaves the list (the Events tab's "alerts only" view
        keeps it)."""
        row = self.alerts_table.chosen_row()
        if row is None:
            self.capwatch.toast("No alert selected")
            return
        self.capwatch.alerts.acknowledge([row["alert"].seq])
        self._show_alerts()

    def action_acknowledge_all(self) -> None:
        """A: every open alert (the Events tab's "alerts only" view keeps them)."""
        done = self.capwatch.alerts.acknowledge(alert.seq for alert in self.capwatch.alerts.open())
        self._show_alerts()
        self.capwatch.toast(f"Acknowledged {done} alert{'' if done == 1 else 's'}")

    def commands(self):
        yield SystemCommand("Latest alert", "Open the newest open alert's entity (Overview)",
                            self.action_open_latest_alert)
        yield SystemCommand("Alerts: acknowledge all", "Every open alert leaves the Overview's list; Events keeps "
                            "them (A)", self.action_acknowledge_all)
