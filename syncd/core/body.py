"""Split a read answer's body into its envelope and its records, without copying (pure).

msgspec parses the whole body once in C and hands each record back as a ``msgspec.Raw``:
a view of the record's own bytes inside the body, which is what ``_raw`` stores and what
the row builders decode, field by field, later. Numbers never pass through a binary float:
every float token is kept as its text (``Num``).

Whatever the bytes, ``parse`` returns: JSON nested deeper than the parser's stack, numbers
too large for an integer, or any other shape it cannot read give an envelope with
``parsed=False`` and a ``fault`` saying why — never an exception of the parser's own.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

import msgspec


class Num(str):
    """The text of a JSON number with a fraction or exponent, exactly as it was sent."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a body says about itself."""

    parsed: bool  # the body was complete JSON
    status: str | None = None
    message: str | None = None
    request_id: str | None = None
    mode: str | None = None
    total_returned: str | None = None
    records: int | None = None  # length of the records array; None: there is none
    objects: int | None = None  # how many of those records are JSON objects
    fault: str | None = None  # not parsed: why, as the end of "the body …" (a clause)


@dataclass(frozen=True, slots=True)
class Body:
    """A parsed answer: its envelope and the JSON objects among its records, in order."""

    envelope: Envelope
    records: list[msgspec.Raw]


ABSENT = msgspec.Raw(b"")  # msgspec.Raw takes no part in unions: absence is empty bytes


class _Outer(msgspec.Struct, gc=False):
    status: Any = None
    message: Any = None
    request_id: Any = None
    data: msgspec.Raw = ABSENT


class _Inner(msgspec.Struct, gc=False):
    mode: Any = None
    total_returned: Any = None
    data: msgspec.Raw = ABSENT


class _FastInner(msgspec.Struct, gc=False):
    mode: Any = None
    total_returned: Any = None
    data: list[msgspec.Raw] | None = None


class _Fast(msgspec.Struct, gc=False):
    """The usual shapes, parsed (and validated) in one pass over the body."""

    status: Any = None
    message: Any = None
    request_id: Any = None
    data: _FastInner | list[msgspec.Raw] | None = None


_FAST = msgspec.json.Decoder(_Fast, float_hook=Num)
_OUTER = msgspec.json.Decoder(_Outer, float_hook=Num)
_INNER = msgspec.json.Decoder(_Inner, float_hook=Num)
_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_MAP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_NOT_JSON = Body(Envelope(parsed=False), [])


TOO_DEEP = "is nested deeper than syncd reads"
UNREADABLE = "holds a value syncd cannot read (a number out of range)"


def parse(body: bytes | bytearray | memoryview) -> Body:
    """The envelope and records of ``body`` (the JSON part, see ``prepare``)."""
    try:
        return _parse(body)
    except RecursionError:  # msgspec recurses per level of nesting, on Python's stack
        return Body(Envelope(parsed=False, fault=TOO_DEEP), [])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Body(Envelope(parsed=False, fault=UNREADABLE), [])


def _parse(body: bytes | bytearray | memoryview) -> Body:
    try:
        fast = _FAST.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _parse_any_shape(body)
    inner = fast.data if isinstance(fast.data, _FastInner) else _FastInner()
    records = fast.data if isinstance(fast.data, list) else inner.data
    return _body(fast, inner, records)


def _body(outer: _Fast | _Outer, inner: _FastInner | _Inner,
          records: list[msgspec.Raw] | None) -> Body:
    objects = [r for r in records if first_byte(r) == b"{"] if records is not None else []
    env = Envelope(
        parsed=True, status=_text(outer.status), message=_text(outer.message),
        request_id=_text(outer.request_id), mode=_text(inner.mode),
        total_returned=_text(inner.total_returned),
        records=None if records is None else len(records), objects=len(objects))
    return Body(env, objects)


def _parse_any_shape(body: bytes | bytearray | memoryview) -> Body:
    """The other shapes: records as PHP's keyed object, odd types, or no object at all."""
    try:
        outer = _OUTER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _valid_but_not_object(body)
    inner = _Inner()
    records: list[msgspec.Raw] | None = None
    first = first_byte(outer.data)
    if first == b"[":
        records = _LIST.decode(outer.data)
    elif first == b"{":
        inner = _INNER.decode(outer.data)
        records = records_of(inner.data)
    return _body(outer, inner, records)


def _valid_but_not_object(body: bytes | bytearray | memoryview) -> Body:
    """Complete JSON that is not an object (``[]``, ``"x"``) parses but has no envelope."""
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _NOT_JSON
    return Body(Envelope(parsed=True), [])


def records_of(data: msgspec.Raw) -> list[msgspec.Raw] | None:
    """The records array; PHP encodes a list whose keys are not 0..n-1 as an object, whose
    values are then taken in key order (numeric keys first, by value)."""
    first = first_byte(data)
    if first == b"[":
        return _LIST.decode(data)
    if first != b"{":
        return None
    by_key = _MAP.decode(data)
    if not by_key or any(first_byte(v) != b"{" for v in by_key.values()):
        return None
    order = sorted(by_key, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    return [by_key[k] for k in order]


def first_byte(raw: msgspec.Raw) -> bytes:
    """The first byte of a raw JSON value (``{`` object, ``[`` array …; empty for ABSENT)."""
    return bytes(memoryview(raw)[:1])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---- before parsing: PHP warnings and escapes PostgreSQL cannot store -------------------

def json_start(body: bytes | bytearray) -> int:
    """Where the JSON object starts: a PHP warning printed before it is skipped."""
    start = body.find(b"{")
    if start < 0:
        raise ValueError("no JSON object in the body")
    return start


_CHUNK = 1 << 20  # bytes decoded at a time when checking UTF-8
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
# A surrogate escape, with the low half that follows it when there is one.
_SURROGATES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?")


def prepare(body: bytes | bytearray, start: int | None = None) -> memoryview | bytes:
    """The JSON part of a body, ready for PostgreSQL: PHP warnings before it skipped (as a
    view, not a copy), and invalid UTF-8, ``\\u0000`` and unpaired surrogate escapes (text
    PostgreSQL cannot store) made U+FFFD. ``start``: where the JSON begins, when the caller
    knows.

    The scan looks only at ``\\u0000`` / ``\\uD8..`` escapes (a literal-prefixed search),
    and the body is copied only when one of them has to change.
    """
    view: memoryview | bytes = memoryview(body)[json_start(body) if start is None else start:]
    if not body.isascii() and not _is_utf8(view):
        # Invalid bytes become U+FFFD: the record is kept, PostgreSQL can store its text.
        body = view = _utf8_replaced(view)
    if b"\\u0000" not in body and _surrogates_paired(body):
        return view
    data = bytes(view)
    cuts: list[tuple[int, int]] = []
    paired_low = -1  # start of a low surrogate already matched to the high before it
    for m in _SUSPECT.finditer(data):
        at = m.start()
        if at == paired_low or _escaped(data, at):
            continue
        code = int(data[at + 2:at + 6], 16)
        if 0xD800 <= code <= 0xDBFF and _is_low(data, at + 6):
            paired_low = at + 6
            continue
        cuts.append((at, at + 6))
    parts, last = [], 0
    for a, b in cuts:
        parts += [data[last:a], b"\\ufffd"]
        last = b
    parts.append(data[last:])
    return b"".join(parts)


def _is_utf8(view: memoryview | bytes) -> bool:
    """Whether ``view`` is valid UTF-8, checked a chunk at a time (memory stays flat)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for at in range(0, len(view), _CHUNK):
            decoder.decode(view[at:at + _CHUNK])
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


def _utf8_replaced(view: memoryview | bytes) -> bytes:
    """``view`` with every invalid UTF-8 sequence replaced by U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    parts = [decoder.decode(view[at:at + _CHUNK]).encode()
             for at in range(0, len(view), _CHUNK)]
    return b"".join([*parts, decoder.decode(b"", True).encode()])


def _surrogates_paired(body: bytes | bytearray) -> bool:
    """Fast (C-speed) check that every surrogate escape is half of a valid pair."""
    if b"\\ud" not in body and b"\\uD" not in body:
        return True
    return all(len(m[0]) == 12 and m[0][3:4] in b"89abAB" for m in _SURROGATES.finditer(body))


def _escaped(body: bytes, at: int) -> bool:
    """Whether the backslash at ``at`` is itself escaped (an odd run of backslashes)."""
    run = 0
    while at - run - 1 >= 0 and body[at - run - 1] == 0x5C:
        run += 1
    return run % 2 == 1


def _is_low(body: bytes, at: int) -> bool:
    """Whether a low-surrogate escape (\\uDC00-\\uDFFF) starts at ``at``."""
    chunk = body[at:at + 6]
    return (len(chunk) == 6 and chunk[:2] == b"\\u" and chunk[2:3] in b"dD"
            and chunk[3:4] in b"cdefCDEF")
