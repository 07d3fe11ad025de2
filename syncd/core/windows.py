"""Window planning (pure): which inclusive date ranges a pass reads, in which order.

A window is ``date_from..date_to`` inclusive, at most ``max_days`` calendar days — the
kind's rule (SKYBIZ: 31, ``syncd.skybiz.modules.MAX_WINDOW_DAYS``). Each module keeps
the loaded range ``low..high`` (every day in it was read by a committed window). A pass:

* first run: newest → oldest from today back to the module's floor (this month first) —
  ``backfill_from`` for documents, ``masters_from`` for masters, the caller's choice;
* later: fresh windows from ``high - lookback + 1`` up to today, oldest first so ``high``
  only ever grows contiguously; then the unfinished backfill below ``low``, newest first.

"Today" is the source's calendar date captured once when the pass starts (the signpost):
no window ever reaches past it, however long the pass runs. A window the server cannot
answer whole is read in smaller pieces (``splits.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

_DAY = dt.timedelta(days=1)


class Purpose(StrEnum):
    """Why a window is read; only fresh and backfill windows move the watermarks."""

    FRESH = "fresh"
    BACKFILL = "backfill"
    RESYNC = "resync"  # user-asked re-read of a range
    REREAD = "reread"  # nightly re-read of recent documents (edits and voids)
    RECONCILE = "reconcile"  # weekly walk of a master's history (deletions)


@dataclass(frozen=True, slots=True)
class Window:
    """An inclusive date range, and why it is read (planned no longer than the kind allows)."""

    date_from: dt.date
    date_to: dt.date
    purpose: Purpose

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise ValueError(f"window {self.date_from}..{self.date_to} is backwards")

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def __str__(self) -> str:
        return f"{self.date_from}..{self.date_to}"


@dataclass(frozen=True, slots=True)
class Watermarks:
    """The loaded range of one module; both None before the first committed window."""

    low: dt.date | None = None
    high: dt.date | None = None

    def __post_init__(self) -> None:
        if (self.low is None) != (self.high is None):
            raise ValueError("low and high watermarks are set together")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low watermark {self.low} is after high {self.high}")

    def backfill_complete(self, floor: dt.date) -> bool:
        """Whether the loaded range reaches back to the module's floor."""
        return self.low is not None and self.low <= floor


def forward(start: dt.date, end: dt.date, purpose: Purpose, *, max_days: int) -> list[Window]:
    """Windows of at most ``max_days`` covering ``start..end``, oldest first."""
    span = _span(max_days)
    out: list[Window] = []
    while start <= end:
        out.append(Window(start, min(start + span, end), purpose))
        start += span + _DAY
    return out


def backward(start: dt.date, end: dt.date, purpose: Purpose, *, max_days: int) -> list[Window]:
    """Windows of at most ``max_days`` covering ``start..end``, newest first (the newest
    ends exactly at ``end``)."""
    span = _span(max_days)
    out: list[Window] = []
    while end >= start:
        out.append(Window(max(end - span, start), end, purpose))
        end -= span + _DAY
    return out


def _span(max_days: int) -> dt.timedelta:
    if max_days < 1:
        raise ValueError(f"max_days must be at least 1, got {max_days}")
    return dt.timedelta(days=max_days - 1)


def plan(
    marks: Watermarks, today: dt.date, floor: dt.date, lookback_days: int, *,
    max_days: int,
) -> list[Window]:
    """Every window one pass should read, fresh before backfill; the backfill walks back
    to ``floor`` (the module's backfill_from or masters_from)."""
    if lookback_days < 1:
        raise ValueError("lookback_days must be at least 1")
    floor = min(floor, today)
    if marks.low is None or marks.high is None:
        windows = backward(floor, today, Purpose.BACKFILL, max_days=max_days)
        # The newest window is what dashboards wait for: it goes at fresh priority.
        return [Window(windows[0].date_from, windows[0].date_to, Purpose.FRESH), *windows[1:]]
    start = max(min(marks.high - dt.timedelta(days=lookback_days - 1), today), floor)
    fresh = forward(start, today, Purpose.FRESH, max_days=max_days)
    backfill = (backward(floor, marks.low - _DAY, Purpose.BACKFILL, max_days=max_days)
                if marks.low > floor else [])
    return fresh + backfill


def resync(date_from: dt.date, date_to: dt.date, today: dt.date, *,
           max_days: int) -> list[Window]:
    """Windows re-reading ``date_from..date_to`` (never past today), oldest first."""
    return forward(date_from, min(date_to, today), Purpose.RESYNC, max_days=max_days)


def cycle_windows(
    purpose: Purpose, today: dt.date, start: dt.date, done: set[tuple[dt.date, dt.date]], *,
    max_days: int,
) -> list[Window]:
    """The windows of a reread/reconcile cycle over ``start..today`` not yet ``done``.

    ``done`` holds committed ranges; a window read in pieces (``splits.py``) is done once
    its pieces cover every one of its days."""
    return [w for w in backward(min(start, today), today, purpose, max_days=max_days)
            if not _covered(w, done)]


def _covered(window: Window, ranges: set[tuple[dt.date, dt.date]]) -> bool:
    """Whether every day of ``window`` lies in one of ``ranges``."""
    days = (window.date_from + dt.timedelta(days=n) for n in range(window.days))
    return all(any(lo <= day <= hi for lo, hi in ranges) for day in days)


def advance(marks: Watermarks, window: Window) -> Watermarks:
    """The watermarks after ``window`` commits; only fresh and backfill windows move them."""
    if window.purpose not in (Purpose.FRESH, Purpose.BACKFILL):
        return marks
    if marks.low is None or marks.high is None:
        return Watermarks(window.date_from, window.date_to)
    if window.date_from > marks.high + _DAY or window.date_to < marks.low - _DAY:
        raise ValueError(f"window {window} is not contiguous with {marks.low}..{marks.high}")
    return Watermarks(min(marks.low, window.date_from), max(marks.high, window.date_to))


def loaded_share(marks: Watermarks, floor: dt.date, today: dt.date) -> float:
    """Share of the days from ``floor`` (where a backfill stops) to today that are loaded."""
    if marks.low is None or marks.high is None:
        return 0.0
    span = (today - min(floor, today)).days + 1
    low = max(marks.low, floor)
    loaded = (min(marks.high, today) - low).days + 1
    return round(max(0.0, min(1.0, loaded / span)), 4)
