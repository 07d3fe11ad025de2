"""PHP's ``$_POST`` from a form body: how a server that reads only form fields sees a request.

``a=1&fields[]=x&fields[1]=y&filters[DocType]=SL`` becomes ``{"a": "1", "fields": ["x",
"y"], "filters": {"DocType": "SL"}}``: names and values URL-decoded (``+`` as space),
``[]`` appending, ``[key]`` nesting, every value a string. A PHP array whose keys are
0..n-1 in order comes out as a list (as ``json_encode`` would write it), any other as a
dict. Spaces and dots in a base name become ``_``, as PHP does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

_SUBSCRIPT = re.compile(r"\[([^\]]*)\]")
MAX_DEPTH = 64  # PHP's max_input_nesting_level default


def parse(raw: bytes) -> dict[str, Any]:
    """The form body ``raw`` as PHP would fill ``$_POST``."""
    root: dict[str, Any] = {}
    for pair in raw.decode("latin-1").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        key = _decode(name)
        path = _path(key)
        if path:
            _put(root, path, _decode(value))
    return {k: _arrays(v) for k, v in root.items()}  # $_POST itself stays keyed


def _decode(text: str) -> str:
    return unquote_plus(text.encode("latin-1").decode("utf-8", "replace"))


def _path(key: str) -> list[str | None]:
    """``name[a][]`` as ``["name", "a", None]`` (None: append)."""
    base, bracket, rest = key.partition("[")
    base = base.replace(" ", "_").replace(".", "_")
    if not base:
        return []
    if not bracket:
        return [base]
    subscripts = _SUBSCRIPT.findall("[" + rest)
    if not subscripts:
        return [base.replace("[", "_")]
    return [base, *(s if s else None for s in subscripts[:MAX_DEPTH])]


def _put(node: dict[str, Any], path: list[str | None], value: str) -> None:
    for i, part in enumerate(path):
        last = i == len(path) - 1
        key = str(_next_index(node)) if part is None else part
        if last:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child


def _next_index(node: dict[str, Any]) -> int:
    """PHP's append: one past the largest integer key so far."""
    ints = [int(k) for k in node if k.isdigit()]
    return max(ints) + 1 if ints else 0


def _arrays(node: Any) -> Any:
    """Nested PHP arrays as lists where their keys are 0..n-1 in order, else dicts."""
    if not isinstance(node, dict):
        return node
    converted = {k: _arrays(v) for k, v in node.items()}
    if converted and list(converted) == [str(i) for i in range(len(converted))]:
        return list(converted.values())
    return converted
