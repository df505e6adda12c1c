"""What every tab of the monitor shares: reacting to coalesced Store changes, only while visible; its actions
offered and run one way (tui/app/toolkit/actions.py `PaneActions`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from textual.containers import Container
from textual.message import Message

from tui.app.keys import focus_now
from tui.app.toolkit.actions import PaneActions

if TYPE_CHECKING:
    from tui.app.screens import WindowKey
    from tui.app.toolkit.host import PaneApp
    from tui.live.store import ChangeBatch, Store

REBUILD_GAP = 2.0  # seconds between two rebuilds of a hidden pane, at least (`Pane._rebuild_hidden`)


class Pane(PaneActions, Container):
    """One tab. The app calls `apply_changes(batch)` at most once per frame while the pane is visible; a
    hidden pane only remembers that something changed and repaints once when shown (`refresh_all`)."""

    # Entity kinds, figure names and health that this pane shows; a batch touching none of them costs nothing.
    KINDS: ClassVar[frozenset[str]] = frozenset()
    WANTS_EVENTS: ClassVar[bool] = False
    WANTS_FIGURES: ClassVar[bool] = False

    stale: bool = True  # show everything anew (`refresh_all`) when next shown: never shown yet, or too much held
    held: "ChangeBatch | None" = None  # what changed while hidden, for `catch_up`
    KEY_RANK: ClassVar[int] = 0  # the key bar shows a tab's own keys first (tui/app/widgets/keybar.py)
    HOLD_LIMIT: ClassVar[int] = 20_000  # changed ids held beyond which showing again rereads it all
    # A hidden pane whose updates are data, not drawing (a hidden widget is not painted), applies what it holds
    # once it is this much (changed ids, and events if it shows them): showing it again then has at most this much
    # to catch up on, and it never goes stale from holding too much. The Events tab under load held 1.4 s of
    # events per tab switch, ~20 ms of work while the key waited. None: hold everything until shown.
    APPLY_HIDDEN_AFTER: ClassVar[int | None] = None
    _rebuilt_hidden_at: float = -REBUILD_GAP  # when it was last rebuilt while hidden (`_rebuild_hidden`)

    class AlertsShown(Message):
        """The pane began to list the alerts (the Events tab's "alerts only"): the notice that counts them can go."""

    LISTS_ALERTS: ClassVar[bool] = False  # (the Overview's: see `lists_alerts`)

    def lists_alerts(self) -> bool:
        """Whether the pane lists the alerts as they come (the Overview; the Events tab's "alerts only" view): while
        it is shown, new alerts are seen there, not told by the notice, which would cover the list's last lines."""
        return self.LISTS_ALERTS

    @property
    def capwatch(self) -> "PaneApp":
        """The app, as far as a pane may use it (tui/app/toolkit/host.py `PaneApp`)."""
        return self.app  # type: ignore[return-value]

    @property
    def store(self) -> "Store":
        return self.capwatch.store

    def wants(self, batch: "ChangeBatch") -> bool:
        return bool(
            (self.KINDS and (self.KINDS & batch.kinds.keys() or self.KINDS & batch.replaced))
            or (self.WANTS_EVENTS and batch.events)
            or (self.WANTS_FIGURES and (batch.figures or batch.health))
        )

    def hold(self, batch: "ChangeBatch") -> None:
        """Hidden or covered: keep what changed (set unions, no rendering), to show it in one go when the pane
        shows again; a tab switch then costs what changed meanwhile, not a rebuild of everything."""
        if self.stale:
            self._rebuild_hidden()  # else it will be rebuilt when shown
            return
        if self.held is None:
            from tui.live.store import ChangeBatch

            self.held = ChangeBatch()
        # Events are held only by a pane that shows them: the tables hold ids, and five thousand events apiece in
        # hidden panes were most of the app's live objects under load.
        self.held.absorb(batch, max_events=5000 if self.WANTS_EVENTS else 0)
        held_ids = sum(map(len, self.held.kinds.values()))
        held_events, dropped_events = len(self.held.events), self.held.dropped_events
        if self.held.replaced or dropped_events or held_ids > self.HOLD_LIMIT:
            self.held, self.stale = None, True  # cheaper, and exact, to reread the Store
            self._rebuild_hidden()
        elif self.APPLY_HIDDEN_AFTER is not None and held_ids + held_events >= self.APPLY_HIDDEN_AFTER:
            held, self.held = self.held, None
            self.apply_changes(held)

    def _rebuild_hidden(self) -> None:
        """A stale pane whose updates are data (APPLY_HIDDEN_AFTER) is rebuilt now, while hidden, rather than while
        the key that shows it waits: a resync (a kind replaced) made the Overview, Events and table tabs rebuild on
        a switch under load, 19 to 27 ms of it. At most once per REBUILD_GAP seconds a pane; a kind replaced more
        often than that leaves it stale in between, rebuilt when shown as before."""
        if self.APPLY_HIDDEN_AFTER is None or not self.is_mounted:
            return
        now = time.monotonic()
        if now - self._rebuilt_hidden_at < REBUILD_GAP:
            return
        self._rebuilt_hidden_at = now
        self.stale = False
        self.refresh_all()

    def catch_up(self) -> None:
        """Shown again: rebuild if stale, else apply what was held. Not mounted yet: its mount reads it all."""
        if not self.is_mounted:
            return
        held, self.held = self.held, None
        if self.stale:
            self.stale = False
            self.refresh_all()
        elif held is not None:
            self.apply_changes(held)

    def apply_changes(self, batch: "ChangeBatch") -> None:
        """Update from one coalesced batch. The default repaints everything the pane shows."""
        self.refresh_all()

    def refresh_all(self) -> None:
        """Rebuild the pane from the Store (on first show, after being hidden while data changed)."""

    def tick(self) -> None:
        """Once a second while this tab is shown and uncovered (the app's one clock): ages, countdowns and
        sparklines follow time. Every pane ticks in the same frame as the header clock."""

    def show_entity(self, kind: str, entity_id: str) -> bool:
        """Select the entity `kind`/`entity_id` where this pane lists it (an alert's Enter); False when it does not
        list it."""
        return False

    def entity_keys(self, kind: str, entity_id: str) -> list[WindowKey]:
        """What its detail window offers to do to the entity `kind`/`entity_id` that this pane lists: its actions that
        apply to it now (approve a task awaiting approval), each one's key as on the tab; none by default."""
        return []

    def open_detail(self, title: str, value: Any, kind: str | None = None, entity_id: str | None = None) -> None:
        """The detail window of a row or an alert, with the entity's keys (`entity_keys`, those of a service that is
        off left out): one pressed there closes the window, on the entity's row, and runs the action here."""
        keys = [key for key in self.entity_keys(kind, entity_id) if self.check_action(key.action, ()) is True] \
            if kind and entity_id else []

        def chosen(action: str | None) -> None:
            if action:
                getattr(self, f"action_{action}")()

        from tui.app.screens import DetailScreen  # the windows (~3 ms to import) are not needed for the first frame

        self.app.push_screen(DetailScreen(title, value, keys=keys), chosen)

    def focus_default(self) -> None:
        """Give focus to the pane's main widget when its tab is shown by key, at once (`focus_now`): the next key
        of a burst goes to it."""
        for widget in self.query("*"):
            if widget.focusable:
                focus_now(widget)
                return

    def commands(self):
        """Command palette entries for this pane's actions: yield `textual.app.SystemCommand`s, those of its
        key actions through `self.offer(...)` (the same check as the keys)."""
        return iter(())

    HELP_TITLE: ClassVar[str] = ""

    def help_keys(self) -> list[tuple[str, str]]:
        """(key, what it does) for the help screen: the pane's own bindings with a description."""
        return [(binding.key_display or binding.key, binding.description)
                for binding in getattr(self, "BINDINGS", []) if hasattr(binding, "description") and binding.description]
