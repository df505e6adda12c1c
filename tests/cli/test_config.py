"""Configuration: file < environment < flags, the environment contract, clear errors, safe files, `capwatch init`."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import tomllib

import pytest

from tests.helpers.environment import clean_env
from tui.config import ENVIRONMENT, Config, ConfigError, InvalidConfig, Secret, load_config, run_init
from tui.text import mask_secret

ORGANIZATION = "01999eb7-8554-5c7b-6321-066454166af2"


@pytest.fixture(autouse=True)
def no_capwatch_environment(monkeypatch):
    """`capwatch init` reads the environment: the developer's own keys must not reach these tests."""
    for variable in (*ENVIRONMENT, "CAPWATCH_CONFIG"):
        monkeypatch.delenv(variable, raising=False)


def flags(**values) -> argparse.Namespace:
    base = dict(config=None, read_only=None, transport=None, webhook_host=None, webhook_port=None, profile=None)
    base.update(values)
    return argparse.Namespace(**base)


def write(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def config_error(args: argparse.Namespace, env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(args, env=env)
    return str(caught.value)


# --------------------------------------------------------------------------------------------- sources


def test_defaults_are_the_vendors_and_services_without_keys_are_off(tmp_path):
    loaded = load_config(flags(), env={"HOME": str(tmp_path)})
    config = loaded.config
    assert config.capout.base_url == "https://api.capout.ai"
    assert config.casmo.base_url == "https://api.casmoai.com"
    assert config.capx.base_url == "https://api.capx.ai/v1"
    assert config.captain.base_url == "https://api.runcaptain.com"
    assert not any(service.enabled for service in config.services().values())
    assert (config.profile, config.read_only, config.timeline_size) == ("default", False, 10_000)
    assert (config.capout.transport, config.capout.recent, config.capx.companies) == ("ws", 50, [])
    assert (config.webhooks.host, config.webhooks.port) == ("127.0.0.1", 8787)
    assert loaded.warnings == []


def test_file_then_environment_then_flags(tmp_path):
    path = write(tmp_path / "c.toml", 'profile = "file"\nread_only = true\n'
                                       '[capout]\napi_key = "capout_from_file"\ntransport = "sse"\n'
                                       '[webhooks]\nport = 9000\nhost = "127.0.0.1"\n')
    env = {"CAPWATCH_WEBHOOK_PORT": "9100", "CAPWATCH_READ_ONLY": "false", "CAPWATCH_PROFILE": "env"}
    loaded = load_config(flags(config=str(path)), env=env)
    assert loaded.config.capout.api_key_value == "capout_from_file"
    assert loaded.config.capout.transport == "sse"  # the file beats the defaults
    assert loaded.config.webhooks.port == 9100  # the environment beats the file
    assert loaded.config.read_only is False and loaded.config.profile == "env"
    assert loaded.sources["webhooks.port"] == "environment variable CAPWATCH_WEBHOOK_PORT"
    assert loaded.sources["capout.transport"] == str(path)
    loaded = load_config(flags(config=str(path), webhook_port=9200, transport="ws", read_only=True, profile="flag"),
                         env=env)
    config = loaded.config
    assert (config.webhooks.port, config.capout.transport) == (9200, "ws")
    assert (config.read_only, config.profile) == (True, "flag")
    assert loaded.sources["webhooks.port"] == "flag --webhook-port"


def test_config_path_from_environment_variable_and_xdg(tmp_path):
    path = write(tmp_path / "elsewhere.toml", 'profile = "night-shift"\n')
    assert load_config(flags(), env={"CAPWATCH_CONFIG": str(path)}).config.profile == "night-shift"
    xdg = tmp_path / "xdg"
    (xdg / "capwatch").mkdir(parents=True)
    write(xdg / "capwatch" / "config.toml", 'profile = "from-xdg"\n')
    loaded = load_config(flags(), env={"XDG_CONFIG_HOME": str(xdg), "HOME": str(tmp_path)})
    assert loaded.config.profile == "from-xdg" and loaded.path == xdg / "capwatch" / "config.toml"
    # --config beats $CAPWATCH_CONFIG
    other = write(tmp_path / "other.toml", 'profile = "flagged"\n')
    assert load_config(flags(config=str(other)), env={"CAPWATCH_CONFIG": str(path)}).config.profile == "flagged"


def test_the_environment_variables_are_a_contract():
    """Assembled from the vendors' declarations now: the names stay those scripts and `sim --print-env` use."""
    assert ENVIRONMENT == {
        "CAPOUT_BASE_URL": "capout.base_url", "CAPOUT_API_KEY": "capout.api_key",
        "CASMO_BASE_URL": "casmo.base_url", "CASMO_API_KEY": "casmo.api_key",
        "CASMO_WEBHOOK_SECRET": "casmo.webhook_secret", "CAPX_BASE_URL": "capx.base_url",
        "CAPX_API_KEY": "capx.api_key", "CAPX_WEBHOOK_SECRET": "capx.webhook_secret",
        "CAPTAIN_BASE_URL": "captain.base_url", "CAPTAIN_API_KEY": "captain.api_key",
        "CAPTAIN_ORGANIZATION_ID": "captain.organization_id", "CAPWATCH_WEBHOOK_HOST": "webhooks.host",
        "CAPWATCH_WEBHOOK_PORT": "webhooks.port", "CAPWATCH_READ_ONLY": "read_only",
        "CAPWATCH_CAPOUT_TRANSPORT": "capout.transport", "CAPWATCH_PROFILE": "profile",
        "CAPWATCH_MAX_FINISHED_ROWS": "max_finished_rows", "CAPWATCH_MAX_OUTPUT_KBPS": "max_output_kbps",
        "CAPWATCH_HISTORY": "history",
        "CAPWATCH_ALERT_TOASTS": "alert_toasts", "CAPWATCH_ALERT_BELL": "alert_bell",
        "CAPWATCH_HISTORY": "history", "CAPWATCH_SOURCE": "source",
        "CAPWATCH_CAPX_PLAN": "capx.plan",
    }
    from tui.sim.core import SimOptions

    assert set(SimOptions().client_env()) <= set(ENVIRONMENT)


@pytest.mark.parametrize("variable,dotted", sorted(ENVIRONMENT.items()))
def test_every_environment_variable_reaches_its_field(variable, dotted):
    values = {
        "base_url": "http://127.0.0.1:1/x/",
        "api_key": {"capout": "capout_k", "casmo": "cai_k", "capx": "capx_sk_k", "captain": "cap_dev_k"},
        "webhook_secret": "whsec",
        "organization_id": ORGANIZATION,
        "host": "127.0.0.2",
        "port": "8999",
        "read_only": "1",
        "transport": "sse",
        "profile": "p",
        "max_output_kbps": "12.5",
        "max_finished_rows": "5000",
        "history": "off",
        "alert_toasts": "0",
        "alert_bell": "approval, Costs.*",
        "source": "postgresql://capwatch@db.example:5432/capwatch",
        "plan": "pro",
    }
    section, _, field = dotted.rpartition(".")
    value = values[field]
    if isinstance(value, dict):
        value = value[section]
    env = {variable: value}
    if dotted == "captain.api_key":
        env["CAPTAIN_ORGANIZATION_ID"] = ORGANIZATION  # Captain stays off without it
    config = load_config(flags(config=os.devnull), env=env).config
    target = config
    for part in dotted.split("."):
        target = getattr(target, part)
    shown = target.get_secret_value() if hasattr(target, "get_secret_value") else target
    expected = {"port": 8999, "read_only": True, "base_url": "http://127.0.0.1:1/x",
                "max_output_kbps": 12.5, "max_finished_rows": 5000, "alert_toasts": False,
                "alert_bell": "approval,costs.*"}.get(field, value)
    assert shown == expected


def test_pasted_whitespace_around_a_key_is_dropped_and_empty_means_off():
    env = {"CAPX_API_KEY": "  capx_sk_abc\n", "CASMO_API_KEY": "  "}
    config = load_config(flags(config=os.devnull), env=env).config
    assert config.capx.api_key_value == "capx_sk_abc" and config.capx.enabled
    assert not config.casmo.enabled


def test_captain_key_without_organization_warns_and_stays_off():
    loaded = load_config(flags(config=os.devnull), env={"CAPTAIN_API_KEY": "cap_prod_abcdef123456"})
    assert not loaded.config.captain.enabled
    assert any("organization id" in w and "CAPTAIN_API_KEY" in w for w in loaded.warnings)
    assert "abcdef123456" not in str(loaded.warnings)


# --------------------------------------------------------------------------------------------- secrets


def test_secrets_never_in_repr_or_str_and_shown_masked():
    env = {"CAPX_API_KEY": "capx_sk_live_supersecret123", "CAPX_WEBHOOK_SECRET": "whsec_topsecret999"}
    loaded = load_config(flags(config=os.devnull), env=env)
    config = loaded.config
    for text in (repr(config), str(config), repr(config.capx), str(config.capx), repr(loaded)):
        assert "supersecret123" not in text and "topsecret999" not in text
    # what the header and `capwatch init` show (the config's own `describe` had no caller and went)
    assert mask_secret(config.capx.api_key_value) == "••••t123" and config.capx.enabled is True
    assert mask_secret(config.capout.api_key_value) == "(not set)" and config.capout.enabled is False


def test_a_secret_is_masked_and_compares_by_value():
    secret = Config(casmo={"webhook_secret": " whsec_hidden42 "}).casmo.webhook_secret
    assert isinstance(secret, Secret) and secret.get_secret_value() == "whsec_hidden42"
    assert (repr(secret), str(secret), f"{secret}") == ("Secret('**********')", "**********", "**********")
    assert secret == Secret("whsec_hidden42") and secret != Secret("other") and secret != "whsec_hidden42"
    assert bool(secret) and Config(casmo={"webhook_secret": secret}).casmo.webhook_secret == secret


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text,expected",
    [
        ('profile = "x"\n[capout\n', ", line 2: invalid TOML"),
        ('[capout]\nbase_urll = "https://x"\n', "unknown setting 'capout.base_urll'"),
        ('colour = 1\n[webhooks]\nprot = 1\n', "unknown settings 'webhooks.prot', 'colour'"),
        ('[capx]\nbase_url = "ftp://x"\n', "capx.base_url must be an http:// or https:// URL"),
        ('[capx]\nbase_url = ""\n', "capx.base_url must be an http:// or https:// URL"),
        ('[capx]\nbase_url = "https://me:pw@api.capx.ai"\n', "capx.base_url must not contain a user name"),
        ('[webhooks]\nport = 70000\n', "webhooks.port must be between 0 and 65535"),
        ('[webhooks]\nport = "eighty"\n', "webhooks.port must be a whole number"),
        ('[capout]\ntransport = "carrier-pigeon"\n', "capout.transport must be one of"),
        ('[captain]\norganization_id = "not-a-uuid"\n', "captain.organization_id must be a UUID"),
        ('capout = "on"\n', "capout must be a table of settings"),
        ('timeline_size = 3\n', "timeline_size must be between"),
        ('max_finished_rows = 10\n', "max_finished_rows must be between"),
    ],
)
def test_bad_files_name_the_file_and_the_field(tmp_path, text, expected):
    path = write(tmp_path / "bad.toml", text)
    message = config_error(flags(config=str(path)), env={})
    assert message.startswith(str(path)) and expected in message


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"CAPWATCH_WEBHOOK_PORT": "http"}, "environment variable CAPWATCH_WEBHOOK_PORT: webhooks.port"),
        ({"CAPWATCH_READ_ONLY": "maybe"}, "environment variable CAPWATCH_READ_ONLY: read_only"),
        ({"CASMO_BASE_URL": "api.casmoai.com"}, "environment variable CASMO_BASE_URL: casmo.base_url must be"),
        ({"CAPWATCH_CAPOUT_TRANSPORT": "udp"}, "environment variable CAPWATCH_CAPOUT_TRANSPORT: capout.transport"),
        ({"CAPWATCH_ALERT_BELL": "approval,loud"},
         "environment variable CAPWATCH_ALERT_BELL: alert_bell 'loud' is neither all, failure, approval nor an event "
         "type like costs.*"),
        ({"CAPWATCH_ALERT_TOASTS": "maybe"}, "environment variable CAPWATCH_ALERT_TOASTS: alert_toasts"),
    ],
)
def test_bad_environment_values_name_the_variable(env, expected):
    assert expected in config_error(flags(config=os.devnull), env)


def test_bad_flag_names_the_flag():
    message = config_error(flags(config=os.devnull, webhook_port=70000), {})
    assert message == "flag --webhook-port: webhooks.port must be between 0 and 65535"


def test_a_key_of_the_wrong_vendor_is_named_without_showing_it(tmp_path):
    message = config_error(flags(config=os.devnull), {"CAPOUT_API_KEY": "capx_sk_live_abcdef123456"})
    assert message.startswith("environment variable CAPOUT_API_KEY: capout.api_key looks like a Capx key")
    assert "abcdef123456" not in message
    path = write(tmp_path / "keys.toml", '[captain]\napi_key = "cai_zyxwvu987654"\n')
    message = config_error(flags(config=str(path)), {})
    assert message.startswith(f"{path}: captain.api_key looks like a Casmo key") and "zyxwvu987654" not in message
    message = config_error(flags(config=os.devnull), {"CASMO_API_KEY": "sk-live-qwerty55555"})
    assert "casmo.api_key does not look like a Casmo key" in message and "qwerty55555" not in message


def test_missing_explicit_file_is_an_error_but_missing_default_is_fine(tmp_path):
    assert "no such config file" in config_error(flags(config=str(tmp_path / "absent.toml")), {})
    assert "no such config file" in config_error(flags(), {"CAPWATCH_CONFIG": str(tmp_path / "gone.toml")})
    loaded = load_config(flags(), env={"HOME": str(tmp_path)})
    assert loaded.path == tmp_path / ".config" / "capwatch" / "config.toml" and loaded.warnings == []


def test_unreadable_file_is_a_clear_error(tmp_path, monkeypatch):
    path = write(tmp_path / "locked.toml", 'profile = "x"\n')
    real_open = os.open

    def refuse(name, *args, **kwargs):
        if os.fspath(name) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(name, *args, **kwargs)

    # The tests may run as root, who can read a 0000 file: refuse the open itself.
    monkeypatch.setattr(os, "open", refuse)
    assert config_error(flags(config=str(path)), {}) == f"{path}: permission denied reading the config file"
    monkeypatch.undo()
    assert "cannot read the config file" in config_error(flags(config=str(tmp_path)), {})  # a directory


def test_a_file_readable_by_others_warns(tmp_path):
    path = write(tmp_path / "open.toml", 'profile = "x"\n', mode=0o644)
    warnings = load_config(flags(config=str(path)), env={}).warnings
    assert warnings == [f"{path} is readable by other users and may hold API keys; chmod 600 {path}"]
    path.chmod(0o600)
    assert load_config(flags(config=str(path)), env={}).warnings == []


def test_command_line_prints_one_clear_line_and_no_traceback(tmp_path):
    path = write(tmp_path / "bad.toml", "[capout]\nbase_url = 3\n")
    done = subprocess.run([sys.executable, "-m", "tui", "status", "--config", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == f"capwatch: {path}: capout.base_url must be a string"


# --------------------------------------------------------------------------------------------- init


def init_args(path, **values) -> argparse.Namespace:
    base = {f"{s}_{f}": None for s in ("capout", "casmo", "capx", "captain") for f in ("base_url", "api_key")}
    base.update(config=str(path), force=False, captain_organization_id=None, casmo_webhook_secret=None,
                capx_webhook_secret=None, transport=None, webhook_host=None, webhook_port=None, read_only=None,
                profile=None)
    base.update(values)
    return argparse.Namespace(**base)


def test_init_writes_0600_in_a_0700_directory_and_never_overwrites_without_force(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    path = tmp_path / "fresh" / "config.toml"
    assert run_init(init_args(path, capx_api_key="capx_sk_test_1234", webhook_port=8790, profile="ops")) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tomllib.loads(path.read_text()) == {"profile": "ops", "capx": {"api_key": "capx_sk_test_1234"},
                                               "webhooks": {"port": 8790}}
    out = capsys.readouterr().out
    assert f"wrote {path}" in out and "Capx     on" in out and "••••1234" in out and "CapOut   off" in out
    assert "capx_sk_test_1234" not in out

    assert run_init(init_args(path, capout_api_key="capout_x")) == 1
    assert "already exists" in capsys.readouterr().err
    assert load_config(flags(config=str(path)), env={}).config.capout.api_key is None  # untouched

    assert run_init(init_args(path, capout_api_key="capout_x", force=True)) == 0
    assert load_config(flags(config=str(path)), env={}).config.capout.api_key_value == "capout_x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temporary file left behind


def test_init_validates_flags_before_writing(tmp_path):
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as caught:
        run_init(init_args(path, capout_api_key="capx_sk_mine_998877"), interactive=False)
    assert str(caught.value).startswith("flag --capout-api-key: capout.api_key looks like a Capx key")
    assert "998877" not in str(caught.value)
    with pytest.raises(ConfigError, match="flag --captain-base-url: captain.base_url"):
        run_init(init_args(path, captain_base_url="runcaptain.com"), interactive=False)
    assert not path.exists()


def test_init_from_flags_with_stdin_not_a_terminal(tmp_path):
    """Piped input is not a terminal: no question is asked, and standard input is not read without
    --keys-from-stdin. Keys given as flags (deprecated) are still written, with a warning each."""
    path = tmp_path / "c" / "config.toml"
    done = subprocess.run(
        [sys.executable, "-m", "tui", "init", "--config", str(path), "--casmo-api-key", "cai_piped_5678",
         "--casmo-webhook-secret", "whsec_piped", "--transport", "sse"],
        input="capout_should_not_be_read\n", capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(path.read_text()) == {
        "capout": {"transport": "sse"}, "casmo": {"api_key": "cai_piped_5678", "webhook_secret": "whsec_piped"}}
    assert "cai_piped_5678" not in done.stdout + done.stderr and "••••5678" in done.stdout
    assert "whsec_piped" not in done.stdout + done.stderr
    for flag, variable in (("--casmo-api-key", "CASMO_API_KEY"), ("--casmo-webhook-secret", "CASMO_WEBHOOK_SECRET")):
        assert f"{flag} is deprecated" in done.stderr and f"{variable}=... lines to `capwatch init --keys-from-stdin`" \
            in done.stderr

    again = subprocess.run([sys.executable, "-m", "tui", "init", "--config", str(path), "--capx-api-key", "cai_wrong"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=clean_env())
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    bad = subprocess.run([sys.executable, "-m", "tui", "init", "--config", str(tmp_path / "n.toml"),
                          "--keys-from-stdin"],
                         input="CAPX_API_KEY=cai_wrong_vendor_4444\n", capture_output=True, text=True, timeout=60,
                         env=clean_env())
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "capx.api_key" in bad.stderr and "4444" not in bad.stderr
    assert bad.stderr.startswith("capwatch: standard input (CAPX_API_KEY): capx.api_key looks like a Casmo key")
    # the same through the deprecated flag: its warning, then the one line of the error
    flagged = subprocess.run([sys.executable, "-m", "tui", "init", "--config", str(tmp_path / "n.toml"),
                              "--capx-api-key", "cai_wrong_vendor_4444"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=clean_env())
    lines = flagged.stderr.strip().splitlines()
    assert flagged.returncode == 2 and "Traceback" not in flagged.stderr and "4444" not in flagged.stderr
    assert len(lines) == 2 and "--capx-api-key is deprecated" in lines[0]
    assert lines[1].startswith("capwatch: flag --capx-api-key: capx.api_key looks like a Casmo key")
    assert not (tmp_path / "n.toml").exists()


class Answers:
    """A scripted terminal: answers in order, recording each prompt; EOF when they run out (as Ctrl-D)."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


def test_init_on_a_terminal_asks_for_what_flags_did_not_give(tmp_path, capsys):
    path = tmp_path / "config.toml"
    ask = Answers("", "carrier", "sse",  # CapOut base URL (default), transport (wrong, then right)
                  "http://127.0.0.1:9/capx/v1/",  # Capx base URL
                  "", "99999", "9001",  # webhook host (default), port (wrong, then right)
                  "y")  # read-only
    ask_secret = Answers("",  # Casmo key: off
                         "capout_wrong_abcdef", "capx_sk_interactive1234",  # Capx key: wrong vendor, then right
                         "whsec_capx",  # Capx webhook secret
                         "")  # Captain key: off
    args = init_args(path, capout_api_key="capout_flag_key")  # given: never asked
    assert run_init(args, interactive=True, ask=ask, ask_secret=ask_secret) == 0
    assert ask.answers == [] and ask_secret.answers == []
    assert all("key" not in p and "secret" not in p for p in ask.prompts)  # secrets are never echoed
    assert "[https://api.capout.ai]" in ask.prompts[0]  # the default is shown
    assert tomllib.loads(path.read_text()) == {
        "read_only": True,
        "capout": {"api_key": "capout_flag_key", "transport": "sse"},
        "capx": {"base_url": "http://127.0.0.1:9/capx/v1", "api_key": "capx_sk_interactive1234",
                 "webhook_secret": "whsec_capx"},
        "webhooks": {"port": 9001},
    }
    captured = capsys.readouterr()
    assert "capx.api_key looks like a CapOut key" in captured.err and "abcdef" not in captured.err
    assert "webhooks.port must be between 0 and 65535" in captured.err
    assert "capx_sk_interactive1234" not in captured.out + captured.err


def test_init_on_a_terminal_needs_captain_organization_and_end_of_input_cancels(tmp_path, capsys):
    path = tmp_path / "config.toml"
    ask = Answers("", "", "not-a-uuid", ORGANIZATION, "")  # base URL, org (empty, bad, good), read-only
    ask_secret = Answers("", "", "", "cap_stage_abc123")
    assert run_init(init_args(path), interactive=True, ask=ask, ask_secret=ask_secret) == 0
    captain = load_config(flags(config=str(path)), env={}).config.captain
    assert captain.enabled and captain.organization_id == ORGANIZATION
    assert "captain.organization_id must be a UUID" in capsys.readouterr().err

    other = tmp_path / "cancelled.toml"
    assert run_init(init_args(other), interactive=True, ask=Answers(), ask_secret=Answers("cai_abc")) == 1
    assert "cancelled" in capsys.readouterr().err and not other.exists()


# --------------------------------------------------------------------------------------------- the model


def test_the_model_does_not_import_pydantic():
    """pydantic costs about 100 ms of startup, before the first frame: reading the config must not import it."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tui.config"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tui.config" in done.stderr and "pydantic" not in done.stderr


@pytest.mark.parametrize(
    "values,dotted,expected",
    [
        ({"webhooks": {"port": "8787"}}, "webhooks.port", 8787),
        ({"webhooks": {"port": " +8_787 "}}, "webhooks.port", 8787),
        ({"webhooks": {"port": 9000.0}}, "webhooks.port", 9000),
        ({"webhooks": {"port": "9000.0"}}, "webhooks.port", 9000),
        ({"max_output_kbps": 1}, "max_output_kbps", 1.0),
        ({"max_output_kbps": "12.5"}, "max_output_kbps", 12.5),
        ({"read_only": "yes"}, "read_only", True),
        ({"read_only": "OFF"}, "read_only", False),
        ({"read_only": 1}, "read_only", True),
        ({"read_only": 0}, "read_only", False),
        ({"capx": {"companies": ("a", "b")}}, "capx.companies", ["a", "b"]),
        ({"captain": {"organization_id": f" {ORGANIZATION} "}}, "captain.organization_id", ORGANIZATION),
        ({"captain": {"organization_id": " "}}, "captain.organization_id", None),
        ({"capout": {"api_key": "  "}}, "capout.api_key", None),
        ({"webhooks": {"host": " ::1 "}}, "webhooks.host", "::1"),
        ({"profile": " ops "}, "profile", "ops"),
    ],
)
def test_values_are_coerced_as_the_file_and_environment_write_them(values, dotted, expected):
    target = Config(**values)
    for part in dotted.split("."):
        target = getattr(target, part)
    assert target == expected and type(target) is type(expected)


@pytest.mark.parametrize(
    "text,expected",
    [
        ('[webhooks]\nport = 80.5\n', "webhooks.port must be a whole number"),
        ('[webhooks]\nport = "80.5"\n', "webhooks.port must be a whole number"),
        ('[webhooks]\nport = true\nhost = " "\n', "webhooks.host must be a host name or address such as 127.0.0.1"),
        ('read_only = 2\n', "read_only must be yes or no: one of true/false, yes/no, on/off, y/n, 1/0"),
        ('read_only = "maybe"\n', "read_only must be yes or no: one of true/false"),
        ('profile = 5\n', "profile must be a string"),
        ('profile = " "\n', "profile must be a non-empty name on one line"),
        ('max_output_kbps = "fast"\n', "max_output_kbps must be a number"),
        ('max_output_kbps = nan\n', "max_output_kbps must be between 0 and 1000000"),
        ('[capout]\ntransport = "WS"\n', "capout.transport must be one of 'ws' or 'sse'"),
        ('[capout]\nrecent = -1\n', "capout.recent must be between 0 and 1000"),
        ('[capout]\napi_key = 5\n', "capout.api_key must be a string"),
        ('[casmo]\nwebhook_secret = "a b"\n', "casmo.webhook_secret contains spaces or control characters"),
        ('[capx]\ncompanies = "acme"\n', "capx.companies must be a list"),
        ('[capx]\ncompanies = ["acme", 2]\n', "capx.companies.1 must be a string"),
        # the first problem in declaration order wins: profile comes before the sections, base_url before transport
        ('[capout]\ntransport = "x"\nbase_url = "x"\n[webhooks]\nport = -1\n', "capout.base_url must be an http"),
        ('profile = ""\n[webhooks]\nport = -1\n', "profile must be a non-empty name"),
    ],
)
def test_each_kind_of_bad_value_is_named_in_words(tmp_path, text, expected):
    path = write(tmp_path / "bad.toml", text)
    assert config_error(flags(config=str(path)), env={}).startswith(f"{path}: {expected}")


def test_assigning_a_setting_validates_it():
    config = Config()
    config.webhooks.port = "9000"
    config.captain.api_key = " cap_dev_abc "
    assert config.webhooks.port == 9000 and config.captain.api_key_value == "cap_dev_abc"
    for target, name, value in ((config.webhooks, "port", 70000), (config, "profile", ""), (config, "colour", 1),
                                (config.capx, "companies", "acme"), (config, "capout", "on")):
        with pytest.raises(InvalidConfig):
            setattr(target, name, value)
    assert config.webhooks.port == 9000 and config.profile == "default"
    config.captain.api_key = None  # as a key without an organization id is dropped
    assert not config.captain.enabled


def test_configs_compare_by_value_and_each_gets_its_own_defaults():
    first, second = Config(), Config()
    assert first == second and first.capx.companies is not second.capx.companies
    second.capx.companies.append("acme")
    assert first != second and Config(capx={"companies": ["acme"]}) == second
    with pytest.raises(InvalidConfig) as caught:
        Config(colour=1, webhooks={"prot": 1, "port": "x"})
    assert [problem.loc for problem in caught.value.problems] == [("webhooks", "port"), ("webhooks", "prot"),
                                                                  ("colour",)]


def test_the_history_setting_comes_from_the_file_the_environment_and_the_flag(tmp_path):
    """`history` is a setting like the others: file < CAPWATCH_HISTORY < --history, and a wrong value is one line
    naming where it came from."""
    import argparse

    from tui.config import ConfigError, load_config

    config_file = tmp_path / "config.toml"
    config_file.write_text('history = "off"\n')
    config_file.chmod(0o600)
    args = argparse.Namespace(config=str(config_file))
    assert load_config(args, env={}).config.history == "off"
    env = {"CAPWATCH_HISTORY": f"sqlite:///{tmp_path}/h.sqlite3"}
    assert load_config(args, env=env).config.history == env["CAPWATCH_HISTORY"]
    flagged = argparse.Namespace(config=str(config_file), history="postgresql://capwatch@db/history")
    assert load_config(flagged, env=env).config.history == "postgresql://capwatch@db/history"
    with pytest.raises(ConfigError) as raised:
        load_config(args, env={"CAPWATCH_HISTORY": "mysql://nope"})
    assert "CAPWATCH_HISTORY" in str(raised.value) and "history" in str(raised.value)
