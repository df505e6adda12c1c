"""The `history` setting: where the event history lives, or `off`.

    history = "off"                                   no history at all
    history = ""  (or unset)                          SQLite at $XDG_DATA_HOME/capwatch/history.sqlite3
    history = "~/incidents/history.sqlite3"           SQLite at that path
    history = "sqlite:///var/lib/capwatch/h.sqlite3"  the same, as a URL (an absolute path after sqlite://)
    history = "postgresql://user@host:5432/capwatch"  PostgreSQL (also postgres://; libpq's parameters allowed)

The same values come from `CAPWATCH_HISTORY` and `--history` (wired into tui/config by its owner).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Mapping, NamedTuple
from urllib.parse import urlsplit, urlunsplit

ENV_VARIABLE = "CAPWATCH_HISTORY"
FILE_NAME = "history.sqlite3"


class HistorySettingError(ValueError):
    """A `history` value that is none of: a path, sqlite:///PATH, postgresql://..., off."""


class HistorySetting(NamedTuple):
    backend: Literal["sqlite", "postgresql", "off"]
    path: Path | None = None  # sqlite
    url: str | None = None  # postgresql, as given (may hold a password: show `describe()`, never the URL)

    @property
    def enabled(self) -> bool:
        return self.backend != "off"

    def describe(self) -> str:
        """For screens and messages: the path, or the URL with its password masked."""
        if self.backend == "sqlite":
            return str(self.path)
        if self.backend == "postgresql":
            return mask_url(self.url or "")
        return "off"


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_DATA_HOME/capwatch/history.sqlite3, else ~/.local/share/capwatch/history.sqlite3 (a relative
    XDG_DATA_HOME is invalid per the XDG spec and ignored)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path(env.get("HOME") or Path.home()) / ".local" / "share"
    return root / "capwatch" / FILE_NAME


def parse_setting(value: str | None, env: Mapping[str, str] | None = None) -> HistorySetting:
    """The setting from its text; None or blank means the default SQLite file."""
    text = (value or "").strip()
    if not text:
        return HistorySetting("sqlite", path=default_path(env))
    if text.lower() == "off":
        return HistorySetting("off")
    if "://" not in text:
        return HistorySetting("sqlite", path=Path(text).expanduser())
    scheme = text.split("://", 1)[0].lower()
    if scheme == "sqlite":
        rest = text.split("://", 1)[1]
        if "?" in rest or "#" in rest:
            raise HistorySettingError("a sqlite:/// URL takes a path only, no ?query or #fragment")
        if not rest.strip("/"):
            raise HistorySettingError("sqlite:/// needs a file path, e.g. sqlite:///home/me/history.sqlite3")
        path = "/" + rest.lstrip("/") if rest.startswith("/") else rest  # sqlite:////abs and sqlite:///abs alike
        return HistorySetting("sqlite", path=Path(path).expanduser())
    if scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(text)
            parts.port  # a port that is not a number
        except ValueError as error:
            raise HistorySettingError(f"not a valid PostgreSQL URL: {error}") from None
        return HistorySetting("postgresql", url=text)
    raise HistorySettingError(f"history must be a path, sqlite:///PATH, postgresql://... or off (not {scheme}://)")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ••••, in the netloc and in a `password=` parameter."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://…"
    netloc = parts.netloc
    if parts.password is not None:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}:••••@{host}"
    query = "&".join("password=••••" if item.lower().startswith("password=") else item
                     for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
