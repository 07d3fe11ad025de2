"""The hourly budget as the server announces it (pure): when to hold back.

syncd's own limiter keeps its traffic under the configured rate. The server's
``X-RateLimit-Remaining`` also counts what *other* clients of the same key spent, so after
every answer: when so little is left that our requests in flight (plus the next) would
drive it to 0, every read holds until ``X-RateLimit-Reset``; when it falls to the reserve
kept for fresh reads, complete reads (bulk) hold until then. Without the headers, the
configured limit alone applies. Confirming a complete read's deletions by id is bulk
traffic too, capped per read (``confirmations``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from syncd.kinds.cloudonex import resources
from syncd.kinds.cloudonex.answers import RateHeaders

CONFIRM_SHARE = 0.25  # of the hour's bulk share, spent by one complete read confirming deletions
UNKNOWN_RESET = 60.0  # seconds to hold when the server gives Remaining but no Reset
_UNIX_EPOCH_2001 = 1_000_000_000  # a Reset below this is seconds-to-go, not a Unix time


class Hold(Enum):
    ALL = "all"  # no read of this key starts until Reset
    BULK = "bulk"  # complete reads wait until Reset; fresh reads go on


@dataclass(frozen=True, slots=True)
class Verdict:
    hold: Hold
    seconds: float


def reserve(limit: int) -> int:
    """Requests of an hourly budget kept for fresh reads."""
    return max(1, int(limit * resources.RESERVE_SHARE))


def seconds_to_reset(headers: RateHeaders, now: float) -> float | None:
    """Seconds until the budget resets (``now`` in Unix seconds), when the headers say."""
    if headers.reset_at is None or not math.isfinite(headers.reset_at):
        return None
    if headers.reset_at < _UNIX_EPOCH_2001:  # some servers send the seconds to go
        return max(0.0, headers.reset_at)
    return max(0.0, headers.reset_at - now)


def judge(headers: RateHeaders, now: float, in_flight: int, limit: int, *,
          cap: float = math.inf) -> Verdict | None:
    """Whether to hold back after an answer with ``headers``; ``in_flight``: our other
    requests already sent and not yet answered (each will spend one more). A hold never
    lasts longer than ``cap`` (the source's own ``per_seconds``), whatever the header says."""
    if headers.remaining is None:
        return None
    left = headers.remaining - in_flight
    wait = seconds_to_reset(headers, now)
    wait = min(cap, UNKNOWN_RESET if wait is None else wait)
    if left <= 1:
        return Verdict(Hold.ALL, wait)
    if left <= reserve(headers.limit or limit):
        return Verdict(Hold.BULK, wait)
    return None


def confirmations(limit: int) -> int:
    """By-id confirmations one complete read may send (``limit``: the hourly budget): a
    quarter of the hour's bulk share, so one resource's mass deletion never holds the
    other resources' complete reads for long. Candidates beyond it stay live and are
    confirmed by the next complete read."""
    return max(1, int((limit - reserve(limit)) * CONFIRM_SHARE))
