"""End to end, as an operator sees it: `capwatch demo` in a real terminal (tmux), every tab by number key,
values that change over time, and a clean quit that also stops the simulator child."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# What each tab shows below the header and the tab bar (the tab labels are always visible, so the content
# under them is what proves the tab switched).
TAB_MARKERS = {
    "1": "Credits",
    "2": "CapOut documents",
    "3": "Casmo AI jobs",
    "4": "Cost / threshold",
    "5": "Captain",
    "6": "Query",
    "7": "Summary",
}


def body(screen: str) -> str:
    return "\n".join(screen.splitlines()[3:])


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def capture(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, predicate, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"screen never matched; last screen:\n{screen}")


@pytest.fixture
def demo_session(tmp_path):
    session = f"capwatch-e2e-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPOUT_", "CASMO_", "CAPX_", "CAPTAIN_"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               TERM="xterm-256color", COLUMNS="120", LINES="40")
    command = f"{sys.executable} -m tui demo --seed 5 --rate 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command],
                   check=True, env=env)
    try:
        yield session
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_demo_in_tmux_every_tab_and_live_values(demo_session):
    session = demo_session
    wait_for(session, lambda s: "DEMO" in s and "Overview" in s, timeout=60)
    # Every tab by its number key.
    for key, marker in TAB_MARKERS.items():
        tmux("send-keys", "-t", session, key)
        try:
            screen = wait_for(session, lambda s, m=marker: m in body(s), timeout=15)
        except AssertionError:
            # Seen once on a loaded CI machine: the key was not acted on. Press it again (an operator would),
            # and fail if the second press does not switch the tab either.
            tmux("send-keys", "-t", session, key)
            screen = wait_for(session, lambda s, m=marker: m in body(s), timeout=30)
        assert "Traceback" not in screen
    # Values change over time: the Events tab fills with new rows.
    tmux("send-keys", "-t", session, "7")
    first = wait_for(session, lambda s: "capx" in body(s) and "capout" in body(s), timeout=60)
    later = wait_for(session, lambda s: body(s) != body(first), timeout=60)
    assert body(later) != body(first)
    # Quit: the app exits and takes the simulator child with it.
    tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0
        if not alive:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("capwatch demo did not exit on q:\n" + capture(session))
    leftovers = subprocess.run(["pgrep", "-f", "tui sim --port"], capture_output=True, text=True).stdout.split()
    assert not [pid for pid in leftovers if _parent_is_gone(pid)], "the simulator child outlived the demo"


def _parent_is_gone(pid: str) -> bool:
    """A `tui sim` process whose parent is init: an orphan left by a demo that did not stop it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].split()[1] == "1"
    except OSError:
        return False
