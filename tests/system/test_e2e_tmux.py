"""End to end, as an operator sees it: `capwatch demo` in a real terminal (tmux), every tab by number key,
values that change over time, and a clean quit that also stops the simulator child; at 80x24, a question typed as
one burst (tmux writes `send-keys -l` text to the terminal at once, as a laggy SSH link delivers it) arrives whole
and the tab keys after it switch tabs; the terminal bell rings for the alerts the operator chose, and by default
never."""

from __future__ import annotations

import os
import shlex
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


def start_demo(tmp_path, width: int, height: int, settings: dict[str, str] | None = None):
    """`capwatch demo` in a new tmux session. Its variables are given on the command line (`env ...`): a session
    takes the environment of the tmux server, which the first session of the run started, not the client's."""
    session = f"capwatch-e2e-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPOUT_", "CASMO_", "CAPX_", "CAPTAIN_"))}
    own = dict(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               TERM="xterm-256color", COLUMNS=str(width), LINES=str(height), **(settings or {}))
    env.update(own)
    unset = " ".join(f"-u {name}" for name in ("CAPWATCH_ALERT_BELL", "CAPWATCH_ALERT_TOASTS") if name not in own)
    assigned = " ".join(shlex.quote(f"{name}={value}") for name, value in own.items())
    command = f"env {unset} {assigned} {shlex.quote(sys.executable)} -m tui demo --seed 5 --rate 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command],
                   check=True, env=env)
    return session


@pytest.fixture
def demo_sessions(tmp_path):
    """Starts `capwatch demo` in tmux at a size (`demo_sessions(80, 24)`, and settings by their variables:
    `demo_sessions(80, 24, {"CAPWATCH_ALERT_BELL": "approval"})`); every session ends with the test."""
    sessions: list[str] = []

    def start(width: int, height: int, settings: dict[str, str] | None = None) -> str:
        home = tmp_path / f"home-{len(sessions)}"
        home.mkdir()
        sessions.append(start_demo(home, width, height, settings))
        return sessions[-1]

    yield start
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.fixture
def demo_session(demo_sessions):
    return demo_sessions(120, 40)


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
    # Quit: the app exits and takes the simulator child with it (this demo's own: other simulators may run on the
    # machine, and an orphan of someone else's is not this demo's doing).
    simulators = _simulator_children(int(tmux("display-message", "-p", "-t", session, "#{pane_pid}")))
    assert simulators, "the demo runs its simulator as a child process"
    tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0
        if not alive:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("capwatch demo did not exit on q:\n" + capture(session))
    deadline = time.monotonic() + 15
    while [pid for pid in simulators if os.path.exists(f"/proc/{pid}")] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in simulators if os.path.exists(f"/proc/{pid}")], "the simulator child outlived the demo"


QUESTION = "Which contracts mention termination?"  # h, e, q and ? in it: each was also a command key


def test_at_80x24_a_question_typed_as_one_burst_arrives_whole_and_tab_keys_then_switch_tabs(demo_sessions):
    session = demo_sessions(80, 24)
    wait_for(session, lambda s: "DEMO" in s and "credits" in body(s), timeout=60)
    tmux("send-keys", "-t", session, "6")
    wait_for(session, lambda s: "Query Captain" in body(s), timeout=15)
    tmux("send-keys", "-t", session, "-l", QUESTION)  # one write to the terminal
    wait_for(session, lambda s: QUESTION in body(s), timeout=15)
    # Ctrl+R runs it and leaves the editor: the next number key is a command, not text.
    tmux("send-keys", "-t", session, "C-r")
    wait_for(session, lambda s: "round trip" in body(s), timeout=30)
    tmux("send-keys", "-t", session, "7")
    wait_for(session, lambda s: "Summary" in body(s) and "Query Captain" not in body(s), timeout=15)
    tmux("send-keys", "-t", session, "6")
    screen = wait_for(session, lambda s: "Query Captain" in body(s), timeout=15)
    assert f"{QUESTION}7" not in screen and QUESTION in screen
    # Back into the question (e); Escape leaves it, and 4 then shows Capx. (Escape and 4 in one write would be
    # Alt+4 to any terminal program: a terminal sends Alt as an ESC prefix.)
    tmux("send-keys", "-t", session, "e")
    wait_for(session, lambda s: "esc Done editing" in s.splitlines()[-1], timeout=15)
    tmux("send-keys", "-t", session, "Escape")
    wait_for(session, lambda s: "e Edit question" in s.splitlines()[-1], timeout=15)
    tmux("send-keys", "-t", session, "4")
    wait_for(session, lambda s: "Cost / threshold" in body(s), timeout=15)
    tmux("send-keys", "-t", session, "6")
    screen = wait_for(session, lambda s: "Query Captain" in body(s), timeout=15)
    assert f"{QUESTION}4" not in screen and QUESTION in screen
    assert "Traceback" not in screen


def bell_heard(session: str) -> bool:
    """tmux marks a window whose program rang the terminal bell (BEL) while nobody looked at it: these sessions are
    detached, so every bell is marked."""
    return tmux("display-message", "-p", "-t", session, "#{window_bell_flag}").strip() == "1"


def test_the_terminal_bell_rings_for_the_alerts_the_operator_chose_and_never_by_default(demo_sessions):
    """The bell reaches the terminal (tmux hears it) for the alerts `alert_bell` names (here approvals, which the
    demo's Capx companies ask for within seconds); with the default setting, alerts on screen ring nothing."""
    chosen = demo_sessions(80, 24, {"CAPWATCH_ALERT_BELL": "approval"})
    default = demo_sessions(80, 24)
    wait_for(chosen, lambda s: "approval required" in s and bell_heard(chosen), timeout=60)
    # An alert is collected (and would ring) before the frame that shows it is written: once the default session
    # shows approvals and failures, any bell for them was heard.
    screen = wait_for(default, lambda s: "approval required" in s and "failed" in body(s), timeout=60)
    assert not bell_heard(default), screen


def _simulator_children(pane: int) -> list[int]:
    """The `tui sim` processes under `pane` (the pane's process: the demo, or a shell that runs it)."""
    parents: dict[int, int] = {}
    commands: dict[int, list[bytes]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parents[int(entry)] = int(stat.read().split(") ", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                commands[int(entry)] = cmdline.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile

    def under_pane(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == pane:
                return True
        return False

    return [pid for pid, argv in commands.items() if b"tui" in argv and b"sim" in argv and under_pane(pid)]
