"""Config input no one meant to give: whatever `--config` names, capwatch says so in one line naming the file and
exits 2; never a traceback, never a hang. Each case runs `capwatch status` in a child process, bounded in time."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading

import pytest

from tests.helpers.environment import clean_env
from tui.config import load_config
from tui.config.loading import MAX_FILE_BYTES

DEPTH = 500


def capwatch(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=clean_env())


def refused_in_one_line(path, *expected: str) -> str:
    done = capwatch("status", "--wait", "0", "--config", str(path))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"capwatch: {path}"), done.stderr[-2000:]
    for text in expected:
        assert text in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("profile = " + "[" * DEPTH + "]" * DEPTH, "nested too deeply"),
        ("profile = " + "{a = " * DEPTH + "1" + "}" * DEPTH, "nested too deeply"),
        ("[capx]\ncompanies = " + "[" * DEPTH + "]" * DEPTH, "nested too deeply"),
        # tables nested by dotted names are not parsed by recursion; nor are they walked by it afterwards
        ("[" + ".".join(["a"] * 5 * DEPTH) + "]\nx = 1\n", "unknown setting 'a'"),
        ("[capx." + ".".join(["a"] * 5 * DEPTH) + "]\nx = 1\n", "unknown setting 'capx.a'"),
        # deep enough to be read, then refused as the wrong kind of value
        ("profile = " + "[" * 50 + "]" * 50, "profile must be a string"),
        ("[capx]\ncompanies = " + "[" * 50 + "]" * 50, "capx.companies.0 must be a string"),
    ],
    ids=["arrays", "inline-tables", "arrays-in-a-section", "dotted-tables", "dotted-tables-in-a-section",
         "arrays-50", "arrays-50-in-a-list"],
)
def test_any_nesting_depth_is_one_line(tmp_path, text, expected):
    path = tmp_path / "deep.toml"
    path.write_text(text)
    path.chmod(0o600)
    refused_in_one_line(path, expected)


def test_a_fifo_is_refused_at_once_not_read(tmp_path):
    """Reading a FIFO blocks until a writer comes, and a writer may never come (capwatch hung for ever)."""
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    refused_in_one_line(fifo, "cannot read the config file: it is a named pipe (FIFO), not a file")


def test_a_fifo_with_a_writer_is_refused_too(tmp_path):
    """A writer that sends an endless stream (here: one that never closes) must not hold capwatch either."""
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write_forever():
        fd = os.open(fifo, os.O_RDWR)  # O_RDWR: opens without a reader, and keeps the FIFO open
        try:
            while not stop.wait(0.01):
                try:
                    os.write(fd, b"# " + b"x" * 4000 + b"\n")
                except BlockingIOError:
                    pass
        finally:
            os.close(fd)

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    try:
        refused_in_one_line(fifo, "named pipe (FIFO)")
    finally:
        stop.set()
        writer.join(5)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/tty"])
def test_a_device_is_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    refused_in_one_line(device, "cannot read the config file: it is a device, not a file")


def test_a_directory_is_refused(tmp_path):
    refused_in_one_line(tmp_path, "cannot read the config file: it is a directory, not a file")


def test_a_socket_is_refused(tmp_path):
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        refused_in_one_line(path, "it is a socket, not a file")


def test_a_file_over_the_cap_is_refused_and_one_under_it_is_read(tmp_path):
    big = tmp_path / "big.toml"
    line = "# " + "x" * 1021 + "\n"  # 1 KiB
    big.write_text(line * (MAX_FILE_BYTES // len(line)) + "#\n")
    big.chmod(0o600)
    assert big.stat().st_size == MAX_FILE_BYTES + 2
    refused_in_one_line(big, f"over {MAX_FILE_BYTES // 1024} KiB")
    fits = tmp_path / "fits.toml"  # just under the cap: read
    fits.write_text(line * (MAX_FILE_BYTES // len(line) - 1) + 'profile = "big"\n')
    fits.chmod(0o600)
    assert load_config(argparse.Namespace(config=str(fits)), env={}).config.profile == "big"


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path):
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as handle:
        handle.truncate(50 * 1024**3)  # 50 GB of holes: reading it whole would take minutes and all the memory
    huge.chmod(0o600)
    refused_in_one_line(huge, "over")


def test_many_unknown_or_hostile_names_stay_one_short_line(tmp_path):
    path = tmp_path / "names.toml"
    names = "".join(f"unknown_{i} = 1\n" for i in range(5000))
    path.write_text(f'"\\u001b]0;pwned\\u0007{"n" * 10_000}" = 1\n{names}')
    path.chmod(0o600)
    line = refused_in_one_line(path, "unknown settings", "and 4996 more")
    assert "\x1b" not in line and "\x07" not in line and len(line) < 600 + len(str(path))
