"""What each module did over the last hours, in fixed time buckets (pure, clock passed in).

The daemon feeds it where it feeds its metrics (every answer, every committed window) and
the status page draws it. Memory is bounded twice: a fixed ring of buckets per key, and a
fixed number of keys (a key beyond that is not recorded: the metrics still count it).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

BUCKET_SECONDS = 300  # 5 minutes
BUCKETS = 72  # 6 hours
MAX_KEYS = 1000  # sources × modules (and pushes) of one daemon, with room to spare
_SLOT = 4  # integers per bucket in a ring


@dataclass(frozen=True, slots=True)
class Counts:
    """What one module did in one bucket."""

    requests: int = 0
    rate_limited: int = 0  # 429 answers (each also a request)
    rows: int = 0  # rows and lines inserted or changed

    def __post_init__(self) -> None:
        if min(self.requests, self.rate_limited, self.rows) < 0:
            raise ValueError("history counts are never negative")

    def plus(self, other: Counts) -> Counts:
        return Counts(self.requests + other.requests, self.rate_limited + other.rate_limited,
                      self.rows + other.rows)


_ZERO = Counts()


@dataclass(frozen=True, slots=True)
class Series:
    """One module's buckets, oldest first; ``start`` is the first bucket's start (epoch s)."""

    start: float
    bucket_seconds: int
    counts: tuple[Counts, ...]

    def total(self) -> Counts:
        total = Counts()
        for c in self.counts:
            total = total.plus(c)
        return total

    def last(self, seconds: float) -> Counts:
        """The sum of the buckets that end within the last ``seconds`` (the current one
        included): e.g. the last hour at 5-minute buckets is the last 12."""
        n = max(1, round(seconds / self.bucket_seconds))
        return Series(self.start, self.bucket_seconds, self.counts[-n:]).total()


class History:
    """Counts per (source, module) in ``buckets`` buckets of ``bucket_seconds`` each."""

    def __init__(self, bucket_seconds: int = BUCKET_SECONDS, buckets: int = BUCKETS,
                 max_keys: int = MAX_KEYS) -> None:
        if bucket_seconds < 1 or buckets < 1 or max_keys < 1:
            raise ValueError("a history needs at least one key, bucket and second")
        self.bucket_seconds, self.buckets, self.max_keys = bucket_seconds, buckets, max_keys
        # key → ring of _SLOT integers per bucket (bucket index, requests, 429s, rows) at
        # slot = index % buckets: 8 bytes an integer, no object per bucket.
        self._rings: dict[tuple[str, str], array[int]] = {}

    def add(self, source: str, module: str, now: float, counts: Counts) -> None:
        """Count ``counts`` in the bucket holding ``now`` (epoch seconds)."""
        ring = self._rings.get((source, module))
        if ring is None:
            if len(self._rings) >= self.max_keys:
                return
            ring = self._rings[(source, module)] = array("q", [-1, 0, 0, 0] * self.buckets)
        index = self._index(now)
        at = (index % self.buckets) * _SLOT
        if ring[at] > index:
            return  # the clock went back past a whole ring: the newer bucket stays
        if ring[at] != index:
            ring[at:at + _SLOT] = array("q", [index, 0, 0, 0])
        ring[at + 1] += counts.requests
        ring[at + 2] += counts.rate_limited
        ring[at + 3] += counts.rows

    def series(self, source: str, module: str, now: float) -> Series:
        """The last ``buckets`` buckets up to the one holding ``now``; zeros where nothing
        was counted (or never: an unknown key is all zeros)."""
        current = self._index(now)
        first = current - self.buckets + 1
        ring = self._rings.get((source, module))
        counts = tuple(self._at(ring, i) for i in range(first, current + 1))
        return Series(float(first * self.bucket_seconds), self.bucket_seconds, counts)

    def _at(self, ring: array[int] | None, index: int) -> Counts:
        at = (index % self.buckets) * _SLOT
        if ring is None or ring[at] != index:
            return _ZERO
        return Counts(ring[at + 1], ring[at + 2], ring[at + 3])

    def _index(self, now: float) -> int:
        return int(now // self.bucket_seconds)

    def keys(self) -> list[tuple[str, str]]:
        return list(self._rings)
