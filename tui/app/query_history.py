"""The Query tab's history: every question asked, kept across runs in a small JSON file.

The file lives under the user data dir ($XDG_DATA_HOME/capwatch/query-history.json, by default
~/.local/share/capwatch/), or wherever CAPWATCH_QUERY_HISTORY points. It is written whole (a temporary file
moved over the old one, mode 0600: questions can be confidential), bounded to the newest entries, and read
tolerantly: a missing, unreadable or corrupt file is an empty history, and odd entries are skipped.

No Textual import here: the pane uses this, tests use it alone.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from tui.text import sanitize

log = logging.getLogger("capwatch.query_history")

HISTORY_PATH_ENV = "CAPWATCH_QUERY_HISTORY"
MAX_ENTRIES = 500
PREVIEW_CHARS = 160
MAX_QUESTION_CHARS = 20_000  # a pasted novel is not kept whole

# The outcome of one run, as recorded.
SUCCESS, FAILED, CANCELLED = "success", "error", "cancelled"


def default_history_path(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get(HISTORY_PATH_ENV)
    if override:
        return Path(override).expanduser()
    data_home = env.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(data_home).expanduser() / "capwatch" / "query-history.json"


def preview_of(text: str, limit: int = PREVIEW_CHARS) -> str:
    """One line of at most `limit` characters, safe to show."""
    line = " ".join(sanitize(text or "", single_line=True).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class HistoryEntry:
    time: float  # epoch seconds, when the question was asked
    database: str
    question: str
    elapsed: float | None = None  # seconds, as measured by capwatch
    status: str = SUCCESS
    preview: str = ""  # the start of the answer, or the error

    @classmethod
    def from_json(cls, value: Any) -> "HistoryEntry | None":
        """An entry from the file, or None when it is not one (the file may have been edited by hand)."""
        if not isinstance(value, dict):
            return None
        question, database = value.get("question"), value.get("database")
        if not isinstance(question, str) or not question.strip() or not isinstance(database, str):
            return None
        moment, elapsed = value.get("time"), value.get("elapsed")
        return cls(
            time=float(moment) if isinstance(moment, (int, float)) and not isinstance(moment, bool) else 0.0,
            database=database,
            question=question,
            elapsed=float(elapsed) if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) else None,
            status=str(value.get("status") or SUCCESS),
            preview=str(value.get("preview") or ""),
        )

    def matches(self, words: Iterable[str]) -> bool:
        """Every word (lowercase) appears in the question or the database name."""
        haystack = f"{self.database}\n{self.question}".lower()
        return all(word in haystack for word in words)


class QueryHistory:
    """The entries, oldest first; `add` saves at once."""

    def __init__(self, path: Path | str | None = None, *, limit: int = MAX_ENTRIES):
        self.path = Path(path).expanduser() if path is not None else default_history_path()
        self.limit = limit
        self.entries: list[HistoryEntry] = []
        self.load_error: str | None = None  # why the file could not be read, for the UI to mention once

    def load(self) -> "QueryHistory":
        self.entries = []
        self.load_error = None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self
        except (OSError, ValueError) as error:
            # Keep the broken file's name in the message, never its content.
            self.load_error = f"query history {self.path} unreadable ({type(error).__name__}); starting empty"
            log.warning("%s", self.load_error)
            return self
        items = raw.get("entries") if isinstance(raw, dict) else raw
        if isinstance(items, list):
            self.entries = [entry for entry in map(HistoryEntry.from_json, items) if entry is not None]
            self.entries = self.entries[-self.limit:]
        return self

    def add(self, entry: HistoryEntry) -> HistoryEntry:
        entry.question = entry.question[:MAX_QUESTION_CHARS]
        entry.preview = preview_of(entry.preview)
        self.entries.append(entry)
        del self.entries[: -self.limit]
        self.save()
        return entry

    def record(self, *, database: str, question: str, elapsed: float | None, status: str, preview: str = "",
               at: float | None = None) -> HistoryEntry:
        return self.add(HistoryEntry(time=time.time() if at is None else at, database=database, question=question,
                                     elapsed=None if elapsed is None else round(elapsed, 3), status=status,
                                     preview=preview))

    def search(self, text: str = "") -> list[HistoryEntry]:
        """Newest first; with `text`, only entries holding every one of its words."""
        words = text.lower().split()
        return [entry for entry in reversed(self.entries) if entry.matches(words)]

    def save(self) -> None:
        """Write every entry atomically with mode 0600; a failure is logged, never raised (history is a comfort)."""
        payload = json.dumps({"version": 1, "entries": [asdict(entry) for entry in self.entries]},
                             ensure_ascii=False, indent=1)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=".query-history.", dir=self.path.parent)  # mode 0600
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                os.chmod(temporary, 0o600)
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            log.warning("could not save the query history to %s: %s", self.path, type(error).__name__)
