"""Untrusted text: every string a server sends passes through here before it is shown or printed.

Rich and Textual do not strip escape sequences, so a file name could retitle the terminal or write the
clipboard, and a bidirectional override could make one file name show as another. We remove ESC sequences,
C0 controls (but newline and tab), DEL, C1 controls and bidirectional overrides and isolates. Markup is a
separate concern: widgets receive `rich.text.Text` objects, never markup strings built from server data.
"""

from __future__ import annotations

import re
from typing import Any

# The patterns are compiled when first needed (`_patterns`), not at import: ~1.3 ms before the monitor's first
# frame, for text that is nearly always printable already (sanitize's fast path needs none of them).

# CSI, OSC, DCS/SOS/PM/APC strings and two-byte ESC sequences, in their 7-bit and 8-bit forms.
_ESCAPE_SEQUENCE = r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?            # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])     # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?      # ... up to BEL or ST
    | \x1b[ -/]*[0-~]?                           # other ESC sequences
    """
# Bidirectional overrides and isolates reorder what follows them on screen (a file name could show as another):
# removed like controls.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROL = f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]"
_CONTROL_SINGLE_LINE = f"[\\x00-\\x1f\\x7f-\\x9f{_BIDI}]"


def sanitize(value: Any, *, single_line: bool = False) -> str:
    """Return `value` as text with escape sequences and control characters removed.

    `single_line` also turns newlines and tabs into spaces, for table cells and log lines.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # fast path: the common case costs one C-level scan
        return text
    escape_sequence, control, control_single_line, _ = _compiled or _patterns()
    text = escape_sequence.sub("", text)
    if single_line:
        return control_single_line.sub(lambda m: " " if m.group() in "\n\t\r" else "", text)
    return control.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


# In JSON text, what a decoded string may hold that sanitize would change: a backslash (an escape decodes to
# any character, controls included) or a character sanitize removes or rewrites, as it stands in the text
# (JSON forbids raw C0 controls in strings, but allows raw DEL, C1 and bidi controls; between tokens only
# whitespace).
_JSON_TEXT_UNSAFE = f"[\\\\\\x00-\\x1f\\x7f-\\x9f{_BIDI}]"

_compiled: tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]] | None = None


def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The escape sequence, control, single-line control and JSON-unsafe patterns, compiled on first use."""
    global _compiled
    if _compiled is None:
        _compiled = (re.compile(_ESCAPE_SEQUENCE, re.VERBOSE), re.compile(_CONTROL), re.compile(_CONTROL_SINGLE_LINE),
                     re.compile(_JSON_TEXT_UNSAFE))
    return _compiled


def json_text_is_clean(raw: str | bytes) -> bool:
    """Whether every string (keys and values) decoded from the JSON text `raw` by a strict decoder (json.loads,
    tui.live.events.load_json) is already exactly what `sanitize_data` would make of it, so that the decoded
    value may skip `sanitize_data`. Without a backslash, decoded strings hold only characters that stand in the
    text; with none of the characters sanitize touches (C0, DEL, C1, hence no escape sequence either) they pass
    through it unchanged. Bytes are not checked (UTF-8 hides C1 in two bytes): False. Depth is the decoder's
    business: load_json refuses more than MAX_JSON_DEPTH levels, which MAX_DATA_DEPTH (the same 64) accepts.
    tests/test_properties.py checks the equivalence on arbitrary JSON text."""
    if not isinstance(raw, str) or "\\" in raw:
        return False
    if raw.isascii():  # O(1): CPython knows. JSON rejects raw C0 inside strings, so only DEL is left to find
        return "\x7f" not in raw
    return (_compiled or _patterns())[3].search(raw) is None


# Deeper than this, a JSON-like value is no vendor payload: it is cut off (a hostile one would blow the stack).
MAX_DATA_DEPTH = 64
TOO_DEEP = "[nested too deeply]"


def sanitize_data(value: Any, _depth: int = 0) -> Any:
    """Sanitize every string (keys and values) inside a JSON-like structure; containers nested deeper than
    MAX_DATA_DEPTH become the text TOO_DEEP."""
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, (dict, list, tuple)) and _depth >= MAX_DATA_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {sanitize(k, single_line=True): sanitize_data(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize_data(v, _depth + 1) for v in value]
    return value


def mask_secret(secret: str | None) -> str:
    """Show a secret as its last four characters only: `••••abcd`."""
    if not secret:
        return "(not set)"
    if len(secret) <= 8:
        return "••••"
    return "••••" + secret[-4:]
