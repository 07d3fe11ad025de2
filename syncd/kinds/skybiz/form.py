"""SKYBIZ requests as form fields, for servers that read only ``$_POST`` (CONTRACT §10; pure).

The documents' PHP samples POST ``http_build_query($payload)``; ``encode`` produces the
same bytes: ``key=value`` pairs joined by ``&``, every name and value through PHP's
``urlencode`` (letters, digits and ``-_.`` kept, space as ``+``, everything else ``%XX``
of its UTF-8 bytes), arrays as ``name[key]`` with the brackets percent-encoded, a list of
scalars as ``fields[]=CusCode&fields[]=CusName`` (CONTRACT §10; PHP parses it into the same
array as ``http_build_query``'s ``fields[0]=…&fields[1]=…``), a list of arrays with its
indices (``docs[0][Qty]``: with ``[]`` PHP would start a new element per field). As PHP
does, an empty array and ``null`` send nothing, ``true``/``false`` send ``1``/``0``; a
``Decimal`` goes with its digits unchanged. A float is refused: money never passes through
one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus

import msgspec

CONTENT_TYPE = "application/x-www-form-urlencoded"
FORM_ONLY_MESSAGE = "api key and secret are required"


def encode(payload: Mapping[str, Any]) -> bytes:
    """``payload`` as PHP's ``http_build_query`` encodes it."""
    return "&".join(_pairs(payload, prefix=None)).encode("ascii")


def _pairs(value: Mapping[str, Any] | Sequence[Any], prefix: str | None) -> Iterator[str]:
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    scalars = not isinstance(value, Mapping) and not any(_nested(i) for i in value)
    for key, item in items:
        index = "" if scalars else _urlencode(str(key))
        name = _urlencode(str(key)) if prefix is None else f"{prefix}%5B{index}%5D"
        if item is None:
            continue  # PHP skips null members
        if _nested(item):
            yield from _pairs(item, name)  # an empty array yields nothing, as in PHP
        else:
            yield f"{name}={_urlencode(_scalar(item))}"


def _nested(item: Any) -> bool:
    """Whether ``item`` is a PHP array (a mapping or a list), not a scalar."""
    return isinstance(item, Mapping) or (isinstance(item, Sequence)
                                         and not isinstance(item, str | bytes | bytearray))


def _scalar(value: Any) -> str:
    """A scalar as PHP writes it in a query string."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal | str):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    raise TypeError(f"cannot form-encode a {type(value).__name__} (money never goes as float)")


def _urlencode(text: str) -> str:
    """PHP's ``urlencode``: like ``quote_plus`` with nothing safe, and ``~`` encoded too."""
    return quote_plus(text, safe="").replace("~", "%7E")


def is_form_only_answer(status: int, body: bytes | bytearray) -> bool:
    """Whether a server refused a request for lack of credentials it was sent: a 400 "API
    key and secret are required", the answer of a server that reads only form fields to a
    JSON body (the caller knows both credentials went out)."""
    if status != 400:
        return False
    head = bytes(body[:4096])
    try:
        doc = msgspec.json.decode(head[head.find(b"{"):]) if b"{" in head else None
    except (msgspec.DecodeError, RecursionError):
        doc = None
    words = doc.get("message") if isinstance(doc, dict) else None
    text = words if isinstance(words, str) else head.decode("utf-8", "replace")
    return FORM_ONLY_MESSAGE in " ".join(text.lower().split())
