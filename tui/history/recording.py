"""Where a running capwatch records: the History its config names, hooked to a Store (tui/live/recording.py).

The monitor and `capwatch tail` record (each is a live process whose events an operator will want back);
`capwatch status` does not (a one-shot snapshot, nothing an incident needs). `capwatch demo` records into its
own file next to the default one (`demo-history.sqlite3`), never into the operator's history: a demo's invented
events must not turn up in a post-mortem; `--history` on the demo's command line still wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from tui.history.setting import FILE_NAME, HistorySetting, default_path, parse_setting

if TYPE_CHECKING:
    from tui.config import Config
    from tui.history.core import History

DEMO_FILE_NAME = "demo-" + FILE_NAME


def demo_setting() -> HistorySetting:
    """The demo's history: `demo-history.sqlite3` beside the default history file."""
    return HistorySetting("sqlite", path=default_path().with_name(DEMO_FILE_NAME))


def config_secrets(config: Config) -> Iterator[str]:
    """Every key and webhook secret in the config: the history masks them should one reach a payload."""
    from tui.config.settings import Secret

    for section in config.services().values():
        for name in type(section).settings:
            value = getattr(section, name, None)
            if isinstance(value, Secret) and value:
                yield value.get_secret_value()


def setting_for(config: Config, *, demo: bool = False, explicit: bool = False) -> HistorySetting:
    """The history a process records into: the config's, or for the demo its own file unless `explicit` (the
    demo's own `--history` flag) says otherwise."""
    if demo and not explicit:
        return demo_setting()
    return parse_setting(config.history)


def open_history(config: Config, *, demo: bool = False, explicit: bool = False) -> History | None:
    """The History to record into (its writer thread starts with the first event), or None when history is off."""
    setting = setting_for(config, demo=demo, explicit=explicit)
    if not setting.enabled:
        return None
    from tui.history.core import History

    return History(setting, secrets=config_secrets(config))
