"""The environment for a capwatch child process in a test: this one's, less every variable capwatch's config reads
(a developer's own keys or config must not leak into a test)."""

from __future__ import annotations

import os

from tui.config import ENVIRONMENT


def clean_env(**values: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ENVIRONMENT and name != "CAPWATCH_CONFIG"}
    env.update(values)
    return env
