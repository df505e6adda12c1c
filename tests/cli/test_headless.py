"""Headless use, as a script would: `capwatch tail --json` and `capwatch status` from the environment alone."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

from tui.sim.server import free_port


def client_env(sim, webhook_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPOUT_", "CASMO_", "CAPX_", "CAPTAIN_"))}
    env.update(sim.options.client_env())
    env.update(CAPWATCH_WEBHOOK_PORT=str(webhook_port), CAPWATCH_CONFIG=os.devnull)
    return env


def test_tail_json_prints_all_four_services_within_15_seconds(sim_factory):
    webhook_port = free_port()
    sim = sim_factory(rate=60.0, webhook_url=f"http://127.0.0.1:{webhook_port}",
                      capx_api_key="capx_sk_test_demo", casmo_api_key="cai_demo")
    child = subprocess.Popen([sys.executable, "-m", "tui", "tail", "--json"], env=client_env(sim, webhook_port),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[str] = set()
    lines = []
    try:
        deadline = time.monotonic() + 15
        while not seen >= {"capout", "casmo", "capx", "captain"} and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 0.5)
            if ready:
                line = child.stdout.readline()
                if not line:
                    break
                event = json.loads(line)
                assert {"time", "service", "type", "id", "data"} <= set(event)
                seen.add(event["service"])
                lines.append(line)
        if not seen >= {"capout", "casmo", "capx", "captain"}:
            child.kill()
            raise AssertionError(f"saw only {sorted(seen)}: {child.stderr.read()[-2000:]}")
    finally:
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=15)
    assert child.returncode == 0 and "Traceback" not in err
    for key in ("capout_test_demo", "capx_sk_test_demo", "cai_demo", "cap_dev_demo"):
        assert key not in "".join(lines) and key not in err


def test_status_json_and_exit_code(sim):
    webhook_port = free_port()
    env = client_env(sim, webhook_port)
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--json", "--wait", "10"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    snapshot = json.loads(done.stdout)
    assert snapshot["health"]["capout.ws"]["state"] == "live"
    assert snapshot["entities"]["companies"]["total"] == 5
    assert "capout.credits" in snapshot["figures"] and "capx.rate_limit" in snapshot["figures"]
    # A wrong key makes that channel fail, and the exit code says so.
    env["CAPX_API_KEY"] = "capx_sk_wrong"
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--wait", "10"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "failed" in done.stdout and "capx_sk_wrong" not in done.stdout + done.stderr
