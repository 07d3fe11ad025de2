"""The credential values this process holds, and the scrub that removes them from text.

Every credential syncd loads (env, credential files, the DSN's password, a registration's
callback) is remembered here; the log processor and the error sentences built from a
server's words scrub them, so a server that echoes the request leaks nothing. Each value
is also remembered in the forms a server may echo it in: percent-encoded (a form body),
and JSON-escaped the way PHP's ``json_encode`` writes it (``/`` as ``\\/``).
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from syncd.core.text import printable, shortened

REDACTED = "**********"
MIN_LENGTH = 6  # shorter values would scrub ordinary words; real credentials are longer
_SCAN = 64 * 1024  # characters of a server's message looked at, at most



class _Known:
    """The remembered values, and the same ordered longest first for ``scrub``."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        # A longer form may contain a shorter one: replacing it first leaves no tail behind.
        self.longest_first: tuple[str, ...] = ()

    def add(self, forms: set[str]) -> None:
        if not forms <= self.values:
            self.values |= forms
            self.longest_first = tuple(sorted(self.values, key=len, reverse=True))


_KNOWN = _Known()


def remember(value: str) -> None:
    """Scrub ``value`` (and its encoded forms) from every text passed to ``scrub``."""
    if len(value) < MIN_LENGTH:
        return
    escaped = json.dumps(value)[1:-1]
    forms = {value, quote(value, safe=""), quote_plus(value), escaped,
             escaped.replace("/", "\\/")}
    _KNOWN.add({f for f in forms if len(f) >= MIN_LENGTH})


def scrub(text: str) -> str:
    """``text`` with every remembered credential replaced by asterisks."""
    for value in _KNOWN.longest_first:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def said(text: object, limit: int = 300) -> str | None:
    """A server's words, safe to put in an error sentence, a log line or ``last_error``:
    credentials scrubbed, control characters replaced, at most ``limit`` characters."""
    if text is None:
        return None
    words = str(text)
    if len(words) <= _SCAN:
        # Scrubbed before it is cut: a cut through a secret would leave its first part.
        return shortened(printable(scrub(words)), limit)
    # A huge message is scanned only as far as it can be shown; the cut at _SCAN may split
    # a secret, whose first part then ends the scrubbed text: that tail is dropped too.
    tail = max((len(v) for v in _KNOWN.longest_first[:1]), default=1) - 1
    head = scrub(words[:_SCAN])
    return shortened(printable(head[:len(head) - tail]), limit - 1) + "…"
