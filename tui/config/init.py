"""`capwatch init`: write a config file, owner-only, from the environment, standard input, flags and questions.

Keys and secrets never come from the command line, where other users see them in `ps` and the shell keeps them
in its history. They come, in this order of strength, from:

- the environment: the variables the monitor reads (CAPX_API_KEY, ...), so a shell or a secrets manager that
  runs the monitor writes a file as it stands;
- standard input, with `--keys-from-stdin`: one `NAME=value` line per setting, NAME one of those variables
  (an `export ` before it, quotes around the value, blank lines and `#` comments are allowed: the lines
  `capwatch sim --print-env` prints work as they are);
- a question on the terminal, read without echo, for each key that neither gave.

The old `--<vendor>-api-key` and `--<vendor>-webhook-secret` flags still work, with a warning that says the safe
way: refusing them would not take the key back out of `ps` or the history (it is there once typed), and would
break the scripts that use them; the warning gets them changed.

Everything else (base URLs, the webhook receiver, read-only, ...) is also taken from flags, and asked for on a
terminal when nothing gave it. Every answer is checked at once, with the rules and messages of the file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

from tui.config.loading import (
    MAX_FILE_BYTES, ConfigError, chosen_config_path, merge_environment, put, settle, tree_names, validate,
)
from tui.config.model import ENVIRONMENT, Config, WebhookSettings, fields, flag_name, setting_at, value_at
from tui.config.settings import InvalidConfig, Secret
from tui.text import mask_secret
from tui.vendors import VENDORS


def _init_flags() -> dict[str, str]:
    """Attribute -> dotted field: a setting's own flag (`--transport`), else `--<section>-<name>` for every setting
    `init` asks for (`--captain-organization-id`)."""
    found = {}
    for name, setting in fields():
        if setting.flag:
            found[setting.flag] = name
        elif setting.ask:
            found[name.replace(".", "_")] = name
    return found


INIT_FLAGS = _init_flags()


def main(argv: list[str], *, config: str | None = None) -> int:
    """`capwatch init ARGS` (tui/cli.py hands it the arguments after `init`, and a `--config` given before it)."""
    parser = build_parser()
    parser.set_defaults(config=config)
    return run_init(parser.parse_args(argv))


def build_parser() -> argparse.ArgumentParser:
    """The flags of `capwatch init`, from the model: a new vendor's settings get theirs with no line here."""
    parser = argparse.ArgumentParser(
        prog="capwatch init", description="Write a config file (mode 0600). Keys come from the environment, from "
        "standard input (--keys-from-stdin) or from a prompt that does not echo them; never from the command line. "
        "On a terminal, it asks for what nothing else gave.")
    parser.add_argument("--config", metavar="PATH",
                        help="where to write it (default: $CAPWATCH_CONFIG or the user config dir)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument("--keys-from-stdin", action="store_true",
                        help="read NAME=value lines from standard input (CAPX_API_KEY=..., one per line): "
                             "keys never go on the command line")
    for attribute, name in INIT_FLAGS.items():
        setting = setting_at(name)
        option = flag_name(attribute)
        if setting.kind is bool:
            parser.add_argument(option, action="store_true", default=None, help=f"sets {name}")
        elif setting.kind is Secret:  # deprecated: still read, with a warning (see the module docstring)
            parser.add_argument(option, metavar="SECRET", help=argparse.SUPPRESS)
        else:
            metavar = None if setting.choices else attribute.rpartition("_")[2].upper()
            parser.add_argument(option, metavar=metavar, choices=setting.choices, help=f"sets {name}")
    return parser


def run_init(
    args: argparse.Namespace,
    *,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
    ask_secret: Callable[[str], str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> int:
    """`capwatch init`. `interactive`, `ask`, `ask_secret`, `env` and `stdin` are seams for tests; by default the
    terminal decides whether to ask (questions only when standard input is a terminal)."""
    env = os.environ if env is None else env
    stdin = sys.stdin if stdin is None else stdin
    path, _ = chosen_config_path(getattr(args, "config", None), env)
    force = bool(getattr(args, "force", False))
    if os.path.lexists(path) and not force:
        print(f"capwatch init: {path} already exists; nothing written (--force overwrites it)", file=sys.stderr)
        return 1
    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    from_environment = merge_environment(tree, sources, env)
    from_stdin = getattr(args, "keys_from_stdin", False)
    if from_stdin:
        read_settings(stdin, tree, sources)
    for attribute, name in INIT_FLAGS.items():
        value = getattr(args, attribute, None)
        if value is not None:
            if setting_at(name).kind is Secret:
                _warn_deprecated(attribute, name)
            put(tree, name, value)
            sources[name] = f"flag {flag_name(attribute)}"
    if not from_stdin and (stdin.isatty() if interactive is None else interactive):
        if ask_secret is None:
            from getpass import getpass as ask_secret
        try:
            _Interview(tree, ask, ask_secret).run()
        except (EOFError, KeyboardInterrupt):
            print("\ncapwatch init: cancelled; nothing written", file=sys.stderr)
            return 1
    config = validate(tree, sources, "capwatch init")
    content = _file_content(config, tree)  # before `settle`: a key kept for a vendor that still lacks a setting
    warnings = settle(config, sources)
    write_config(path, content, force=force)
    print(f"wrote {path} (mode 0600)")
    if from_environment:
        print(f"  from the environment: {', '.join(from_environment)}")
    for section in config.services().values():
        state = f"on   {section.base_url}  key {mask_secret(section.api_key_value)}" if section.enabled else "off"
        print(f"  {section.vendor.title:<8} {state}")
    for warning in warnings:
        print(f"capwatch init: {warning}", file=sys.stderr)
    return 0


def _warn_deprecated(attribute: str, name: str) -> None:
    variable = setting_at(name).env
    print(f"capwatch init: {flag_name(attribute)} is deprecated (used this time): other users see the command line "
          f"in `ps`, and the shell keeps it in its history. Instead set {variable}, pipe "
          f"{variable}=... lines to `capwatch init --keys-from-stdin`, or type it at the prompt (not echoed).",
          file=sys.stderr)


def read_settings(stream: TextIO, tree: dict[str, Any], sources: dict[str, str]) -> None:
    """`--keys-from-stdin`: NAME=value lines, NAME one of the environment variables. A message never shows a line
    (it may be a key pasted alone)."""
    if stream.isatty():
        raise ConfigError("--keys-from-stdin reads a pipe or a file, not a terminal: without it, capwatch init asks "
                          "for each key on the terminal, with no echo")
    try:
        text = stream.read(MAX_FILE_BYTES + 1)
    except UnicodeDecodeError:
        raise ConfigError("standard input: not UTF-8 text") from None
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(f"standard input: over {MAX_FILE_BYTES // 1024} KiB; expected a few NAME=value lines")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        variable, equals, value = line.removeprefix("export ").partition("=")
        variable = variable.strip()
        if not equals or variable not in ENVIRONMENT:
            raise ConfigError(f"standard input, line {number}: expected NAME=value, NAME a variable capwatch reads "
                              "(CAPX_API_KEY, ...: the README lists them)")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value.strip():
            put(tree, ENVIRONMENT[variable], value)
            sources[ENVIRONMENT[variable]] = f"standard input ({variable})"


class _Interview:
    """The questions on a terminal: only for settings nothing else gave; each answer is checked at once and asked
    again when wrong. Keys and secrets are read without echo; an empty key leaves a vendor off."""

    def __init__(self, tree: dict[str, Any], ask: Callable[[str], str], ask_secret: Callable[[str], str]):
        self.tree = tree
        self.ask = ask
        self.ask_secret = ask_secret

    def given(self, name: str) -> bool:
        section, _, leaf = name.rpartition(".")
        return leaf in (self.tree.get(section, {}) if section else self.tree)

    def question(self, name: str) -> None:
        setting = setting_at(name)
        if self.given(name) or not setting.ask:
            return
        if setting.kind is bool:
            shown, default = (" [Y/n]", "yes") if setting.default else (" [y/N]", "no")
        else:
            default = "" if setting.default is None else str(setting.default)
            shown = f" [{default}]" if default else ""
        read = self.ask_secret if setting.kind is Secret else self.ask
        while True:
            answer = read(f"{setting.ask}{shown}: ").strip() or default
            if not answer:
                return
            problem = _answer_problem(name, answer)
            if problem is None:
                put(self.tree, name, answer)
                return
            print(f"  {name} {problem}; try again", file=sys.stderr)

    def run(self) -> None:
        print("Settings for capwatch (an empty API key leaves that service off).")
        for vendor in VENDORS:
            self.question(f"{vendor.name}.api_key")
            if not self.given(f"{vendor.name}.api_key"):
                continue
            for leaf, setting in setting_at(vendor.name).kind.settings.items():
                name = f"{vendor.name}.{leaf}"
                self.question(name)
                while setting.needed and not self.given(name):  # the vendor does not work without it
                    print(f"  {vendor.title} needs its {leaf.replace('_', ' ')} with a key (Ctrl-D cancels)",
                          file=sys.stderr)
                    self.question(name)
        if any(vendor.webhooks and self.given(f"{vendor.name}.api_key") for vendor in VENDORS):
            for leaf in WebhookSettings.settings:
                self.question(f"webhooks.{leaf}")
        for name, setting in Config.settings.items():
            if not setting.is_section:
                self.question(name)


def _answer_problem(name: str, answer: str) -> str | None:
    """Check one answer with the same model and key rules as the file."""
    tree: dict[str, Any] = {}
    put(tree, name, answer)
    try:
        config = Config(**tree)
    except InvalidConfig as error:
        return error.problems[0].text
    section, _, leaf = name.rpartition(".")
    if leaf == "api_key":
        return getattr(config, section).key_problem(answer)
    return None


def _file_content(config: Config, tree: dict[str, Any]) -> dict[str, Any]:
    """What `init` writes: the checked values of the settings given, less those equal to their default (the file
    stays short and follows future defaults)."""
    given = set(tree_names(tree))
    content: dict[str, Any] = {}
    for name, setting in fields():
        value = value_at(config, name) if name in given else None
        if value is not None and value != setting.new_default():
            put(content, name, value.get_secret_value() if isinstance(value, Secret) else value)
    return content


def write_config(path: Path, tree: dict[str, Any], *, force: bool) -> None:
    """Write TOML readable by the owner only: created 0600 (never briefly wider), in a directory made 0700."""
    import tempfile

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
