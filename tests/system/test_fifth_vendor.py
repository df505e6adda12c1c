"""A fifth vendor declared by the tests (tests/helpers/parcelco.py: a client, a poller, an integration and a
declaration, as a vendor's folder holds them) and registered for the test's duration shows up wherever the vendors
do, with no other code changed: its config section and environment variables, the Store's health and kinds,
`capwatch status --json`, the header's lights and its environment badge, its tab, its alerts, and how its events look
(its colour, its types' styles). What tui/vendors/__init__.py says adding a
vendor takes.

capwatch runs in a child process that registers ParcelCo first (the config assembles its sections from the
registry when it is imported); ParcelCo's API is a scripted HTTP server on this test's event loop."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.helpers.environment import clean_env
from tests.helpers.parcelco import KEY, ParcelServer

ROOT = Path(__file__).resolve().parents[2]
REGISTERED = "import tests.helpers.parcelco as parcelco; parcelco.register()\n"

STATUS = REGISTERED + """
from tui.cli import main
raise SystemExit(main(["status", "--json", "--wait", "15"]))
"""

MONITOR = REGISTERED + """
import asyncio, json, os
from argparse import Namespace
from tests.helpers.waiting import eventually
from tui.app.app import CapwatchApp
from tui.app.header import ServiceLights
from tui.app.widgets.table import LiveTable
from tui.app.widgets.table_model import cell_value
from tui.config import load_config


async def watch() -> None:
    app = CapwatchApp(load_config(Namespace(config=os.devnull)).config)

    def lights() -> dict:
        return {light.service: str(light.render()) for light in app.query(ServiceLights)}

    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(lambda: lights().get("parcelco") == "parcelco ●" and app.alerts, pilot=pilot,
                         message=lambda: f"lights {lights()}, alerts {list(app.alerts)}")
        await pilot.press("7")
        await eventually(lambda: "p3 lost" in str(app.query_one("#parcel-list").render()), pilot=pilot)
        await pilot.press("8")
        table = app.query_one("#events-table", LiveTable)

        def lost() -> dict | None:
            return next((row for row in table.model.rows.values() if row["type"] == "parcel.lost"), None)

        await eventually(lambda: lost() is not None, pilot=pilot)
        looks = {column.key: str(cell_value(column, lost()).style) for column in table.columns
                 if column.key in ("service", "type")}
        store = app.hub.store
        print(json.dumps({"lights": lights(), "tabs": app.TABS, "alerts": [[e.service, e.id] for e in app.alerts],
                          "health": {name: [h.service, h.state.value] for name, h in store.health.items()},
                          "finished": store.finished_count("parcels"), "looks": looks,
                          "badges": [[str(b.render()), sorted(b.classes)] for b in app.query("#env-badge")]}))


asyncio.run(watch())
"""


async def run_capwatch(code: str, server: ParcelServer) -> tuple[int, str, str]:
    """`code` in a child process configured with ParcelCo's key and its server's URL (the four others off)."""
    env = clean_env(PARCELCO_API_KEY=KEY, PARCELCO_BASE_URL=server.url, CAPWATCH_CONFIG="/dev/null")
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", code, cwd=ROOT, env=env,
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    return child.returncode, out.decode(), err.decode()


async def test_a_fifth_vendor_is_in_capwatch_status_json():
    async with ParcelServer() as server:
        code, out, err = await run_capwatch(STATUS, server)
    assert code == 0, err
    snapshot = json.loads(out)
    health = snapshot["health"]
    assert health["parcelco.parcels"]["state"] == "live" and health["parcelco.parcels"]["events"] == 3
    assert {name: health[name]["state"] for name in ("capout", "casmo", "capx", "captain")} == dict.fromkeys(
        ("capout", "casmo", "capx", "captain"), "off")  # the four others have no key in this config
    assert snapshot["entities"] == {"parcels": {"total": 3, "by_status": {"delivered": 1, "lost": 1, "moving": 1}}}
    assert snapshot["events"]["parcelco"] == {"parcel.delivered": 1, "parcel.lost": 1, "parcel.moving": 1}
    assert snapshot["figures"]["parcelco.vans"] == {"on_the_road": 4}
    assert snapshot["missing"] == [] and snapshot["requests"] == {"parcelco": server.requests} and server.requests >= 1
    assert KEY not in out + err


async def test_a_fifth_vendor_has_its_light_its_tab_and_its_alerts_in_the_monitor():
    async with ParcelServer() as server:
        code, out, err = await run_capwatch(MONITOR, server)
    assert code == 0, err
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["lights"]["parcelco"] == "parcelco ●" and seen["lights"]["capout"] == "capout ○"
    assert seen["health"]["parcelco.parcels"] == ["parcelco", "live"]  # the Store's health, under its service
    assert [label for _, label in seen["tabs"]] == ["1 Overview", "2 Documents", "3 Extraction", "4 Capx", "5 Captain",
                                                     "6 Query", "7 Parcels", "8 Events"]
    assert seen["alerts"] == [["parcelco", "p3"]]  # a parcel lost: an alert, as ParcelCo declares
    assert seen["finished"] == 1  # the Store bounds ParcelCo's finished parcels, from its kind
    # The Events tab draws its name and its lost parcels as it declares; the header names its key's environment.
    assert seen["looks"] == {"service": "dark_orange", "type": "bold magenta"}
    assert seen["badges"] == [["test", ["badge", "env-dev"]]]
