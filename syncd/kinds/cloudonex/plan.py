"""Which reads a CloudOnex pass makes (pure): recent date windows and complete reads.

* Invoices and transactions (the dated resources) are read every pass by a recent date
  window, ``today - lookback + 1 .. today`` — fresh data within one interval. New records
  and edits of records dated in the window arrive; nothing is marked deleted.
* Every resource is read completely (every page) when its last complete read (or failed
  attempt) is older than ``[schedule] full_read``; that read catches old edits, and only a
  complete, stable one marks deletions. The first pass of a resource is a complete read
  (and no window is read before it).
* ``resync`` re-reads its date range for dated resources and reads the others completely.

Windows go at fresh priority, complete reads at backfill priority (and through the bulk
limiter that keeps a reserve of the hour for windows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from syncd.core.windows import Purpose
from syncd.engine.limiter import Priority


@dataclass(frozen=True, slots=True)
class Read:
    """One read of one resource: every page of it, or of a date window of it."""

    module: str
    complete: bool
    priority: Priority
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def label(self) -> str:
        return "complete read" if self.complete else f"{self.date_from}..{self.date_to}"


def plan(
    modules: tuple[str, ...], purposes: frozenset[Purpose], *, today: dt.date,
    now: dt.datetime, full_reads: Mapping[str, dt.datetime], tried: Mapping[str, dt.datetime],
    full_read_seconds: float, lookback: Callable[[str], int], dated: frozenset[str],
    resync: tuple[dt.date, dt.date] | None = None,
) -> list[Read]:
    """The reads of one pass, windows first."""
    if resync is not None:
        start, end = resync[0], min(resync[1], today)
        return [Read(m, False, Priority.FRESH, start, end) if m in dated
                else Read(m, True, Priority.FRESH) for m in modules]
    reads: list[Read] = []
    if Purpose.FRESH in purposes:
        reads += [Read(m, False, Priority.FRESH, today - dt.timedelta(days=lookback(m) - 1),
                       today) for m in modules if m in dated and m in full_reads]
    if Purpose.BACKFILL in purposes:
        for m in modules:
            last = max((t for t in (full_reads.get(m), tried.get(m)) if t is not None),
                       default=None)
            if last is None or (now - last).total_seconds() >= full_read_seconds:
                reads.append(Read(m, True, Priority.BACKFILL))
    return reads
