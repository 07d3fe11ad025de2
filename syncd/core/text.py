"""Text from outside made safe to print: no terminal control characters (pure).

A server's message, a record's field name or a logged value can carry ESC sequences that
rewrite a terminal (clear it, move the cursor, retitle the window) or bidi overrides that
reorder what is shown. Everything syncd prints to a terminal passes through ``printable``.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the bidi embeddings/overrides/isolates (U+202A-E, U+2066-9).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with every control character shown as U+FFFD (``lines``: keep \\n and \\t)."""
    pattern = _CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub("\ufffd", text) if pattern.search(text) else text


def shortened(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
