"""The status page's bounded in-memory history: buckets, expiry, bounds (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.core.history import Counts, History

T0 = 1_800_000_000.0  # a multiple of 300: bucket boundaries fall on round numbers


def test_counts_land_in_their_bucket_and_sum() -> None:
    """Two answers in one 5-minute bucket add up; the next bucket starts from zero."""
    h = History()
    h.add("main", "sales", T0 + 10, Counts(requests=1))
    h.add("main", "sales", T0 + 299, Counts(requests=1, rate_limited=1))
    h.add("main", "sales", T0 + 300, Counts(rows=40))
    s = h.series("main", "sales", T0 + 300)
    assert len(s.counts) == 72
    assert s.counts[-2:] == (Counts(2, 1, 0), Counts(0, 0, 40))
    assert s.start == T0 + 300 - 71 * 300
    assert s.total() == Counts(2, 1, 40)


def test_buckets_older_than_the_window_are_forgotten() -> None:
    """After six hours a bucket's slot is reused: its old counts never reappear."""
    h = History(bucket_seconds=300, buckets=72)
    h.add("main", "sales", T0, Counts(requests=5))
    six_hours = 72 * 300
    assert h.series("main", "sales", T0 + six_hours - 1).total() == Counts(requests=5)
    assert h.series("main", "sales", T0 + six_hours).total() == Counts()
    h.add("main", "sales", T0 + six_hours, Counts(requests=1))  # the same slot, newer
    assert h.series("main", "sales", T0 + six_hours).total() == Counts(requests=1)


def test_last_hour_is_the_last_twelve_buckets() -> None:
    """``last(3600)`` sums the current bucket and the eleven before it."""
    h = History()
    for minute in range(0, 120, 5):
        h.add("main", "item", T0 + minute * 60, Counts(requests=1))
    s = h.series("main", "item", T0 + 119 * 60)
    assert s.last(3600) == Counts(requests=12)
    assert s.total() == Counts(requests=24)


def test_unknown_key_is_zeros_and_keys_are_bounded() -> None:
    """A module never counted draws as zeros; keys past ``max_keys`` are not kept."""
    h = History(max_keys=2)
    h.add("a", "m1", T0, Counts(requests=1))
    h.add("a", "m2", T0, Counts(requests=1))
    h.add("a", "m3", T0, Counts(requests=1))
    assert h.keys() == [("a", "m1"), ("a", "m2")]
    assert h.series("a", "m3", T0).total() == Counts()
    h.add("a", "m1", T0, Counts(requests=1))  # a kept key still counts
    assert h.series("a", "m1", T0).total() == Counts(requests=2)


def test_a_clock_that_goes_back_never_overwrites_newer_counts() -> None:
    """An answer stamped a whole ring earlier than the bucket in its slot is dropped."""
    h = History(bucket_seconds=60, buckets=3)
    h.add("a", "m", T0 + 180, Counts(requests=2))
    h.add("a", "m", T0, Counts(requests=7))  # same slot, 3 buckets older
    assert h.series("a", "m", T0 + 180).total() == Counts(requests=2)


@pytest.mark.parametrize("bad", [{"bucket_seconds": 0}, {"buckets": 0}, {"max_keys": 0}])
def test_empty_histories_are_refused(bad: dict[str, int]) -> None:
    """A history needs a bucket, a key and a positive bucket length."""
    with pytest.raises(ValueError, match="at least one"):
        History(**bad)


def test_negative_counts_are_refused() -> None:
    """A count below zero is a bug in the caller, not something to draw."""
    with pytest.raises(ValueError, match="never negative"):
        Counts(requests=-1)


@given(st.lists(st.tuples(st.integers(0, 40_000), st.integers(0, 5)), max_size=60),
       st.integers(0, 40_000))
def test_series_equals_the_events_inside_its_window(
        events: list[tuple[int, int]], at: int) -> None:
    """For events in time order, a series holds exactly those inside its window."""
    h = History(bucket_seconds=300, buckets=12)
    events.sort()
    for t, n in events:
        h.add("s", "m", T0 + t, Counts(requests=n))
    now = T0 + max([at, *(t for t, _ in events)])
    s = h.series("s", "m", now)
    inside = sum(n for t, n in events if s.start <= T0 + t < s.start + 12 * 300)
    assert s.total().requests == inside
    assert len(s.counts) == 12
