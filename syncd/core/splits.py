"""Splitting windows the server cannot answer (pure): which piece to read next, at what size.

A PHP server that runs out of memory on a heavy month answers 500 or nothing at all, however
often it is asked; the same month in halves (down to single days) usually works. A window is
therefore read as a run of pieces, each at most ``size`` days, where ``size`` halves after a
piece fails twice and doubles after each piece that loads (up to the kind's longest window,
``max_days``; SKYBIZ: 31). A range that once needed a smaller size is remembered as a
``Span``: a piece touching it is never longer than the span's size, in this pass and every
later one.

Pieces are taken in the direction the window's purpose moves the watermarks (backfill and
deep re-reads newest first, fresh and resync oldest first), so each committed piece extends
the loaded range contiguously, exactly as a whole window would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from syncd.core.windows import Purpose, Window

_DAY = dt.timedelta(days=1)
NEWEST_FIRST = frozenset({Purpose.BACKFILL, Purpose.REREAD, Purpose.RECONCILE})


@dataclass(frozen=True, slots=True)
class Span:
    """A date range the server answers only in pieces of at most ``days`` days."""

    date_from: dt.date
    date_to: dt.date
    days: int

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise ValueError(f"span {self.date_from}..{self.date_to} is backwards")
        if self.days < 1:
            raise ValueError(f"span size must be at least 1 day, got {self.days}")

    def overlaps(self, date_from: dt.date, date_to: dt.date) -> bool:
        return self.date_from <= date_to and date_from <= self.date_to


def halve(days: int) -> int:
    """The size to try after ``days`` failed: half, rounded up, never below one day."""
    return max(1, (days + 1) // 2)


def grow(days: int, max_days: int) -> int:
    """The size to try after a piece of ``days`` loaded: double, at most ``max_days``."""
    return min(max_days, days * 2)


def next_piece(remaining: Window, size: int, spans: Iterable[Span]) -> Window:
    """The first piece of ``remaining`` in its purpose's direction: as long as ``size``
    allows, but never longer than the size of any remembered span it touches."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    spans = tuple(spans)
    for days in range(min(size, remaining.days), 0, -1):
        piece = _leading(remaining, days)
        if all(days <= s.days for s in spans if s.overlaps(piece.date_from, piece.date_to)):
            return piece
    raise AssertionError("unreachable: a one-day piece fits every span")  # pragma: no cover


def rest(remaining: Window, piece: Window) -> Window | None:
    """What is left of ``remaining`` once its leading ``piece`` is loaded (None: nothing)."""
    if piece == remaining:
        return None
    if remaining.purpose in NEWEST_FIRST:
        return Window(remaining.date_from, piece.date_from - _DAY, remaining.purpose)
    return Window(piece.date_to + _DAY, remaining.date_to, remaining.purpose)


def _leading(window: Window, days: int) -> Window:
    """The ``days`` days of ``window`` that are read first."""
    span = dt.timedelta(days=days - 1)
    if window.purpose in NEWEST_FIRST:
        return Window(window.date_to - span, window.date_to, window.purpose)
    return Window(window.date_from, window.date_from + span, window.purpose)
