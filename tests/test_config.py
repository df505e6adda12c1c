"""Configuration: file < environment < flags, the environment contract, clear errors, safe files."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys

import pytest

from tui.config import ENVIRONMENT, ConfigError, describe, load_config, run_init


def flags(**values) -> argparse.Namespace:
    base = dict(config=None, read_only=None, transport=None, webhook_host=None, webhook_port=None, profile=None)
    base.update(values)
    return argparse.Namespace(**base)


def write(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_are_the_vendors_and_services_without_keys_are_off(tmp_path):
    config = load_config(flags(), env={"HOME": str(tmp_path)}).config
    assert config.capout.base_url == "https://api.capout.ai"
    assert config.casmo.base_url == "https://api.casmoai.com"
    assert config.capx.base_url == "https://api.capx.ai/v1"
    assert config.captain.base_url == "https://api.runcaptain.com"
    assert not any(service.enabled for service in config.services().values())
    assert config.capout.transport == "ws" and config.webhooks.host == "127.0.0.1"


def test_file_then_environment_then_flags(tmp_path):
    path = write(tmp_path / "c.toml", '[capout]\napi_key = "capout_from_file"\ntransport = "sse"\n'
                                       '[webhooks]\nport = 9000\nhost = "127.0.0.1"\n')
    env = {"CAPWATCH_WEBHOOK_PORT": "9100"}
    loaded = load_config(flags(config=str(path)), env=env)
    assert loaded.config.capout.api_key_value == "capout_from_file"
    assert loaded.config.capout.transport == "sse"
    assert loaded.config.webhooks.port == 9100  # environment beats the file
    loaded = load_config(flags(config=str(path), webhook_port=9200, transport="ws"), env=env)
    assert loaded.config.webhooks.port == 9200 and loaded.config.capout.transport == "ws"  # flags beat both
    assert loaded.warnings == []


def test_config_path_from_environment_variable(tmp_path):
    path = write(tmp_path / "elsewhere.toml", 'profile = "night-shift"\n')
    assert load_config(flags(), env={"CAPWATCH_CONFIG": str(path)}).config.profile == "night-shift"


@pytest.mark.parametrize("variable,dotted", sorted(ENVIRONMENT.items()))
def test_every_environment_variable_reaches_its_field(variable, dotted):
    values = {
        "base_url": "http://127.0.0.1:1/x",
        "api_key": {"capout": "capout_k", "casmo": "cai_k", "capx": "capx_sk_k", "captain": "cap_dev_k"},
        "webhook_secret": "whsec",
        "organization_id": "00000000-0000-4000-8000-000000000000",
        "host": "127.0.0.2",
        "port": "8999",
        "read_only": "1",
        "transport": "sse",
        "profile": "p",
    }
    section, _, field = dotted.rpartition(".")
    value = values[field]
    if isinstance(value, dict):
        value = value[section]
    env = {variable: value}
    if dotted == "captain.api_key":
        env["CAPTAIN_ORGANIZATION_ID"] = values["organization_id"]
    config = load_config(flags(config=os.devnull), env=env).config
    target = config
    for part in dotted.split("."):
        target = getattr(target, part)
    shown = target.get_secret_value() if hasattr(target, "get_secret_value") else target
    expected = {"port": 8999, "read_only": True}.get(field, value.rstrip("/") if field == "base_url" else value)
    assert shown == expected


def test_secrets_never_in_repr_or_describe():
    env = {"CAPX_API_KEY": "capx_sk_live_supersecret123", "CAPX_WEBHOOK_SECRET": "whsec_topsecret999"}
    config = load_config(flags(config=os.devnull), env=env).config
    for text in (repr(config), str(config), str(describe(config))):
        assert "supersecret123" not in text and "topsecret999" not in text
    assert describe(config)["capx"]["api_key"].endswith("t123")


@pytest.mark.parametrize(
    "text,expected",
    [
        ('[capout\n', "line 1"),
        ('[capout]\nbase_urll = "https://x"\n', "unknown setting 'capout.base_urll'"),
        ('[capx]\nbase_url = "ftp://x"\n', "capx.base_url must be an http:// or https:// URL"),
        ('[webhooks]\nport = 70000\n', "webhooks.port"),
        ('[capout]\ntransport = "carrier-pigeon"\n', "capout.transport must be one of"),
        ('[captain]\norganization_id = "not-a-uuid"\n', "captain.organization_id must be a UUID"),
    ],
)
def test_bad_files_name_the_file_and_the_field(tmp_path, text, expected):
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(flags(config=str(path)), env={})
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_a_key_of_the_wrong_vendor_is_named_without_showing_it():
    with pytest.raises(ConfigError) as caught:
        load_config(flags(config=os.devnull), env={"CAPOUT_API_KEY": "capx_sk_live_abcdef123456"})
    message = str(caught.value)
    assert "CAPOUT_API_KEY" in message and "Capx key" in message and "abcdef123456" not in message


def test_missing_explicit_file_is_an_error_but_missing_default_is_fine(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(flags(config=str(tmp_path / "absent.toml")), env={})
    assert load_config(flags(), env={"HOME": str(tmp_path)}).path == tmp_path / ".config" / "capwatch" / "config.toml"


def test_a_file_readable_by_others_warns(tmp_path):
    path = write(tmp_path / "open.toml", 'profile = "x"\n', mode=0o644)
    assert any("readable by other users" in w for w in load_config(flags(config=str(path)), env={}).warnings)
    path.chmod(0o600)
    assert load_config(flags(config=str(path)), env={}).warnings == []


def init_args(path, **values) -> argparse.Namespace:
    base = {f"{s}_{f}": None for s in ("capout", "casmo", "capx", "captain") for f in ("base_url", "api_key")}
    base.update(config=str(path), force=False, captain_organization_id=None, casmo_webhook_secret=None,
                capx_webhook_secret=None, transport=None, webhook_host=None, webhook_port=None, read_only=None)
    base.update(values)
    return argparse.Namespace(**base)


def test_init_writes_0600_in_a_0700_directory_and_never_overwrites_without_force(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    path = tmp_path / "fresh" / "config.toml"
    assert run_init(init_args(path, capx_api_key="capx_sk_test_1234", webhook_port=8790)) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = load_config(flags(config=str(path)), env={})
    assert loaded.config.capx.api_key_value == "capx_sk_test_1234" and loaded.config.webhooks.port == 8790
    assert "capx_sk_test_1234" not in capsys.readouterr().out  # printed masked
    assert run_init(init_args(path, capout_api_key="capout_x")) == 1
    assert load_config(flags(config=str(path)), env={}).config.capout.api_key is None
    assert run_init(init_args(path, capout_api_key="capout_x", force=True)) == 0
    assert load_config(flags(config=str(path)), env={}).config.capout.api_key_value == "capout_x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_command_line_prints_one_clear_line_and_no_traceback(tmp_path):
    path = write(tmp_path / "bad.toml", "[capout]\nbase_url = 3\n")
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--config", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert str(path) in done.stderr and "capout.base_url" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
