"""Untrusted text: every string a server sends passes through here before it is shown or printed.

Rich and Textual do not strip escape sequences, so a file name could retitle the terminal or write the
clipboard. We remove ESC sequences, C0 controls (but newline and tab), DEL and C1 controls. Markup is a
separate concern: widgets receive `rich.text.Text` objects, never markup strings built from server data.
"""

from __future__ import annotations

import re
from typing import Any

# CSI, OSC, DCS/SOS/PM/APC strings and two-byte ESC sequences, in their 7-bit and 8-bit forms.
_ESCAPE_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?            # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])     # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?      # ... up to BEL or ST
    | \x1b[ -/]*[0-~]?                           # other ESC sequences
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sanitize(value: Any, *, single_line: bool = False) -> str:
    """Return `value` as text with escape sequences and control characters removed.

    `single_line` also turns newlines and tabs into spaces, for table cells and log lines.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # fast path: the common case costs one C-level scan
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    if single_line:
        return _CONTROL_SINGLE_LINE.sub(lambda m: " " if m.group() in "\n\t\r" else "", text)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def sanitize_data(value: Any) -> Any:
    """Sanitize every string (keys and values) inside a JSON-like structure."""
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, dict):
        return {sanitize(k, single_line=True): sanitize_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize_data(v) for v in value]
    return value


def mask_secret(secret: str | None) -> str:
    """Show a secret as its last four characters only: `••••abcd`."""
    if not secret:
        return "(not set)"
    if len(secret) <= 8:
        return "••••"
    return "••••" + secret[-4:]
