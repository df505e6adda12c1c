"""Keys in order: each key takes effect before the next one is looked at, however many arrive at once.

Textual hands each key to the widget that has focus when the app takes the key from its queue, and runs a key's
binding only once the key has come back up from that widget. A burst of keys (a paste, a question typed over a laggy
SSH link: many keys in one read of the terminal) is therefore all handed out before the first has done anything: a
key that moves the focus (a tab's number, Escape out of the question) leaves the keys after it going where the focus
was, and a key that starts the question took the bound keys after it with it (`Wic contracts mntion trmination`:
h, e and ? were bindings when they were sent, text when they came back).

`KeysInOrder`, mixed into the app, settles each key as it takes it from the app's queue:

1. A key the focused widget takes as text (an Input, the question, a list's type-to-search) goes to it.
2. Any other key runs its binding there and then, looked up from the focused widget up as Textual would (priority
   bindings first), so that what it does (a tab shown, the editor left, a screen opened) is done before the next key.
3. A printable key no binding claims, on a pane that takes typing (`typing_target`: the Query tab), moves the focus
   to that pane's text field and goes there: it and every key after it are text until the field is left.
4. On such a pane, a printable key that is also a command (h, e, q, a digit) waits HOLD seconds: if BURST_TEXT
   printable keys arrive together (within BURST_GAP of each other: one read of the terminal), they are all text
   (a question that starts with "how"); a key typed alone is a command.
5. Before a binding runs, or a key goes to another widget, the keys already sent to a widget are waited for (at most
   SETTLE_SECONDS): Ctrl+R after a burst runs the question with its last letters in it.

Moving the focus must take effect at once for this: `focus_now` (Widget.focus waits behind the app's queue, that
is behind the rest of the burst). A modal screen a key opens is waited for (mounted, its focus set) before the next.

Textual's own parts used here, checked when the mixin is first used (`supported`): `App._check_bindings`,
`Widget._forward_event` and each widget's `message_signal` (published after it handled a message). Without them
the app falls back to Textual's dispatch, as before.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from textual import events
from textual.app import App
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

BURST_GAP = 0.010  # keys made this close together by the terminal's reader came in one read
BURST_TEXT = 3  # this many printable keys in one burst, on a pane that takes typing, are text
HOLD = 0.020  # how long a command key on such a pane waits to see whether a burst follows it
SETTLE_SECONDS = 0.5  # the longest a key waits for the keys before it (a widget gone meanwhile never answers)


def supported() -> bool:
    """Whether this Textual has what the router relies on (else Textual's own dispatch is kept)."""
    return (callable(getattr(App, "_check_bindings", None)) and callable(getattr(Widget, "_forward_event", None))
            and hasattr(Widget(), "message_signal"))


def focus_now(widget: Widget) -> None:
    """Give `widget` the focus at once. `Widget.focus` queues the change behind the messages the app already holds,
    the rest of a burst of keys among them, which would then go where the focus was."""
    try:
        screen = widget.screen
    except NoScreen:
        return
    if screen is widget.app.screen and widget.focusable:
        screen.set_focus(widget)
    else:
        widget.focus()


def takes_as_text(widget: Widget, event: events.Key) -> bool:
    """Whether the focused `widget` handles `event` itself, as text: what it types (check_consume_key), and Enter
    in a multi-line editor (a new line)."""
    if widget.check_consume_key(event.key, event.character):
        return True
    if event.key == "enter":
        text_area = sys.modules.get("textual.widgets._text_area")  # not imported: no TextArea can be focused
        return text_area is not None and isinstance(widget, text_area.TextArea) and not widget.read_only
    return False


class _Delivery:
    """Keys sent to one widget, and whether it has handled the last of them (its `message_signal` says)."""

    def __init__(self, widget: Widget, subscriber: Any) -> None:
        self.widget = widget
        self.subscriber = subscriber
        self.last: events.Key | None = None
        self.done = asyncio.Event()
        widget.message_signal.subscribe(subscriber, self._handled, immediate=True)

    def send(self, event: events.Key) -> None:
        self.last = event
        self.done.clear()
        self.widget._forward_event(event)

    def _handled(self, message: Any) -> None:
        if message is self.last:
            self.done.set()

    async def settle(self) -> None:
        try:
            if not self.done.is_set():
                async with asyncio.timeout(SETTLE_SECONDS):
                    await self.done.wait()
        except TimeoutError:
            pass
        finally:
            self.widget.message_signal.unsubscribe(self.subscriber)


class KeyRouter:
    """Settles the app's keys one at a time (see the module's docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._delivery: _Delivery | None = None
        self._held: list[events.Key] = []
        self._held_target: Widget | None = None
        self._hold_generation = 0

    # ------------------------------------------------------------------------------------------- taking keys

    async def take(self, event: events.Key) -> None:
        if self._held:
            if self._joins_burst(event):
                self._held.append(event)
                if len(self._held) >= BURST_TEXT:
                    await self._type_held()
                else:
                    self._arm_hold()
                return
            await self.release_held()
        await self._settle(event)

    async def _settle(self, event: events.Key, *, may_hold: bool = True) -> None:
        app = self.app
        if not app.app_focus:
            app.app_focus = True
        focused = app.focused
        if focused is not None and takes_as_text(focused, event):
            if not await self._priority(event):
                await self._deliver(focused, event)
            return
        target = self._typing_target(focused, event)
        if target is not None:
            if not self._claimed(event):
                if not await self._priority(event):
                    focus_now(target)
                    await self._deliver(target, event)
                return
            if may_hold:
                self._held, self._held_target = [event], target
                self._arm_hold()
                return
        if await self._priority(event):
            return
        await self._settle_delivery()
        screen = app.screen
        if await app._check_bindings(event.key):
            await self._wait_for_screen(screen)
            return
        await self._deliver(app.focused or app.screen, event)

    async def _priority(self, event: events.Key) -> bool:
        """Priority bindings (Ctrl+Q, the palette), checked first as Textual does."""
        if not any(binding.priority for _node, bindings in self.app.screen._binding_chain
                   for binding in bindings.key_to_bindings.get(event.key, ())):
            return False
        await self._settle_delivery()
        return await self.app._check_bindings(event.key, priority=True)

    def _claimed(self, event: events.Key) -> bool:
        """Whether an enabled binding takes this key where the focus is."""
        active = self.app.screen.active_bindings.get(event.key)
        return active is not None and bool(active.enabled)

    def _typing_target(self, focused: Widget | None, event: events.Key) -> Widget | None:
        """The text field a printable key starts typing into, when the focus is on a pane that takes typing."""
        if focused is None or not event.is_printable or not event.character:
            return None
        for node in focused.ancestors_with_self:
            typing_target = getattr(node, "typing_target", None)
            if callable(typing_target):
                try:
                    return typing_target()
                except NoMatches:
                    return None
        return None

    # ------------------------------------------------------------------------------------------- delivering

    async def _deliver(self, widget: Widget, event: events.Key) -> None:
        delivery = self._delivery
        if delivery is None or delivery.widget is not widget:
            await self._settle_delivery()
            delivery = self._delivery = _Delivery(widget, self.app)
        delivery.send(event)

    async def _settle_delivery(self) -> None:
        """Wait until the keys sent so far have been handled."""
        delivery, self._delivery = self._delivery, None
        if delivery is not None:
            await delivery.settle()

    async def _wait_for_screen(self, before: Any) -> None:
        """A key opened a screen: wait until it is mounted (its focus set), so the next key goes into it."""
        screen = self.app.screen
        if screen is before:
            return
        for _ in range(int(SETTLE_SECONDS / 0.005)):
            if screen.is_mounted or not self.app.is_running:
                return
            await asyncio.sleep(0.005)

    # ------------------------------------------------------------------------------------------- bursts

    def _joins_burst(self, event: events.Key) -> bool:
        return (event.is_printable and bool(event.character)
                and event.time - self._held[-1].time <= BURST_GAP)

    def _arm_hold(self) -> None:
        self._hold_generation += 1
        generation = self._hold_generation
        # Through the app's queue, so the release takes its turn among the keys.
        self.app.set_timer(HOLD, lambda: self.app.call_later(self._hold_expired, generation), name="key hold")

    async def _hold_expired(self, generation: int) -> None:
        if generation == self._hold_generation and self._held:
            await self.release_held()

    async def release_held(self) -> None:
        """What was held was typed alone: commands, in order."""
        held, self._held, self._held_target = self._held, [], None
        self._hold_generation += 1
        for event in held:
            await self._settle(event, may_hold=False)

    async def _type_held(self) -> None:
        """A burst: text, into the field the first key would have started."""
        held, target = self._held, self._held_target
        self._held, self._held_target = [], None
        self._hold_generation += 1
        if target is None:
            return
        focus_now(target)
        for event in held:
            await self._deliver(target, event)


class SettledTabs(TabbedContent):
    """A TabbedContent that shows the tab of a focused widget only while that widget still has the focus.

    TabbedContent shows the tab whose pane got the focus, when it handles the pane's `TabPane.Focused`: a message,
    handled after the keys already queued. With a burst (`24`: Documents, then Capx), the message of the focus `2`
    gave came after `4` had shown Capx, and brought Documents back (one run in ten on a loaded machine). A tab is
    shown by its key or a click at once; the message only needs to act for a focus that is still there."""

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        # Textual calls this handler of each class of the MRO in turn, TabbedContent's after this one: prevent_default
        # ends the walk before it.
        focused = self.app.focused
        if focused is None or event.tab_pane not in focused.ancestors_with_self:
            event.stop()
            event.prevent_default()  # the focus has moved on since: a later key chose another tab


class KeysInOrder:
    """Mixed into a Textual App: every key from the terminal is settled by a `KeyRouter`, in order."""

    _key_router: KeyRouter | None = None
    _keys_supported: bool | None = None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if not self.screen_stack:  # type: ignore[attr-defined]
                return  # a key still queued when the app quit: there is no screen to take it
            if self._routing():
                await self._key_router.take(event)  # type: ignore[union-attr]
                return
        await super().on_event(event)  # type: ignore[misc]

    def _routing(self) -> bool:
        if self._keys_supported is None:
            type(self)._keys_supported = supported()
        if self._keys_supported and self._key_router is None:
            self._key_router = KeyRouter(self)  # type: ignore[arg-type]
        return bool(self._keys_supported)

    async def _on_key(self, event: events.Key) -> None:
        """A key that came back up from the widget it was sent to: its bindings were looked up when it was taken
        (Textual's own `_on_key` would look again, with the focus of now)."""
        if self._key_router is not None:
            event.prevent_default()

    async def settle_keys(self) -> None:
        """Let keys held to see whether a burst follows act now (tests, and quitting)."""
        if self._key_router is not None:
            await self._key_router.release_held()
