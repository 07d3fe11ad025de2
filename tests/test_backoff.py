"""Tests for syncd.backoff: the jittered doubling formula and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from syncd.core.backoff import Backoff, parse_retry_after

NOW = datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        # rand = 0: always the floor
        (1, 0.0, 1.0),
        (2, 0.0, 1.0),
        (6, 0.0, 1.0),
        # rand = 1: the doubling ceiling, capped at 60
        (1, 1.0, 1.0),
        (2, 1.0, 2.0),
        (3, 1.0, 4.0),
        (4, 1.0, 8.0),
        (6, 1.0, 32.0),
        (7, 1.0, 60.0),
        (50, 1.0, 60.0),
        # rand = 0.5: halfway between floor and ceiling
        (1, 0.5, 1.0),
        (2, 0.5, 1.5),
        (3, 0.5, 2.5),
        (5, 0.5, 8.5),
        (8, 0.5, 30.5),
    ],
)
def test_delay_doubles_with_jitter_above_the_floor(
    attempt: int, rand: float, expected: float
) -> None:
    """The delay is initial + rand * (min(max, initial * 2**(attempt-1)) - initial)."""
    assert Backoff().delay(attempt, lambda: rand) == expected


@pytest.mark.parametrize("attempt", [1, 2, 10, 5000])
@pytest.mark.parametrize("rand", [0.0, 0.5, 1.0])
def test_zero_backoff_never_waits(attempt: int, rand: float) -> None:
    """Backoff(initial=0, maximum=0) gives 0 for every attempt, so tests never sleep."""
    assert Backoff(initial=0, maximum=0).delay(attempt, lambda: rand) == 0.0


@pytest.mark.parametrize("rand", [0.0, 0.5, 1.0])
def test_huge_attempt_is_capped_without_overflow(rand: float) -> None:
    """A retry number far beyond any budget still yields a delay within [initial, maximum]."""
    assert 1.0 <= Backoff().delay(10**6, lambda: rand) <= 60.0


@pytest.mark.parametrize(
    ("attempt", "rand", "retry_after", "expected"),
    [
        (1, 0.0, 5.0, 5.0),  # the server asks for longer: it wins
        (3, 1.0, 2.0, 4.0),  # the formula asks for longer: it wins
        (1, 0.0, 0.0, 1.0),  # "retry now" never goes below the floor
        (1, 0.0, 120.0, 120.0),  # above `maximum` is still honoured
        (1, 0.0, 86_400.0, 300.0),  # a day is cut to the 5-minute cap
        (7, 1.0, None, 60.0),  # no header: the formula alone
    ],
)
def test_retry_after_wins_when_larger_up_to_the_cap(
    attempt: int, rand: float, retry_after: float | None, expected: float
) -> None:
    """The delay is max(formula, min(retry_after, retry_after_cap))."""
    assert Backoff().delay(attempt, lambda: rand, retry_after) == expected


def test_retry_after_cap_zero_ignores_the_header() -> None:
    """With retry_after_cap=0 a zeroed backoff stays zero even when the server sends Retry-After."""
    assert Backoff(initial=0, maximum=0, retry_after_cap=0).delay(1, lambda: 0.5, 30.0) == 0.0


@pytest.mark.parametrize(
    ("initial", "maximum", "attempts", "cap"),
    [(-1.0, 60.0, 6, 300.0), (2.0, 1.0, 6, 300.0), (1.0, 60.0, 0, 300.0), (1.0, 60.0, 6, -1.0)],
)
def test_nonsense_backoff_is_refused(
    initial: float, maximum: float, attempts: int, cap: float
) -> None:
    """A negative floor, a cap under the floor or an empty budget is refused on construction."""
    with pytest.raises(ValueError, match=r"must|below"):
        Backoff(initial, maximum, attempts, retry_after_cap=cap)


def test_attempt_zero_is_refused() -> None:
    """Attempts count retries from 1; 0 is a caller bug, not a zero delay."""
    with pytest.raises(ValueError, match="from 1"):
        Backoff().delay(0, lambda: 0.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("5", 5.0),
        ("  120 ", 120.0),
        ("1.5", 1.5),
        ("Mon, 06 May 2024 12:00:30 GMT", 30.0),
        ("Mon, 06 May 2024 12:02:00 -0000", 120.0),
        ("Mon, 06 May 2024 14:00:10 +0200", 10.0),
        ("Mon, 06 May 2024 11:59:00 GMT", 0.0),  # already past: retry now
    ],
)
def test_parse_retry_after_reads_seconds_and_dates(value: str, expected: float) -> None:
    """Delta-seconds are taken as is; an HTTP-date becomes the seconds from now until it."""
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value", [None, "", "   ", "-1", "-0.5", "soon", "nan", "inf", "12 seconds", "Mon, 99 Foo"]
)
def test_parse_retry_after_rejects_garbage(value: str | None) -> None:
    """A missing, negative, non-finite or unparsable header gives None, never an exception."""
    assert parse_retry_after(value, NOW) is None


def test_parse_retry_after_takes_naive_now_as_utc() -> None:
    """A naive ``now`` is read as UTC instead of failing to compare with the aware date."""
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Mon, 06 May 2024 12:00:30 GMT", naive) == 30.0


def test_parse_retry_after_respects_now_zone() -> None:
    """An aware ``now`` in another zone gives the same delay as the same instant in UTC."""
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert parse_retry_after("Mon, 06 May 2024 12:00:30 GMT", plus_two) == 30.0
