"""The LiveHub as lifecycle plus a registry: which vendors are on, their integrations built on first use, and a
hub that costs nothing to build (the monitor builds it before its first frame)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tui.config import Config
from tui.live.events import ChannelState
from tui.live.hub import LiveHub
from tui.vendors import VENDORS
from tui.vendors.capx.integration import CapxIntegration

HEAVY = ("httpx", "websockets", "pydantic", "uvicorn", "tui.vendors.capout.client", "tui.vendors.capx.live")


def test_building_a_hub_imports_nothing_of_the_vendors():
    code = f"""
import sys
from tui.config import Config
from tui.live.hub import LiveHub
from tui.vendors import VENDORS
config = Config(**{{vendor.name: {{"api_key": vendor.key_prefixes[0] + "k"}} for vendor in VENDORS}})
hub = LiveHub(config, VENDORS)
assert all(hub.is_on(vendor.name) for vendor in VENDORS)
print(sorted(name for name in {HEAVY!r} if name in sys.modules))
hub.vendor("capx")
print(sorted(name for name in {HEAVY!r} if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.splitlines()
    assert before == "[]"
    assert {"httpx", "pydantic", "tui.vendors.capx.live"} <= set(eval(after))  # imported once Capx was asked for


async def test_vendor_is_built_once_none_when_off_and_unknown_names_are_refused():
    hub = LiveHub(Config(capx={"api_key": "capx_sk_k"}, read_only=True), VENDORS)
    assert hub.is_on("capx") and not hub.is_on("capout") and not hub.is_on("nobody")
    capx = hub.vendor("capx")
    assert isinstance(capx, CapxIntegration) and hub.vendor("capx") is capx
    assert capx.client.read_only and capx.settings is hub.config.capx and capx.store is hub.store
    assert hub.vendor("capout") is None
    with pytest.raises(KeyError):
        hub.vendor("nobody")
    # The vendors that are off are shown as such from the start; the one that is on has no channel until started.
    assert {name: health.state for name, health in hub.store.health.items()} == {
        "capout": ChannelState.OFF, "casmo": ChannelState.OFF, "captain": ChannelState.OFF}
    await hub.stop()
    assert capx.client.http.is_closed


async def test_a_vendor_not_built_before_the_hub_stopped_is_not_built_after():
    # An action reached after quitting would otherwise open a client nobody closes.
    hub = LiveHub(Config(capx={"api_key": "capx_sk_k"}, casmo={"api_key": "cai_k"}), VENDORS)
    capx = hub.vendor("capx")
    await hub.stop()
    assert hub.vendor("capx") is capx and hub.vendor("casmo") is None and "casmo" not in hub._integrations


def webhook_config() -> Config:
    return Config(casmo={"api_key": "cai_k", "webhook_secret": "whsec_casmo"}, capx={"api_key": "capx_sk_k"},
                  capout={"api_key": "capout_k"}, webhooks={"host": "127.0.0.1", "port": 0})


def recording_spawns(hub: LiveHub) -> list[str]:
    """No channel runs: the hub's spawns are recorded by name instead."""
    spawned: list[str] = []

    def spawn(coroutine, name: str) -> None:
        spawned.append(f"{name}:{type(coroutine.cr_frame.f_locals['self']).__name__}")  # the channel it runs
        coroutine.close()

    hub.spawn = spawn
    return spawned


async def test_the_receiver_has_a_route_per_vendor_with_webhooks_and_a_secret():
    hub = LiveHub(webhook_config(), VENDORS)
    spawned = recording_spawns(hub)
    await hub.start()
    try:
        assert hub.webhook_secrets() == {"casmo": "whsec_casmo"}  # Capx has no secret here: no route
        assert hub.receiver is not None and "routes='casmo'" in repr(hub.receiver)
        assert hub.store.health["webhooks"].state is ChannelState.LIVE
        # Capx also publishes its request budget's figure once a second (the header and the Capx tab read it).
        assert spawned == ["capout.ws:CapOutRealtime", "capout.credits:CapOutCredits", "capx.companies:CapxCompanies",
                           "capx.budget:CapxIntegration"]
        # What `capwatch status` would still wait for; Casmo's jobs are complete from the start (it has no list).
        assert hub.missing() == ["capout.documents", "capout.credits", "capx.companies", "capx.agents", "capx.tasks",
                                 "capx.costs"]
    finally:
        await hub.stop()


async def test_a_snapshot_start_has_no_receiver_and_reads_capx_once():
    hub = LiveHub(webhook_config(), VENDORS)
    spawned = recording_spawns(hub)
    await hub.start(snapshot=True)
    try:
        assert hub.receiver is None and "webhooks" not in hub.store.health
        assert spawned == ["capout.ws:CapOutRealtime", "capout.credits:CapOutCredits", "capx.companies:CapxSnapshot"]
    finally:
        await hub.stop()
