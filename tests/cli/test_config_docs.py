"""What the README promises about configuration matches the code: every environment variable the code reads is in
its table (and nothing else), the yes/no words are the ones accepted, and a fifth vendor needs no config code."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui.config import ENVIRONMENT, Config, ConfigError, load_config
from tui.config.settings import NO, YES, YES_NO

ROOT = Path(__file__).resolve().parents[2]
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*(<NAME>)?")
# Reads of a name held in a variable, known to come from the config's own list (ENVIRONMENT).
FROM_ENVIRONMENT_LIST = {("tui/config/loading.py", "variable")}


def readme_configuration() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Configuration\n")
    return text[start:text.index("\n## ", start + 1)]


def readme_variables() -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", readme_configuration(), re.MULTILINE)


def _name_of(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # f"CAPWATCH_SIM_{variable}" -> CAPWATCH_SIM_<NAME>
        return "".join(part.value if isinstance(part, ast.Constant) else "<NAME>" for part in node.values)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def variables_read_by_the_code() -> set[str]:
    """Every environment variable tui/ reads: `os.environ[...]`, `os.environ.get(...)`, `os.getenv(...)` and the
    same on a mapping named `env` or `environ`, with the name written out, in an f-string or a module constant;
    plus the config's own list."""
    found = set(ENVIRONMENT)
    unresolved = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        tree = ast.parse(path.read_text())
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}
        for node in ast.walk(tree):
            key = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                receiver = ast.unparse(node.func.value)
                if (node.func.attr == "get" and receiver in ("os.environ", "env", "environ")) or \
                        (node.func.attr == "getenv" and receiver == "os"):
                    key = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                if ast.unparse(node.value) in ("os.environ", "env", "environ"):
                    key = node.slice
            if key is None:
                continue
            name = _name_of(key, constants)
            relative = str(path.relative_to(ROOT))
            if name is None:
                if (relative, ast.unparse(key)) not in FROM_ENVIRONMENT_LIST:
                    unresolved.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
            elif ENV_NAME.fullmatch(name):
                found.add(name)
    assert not unresolved, f"environment reads this test cannot name: {unresolved}"
    return found


def test_the_readme_lists_every_environment_variable_the_code_reads():
    listed = readme_variables()
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    read = variables_read_by_the_code()
    assert not read - set(listed), f"read by the code, missing from the README's table: {sorted(read - set(listed))}"
    assert not set(listed) - read, f"in the README's table, read nowhere: {sorted(set(listed) - read)}"
    for required in ("CAPWATCH_READ_ONLY", "CAPWATCH_CAPOUT_TRANSPORT", "CAPWATCH_PROFILE", "CAPWATCH_CONFIG",
                     "CAPWATCH_QUERY_HISTORY"):
        assert required in listed


def test_the_readme_lists_the_yes_no_words_the_code_accepts():
    paragraph = readme_configuration().split("A yes/no setting", 1)[1].split("\n\n")[0]
    assert set(re.findall(r"`(\w+)`/`(\w+)`", paragraph)) == set(zip(YES, NO))


@pytest.mark.parametrize("word,expected", [(word, True) for word in YES] + [(word, False) for word in NO])
def test_one_list_of_yes_no_words_for_the_file_the_environment_and_the_model(tmp_path, word, expected):
    for spelled in (word, word.upper(), f" {word} "):
        assert load_config(_flags(), env={"CAPWATCH_READ_ONLY": spelled}).config.read_only is expected
        path = tmp_path / "c.toml"
        path.write_text(f'read_only = "{spelled}"\n')
        path.chmod(0o600)
        assert load_config(_flags(str(path)), env={}).config.read_only is expected
        assert Config(read_only=spelled).read_only is expected
    assert load_config(_flags(read_only=True), env={"CAPWATCH_READ_ONLY": "no"}).config.read_only is True  # the flag


@pytest.mark.parametrize("word", ["t", "f", "maybe", "2", "yess", ""])
def test_other_words_are_refused_alike_with_the_list(tmp_path, word):
    with pytest.raises(ConfigError) as caught:
        load_config(_flags(), env={"CAPWATCH_READ_ONLY": word or "-"})
    assert str(caught.value) == ("environment variable CAPWATCH_READ_ONLY: read_only must be yes or no: "
                                 f"one of {YES_NO}")
    path = tmp_path / "c.toml"
    path.write_text(f'read_only = "{word}"\n')
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: read_only must be yes or no: one of true/false"):
        load_config(_flags(str(path)), env={})


def _flags(config: str = "/dev/null", **values):
    import argparse

    return argparse.Namespace(config=config, **values)


def test_a_fifth_vendor_gets_its_section_variables_key_checks_and_init_flags_from_its_declaration():
    """The registry gains a vendor (with no settings module of its own): nothing in tui/config/ changes."""
    script = textwrap.dedent('''
        import argparse
        import tui.vendors as registry
        from tui.vendors.base import Vendor

        capz = Vendor(name="capz", title="Capz", default_base_url="https://api.capz.dev", key_prefixes=("capz_",),
                      webhooks=True)
        registry.VENDORS = (*registry.VENDORS, capz)
        from tui.config import ENVIRONMENT, Config, ConfigError, load_config
        from tui.config.init import build_parser

        assert {"CAPZ_BASE_URL": "capz.base_url", "CAPZ_API_KEY": "capz.api_key",
                "CAPZ_WEBHOOK_SECRET": "capz.webhook_secret"}.items() <= ENVIRONMENT.items()
        assert Config().capz.base_url == "https://api.capz.dev" and not Config().capz.enabled
        loaded = load_config(argparse.Namespace(config="/dev/null"), env={"CAPZ_API_KEY": "capz_k",
                                                                           "CAPZ_BASE_URL": "http://127.0.0.1:9/z/"})
        assert loaded.config.capz.enabled and loaded.config.capz.base_url == "http://127.0.0.1:9/z"
        assert list(loaded.config.services())[-1] == "capz"
        try:
            load_config(argparse.Namespace(config="/dev/null"), env={"CAPZ_API_KEY": "capx_sk_k"})
        except ConfigError as error:
            assert str(error) == ("environment variable CAPZ_API_KEY: capz.api_key looks like a Capx key, not a "
                                  "Capz key (those start capz_...)"), error
        else:
            raise AssertionError("a Capx key was taken for Capz")
        assert "--capz-base-url" in build_parser().format_help()
        assert build_parser().parse_args(["--capz-api-key", "capz_k"]).capz_api_key == "capz_k"
        print("ok")
    ''')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
