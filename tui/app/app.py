"""The monitor: a header, the tabs (the Overview, each vendor's, the Events), a footer; a 20 Hz flush that hands
coalesced Store changes to the visible tab (hidden tabs only hold them, and show them in one go when shown), paced
to the terminal's output budget (tui/app/pacing.py). The first frame is the chrome alone (header, tab bar, footer):
the panes, the Overview first, and the LiveHub's start come right after it, so the screen is up as soon as Textual
can draw it. All I/O runs in the LiveHub (tui/live/hub.py) and in workers; widgets never poke each other."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.widgets import TabbedContent, TabPane

from tui import vendors
from tui.app import textual_fixes
from tui.app.alert_rules import alert_rule, bell_rule
from tui.app.alerts import SNOOZES, AlertLog
from tui.app.header import HeaderBar
from tui.app.keys import SettledTabs
from tui.app.pacing import OutputBudget, metered_driver
from tui.app.themes import CAPWATCH_DARK, CAPWATCH_LIGHT, OFFERED_THEMES, offer_themes, on_panel_variables
from tui.app.toolkit.host import PaneAppMixin
from tui.app.widgets.keybar import KeyBar
from tui.config import Config
from tui.live.currency import outages
from tui.live.events import Event
from tui.live.hub import LiveHub
from tui.vendors.base import Tab, Vendor, load

if TYPE_CHECKING:
    from tui.app.panes.base import Pane
    from tui.app.widgets.alert_toast import AlertToast
    from tui.app.widgets.banner import IncidentBanner

FRAME_INTERVAL = 1 / 20  # the most often the screen follows the Store
# The longest the output budget holds Store changes back (tui/app/pacing.py): keys are not paced, and an operator
# at work (windows opened, text typed: an export every half second) kept it spent, so the tables showed nothing
# new for as long as that lasted. Three seconds, not one: a storm's repaint of the Documents tab can be more than a
# second of the budget, and a one-second hold let it out every second (31 KB/s against 24 in `run.py --only ssh`).
MAX_HOLD = 3.0
RECALL_WAIT = 2.0  # seconds the start waits for the last hours of the history, at most
QUIT_WAIT = 5.0  # seconds a quit waits for start-up to finish mounting the panes, at most
GC_THRESHOLDS = (700, 10, 1000)  # Python's (700, 10, 10), full collections a hundred times rarer (`_start_up`)

# The monitor's own tabs, around the vendors' (each vendor's declaration lists its tabs: tui/vendors).
OVERVIEW_TAB = Tab("overview", "Overview", "tui.app.panes.overview:OverviewPane")
EVENTS_TAB = Tab("events", "Events", "tui.app.panes.events:EventsPane")


def styles_path() -> Path:
    """styles/ at the top of a source checkout, or tui/styles inside an installed wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "styles", package.parent / "styles"):
        if (candidate / "app.tcss").is_file():
            return candidate
    raise FileNotFoundError("capwatch styles not found (expected tui/styles or ./styles)")


def monitor_tabs(declared: Iterable[Vendor]) -> tuple[Tab, ...]:
    """The Overview, then each vendor's tabs in the registry's order, then the Events: keys 1, 2, 3, ..."""
    return (OVERVIEW_TAB, *(tab for vendor in declared for tab in vendor.tabs), EVENTS_TAB)


def stylesheets(tabs: Iterable[Tab]) -> list[str]:
    """The app's own sheets (the chrome's first), then each tab's own where styles/ has one (styles/<tab id>.tcss),
    in the tabs' order."""
    styles = styles_path()
    sheets = [styles / f"{name}.tcss" for name in ("app", "panes", "windows", "tables", *(tab.id for tab in tabs))]
    return [str(sheet) for sheet in sheets if sheet.exists()]


class CapwatchApp(PaneAppMixin, App[int]):
    """The monitor. What its panes may use of it (hub, store, config, alerts, read_only, toast, toast_error) is
    `PaneApp` (tui/app/toolkit/host.py), shared with the pane tests' host."""

    TITLE = "capwatch"
    STYLESHEETS = stylesheets(monitor_tabs(vendors.VENDORS))
    # Only the chrome's sheet before the first frame: the panes' and the windows' are read when the first pane or
    # window is on its way (`read_later_styles`). Parsing them, and matching each node of the first frame against
    # their rules (every node is checked against every rule), cost ~8 ms CPU before it.
    CSS_PATH = STYLESHEETS[:1]
    # Cells readable in every theme (themes.py). Declared here, not set in __init__: setting them there runs their
    # watchers, which parse every stylesheet a second time before the first frame (~30 ms of the start).
    ansi_theme_dark = Reactive(CAPWATCH_DARK, init=False)
    ansi_theme_light = Reactive(CAPWATCH_LIGHT, init=False)

    FIRST_TAB = OVERVIEW_TAB.id
    TABS = tuple((tab.id, f"{n} {tab.label}") for n, tab in enumerate(monitor_tabs(vendors.VENDORS), start=1))
    PANES = {tab.id: tab.pane for tab in monitor_tabs(vendors.VENDORS)}  # tab id -> its pane, "module:Class"

    # Screen classes by width, for layouts that change under 100 columns (styles/*.tcss: `Screen.-narrow`).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        *(Binding(str(n), f"show_tab('{tab}')", label.split(" ", 1)[1], show=False)
          for n, (tab, label) in enumerate(TABS, start=1) if n <= 9),
        Binding("question_mark", "help", "Keys", key_display="?"),
        Binding("h", "health", "Health", show=False),
        Binding("m", "mute", "Mute alerts", show=False),
        Binding("ctrl+e", "export", "Export", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, config: Config, *, demo: bool = False, hub: LiveHub | None = None, history=None,
                 open_history: Callable[[], Any] | None = None):
        textual_fixes.install()  # no reference cycle per line drawn (see the module)
        super().__init__()
        offer_themes(self, OFFERED_THEMES)
        self.config = config
        self.demo = demo
        # Building a LiveHub imports nothing of the vendors: their integrations are built (httpx, websockets,
        # pydantic imported) when the hub starts, right after the first pane is drawn (`_run_hub`).
        self._own_hub = hub is None
        if hub is None and config.source:  # team mode: from the collector's history (tui/history/source.py)
            from tui.history.source import SourceHub

            hub = SourceHub(config, vendors.VENDORS)
        self.hub = hub or LiveHub(config, vendors.VENDORS)
        # The event history (tui/history `History`), recording every change the Store makes; None: not recorded.
        # `open_history` opens it after the first frame instead (its imports and file cost ~60 ms), before the
        # LiveHub starts: nothing is missed.
        self.history = None
        self._open_history = open_history
        self._record_into(history)
        self.is_alert = alert_rule(vendors.VENDORS)
        self.feed = self.hub.store.subscribe()
        self._pane_mounts: dict[str, AwaitMount] = {}
        # tab -> its pane, from when its mount starts: every frame walks these, where a DOM query would walk every
        # widget (3 % of a loaded monitor's time).
        self._panes: dict[str, Pane] = {}
        self._started = False  # the first frame is drawn and `_start_up` mounts the panes
        self.started_up = asyncio.Event()  # `_start_up` is done: every pane is mounted
        self._tab_chosen = False  # a tab was asked for (number key, palette) before start-up focused the first
        self.alerts = AlertLog(muted=not config.alert_toasts)  # every alert kept; the Overview lists the open ones
        self.frames = 0  # repaints that had something to show (benchmarks read it)
        self.output_budget = OutputBudget(config.max_output_kbps * 1000)
        self._held_since: float | None = None  # monotonic time the budget began holding changes back
        self._thresholds_before: tuple[int, ...] | None = None  # the collector as it was before `_start_up` set it
        self._later_styles_read = False  # the panes' and windows' sheets (`read_later_styles`)
        self._banner: IncidentBanner | None = None  # mounted at the first outage (`incident_banner`)
        self._toast: AlertToast | None = None  # mounted with the first alert (`alert_toast`)

    def get_driver_class(self):
        # Every byte written to the terminal is counted against the output budget (tui/app/pacing.py).
        return metered_driver(super().get_driver_class(), lambda app: getattr(app, "output_budget", None))

    def get_css_variables(self) -> dict[str, str]:
        """The theme's variables and the header's state colours readable on its panel (themes.py)."""
        variables = super().get_css_variables()
        variables.update(on_panel_variables(variables))
        self.theme_variables = variables
        return variables

    def compose(self) -> ComposeResult:
        yield HeaderBar(self.config, demo=self.demo)
        # No pane is in the first frame: they are mounted right after it, the first tab's first (`mount_panes`).
        # Nor the incident banner (under the header) and the alert notice (over the key bar): each is mounted when
        # first needed, at the first outage and the first alert (`incident_banner`, `alert_toast`).
        with SettledTabs(initial=self.FIRST_TAB, id="tabs"):
            for tab_id, label in self.TABS:
                yield TabPane(label, id=tab_id)
        yield KeyBar()

    def incident_banner(self, *, mount: bool = True) -> IncidentBanner | None:
        """The banner under the header (tui/app/widgets/banner.py), mounted on first use (None: not yet, and
        `mount` false)."""
        if self._banner is None and mount:
            from tui.app.widgets.banner import IncidentBanner

            screen = self._monitor_screen()
            self._banner = IncidentBanner(id="incident-banner")
            screen.mount(self._banner, before=screen.query_one(SettledTabs))
        return self._banner

    def alert_toast(self, *, mount: bool = True) -> AlertToast | None:
        """The alert notice (tui/app/widgets/alert_toast.py), mounted on first use, with the first alert: until then
        it has nothing to show, to hold or to hide (None: not yet, and `mount` false)."""
        if self._toast is None and mount:
            from tui.app.widgets.alert_toast import AlertToast

            screen = self._monitor_screen()
            self._toast = AlertToast(self.alerts, rings=bell_rule(self.config.alert_bell), id="alert-toast")
            screen.mount(self._toast, after=screen.query_one(KeyBar))
        return self._toast

    def _monitor_screen(self) -> Screen:
        """The screen of the tabs, under any window open (a window has a key bar of its own)."""
        if not self.screen_stack:
            raise NoMatches("the monitor's screen is gone")  # (the shutdown removed it)
        return self.screen_stack[0]

    def read_later_styles(self) -> None:
        """The sheets the first frame went without (`CSS_PATH`): before the first pane or window is mounted, which
        they style. None of their rules matches the chrome, so what is on screen is not styled again."""
        if self._later_styles_read:
            return
        self._later_styles_read = True
        later = [Path(sheet) for sheet in self.STYLESHEETS[len(self.CSS_PATH):]]
        self.stylesheet.read_all(later)
        # Parsed now: `read_all` leaves the stylesheet's map of rules by selector as it was until a parse, and the
        # next node styled would be matched against the old map alone (the first pane went without its rules).
        self.stylesheet.parse()
        self.css_path.extend(later)  # (what `textual run --dev` watches and reads again when one changes)
        if self.css_monitor is not None:
            self.css_monitor.add_paths(later)

    def push_screen(self, *args, **kwargs):
        self.read_later_styles()  # a window before any pane (`h` as the monitor starts): styles/windows.tcss
        return super().push_screen(*args, **kwargs)

    def _start_pane_mounts(self, tabs: Iterable[str]) -> list[AwaitMount]:
        self.read_later_styles()
        tabbed = self.query_one(TabbedContent)
        for tab in tabs:
            if tab not in self._pane_mounts and not tabbed.get_pane(tab).children:
                # A pane's module is imported when its pane is mounted, after the first frame.
                pane = self._panes[tab] = load(self.PANES[tab])(id=f"pane-{tab}")
                self._pane_mounts[tab] = tabbed.get_pane(tab).mount(pane)
        return [self._pane_mounts[tab] for tab in tabs if tab in self._pane_mounts]

    async def mount_panes(self, *tabs: str) -> None:
        """Mount the panes of `tabs` (default: every tab) that are not mounted yet, and wait until they are."""
        for mount in self._start_pane_mounts(tabs or [tab for tab, _ in self.TABS]):
            await mount

    async def _run_hub(self, first_pane_shown: asyncio.Event) -> None:
        if self._own_hub:  # a hub handed in (tests, benchmarks) starts at once
            await first_pane_shown.wait()
        await self.hub.run()

    def _after_first_frame(self, first_pane_shown: asyncio.Event) -> None:
        self._started = True
        self.run_worker(self._start_up(first_pane_shown), name="start up", group="start-up",
                        description="the panes, the first tab's first, then the LiveHub")

    async def _start_up(self, first_pane_shown: asyncio.Event) -> None:
        """The chrome is on screen. The first tab's pane next, alone, so that it is drawn at once; then the
        LiveHub (`first_pane_shown`) and every other pane, filled from the Store.

        Once every tab is mounted, the garbage collector is set for a long-running stream of updates (both
        undone when the app ends): what exists then (Textual, the widgets, the CSS: it lives as long as the
        app) is frozen out of its reach, and its full passes wait for a hundred times more young collections
        than Python's default. At 2,000 events/s, medium-lived objects (timeline events, rows) are promoted fast
        enough that a full pass of 80 to 120 ms came every second, 7 % of the time, showing as late frames and
        keys. A full pass now comes every minute or two (100 to 150 ms). What only a full pass frees (cyclic
        garbage that lived past a young collection) is ~1 MB a minute since the fixes in textual_fixes.py and
        the KeyBar, so waiting that long costs no memory (tests/perf/soak.py --monitor: flat)."""
        if self._open_history is not None:
            self._record_into(await asyncio.to_thread(self._open_history))
        await self._recall_history()
        await self.mount_panes(self.FIRST_TAB)
        pane = self.active_pane()
        if pane is not None and not self._tab_chosen and len(self.screen_stack) == 1:
            # Its keys in the key bar from the start, not the auto-focused tab bar's. Not after a number key: the
            # focus landing here would bring this tab back (TabbedContent shows the tab of the focused widget).
            pane.focus_default()
        drawn = asyncio.Event()
        self.call_after_refresh(drawn.set)
        await drawn.wait()
        first_pane_shown.set()
        await self.mount_panes()
        if not self.is_running:
            return  # the app quit while the tabs mounted: its shutdown is removing their widgets (NoMatches below)
        # Fill the hidden tabs now, while the Store is small: from here on they hold what changes, and showing one
        # catches up on that rather than rebuilding it all while the key waits (a 10,000-row table: ~100 ms).
        shown = self.active_pane()
        for pane in self._panes.values():
            if pane is not shown:
                pane.catch_up()
        gc.freeze()
        self._thresholds_before = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        self.started_up.set()

    def _record_into(self, history) -> None:
        self.history = history
        if history is not None:
            self.hub.store.recorder = history.append

    async def _recall_history(self) -> None:
        """The last hours of events from the history on the timeline (and the alerts among them), marked as history,
        before the panes read it and before the LiveHub starts; read in a worker thread, waited for RECALL_WAIT at
        most (a history that is slow or cannot be read: the monitor starts without it)."""
        if self.history is None or self.demo:
            # The demo's simulator invents a new world each run: the last demo's alerts would name entities that do
            # not exist in this one (its ids repeat with --seed). It records; `capwatch history --demo` reads it.
            return
        from tui.history.reading import recent_events

        store = self.hub.store
        try:
            async with asyncio.timeout(RECALL_WAIT):
                events = await recent_events(self.history.setting, store.timeline.maxlen or 10_000)
        except Exception:
            return
        store.recall(events)
        # Before the LiveHub starts: older than any live alert, and listed without a notice (nothing new).
        self.alerts.add(event for event in events if self.is_alert(event))

    def on_mount(self) -> None:
        first_pane_shown = asyncio.Event()
        self.call_after_refresh(self._after_first_frame, first_pane_shown)
        # Coroutine functions, not coroutines: an app that exits before its workers run leaves nothing unawaited.
        self.run_worker(functools.partial(self._run_hub, first_pane_shown), name="live hub", group="hub",
                        exclusive=True, exit_on_error=False,
                        description="every realtime channel, poller and the webhook receiver")
        self.run_worker(self._frames, name="frames", group="frames", description="the Store to the screen")
        self.set_interval(1.0, self.tick_second, name="clock")
        self.screen_change_signal.subscribe(self, self.screen_changed)
        # A hub handed in may hold data already (snapshots, benchmarks): show it without waiting for a change.
        self.update_health()
        self.alerts.add(event for event in self.hub.store.timeline if self.is_alert(event))

    # ------------------------------------------------------------------------------------------- frames

    def active_pane(self) -> Pane | None:
        """The shown tab's pane once it has its widgets: a pane whose mount began (`mount_panes`) is in the DOM
        before its compose has run, and the one-second clock (a task of its own, between the app's awaits) ticked
        one so under load ("No nodes match 'ActivityBoard'"); it fills itself on mount."""
        pane = self._panes.get(self.query_one(TabbedContent).active)
        return pane if pane is not None and pane.is_attached and pane.is_mounted else None

    async def _frames(self) -> None:
        """The frame loop: wake when the Store changed, show it, then let a frame interval pass before the next.
        A quiet Store costs no wake-ups at all, where a timer would tick 20 times a second for nothing."""
        while True:
            await self.feed.wait()
            self.flush_changes()
            await asyncio.sleep(FRAME_INTERVAL)

    def flush_changes(self) -> None:
        """Once per frame: take one coalesced batch and hand it to whoever shows it. While the output budget
        is spent, changes keep coalescing in the feed and the next frame shows the latest state; for MAX_HOLD
        seconds at most, whatever spent it (the keys' screens count against it, and are never held back)."""
        if not self.output_budget.has_room():
            now = time.monotonic()
            if self._held_since is None:
                self._held_since = now
            if now - self._held_since < MAX_HOLD:
                return
        self._held_since = None
        try:
            self._flush_changes()
        except NoMatches:  # the screen is being torn down at exit: nothing left to show
            pass

    def _flush_changes(self) -> None:
        batch = self.feed.take()
        if batch is None:
            return
        self.frames += 1
        if batch.events:
            self._collect_alerts(batch.events)
        if batch.kinds or batch.replaced:  # names the alerts lacked (an entity read after its alert came)
            self.alerts.learn_names(batch.kinds, batch.replaced, self.hub.store)
            self.alerts.confirm(batch.kinds, batch.replaced, self.hub.store)
        if batch.health or batch.figures:
            self.update_health()
        # Hidden tabs, and the shown one while a modal covers it, hold the batch and show it when they are seen.
        covered = len(self.screen_stack) > 1
        active = self.active_pane()
        for pane in self._panes.values():
            if not pane.is_mounted or not pane.wants(batch):  # a pane being mounted reads the Store on mount
                continue
            if pane is active and not covered:
                pane.apply_changes(batch)
            else:
                pane.hold(batch)

    def update_health(self) -> None:
        """The header's lights, the incident banner and the stale look of the panes, from the channels' states: a
        service down dims its panes; part of a fleet not live (a few Capx company streams) does not."""
        self.query_one(HeaderBar).update_health(self.hub.store)
        found = outages(self.hub.store.health.values())
        banner = self.incident_banner(mount=bool(found))
        if banner is not None:
            banner.show(found)
        if self._panes:
            from tui.app.widgets.banner import mark_stale_panes

            mark_stale_panes(list(self._panes.values()),
                             {service: outage.since for service, outage in found.items() if outage.down})

    def tick_second(self) -> None:
        """One clock for the whole screen: the header time and the shown tab's ages, countdowns and sparklines
        change in the same frame (one repaint a second when nothing else happens), hidden tabs not at all."""
        if not self.is_running:
            return  # the shutdown is removing the widgets (a pane without its children would raise NoMatches)
        try:
            self.query_one(HeaderBar).tick()
            pane = self.active_pane()
        except NoMatches:  # torn down at exit
            return
        if pane is not None and len(self.screen_stack) == 1:
            pane.tick()

    def _collect_alerts(self, events: Iterable[Event]) -> None:
        """New alerts into the log, and to the notice (one toast that counts: tui/app/widgets/alert_toast.py)."""
        fresh = self.alerts.add(event for event in events if self.is_alert(event))
        if fresh:
            pane = self.active_pane()
            seen = pane is not None and pane.lists_alerts() and len(self.screen_stack) == 1
            self.alert_toast().arrive(fresh, seen=seen)

    def on_pane_alerts_shown(self) -> None:
        if self._toast is not None:
            self._toast.seen()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if not self.is_running:
            return  # a number key still queued when the app quit: its shutdown is removing the screen
        if event.pane.id and self._started:  # (the first activation, before the first frame, is `_start_up`'s)
            self._start_pane_mounts([event.pane.id])  # a click faster than `mount_panes`: it fills itself on mount
        pane = self.active_pane()
        if pane is not None:
            pane.catch_up()
            if pane.lists_alerts() and self._toast is not None:
                self._toast.seen()  # the Overview lists the alerts the notice counts
            focused = self.focused
            if self._started and len(self.screen_stack) == 1 and (focused is None or pane not in focused.ancestors):
                # Shown by a click on its tab (the tab bar took the focus) or the tab bar's arrows: its keys work
                # at once, as after its number key.
                pane.focus_default()

    def screen_changed(self, screen: Screen) -> None:
        """A window closed (a detail, the keys, a confirmation): the tab under it shows what it held meanwhile, in
        the first frame. (Textual's ScreenResume goes to the screen only, not to the app: the tab under a window
        stayed as it was until its next change, or a tab switch.)"""
        if not self.is_running or len(self.screen_stack) != 1:  # (not while the shutdown removes the screens)
            return
        pane = self.active_pane()
        if pane is not None:
            pane.catch_up()

    # ------------------------------------------------------------------------------------------- actions

    async def action_show_tab(self, tab: str) -> None:
        self._tab_chosen = True
        await self.mount_panes(tab)  # at once if it is not mounted yet
        self.query_one(TabbedContent).active = tab
        pane = self.active_pane()
        if pane is not None:
            # What it held while hidden, now, in the handler that shows it: its TabActivated comes later, and a
            # frame may be drawn before it.
            pane.catch_up()
            pane.focus_default()

    def action_quit(self) -> None:
        """Quit; while start-up is still mounting the panes (the first half second or so), once it is done: a pane
        torn down halfway through its mount fails it, and the monitor would end with a traceback. The wait is a
        worker's: the mounts need the app's own message loop, which this handler must not hold."""
        if self.started_up.is_set():
            self.exit()
        else:
            self.run_worker(self._quit_after_start_up(), group="quit", exclusive=True, description="quit")

    async def _quit_after_start_up(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(QUIT_WAIT):
                await self.started_up.wait()
        self.exit()

    async def action_help(self) -> None:
        from tui.app.screens import HelpScreen

        await self.mount_panes()  # it lists every pane's keys
        self.push_screen(HelpScreen())

    async def action_command_palette(self) -> None:
        await self.mount_panes()  # every pane's commands are in it
        super().action_command_palette()

    def action_health(self) -> None:
        from tui.app.screens import HealthScreen

        self.push_screen(HealthScreen())

    # ------------------------------------------------------------------------------------------- alerts

    def action_mute(self) -> None:
        """m: mute the alert notice and the bell, or (muted or snoozed) tell again. Alerts still list."""
        if self.alerts.silenced():
            self.alerts.tell()
            self.toast("Alert toasts and the bell back on")
        else:
            self.alerts.mute()
            self.toast("Alerts muted: no toast, no bell (m)")
        self._quiet_changed()

    def snooze_alerts(self, minutes: int) -> None:
        self.alerts.snooze(minutes * 60)
        self.set_timer(minutes * 60, self._quiet_changed, name="snooze ends")
        self.toast(f"Alert toasts and the bell snoozed until {self.alerts.snooze_ends()}; m brings them back. "
                   "Alerts still list.")
        self._quiet_changed()

    def _quiet_changed(self) -> None:
        """Muted, snoozed or told again: the notice hides, or tells what it held (before the first alert it has
        nothing to do either way)."""
        if self._toast is not None:
            self._toast.quiet_changed()

    def open_entity(self, event: Event) -> None:
        """An alert's (or an event's) entity: its vendor's tab shown with the entity selected, then its detail window
        with its recent events and the keys of what can be done to it (`a` approves a task awaiting approval):
        one of them, or Escape, leaves the operator on the row."""
        self.run_worker(self._open_entity(event), group="open-entity", exclusive=True, exit_on_error=False,
                        description="show an entity in its tab")

    async def _open_entity(self, event: Event) -> None:
        vendor = vendors.BY_NAME.get(event.service)
        shown_in = None  # the pane that lists the entity, its row selected: its keys are the window's
        if vendor is not None and vendor.tabs and event.kind and event.id:
            await self.action_show_tab(vendor.tabs[0].id)
            pane = self.active_pane()
            # (caught up on what it held by `action_show_tab`)
            if pane is not None and pane.show_entity(event.kind, event.id):
                shown_in = pane
        self.entity_window(event, shown_in)

    async def action_export(self, form: str = "csv") -> None:
        """ctrl+e: the focused table of the shown tab (else its main one), as filtered and sorted, to a file."""
        from tui.app.toolkit.export import export_target, start_export

        pane = self.active_pane()
        table = export_target(pane, self.focused) if pane is not None else None
        if pane is None or table is None:
            self.toast("Nothing to export here: this tab has no table")
            return
        start_export(self, table, tab=self.query_one(TabbedContent).active, form=form)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for n, (tab, label) in enumerate(self.TABS, start=1):
            yield SystemCommand(f"Go to {label.split(' ', 1)[1]}", f"Show the {label.split(' ', 1)[1]} tab ({n})",
                                lambda tab=tab: self.action_show_tab(tab))
        yield SystemCommand("Channel health", "Every channel's state, last event, reconnects and error",
                            self.action_health)
        yield SystemCommand("Keys", "Every key of every tab", self.action_help)
        quiet = self.alerts.silenced()
        yield SystemCommand("Alerts: unmute toasts" if quiet else "Alerts: mute toasts",
                            "Alert toasts and the bell back on (m)" if quiet else
                            "No alert toasts and no bell until unmuted; the Overview still lists alerts (m)",
                            self.action_mute)
        for minutes in SNOOZES:
            span = f"{minutes} minutes" if minutes < 60 else f"{minutes // 60} hour"
            yield SystemCommand(f"Alerts: snooze toasts for {span}", f"No alert toasts and no bell for {span}",
                                lambda minutes=minutes: self.snooze_alerts(minutes))
        for form, words in (("csv", "CSV"), ("jsonl", "JSON lines")):
            yield SystemCommand(f"Export the table as {words}", "The shown table, as filtered and sorted, to a file "
                                "(ctrl+e)", lambda form=form: self.action_export(form))
        for tab, _ in self.TABS:  # (in the tabs' order)
            if tab in self._panes:
                yield from self._panes[tab].commands()

    async def on_unmount(self) -> None:
        if self._thresholds_before is not None:
            gc.unfreeze()
            gc.set_threshold(*self._thresholds_before)
        self.feed.close()
        await self.hub.stop()
        if self.history is not None:
            await self.history.close()  # what is pending is written before the monitor ends
