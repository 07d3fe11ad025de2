"""Pure retry backoff: doubling ceiling, jitter above a floor, and the server's Retry-After.

The SKYBIZ docs ask clients to "wait at least 1 second before the first retry and double
the interval", so the floor is ``initial`` and the ceiling doubles per retry up to
``maximum``; the jitter in between spreads the retries of many modules apart.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

# Past 1000 doublings the ceiling is capped by `maximum` anyway, and the exponent stays
# finite so that no attempt number can raise OverflowError.
_MAX_EXPONENT = 1000


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retry number ``attempt``; ``Backoff(0, 0)`` never waits."""

    initial: float = 1.0
    maximum: float = 60.0
    attempts: int = 6  # total tries including the first, so attempts - 1 retries
    # Retry-After is honoured up to 5 minutes: the server's window is 10 s, so a longer
    # value comes from a misbehaving proxy, and a job stalled for hours is worse than one
    # more 429. Tests that zero the backoff set this to 0 to ignore Retry-After too.
    retry_after_cap: float = 300.0

    def __post_init__(self) -> None:
        if self.initial < 0:
            raise ValueError(f"initial must not be negative, got {self.initial}")
        if self.maximum < self.initial:
            raise ValueError(f"maximum {self.maximum} is below initial {self.initial}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.retry_after_cap < 0:
            raise ValueError(f"retry_after_cap must not be negative, got {self.retry_after_cap}")

    def delay(
        self, attempt: int, rand: Callable[[], float], retry_after: float | None = None
    ) -> float:
        """Seconds to wait before retry ``attempt`` (1 = first retry); ``rand()`` is in [0, 1]."""
        if attempt < 1:
            raise ValueError(f"attempt counts retries from 1, got {attempt}")
        ceiling = min(self.maximum, self.initial * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
        delay = self.initial + rand() * (ceiling - self.initial)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_cap))
        return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Turn a Retry-After header (delta-seconds or HTTP-date) into seconds, or None if unusable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_date(text, now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until_date(text: str, now: datetime) -> float | None:
    """Seconds from ``now`` until an HTTP-date, 0 if it has passed, None if it is no date."""
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    # HTTP-dates are GMT; a "-0000" zone parses as naive and means UTC too. A naive `now`
    # is taken as UTC rather than refused, as the daemon's clocks all run in UTC.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    # A date already past (clock skew) means "retry now", not "ignore the header".
    return max(0.0, (when - now).total_seconds())
