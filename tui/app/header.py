"""The header: profile, environment badge, DEMO badge, the health lights of each service, the clock.

The environment badge names the environment the configured keys reach, as their vendors declare it from a key's
prefix (tui/vendors/base.py `Vendor.environments`: Captain's `cap_prod_` is PROD, in red).

The lights are one `ServiceLights` per service, in the room the header leaves them, never cut: the richest form
that fits for every service at once (tui/app/health_words.py for the glyphs, worst first):

    lights   a light per channel                 capout ●● capx ●●◐●●● captain ●●     (≤ MAX_LIGHTS channels)
    counts   a count per state, worst first      capout ●2 capx ◐1 ●5 captain ●2      (300 Capx companies: ●298 ◐2)
    brief    only what is not live               capout ● capx ◐1 captain ●
    trouble  only the services with trouble      capx ◐1  +3 live
    total    every channel counted together      ◐1 ●9

What the header shows of a service is data, not code per service: its channels' states (the Store's health) and,
when a service publishes one, how many of its streams wait for a request budget to open (`<service>.budget` figure,
`waiting_streams`: `⧗12`): streams only, each of them one of the channels counted connecting or reconnecting, so
`◐288 ◌12 ⧗300` is 300 streams not open, all of them waiting. Hovering a service lists its channels, worst first;
clicking the lights opens `h`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from tui import wall_clock
from tui.app.health_words import GLYPHS, STATE_ORDER, STATE_STYLES, health_tooltip, worst_first
from tui.app.themes import on_panel
from tui.config import Config
from tui.live.events import ChannelHealth, ChannelState
from tui.vendors import VENDORS
from tui.vendors.base import Vendor

MAX_LIGHTS = 8  # a service with more channels (a Capx fleet: one per company) is counted, even with room to spare
TOOLTIP_CHANNELS = 12  # channels listed one by one on hover; the rest are counted
FORMS = ("lights", "counts", "brief", "trouble", "total")
NOT_OPEN = (ChannelState.CONNECTING, ChannelState.RECONNECTING)  # what a stream waiting for the budget is
NAME_STYLE = "$text-muted"
# The state colours as they read on the header's $panel (tui/app/themes.py `on_panel_variables`: light themes' panel
# is darker than the background Textual's $text-warning is made for).
LIGHT_STYLES = {state: on_panel(style) for state, style in STATE_STYLES.items()}


LEVELS = ("prod", "stage", "dev")  # an environment badge's loudness, loudest first (styles/app.tcss .env-<level>)


def environment_badge(config: Config, vendors: Iterable[Vendor] = VENDORS) -> tuple[str, str, str] | None:
    """(label, CSS class, tooltip) of the badge naming the environments the configured keys reach: `dev`, `PROD`
    (in the loudest one's colour; each with its vendor's name when keys of several vendors tell one); None when no
    key tells one."""
    found = [(vendor, environment) for vendor in vendors if vendor.environments
             and (environment := vendor.environment_of(getattr(config, vendor.name).api_key_value))]
    if not found:
        return None
    loudest = min(LEVELS.index(environment.level) for _, environment in found)
    label = " ".join(environment.badge if len(found) == 1 else f"{vendor.name} {environment.badge}"
                     for vendor, environment in found)
    tooltip = "\n".join(f"{vendor.title} key: {environment.name}" for vendor, environment in found)
    return label, f"env-{LEVELS[loudest]}", tooltip


def state_counts(channels: list[ChannelHealth]) -> list[tuple[str, int, str]]:
    """(glyph, count, style) per glyph, worst first (failing and reconnecting share ◐ and one count)."""
    counts: dict[str, list] = {}
    for state in STATE_ORDER:
        n = sum(1 for health in channels if health.state is state)
        if n:
            entry = counts.setdefault(GLYPHS[state], [0, LIGHT_STYLES[state]])
            entry[0] += n
    return [(glyph, n, style) for glyph, (n, style) in counts.items()]


def counts_content(counts: list[tuple[str, int, str]]) -> list[tuple[str, str] | str]:
    """`◐1 ●5`: each glyph with its count (a count of 0: the glyph alone)."""
    parts: list[tuple[str, str] | str] = []
    for n, (glyph, count, style) in enumerate(counts):
        if n:
            parts.append(" ")
        parts.append((f"{glyph}{count}" if count else glyph, style))
    return parts


class ServiceLights(Static):
    """One service's lights in the header, in the form the header chooses (see the module's docstring)."""

    def __init__(self, service: str):
        super().__init__(Content(service), classes="health-light", markup=False)
        self.service = service
        self.channels: list[ChannelHealth] = []
        self.store: Any = None  # for the tooltip's names
        self.waiting = 0
        self._states: tuple = ()
        self._forms: dict[str, Content | None] = {}
        self._shown: Content | None = None

    def set_channels(self, channels: list[ChannelHealth], waiting: int = 0) -> bool:
        """Take the service's channels; True when what any form shows changed. `waiting`: its streams waiting for a
        request budget to open, each one of the channels connecting or reconnecting: never shown as more than those
        (the figure is published once a second, the states at once: for that second it may count streams open)."""
        self.channels = channels
        if waiting:
            waiting = min(waiting, sum(1 for h in channels if h.state in NOT_OPEN))
        states = (tuple((h.name, h.state) for h in channels), waiting)
        if states == self._states:
            return False
        self._states, self.waiting, self._forms = states, waiting, {}
        return True

    @property
    def troubled(self) -> bool:
        return any(health.state not in (ChannelState.LIVE, ChannelState.OFF) for health in self.channels)

    def form(self, name: str) -> Content | None:
        """The service in form `name`; None when that form leaves it out."""
        if name not in self._forms:
            self._forms[name] = self._make(name)
        return self._forms[name]

    def _make(self, name: str) -> Content | None:
        channels = self.channels
        if name == "total" or (name == "trouble" and not self.troubled and not self.waiting):
            return None
        parts: list[tuple[str, str] | str] = [(self.service, NAME_STYLE), " "]
        if name == "lights" and len(channels) <= MAX_LIGHTS:
            parts += [(GLYPHS.get(h.state, "?"), LIGHT_STYLES.get(h.state, "")) for h in channels]
        else:
            counts = state_counts(channels)
            calm = (GLYPHS[ChannelState.LIVE], GLYPHS[ChannelState.OFF])
            if name in ("brief", "trouble") and counts:
                # Only what is not live; all live (or off): its glyph alone.
                counts = [entry for entry in counts if entry[0] not in calm] or [(counts[0][0], 0, counts[0][2])]
            parts += counts_content(counts)
        if self.waiting:
            parts.append((f" ⧗{self.waiting}", "$panel-warning"))
        return Content.assemble(*parts)

    def show_form(self, name: str) -> None:
        content = self.form(name)
        self.display = content is not None
        if content is not None and content != self._shown:
            self._shown = content
            self.update(content)

    @property
    def tooltip(self) -> Text | None:
        """Made when shown (hovered), not at every health change: a fleet has hundreds of channels. A Text: a str
        would be read as markup, and a last error is the server's words."""
        store = self.store
        listed = worst_first(self.channels, store)[:TOOLTIP_CHANNELS]
        rest = len(self.channels) - len(listed)
        waiting = f"{self.waiting} streams wait for the request budget to open (of those connecting or reconnecting)"
        return Text("\n\n".join([*(health_tooltip(h, store) for h in listed),
                             *([f"… and {rest} more (h lists them all)"] if rest else []),
                             *([waiting] if self.waiting else [])]))

    @tooltip.setter
    def tooltip(self, tooltip: Any) -> None:
        pass  # always made from the channels


class HeaderBar(Horizontal):
    def __init__(self, config: Config, *, demo: bool):
        super().__init__(id="header")
        self.config = config
        self.demo = demo
        self._lights: dict[str, ServiceLights] = {}
        self._clock_text = ""
        self.form = FORMS[0]
        """The form the lights are shown in (FORMS), the richest that fits."""

    def compose(self) -> ComposeResult:
        yield Static(Text("capwatch", style="bold"), id="app-name")
        yield Static(Text(self.config.profile), id="profile", markup=False)
        if self.demo:
            yield Static("DEMO", id="demo-badge", classes="badge")
        badge = environment_badge(self.config)
        if badge:
            label, level, tooltip = badge
            environment = Static(Content(label), id="env-badge", classes=f"badge {level}", markup=False)
            environment.tooltip = Text(tooltip)
            yield environment
        if self.config.read_only:
            yield Static("READ-ONLY", id="ro-badge", classes="badge")
        with Horizontal(id="lights"):
            yield Static("", id="lights-rest", classes="health-light")
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
        changed = False
        for service, channels in by_service.items():
            lights = self._lights.get(service)
            if lights is None:
                lights = self._lights[service] = ServiceLights(service)
                container.mount(lights, before="#lights-rest")
                changed = True
            budget = store.figures.get(f"{service}.budget")
            waiting = budget.get("waiting_streams", 0) if isinstance(budget, dict) else 0
            changed |= lights.set_channels(channels, waiting if isinstance(waiting, int) else 0)
            lights.store = store
        if changed:
            self.fit()

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def fit(self) -> None:
        """Show every service in the richest form that fits the room the header leaves the lights."""
        room = self.query_one("#lights", Horizontal).size.width
        lights = list(self._lights.values())
        chosen = FORMS[-1]
        for form in FORMS[:-1]:
            if not room or self._width(form, lights) <= room:
                chosen = form
                break
        self.form = chosen
        for light in lights:
            light.show_form(chosen)
        self._show_rest(chosen, lights)

    def _width(self, form: str, lights: list[ServiceLights]) -> int:
        """Cells the lights take in `form`, each with the space after it, and the rest's summary."""
        shown = [light.form(form) for light in lights]
        width = sum(content.cell_length + 1 for content in shown if content is not None)
        rest = self._rest(form, lights)
        return width + (rest.cell_length + 1 if rest is not None else 0)

    def _rest(self, form: str, lights: list[ServiceLights]) -> Content | None:
        if form == "trouble":
            calm = sum(1 for light in lights if light.form("trouble") is None)
            return Content.assemble(("+", NAME_STYLE), (f"{calm} live", LIGHT_STYLES[ChannelState.LIVE])) \
                if calm else None
        if form == "total":
            everything = [health for light in lights for health in light.channels]
            return Content.assemble(*counts_content(state_counts(everything)))
        return None

    def _show_rest(self, form: str, lights: list[ServiceLights]) -> None:
        rest = self._rest(form, lights)
        widget = self.query_one("#lights-rest", Static)
        widget.display = rest is not None
        if rest is not None:
            widget.update(rest)
            widget.tooltip = "Channel health: h" if form == "total" else None

    async def on_click(self, event: events.Click) -> None:
        widget = event.widget
        if isinstance(widget, ServiceLights) or getattr(widget, "id", None) == "lights-rest":
            await self.app.run_action("health")
