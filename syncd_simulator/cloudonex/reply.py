"""An answer of the simulated server before delivery, so that faults can still bend it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Reply:
    """Status, body and headers of one answer."""

    status: int
    text: str
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    rate_headers: bool = True  # False for what a proxy in front of the server answers
