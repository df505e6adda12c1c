"""The `history` setting's values, and the times `--since`/`--until` take."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tui.history import HistorySettingError, default_path, parse_duration, parse_setting, parse_when


def test_no_setting_is_sqlite_under_xdg_data_home(tmp_path):
    setting = parse_setting(None, env={"XDG_DATA_HOME": str(tmp_path), "HOME": "/nowhere"})
    assert setting.backend == "sqlite" and setting.path == tmp_path / "capwatch" / "history.sqlite3"
    assert parse_setting("  ", env={"XDG_DATA_HOME": str(tmp_path)}).path == setting.path


def test_without_xdg_data_home_or_with_a_relative_one_it_is_under_local_share():
    for env in ({"HOME": "/home/op"}, {"HOME": "/home/op", "XDG_DATA_HOME": "relative/dir"}):
        assert default_path(env) == Path("/home/op/.local/share/capwatch/history.sqlite3")


@pytest.mark.parametrize("value, path", [
    ("/var/lib/capwatch/h.sqlite3", "/var/lib/capwatch/h.sqlite3"),
    ("sqlite:///var/lib/capwatch/h.sqlite3", "/var/lib/capwatch/h.sqlite3"),
    ("sqlite:////var/lib/capwatch/h.sqlite3", "/var/lib/capwatch/h.sqlite3"),
    ("relative/h.sqlite3", "relative/h.sqlite3"),
])
def test_paths_and_sqlite_urls(value, path):
    setting = parse_setting(value)
    assert setting.backend == "sqlite" and setting.path == Path(path) and setting.enabled


def test_a_path_with_a_tilde_is_under_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/op")
    assert parse_setting("~/h.sqlite3").path == Path("/home/op/h.sqlite3")
    assert parse_setting("sqlite://~/h.sqlite3").path == Path("/home/op/h.sqlite3")


@pytest.mark.parametrize("value", ["postgresql://capwatch@db.internal:5432/history",
                                   "postgres://u:pw@localhost/capwatch?sslmode=require",
                                   "postgresql:///capwatch?host=/var/run/postgresql"])
def test_postgresql_urls(value):
    setting = parse_setting(value)
    assert setting.backend == "postgresql" and setting.url == value and setting.path is None


def test_off_in_any_case():
    for value in ("off", "OFF", " Off "):
        setting = parse_setting(value)
        assert setting.backend == "off" and not setting.enabled and setting.describe() == "off"


@pytest.mark.parametrize("value", ["mysql://x/y", "sqlite://", "sqlite:///", "sqlite:///x?mode=ro",
                                   "postgresql://host:notaport/db"])
def test_anything_else_is_refused(value):
    with pytest.raises(HistorySettingError):
        parse_setting(value)


def test_a_password_is_never_shown():
    setting = parse_setting("postgresql://ops:hunter2secret@db:5432/capwatch?password=again&sslmode=require")
    shown = setting.describe()
    assert "hunter2secret" not in shown and "again" not in shown
    assert shown == "postgresql://ops:••••@db:5432/capwatch?password=••••&sslmode=require"


def test_durations_and_times():
    now = 1_800_000_000.0
    assert parse_duration("10m") == 600 and parse_duration("2h") == 7200 and parse_duration("7d") == 604800
    assert parse_duration("90s") == 90 and parse_duration("1w") == 604800 and parse_duration("1.5h") == 5400
    assert parse_duration("soon") is None
    assert parse_when("10m", now) == now - 600 and parse_when("now", now) == now
    assert parse_when("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    assert parse_when("2026-01-02T03:04:05+01:00") == datetime(2026, 1, 2, 2, 4, 5, tzinfo=timezone.utc).timestamp()
    # Without a zone: local time, as the person typing it means.
    assert parse_when("2026-01-02 03:04:05") == time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))
    assert parse_when("2026-01-02") == time.mktime((2026, 1, 2, 0, 0, 0, 0, 0, -1))
    with pytest.raises(ValueError):
        parse_when("yesterday-ish")
