"""The live layer's front door: lifecycle plus a registry of integrations, one per vendor that is on.

The hub is given the vendors' declarations (tui/vendors: `VENDORS`) and the config, and knows no vendor by name:
`is_on(name)` reads the config, `vendor(name)` builds the vendor's integration (tui/live/integration.py) on first
use, importing its module then, `start()` starts every integration's channels and the webhook receiver (a route
per vendor declared with webhooks whose secret is set), `stop()` ends them all. Everything runs into one Store.

Building a hub imports nothing of the vendors (no httpx, websockets or pydantic): the monitor builds it before its
first frame. Usable with no UI at all: `capwatch status` and `capwatch tail` run exactly this.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Coroutine, Iterable

from tui.live.events import ChannelState
from tui.live.integration import Integration
from tui.live.recording import RecorderHook
from tui.live.store import Store

if TYPE_CHECKING:  # importing this module stays light: the monitor imports it before its first frame
    from tui.config import Config

WEBHOOKS = "webhooks"  # the receiver's channel
STOP_WITHIN = 3.0  # seconds a cancelled task has to end in `stop()` (twice: once more after a cancel asked again)

log = logging.getLogger("capwatch.live")


class LiveHub:
    def __init__(self, config: Config, vendors: Iterable[Any], *, store: Store | None = None,
                 recorder: RecorderHook | None = None):
        """`vendors`: the declarations (tui/vendors/base.py `Vendor`), in the registry's order. `recorder`: told of
        every change the Store makes, with its origin (tui/live/recording.py; the event history's `append`)."""
        self.config = config
        self.vendors = {vendor.name: vendor for vendor in vendors}
        self.store = store or Store(timeline_size=config.timeline_size, max_finished=config.max_finished_rows,
                                    kinds=[kind for vendor in self.vendors.values() for kind in vendor.kinds])
        self.store.kind_services.update((kind.name, vendor.name) for vendor in self.vendors.values()
                                        for kind in vendor.kinds)
        if recorder is not None:
            self.store.recorder = recorder
        self.read_only = bool(config.read_only)
        self.receiver = None  # tui.live.webhooks.WebhookReceiver, once started
        self._integrations: dict[str, Integration] = {}
        self._tasks: set[asyncio.Task] = set()
        self._stopped = False
        self.unended: list[str] = []  # the tasks `stop()` could not end, by name
        for name in self.vendors:
            if not self.is_on(name):
                self.store.channel(name, name)  # shown as "off" in the header and in status

    # ------------------------------------------------------------------------------------------- the registry

    def is_on(self, name: str) -> bool:
        """Whether the vendor `name` is configured (its section has a key); False for a vendor not declared."""
        section = getattr(self.config, name, None) if name in self.vendors else None
        return bool(section is not None and section.enabled)

    def watched(self, name: str) -> bool:
        """Whether vendor `name`'s data reaches this hub: here, when it is on (a SourceHub: when its collector
        watches it, whatever this config's keys)."""
        return self.is_on(name)

    def vendor(self, name: str) -> Integration | None:
        """The integration of vendor `name`, built on first use (its module imported then); None when it is off,
        and when the hub has stopped before it was built (its client would open with nobody left to close it)."""
        integration = self._integrations.get(name)
        if integration is None:
            declaration = self.vendors[name]  # KeyError: no vendor of that name was declared
            if not self.is_on(name) or self._stopped:
                return None
            integration = declaration.integration_class()(self, declaration, getattr(self.config, name))
            self._integrations[name] = integration
        return integration

    def integrations(self) -> list[Integration]:
        """The integration of every vendor that is on, in the registry's order (each built if it was not)."""
        return [integration for name in self.vendors if (integration := self.vendor(name)) is not None]

    # ------------------------------------------------------------------------------------------- lifecycle

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run `coroutine` as a task until `stop()`; an exception that ends it is shown on channel `name`."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        from tui.live.channel import describe_error

        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # a bug, not a network fault: show it
            self.store.record_error(task.get_name(), describe_error(task.exception()))

    async def start(self, *, snapshot: bool = False) -> None:
        """Start every integration's channels, then the webhook receiver; returns at once (they run as tasks until
        `stop()`). `snapshot` (for `status`): each integration starts what one complete picture takes, as few
        requests as it can, and there is no webhook receiver (a monitor may hold its port)."""
        for integration in self.integrations():
            await integration.start(snapshot=snapshot)
        if not snapshot:
            await self._start_receiver()

    def webhook_secrets(self) -> dict[str, str]:
        """Vendor -> webhook secret, for each vendor that is on, declared with webhooks and given a secret: the
        receiver's routes."""
        return {integration.name: secret for integration in self.integrations()
                if integration.declaration.webhooks and (secret := integration.webhook_secret)}

    async def _start_receiver(self) -> None:
        secrets = self.webhook_secrets()
        if not secrets:
            return
        from tui.live.webhooks import WebhookReceiver

        host, port = self.config.webhooks.host, self.config.webhooks.port
        self.receiver = WebhookReceiver(host=host, port=port, secrets=secrets, on_delivery=self._on_webhook,
                                        on_pressure=self._receiver_pressure)
        # The receiver counts as it goes (refused, dropped, timed out, ...): `h` and `status` read them live.
        self.store.channel(WEBHOOKS, WEBHOOKS).counters = self.receiver.counts
        try:
            await self.receiver.start()
        except OSError as error:
            self.store.set_state(WEBHOOKS, ChannelState.FAILED, f"cannot listen on {host}:{port}: {error}")
            self.receiver = None
            return
        self.store.set_state(WEBHOOKS, ChannelState.LIVE)

    def _receiver_pressure(self, degraded: bool, reason: str | None) -> None:
        """Sustained refusals, drops and time-outs make the receiver's channel `degraded`, saying what happened;
        a whole quiet window makes it `live` again (the reason stays as its last error, with its time)."""
        self.store.set_state(WEBHOOKS, ChannelState.DEGRADED if degraded else ChannelState.LIVE, reason)

    def _on_webhook(self, service: str, payload: dict[str, Any], received_at: float) -> None:
        """A verified delivery (the receiver only calls for the vendors it was given a secret for)."""
        self.store.note_event(WEBHOOKS, received_at)
        self.vendor(service).apply_webhook(payload, received_at)

    async def run(self) -> None:
        """Start, then wait until cancelled; stops everything on the way out."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Cancel every task and wait for them to end, then stop the receiver and close the clients. Bounded: a
        task still running `STOP_WITHIN` seconds after its cancel (a cancellation lost, as `asyncio.wait_for` can
        lose one on Python 3.11) is cancelled once more; one that outlives that too is left behind. Either is
        logged by name and recorded on its channel, and `stop()` goes on."""
        if self._stopped:
            return
        self._stopped = True
        tasks = list(self._tasks)
        for attempt in ("cancelled", "cancelled twice"):
            for task in tasks:
                task.cancel()
            if not tasks:
                break
            _, pending = await asyncio.wait(tasks, timeout=STOP_WITHIN)
            tasks = sorted(pending, key=lambda task: task.get_name())
            if tasks:
                said = f"did not end within {STOP_WITHIN:.0f} s of being {attempt}"
                log.warning("stopping the live layer: %s %s", ", ".join(task.get_name() for task in tasks), said)
                for task in tasks:
                    self.store.record_error(task.get_name(), f"stopping: {said}")
        self.unended = [task.get_name() for task in tasks]  # left running (empty: every task ended)
        if self.receiver is not None:
            await self.receiver.stop()
        for integration in self._integrations.values():
            await integration.aclose()

    # ------------------------------------------------------------------------------------------- snapshot

    def missing(self) -> list[str]:
        """The parts of the first complete snapshot still missing (`capwatch status` waits until there are none):
        every on integration's `missing()`, in the registry's order."""
        return [part for integration in self.integrations() for part in integration.missing()]

    def kinds(self) -> list[Any]:
        """The entity kinds of every vendor that is on (`capwatch status` lists each, 0 when there is none)."""
        return [kind for integration in self.integrations() for kind in integration.declaration.kinds]

    def figure_lines(self, figures: dict[str, Any]) -> list[str]:
        """Every on integration's figures as `capwatch status` prints them."""
        return [line for integration in self.integrations() for line in integration.figure_lines(figures)]
