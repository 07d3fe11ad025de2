"""JSON text with Decimals written digit for digit (money never passes through float)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as an exact Decimal."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse)


def dumps(value: object) -> str:
    """Compact JSON of str, int, Decimal, bool, None, mappings and sequences."""
    out: list[str] = []
    _emit(value, out)
    return "".join(out)


def _refuse(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _emit(value: object, out: list[str]) -> None:
    if isinstance(value, str) or value is None or isinstance(value, bool | int):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        out.append(str(value) if "E" not in str(value) else format(value, "f"))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (k, item) in enumerate(value.items()):
            out.append(("," if i else "") + json.dumps(str(k), ensure_ascii=False) + ":")
            _emit(item, out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            _emit(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
