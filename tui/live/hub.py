"""The live layer's front door: builds the four clients from the config, runs every channel, poller and the
webhook receiver concurrently into one Store, and offers the actions the monitor sends back.

Usable with no UI at all: `capwatch status` and `capwatch tail` run exactly this.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tui.live.events import ChannelState, Event
from tui.live.store import Store
from tui.text import sanitize_data

if TYPE_CHECKING:  # importing this module stays light: the monitor imports it before its first frame
    from tui.config import Config

log = logging.getLogger("capwatch.hub")


def secret_value(value: Any) -> str | None:
    """Config secrets are `tui.config.Secret` (masked) or plain strings."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else str(value)


class SeenActivity:
    """Capx sends the same activity over SSE and by webhook: remember recent ones so each applies once."""

    def __init__(self, size: int = 5000):
        self.keys: OrderedDict[tuple, None] = OrderedDict()
        self.size = size

    @staticmethod
    def key(payload: dict[str, Any]) -> tuple:
        get = payload.get  # per event: spelled out rather than a generator
        return (get("type"), get("timestamp"), get("company_id"), get("agent_id"), get("task_id"), get("run_id"))

    def remember(self, payload: dict[str, Any]) -> bool:
        """Record `payload`; whether it was new."""
        key = self.key(payload)
        keys = self.keys
        try:
            if key in keys:
                return False
        except TypeError:  # a list or an object where a name or a time belongs: known by its text
            key = tuple(map(str, key))
            if key in keys:
                return False
        keys[key] = None
        if len(keys) > self.size:
            keys.popitem(last=False)
        return True


def service_on(config: Config, name: str) -> bool:
    """Whether the service `name` is configured (has a key): read from the config, nothing imported."""
    service = config.services().get(name)
    return service is not None and service.enabled


STARTING = type("Starting", (), {"__repr__": lambda self: "STARTING", "__slots__": ()})()
"""A `PendingHub`'s client attribute for a service that is on: its client is not built yet."""


class PendingHub:
    """Stands in for the LiveHub until the monitor builds it, right after its first frame: building it imports
    the vendor clients (httpx, websockets, the pydantic wire models) and sets up TLS. It has what the first frame
    reads: the Store (the LiveHub is then built on it), `read_only`, and which services are on (`capout`,
    `casmo`, `capx`, `captain`: None when off, as on the LiveHub, else `STARTING`). A LiveHub method (an action
    sent before the worker got to it) calls `build`, which builds the LiveHub at once, and answers from it."""

    def __init__(self, config: Config, build: Callable[[], LiveHub]):
        self.config = config
        self.store = Store(timeline_size=config.timeline_size, max_finished=config.max_finished_rows)
        self.read_only = bool(config.read_only)
        self._build = build
        for service, settings in config.services().items():
            on = settings.enabled
            setattr(self, service, STARTING if on else None)
            if not on:
                self.store.channel(service, service)  # as LiveHub._build_clients: shown as "off" from the start

    def is_on(self, name: str) -> bool:
        return service_on(self.config, name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not callable(getattr(LiveHub, name, None)):
            raise AttributeError(name)
        return getattr(self._build(), name)

    async def stop(self) -> None:
        """Nothing was started."""


class LiveHub:
    def __init__(self, config: Config, *, store: Store | None = None):
        self.config = config
        self.store = store or Store(timeline_size=config.timeline_size, max_finished=config.max_finished_rows)
        self.read_only = bool(config.read_only)
        self.capout = self.casmo = self.capx = self.captain = None
        # Vendor modules are imported only for services that are on: an unused one costs nothing at start.
        self.capout_channel = None  # tui.vendors.capout.live.CapOutRealtime
        self.captain_jobs = None  # tui.vendors.captain.live.CaptainJobs
        self.capx_channels: dict[str, Any] = {}  # company id -> tui.vendors.capx.live.CapxActivity
        self.receiver = None
        self.seen_capx = SeenActivity()
        self._tasks: set[asyncio.Task] = set()
        self._clients_ready = asyncio.Event()
        self._stopped = False
        self._build_clients()

    def is_on(self, name: str) -> bool:
        """Whether the service `name` is on (configured); its client may still be starting."""
        return service_on(self.config, name)

    # ------------------------------------------------------------------------------------------- set-up

    def _build_clients(self) -> None:
        c = self.config
        ro = self.read_only
        if c.capout.enabled:
            from tui.vendors.capout.client import CapOutClient

            self.capout = CapOutClient(c.capout.base_url, api_key=secret_value(c.capout.api_key), read_only=ro)
        if c.casmo.enabled:
            from tui.vendors.casmo.client import CasmoClient

            self.casmo = CasmoClient(c.casmo.base_url, api_key=secret_value(c.casmo.api_key), read_only=ro)
        if c.capx.enabled:
            from tui.vendors.capx.client import CapxClient

            self.capx = CapxClient(c.capx.base_url, api_key=secret_value(c.capx.api_key), read_only=ro)
        if c.captain.enabled:
            from tui.vendors.captain.client import CaptainClient

            self.captain = CaptainClient(c.captain.base_url, api_key=secret_value(c.captain.api_key),
                                         organization_id=c.captain.organization_id or "", read_only=ro)
        for service in ("capout", "casmo", "capx", "captain"):
            if getattr(self, service) is None:
                self.store.channel(service, service)  # shown as "off" in the header and in status

    def _spawn(self, coroutine, name: str) -> asyncio.Task:
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
        """Start every channel; returns at once (they run as tasks until `stop()`). `snapshot` (for `status`): no
        webhook receiver, and Capx read once over REST (no streams, as few requests as a picture takes)."""
        c = self.config
        if self.capout is not None:
            from tui.vendors.capout.live import CapOutCredits, CapOutRealtime

            self.capout_channel = CapOutRealtime(self.capout, self.store, transport=c.capout.transport,
                                                 recent=c.capout.recent)
            self._spawn(self.capout_channel.run(), self.capout_channel.name)
            self._spawn(CapOutCredits(self.capout, self.store).run(), "capout.credits")
        if self.capx is not None and snapshot:
            from tui.vendors.capx.live import CapxSnapshot

            self._spawn(CapxSnapshot(self.capx, self.store).run(), "capx.companies")
        elif self.capx is not None:
            from tui.vendors.capx.live import CapxCompanies, publish_capx_figures

            self.capx.on_figures = lambda: publish_capx_figures(self.capx, self.store)
            self._spawn(CapxCompanies(self.capx, self.store, self._watch_companies).run(), "capx.companies")
        if self.captain is not None:
            from tui.vendors.captain.live import CaptainDatabases, CaptainJobs

            databases = CaptainDatabases(self.captain, self.store)
            self.captain_jobs = CaptainJobs(self.captain, self.store, databases)
            self._spawn(databases.run(), "captain.databases")
            self._spawn(self.captain_jobs.run(), "captain.jobs")
        if not snapshot:
            await self._start_receiver()

    async def _start_receiver(self) -> None:
        casmo_secret = secret_value(self.config.casmo.webhook_secret) if self.casmo else None
        capx_secret = secret_value(self.config.capx.webhook_secret) if self.capx else None
        if not (casmo_secret or capx_secret):
            return
        from tui.live.webhooks import WebhookReceiver

        self.receiver = WebhookReceiver(host=self.config.webhooks.host, port=self.config.webhooks.port,
                                        secrets={"casmo": casmo_secret, "capx": capx_secret},
                                        on_delivery=self._on_webhook, on_pressure=self._receiver_pressure)
        # The receiver counts as it goes (refused, dropped, timed out, ...): `h` and `status` read them live.
        self.store.channel("webhooks", "webhooks").counters = self.receiver.counts
        try:
            await self.receiver.start()
        except OSError as error:
            self.store.set_state("webhooks", ChannelState.FAILED,
                                 f"cannot listen on {self.config.webhooks.host}:{self.config.webhooks.port}: {error}")
            self.receiver = None
            return
        self.store.set_state("webhooks", ChannelState.LIVE)

    def _receiver_pressure(self, degraded: bool, reason: str | None) -> None:
        """Sustained refusals, drops and time-outs make the receiver's channel `degraded`, saying what happened;
        a whole quiet window makes it `live` again (the reason stays as its last error, with its time)."""
        self.store.set_state("webhooks", ChannelState.DEGRADED if degraded else ChannelState.LIVE, reason)

    async def _watch_companies(self, company_ids: list[str]) -> None:
        from tui.vendors.capx.live import CapxActivity

        wanted = set(self.config.capx.companies or company_ids)
        for company_id in company_ids:
            if company_id in wanted and company_id not in self.capx_channels:
                channel = CapxActivity(self.capx, self.store, company_id)
                channel.seen_webhooks = self.seen_capx
                self.capx_channels[company_id] = channel
                self._spawn(channel.run(), channel.name)
                await asyncio.sleep(0)  # the client's rate governor spaces the opens

    def _on_webhook(self, service: str, payload: dict[str, Any], received_at: float) -> None:
        from tui.vendors.capx.live import activity_event
        from tui.vendors.casmo.live import casmo_webhook_event

        self.store.note_event("webhooks", received_at)
        if service == "casmo":
            self.store.apply(casmo_webhook_event(payload, received_at))
        elif service == "capx":
            data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
            data = {"type": payload.get("event"), "timestamp": payload.get("timestamp"), **data}
            if self.seen_capx.remember(data):
                self.store.apply(activity_event(data, company_id=str(data.get("company_id") or ""),
                                                received=received_at))
            if data.get("type") == "company.created" and data.get("company_id"):
                # A new company's activity goes to its own stream: open it now, not at the next company poll.
                self._spawn(self._watch_companies([str(data["company_id"])]), "capx.watch-new-company")

    async def run(self) -> None:
        """Start, then wait until cancelled; stops everything on the way out."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.receiver is not None:
            await self.receiver.stop()
        for client in (self.capout, self.casmo, self.capx, self.captain):
            if client is not None:
                await client.aclose()

    # ------------------------------------------------------------------------------------------- actions
    # Each raises ApiError (ReadOnlyError in read-only mode, from the client layer) for the caller to show.

    async def upload_document(self, *, xn_address: str, path: str | None = None, url: str | None = None,
                              file_name: str | None = None):
        if path:
            content = Path(path).expanduser().read_bytes()
            reply = await self.capout.upload(file_name or Path(path).name, xn_address,
                                             file_base64=base64.b64encode(content).decode())
        else:
            reply = await self.capout.upload(file_name or (url or "").rstrip("/").rsplit("/", 1)[-1] or "document",
                                             xn_address, url=url)
        from tui.vendors.capout.live import document_event

        row = sanitize_data(reply.model_dump(mode="json"))
        row.setdefault("file_name", file_name or Path(path or url or "").name)
        row["updated_at"] = row.get("created_at")
        event = document_event({**row, "type": "document.uploaded"})
        if event is not None:
            self.store.apply(event)
        if self.capout_channel is not None:
            await self.capout_channel.follow(reply.document_id)
        return reply

    async def submit_casmo(self, path: str, *, kind: str, mode: str = "callback", workflow_id: str | None = None):
        from tui.vendors.casmo.live import submitted_job_row

        file_path = Path(path).expanduser()
        content = file_path.read_bytes()
        if kind == "review":
            reply = await self.casmo.review(content, file_path.name, workflow_id, mode=mode)
        else:
            reply = await self.casmo.extract(content, file_path.name, mode=mode)
        row = submitted_job_row(reply.model_dump(mode="json"), kind=kind, mode=mode, workflow_id=workflow_id)
        existing = self.store.get("jobs", row["job_id"]) or {}
        if existing.get("completed_at"):  # the webhook beat the reply: keep its completion
            row = {**row, **existing}
        self.store.apply(Event(time=time.time(), service="casmo", type=f"{kind}.submitted", id=row["job_id"],
                               data=row, kind="jobs", patch=row))
        return reply

    async def capx_set_paused(self, company_id: str, paused: bool):
        company = await (self.capx.pause_company(company_id) if paused else self.capx.resume_company(company_id))
        self.store.upsert("companies", company_id, sanitize_data(company.model_dump(mode="json")))
        return company

    async def capx_decide_task(self, task_id: str, approve: bool):
        task = await (self.capx.approve_task(task_id) if approve else self.capx.reject_task(task_id))
        row = sanitize_data(task.model_dump(mode="json"))
        self.store.upsert("tasks", task_id, row)
        return task

    async def capx_run_playbook(self, playbook_id: str, company_id: str):
        run = await self.capx.run_playbook(playbook_id, company_id)
        row = sanitize_data(run.model_dump(mode="json"))
        self.store.upsert("runs", row.get("id") or playbook_id, row)
        return run

    async def capx_playbooks(self):
        return await self.capx.list_playbooks()

    async def capx_resync(self, company_id: str) -> None:
        from tui.vendors.capx.live import resync_company

        await resync_company(self.capx, self.store, company_id)  # agents, tasks and costs

    async def captain_create_database(self, name: str):
        reply = await self.captain.create_database(name)
        await self._refresh_databases()
        return reply

    async def captain_delete_database(self, name: str):
        reply = await self.captain.delete_database(name)
        await self._refresh_databases()
        return reply

    async def captain_delete_file(self, database_name: str, file_id: str):
        reply = await self.captain.delete_file(database_name, file_id)
        self.store.remove("files", f"{database_name}/{file_id}")
        return reply

    async def captain_index(self, source: str, database_name: str, bucket_name: str, *, file_uri: str | None = None,
                            aws_access_key_id: str = "", aws_secret_access_key: str = "", bucket_region: str = "",
                            service_account_json: str = ""):
        """source: "s3" or "gcs"; a `file_uri` indexes one file, else the whole bucket."""
        if source == "s3":
            creds = dict(aws_access_key_id=aws_access_key_id, aws_secret_access_key=aws_secret_access_key,
                         bucket_region=bucket_region)
            reply = await (self.captain.index_s3_file(database_name, bucket_name, file_uri, **creds) if file_uri
                           else self.captain.index_s3(database_name, bucket_name, **creds))
        else:
            reply = await (self.captain.index_gcs_file(database_name, bucket_name, file_uri,
                                                       service_account_json=service_account_json) if file_uri
                           else self.captain.index_gcs(database_name, bucket_name,
                                                       service_account_json=service_account_json))
        label = file_uri or f"{source}://{bucket_name}"
        if self.captain_jobs is not None and reply.job_id:
            self.captain_jobs.track_job(reply.job_id, database_name, label)
        return reply

    async def captain_query(self, question: str, database_name: str, *, include_files: bool = True):
        return await self.captain.query(question, database_name, include_files=include_files)

    async def _refresh_databases(self) -> None:
        databases = await self.captain.list_databases()
        rows = {}
        for database in databases:
            row = sanitize_data(database.model_dump(mode="json"))
            rows[row.get("database_name") or row.get("database_id")] = row
        self.store.replace("databases", rows)
