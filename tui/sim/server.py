"""Assemble the four vendor simulators into one ASGI app, add faults and the admin side, and serve it.

Routes: `/capout`, `/casmo`, `/capx/v1`, `/captain` for the vendors; `/_admin/{journal,state,faults,pause,
resume,step,new-world}` for tests and operators. Use `serve()` from the command line, `SimThread` from tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tui.sim.core import SimOptions, Simulator, iso
from tui.sim.http1 import DeliveryError, Http1Connection
from tui.sim.worlds import new_world

log = logging.getLogger("capwatch.sim")


def build_simulator(options: SimOptions) -> Simulator:
    from tui.sim.capout import CapOutSim
    from tui.sim.captain import CaptainSim
    from tui.sim.capx import CapxSim
    from tui.sim.casmo import CasmoSim

    sim = Simulator(options)
    sim.vendors = [CapOutSim(sim), CasmoSim(sim), CapxSim(sim), CaptainSim(sim)]
    sim.webhooks = WebhookSender(sim)
    while sim.world < options.world:  # `--world N`: the world the admin call would have made N - 1 times
        new_world(sim)
    return sim


# --------------------------------------------------------------------------------------------- webhooks


class WebhookSender:
    """Delivers signed webhooks (Casmo and Capx) to `--webhook-url`, `DELIVERY_WORKERS` at a time, as a vendor's
    delivery fleet does: order across deliveries is not kept, and a receiver must not rely on it. Each delivery
    is tried three times; a full queue or a third failure is counted in the journal as failed."""

    DELIVERY_WORKERS = 8

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.queue: asyncio.Queue[tuple[str, bytes, str]] = asyncio.Queue(maxsize=10000)

    def send(self, vendor: str, event: str, data: dict[str, Any], secret: str) -> None:
        """Queue `{"event", "timestamp", "data"}` for `URL/webhooks/<vendor>`, signed with `secret`."""
        if not self.sim.options.webhook_url:
            return
        body = json.dumps({"event": event, "timestamp": iso(), "data": data}).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        self.sim.journal.webhooks_queued[vendor] += 1
        try:
            self.queue.put_nowait((vendor, body, signature))
        except asyncio.QueueFull:
            self.sim.journal.webhooks_failed[vendor] += 1

    async def run(self) -> None:
        url = self.sim.options.webhook_url or ""
        async with asyncio.TaskGroup() as workers:
            for _ in range(self.DELIVERY_WORKERS):
                workers.create_task(self._deliver(Http1Connection(url)))

    async def _deliver(self, connection: Http1Connection) -> None:
        """One of the fleet: its own keep-alive connection, one delivery at a time."""
        try:
            while True:
                vendor, body, signature = await self.queue.get()
                headers = {"Content-Type": "application/json", "X-Webhook-Signature": signature}
                for attempt in range(3):
                    try:
                        if await connection.post(f"/webhooks/{vendor}", body, headers) < 300:
                            self.sim.journal.webhooks_sent[vendor] += 1
                            break
                    except DeliveryError:
                        pass
                    await asyncio.sleep(0.5 * (attempt + 1))
                else:
                    self.sim.journal.webhooks_failed[vendor] += 1
        finally:
            connection.close()


# --------------------------------------------------------------------------------------------- faults


class FaultMiddleware:
    """Counts requests per route and applies the REST faults: latency, 5xx, 429 and slow-drip bodies."""

    def __init__(self, app: ASGIApp, sim: Simulator):
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_admin"):
            await self.app(scope, receive, send)
            return
        sim, faults = self.sim, self.sim.faults
        vendor = sim.vendor_for_path(scope["path"])
        if vendor is not None:
            if faults.take_start_fault(scope["method"], scope["path"]):
                await self._reply(vendor.error(500, "internal_error", "Simulated start-up fault"), scope, receive, send)
                return
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            roll = sim.rng.random()
            if roll < faults.error_rate:
                status = sim.rng.choice([500, 500, 504])
                code = "internal_error" if status == 500 else "timeout"
                await self._reply(vendor.error(status, code, "Simulated server fault"), scope, receive, send)
                return
            if roll < faults.error_rate + faults.throttle_rate:
                reply = vendor.error(429, "rate_limit_exceeded", "Simulated rate limit")
                reply.headers.update({"Retry-After": "1", **vendor.fault_headers(Request(scope))})
                await self._reply(reply, scope, receive, send)
                return

        status_holder: dict[str, Any] = {}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["streaming"] = any(
                    k == b"content-type" and v.startswith(b"text/event-stream") for k, v in message["headers"]
                )
                sim.journal.statuses[str(message["status"])] += 1
            elif (
                message["type"] == "http.response.body"
                and faults.drip_ms
                and not status_holder.get("streaming")
                and message.get("body")
            ):
                body = message["body"]
                for start in range(0, len(body), 16):
                    await send({"type": "http.response.body", "body": body[start : start + 16], "more_body": True})
                    await asyncio.sleep(faults.drip_ms / 1000)
                await send({"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)})
                return
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except ClientDisconnect:
            return  # the client went away mid-request: nothing to answer, nothing to log
        route = scope.get("route")
        template = getattr(route, "path", None) or scope["path"]
        prefix = vendor.prefix if vendor else ""
        sim.journal.requests[f"{scope['method']} {prefix}{template}"] += 1

    async def _reply(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        self.sim.journal.statuses[str(response.status_code)] += 1
        self.sim.journal.requests["FAULT " + scope["path"]] += 1
        await response(scope, receive, send)


# --------------------------------------------------------------------------------------------- admin


def admin_routes(sim: Simulator, renew=None) -> list[Route]:
    async def journal(request: Request) -> JSONResponse:
        return JSONResponse(sim.journal.as_dict())

    async def state(request: Request) -> JSONResponse:
        return JSONResponse({vendor.name: vendor.snapshot() for vendor in sim.vendors})

    async def faults(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                sim.faults.update(await request.json())
            except (ValueError, TypeError) as error:
                return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(sim.faults.as_dict())

    async def pause(request: Request) -> JSONResponse:
        sim.paused = True
        return JSONResponse({"paused": True})

    async def resume(request: Request) -> JSONResponse:
        sim.paused = False
        return JSONResponse({"paused": False})

    async def step(request: Request) -> JSONResponse:
        """Make `count` things happen now, in one vendor's world with `vendor=NAME` (tests use this with a
        still world, rate 0)."""
        count = int(request.query_params.get("count", "1"))
        vendor = request.query_params.get("vendor")
        if vendor:
            sim.vendor(vendor).tick(count)
        else:
            sim.happen(count)
        return JSONResponse({"stepped": count})

    async def new_world_route(request: Request) -> JSONResponse:
        """Come back as a new world on the same port (see tui/sim/worlds.py)."""
        await renew()
        return JSONResponse({"world": sim.world, "boot": sim.boot})

    async def remove_capx_company(request: Request) -> JSONResponse:
        """A Capx company that no longer exists: 404 on its stream and its resources from now on."""
        company_id = request.path_params["company_id"]
        if not sim.vendor("capx").remove_company(company_id):
            return JSONResponse({"error": f"no company {company_id}"}, status_code=404)
        return JSONResponse({"removed": company_id})

    return [
        Route("/journal", journal),
        Route("/capx/companies/{company_id}", remove_capx_company, methods=["DELETE"]),
        Route("/state", state),
        Route("/faults", faults, methods=["GET", "POST"]),
        Route("/pause", pause, methods=["POST"]),
        Route("/resume", resume, methods=["POST"]),
        Route("/step", step, methods=["POST"]),
        Route("/new-world", new_world_route, methods=["POST"]),
    ]


# --------------------------------------------------------------------------------------------- app


def create_app(options: SimOptions, sim: Simulator | None = None) -> Starlette:
    sim = sim or build_simulator(options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        tasks = [asyncio.create_task(sim.run_world(), name="sim-world")]
        if options.webhook_url:
            tasks.append(asyncio.create_task(sim.webhooks.run(), name="sim-webhooks"))
        for vendor in sim.vendors:
            await vendor.start()
        try:
            yield
        finally:
            for vendor in sim.vendors:
                await vendor.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def root(request: Request) -> JSONResponse:
        return JSONResponse({"simulator": "capwatch", "services": options.base_urls(port=request.url.port),
                             "world": sim.world, "boot": sim.boot})

    async def renew() -> None:
        """The vendors' worlds replaced in place: their tasks stopped, new ones mounted and started."""
        for vendor in sim.vendors:
            await vendor.stop()
        new_world(sim)
        app.router.routes[2:] = [Mount(vendor.prefix, routes=vendor.routes()) for vendor in sim.vendors]
        for vendor in sim.vendors:
            await vendor.start()

    routes = [Route("/", root), Mount("/_admin", routes=admin_routes(sim, renew))]
    routes += [Mount(vendor.prefix, routes=vendor.routes()) for vendor in sim.vendors]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    app.add_middleware(FaultMiddleware, sim=sim)
    return app


def _uvicorn_config(app: Starlette, host: str, port: int | None, sock: socket.socket | None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port or 0,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws_ping_interval=None,  # our WebSocket handler sends its own keepalives
        timeout_graceful_shutdown=1,
    )


def serve(options: SimOptions) -> None:
    """Run the simulator in the foreground until interrupted."""
    app = create_app(options)
    server = uvicorn.Server(_uvicorn_config(app, options.host, options.port, None))
    server.run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class SimThread:
    """The simulator on a background thread with its own event loop, for tests and the demo.

    with SimThread(SimOptions(seed=1)) as sim:
        sim.base_urls["capout"]  # http://127.0.0.1:<port>/capout
    """

    def __init__(self, options: SimOptions | None = None):
        self.options = options or SimOptions()
        if not self.options.port:
            self.options.port = free_port(self.options.host)
        self.simulator = build_simulator(self.options)
        self.app = create_app(self.options, self.simulator)
        self.server = uvicorn.Server(_uvicorn_config(self.app, self.options.host, self.options.port, None))
        self.thread = threading.Thread(target=self.server.run, name="capwatch-sim", daemon=True)

    @property
    def root(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    @property
    def base_urls(self) -> dict[str, str]:
        return self.options.base_urls()

    def start(self, timeout: float = 10.0) -> "SimThread":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> "SimThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
