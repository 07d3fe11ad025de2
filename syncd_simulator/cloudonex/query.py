"""A list request's query string, validated the way the server does: page, limit, dates."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from syncd_simulator.cloudonex.resources import Resource
from syncd_simulator.rules import Rejected

DEFAULT_LIMIT = 20
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_POSITIVE = re.compile(r"[1-9]\d{0,8}")


class Refused(Rejected):
    """A refusal with the documented error envelope: message, and per-field ``errors``."""

    def __init__(self, status: int, message: str, errors: Mapping[str, str] | None = None,
                 retry_after: int | None = None, page: str | None = None) -> None:
        super().__init__(status, message, retry_after)
        self.errors = dict(errors or {})
        self.page = page  # an HTML page sent instead of the JSON envelope


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated list request: 1-based page, capped limit, optional inclusive dates."""

    page: int = 1
    limit: int = DEFAULT_LIMIT
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None

    def meta(self, total: int) -> dict[str, int]:
        """The documented ``meta`` object for a filtered set of ``total`` records."""
        return {"current_page": self.page, "total_pages": math.ceil(total / self.limit),
                "total_records": total}

    def window(self) -> slice:
        """This page's rows within the whole ordered set."""
        start = (self.page - 1) * self.limit
        return slice(start, start + self.limit)


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    """A positive integer parameter, or a 400 naming it."""
    text = query.get(name)
    if text is None:
        return default
    if not _POSITIVE.fullmatch(text):
        raise Refused(400, "Validation failed", {name: f"{name} must be a positive integer"})
    return int(text)


def _day(query: Mapping[str, str], name: str) -> datetime.date | None:
    """A YYYY-MM-DD parameter, or a 400 naming it."""
    text = query.get(name)
    if text is None:
        return None
    try:
        if _DAY.fullmatch(text):
            return datetime.date.fromisoformat(text)
    except ValueError:
        pass
    raise Refused(400, "Validation failed", {name: f"{name} must be a date (YYYY-MM-DD)"})


def parse(resource: Resource, query: Mapping[str, str], limit_cap: int) -> ListQuery:
    """The list query; dates only where the resource documents them, limits silently capped."""
    page = _positive(query, "page", 1)
    limit = min(_positive(query, "limit", DEFAULT_LIMIT), limit_cap)
    if not resource.dated:
        given = sorted({"date_from", "date_to"} & set(query))
        if given:
            raise Refused(400, "Validation failed",
                          dict.fromkeys(given, f"{resource.name} cannot be filtered by date"))
        return ListQuery(page, limit)
    date_from, date_to = _day(query, "date_from"), _day(query, "date_to")
    if date_from and date_to and date_from > date_to:
        raise Refused(400, "Validation failed", {"date_to": "date_to is before date_from"})
    return ListQuery(page, limit, date_from, date_to)
