"""The window planner: sizes, order, resume, lookback, signpost (pure, table-tested)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from syncd.core.windows import (
    Purpose,
    Watermarks,
    Window,
    advance,
    backward,
    cycle_windows,
    forward,
    plan,
    resync,
)
from syncd.kinds.skybiz import modules as skybiz

D = dt.date.fromisoformat
TODAY = D("2026-11-21")
MAX = skybiz.MAX_WINDOW_DAYS


def spans(windows: list[Window]) -> list[str]:
    return [str(w) for w in windows]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-01-01", "2026-01-01", ["2026-01-01..2026-01-01"]),
        ("2026-01-01", "2026-01-31", ["2026-01-01..2026-01-31"]),
        ("2026-01-01", "2026-02-01", ["2026-01-01..2026-01-31", "2026-02-01..2026-02-01"]),
        ("2024-02-01", "2024-03-05", ["2024-02-01..2024-03-02", "2024-03-03..2024-03-05"]),
    ],
)
def test_forward_windows_are_31_days_inclusive(start: str, end: str, expected: list[str]) -> None:
    """Forward chunks are at most 31 calendar days (date_to = date_from + 30), oldest first."""
    assert spans(forward(D(start), D(end), Purpose.FRESH, max_days=MAX)) == expected


def test_backward_windows_end_at_the_end_and_never_overlap() -> None:
    """Backward chunks cover the range exactly once, newest first."""
    ws = backward(D("2026-01-01"), TODAY, Purpose.BACKFILL, max_days=MAX)
    assert ws[0].date_to == TODAY
    assert ws[-1].date_from == D("2026-01-01")
    for newer, older in itertools.pairwise(ws):
        assert older.date_to == newer.date_from - dt.timedelta(days=1)
    assert all(w.days <= 31 for w in ws)
    assert sum(w.days for w in ws) == (TODAY - D("2026-01-01")).days + 1


def test_no_planned_window_is_longer_than_the_kinds_limit() -> None:
    """SKYBIZ answers at most 31 days (a 32-day window would be a 400): no plan holds one."""
    for marks in (Watermarks(), Watermarks(D("2024-05-01"), D("2026-10-01"))):
        assert max(w.days for w in plan(marks, TODAY, D("2020-01-01"), 90, max_days=MAX)) == 31


def test_first_run_backfills_newest_first_with_the_newest_at_fresh_priority() -> None:
    """Today's month is read first, then history back to backfill_from."""
    ws = plan(Watermarks(), TODAY, D("2026-06-01"), 7, max_days=MAX)
    assert ws[0] == Window(D("2026-10-22"), TODAY, Purpose.FRESH)
    assert [w.purpose for w in ws[1:]] == [Purpose.BACKFILL] * (len(ws) - 1)
    assert ws[-1].date_from == D("2026-06-01")


def test_resume_skips_committed_windows() -> None:
    """A killed backfill resumes below its low watermark; committed windows are not replanned."""
    first = plan(Watermarks(), TODAY, D("2026-01-01"), 2, max_days=MAX)
    marks = Watermarks()
    for w in first[:3]:  # three windows committed before the kill
        marks = advance(marks, w)
    again = plan(marks, TODAY, D("2026-01-01"), 2, max_days=MAX)
    fresh = [w for w in again if w.purpose is Purpose.FRESH]
    backfill = [w for w in again if w.purpose is Purpose.BACKFILL]
    assert spans(fresh) == ["2026-11-20..2026-11-21"]
    assert backfill == first[3:]


@pytest.mark.parametrize(
    ("high", "lookback", "expected"),
    [
        ("2026-11-21", 2, ["2026-11-20..2026-11-21"]),
        ("2026-11-21", 7, ["2026-11-15..2026-11-21"]),
        ("2026-11-18", 7, ["2026-11-12..2026-11-21"]),
        # machine was off for months: catch up oldest first so `high` grows contiguously
        ("2026-08-01", 1, ["2026-08-01..2026-08-31", "2026-09-01..2026-10-01",
                           "2026-10-02..2026-11-01", "2026-11-02..2026-11-21"]),
        # clock went backwards: never plan past today
        ("2026-11-25", 2, ["2026-11-21..2026-11-21"]),
    ],
)
def test_incremental_starts_at_high_minus_lookback_plus_one(
    high: str, lookback: int, expected: list[str]
) -> None:
    """Incremental passes re-read the lookback and end at today, the signpost."""
    ws = plan(Watermarks(D("2020-01-01"), D(high)), TODAY, D("2020-01-01"), lookback,
              max_days=MAX)
    assert spans(ws) == expected
    assert all(w.purpose is Purpose.FRESH for w in ws)


def test_fresh_windows_go_before_backfill_windows() -> None:
    """When both wait, every fresh window is planned before any backfill window."""
    ws = plan(Watermarks(D("2026-09-01"), D("2026-11-20")), TODAY, D("2026-01-01"), 7,
              max_days=MAX)
    kinds = [w.purpose for w in ws]
    assert kinds.index(Purpose.BACKFILL) == kinds.count(Purpose.FRESH)
    assert ws[-1].date_from == D("2026-01-01")


def test_backfill_from_in_the_future_reads_only_today() -> None:
    """A backfill_from after today is not an error: only today is read."""
    ws = plan(Watermarks(), TODAY, D("2027-01-01"), 2, max_days=MAX)
    assert spans(ws) == ["2026-11-21..2026-11-21"]


def test_advance_moves_watermarks_contiguously() -> None:
    """Watermarks widen only over adjacent or overlapping windows; resync leaves them."""
    marks = advance(Watermarks(), Window(D("2026-11-01"), D("2026-11-21"), Purpose.FRESH))
    marks = advance(marks, Window(D("2026-10-01"), D("2026-10-31"), Purpose.BACKFILL))
    assert marks == Watermarks(D("2026-10-01"), D("2026-11-21"))
    assert advance(marks, Window(D("2020-01-01"), D("2020-01-05"), Purpose.RESYNC)) == marks
    with pytest.raises(ValueError, match="not contiguous"):
        advance(marks, Window(D("2026-08-01"), D("2026-08-05"), Purpose.BACKFILL))


def test_resync_never_reads_past_today() -> None:
    """A resync range is chunked forward and clipped at today."""
    ws = resync(D("2026-11-01"), D("2026-12-31"), TODAY, max_days=MAX)
    assert spans(ws) == ["2026-11-01..2026-11-21"]


@pytest.mark.parametrize("tz_today", [D("2026-11-21"), D("2026-11-22")])
def test_plan_depends_only_on_the_source_today(tz_today: dt.date) -> None:
    """Planning is a pure function of the source's today: the box's TZ cannot change it."""
    a = plan(Watermarks(), tz_today, D("2026-01-01"), 2, max_days=MAX)
    b = plan(Watermarks(), tz_today, D("2026-01-01"), 2, max_days=MAX)
    assert a == b
    assert a[0].date_to == tz_today


def test_a_cycle_window_read_in_pieces_is_done_once_its_pieces_cover_it() -> None:
    """A reread window committed as pieces is not read again; one with a gap still is."""
    newest, older = backward(D("2026-09-22"), TODAY, Purpose.REREAD, max_days=MAX)
    pieces = {(newest.date_from, D("2026-11-05")), (D("2026-11-06"), newest.date_to)}
    gap = {(older.date_from, D("2026-10-10")), (D("2026-10-12"), older.date_to)}
    left = cycle_windows(Purpose.REREAD, TODAY, D("2026-09-22"), pieces | gap, max_days=MAX)
    assert left == [older]
