"""The header: profile, environment badge, DEMO badge, one health light per channel, the clock."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui.config import Config
from tui.live.events import ChannelHealth, ChannelState

LIGHTS = {
    ChannelState.OFF: ("○", "health-off"),
    ChannelState.CONNECTING: ("◌", "health-connecting"),
    ChannelState.LIVE: ("●", "health-live"),
    ChannelState.RECONNECTING: ("◐", "health-reconnecting"),
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
    if health.last_error:
        parts.append(f"last error: {health.last_error}")
    return "\n".join(parts)


class HealthLight(Static):
    def __init__(self, channel: str):
        super().__init__(Text(f"○ {channel}"), classes="health-light health-off", markup=False)
        self.channel = channel
        self._shown: tuple | None = None

    def show(self, health: ChannelHealth) -> None:
        glyph, css = LIGHTS.get(health.state, ("?", "health-off"))
        shown = (glyph, css)
        if shown != self._shown:
            self._shown = shown
            self.update(Text(f"{glyph} {self.channel}"))
            self.set_classes(f"health-light {css}")
        self.tooltip = health_tooltip(health)


class HeaderBar(Horizontal):
    def __init__(self, config: Config, *, demo: bool):
        super().__init__(id="header")
        self.config = config
        self.demo = demo
        self._lights: dict[str, HealthLight] = {}

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
        self.set_interval(1.0, self._tick)
        self._tick()

    def _tick(self) -> None:
        self.query_one("#clock", Static).update(time.strftime("%H:%M:%S"))

    def update_health(self, store) -> None:
        container = self.query_one("#lights", Horizontal)
        for name, health in store.health.items():
            light = self._lights.get(name)
            if light is None:
                light = self._lights[name] = HealthLight(name)
                container.mount(light)
            light.show(health)
