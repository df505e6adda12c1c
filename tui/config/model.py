"""The settings model: `Config`, its general settings, one section per vendor (each declared by its vendor, in
tui/vendors/<vendor>/settings.py, assembled here from the registry) and the webhook receiver's.

The README's Configuration section shows a whole file; `capwatch init` writes one.
"""

from __future__ import annotations

from typing import Any, Iterator

from tui.config.settings import Section, Setting, VendorSettings, check_host, check_name
from tui.vendors import VENDORS
from tui.vendors.base import Vendor, load


# What `alert_bell` may name besides event-type globs (`costs.*`): the bell rings for these alerts only.
ALERT_BELL_WORDS = {
    "all": "every alert",
    "failure": "an entity failed or is in error (a document, an extraction, an agent)",
    "approval": "a task awaits approval",
}


def alert_bell_words(value: str | None) -> list[str]:
    return [word.strip().lower() for word in (value or "").split(",") if word.strip()]


def check_alert_bell(value: str) -> str:
    for word in alert_bell_words(value):
        if word not in ALERT_BELL_WORDS and "." not in word and "*" not in word:
            raise ValueError(f"{word!r} is neither {', '.join(ALERT_BELL_WORDS)} nor an event type like costs.*")
    return ",".join(alert_bell_words(value))


class WebhookSettings(Section):
    """The local receiver for the vendors that sign webhooks: loopback by default (webhooks reach it through a
    tunnel the operator runs)."""

    host = Setting(str, "127.0.0.1", check=check_host, env="CAPWATCH_WEBHOOK_HOST", flag="webhook_host",
                   ask="Webhook receiver address")
    port = Setting(int, 8787, bounds=(0, 65535), env="CAPWATCH_WEBHOOK_PORT", flag="webhook_port",
                   ask="Webhook receiver port (0: any free port)")


def check_history(value: str) -> str:
    """Where the event history lives (tui/history/setting.py says the forms): checked here, so a wrong value is one
    line naming where it came from, like every other setting."""
    from tui.history.setting import HistorySettingError, parse_setting  # light: the standard library only

    try:
        parse_setting(value)
    except HistorySettingError as error:
        raise ValueError(str(error)) from None
    return value.strip()


def check_source(value: str) -> str:
    """The history database a monitor runs from in team mode (`capwatch --source`): a history the collector writes
    (postgresql://... for a team; a SQLite path works on one machine), never `off`."""
    from tui.history.setting import parse_setting

    if value.strip() and not parse_setting(check_history(value)).enabled:
        raise ValueError("must be the collector's history database (postgresql://... or a path), not off")
    return value.strip()


class Config(Section):
    """Every setting of capwatch. The vendors' sections follow these, in the registry's order, then `webhooks`."""

    profile = Setting(str, "default", check=check_name, env="CAPWATCH_PROFILE", flag="profile")
    read_only = Setting(bool, False, env="CAPWATCH_READ_ONLY", flag="read_only",
                        ask="Read-only: refuse every mutating action?")
    timeline_size = Setting(int, 10_000, bounds=(100, 1_000_000))
    max_finished_rows = Setting(int, 10_000, bounds=(100, 10_000_000), env="CAPWATCH_MAX_FINISHED_ROWS")
    max_output_kbps = Setting(float, 24.0, bounds=(0, 1_000_000), env="CAPWATCH_MAX_OUTPUT_KBPS")
    # The event history: "" (the default SQLite file), a path, sqlite:///PATH, postgresql://... or "off".
    history = Setting(str, "", check=check_history, env="CAPWATCH_HISTORY", flag="history")
    # false: alert toasts (and the bell) start muted, `m` unmutes; the alerts that ring the bell: none by default.
    alert_toasts = Setting(bool, True, env="CAPWATCH_ALERT_TOASTS")
    alert_bell = Setting(str, "", check=check_alert_bell, env="CAPWATCH_ALERT_BELL")
    # Team mode: run from the history database a `capwatch collect` writes ("" : from the vendors directly).
    source = Setting(str, "", check=check_source, env="CAPWATCH_SOURCE", flag="source")

    def services(self) -> dict[str, VendorSettings]:
        """Each vendor's section, by name, in the registry's order."""
        return {vendor.name: getattr(self, vendor.name) for vendor in VENDORS}


def section_class(vendor: Vendor) -> type[VendorSettings]:
    """The class of a vendor's section: the one its declaration names, or just the standard settings."""
    if vendor.settings:
        return load(vendor.settings)
    return type(f"{vendor.title}Settings", (VendorSettings,), {}, vendor=vendor)


for _vendor in VENDORS:
    _class = section_class(_vendor)
    Config.declare(_vendor.name, Setting(_class, factory=_class))
Config.declare("webhooks", Setting(WebhookSettings, factory=WebhookSettings))


def fields() -> Iterator[tuple[str, Setting]]:
    """Every setting as (dotted name, Setting), sections opened, in declaration order."""
    for name, setting in Config.settings.items():
        if setting.is_section:
            for inner, inner_setting in setting.kind.settings.items():
                yield f"{name}.{inner}", inner_setting
        else:
            yield name, setting


SECTIONS = tuple(name for name, setting in Config.settings.items() if setting.is_section)
# Environment variable -> dotted field. These names are a contract (the simulator's --print-env prints them).
ENVIRONMENT: dict[str, str] = {setting.env: dotted for dotted, setting in fields() if setting.env}
# Attribute of the parsed command line (see tui.cli._add_config_flags) -> dotted field; None means "not given".
FLAGS: dict[str, str] = {setting.flag: dotted for dotted, setting in fields() if setting.flag}


def flag_name(attribute: str) -> str:
    return "--" + attribute.replace("_", "-")


def setting_at(dotted: str) -> Setting:
    section, _, leaf = dotted.rpartition(".")
    settings = Config.settings[section].kind.settings if section else Config.settings
    return settings[leaf]


def value_at(config: Config, dotted: str) -> Any:
    target: Any = config
    for part in dotted.split("."):
        target = getattr(target, part)
    return target
