"""What a pane needs from the app that hosts it: `PaneApp`.

The monitor (tui/app/app.py `CapwatchApp`) and the pane tests' host (tests/helpers/pane_host.py `PaneHost`) both
implement it, and both take its behaviour from `PaneAppMixin`, so the test host cannot drift from the app
(tests/app/test_toolkit.py checks both). A pane reaches it as `self.capwatch` (tui/app/panes/base.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tui.app.keys import KeysInOrder
from tui.text import sanitize

if TYPE_CHECKING:
    from tui.app.alerts import AlertLog
    from tui.live.events import Event
    from tui.live.store import Store

ERROR_TOAST_SECONDS = 8
HELD_TOAST_SECONDS = 3.0  # what a toast held under a window shows for once it closes, at least
HELD_TOASTS_KEPT = 4  # the newest toasts held under a window that show once it closes (more would fill 80x24)


@runtime_checkable
class Hub(Protocol):
    """What the panes use of the hub (tui/live/hub.py): its Store, the read-only flag, which services are on.
    Actions are reached through the hub too, each pane its own vendor's (`vendor(name)`)."""

    store: Store
    read_only: bool

    def is_on(self, name: str) -> bool:
        """Whether the service `name` is configured, from the config alone."""
        ...

    def watched(self, name: str) -> bool:
        """Whether the service's data reaches the hub (team mode: its collector watches it, key or not)."""
        ...

    def vendor(self, name: str) -> Any:
        """The vendor's integration (tui/live/integration.py), whose methods are its actions; None when it is off."""
        ...


@runtime_checkable
class PaneApp(Protocol):
    """The app as a pane sees it."""

    hub: Hub
    config: Any  # tui.config.Config: defaults the forms offer (CapOut's xn address), the Captain key
    alerts: AlertLog  # the alerts collected so far (as a sequence: their events, oldest first), acknowledged or not

    @property
    def store(self) -> Store: ...

    @property
    def read_only(self) -> bool: ...

    def toast(self, message: str) -> None:
        """A short notice; `message` is sanitized, never read as markup."""
        ...

    def toast_error(self, message: str) -> None:
        """An error that stays a while; `message` is sanitized, never read as markup."""
        ...

    def open_entity(self, event: Event) -> None:
        """The entity an alert (or an event) is about: its tab with it selected, where the app has one, and its
        detail window with its recent events and the keys of what can be done to it."""
        ...


class PaneAppMixin(KeysInOrder):
    """`PaneApp`'s behaviour, for a Textual App that has a `hub`; keys settled in order (tui/app/keys.py), which
    the panes rely on (the Query tab's typing, a tab key after a burst).

    No toast ever covers a window (a form, a confirmation, the keys, the palette): at 80x24 an "Approved …" sat over
    the export window's buttons for its 3 s. While a window is up, toasts are held: those on screen when it opened
    (with the time they had left, HELD_TOAST_SECONDS at least) and those raised meanwhile (with their whole time)
    show once the last window closes. A window says what it has to say in its own lines."""

    hub: Any
    _held_toasts: list[tuple[str, dict[str, Any]]] | None = None  # (message, notify's keywords), oldest first

    def _on_mount(self, _event) -> None:  # (Textual calls each class's handler: the app's own on_mount runs too)
        self.screen_change_signal.subscribe(self, self._hold_toasts_under_windows)  # type: ignore[attr-defined]

    @property
    def window_open(self) -> bool:
        return len(self.screen_stack) > 1  # type: ignore[attr-defined]

    def notify(self, message: str, *, title: str = "", severity: str = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        if self.window_open:
            self._hold(message, title=title, severity=severity, timeout=timeout, markup=markup)
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)  # type: ignore[misc]

    def _hold(self, message: str, **how: Any) -> None:
        if self._held_toasts is None:
            self._held_toasts = []
        self._held_toasts.append((message, how))
        del self._held_toasts[:-HELD_TOASTS_KEPT]

    def _hold_toasts_under_windows(self, _screen: Any) -> None:
        """A window opened: the toasts on screen are held (their screen's rack emptied: none shows through the
        window's shade either). The last window closed: what was held shows, in the order it came."""
        if self.window_open:
            self._hold_toasts_on_screen()
            return
        held, self._held_toasts = self._held_toasts or [], None
        for message, how in held:
            self.notify(message, **how)

    def _hold_toasts_on_screen(self) -> None:
        """Textual has no public way to read the toasts on screen or to empty a rack beneath the top screen: this
        reads its internals (`App._notifications`, `Notification.time_left`, `ToastRack`). Should a Textual release
        change them, the toasts on screen stay until their time is up, under the window; the ones raised while it is
        open are still held (`notify`), and nothing fails."""
        try:
            from textual.widgets._toast import ToastRack

            shown = list(self._notifications)  # type: ignore[attr-defined]
            held = [(note.message, {"title": note.title, "severity": note.severity, "markup": note.markup,
                                    "timeout": max(float(note.time_left), HELD_TOAST_SECONDS)}) for note in shown]
        except (ImportError, AttributeError, TypeError, ValueError):
            return
        if not held:
            return
        for message, how in held:
            self._hold(message, **how)
        self.clear_notifications()  # type: ignore[attr-defined]
        for screen in self.screen_stack[:-1]:  # type: ignore[attr-defined]
            for rack in screen.query(ToastRack):
                rack.show(self._notifications)  # type: ignore[attr-defined]

    @property
    def store(self) -> Store:
        return self.hub.store

    @property
    def read_only(self) -> bool:
        return bool(self.hub.read_only)

    def toast(self, message: str) -> None:
        self.notify(sanitize(message, single_line=True), markup=False)  # type: ignore[attr-defined]

    def open_entity(self, event: Event) -> None:
        self.entity_window(event)

    def entity_window(self, event: Event, pane: Any = None) -> None:
        """The detail window of an alert's entity, with its recent events; `pane`, the tab that lists the entity (its
        row selected there), gives the window the entity's keys (tui/app/panes/base.py `Pane.open_detail`)."""
        from tui.app.alert_words import alert_detail
        from tui.app.screens import DetailScreen

        title = f"{event.service} {event.type} {event.id}".strip()
        detail = alert_detail(event, self.store)
        if pane is not None:
            pane.open_detail(title, detail, event.kind, event.id)
        else:
            self.push_screen(DetailScreen(title, detail))  # type: ignore[attr-defined]

    def toast_error(self, message: str) -> None:
        self.notify(sanitize(message, single_line=True), title="Error", severity="error",  # type: ignore[attr-defined]
                    markup=False, timeout=ERROR_TOAST_SECONDS)
