"""The key bar at the bottom of the screen: the most useful keys first (the tab's own actions, then the focused
widget's, then the app's), and the command palette key on the right. When they do not all fit, the last give way
to a mark, `… ?`: `?` lists every key (clicking the mark does too). It looks like Textual's Footer, but it is one
widget drawing one line of text.

Why not Textual's Footer: it rebuilds itself as a widget per key (18 on some tabs) every time the focus moves, and
a tab switch moves it. Mounting and removing them was a fifth of a tab switch's work, and the removed widgets,
each with its styles, caches and signals, were 90 % of the cyclic garbage the monitor made under load (~0.5 MB
per tab switch, measured with `gc.DEBUG_SAVEALL`): garbage only the collector's slowest pass frees.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

DIVIDER = "▏"  # left of the palette key, as Footer's `vkey` border draws it


class ShownKey(NamedTuple):
    key: str  # what pressing it sends (Binding.key)
    display: str  # how it reads (^p, ⏎, ?)
    description: str
    enabled: bool = True


MORE = ShownKey("question_mark", "… ?", "")  # in place of the keys that do not fit: `?` lists them all
MORE_SHOWN = ShownKey("question_mark", "…", "")  # the same when `? Keys` itself is shown


def key_rank(node: object) -> int:
    """Which keys come first: a node's own `KEY_RANK` (the tabs' panes: 0, their actions), else the focused widget
    and its other ancestors (1), the screen (2), the app (3)."""
    rank = getattr(node, "KEY_RANK", None)
    if isinstance(rank, int):
        return rank
    if isinstance(node, Screen):
        return 2
    return 3 if node is getattr(node, "app", None) else 1


def shown_keys(screen: Screen) -> tuple[list[ShownKey], ShownKey | None]:
    """What the bar shows for `screen`'s active bindings: one key per action (the first bound), those with `show`
    only, the most useful first (`key_rank`; binding order within a rank); and the command palette key, kept for
    the right end."""
    app = screen.app
    active = screen.active_bindings
    ranked: list[tuple[int, ShownKey]] = []
    actions: set[str] = set()
    for node, binding, enabled, _tooltip in active.values():
        if binding.show and binding.action not in actions:
            actions.add(binding.action)
            ranked.append((key_rank(node), ShownKey(binding.key, app.get_key_display(binding), binding.description,
                                                    enabled)))
    keys = [key for _rank, key in sorted(ranked, key=lambda item: item[0])]
    palette = None
    if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
        _node, binding, enabled, _tooltip = active[app.COMMAND_PALETTE_BINDING]
        palette = ShownKey(binding.key, app.get_key_display(binding), binding.description, enabled)
    return keys, palette


class KeyBar(Widget):
    """One line: ` key description` for each key; click a key to press it."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--divider", "keybar--hover"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $text;  /* not $footer-key-foreground: 1.9 to 2.9:1 on its footer in several themes */
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--divider {
            color: $foreground 20%;
        }
        & > .keybar--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.keys: list[ShownKey] = []
        self.palette: ShownKey | None = None
        self._hits: list[tuple[int, int, ShownKey]] = []  # (from x, to x, key) as last drawn: for the mouse
        self._hover: ShownKey | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is not self.screen:
            return
        keys, palette = shown_keys(screen)
        if (keys, palette) != (self.keys, self.palette):
            self.keys, self.palette = keys, palette
            self.refresh()

    @property
    def text(self) -> str:
        """The keys as plain text (for tests)."""
        return "  ".join(f"{key.display} {key.description}".strip() for key in self.keys)

    # ------------------------------------------------------------------------------------------- drawing

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        description_style = self.get_component_rich_style("keybar--description")
        left, left_hits = Text(no_wrap=True), []
        for key in self.keys:
            parts = [(f" {key.display} ", key_style)]
            if key.description:
                parts.append((f"{key.description} ", description_style))
            self._draw(key, parts, left, left_hits)
        right, right_hits = Text(no_wrap=True), []
        if self.palette is not None:
            right.append(DIVIDER, self.get_component_rich_style("keybar--divider"))
            self._draw(self.palette, [(self.palette.display, key_style),
                                      (f" {self.palette.description}", description_style)], right, right_hits)
            right.append(" ")
        room = max(0, self.size.width - right.cell_len)
        if left.cell_len > room:  # more keys than room: the last give way to the mark (`?` lists them all)
            more = Text(no_wrap=True)
            more_hits: list[tuple[int, int, ShownKey]] = []
            self._draw(MORE, [(f" {MORE.display} ", key_style)], more, more_hits)
            keep = room - more.cell_len
            fitting = [hit for hit in left_hits if hit[1] <= keep]
            if any(key.key == MORE.key for _start, _end, key in fitting):
                more, more_hits = Text(no_wrap=True), []
                self._draw(MORE_SHOWN, [(f" {MORE_SHOWN.display} ", key_style)], more, more_hits)
            cut = fitting[-1][1] if fitting else 0
            left = left[:cut] if fitting else Text(no_wrap=True)
            left_hits = fitting + [(cut + start, cut + end, key) for start, end, key in more_hits]
            left.append_text(more)
        left.truncate(room, pad=True)
        self._hits = [(start, min(end, room), key) for start, end, key in left_hits if start < room]
        self._hits += [(start + room, end + room, key) for start, end, key in right_hits]
        return left + right

    def _draw(self, key: ShownKey, parts: list[tuple[str, Style]], line: Text,
              hits: list[tuple[int, int, ShownKey]]) -> None:
        start = line.cell_len
        look = Style(dim=True) if not key.enabled else Style()  # Footer's `-disabled` look
        if key == self._hover:
            look += self.get_component_rich_style("keybar--hover", partial=True)
        for words, style in parts:
            line.append(words, style + look)
        hits.append((start, line.cell_len, key))

    # ------------------------------------------------------------------------------------------- mouse

    def _key_at(self, x: int) -> ShownKey | None:
        for start, end, key in self._hits:
            if start <= x < end:
                return key
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self._key_at(event.x)
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        key = self._key_at(event.x)
        if key != self._hover:
            self._hover = key
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()
