"""The alert notice: one toast that counts new alerts and shows the newest, updated in place, at the bottom right
like Textual's toasts (in their layer, above the key bar; theirs stack above the lines it takes, on every screen:
styles/app.tcss), at most one per TOAST_GAP seconds, never while the operator has muted or snoozed alerts, nor while a
view that lists them is shown (the Overview, the Events tab's alerts view); it rings the bell for the alerts the
operator chose. When it shows is tui/app/alerts.py's (`ToastPolicy`), what it says tui/app/alert_words.py's: this
widget only draws and keeps time. A click on it shows the Overview."""

from __future__ import annotations

import time
from typing import Callable

from rich.text import Text
from textual import events
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

from tui.app.alerts import SHOW_SECONDS, Alert, AlertLog, ToastPolicy
from tui.live.events import Event


class AlertToast(Vertical):
    DEFAULT_CSS = """
    AlertToast {
        layer: _toastrack;
        dock: bottom;
        width: 1fr;
        height: auto;
        align: right bottom;
        margin-bottom: 1;
        display: none;
        &.-shown { display: block; }
        & > Static {
            width: 64;  /* fixed: a count that grows must not make it jump */
            max-width: 90%;
            height: auto;
            max-height: 2;
            padding: 0 1;
            margin-right: 1;
            background: $panel;
            border-left: outer $warning;
        }
    }
    """

    def __init__(self, log: AlertLog, *, rings: Callable[[Event], bool], id: str | None = None):
        super().__init__(id=id)
        self.policy = ToastPolicy(log, rings=rings)
        self._hide_timer: Timer | None = None
        self._release_timer: Timer | None = None
        self._release_at: float | None = None  # when the release timer is due (monotonic, to the hundredth)
        self.bells = 0  # rung so far (tests read it)
        self.message = ""  # what it says, as plain text
        self._lines = 0  # the lines it said when last drawn
        # Made here, not in compose: the app mounts the notice with the first alert and tells it at once, before
        # its compose has run (`CapwatchApp.alert_toast`).
        self.body = Static(id="alert-toast-body")

    def compose(self):
        yield self.body

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    @property
    def text(self) -> str:
        """What the notice on screen says, as plain text; "" when none shows."""
        return self.message if self.shown else ""

    # ------------------------------------------------------------------------------------------- alerts in

    def arrive(self, alerts: list[Alert], *, seen: bool = False) -> None:
        """New alerts; `seen`: the operator is looking at the Overview's list, where they just appeared."""
        now = time.monotonic()
        if self.policy.ring(alerts, now):
            self.bells += 1
            self.app.bell()
        action = self.policy.arrive(alerts, now, seen=seen)
        if action == "show":
            self._show()
        elif action == "update":
            self._draw()
        elif action == "seen":
            if self.shown:  # (on the Overview under load, every frame's alerts are seen: nothing to hide)
                self._hide()
        else:
            self._schedule_release(now)

    def seen(self) -> None:
        """The Overview, which lists the alerts, is shown: the notice goes (at 80x24 it covers two of its rows), and
        what it held is seen there, unless the operator muted or snoozed: then unmuting still tells what came."""
        if not self.policy.log.silenced():
            self.policy.seen()
        if self.shown:
            self._hide()

    def quiet_changed(self) -> None:
        """Muted, snoozed, or told again: hide now, or show what came meanwhile in one notice."""
        if self.policy.log.silenced():
            self._hide()
            return
        now = time.monotonic()
        if self.policy.release(now, asked=True):
            self._show()

    # ------------------------------------------------------------------------------------------- drawing

    def _show(self) -> None:
        self._draw()
        self.add_class("-shown")
        if self._hide_timer is not None:
            self._hide_timer.stop()
        self._hide_timer = self.set_timer(SHOW_SECONDS, self._hide, name="alert notice")

    def _draw(self) -> None:
        policy = self.policy
        text = Text(policy.title(), style="bold")
        text.append("  1 lists them · m mutes", style="dim")
        newest = policy.newest
        if newest is not None:
            event = newest.event
            line = Text(f"{event.service} ", style="dim").append_text(newest.text(self.app.store))
            line.truncate(60, overflow="ellipsis")
            text.append("\n").append_text(line)
        self.message = text.plain
        # A layout is of the whole screen (even while the notice is hidden): only when its height changes, not for
        # each count under load (18 layouts in 15 s at 2,000 events/s).
        lines = text.plain.count("\n") + 1
        self.body.update(text, layout=lines != self._lines)
        self._lines = lines

    def _hide(self) -> None:
        self.policy.hide()
        self.remove_class("-shown")
        self._schedule_release(time.monotonic())

    def _schedule_release(self, now: float) -> None:
        due = self.policy.due(now)
        if due is None:
            return
        at = round(now + due, 2)
        if self._release_timer is not None:
            if at == self._release_at:
                return  # held alerts arrive every frame under load: the timer set for the first of them stands
            self._release_timer.stop()
        self._release_at = at
        self._release_timer = self.set_timer(due + 0.05, self._release, name="alert notice (held)")

    def _release(self) -> None:
        self._release_timer = self._release_at = None
        if self.policy.release(time.monotonic()):
            self._show()

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self._hide()
        self.run_action("app.show_tab('overview')")
