"""What every tab of the monitor shares: reacting to coalesced Store changes, only while visible."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.containers import Container

if TYPE_CHECKING:
    from tui.app.app import CapwatchApp
    from tui.live.store import ChangeBatch, Store


class Pane(Container):
    """One tab. The app calls `apply_changes(batch)` at most once per frame while the pane is visible; a
    hidden pane only remembers that something changed and repaints once when shown (`refresh_all`)."""

    # Entity kinds, figure names and health that this pane shows; a batch touching none of them costs nothing.
    KINDS: ClassVar[frozenset[str]] = frozenset()
    WANTS_EVENTS: ClassVar[bool] = False
    WANTS_FIGURES: ClassVar[bool] = False

    stale: bool = True

    @property
    def capwatch(self) -> "CapwatchApp":
        return self.app  # type: ignore[return-value]

    @property
    def store(self) -> "Store":
        return self.capwatch.hub.store

    def wants(self, batch: "ChangeBatch") -> bool:
        return bool(
            (self.KINDS and (self.KINDS & batch.kinds.keys() or self.KINDS & batch.replaced))
            or (self.WANTS_EVENTS and batch.events)
            or (self.WANTS_FIGURES and (batch.figures or batch.health))
        )

    def apply_changes(self, batch: "ChangeBatch") -> None:
        """Update from one coalesced batch. The default repaints everything the pane shows."""
        self.refresh_all()

    def refresh_all(self) -> None:
        """Rebuild the pane from the Store (on first show, after being hidden while data changed)."""

    def focus_default(self) -> None:
        """Give focus to the pane's main widget when its tab is shown by key."""
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus()
                return

    def commands(self):
        """Command palette entries for this pane's actions: yield `textual.app.SystemCommand`s."""
        return iter(())

    HELP_TITLE: ClassVar[str] = ""

    def help_keys(self) -> list[tuple[str, str]]:
        """(key, what it does) for the help screen: the pane's own bindings with a description."""
        return [(binding.key_display or binding.key, binding.description)
                for binding in getattr(self, "BINDINGS", []) if hasattr(binding, "description") and binding.description]
