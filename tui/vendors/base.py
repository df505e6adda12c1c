"""What capwatch knows about a vendor before anything of it is imported: its declaration (`Vendor`).

A declaration is plain data, cheap to import (the monitor reads them before its first frame): the vendor's name,
title, key prefixes and default base URL (config), the entity kinds it fills and which statuses finish them (the
Store), which events are alerts, how its events look and which environment a key of it reaches (the app), and
where its heavier parts live, named as "module:attribute" strings that are imported only when the service is on:
its integration (client, channels, webhooks, actions) and its settings section. The registry in
`tui/vendors/__init__.py` lists the declarations in tab order.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from types import MappingProxyType
from typing import Any, Literal, NamedTuple


# Declarations are NamedTuples, not frozen dataclasses: as immutable, and ~0.1 ms each to define against ~0.7 ms
# (a frozen dataclass execs six methods at import), which the monitor pays before its first frame.
class Kind(NamedTuple):
    """An entity kind a vendor fills in the Store (`Store.entities[name]`)."""

    name: str
    # Statuses in which an entity expects no further change: the Store keeps at most `max_finished_rows` of them
    # per kind, dropping the ones finished longest ago; unfinished entities are never dropped.
    finished: frozenset[str] = frozenset()
    # A row whose field of this name is true is finished too, whatever its status (Captain's indexing jobs: `done`).
    finished_flag: str | None = None
    overview: bool = True  # counted by status on the Overview's activity board


class Tab(NamedTuple):
    """A tab of the monitor that shows this vendor: its id, its label, and its pane as "module:Class"."""

    id: str
    label: str
    pane: str


class KeyEnvironment(NamedTuple):
    """An environment a vendor's keys are scoped to, told by the key's prefix (Captain: `cap_prod_` is production).
    The header shows the one the configured key reaches as a badge."""

    prefix: str  # "cap_prod_"
    name: str  # the vendor's word for it: "production"
    badge: str  # the header's badge: "PROD"
    level: Literal["prod", "stage", "dev"]  # how loud the badge is: red, amber, green (styles/app.tcss .env-<level>)


class Vendor(NamedTuple):
    name: str  # "capx": the config section, the event `service`, the channels' prefix
    title: str  # "Capx": how people write it
    default_base_url: str
    key_prefixes: tuple[str, ...]  # an API key of this vendor starts with one of these
    kinds: tuple[Kind, ...] = ()
    webhooks: bool = False  # it signs webhooks: a `webhook_secret` setting and a route on the receiver
    alert_types: frozenset[str] = frozenset()  # event types that are alerts
    alert_statuses: frozenset[str] = frozenset()  # an event whose entity reaches one of these is an alert
    integration: str = ""  # "module:Class" of its Integration, imported only when the service is on
    settings: str = ""  # "module:Class" of its config section
    tabs: tuple[Tab, ...] = ()
    # How its events look in the event tables: its name in this Rich style (a colour: not a grey, nor dim, which
    # read under 3:1 on light themes), and the types that stand out in theirs (a failure is red without saying).
    style: str = ""
    type_styles: Mapping[str, str] = MappingProxyType({})
    environments: tuple[KeyEnvironment, ...] = ()  # the environments its keys reach, by prefix

    def environment_of(self, api_key: str | None) -> KeyEnvironment | None:
        """The environment a key of this vendor reaches, from its prefix; None without a key or a known prefix."""
        for environment in self.environments:
            if api_key and api_key.startswith(environment.prefix):
                return environment
        return None

    @property
    def env_prefix(self) -> str:
        """`CAPX_`: its environment variables are CAPX_API_KEY, CAPX_BASE_URL, ..."""
        return f"{self.name.upper()}_"

    def integration_class(self) -> type:
        """Its `tui.live.integration.Integration` subclass, importing its module (client, channels) now."""
        return load(self.integration)


def load(reference: str) -> Any:
    """The object a "module:attribute" string names, importing its module on first use."""
    module, _, attribute = reference.partition(":")
    return getattr(import_module(module), attribute)
