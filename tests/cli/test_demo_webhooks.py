"""`capwatch --webhook-port P demo` or `capwatch demo --webhook-port P` (a port of the operator's, for the
receiver): the simulator signs its webhooks to the port the monitor's receiver listens on. Seen by hand in tmux: the
flag moved the receiver, the simulator kept posting to the free port the demo had picked (`webhooks_failed` 85 and
counting in its journal, Casmo's jobs never came: the Extraction tab stayed empty)."""

from __future__ import annotations

import pytest

from tui.app import launch
from tui.cli import main
from tui.sim.server import free_port


@pytest.mark.parametrize("after", [False, True], ids=["before-demo", "after-demo"])
def test_the_demos_simulator_posts_its_webhooks_to_the_receivers_port(monkeypatch, tmp_path, after):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    seen = {}
    real = launch.demo_simulator

    def simulator(**options):
        seen["simulator"] = options["webhook_port"]
        return real(**options)  # a real simulator in a child process

    def run_app(loaded, **_):
        seen["receiver"] = loaded.config.webhooks.port
        return 0

    monkeypatch.setattr(launch, "demo_simulator", simulator)
    monkeypatch.setattr(launch, "_run_app", run_app)
    port = free_port()
    flag = ["--webhook-port", str(port)]
    assert main(["demo", *flag] if after else [*flag, "demo"]) == 0
    assert seen == {"simulator": port, "receiver": port}
