"""A vendor behind one small interface: what the LiveHub runs for each service that is on.

One subclass per vendor, in tui/vendors/<vendor>/integration.py, named by the vendor's declaration
(`tui.vendors.base.Vendor.integration`). The hub builds it on first use (`hub.vendor(name)`) from the vendor's
config section, and the integration owns everything of the vendor that runs:

- its client (`client`), built when the integration is (base URL, key, read-only mode from the section);
- its channels and pollers, started by `start()` as tasks spawned through the hub (`hub.spawn`), which cancels
  them at `stop()`; `aclose()` then releases the client;
- how its verified webhooks become Store events (`apply_webhook`), for a vendor declared with `webhooks=True`
  whose section has a `webhook_secret`: the hub's receiver has a route for it then;
- its actions, plain async methods the monitor calls (`hub.vendor("capx").decide_task(task_id, approve)`); each
  raises ApiError (ReadOnlyError in read-only mode, from the client) for the caller to show;
- the parts its first complete snapshot is made of (`snapshot_parts`, marked in the Store's `complete` by its
  channels), so that `capwatch status` waits until none is `missing()`, and how its figures read there
  (`figure_lines`).

It lives here, in the live layer, rather than beside the declarations: it is the live layer's contract (it spawns
through the hub and writes the Store), the hub names it without reaching up into tui/vendors, and the
declarations stay plain data that cost nothing to import. No Textual import, here or in any subclass.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from typing import Any, ClassVar, Coroutine, Mapping, Protocol

from tui.live.events import Event
from tui.live.store import Store
from tui.text import sanitize_data


class Hub(Protocol):
    """What an integration uses of its hub (tui/live/hub.py `LiveHub`)."""

    store: Store
    read_only: bool

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task: ...


class Integration:
    """The base every vendor's integration extends. `declaration` is the vendor's (tui/vendors/base.py `Vendor`),
    `settings` its config section (`config.<name>`)."""

    # The parts its first complete snapshot is made of ("capx.tasks"): each is marked in `Store.complete` by the
    # channel that read it in full once.
    snapshot_parts: ClassVar[tuple[str, ...]] = ()
    # Its actions that change something at the vendor, each with the parameters worth keeping (never a credential):
    # every call is an `action.<name>` event on the timeline (and in the history), with them and its outcome.
    actions: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, kept in cls.__dict__.get("actions", {}).items():
            setattr(cls, name, _recorded_action(name, getattr(cls, name), kept))

    def __init__(self, hub: Hub, declaration: Any, settings: Any):
        self.hub = hub
        self.declaration = declaration
        self.name: str = declaration.name  # the event `service` and its channels' prefix
        self.settings = settings
        self.store = hub.store
        self.read_only = hub.read_only
        self.client: Any = None  # the vendor's REST client (tui/vendors/<vendor>/client.py)

    async def start(self, *, snapshot: bool = False) -> None:
        """Start its channels and pollers (`self.hub.spawn(channel.run(), channel.name)`); return at once.
        `snapshot` (for `capwatch status`): only what one complete picture takes, with as few requests as it can."""

    async def aclose(self) -> None:
        """Release what it holds, once the hub has cancelled its tasks: the client's connections."""
        if self.client is not None:
            await self.client.aclose()

    @property
    def webhook_secret(self) -> str | None:
        """The secret its webhooks are signed with (None: it has no route on the receiver)."""
        secret = getattr(self.settings, "webhook_secret", None)
        return secret.get_secret_value() if secret else None

    def apply_webhook(self, payload: dict[str, Any], received_at: float) -> None:
        """A webhook of this vendor whose signature the receiver verified (its JSON object) into the Store."""
        raise NotImplementedError(f"{self.name} receives no webhooks")

    def missing(self) -> list[str]:
        """The parts of its first complete snapshot not read yet (["capout.credits"]): `capwatch status` waits
        while any is missing, and lists those still missing when it gives up."""
        return [part for part in self.snapshot_parts if part not in self.store.complete]

    def not_read(self) -> dict[str, Any] | None:
        """What `capwatch status` chose not to read of this vendor, and why (`summary`: in words), by a rule of its
        own (Capx: the details of the companies beyond its share of the key's minute); None: nothing."""
        return None

    def figure_lines(self, figures: Mapping[str, Any]) -> list[str]:
        """Its figures (from a Store snapshot) as `capwatch status` prints them, one line each."""
        return []


def _recorded_action(name: str, method: Any, kept: tuple[str, ...]) -> Any:
    """`method` (an action), applying an `action.<name>` event once it has run: the kept parameters and the
    outcome ("ok", or "failed" with the error's words); the error is raised on as before."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    async def run(self: Integration, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind_partial(self, *args, **kwargs).arguments
        data = {key: bound[key] for key in kept if key in bound}
        target = str(bound.get(kept[0]) or "") if kept else ""
        try:
            result = await method(self, *args, **kwargs)
        except Exception as error:
            from tui.live.channel import describe_error

            data.update(outcome="failed", error=describe_error(error))
            raise
        else:
            data["outcome"] = "ok"
        finally:
            if "outcome" in data:
                self.store.apply(Event(time=time.time(), service=self.name, type=f"action.{name}", id=target,
                                       data=sanitize_data(data)), "action")
        return result

    return run
