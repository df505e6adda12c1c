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
from typing import Any, ClassVar, Coroutine, Mapping, Protocol

from tui.live.store import Store


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

    def figure_lines(self, figures: Mapping[str, Any]) -> list[str]:
        """Its figures (from a Store snapshot) as `capwatch status` prints them, one line each."""
        return []
