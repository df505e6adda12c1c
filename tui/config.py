"""Configuration: one typed model, from a TOML file, then environment variables, then flags (later wins).

Where the file is: `--config PATH`, else `$CAPWATCH_CONFIG`, else `$XDG_CONFIG_HOME/capwatch/config.toml`
(default `~/.config/capwatch/config.toml`). A missing default file is an empty config; a missing file that was
named explicitly is an error. The file looks like this (every setting optional):

    profile = "default"          # shown in the header
    read_only = false            # refuse every mutating action
    timeline_size = 10000        # events kept in the timeline
    max_finished_rows = 10000    # finished documents, tasks, runs, jobs kept per kind (older ones dropped)
    max_output_kbps = 24         # screen updates paced to this many KB/s written (0: no limit)

    [capout]                     # no api_key: the service is off
    base_url = "https://api.capout.ai"
    api_key = "capout_..."
    transport = "ws"             # or "sse"
    recent = 50                  # documents backfilled when the realtime stream opens
    xn_address = ""              # offered by default when uploading

    [casmo]
    base_url = "https://api.casmoai.com"
    api_key = "cai_..."
    webhook_secret = "..."

    [capx]
    base_url = "https://api.capx.ai/v1"
    api_key = "capx_sk_..."
    webhook_secret = "..."
    companies = []               # company ids to watch; empty: all

    [captain]
    base_url = "https://api.runcaptain.com"
    api_key = "cap_dev_..."      # or cap_stage_ / cap_prod_
    organization_id = "..."      # a UUID; Captain stays off without it

    [webhooks]                   # the local receiver for Casmo and Capx webhooks
    host = "127.0.0.1"
    port = 8787                  # 0: pick a free port

Every problem is one `ConfigError` naming the source (file, environment variable or flag), the dotted field and
what is wrong. No message, repr or str ever contains a secret.

The model is small hand-written classes, not pydantic: importing pydantic and building the models took about 100 ms
of the monitor's startup, before its first frame. They keep what pydantic did here (lax coercion such as "8787" to
8787, unknown settings refused, assignments validated), so every message stays the same.
"""

from __future__ import annotations

import argparse
import getpass
import math
import os
import re
import stat
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, NamedTuple
from urllib.parse import urlsplit
from uuid import UUID

from tui.text import mask_secret, sanitize

SERVICES = ("capout", "casmo", "capx", "captain")
VENDOR_NAMES = {"capout": "CapOut", "casmo": "Casmo", "capx": "Capx", "captain": "Captain"}
DEFAULT_BASE_URLS = {
    "capout": "https://api.capout.ai",
    "casmo": "https://api.casmoai.com",
    "capx": "https://api.capx.ai/v1",
    "captain": "https://api.runcaptain.com",
}
KEY_PREFIXES = {
    "capout": ("capout_",),
    "casmo": ("cai_",),
    "capx": ("capx_sk_",),
    "captain": ("cap_dev_", "cap_stage_", "cap_prod_"),
}
DEFAULT_WEBHOOK_HOST = "127.0.0.1"  # loopback: webhooks reach it through a tunnel the user runs
DEFAULT_WEBHOOK_PORT = 8787
SECRET_FIELDS = ("api_key", "webhook_secret")

# Environment variable -> dotted field. These names are a contract (the simulator's --print-env uses them).
ENVIRONMENT = {
    "CAPOUT_BASE_URL": "capout.base_url",
    "CAPOUT_API_KEY": "capout.api_key",
    "CASMO_BASE_URL": "casmo.base_url",
    "CASMO_API_KEY": "casmo.api_key",
    "CASMO_WEBHOOK_SECRET": "casmo.webhook_secret",
    "CAPX_BASE_URL": "capx.base_url",
    "CAPX_API_KEY": "capx.api_key",
    "CAPX_WEBHOOK_SECRET": "capx.webhook_secret",
    "CAPTAIN_BASE_URL": "captain.base_url",
    "CAPTAIN_API_KEY": "captain.api_key",
    "CAPTAIN_ORGANIZATION_ID": "captain.organization_id",
    "CAPWATCH_WEBHOOK_HOST": "webhooks.host",
    "CAPWATCH_WEBHOOK_PORT": "webhooks.port",
    "CAPWATCH_READ_ONLY": "read_only",
    "CAPWATCH_CAPOUT_TRANSPORT": "capout.transport",
    "CAPWATCH_PROFILE": "profile",
    "CAPWATCH_MAX_FINISHED_ROWS": "max_finished_rows",
    "CAPWATCH_MAX_OUTPUT_KBPS": "max_output_kbps",
}
# Attribute of the parsed command line (see tui.cli._add_config_flags) -> dotted field; None means "not given".
FLAGS = {
    "read_only": "read_only",
    "transport": "capout.transport",
    "webhook_host": "webhooks.host",
    "webhook_port": "webhooks.port",
    "profile": "profile",
}
# `capwatch init` takes every field it writes as a flag, named after the field.
INIT_FLAGS = {
    **{f"{name}_{part}": f"{name}.{part}" for name in SERVICES for part in ("base_url", "api_key")},
    "captain_organization_id": "captain.organization_id",
    "casmo_webhook_secret": "casmo.webhook_secret",
    "capx_webhook_secret": "capx.webhook_secret",
    **FLAGS,
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class ConfigError(Exception):
    """One clear message: where (file, variable or flag), which field, what is wrong. Never a secret."""


def flag_name(attribute: str) -> str:
    return "--" + attribute.replace("_", "-")


def default_config_path(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
        base = str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "capwatch" / "config.toml"


def chosen_config_path(explicit: str | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The file to use and whether it must exist (it must when the user named it)."""
    if explicit:
        return Path(explicit).expanduser(), True
    if env.get("CAPWATCH_CONFIG"):
        return Path(env["CAPWATCH_CONFIG"]).expanduser(), True
    return default_config_path(env), False


# --------------------------------------------------------------------------------------------- the model
# Not pydantic (see the module docstring): the rules below are the ones pydantic applied to these settings, down to
# its error order, so the messages did not change.


class Secret:
    """A key or webhook secret: masked in every repr and str; the value only through `get_secret_value()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class _Problem(NamedTuple):
    loc: tuple  # where: ("webhooks", "port"), ("capx", "companies", 0)
    text: str  # what is wrong, in words; never the value (it may be a secret)
    unknown: bool = False  # a setting the model does not have


class InvalidConfig(ValueError):
    """Values that do not fit the model (from building one or assigning a setting): every problem, in the order the
    settings are declared, each section's unknown names after its other problems."""

    def __init__(self, problems: list[_Problem]):
        super().__init__("; ".join(f"{_dotted(problem.loc)} {problem.text}" for problem in problems))
        self.problems = problems


class _Wrong(ValueError):
    """What is wrong with a value, in words; `at` locates the bad part inside it (a list item's index)."""

    def __init__(self, text: str, *at: int):
        super().__init__(text)
        self.at = at


# The coercions pydantic's lax mode made: "8787" and 8787.0 are 8787, 1 is 1.0, "yes" is True. Where a message is
# pydantic's own wording ("Input should be ..."), it is kept as it was shown.
_WHOLE_NUMBER = "must be a whole number"
_INTEGER_TEXT = re.compile(r"[+-]?\d+(?:_\d+)*(?:\.0+)?", re.ASCII)  # "8787", "+8_787", "8787.0"
_TRUE_WORDS = ("1", "on", "t", "true", "y", "yes")  # any case, as they are (no stripping)
_FALSE_WORDS = ("0", "off", "f", "false", "n", "no")


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Wrong("must be a string")
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, int):  # True and False too, as 1 and 0
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Wrong("Input should be a finite number")
        if not value.is_integer():
            raise _Wrong(_WHOLE_NUMBER)
        if abs(value) >= 2**63:  # beyond a 64-bit integer
            raise _Wrong("Unable to parse input string as an integer, exceeded maximum size")
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value.strip().partition(".")[0])
    raise _Wrong(_WHOLE_NUMBER)


def _as_float(value: Any) -> float:
    if isinstance(value, (int, float)):  # bool too
        try:
            return float(value)
        except OverflowError:
            raise _Wrong("Input should be a valid number") from None
    if not isinstance(value, str):
        raise _Wrong("Input should be a valid number")
    text = value.strip()
    try:
        if text.isascii():  # float() would also read other scripts' digits
            return float(text)
    except ValueError:
        pass
    raise _Wrong("Input should be a valid number, unable to parse string as a number")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.lower() in (*_TRUE_WORDS, *_FALSE_WORDS):
        return value.lower() in _TRUE_WORDS
    raise _Wrong("must be true or false")


def _as_strings(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise _Wrong("must be a list")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _Wrong("must be a string", index)
    return list(value)


def _as_secret(value: Any) -> Secret | None:
    """Strip the whitespace a paste brings along; empty means not set; refuse what would break a header."""
    if isinstance(value, Secret):
        value = value.get_secret_value()
    value = _as_str(value).strip()
    if not value:
        return None
    if not value.isprintable() or any(c.isspace() for c in value):
        raise _Wrong("contains spaces or control characters (a bad paste?)")
    return Secret(value)


_COERCIONS: dict[Any, Callable[[Any], Any]] = {
    str: _as_str, int: _as_int, float: _as_float, bool: _as_bool, list: _as_strings, Secret: _as_secret,
}


class Setting:
    """One declared setting: its kind, its default and the rules its value must meet.

    `kind` is str, int, float, bool, list (of strings), Secret or a section class. A None default also allows None
    as a value; `factory` makes a fresh default each time (a list, a section). `choices` are the only values allowed,
    taken as they are (no coercion). `bounds` are inclusive. `check` runs last, on a value of the right kind: it
    returns the value to keep (cleaned) or raises ValueError saying what is wrong.
    """

    def __init__(self, kind: Any, default: Any = None, *, factory: Callable[[], Any] | None = None,
                 choices: tuple | None = None, bounds: tuple[float, float] | None = None,
                 check: Callable[[Any], Any] | None = None):
        self.kind = kind
        self.default = default
        self.factory = factory
        self.choices = choices
        self.bounds = bounds
        self.check = check
        self.nullable = default is None and factory is None

    def new_default(self) -> Any:
        return self.factory() if self.factory else self.default

    def validate(self, value: Any, loc: tuple, problems: list[_Problem]) -> Any:
        """`value` as this setting holds it; what is wrong goes to `problems` (and None is returned)."""
        if value is None and self.nullable:
            return None
        try:
            if isinstance(self.kind, type) and issubclass(self.kind, _Section):
                return self.kind._from(value, loc, problems)
            if self.choices is not None:
                if value not in self.choices:
                    raise _Wrong(f"must be one of {_one_of(self.choices)}")
            else:
                value = _COERCIONS[self.kind](value)
            if self.bounds is not None:
                low, high = self.bounds
                if not low <= value <= high:  # NaN is not in any bounds
                    raise _Wrong(f"must be between {low} and {high}")
            return self.check(value) if self.check else value
        except ValueError as problem:  # a _Wrong, or a check's own ValueError
            problems.append(_Problem((*loc, *getattr(problem, "at", ())), str(problem)))
        return None


def _one_of(choices: tuple) -> str:
    """'a', 'b' or 'c', as pydantic wrote a Literal's values."""
    shown = [repr(choice) for choice in choices]
    return f"{', '.join(shown[:-1])} or {shown[-1]}" if len(shown) > 1 else shown[0]


class _Section:
    """A table of settings, declared as `name = Setting(...)` class attributes and held as instance attributes.

    Built from keyword arguments (or a table, nested); assigning a setting validates it too. Unlike the wire models,
    unknown settings are refused: a typo must not silently do nothing.
    """

    _settings: ClassVar[dict[str, Setting]] = {}  # name -> Setting, in declaration order (a base class's first)

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        settings: dict[str, Setting] = {}
        for klass in reversed(cls.__mro__):  # an override keeps the place of the setting it overrides
            settings.update((name, value) for name, value in vars(klass).items() if isinstance(value, Setting))
        cls._settings = settings

    def __init__(self, /, **values: Any):
        problems: list[_Problem] = []
        self._fill(values, (), problems)
        if problems:
            raise InvalidConfig(problems)

    @classmethod
    def _from(cls, value: Any, loc: tuple, problems: list[_Problem]) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise _Wrong("must be a table of settings")
        section = cls.__new__(cls)
        section._fill(value, loc, problems)
        return section

    def _fill(self, values: Mapping[str, Any], loc: tuple, problems: list[_Problem]) -> None:
        for name, setting in self._settings.items():
            value = setting.validate(values[name], (*loc, name), problems) if name in values else setting.new_default()
            object.__setattr__(self, name, value)
        problems.extend(_Problem((*loc, name), "is not a setting", unknown=True)
                        for name in values if name not in self._settings)
        object.__setattr__(self, "_given", {name for name in values if name in self._settings})

    def __setattr__(self, name: str, value: Any) -> None:
        setting = self._settings.get(name)
        if setting is None:
            raise InvalidConfig([_Problem((name,), "is not a setting", unknown=True)])
        problems: list[_Problem] = []
        value = setting.validate(value, (name,), problems)
        if problems:
            raise InvalidConfig(problems)
        object.__setattr__(self, name, value)
        self._given.add(name)

    def as_dict(self, *, given_only: bool = False) -> dict[str, Any]:
        """The settings as plain data (sections as dicts; secrets stay `Secret`). `given_only`: only the settings
        that were given or assigned, not those left at their default."""
        data = {}
        for name in self._settings:
            if given_only and name not in self._given:
                continue
            value = getattr(self, name)
            if isinstance(value, _Section):
                value = value.as_dict(given_only=given_only)
            elif isinstance(value, list):
                value = list(value)
            data[name] = value
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Section):
            return NotImplemented
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self._settings)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _shown(self, separator: str) -> str:
        return separator.join(f"{name}={getattr(self, name)!r}" for name, setting in self._settings.items()
                              if setting.kind is not Secret)  # not even masked: as pydantic's repr=False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._shown(', ')})"

    def __str__(self) -> str:
        return self._shown(" ")


def _check_url(value: str) -> str:
    value = value.strip()
    if not value.isprintable() or " " in value:
        raise ValueError("must be a URL without spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if parts.username or parts.password:  # it would be shown in the header and in `capwatch init`
        raise ValueError("must not contain a user name or password (the key goes in api_key)")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number or out of range
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value.rstrip("/")


def _check_uuid(value: str) -> str | None:
    if not value.strip():
        return None
    try:
        UUID(value.strip())
    except ValueError:
        raise ValueError("must be a UUID such as 01999eb7-8554-5c7b-6321-066454166af2") from None
    return value.strip()


def _check_host(value: str) -> str:
    value = value.strip()
    if not value or not value.isprintable() or " " in value:
        raise ValueError("must be a host name or address such as 127.0.0.1")
    return value


def _check_profile(value: str) -> str:
    value = value.strip()
    if not value or not value.isprintable():
        raise ValueError("must be a non-empty name on one line")
    return value


def _base_url(default: str) -> Setting:
    return Setting(str, default, check=_check_url)


class _Service(_Section):
    base_url = _base_url("")  # each service has its own default
    api_key = Setting(Secret)

    @property
    def enabled(self) -> bool:
        """A service with no API key is off: not an error."""
        return self.api_key is not None

    @property
    def api_key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None


class _WebhookService(_Service):
    webhook_secret = Setting(Secret)


class CapOutSettings(_Service):
    base_url = _base_url(DEFAULT_BASE_URLS["capout"])
    transport = Setting(str, "ws", choices=("ws", "sse"))
    recent = Setting(int, 50, bounds=(0, 1000))
    xn_address = Setting(str, "")  # offered by default when uploading


class CasmoSettings(_WebhookService):
    base_url = _base_url(DEFAULT_BASE_URLS["casmo"])


class CapxSettings(_WebhookService):
    base_url = _base_url(DEFAULT_BASE_URLS["capx"])
    companies = Setting(list, factory=list)  # empty: watch every company


class CaptainSettings(_Service):
    base_url = _base_url(DEFAULT_BASE_URLS["captain"])
    organization_id = Setting(str, check=_check_uuid)


class WebhookSettings(_Section):
    host = Setting(str, DEFAULT_WEBHOOK_HOST, check=_check_host)
    port = Setting(int, DEFAULT_WEBHOOK_PORT, bounds=(0, 65535))  # 0: pick a free port


class Config(_Section):
    profile = Setting(str, "default", check=_check_profile)
    read_only = Setting(bool, False)
    timeline_size = Setting(int, 10_000, bounds=(100, 1_000_000))
    max_finished_rows = Setting(int, 10_000, bounds=(100, 10_000_000))
    max_output_kbps = Setting(float, 24.0, bounds=(0, 1_000_000))
    capout = Setting(CapOutSettings, factory=CapOutSettings)
    casmo = Setting(CasmoSettings, factory=CasmoSettings)
    capx = Setting(CapxSettings, factory=CapxSettings)
    captain = Setting(CaptainSettings, factory=CaptainSettings)
    webhooks = Setting(WebhookSettings, factory=WebhookSettings)

    def services(self) -> dict[str, _Service]:
        return {name: getattr(self, name) for name in SERVICES}


def describe(config: Config) -> dict[str, Any]:
    """The config as plain data with every secret masked (last four characters): for display."""
    data = config.as_dict()
    for name, service in config.services().items():
        section = data[name]
        section["enabled"] = service.enabled
        for secret in SECRET_FIELDS:
            if secret in section:
                value = section[secret]
                section[secret] = mask_secret(value.get_secret_value() if value is not None else None)
    return data


# --------------------------------------------------------------------------------------------- loading


@dataclass
class LoadedConfig:
    config: Config
    path: Path | None  # the file used (it may not exist: then the config is the defaults); None for /dev/null
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # dotted field -> where its value came from


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _read_file(path: Path, *, required: bool, warnings: list[str]) -> dict[str, Any]:
    try:
        info = path.stat()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such config file") from None
        return {}
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        warnings.append(f"{path} is readable by other users and may hold API keys; chmod 600 {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except PermissionError:
        raise ConfigError(f"{path}: permission denied reading the config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the config file is not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(_toml_message(path, str(error))) from None


def _toml_message(path: Path, message: str) -> str:
    """`path, line 3: invalid TOML: ...` from tomllib's `... (at line 3, column 7)`."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if not found:
        return f"{path}: invalid TOML: {message}"
    return f"{path}, line {found[1]}: invalid TOML: {message[:found.start()]} (column {found[2]})"


def _environment_value(variable: str, dotted: str, value: str) -> Any:
    value = value.strip()
    if dotted == "read_only":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"environment variable {variable}: read_only must be one of 1/0, true/false, yes/no")
    return value


def load_config(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """The config from the file, then the environment, then `args` (flags; None values are "not given")."""
    env = os.environ if env is None else env
    warnings: list[str] = []
    sources: dict[str, str] = {}
    path, required = chosen_config_path(getattr(args, "config", None), env)
    empty = str(path) == os.devnull  # `--config /dev/null`: no file at all (the demo uses it)
    tree = {} if empty else _read_file(path, required=required, warnings=warnings)
    for section in (*SERVICES, "webhooks"):
        if not isinstance(tree.get(section, {}), dict):  # the environment and flags are merged into these
            raise ConfigError(f"{path}: {section} must be a table of settings, written [{section}]")
    for dotted in _leaves(tree):
        sources[dotted] = str(path)
    for variable, dotted in ENVIRONMENT.items():
        value = env.get(variable)
        if value is not None and value.strip():
            _set(tree, dotted, _environment_value(variable, dotted, value))
            sources[dotted] = f"environment variable {variable}"
    for attribute, dotted in FLAGS.items():
        value = getattr(args, attribute, None)
        if value is not None:
            _set(tree, dotted, value)
            sources[dotted] = f"flag {flag_name(attribute)}"
    config = _validate(tree, sources, str(path))
    warnings.extend(_settle(config, sources))
    return LoadedConfig(config=config, path=None if empty else path, warnings=warnings, sources=sources)


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in tree.items():
        if isinstance(value, dict):
            found.extend(_leaves(value, f"{prefix}{key}."))
        else:
            found.append(f"{prefix}{key}")
    return found


def _validate(tree: dict[str, Any], sources: Mapping[str, str], default_source: str) -> Config:
    try:
        config = Config(**tree)
    except InvalidConfig as error:
        raise ConfigError(_explain(error.problems, sources, default_source)) from None
    _check_vendor_keys(config, sources, default_source)
    return config


def _settle(config: Config, sources: Mapping[str, str]) -> list[str]:
    """Warnings for a config that is valid but will not do what it seems to; Captain without its org id is off."""
    warnings = []
    if config.captain.enabled and not config.captain.organization_id:
        where = sources.get("captain.api_key", "")
        warnings.append(f"Captain has an API key ({where}) but no organization id "
                        "(captain.organization_id or CAPTAIN_ORGANIZATION_ID): Captain stays off")
        config.captain.api_key = None
    return warnings


def _dotted(loc: tuple) -> str:
    return sanitize(".".join(str(part) for part in loc), single_line=True)


def _explain(problems: list[_Problem], sources: Mapping[str, str], default_source: str) -> str:
    unknown = [_dotted(problem.loc) for problem in problems if problem.unknown]
    if unknown:  # only a file can hold unknown names: the environment and flags map to known fields
        names = ", ".join(repr(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        return (f"{default_source}: unknown setting{plural} {names} "
                "(check the spelling; `capwatch init` writes a valid file)")
    first = problems[0]
    dotted = _dotted(first.loc)
    # An error inside a list item (capx.companies.0) came from where the list came from.
    where = next((sources[p] for p in _prefixes(dotted) if p in sources), default_source)
    return f"{where}: {dotted} {first.text}"


def _prefixes(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _key_problem(name: str, key: str) -> str | None:
    """Why `key` cannot be `name`'s API key, or None. Names the vendor it belongs to, never the key itself."""
    if key.startswith(KEY_PREFIXES[name]):
        return None
    expected = " or ".join(f"{prefix}..." for prefix in KEY_PREFIXES[name])
    owner = next((other for other, prefixes in KEY_PREFIXES.items() if key.startswith(prefixes)), None)
    if owner:
        return f"looks like a {VENDOR_NAMES[owner]} key, not a {VENDOR_NAMES[name]} key (those start {expected})"
    return f"does not look like a {VENDOR_NAMES[name]} key (those start {expected})"


def _check_vendor_keys(config: Config, sources: Mapping[str, str], default_source: str) -> None:
    for name, service in config.services().items():
        problem = _key_problem(name, service.api_key_value) if service.enabled else None
        if problem:
            where = sources.get(f"{name}.api_key", default_source)
            raise ConfigError(f"{where}: {name}.api_key {problem}")


# --------------------------------------------------------------------------------------------- init


def run_init(
    args: argparse.Namespace,
    *,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
    ask_secret: Callable[[str], str] = getpass.getpass,
) -> int:
    """`capwatch init`: write a config file, owner-only. On a terminal, ask for what no flag gave.

    `interactive`, `ask` and `ask_secret` are seams for tests; by default the terminal decides.
    """
    path, _ = chosen_config_path(getattr(args, "config", None), os.environ)
    force = bool(getattr(args, "force", False))
    if os.path.lexists(path) and not force:
        print(f"capwatch init: {path} already exists; nothing written (--force overwrites it)", file=sys.stderr)
        return 1
    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for attribute, dotted in INIT_FLAGS.items():
        value = getattr(args, attribute, None)
        if value is not None:
            _set(tree, dotted, value)
            sources[dotted] = f"flag {flag_name(attribute)}"
    if sys.stdin.isatty() if interactive is None else interactive:
        try:
            _Interview(tree, ask, ask_secret).run()
        except (EOFError, KeyboardInterrupt):
            print("\ncapwatch init: cancelled; nothing written", file=sys.stderr)
            return 1
    config = _validate(tree, sources, "capwatch init")
    content = _file_content(config)
    warnings = _settle(config, sources)
    write_config(path, content, force=force)
    print(f"wrote {path} (mode 0600)")
    for name, service in config.services().items():
        state = f"on   {service.base_url}  key {mask_secret(service.api_key_value)}" if service.enabled else "off"
        print(f"  {VENDOR_NAMES[name]:<8} {state}")
    for warning in warnings:
        print(f"capwatch init: {warning}", file=sys.stderr)
    return 0


class _Interview:
    """The questions `capwatch init` asks on a terminal: only for fields no flag gave; each answer is checked at
    once and asked again when wrong. Keys and secrets are read without echo; an empty key leaves a service off."""

    def __init__(self, tree: dict[str, Any], ask: Callable[[str], str], ask_secret: Callable[[str], str]):
        self.tree = tree
        self.ask = ask
        self.ask_secret = ask_secret

    def given(self, dotted: str) -> bool:
        section, _, leaf = dotted.rpartition(".")
        node = self.tree.get(section, {}) if section else self.tree
        return leaf in node

    def question(self, dotted: str, prompt: str, default: str = "", *, secret: bool = False) -> None:
        if self.given(dotted):
            return
        shown = f" [{default}]" if default else ""
        while True:
            answer = (self.ask_secret if secret else self.ask)(f"{prompt}{shown}: ").strip() or default
            if not answer:
                return
            problem = _answer_problem(dotted, answer)
            if problem is None:
                _set(self.tree, dotted, answer)
                return
            print(f"  {dotted} {problem}; try again", file=sys.stderr)

    def run(self) -> None:
        print("Settings for capwatch (an empty API key leaves that service off).")
        for name in SERVICES:
            vendor = VENDOR_NAMES[name]
            prefixes = "/".join(KEY_PREFIXES[name])
            self.question(f"{name}.api_key", f"{vendor} API key ({prefixes}...)", secret=True)
            if not self.given(f"{name}.api_key"):
                continue
            self.question(f"{name}.base_url", f"{vendor} base URL", DEFAULT_BASE_URLS[name])
            if name == "captain":
                while not self.given("captain.organization_id"):  # Captain does not work without it
                    self.question("captain.organization_id", "Captain organization id (a UUID)")
                    if not self.given("captain.organization_id"):
                        print("  Captain needs its organization id with a key (Ctrl-D cancels)", file=sys.stderr)
            if name == "capout":
                self.question("capout.transport", "CapOut realtime transport, ws or sse", "ws")
            if name in ("casmo", "capx"):
                self.question(f"{name}.webhook_secret", f"{vendor} webhook secret (empty: none)", secret=True)
        if self.given("casmo.api_key") or self.given("capx.api_key"):
            self.question("webhooks.host", "Webhook receiver address", DEFAULT_WEBHOOK_HOST)
            self.question("webhooks.port", "Webhook receiver port (0: any free port)", str(DEFAULT_WEBHOOK_PORT))
        if not self.given("read_only"):
            answer = self.ask("Read-only: refuse every mutating action? [y/N]: ").strip().lower()
            if answer in ("y", "yes"):
                self.tree["read_only"] = True


def _answer_problem(dotted: str, answer: str) -> str | None:
    """Check one answer with the same model and key rules as the file."""
    tree: dict[str, Any] = {}
    _set(tree, dotted, answer)
    try:
        config = Config(**tree)
    except InvalidConfig as error:
        return error.problems[0].text
    section, _, leaf = dotted.rpartition(".")
    if leaf == "api_key":
        return _key_problem(section, getattr(config, section).api_key_value)
    return None


def _file_content(config: Config) -> dict[str, Any]:
    """What `init` writes: the validated values that were given, less those equal to the default (the file stays
    short and follows future defaults)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Secret):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    given = plain(config.as_dict(given_only=True))
    defaults = Config().as_dict()
    content: dict[str, Any] = {}
    for name, value in given.items():
        if isinstance(value, dict):
            section = {k: v for k, v in value.items() if v is not None and v != defaults[name].get(k)}
            if section:
                content[name] = section
        elif value != defaults[name]:
            content[name] = value
    return content


def write_config(path: Path, tree: dict[str, Any], *, force: bool) -> None:
    """Write TOML readable by the owner only: created 0600 (never briefly wider), in a directory made 0700."""
    import tomli_w  # only `init` writes: reading a config does not need it

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = tomli_w.dumps(tree).encode()
    if not force:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # O_EXCL: no symlink followed
        except FileExistsError:
            raise ConfigError(f"{path}: already exists; --force overwrites it") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    # mkstemp creates the file 0600 with O_EXCL; os.replace swaps it in whole, so no reader sees half a file.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
