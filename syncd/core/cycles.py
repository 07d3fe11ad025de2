"""When the deep re-reads are due (pure): nightly reread, weekly reconcile.

A cycle begins at the most recent configured boundary (e.g. 03:00 every day, or Sunday
04:00) in the source's timezone. A window of the cycle is due until the ledger shows it
committed after that boundary, so a cycle cut short by a restart resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^(?:(mon|tue|wed|thu|fri|sat|sun)\s+)?([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Boundary:
    """Daily at a time of day, or weekly on a weekday at a time of day."""

    hour: int
    minute: int
    weekday: int | None = None  # 0 = Monday; None = every day

    @classmethod
    def parse(cls, text: str) -> Boundary:
        m = _SPEC.match(text.strip().lower())
        if not m:
            raise ValueError(f"{text!r} is not \"HH:MM\" or \"DAY HH:MM\" (e.g. \"sun 04:00\")")
        weekday = DAYS.index(m[1]) if m[1] else None
        return cls(int(m[2]), int(m[3]), weekday)

    def last(self, now: dt.datetime) -> dt.datetime:
        """The most recent boundary at or before the aware ``now`` (in now's timezone)."""
        at = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if self.weekday is None:
            return at if at <= now else at - dt.timedelta(days=1)
        at -= dt.timedelta(days=(at.weekday() - self.weekday) % 7)
        return at if at <= now else at - dt.timedelta(days=7)
