"""The simulator in a child process, so a test can do to it what happens to real servers: SIGKILL it, bring it back
on the same port (as the same world or a new one), freeze it (SIGSTOP) and thaw it (SIGCONT).

    with SimProcess(seed=23, rate=4) as server:
        env = server.client_env()          # point a LiveHub or a `capwatch` child at it
        server.kill()                      # kill -9: connections reset, the port refuses
        server.start(world=2)              # back on the same port as a new world
        server.freeze(); server.thaw()     # a hung server: connections stay open, nothing arrives
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tui.sim.core import SimOptions
from tui.sim.server import free_port


class SimProcess:
    def __init__(self, *, seed: int = 23, rate: float = 4.0, port: int | None = None, faults: str = "",
                 extra: list[str] | None = None):
        self.seed, self.rate, self.faults = seed, rate, faults
        self.port = port or free_port()
        self.extra = list(extra or [])
        self.child: subprocess.Popen | None = None
        self.world = 1

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        """The environment that points capwatch at this simulator (keys, secrets, base URLs)."""
        return SimOptions(port=self.port).client_env()

    def command(self, world: int) -> list[str]:
        command = [sys.executable, "-m", "tui", "sim", "--port", str(self.port), "--seed", str(self.seed),
                   "--rate", str(self.rate), "--world", str(world), *self.extra]
        return command + (["--faults", self.faults] if self.faults else [])

    def start(self, *, world: int | None = None, timeout: float = 15.0) -> "SimProcess":
        """Start (or start again, on the same port) and return once its root answers."""
        assert self.child is None or self.child.poll() is not None, "the simulator still runs"
        self.world = world or self.world
        self.child = subprocess.Popen(self.command(self.world), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.root}/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.child.poll() is not None:
                raise RuntimeError(f"the simulator exited: {self.child.stderr.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                self.child.kill()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """kill -9, and wait until it is gone (its sockets closed by the kernel)."""
        if self.child is not None and self.child.poll() is None:
            self.thaw()  # a stopped process dies of SIGKILL too, but be plain about it
            self.child.send_signal(signal.SIGKILL)
            self.child.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets open and answers nothing."""
        assert self.child is not None
        self.child.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGCONT)

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        reply = httpx.request(method, f"{self.root}/_admin/{path}", json=body, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def stop(self) -> None:
        if self.child is not None:
            if self.child.poll() is None:
                self.kill()
            if self.child.stderr is not None:
                self.child.stderr.close()

    def __enter__(self) -> "SimProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
