"""Secrets never leave in what capwatch shows or records: the committed screenshots and snapshot pictures (taken
from the demo, whose keys are the simulator's), the recorded snapshot world, and what the monitor writes to a
terminal (tests/system/test_untrusted_text.py reads a whole pty session; it calls `demo_secrets` too)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from tui.sim.core import SimOptions

ROOT = Path(__file__).resolve().parents[2]
SECRET_FIELDS = ("api_key", "webhook_secret")


def demo_secrets() -> list[str]:
    """Every key and webhook secret the demo runs with (the simulator's defaults)."""
    defaults = SimOptions()
    return [getattr(defaults, f.name) for f in fields(SimOptions) if f.name.endswith(SECRET_FIELDS)]


RECORDINGS = sorted([*ROOT.glob("screenshots/*.svg"), *ROOT.glob("tests/**/__snapshots__/**/*.svg"),
                     ROOT / "tests" / "helpers" / "snapshot_world.json"])


def test_the_recordings_are_found():
    """The check below must have the pictures and the world to look at: every screenshot and snapshot."""
    assert len([p for p in RECORDINGS if p.suffix == ".svg"]) >= 20 and all(p.is_file() for p in RECORDINGS)


def test_the_secret_list_is_the_simulators_keys_and_secrets():
    secrets = demo_secrets()
    assert len(secrets) == 6 and "capx_sk_test_demo" in secrets and "whsec_casmo_demo" in secrets


@pytest.mark.parametrize("path", RECORDINGS, ids=[str(p.relative_to(ROOT)) for p in RECORDINGS])
def test_no_secret_in_recorded_pictures_and_worlds(path):
    text = path.read_text(errors="replace")
    # SVG text keeps spaces as &#160; and may split runs; compare on the text with markup entities undone.
    flat = text.replace("&#160;", " ")
    for secret in [*demo_secrets(), "not-a-real-secret-0000"]:  # the last: typed into an index form when recording
        assert secret not in flat, f"{secret!r} appears in {path.relative_to(ROOT)}"
