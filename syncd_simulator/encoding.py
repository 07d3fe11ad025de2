"""JSON text the way PHP's json_encode writes it, with Decimals as exact number literals."""

from __future__ import annotations

import json.encoder
from collections.abc import Mapping, Sequence
from decimal import Decimal

_quote = json.encoder.encode_basestring_ascii  # PHP escapes non-ASCII as \uXXXX by default


def _string(text: str) -> str:
    """A JSON string literal; PHP also escapes the forward slash."""
    return _quote(text).replace("/", "\\/")


def _emit(value: object, out: list[str]) -> None:
    """Append the JSON text of ``value`` to ``out``."""
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot encode {value} as JSON")
        out.append(format(value, "f"))  # keeps every digit: 12.30 stays 12.30
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Mapping):
        _emit_object(value, out)
    elif isinstance(value, Sequence):
        _emit_array(value, out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _emit_object(value: Mapping[object, object], out: list[str]) -> None:
    """Append a JSON object, keys in insertion order."""
    out.append("{")
    for i, (key, item) in enumerate(value.items()):
        out.append(("," if i else "") + _string(str(key)) + ":")
        _emit(item, out)
    out.append("}")


def _emit_array(value: Sequence[object], out: list[str]) -> None:
    """Append a JSON array."""
    out.append("[")
    for i, item in enumerate(value):
        if i:
            out.append(",")
        _emit(item, out)
    out.append("]")


def dumps(value: object) -> str:
    """Compact JSON text of ``value`` (str, int, Decimal, None, bool, dict, list)."""
    out: list[str] = []
    _emit(value, out)
    return "".join(out)
