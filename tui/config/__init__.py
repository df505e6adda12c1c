"""Configuration: one typed model, from a TOML file, then environment variables, then flags (later wins).

    settings.py   the settings layer: `Setting`, `Section`, `VendorSettings`, `Secret`, the coercions and checks
    model.py      `Config`: the general settings, each vendor's section (declared in tui/vendors/<vendor>/
                  settings.py, assembled from the registry), the webhook receiver's; the environment variables
    loading.py    `load_config`: the file (read safely), the environment, the flags; one `ConfigError` per problem
    init.py       `capwatch init`: writes a file, keys from the environment, standard input or a silent prompt

The model is small hand-written classes, not pydantic: importing pydantic and building its models took about
100 ms of the monitor's start, before its first frame.
"""

from tui.config.loading import ConfigError, LoadedConfig, chosen_config_path, default_config_path, load_config
from tui.config.model import ENVIRONMENT, FLAGS, Config, WebhookSettings
from tui.config.settings import YES_NO, InvalidConfig, Secret, Setting, VendorSettings


def __getattr__(name: str):
    """`run_init` (tui/config/init.py) loads on first use: the monitor does not need it, nor argparse."""
    if name == "run_init":
        from tui.config.init import run_init

        return run_init
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENVIRONMENT", "FLAGS", "YES_NO", "Config", "ConfigError", "InvalidConfig", "LoadedConfig", "Secret", "Setting",
    "VendorSettings", "WebhookSettings", "chosen_config_path", "default_config_path", "load_config", "run_init",
]
