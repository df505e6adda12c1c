"""`capwatch init` never takes a key from argv: from the environment, from standard input (--keys-from-stdin) or
from a prompt with no echo. The deprecated key flags are tested beside the other init tests in test_config.py."""

from __future__ import annotations

import argparse
import io
import os
import pty
import select
import subprocess
import sys
import time
import tomllib

import pytest

from tests.helpers.environment import clean_env
from tui.config import ConfigError, load_config, run_init
from tui.config.init import build_parser
from tui.config.loading import MAX_FILE_BYTES

ORGANIZATION = "01999eb7-8554-5c7b-6321-066454166af2"


def init_args(path, *argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["--config", str(path), *argv])


def written(path) -> dict:
    return tomllib.loads(path.read_text())


class Piped(io.StringIO):
    """Standard input from a pipe (not a terminal)."""

    def isatty(self) -> bool:
        return False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_keys_from_stdin_as_the_environment_names_them(tmp_path):
    path = tmp_path / "config.toml"
    keys = ("# from the vault\n"
            "export CAPX_API_KEY=capx_sk_from_stdin_1111\n"
            "\n"
            "CAPX_WEBHOOK_SECRET='whsec_quoted_2222'\n"
            ' CAPTAIN_API_KEY = "cap_prod_spaced_3333" \n'
            f"CAPTAIN_ORGANIZATION_ID={ORGANIZATION}\n")
    done = subprocess.run([sys.executable, "-m", "tui", "init", "--config", str(path), "--keys-from-stdin",
                           "--webhook-port", "9011"],
                          input=keys, capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert written(path) == {
        "capx": {"api_key": "capx_sk_from_stdin_1111", "webhook_secret": "whsec_quoted_2222"},
        "captain": {"api_key": "cap_prod_spaced_3333", "organization_id": ORGANIZATION},
        "webhooks": {"port": 9011},
    }
    for secret in ("capx_sk_from_stdin_1111", "whsec_quoted_2222", "cap_prod_spaced_3333"):
        assert secret not in done.stdout + done.stderr
    assert "••••1111" in done.stdout and "••••3333" in done.stdout
    assert "deprecated" not in done.stderr and "Settings for capwatch" not in done.stdout  # nothing asked
    assert load_config(argparse.Namespace(config=str(path)), env={}).config.captain.enabled


def test_what_the_simulator_prints_can_be_piped_to_init(tmp_path):
    """`capwatch sim --print-env` prints the export lines the monitor reads: init takes them as they are."""
    from tui.sim.core import SimOptions

    lines = "".join(f"export {name}={value}\n" for name, value in SimOptions(port=9).client_env().items())
    path = tmp_path / "config.toml"
    assert run_init(init_args(path, "--keys-from-stdin"), stdin=Piped(lines), env={}) == 0
    config = load_config(argparse.Namespace(config=str(path)), env={}).config
    assert all(section.enabled for section in config.services().values())
    assert config.capx.base_url == "http://127.0.0.1:9/capx/v1"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("CAPX_API_KEY=capx_sk_fine\ncapx_sk_pasted_alone_4444\n", "standard input, line 2: expected NAME=value"),
        ("NOT_CAPWATCH_KEY=secret_4444\n", "standard input, line 1: expected NAME=value"),
        ("CAPX_API_KEY=cai_other_vendor_4444\n", "standard input (CAPX_API_KEY): capx.api_key looks like a Casmo key"),
        ("CAPX_API_KEY=capx_sk_with space_4444\n", "standard input (CAPX_API_KEY): capx.api_key contains spaces"),
        ("CAPWATCH_READ_ONLY=sometimes_4444\n", "standard input (CAPWATCH_READ_ONLY): read_only must be yes or no"),
    ],
)
def test_bad_lines_on_stdin_are_named_by_line_or_variable_never_shown(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as caught:
        run_init(init_args(path, "--keys-from-stdin"), stdin=Piped(text), env={})
    assert str(caught.value).startswith(expected) and "4444" not in str(caught.value)
    assert not path.exists()


def test_stdin_must_be_a_pipe_or_a_file_and_not_too_large(tmp_path):
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match="--keys-from-stdin reads a pipe or a file, not a terminal"):
        run_init(init_args(path, "--keys-from-stdin"), stdin=Terminal("CAPX_API_KEY=capx_sk_x\n"), env={})
    with pytest.raises(ConfigError, match=f"standard input: over {MAX_FILE_BYTES // 1024} KiB"):
        run_init(init_args(path, "--keys-from-stdin"), stdin=Piped("#" * (MAX_FILE_BYTES + 1)), env={})
    assert not path.exists()


def test_keys_from_the_environment_and_which_source_wins(tmp_path, capsys):
    path = tmp_path / "config.toml"
    env = {"CASMO_API_KEY": "cai_from_env_5555", "CAPX_API_KEY": "capx_sk_env_loses", "CAPWATCH_PROFILE": "night"}
    args = init_args(path, "--keys-from-stdin", "--profile", "flagged")
    assert run_init(args, stdin=Piped("CAPX_API_KEY=capx_sk_stdin_wins_6666\n"), env=env) == 0
    assert written(path) == {"profile": "flagged", "casmo": {"api_key": "cai_from_env_5555"},
                             "capx": {"api_key": "capx_sk_stdin_wins_6666"}}
    out = capsys.readouterr().out
    assert "from the environment: CAPWATCH_PROFILE, CASMO_API_KEY, CAPX_API_KEY" in out
    assert "cai_from_env_5555" not in out and "••••5555" in out


def test_a_terminal_is_asked_only_for_what_the_environment_did_not_give(tmp_path):
    path = tmp_path / "config.toml"
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return ""

    env = {name: f"cap_dev_{name.lower()}" for name in ("CAPTAIN_API_KEY",)} | {"CAPTAIN_ORGANIZATION_ID": ORGANIZATION}
    assert run_init(init_args(path), interactive=True, ask=ask, ask_secret=ask, env=env) == 0
    assert not any("Captain API key" in prompt or "organization" in prompt for prompt in asked)
    assert any("CapOut API key" in prompt for prompt in asked)
    assert written(path)["captain"]["api_key"] == "cap_dev_captain_api_key"


def test_the_deprecated_key_flags_are_not_offered_in_help():
    shown = build_parser().format_help()
    assert "--keys-from-stdin" in shown and "--capx-base-url" in shown
    assert "api-key" not in shown and "webhook-secret" not in shown


def test_the_prompt_on_a_real_terminal_does_not_echo_the_key(tmp_path):
    """In a pty, as an operator types it: the key never appears on the terminal, and lands in the file."""
    path = tmp_path / "config.toml"
    env = clean_env(TERM="dumb")
    pid, master = pty.fork()
    if pid == 0:  # the child: `capwatch init` on the pty's terminal
        try:
            os.execve(sys.executable, [sys.executable, "-m", "tui", "init", "--config", str(path)], env)
        finally:
            os._exit(127)
    output = bytearray()
    start = 0

    def read_some(deadline: float) -> bool:
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        output.extend(chunk)
        return bool(chunk)

    def answer(prompt: bytes, typed: bytes) -> None:
        nonlocal start
        deadline = time.monotonic() + 30
        while output.find(prompt, start) < 0:
            assert time.monotonic() < deadline and read_some(deadline), f"no {prompt!r} in {bytes(output)!r}"
        start = output.find(prompt, start) + len(prompt)
        os.write(master, typed + b"\n")

    try:
        answer(b"CapOut API key", b"capout_typed_secret_9876")
        answer(b"CapOut base URL", b"")
        answer(b"CapOut realtime transport", b"")
        answer(b"Casmo API key", b"")
        answer(b"Capx API key", b"")
        answer(b"Captain API key", b"")
        answer(b"Read-only", b"")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and read_some(deadline):
            pass
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0, bytes(output)
    assert b"wrote" in output and b"\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa29876" in output  # ••••9876
    assert b"capout_typed_secret" not in output
    assert written(path) == {"capout": {"api_key": "capout_typed_secret_9876"}}
