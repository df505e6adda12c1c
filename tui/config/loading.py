"""Loading the config: a TOML file, then environment variables, then flags (a later source wins).

Where the file is: `--config PATH`, else `$CAPWATCH_CONFIG`, else `$XDG_CONFIG_HOME/capwatch/config.toml`
(default `~/.config/capwatch/config.toml`). A missing default file is an empty config; a missing file that was
named explicitly is an error; `/dev/null` is no file at all (the demo uses it).

Every problem is one `ConfigError` naming the source (file, environment variable or flag), the dotted field and
what is wrong; never a secret. Whatever the file is (a directory, a FIFO, a device, a huge or deeply nested file),
reading it ends at once with one such line.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from tui.config.model import ENVIRONMENT, FLAGS, SECTIONS, Config, flag_name
from tui.config.settings import InvalidConfig, Problem, dotted

if TYPE_CHECKING:
    import argparse

# A capwatch config is about 1 KB; 256 KiB still holds over 6,000 Capx company ids. tomllib reads the whole file
# in pure Python: the slowest 256 KiB of TOML measured (dotted table headers) parses in about 0.5 s, 1 MiB took
# 2.4 s, and with no cap a log or a disk image given by mistake would take minutes and its size in memory.
MAX_FILE_BYTES = 256 * 1024


class ConfigError(Exception):
    """One clear message: where (file, variable or flag), which field, what is wrong. Never a secret."""


class LoadedConfig:
    """The config, and where it came from. A class with slots, not a dataclass: ~0.6 ms less before the monitor's
    first frame."""

    __slots__ = ("config", "path", "warnings", "sources")

    def __init__(self, config: Config, path: Path | None, warnings: list[str] | None = None,
                 sources: dict[str, str] | None = None):
        self.config = config
        self.path = path  # the file used (it may not exist: then the config is the defaults); None for /dev/null
        self.warnings = [] if warnings is None else warnings
        self.sources = {} if sources is None else sources  # dotted field -> where its value came from

    def __repr__(self) -> str:
        return f"LoadedConfig(path={self.path!r}, warnings={self.warnings!r}, sources={self.sources!r})"


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


def load_config(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """The config from the file, then the environment, then `args` (flags; None values are "not given")."""
    env = os.environ if env is None else env
    warnings: list[str] = []
    path, required = chosen_config_path(getattr(args, "config", None), env)
    empty = str(path) == os.devnull
    tree = {} if empty else read_file(path, required=required, warnings=warnings)
    for section in SECTIONS:
        if not isinstance(tree.get(section, {}), dict):  # the environment and flags are merged into these
            raise ConfigError(f"{path}: {section} must be a table of settings, written [{section}]")
    sources = {name: str(path) for name in tree_names(tree)}
    merge_environment(tree, sources, env)
    for attribute, name in FLAGS.items():
        value = getattr(args, attribute, None)
        if value is not None:
            put(tree, name, value)
            sources[name] = f"flag {flag_name(attribute)}"
    config = validate(tree, sources, str(path))
    warnings.extend(settle(config, sources))
    return LoadedConfig(config=config, path=None if empty else path, warnings=warnings, sources=sources)


def merge_environment(tree: dict[str, Any], sources: dict[str, str], env: Mapping[str, str]) -> list[str]:
    """Put every variable of ENVIRONMENT that is set (and not empty) into `tree`; the names it found."""
    found = []
    for variable, name in ENVIRONMENT.items():
        value = env.get(variable)
        if value is not None and value.strip():
            put(tree, name, value.strip())
            sources[name] = f"environment variable {variable}"
            found.append(variable)
    return found


def put(tree: dict[str, Any], name: str, value: Any) -> None:
    """Set the dotted `name` ("webhooks.port") in a tree of tables."""
    section, _, leaf = name.rpartition(".")
    (tree.setdefault(section, {}) if section else tree)[leaf] = value


def tree_names(tree: dict[str, Any]) -> list[str]:
    """The dotted names a file gives: its settings and its sections' settings. The model is two levels deep, so no
    deeper table is walked (an error inside one names the setting that holds it)."""
    names = []
    for key, value in tree.items():
        if isinstance(value, dict):
            names.extend(f"{key}.{inner}" for inner in value)
        else:
            names.append(key)
    return names


# --------------------------------------------------------------------------------------------- the file


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def _refuse_special(path: Path, mode: int) -> None:
    """Only a regular file is read: a FIFO would block for ever, a device might never end."""
    for test, kind in _KINDS:
        if test(mode):
            raise ConfigError(f"{path}: cannot read the config file: it is {kind}, not a file")


def read_file(path: Path, *, required: bool, warnings: list[str]) -> dict[str, Any]:
    """The file's tables, read safely: at most MAX_FILE_BYTES, never blocking, any nesting depth."""
    try:
        _refuse_special(path, os.stat(path).st_mode)  # before opening: opening a device can have effects
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such config file") from None
        return {}
    except PermissionError:
        raise ConfigError(f"{path}: permission denied reading the config file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        _refuse_special(path, info.st_mode)  # it was replaced between the two looks
        if info.st_mode & 0o077:
            warnings.append(f"{path} is readable by other users and may hold API keys; chmod 600 {path}")
        data = read_at_most(fd, MAX_FILE_BYTES)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    finally:
        os.close(fd)
    if data is None:
        raise ConfigError(f"{path}: the config file is over {MAX_FILE_BYTES // 1024} KiB; a capwatch config is a "
                          "few KB (is it the right file?)")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(_toml_message(path, str(error))) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables by recursion
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply for a config") from None


def read_at_most(fd: int, limit: int) -> bytes | None:
    """Everything `fd` holds, or None when it holds more than `limit` bytes."""
    chunks, size = [], 0
    while chunk := os.read(fd, min(65536, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def _toml_message(path: Path, message: str) -> str:
    """`path, line 3: invalid TOML: ...` from tomllib's `... (at line 3, column 7)`."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if not found:
        return f"{path}: invalid TOML: {message}"
    return f"{path}, line {found[1]}: invalid TOML: {message[:found.start()]} (column {found[2]})"


# --------------------------------------------------------------------------------------------- checks


def validate(tree: dict[str, Any], sources: Mapping[str, str], default_source: str) -> Config:
    try:
        config = Config(**tree)
    except InvalidConfig as error:
        raise ConfigError(_explain(error.problems, sources, default_source)) from None
    for name, section in config.services().items():
        problem = section.key_problem(section.api_key_value) if section.enabled else None
        if problem:
            raise ConfigError(f"{sources.get(f'{name}.api_key', default_source)}: {name}.api_key {problem}")
    return config


def settle(config: Config, sources: Mapping[str, str]) -> list[str]:
    """Warnings for a config that is valid but will not do what it seems to: a vendor with a key but without a
    setting it needs (Captain's organization id) stays off."""
    warnings = []
    for name, section in config.services().items():
        for leaf, setting in section.settings.items():
            if section.enabled and setting.needed and getattr(section, leaf) is None:
                title, where = section.vendor.title, sources.get(f"{name}.api_key", "")
                also = f" or {setting.env}" if setting.env else ""
                warnings.append(f"{title} has an API key ({where}) but no {leaf.replace('_', ' ')} "
                                f"({name}.{leaf}{also}): {title} stays off")
                section.api_key = None
    return warnings


def _explain(problems: list[Problem], sources: Mapping[str, str], default_source: str) -> str:
    unknown = [dotted(problem.loc) for problem in problems if problem.unknown]
    if unknown:  # only a file can hold unknown names: the environment and flags map to known fields
        names = ", ".join(repr(name) for name in unknown[:5]) + (f" and {len(unknown) - 5} more" if unknown[5:] else "")
        plural = "s" if len(unknown) > 1 else ""
        return (f"{default_source}: unknown setting{plural} {names} "
                "(check the spelling; `capwatch init` writes a valid file)")
    first = problems[0]
    # An error inside a list item (capx.companies.0) came from where the list came from.
    where = next((sources[name] for name in _prefixes(first.loc) if name in sources), default_source)
    return f"{where}: {dotted(first.loc)} {first.text}"


def _prefixes(loc: tuple) -> list[str]:
    parts = [str(part) for part in loc]
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
