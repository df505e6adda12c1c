"""A pane's actions: which are offered, and how a mutation runs. One rule for keys and palette alike.

- `@vendor_action("capx", what="Approve task")` on an `action_*` method says it needs a service (and, unless
  `mutation=False`, that it changes something). While that service is off the action is neither shown (its key
  is hidden, the palette leaves it out) nor runnable. In read-only mode a mutation stays in the key bar and the
  palette, and running it says "read-only" in a toast instead of doing nothing. The check is the hub's
  `is_on(name)`, asked at the moment: `PaneActions.check_action` for keys, `PaneActions.offer` for the palette,
  and the decorated method itself however it is called.
- `confirm_and_run`: the question (ConfirmScreen, or a screen given), then the call as a worker (the pane's own
  group, exit_on_error=False, a description), then a toast on success or an error toast with the error's text
  (an ApiError's text is the vendor's, sanitized; the toast never reads markup). `run_and_toast` is its second
  half, for what needs no question (a re-read).

Panes get both through `PaneActions`, which tui/app/panes/base.py `Pane` inherits.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from textual.app import SystemCommand

if TYPE_CHECKING:
    from textual.screen import ModalScreen

    from tui.app.toolkit.host import PaneApp

T = TypeVar("T")


class Needs(NamedTuple):
    """What an action needs: a service that is on, and (a mutation) a monitor that may write."""

    service: str
    mutation: bool
    what: str  # how the operator names it: "Approve task"


def service_title(name: str) -> str:
    from tui.vendors import BY_NAME

    vendor = BY_NAME.get(name)
    return vendor.title if vendor is not None else name


def refusal(app: PaneApp, needs: Needs) -> str | None:
    """Why `needs` cannot be met now, in words for a toast; None when it can."""
    if not app.hub.is_on(needs.service):
        return f"{needs.what}: {service_title(needs.service)} is off in this profile (it has no API key)"
    if needs.mutation and app.read_only:
        return f"{needs.what}: capwatch is read-only, nothing was sent"
    return None


def allowed(app: PaneApp, needs: Needs) -> bool:
    """Whether `needs` is met; if not, the operator is told why (a toast), rather than nothing happening."""
    reason = refusal(app, needs)
    if reason is None:
        return True
    app.toast(reason)
    return False


def vendor_action(service: str, *, what: str,
                  mutation: bool = True) -> Callable[[Callable[..., T]], Callable[..., T | None]]:
    """Mark a pane's `action_*` method as needing `service` (see the module's docstring). The method runs only
    when the service is on and, for a mutation, capwatch may write; else the operator is told why."""
    needs = Needs(service, mutation, what)

    def decorate(method: Callable[..., T]) -> Callable[..., T | None]:
        @functools.wraps(method)
        def guarded(pane: Any, *args: Any, **kwargs: Any) -> T | None:
            if not allowed(pane.capwatch, needs):
                return None
            return method(pane, *args, **kwargs)

        guarded.needs = needs  # type: ignore[attr-defined]
        return guarded

    return decorate


def needs_of(pane: Any, action: str) -> Needs | None:
    return getattr(getattr(type(pane), f"action_{action}", None), "needs", None)


class PaneActions:
    """The action side of a pane (mixed into `Pane`): the one service check, the palette entries, and running
    a mutation. `capwatch` is the hosting app (`PaneApp`)."""

    capwatch: PaneApp

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Textual asks this for every binding (and before running one). False hides an action of a service that
        is off; a mutation in read-only mode stays shown, and runs only to say so. A pane with more conditions
        (a selection needed: None shows the key dimmed) overrides this and asks `super()` first."""
        needs = needs_of(self, action)
        return needs is None or self.capwatch.hub.is_on(needs.service)

    def offer(self, title: str, help: str, action: str) -> Iterator[SystemCommand]:
        """The palette entry of `action`, when its key would be offered (`check_action` True). Mutations in
        read-only mode are listed, marked, and say "read-only" when chosen, as their keys do. Titles are fixed
        words: the palette may read markup, so no server string goes in them."""
        if self.check_action(action, ()) is not True:
            return
        needs = needs_of(self, action)
        if needs is not None and needs.mutation and self.capwatch.read_only:
            help = f"{help} · not in read-only mode"
        yield SystemCommand(title, help, getattr(self, f"action_{action}"))

    @property
    def action_group(self) -> str:
        """The worker group of this pane's actions: "capx-actions" for CapxPane."""
        return type(self).__name__.removesuffix("Pane").lower() + "-actions"

    def run_and_toast(self, call: Callable[[], Awaitable[T]], *, done: str | Callable[[T], str | None],
                      failed: str, description: str, group: str | None = None, exclusive: bool = False) -> None:
        """Run `call` in a worker; toast `done` (or `done(result)`, when it gives words) once it returns, or
        "`failed`: the error" when it raises (an ApiError, a ReadOnlyError, a file that cannot be read...)."""
        app = self.capwatch

        async def run() -> None:
            try:
                result = await call()
            except Exception as error:  # noqa: BLE001 - every failure is the operator's to read; a bug too
                app.toast_error(f"{failed}: {error_text(error)}")
                return
            message = done(result) if callable(done) else done
            if message:
                app.toast(message)

        self.run_worker(run(), group=group or self.action_group, exclusive=exclusive,  # type: ignore[attr-defined]
                        exit_on_error=False, description=description)

    def confirm_and_run(self, question: str | ModalScreen[bool], call: Callable[[], Awaitable[T]], *,
                        done: str | Callable[[T], str | None], failed: str, description: str,
                        danger: bool = False) -> None:
        """Ask `question` (a ConfirmScreen, `danger` for what cannot be undone; or a screen of its own that
        dismisses with True to go on), then `run_and_toast`. Nothing is sent unless the answer is yes."""
        from tui.app.screens import ConfirmScreen

        screen = ConfirmScreen(question, danger=danger) if isinstance(question, str) else question

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_and_toast(call, done=done, failed=failed, description=description)

        self.app.push_screen(screen, answered)  # type: ignore[attr-defined]


def error_text(error: BaseException) -> str:
    """An error in words: an ApiError's own text (service, status, the vendor's message, sanitized), else
    the exception's message, else its type."""
    return str(error) or type(error).__name__
