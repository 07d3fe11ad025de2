"""An answer of the simulated CloudOnex server before delivery, and its error envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncd_simulator import encoding
from syncd_simulator.cloudonex.query import Refused

HTML = "text/html; charset=UTF-8"


@dataclass(slots=True)
class Reply:
    """An answer before delivery, so that faults can still bend it."""

    status: int
    text: str
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    rate_headers: bool = True  # False for what a proxy in front of the server answers


def error(exc: Refused) -> Reply:
    """The documented error envelope (or the HTML page), with Retry-After on 429."""
    if exc.page is not None:
        return Reply(exc.status, exc.page, HTML)
    body: dict[str, Any] = {"success": False, "message": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    if exc.status == 405:
        headers["Allow"] = "GET"
    return Reply(exc.status, encoding.dumps(body), headers=headers)
