r"""API values as fields of a PostgreSQL COPY, typed for their column (pure).

The format is CSV with a tab delimiter, ``\x01`` as the quote and ``\N`` as NULL
(``COPY_OPTIONS``): backslashes are plain data, so JSON text (full of ``\/`` and
``\uXXXX``) goes through untouched, and a record's raw bytes need no escaping at all —
JSON never contains a raw control character. Only a text value with a tab, line break or
other control character, or one that reads ``\N``, is quoted.

Each converter takes a value as msgspec decoded it (``str``, ``int``, ``Num`` for other
numbers, ``bool``, ``None``, lists and dicts) and returns the field's COPY text, ``NULL``,
or ``BAD``: a value that arrived but does not parse for its column ("N/A" in a number),
stored as NULL and counted. Everything returned is already valid input for the column's
type, so COPY never fails on API data. An empty string and a MySQL zero date are "no
value" (what PHP sends for unset fields), NULL but not counted. Numbers keep the digits
they were sent with: no value passes through a binary float.

Non-text values repeat a lot within a window (dates, prices, rates), so each converter
remembers its recent answers.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from typing import Any, Final

import msgspec

from syncd.core.body import Num
from syncd.core.model import FieldType

NULL: Final = "\\N"
QUOTE: Final = "\x01"
COPY_OPTIONS: Final = {"format": "csv", "delimiter": "\t", "quote": QUOTE, "null": NULL}


class _Bad:
    """A value that did not parse: stored as NULL, counted in status as unparsed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BAD"


BAD: Final = _Bad()
Field = str | _Bad
Converter = Callable[[Any], Field]

_NO_VALUE = frozenset({"", "0000-00-00", "0000-00-00 00:00:00"})
_NUMERIC = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,4})?\s*")
_BIGINT = re.compile(r"\s*([-+]?\d{1,18})(\.0*)?\s*")
_DATE = re.compile(r"\s*(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([ T].*)?", re.S)
_TIME = re.compile(r"\s*(([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)\s*")
_HMS = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
_LOCAL = re.compile(rf"\s*(\d{{4}}-\d{{2}}-\d{{2}})([ T]{_HMS})?\s*")
_ZONED = re.compile(rf"\s*(\d{{4}}-\d{{2}}-\d{{2}})[ T]({_HMS}(Z|[-+](0\d|1[0-4])(:?[0-5]\d)?))\s*")


def escape(text: str) -> str:
    """``text`` as a COPY field (NUL, which PostgreSQL text cannot hold, as U+FFFD)."""
    if text.isprintable() and text != NULL:
        return text
    return QUOTE + text.replace(QUOTE, QUOTE * 2).replace("\0", "\ufffd") + QUOTE


def text(value: Any) -> Field:
    """Any JSON value as text: strings as they are, other scalars as JSON writes them."""
    if value is None:
        return NULL
    if isinstance(value, str):  # str and Num
        return escape(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return escape(msgspec.json.encode(value).decode())


def _no_value(value: Any) -> bool:
    return isinstance(value, str) and value.strip(" ") in _NO_VALUE


def _numeric(value: Any) -> Field:
    if type(value) is int:
        return str(value)
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        return value.strip()
    return NULL if _no_value(value) else BAD


def _bigint(value: Any) -> Field:
    if type(value) is int:
        return str(value) if abs(value) < 10**18 else BAD
    if isinstance(value, str) and (m := _BIGINT.fullmatch(value)):
        return str(int(m.group(1)))
    return NULL if _no_value(value) else BAD


def _date_text(value: Any) -> str | None:
    """``YYYY-MM-DD`` of a value that starts with a real calendar date, else None."""
    if not isinstance(value, str) or not (m := _DATE.fullmatch(value)):
        return None
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if year == 0 or day > calendar.monthrange(year, month)[1]:
        return None
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"


def _date(value: Any) -> Field:
    day = _date_text(value)
    if day is not None:
        return day
    return NULL if value is None or _no_value(value) else BAD


def _time(value: Any) -> Field:
    if isinstance(value, str) and (m := _TIME.fullmatch(value)):
        return m.group(1)
    return NULL if _no_value(value) else BAD


def _timestamp(value: Any) -> Field:
    """A date-time: zone-less ones are read by PostgreSQL in the session TimeZone (the
    source's, set for the load), an explicit ``Z`` or offset is honoured."""
    day = _date_text(value)
    if day is not None:
        if m := _LOCAL.fullmatch(value):
            return f"{day}{' ' + m.group(2)[1:] if m.group(2) else ''}"
        if m := _ZONED.fullmatch(value):
            return f"{day} {m.group(2)}"
    return NULL if _no_value(value) else BAD


def _remembered(convert: Converter, size: int = 65536) -> Converter:
    """``convert`` with a memory of recent string answers (cleared when full)."""
    seen: dict[str, Field] = {}

    def converter(value: Any) -> Field:
        if value is None:
            return NULL
        if type(value) is not str:
            return convert(value)
        found = seen.get(value)
        if found is None:
            if len(seen) >= size:
                seen.clear()
            found = seen[value] = convert(value)
        return found

    return converter


def _num_token(value: Any) -> Field:
    """A JSON number token is already valid numeric input unless its exponent is huge."""
    if type(value) is Num and "e" not in value and "E" not in value:
        return value
    return _numeric_remembered(value)


_numeric_remembered = _remembered(_numeric)

CONVERTERS: dict[FieldType, Converter] = {
    FieldType.TEXT: text,
    FieldType.NUMERIC: _num_token,
    FieldType.BIGINT: _remembered(_bigint),
    FieldType.DATE: _remembered(_date),
    FieldType.TIME: _remembered(_time),
    FieldType.TIMESTAMP: _remembered(_timestamp),
}


def convert(value: Any, kind: FieldType) -> Field:
    """``value`` as COPY text for a column of type ``kind`` (or NULL / BAD)."""
    return CONVERTERS[kind](value)


def bytea(digest: bytes) -> str:
    """A bytea value as a COPY field."""
    return "\\x" + digest.hex()


def raw_field(raw: bytes | msgspec.Raw) -> bytes:
    """A record's own JSON bytes as a COPY field (for a ``json`` column), quoted."""
    data = bytes(raw)
    if b"\x01" in data:  # never in valid JSON; doubled all the same
        data = data.replace(b"\x01", b"\x01\x01")
    return b"\x01" + data + b"\x01"
