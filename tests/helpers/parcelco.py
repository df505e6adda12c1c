"""ParcelCo, a fifth vendor declared by the tests (tests/system/test_fifth_vendor.py): a small REST API that
capwatch polls, written as a vendor's folder would be (client, a poller, an integration, a declaration), and the
scripted HTTP server that plays its API on a loopback port.

`register()` makes it the registry's fifth vendor. It must run before tui.config is imported (the config assembles
its sections from the registry then), so a test runs capwatch in a child process that registers it first.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, Mapping

from tui.api import BaseClient
from tui.live.channel import Poller
from tui.live.events import Event
from tui.live.integration import Integration
from tui.text import sanitize_data
from tui.vendors.base import KeyEnvironment, Kind, Tab, Vendor

KEY = "pco_test_key"  # a key of ParcelCo's test environment (its declaration: `pco_test_`)
PARCELS = [
    {"id": "p1", "status": "moving", "label": "Invoices, 3 boxes"},
    {"id": "p2", "status": "delivered", "label": "Signed contract"},
    {"id": "p3", "status": "lost", "label": "Spare keys"},
]


class ParcelCoClient(BaseClient):
    service = "parcelco"

    def __init__(self, base_url: str, *, api_key: str, read_only: bool = False):
        super().__init__(base_url, headers={"Authorization": f"Bearer {api_key}"}, read_only=read_only, api_key=api_key)

    async def parcels(self) -> list[dict[str, Any]]:
        return (await self.send("GET", "/parcels")).json()


class ParcelCoParcels(Poller):
    """GET /parcels every 5 s: each parcel an event on the timeline and a row of kind `parcels`."""

    service = "parcelco"

    def __init__(self, client: ParcelCoClient, store):
        super().__init__("parcelco.parcels", store)
        self.client = client

    def interval(self) -> float:
        return 5.0

    async def poll(self) -> None:
        now = time.time()
        for parcel in map(sanitize_data, await self.client.parcels()):
            self.store.note_event(self.name, now)
            self.store.apply(Event(now, "parcelco", f"parcel.{parcel['status']}", parcel["id"], parcel, "parcels",
                                   parcel, now))
        self.store.mark_complete("parcelco.parcels")
        self.store.set_figure("parcelco.vans", {"on_the_road": 4})


class ParcelCoIntegration(Integration):
    snapshot_parts = ("parcelco.parcels",)

    def __init__(self, hub, declaration, settings: Any):
        super().__init__(hub, declaration, settings)
        self.client = ParcelCoClient(settings.base_url, api_key=settings.api_key_value, read_only=self.read_only)

    async def start(self, *, snapshot: bool = False) -> None:
        self.hub.spawn(ParcelCoParcels(self.client, self.store).run(), "parcelco.parcels")

    def figure_lines(self, figures: Mapping[str, Any]) -> list[str]:
        vans = figures.get("parcelco.vans") or {}
        return [f"parcelco vans     {vans['on_the_road']} on the road"] if vans else []


PARCELCO = Vendor(
    name="parcelco",
    title="ParcelCo",
    default_base_url="https://api.parcelco.test",
    key_prefixes=("pco_",),
    kinds=(Kind("parcels", finished=frozenset({"delivered"})),),
    alert_statuses=frozenset({"lost"}),
    integration="tests.helpers.parcelco:ParcelCoIntegration",
    tabs=(Tab("parcels", "Parcels", "tests.helpers.parcelco_pane:ParcelsPane"),),
    style="dark_orange",
    type_styles={"parcel.lost": "bold magenta"},
    environments=(KeyEnvironment("pco_live_", "live", "LIVE", "prod"),
                  KeyEnvironment("pco_test_", "test", "test", "dev")),
)


def register() -> None:
    """ParcelCo becomes the fifth line of the registry (tui/vendors/__init__.py), before the config is built."""
    assert "tui.config" not in sys.modules, "register ParcelCo before tui.config is imported"
    import tui.vendors as registry

    registry.VENDORS = (*registry.VENDORS, PARCELCO)
    registry.BY_NAME = {**registry.BY_NAME, PARCELCO.name: PARCELCO}


class ParcelServer:
    """ParcelCo's API, scripted: GET /parcels with the key answers PARCELS, anything else 404; one request per
    connection (it closes after each reply). Runs on the test's event loop."""

    def __init__(self):
        self.requests = 0

    async def __aenter__(self) -> "ParcelServer":
        self.server = await asyncio.start_server(self.answer, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        ok = request.startswith(b"GET /parcels ") and f"authorization: bearer {KEY}\r\n".encode() in request.lower()
        body = json.dumps(PARCELS if ok else {"error": "not found"}).encode()
        writer.write(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close"
                     b"\r\n\r\n%s" % (b"200 OK" if ok else b"404 Not Found", len(body), body))
        await writer.drain()
        writer.close()
