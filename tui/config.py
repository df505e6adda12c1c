"""Configuration: one pydantic model, from a TOML file, then environment variables, then flags (later wins).

A service with no API key is off, not an error. Every problem is one `ConfigError` that names the source
(file, variable or flag), the field and what is wrong, and never contains a secret.
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping
from uuid import UUID

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tui.text import mask_secret

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
VENDOR_NAMES = {"capout": "CapOut", "casmo": "Casmo", "capx": "Capx", "captain": "Captain"}

# (environment variable, dotted field)
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
}
FLAGS = {
    "read_only": "read_only",
    "transport": "capout.transport",
    "webhook_host": "webhooks.host",
    "webhook_port": "webhooks.port",
    "profile": "profile",
}


class ConfigError(Exception):
    """One clear message: where (file, variable or flag), which field, what is wrong."""


def default_config_path(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "capwatch" / "config.toml"


# --------------------------------------------------------------------------------------------- the model


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class _Service(_Section):
    VENDOR: str = ""
    base_url: str = ""
    api_key: SecretStr | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value) if value else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def enabled(self) -> bool:
        return self.api_key is not None

    @property
    def api_key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None


class CapOutSettings(_Service):
    base_url: str = DEFAULT_BASE_URLS["capout"]
    transport: Literal["ws", "sse"] = "ws"
    recent: int = Field(50, ge=0, le=1000)
    xn_address: str = ""  # default address offered when uploading


class CasmoSettings(_Service):
    base_url: str = DEFAULT_BASE_URLS["casmo"]
    webhook_secret: SecretStr | None = None


class CapxSettings(_Service):
    base_url: str = DEFAULT_BASE_URLS["capx"]
    webhook_secret: SecretStr | None = None
    companies: list[str] = Field(default_factory=list)  # empty: watch every company


class CaptainSettings(_Service):
    base_url: str = DEFAULT_BASE_URLS["captain"]
    organization_id: str | None = None

    @field_validator("organization_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            UUID(value)
        except ValueError:
            raise ValueError("must be a UUID such as 01999eb7-8554-5c7b-6321-066454166af2") from None
        return value


class WebhookSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)  # 0: pick a free port


class Config(_Section):
    profile: str = "default"
    read_only: bool = False
    timeline_size: int = Field(10_000, ge=100, le=1_000_000)
    capout: CapOutSettings = Field(default_factory=CapOutSettings)
    casmo: CasmoSettings = Field(default_factory=CasmoSettings)
    capx: CapxSettings = Field(default_factory=CapxSettings)
    captain: CaptainSettings = Field(default_factory=CaptainSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    def services(self) -> dict[str, _Service]:
        return {"capout": self.capout, "casmo": self.casmo, "capx": self.capx, "captain": self.captain}


def describe(config: Config) -> dict[str, Any]:
    """The config with every secret masked: for display and logs."""

    def masked(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return mask_secret(value.get_secret_value())
        if isinstance(value, dict):
            return {k: masked(v) for k, v in value.items()}
        return value

    return masked(config.model_dump())


# --------------------------------------------------------------------------------------------- loading


@dataclass
class LoadedConfig:
    config: Config
    path: Path | None
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
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        warnings.append(f"{path} is readable by other users; it may hold API keys: chmod 600 {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except PermissionError:
        raise ConfigError(f"{path}: permission denied reading the config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


def _coerce_env(dotted: str, value: str) -> Any:
    if dotted == "read_only":
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


def load_config(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    env = os.environ if env is None else env
    warnings: list[str] = []
    sources: dict[str, str] = {}
    explicit = getattr(args, "config", None) if args is not None else None
    if explicit:
        path, required = Path(explicit).expanduser(), True
    elif env.get("CAPWATCH_CONFIG"):
        path, required = Path(env["CAPWATCH_CONFIG"]).expanduser(), True
    else:
        path, required = default_config_path(env), False
    tree = _read_file(path, required=required, warnings=warnings) if str(path) != os.devnull else {}

    def walk(node: Any, prefix: str = "") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                dotted = f"{prefix}{key}"
                if isinstance(value, dict):
                    walk(value, dotted + ".")
                else:
                    sources[dotted] = str(path)

    walk(tree)
    for variable, dotted in ENVIRONMENT.items():
        value = env.get(variable)
        if value not in (None, ""):
            _set(tree, dotted, _coerce_env(dotted, value))
            sources[dotted] = f"environment variable {variable}"
    if args is not None:
        for attribute, dotted in FLAGS.items():
            value = getattr(args, attribute, None)
            if value is not None:
                _set(tree, dotted, value)
                sources[dotted] = f"flag --{attribute.replace('_', '-')}"
    try:
        config = Config.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(_explain(error, sources, path)) from None
    _check_vendor_keys(config, sources, path)
    if config.captain.enabled and not config.captain.organization_id:
        warnings.append("Captain has an API key but no organization id (CAPTAIN_ORGANIZATION_ID): it stays off")
        config.captain.api_key = None
    return LoadedConfig(config=config, path=None if str(path) == os.devnull else path, warnings=warnings,
                        sources=sources)


def _explain(error: ValidationError, sources: dict[str, str], path: Path) -> str:
    first = error.errors()[0]
    dotted = ".".join(str(part) for part in first["loc"])
    where = sources.get(dotted) or str(path)
    if first["type"] == "extra_forbidden":
        return f"{path}: unknown setting {dotted!r} (check its spelling; see `capwatch init` for a valid file)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "literal_error":
        message = f"must be one of {first['ctx']['expected']}"
    return f"{where}: {dotted} {message}"


def _check_vendor_keys(config: Config, sources: dict[str, str], path: Path) -> None:
    for name, service in config.services().items():
        key = service.api_key_value
        if not key or key.startswith(KEY_PREFIXES[name]):
            continue
        owner = next((other for other, prefixes in KEY_PREFIXES.items() if key.startswith(prefixes)), None)
        where = sources.get(f"{name}.api_key") or str(path)
        expected = " or ".join(f"{p}..." for p in KEY_PREFIXES[name])
        if owner:
            raise ConfigError(f"{where}: {name}.api_key looks like a {VENDOR_NAMES[owner]} key, "
                              f"not a {VENDOR_NAMES[name]} key (expected {expected})")
        raise ConfigError(f"{where}: {name}.api_key does not look like a {VENDOR_NAMES[name]} key "
                          f"(expected {expected})")


# --------------------------------------------------------------------------------------------- init


def _ask(prompt: str, default: str = "", *, secret: bool = False) -> str:
    shown = f" [{default}]" if default and not secret else ""
    answer = getpass.getpass(f"{prompt}: ") if secret else input(f"{prompt}{shown}: ")
    return answer.strip() or default


def run_init(args: argparse.Namespace) -> int:
    env = os.environ
    path = Path(args.config).expanduser() if args.config else (
        Path(env["CAPWATCH_CONFIG"]).expanduser() if env.get("CAPWATCH_CONFIG") else default_config_path(env))
    if path.exists() and not args.force:
        print(f"capwatch init: {path} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    interactive = sys.stdin.isatty()
    tree: dict[str, Any] = {}
    for name in ("capout", "casmo", "capx", "captain"):
        base = getattr(args, f"{name}_base_url", None)
        key = getattr(args, f"{name}_api_key", None)
        if interactive and key is None:
            key = _ask(f"{VENDOR_NAMES[name]} API key (empty: off)", secret=True)
            if key and base is None:
                base = _ask(f"{VENDOR_NAMES[name]} base URL", DEFAULT_BASE_URLS[name])
        section: dict[str, Any] = {}
        if base and base != DEFAULT_BASE_URLS[name]:
            section["base_url"] = base
        if key:
            section["api_key"] = key
        if section:
            tree[name] = section
    organization = args.captain_organization_id
    if interactive and organization is None and "api_key" in tree.get("captain", {}):
        organization = _ask("Captain organization id (UUID)")
    if organization:
        tree.setdefault("captain", {})["organization_id"] = organization
    for name in ("casmo", "capx"):
        secret = getattr(args, f"{name}_webhook_secret", None)
        if interactive and secret is None and "api_key" in tree.get(name, {}):
            secret = _ask(f"{VENDOR_NAMES[name]} webhook secret (empty: none)", secret=True)
        if secret:
            tree.setdefault(name, {})["webhook_secret"] = secret
    if args.transport:
        tree.setdefault("capout", {})["transport"] = args.transport
    if args.webhook_host or args.webhook_port is not None:
        webhooks = tree.setdefault("webhooks", {})
        if args.webhook_host:
            webhooks["host"] = args.webhook_host
        if args.webhook_port is not None:
            webhooks["port"] = args.webhook_port
    if args.read_only:
        tree["read_only"] = True
    try:
        config = Config.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(_explain(error, {}, path)) from None
    _check_vendor_keys(config, {k: f"flag --{k.replace('.', '-').replace('_', '-')}" for k in ENVIRONMENT.values()},
                       path)
    write_config(path, tree, force=args.force)
    enabled = [VENDOR_NAMES[n] for n, s in config.services().items() if s.enabled] or ["none"]
    print(f"wrote {path} (mode 0600); services on: {', '.join(enabled)}")
    for name, service in config.services().items():
        if service.enabled:
            print(f"  {name:<8} {service.base_url}  key {mask_secret(service.api_key_value)}")
    return 0


def write_config(path: Path, tree: dict[str, Any], *, force: bool) -> None:
    """Write TOML readable by the owner only: created 0600 (never briefly wider), in a 0700 directory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = tomli_w.dumps(tree).encode()
    if force and path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    else:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise ConfigError(f"{path}: exists; use --force to overwrite it") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
