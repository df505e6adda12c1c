"""The simulator dies and comes back: a new world on the same port, start-up faults, and the child-process harness."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.simproc import SimProcess
from tui.sim.core import Faults, SimOptions
from tui.sim.server import build_simulator

CAPX = {"Authorization": "Bearer capx_sk_test_demo"}
CAPOUT = {"capout-api-key": "capout_test_demo"}


def companies(base: str) -> list[str]:
    return [c["id"] for c in httpx.get(f"{base}/companies", headers=CAPX).json()["data"]]


def test_new_world_in_place(sim):
    capx, capout = sim.base_urls["capx"], sim.base_urls["capout"]
    before = companies(capx)
    state = httpx.get(f"{sim.root}/_admin/state").json()
    old_documents = list(state["capout"]["documents"])
    old_agents = set(state["capx"]["agents"])
    boot = httpx.get(f"{sim.root}/").json()["boot"]

    reply = httpx.post(f"{sim.root}/_admin/new-world").json()
    assert reply["world"] == 2 and reply["boot"] != boot

    after = companies(capx)
    kept, gone = set(before) & set(after), set(before) - set(after)
    assert kept and gone, "some companies survive, some are gone"
    for company_id in gone:  # gone, not down
        assert httpx.get(f"{capx}/companies/{company_id}/agents", headers=CAPX).status_code == 404
    state = httpx.get(f"{sim.root}/_admin/state").json()
    assert not old_agents & set(state["capx"]["agents"]), "every agent is new, even in a surviving company"
    assert not set(old_documents) & set(state["capout"]["documents"])
    assert httpx.get(f"{capout}/status/{old_documents[0]}", headers=CAPOUT).status_code == 404


def test_world_flag_is_the_world_the_admin_call_makes():
    made_in_place = build_simulator(SimOptions(seed=11))
    from tui.sim.worlds import new_world

    new_world(made_in_place)
    restarted = build_simulator(SimOptions(seed=11, world=2))
    assert list(made_in_place.vendor("capx").companies) == list(restarted.vendor("capx").companies)
    assert list(made_in_place.vendor("capout").documents) == list(restarted.vendor("capout").documents)
    assert made_in_place.boot == restarted.boot
    assert list(build_simulator(SimOptions(seed=11)).vendor("capx").companies) != list(
        restarted.vendor("capx").companies)


def test_open_streams_end_with_the_old_world(sim):
    capx = sim.base_urls["capx"]
    company = companies(capx)[0]
    with httpx.Client(timeout=10) as http:
        with http.stream("GET", f"{capx}/companies/{company}/activity?stream=true",
                         headers={**CAPX, "Accept": "text/event-stream"}) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith(":")  # connected
            httpx.post(f"{sim.root}/_admin/new-world")
            rest = list(lines)  # ends: the old world's connection is cut
            assert all(not line.startswith("data:") for line in rest)


def test_start_up_faults(sim_factory):
    running = sim_factory(faults="first=GET /capx/v1/companies:2")
    capx = running.base_urls["capx"]
    statuses = [httpx.get(f"{capx}/companies", headers=CAPX).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    httpx.post(f"{running.root}/_admin/faults", json={"fail_first": {"/capout/credits": 1}})
    urls = running.base_urls
    assert httpx.get(f"{urls['capout']}/credits", headers=CAPOUT).status_code == 500
    assert httpx.get(f"{urls['capout']}/credits", headers=CAPOUT).status_code == 200
    assert httpx.get(f"{capx}/companies", headers=CAPX).status_code == 200  # the mapping replaced the old one
    assert httpx.get(f"{running.root}/_admin/faults").json()["fail_first"] == {}


def test_fail_first_spec():
    faults = Faults.parse("first=GET /capx/v1/companies*:3,first=/captain/*:1")
    assert faults.fail_first == {"GET /capx/v1/companies*": 3, "/captain/*": 1}
    assert faults.take_start_fault("GET", "/capx/v1/companies")
    assert not faults.take_start_fault("POST", "/capx/v1/companies")
    assert faults.take_start_fault("POST", "/captain/v1/list-databases")
    assert not faults.take_start_fault("POST", "/captain/v1/list-databases")
    with pytest.raises(ValueError):
        Faults.parse("first=GET /x")


@pytest.mark.slow
def test_child_process_killed_restarted_frozen():
    with SimProcess(seed=5, rate=0) as server:
        capx = server.client_env()["CAPX_BASE_URL"]
        first = companies(capx)
        server.kill()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{capx}/companies", headers=CAPX, timeout=2)
        server.start(world=2)  # the same port, a new world
        assert httpx.get(f"{server.root}/").json()["world"] == 2
        second = companies(capx)
        assert set(first) & set(second) and set(first) - set(second)
        server.freeze()
        with pytest.raises(httpx.ReadTimeout):  # the kernel accepts, the process answers nothing
            httpx.get(f"{capx}/companies", headers=CAPX, timeout=httpx.Timeout(1.0, connect=1.0))
        server.thaw()
        assert companies(capx) == second
