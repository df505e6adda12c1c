"""A LiveHub pointed at a simulator, as `capwatch` builds it from its config, for tests of the live layer."""

from __future__ import annotations

import argparse
import os

from tui.config import load_config
from tui.live.events import ChannelState
from tui.live.hub import LiveHub
from tui.vendors import VENDORS


def hub_from(env: dict) -> LiveHub:
    """A LiveHub configured by `env` alone (no config file, no flags)."""
    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=0, profile=None)
    return LiveHub(load_config(args, env=env).config, VENDORS)


def make_hub(client_env: dict, transport: str = "ws") -> LiveHub:
    """CapOut, Capx and Captain (Casmo has no channel of its own; no webhook receiver)."""
    env = {k: v for k, v in client_env.items()
           if k.startswith(("CAPOUT", "CAPTAIN")) or k in ("CAPX_BASE_URL", "CAPX_API_KEY")}
    env["CAPWATCH_CAPOUT_TRANSPORT"] = transport
    return hub_from(env)


def capx_hub(client_env: dict) -> LiveHub:
    """Capx alone (no webhook receiver)."""
    return hub_from({k: v for k, v in client_env.items() if k in ("CAPX_BASE_URL", "CAPX_API_KEY")})


def channels(hub: LiveHub) -> dict:
    """Every channel and poller the hub runs (services that are off excluded)."""
    return {name: h for name, h in hub.store.health.items() if name not in ("casmo", "webhooks")}


def green(hub: LiveHub) -> list[str]:
    """The channels whose light is green (LIVE)."""
    return sorted(name for name, h in channels(hub).items() if h.state is ChannelState.LIVE)


def states(hub: LiveHub) -> str:
    return ", ".join(f"{n}={h.state.value}({h.last_error})" for n, h in sorted(channels(hub).items()))
