"""`capwatch collect` (and `capwatch tail --source`) in child processes, for team mode's tests and benchmark:
started against a simulator and a history database, killed (SIGKILL) or stopped (SIGTERM) as an operator or a
crash would, their stderr in a file the test can read.

    with SimProcess(seed=23, rate=20, extra=["--webhook-url", f"http://127.0.0.1:{port}"]) as sim:
        collector = CollectorProcess(sim.client_env(), history=url, webhook_port=port).start()
        collector.kill(); collector.start(); collector.terminate()   # exit code 0, the history written
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path


def source_config(url: str, **env: str):
    """The config of a follower (`--source url`) with `env` and nothing else: no history of its own."""
    import argparse

    from tui.config import load_config

    args = argparse.Namespace(config=os.devnull, read_only=None, transport=None, webhook_host=None,
                              webhook_port=None, profile=None)
    return load_config(args, env={"CAPWATCH_SOURCE": url, "CAPWATCH_HISTORY": "off", **env}).config


def child_env(client_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of a capwatch child: the simulator's keys, no user config, no stray CAPWATCH_* setting."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CAPOUT_", "CASMO_", "CAPX_", "CAPTAIN_", "CAPWATCH_"))}
    env.update(client_env)
    env.update(PYTHONUNBUFFERED="1", CAPWATCH_CONFIG=os.devnull, **extra)
    return env


class ChildProcess:
    """One capwatch command in a child process; its stderr (and stdout, unless a file is given) in files."""

    def __init__(self, arguments: list[str], env: dict[str, str]):
        self.arguments, self.env = arguments, env
        self.directory = Path(tempfile.mkdtemp(prefix="capwatch-child-"))
        self.child: subprocess.Popen | None = None
        self.runs = 0

    @property
    def stderr_path(self) -> Path:
        return self.directory / f"stderr.{self.runs}"

    @property
    def stdout_path(self) -> Path:
        return self.directory / f"stdout.{self.runs}"

    def start(self) -> "ChildProcess":
        assert self.child is None or self.child.poll() is not None, "still running"
        self.runs += 1
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.child = subprocess.Popen([sys.executable, "-m", "tui", *self.arguments], stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=err, env=self.env)
        return self

    def stderr(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.directory.glob("stderr.*")))

    def stdout_lines(self) -> list[str]:
        """Every line written to stdout, over every run, in run order."""
        lines: list[str] = []
        for run in range(1, self.runs + 1):
            path = self.directory / f"stdout.{run}"
            if path.exists():
                lines += [line for line in path.read_text(errors="replace").splitlines() if line]
        return lines

    def running(self) -> bool:
        return self.child is not None and self.child.poll() is None

    def kill(self) -> None:
        """kill -9: no flush, no goodbye (a crash)."""
        if self.running():
            self.child.send_signal(signal.SIGKILL)
            self.child.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as an init system stops it; its exit code."""
        if self.running():
            self.child.send_signal(signal.SIGTERM)
            try:
                return self.child.wait(timeout)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(10)
                raise AssertionError(f"{self.arguments[0]} did not stop within {timeout} s of SIGTERM") from None
        return self.child.returncode if self.child is not None else 0

    def close(self) -> None:
        self.kill()
        for path in self.directory.glob("*"):
            path.unlink()
        self.directory.rmdir()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class CollectorProcess(ChildProcess):
    """`capwatch collect` on the simulator whose `client_env` is given, writing to `history`, receiving the
    simulator's webhooks on `webhook_port`."""

    def __init__(self, client_env: dict[str, str], *, history: str, webhook_port: int, metrics: str | None = None):
        env = child_env(client_env, CAPWATCH_HISTORY=history, CAPWATCH_WEBHOOK_HOST="127.0.0.1",
                        CAPWATCH_WEBHOOK_PORT=str(webhook_port))
        super().__init__(["collect", *(["--metrics", metrics] if metrics else [])], env)


class TailProcess(ChildProcess):
    """`capwatch tail --source URL --json`: one JSON line per event the follower applies."""

    def __init__(self, source: str):
        super().__init__(["tail", "--source", source, "--json"], child_env({}, CAPWATCH_HISTORY="off"))
