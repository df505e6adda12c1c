"""Headless use, as a script would: `capwatch tail --json` and `capwatch status` from the environment alone."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import select
import signal
import subprocess
import sys
import time

import httpx

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


# ------------------------------------------------------------------------------------------- scripts hang up

def capwatch(*args: str) -> str:
    return " ".join([sys.executable, "-m", "tui", *args])


def assert_quiet(err: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err, err[-2000:]


def test_tail_json_into_head_one_ends_quietly_with_exit_0(sim_factory):
    """`capwatch tail --json | head -1`: before, a BrokenPipeError traceback and exit 1 (exit 120 when only
    Python's last flush failed)."""
    webhook_port = free_port()
    sim = sim_factory(rate=60.0, webhook_url=f"http://127.0.0.1:{webhook_port}")
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {capwatch('tail', '--json')} | head -1"],
                          env=client_env(sim, webhook_port), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"time", "service", "type", "id", "data"} <= set(json.loads(done.stdout))
    assert_quiet(done.stderr)


def test_tail_and_status_whose_reader_left_end_quietly_with_exit_0(sim):
    """The read end of a real pipe closed before the command writes (status) or while it writes (tail)."""
    webhook_port = free_port()
    env = client_env(sim, webhook_port)
    for argv in (["status", "--json", "--wait", "3"], ["status", "--wait", "3"], ["tail", "--json"], ["tail"]):
        child = subprocess.Popen([sys.executable, "-m", "tui", *argv], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        if argv[0] == "tail":  # the first lines come (channel state changes), then the reader leaves
            ready, _, _ = select.select([child.stdout], [], [], 15)
            assert ready and child.stdout.readline()
        child.stdout.close()
        if argv[0] == "tail":  # its next write finds the pipe closed: make one happen
            httpx.post(f"{sim.root}/_admin/step", params={"count": 20, "vendor": "capx"})
        _, err = child.communicate(timeout=30)
        assert child.returncode == 0, (argv, err[-2000:])
        assert_quiet(err)


def test_tail_and_status_with_stdout_closed_end_quietly_with_exit_0(sim):
    """`capwatch tail >&-`: before, an AttributeError traceback (sys.stdout is None) and exit 1."""
    env = client_env(sim, free_port())
    for argv in (["tail", "--json"], ["status", "--wait", "2"]):
        done = subprocess.run(["bash", "-c", f"{capwatch(*argv)} >&-"], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
        assert_quiet(done.stderr)


def test_tail_json_is_strict_json_for_non_finite_numbers(sim):
    """A signed payload holding 1e400, -1e400 and NaN: before, `tail --json` printed bare Infinity and NaN,
    which jq and most languages refuse. Now they are the strings "Infinity", "-Infinity" and "NaN"."""
    webhook_port = free_port()
    env = client_env(sim, webhook_port)
    child = subprocess.Popen([sys.executable, "-m", "tui", "tail", "--json", "--service", "casmo"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    try:
        body = (b'{"event": "extraction.completed", "timestamp": "2026-01-02T03:04:05.000Z", "data": '
                b'{"job_id": "temp_1_nonfinite", "result": {"big": 1e400, "small": -1e400, "nan": NaN, "ok": 1.5}}}')
        signature = hmac.new(env["CASMO_WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
        deadline = time.monotonic() + 20
        while True:  # until the receiver listens
            try:
                reply = httpx.post(f"http://127.0.0.1:{webhook_port}/webhooks/casmo", content=body,
                                   headers={"X-Webhook-Signature": signature}, timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the receiver never listened"
                time.sleep(0.2)
        assert reply.status_code == 200
        while time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 1)
            if ready:
                event = json.loads(child.stdout.readline(), parse_constant=refuse)
                if event["id"] == "temp_1_nonfinite":
                    break
        else:
            raise AssertionError("the delivery never reached tail")
        assert event["data"]["data"]["result"] == {"big": "Infinity", "small": "-Infinity", "nan": "NaN", "ok": 1.5}
    finally:
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=15)
    assert child.returncode == 0
    assert_quiet(err)


def test_strict_json_writes_non_finite_numbers_as_strings_at_any_depth():
    from tui.headless import strict_json

    value = {"a": [1.0, {"b": float("inf"), "c": (float("-inf"), float("nan"))}], "d": "NaN", "e": None}
    assert json.loads(strict_json(value)) == {"a": [1.0, {"b": "Infinity", "c": ["-Infinity", "NaN"]}], "d": "NaN",
                                              "e": None}
    assert strict_json({"x": 1.5}, indent=2) == json.dumps({"x": 1.5}, indent=2)
