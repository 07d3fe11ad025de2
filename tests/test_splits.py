"""Splitting windows (pure): piece order, sizes, remembered spans, halving and growth."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.core.splits import NEWEST_FIRST, Span, grow, halve, next_piece, rest
from syncd.core.windows import Purpose, Window
from syncd.kinds.skybiz.modules import MAX_WINDOW_DAYS as MAX_DAYS

D = dt.date(2024, 3, 1)


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


@pytest.mark.parametrize(("days", "half"), [(31, 16), (16, 8), (8, 4), (4, 2), (3, 2),
                                            (2, 1), (1, 1)])
def test_halving_reaches_one_day(days: int, half: int) -> None:
    """A failed size halves, rounded up, and never goes below one day."""
    assert halve(days) == half


@pytest.mark.parametrize(("days", "grown"), [(1, 2), (2, 4), (8, 16), (16, 31), (31, 31)])
def test_growth_doubles_up_to_31_days(days: int, grown: int) -> None:
    """A size that worked doubles, at most to the API's 31 days."""
    assert grow(days, MAX_DAYS) == grown


@pytest.mark.parametrize(("purpose", "piece"), [
    (Purpose.FRESH, (0, 7)), (Purpose.RESYNC, (0, 7)),
    (Purpose.BACKFILL, (23, 30)), (Purpose.REREAD, (23, 30)), (Purpose.RECONCILE, (23, 30)),
])
def test_pieces_follow_the_direction_the_watermark_moves(
    purpose: Purpose, piece: tuple[int, int]
) -> None:
    """Fresh and resync read oldest first; backfill and deep re-reads newest first."""
    window = Window(day(0), day(30), purpose)
    assert next_piece(window, 8, []) == Window(day(piece[0]), day(piece[1]), purpose)


def test_a_remembered_span_caps_the_pieces_that_touch_it() -> None:
    """A piece touching a remembered range is no longer than that range's size; away from
    it the full size applies."""
    window = Window(day(0), day(30), Purpose.FRESH)
    spans = [Span(day(5), day(9), 2)]
    assert next_piece(window, 31, spans) == Window(day(0), day(4), Purpose.FRESH)  # stops short
    inside = Window(day(5), day(30), Purpose.FRESH)
    assert next_piece(inside, 31, spans) == Window(day(5), day(6), Purpose.FRESH)
    later = Window(day(10), day(30), Purpose.FRESH)
    assert next_piece(later, 31, spans) == later


def test_rest_is_what_remains_after_the_leading_piece() -> None:
    """The rest of a window continues right after (or before) its piece; nothing when done."""
    fresh = Window(day(0), day(30), Purpose.FRESH)
    assert rest(fresh, Window(day(0), day(9), Purpose.FRESH)) == Window(
        day(10), day(30), Purpose.FRESH)
    back = Window(day(0), day(30), Purpose.BACKFILL)
    assert rest(back, Window(day(21), day(30), Purpose.BACKFILL)) == Window(
        day(0), day(20), Purpose.BACKFILL)
    assert rest(back, back) is None


def test_bad_sizes_are_refused() -> None:
    """A span or a size below one day is a bug, not a plan."""
    with pytest.raises(ValueError, match="size"):
        Span(day(0), day(1), 0)
    with pytest.raises(ValueError, match="size"):
        next_piece(Window(day(0), day(1), Purpose.FRESH), 0, [])


spans_st = st.lists(st.builds(
    lambda start, length, days: Span(day(start), day(start + length), days),
    st.integers(-40, 40), st.integers(0, 40), st.integers(1, MAX_DAYS)), max_size=4)


@given(start=st.integers(-20, 20), length=st.integers(1, MAX_DAYS),
       purpose=st.sampled_from(list(Purpose)), spans=spans_st,
       sizes=st.lists(st.integers(1, MAX_DAYS), min_size=1, max_size=40))
def test_pieces_cover_the_window_exactly_in_order(
    start: int, length: int, purpose: Purpose, spans: list[Span], sizes: list[int]
) -> None:
    """Whatever sizes are tried and spans remembered, the pieces are 1..31 days, respect
    every span they touch, and tile the window contiguously in the purpose's direction."""
    window = Window(day(start), day(start + length - 1), purpose)
    pieces: list[Window] = []
    remaining: Window | None = window
    turn = 0
    while remaining is not None:
        piece = next_piece(remaining, sizes[turn % len(sizes)], spans)
        turn += 1
        assert 1 <= piece.days <= min(MAX_DAYS, sizes[(turn - 1) % len(sizes)])
        assert all(piece.days <= s.days for s in spans
                   if s.overlaps(piece.date_from, piece.date_to))
        pieces.append(piece)
        remaining = rest(remaining, piece)
    ordered = sorted(pieces, key=lambda w: w.date_from,
                     reverse=purpose in NEWEST_FIRST)
    assert pieces == ordered
    chain = sorted(pieces, key=lambda w: w.date_from)
    assert chain[0].date_from == window.date_from
    assert chain[-1].date_to == window.date_to
    for a, b in itertools.pairwise(chain):
        assert b.date_from == a.date_to + dt.timedelta(days=1)
    assert {w.purpose for w in pieces} == {purpose}
