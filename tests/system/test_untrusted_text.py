"""Server strings laced with terminal escapes, C0/C1 controls and Rich/Textual markup reach the terminal as inert
text: the monitor in a real pty (every tab, toasts included), and `capwatch tail` in both output formats.

The simulator's `hostile` fault puts these into names, titles and file names (tui/sim/core.py HOSTILE_SNIPPETS):
an OSC title change, an OSC 52 clipboard write, blink, a C1 CSI, NUL/BS/DEL, a right-to-left override,
`[@click=app.quit]...[/]` and `[bold red]`. The bytes the monitor writes are read from the pty and replayed
into a terminal emulator (pyte), so the checks are on what an operator's terminal would do and show.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pyte
import pytest

from tests.system.test_secrets import demo_secrets
from tui.sim.server import free_port

COLUMNS, LINES = 120, 40
# The escape sequences the data carries: none may reach the terminal.
DATA_ESCAPES = [b"\x1b]0;pwned", b"\x1b]52;c;cHduZWQ=", "\x9b2J".encode()]
# Markup that would be a clickable action or a style if interpreted: it must show as the literal text.
LITERAL_MARKUP = "[@click=app.quit]click me[/]"
TAB_MARKERS = {"1": "Credits", "2": "CapOut documents", "3": "Casmo AI jobs", "4": "Cost / threshold",
               "5": "Captain", "6": "Query Captain", "7": "Summary"}


def clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPOUT_", "CASMO_", "CAPX_", "CAPTAIN_"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES),
               PYTHONFAULTHANDLER="1")  # stacks on a fatal signal: see PtyTerminal.diagnose
    return env


class PtyTerminal:
    """A child process on a pty, its output kept whole and replayed into a pyte screen."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.output = bytearray()
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.blinking = False
        self.pid_reaped = False

    def pump(self, seconds: float = 0.1) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child is gone
                return
            if not chunk:
                return
            self.output += chunk
            self.stream.feed(chunk)
            self.blinking = self.blinking or any(
                char.blink for line in self.screen.buffer.values() for char in line.values())

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, predicate, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.2)
            if predicate(self.text()):
                return self.text()
        raise AssertionError(f"screen never matched; {self.diagnose()}; last screen:\n{self.text()}")

    def diagnose(self) -> str:
        """Why nothing changed: the child's exit status, or, if it is still running, every thread's stack
        (PYTHONFAULTHANDLER is set, so SIGABRT makes it print them before it ends)."""
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done:
            self.pid_reaped = True
            return f"the monitor exited with status {os.waitstatus_to_exitcode(status)}"
        before = len(self.output)
        os.kill(self.pid, signal.SIGABRT)
        self.pump(3.0)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # and the simulator it started
        except ProcessLookupError:
            pass
        stacks = bytes(self.output[before:]).decode("utf-8", "replace")
        return f"the monitor was running; its threads when stopped:\n{stacks[-6000:]}"

    def press(self, key: str) -> None:
        os.write(self.fd, key.encode())

    def close(self) -> int | None:
        """Quit with `q`; the exit status, or None when it had to be killed (or was gone already)."""
        if self.pid_reaped:
            os.close(self.fd)
            return None
        try:
            self.press("q")
        except OSError:  # the child is gone and its pty with it
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.pump(0.2)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.killpg(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        return None


def screen_shows_literal_markup(text: str) -> bool:
    return LITERAL_MARKUP in text or "[bold red]" in text


@pytest.mark.slow
def test_the_monitor_shows_hostile_server_strings_as_inert_text(tmp_path):
    argv = [sys.executable, "-m", "tui", "demo", "--seed", "3", "--rate", "60", "--faults", "hostile"]
    terminal = PtyTerminal(argv, clean_env(tmp_path))
    try:
        terminal.wait_for(lambda text: "Credits" in text and "capout" in text)
        shown_literally = False
        for key, marker in TAB_MARKERS.items():
            terminal.press(key)
            text = terminal.wait_for(lambda text, marker=marker: marker in text)
            shown_literally = shown_literally or screen_shows_literal_markup(text)
        # The Events tab lists every title and file name as it came: the markup must be there, as text.
        terminal.press("7")
        terminal.wait_for(screen_shows_literal_markup, timeout=30)
        shown_literally = True
        terminal.pump(2.0)  # toasts for alerts with hostile titles keep arriving; keep reading what is drawn
    finally:
        status = terminal.close()
    assert status == 0, f"the monitor did not quit cleanly (status {status})"
    assert shown_literally
    # Textual's own OSC is the mouse pointer shape (OSC 22); any other OSC (title, clipboard) is not ours.
    output = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", bytes(terminal.output))
    assert b"\x1b]" not in output, "an operating system command (title, clipboard...) reached the terminal"
    for escape in DATA_ESCAPES:
        assert escape not in output, f"{escape!r} from the data reached the terminal"
    decoded = output.decode("utf-8", "replace")
    assert not re.search("[\x80-\x9f]", decoded), "a C1 control reached the terminal"
    assert "\x00" not in decoded and "\x7f" not in decoded
    assert "\x07" not in decoded, "a BEL (the end of an OSC from the data) reached the terminal"
    assert "\u202e" not in decoded, "a right-to-left override reached the terminal"
    assert not terminal.blinking, "blink from the data took effect"
    for secret in demo_secrets():
        assert secret not in decoded, "a key or webhook secret reached the screen"
    assert "Traceback" not in decoded


def test_tail_prints_hostile_strings_without_controls(sim_factory):
    webhook_port = free_port()
    sim = sim_factory(rate=80.0, faults="hostile", webhook_url=f"http://127.0.0.1:{webhook_port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPOUT_", "CASMO_", "CAPX_", "CAPTAIN_"))}
    env.update(sim.options.client_env(), CAPWATCH_WEBHOOK_PORT=str(webhook_port), CAPWATCH_CONFIG=os.devnull)
    for json_output in (False, True):
        argv = [sys.executable, "-m", "tui", "tail", *(["--json"] if json_output else [])]
        child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines: list[bytes] = []
        try:
            deadline = time.monotonic() + 30
            # Enough lines that hostile names are among them (they are in most names under this fault).
            while sum(b"click me" in line for line in lines) < 5 and time.monotonic() < deadline:
                ready, _, _ = select.select([child.stdout], [], [], 0.5)
                if ready:
                    line = child.stdout.readline()
                    if not line:
                        break
                    lines.append(line)
        finally:
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=15)
        assert sum(b"click me" in line for line in lines) >= 5, err.decode()[-2000:]
        output = b"".join(lines).decode("utf-8")
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", output), \
            "a control character reached stdout"
        if json_output:
            for line in lines:
                json.loads(line)  # still one JSON object per line
        assert child.returncode == 0 and b"Traceback" not in err
