"""What a pass did, as plain data (pure): shared by the syncers, progress, report, metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from syncd.core.errors import ApiError


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one committed window (or page) did."""

    what: str  # the window's dates, or the page read
    purpose: str  # why it was read (a windows.Purpose value)
    records: int
    upserted: int
    lines: int
    deleted: int
    unparsed: int
    new_fields: tuple[str, ...]
    requests: int
    seconds: float  # from the window's first request to its commit


@dataclass(slots=True)
class ModuleRun:
    """How one module's part of a pass went."""

    source: str
    module: str
    planned: int = 0
    done: int = 0
    records: int = 0
    deleted: int = 0
    requests: int = 0
    error: ApiError | None = None
    finished: bool = False  # every planned window committed
    results: list[LoadResult] = field(default_factory=list)

    def absorb(self, result: LoadResult) -> None:
        self.done += 1
        self.records += result.records
        self.deleted += result.deleted
        self.requests += result.requests
        self.results.append(result)


@dataclass(frozen=True, slots=True)
class ResyncRange:
    """A user-asked re-read of ``date_from..date_to``."""

    date_from: dt.date
    date_to: dt.date


@dataclass(frozen=True, slots=True)
class Cycle:
    """A reread/reconcile cycle: when it began, and how far back a reread reaches."""

    start: dt.datetime
    reread_days: int = 62
