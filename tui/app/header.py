"""The header: profile, environment badge, DEMO badge, one health light per channel, the clock."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui import wall_clock
from tui.config import Config
from tui.live.events import ChannelHealth, ChannelState

LIGHTS = {
    ChannelState.OFF: ("○", "health-off"),
    ChannelState.CONNECTING: ("◌", "health-connecting"),
    ChannelState.LIVE: ("●", "health-live"),
    ChannelState.DEGRADED: ("◒", "health-degraded"),
    ChannelState.RECONNECTING: ("◐", "health-reconnecting"),
    ChannelState.FAILING: ("◐", "health-reconnecting"),
    ChannelState.STALE: ("◔", "health-reconnecting"),
    ChannelState.FAILED: ("✖", "health-failed"),
}


def environment_badge(captain_key: str | None) -> tuple[str, str] | None:
    """The Captain key prefix names the environment: dev, stage, or PROD (in red)."""
    if not captain_key:
        return None
    for prefix, label, css in (("cap_prod_", "PROD", "env-prod"), ("cap_stage_", "stage", "env-stage"),
                               ("cap_dev_", "dev", "env-dev")):
        if captain_key.startswith(prefix):
            return label, css
    return None


def health_tooltip(health: ChannelHealth) -> str:
    age = health.age()
    parts = [f"{health.name}: {health.state.value}",
             f"last event {age:.0f}s ago" if age is not None else "no event yet",
             f"{health.events} events, {health.reconnects} reconnects"]
    if health.counters_text():
        parts.append(health.counters_text())
    if health.last_error:
        parts.append(f"last error{health.error_time()}: {health.last_error}")
    return "\n".join(parts)


GLYPH_STYLES = {
    ChannelState.OFF: "grey50",
    ChannelState.CONNECTING: "yellow",
    ChannelState.LIVE: "green",
    ChannelState.DEGRADED: "bold dark_orange",
    ChannelState.RECONNECTING: "bold yellow",
    ChannelState.FAILING: "bold yellow",
    ChannelState.STALE: "bold yellow",
    ChannelState.FAILED: "bold red",
}


MAX_LIGHTS = 8  # a service with more channels (a Capx fleet: one per company) shows counts per state instead
TOOLTIP_CHANNELS = 12  # channels listed one by one on hover; the rest are counted


def light_counts(channels: list[ChannelHealth]) -> dict[ChannelState, int]:
    counts: dict[ChannelState, int] = {}
    for health in channels:
        counts[health.state] = counts.get(health.state, 0) + 1
    return counts


class ServiceLights(Static):
    """One service and a light per channel of it: `capx ●●●◐●`; past MAX_LIGHTS channels, counts per state:
    `capx ●298 ◐2`, and the streams waiting for the request budget: `⧗12 waiting`. Hover lists the channels
    (the ones not live first); `h` opens the health view. Grouping by service keeps the header one line."""

    def __init__(self, service: str):
        super().__init__(Text(service), classes="health-light", markup=False)
        self.service = service
        self._shown: tuple | None = None

    def show(self, channels: list[ChannelHealth], waiting: int = 0) -> None:
        many = len(channels) > MAX_LIGHTS
        counts = light_counts(channels) if many else None
        shown = (tuple(sorted(counts.items())), waiting) if many else (tuple((h.name, h.state) for h in channels),
                                                                       waiting)
        if shown != self._shown:
            self._shown = shown
            text = Text(f"{self.service} ", style="grey70")
            if counts is not None:
                for state in LIGHTS:  # in the order of LIGHTS: off, connecting, live, reconnecting, failed
                    if counts.get(state):
                        text.append(f"{LIGHTS[state][0]}{counts[state]} ", style=GLYPH_STYLES.get(state, ""))
                text.rstrip()
            else:
                for health in channels:
                    text.append(LIGHTS.get(health.state, ("?", ""))[0], style=GLYPH_STYLES.get(health.state, ""))
            if waiting:
                text.append(f" ⧗{waiting} waiting", style="yellow")
            self.update(text)
        listed = sorted(channels, key=lambda h: h.state is ChannelState.LIVE)[:TOOLTIP_CHANNELS]
        rest = len(channels) - len(listed)
        self.tooltip = "\n\n".join([*(health_tooltip(h) for h in listed), *([f"… and {rest} more"] if rest else []),
                                     *([f"{waiting} streams wait for the request budget"] if waiting else [])])


class HeaderBar(Horizontal):
    def __init__(self, config: Config, *, demo: bool):
        super().__init__(id="header")
        self.config = config
        self.demo = demo
        self._lights: dict[str, ServiceLights] = {}
        self._clock_text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text("capwatch", style="bold"), id="app-name")
        yield Static(Text(self.config.profile), id="profile", markup=False)
        if self.demo:
            yield Static("DEMO", id="demo-badge", classes="badge")
        badge = environment_badge(self.config.captain.api_key_value)
        if badge:
            yield Static(badge[0], id="env-badge", classes=f"badge {badge[1]}")
        if self.config.read_only:
            yield Static("READ-ONLY", id="ro-badge", classes="badge")
        yield Horizontal(id="lights")
        yield Static("", id="clock")

    def on_mount(self) -> None:
        self.tick()

    def tick(self) -> None:
        """The app's one-second clock calls this (CapwatchApp.tick_second)."""
        text = wall_clock.hms()
        # A layout of the whole screen only when the width changes (the first time); otherwise a repaint of the
        # clock alone, which is most of what an idle monitor does every second.
        self.query_one("#clock", Static).update(text, layout=len(text) != len(self._clock_text))
        self._clock_text = text

    def update_health(self, store) -> None:
        container = self.query_one("#lights", Horizontal)
        by_service: dict[str, list[ChannelHealth]] = {}
        for health in store.health.values():
            by_service.setdefault(health.service or "capwatch", []).append(health)
        for service, channels in by_service.items():
            lights = self._lights.get(service)
            if lights is None:
                lights = self._lights[service] = ServiceLights(service)
                container.mount(lights)
            # A service with a request budget publishes it as `<service>.budget` (Capx: its streams waiting).
            budget = store.figures.get(f"{service}.budget")
            waiting = budget.get("waiting_streams", 0) if isinstance(budget, dict) else 0
            lights.show(channels, waiting if isinstance(waiting, int) else 0)
