"""`capwatch [config flags]` is read by a parser of the monitor's flags alone (tui/cli.py `_monitor_alone`), not
the whole command line's: it must read every such command line exactly as the whole parser does, and leave every
other one (a command, help, a bad value, a word it does not know) to the whole parser, so usage and errors stay the
same."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tui.cli import _monitor_alone, build_parser

MONITOR_LINES = [
    [],
    ["--config", "/dev/null"],
    ["--config=/tmp/x.toml", "--read-only", "--transport", "sse"],
    ["--webhook-host", "0.0.0.0", "--webhook-port", "9000", "--profile", "status"],  # a value that names a command
    ["--history", "off", "--source", "postgresql://u@db/capwatch"],
    ["--conf", "/dev/null"],  # an abbreviation, as argparse allows it
]

OTHER_LINES = [
    ["status"], ["--config", "/dev/null", "tail", "--json"], ["demo"], ["--help"], ["-h"], ["--version"],
    ["stauts"], ["--seed", "3"], ["--webhook-port", "many"], ["--transport", "carrier-pigeon"], ["--config"],
]


@pytest.mark.parametrize("argv", MONITOR_LINES, ids=" ".join)
def test_the_monitor_alone_reads_its_flags_as_the_whole_parser_does(argv):
    assert _monitor_alone(argv) == build_parser().parse_args(argv)


@pytest.mark.parametrize("argv", OTHER_LINES, ids=" ".join)
def test_anything_else_is_left_to_the_whole_parser(argv):
    assert _monitor_alone(argv) is None


def test_a_bad_flag_value_is_told_as_before():
    done = subprocess.run([sys.executable, "-m", "tui", "--webhook-port", "many"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "usage: capwatch" in done.stderr and "COMMAND" in done.stderr  # the whole parser's usage, commands listed
    assert "--webhook-port: invalid int value: 'many'" in done.stderr
