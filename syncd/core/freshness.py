"""Freshness targets (pure, §11): how often a module is read so its data stays within its
target, how old it is, and whether it is stale.

A read starts ``slack`` before the target runs out — a tenth of the target, at most 30 s —
so the read is queued, answered and committed before the data's age passes the target.
"""

from __future__ import annotations

import datetime as dt
import math

SLACK_SHARE, MAX_SLACK = 0.1, 30.0
ALERT_FACTOR = 2.0  # data older than twice its target is an alert (§11)


def read_every(target: float) -> float:
    """Seconds between the starts of a module's reads that keep it within ``target``."""
    if not math.isfinite(target) or target <= 0:
        raise ValueError(f"a freshness target must be a positive number of seconds: {target}")
    return target - min(target * SLACK_SHARE, MAX_SLACK)


def age_seconds(read_at: dt.datetime | None, now: dt.datetime) -> float | None:
    """Seconds since the newest committed read (never negative); None before any read."""
    if read_at is None:
        return None
    return max(0.0, (now - read_at).total_seconds())


def is_stale(age: float | None, target: float) -> bool:
    """Older than its target (never read counts as stale)."""
    return age is None or age > target


def is_alarming(age: float | None, target: float) -> bool:
    """Older than twice its target: an alert (§11); never read is left to the failing
    alert (a first backfill may take longer than any target)."""
    return age is not None and age > ALERT_FACTOR * target
