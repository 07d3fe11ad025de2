"""What ``syncd run`` does for a source, and when (pure): plain data the daemon executes.

Fresh passes run per interval group (modules sharing ``[schedule.intervals]``), the
backfill continues every ``[schedule] interval`` at the limiter's lower priority, and the
deep job re-reads what the nightly reread / weekly reconcile cycles still owe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from syncd.config import ScheduleConfig
from syncd.core.model import Kind
from syncd.core.windows import Purpose

# Offsets of a leader's first runs: fresh data first, then the backfill, then the deep job.
FRESH_DELAY, BACKFILL_DELAY, DEEP_DELAY = 0.0, 0.5, 1.0


@dataclass(frozen=True, slots=True)
class Job:
    """A recurring pass: ``modules`` for ``purposes`` every ``every`` seconds; no purposes
    means the deep job (see ``deep_passes``)."""

    name: str
    every: float
    delay: float
    modules: tuple[str, ...]
    purposes: frozenset[Purpose]


@dataclass(frozen=True, slots=True)
class DeepPass:
    """One reread or reconcile pass of the cycle that began at ``start`` (source time)."""

    modules: tuple[str, ...]
    purpose: Purpose
    start: dt.datetime


def jobs(schedule: ScheduleConfig, modules: tuple[str, ...]) -> list[Job]:
    """The recurring jobs of a source that syncs ``modules``."""
    groups: dict[float, list[str]] = {}
    for m in modules:
        groups.setdefault(schedule.interval(m), []).append(m)
    out = [Job(f"fresh:{every:g}", every, FRESH_DELAY, tuple(group),
               frozenset({Purpose.FRESH})) for every, group in groups.items()]
    out.append(Job("backfill", schedule.interval_seconds, BACKFILL_DELAY, modules,
                   frozenset({Purpose.BACKFILL})))
    if schedule.reread is not None or schedule.reconcile is not None:
        out.append(Job("deep", schedule.interval_seconds, DEEP_DELAY, modules, frozenset()))
    return out


def deep_passes(schedule: ScheduleConfig, kinds: Mapping[str, Kind],
                complete: Collection[str], now: dt.datetime) -> list[DeepPass]:
    """The deep passes the deep job runs at ``now`` (aware, in the source's timezone):
    documents re-read since the last reread boundary, masters reconciled since the last
    reconcile boundary; only modules whose backfill is complete take part. The ledger
    decides which windows of the cycle are still due, so a repeated pass is cheap."""
    out = []
    for boundary, kind, purpose in ((schedule.reread, Kind.DOCUMENT, Purpose.REREAD),
                                    (schedule.reconcile, Kind.MASTER, Purpose.RECONCILE)):
        modules = tuple(m for m, k in kinds.items() if k is kind and m in complete)
        if boundary is not None and modules:
            out.append(DeepPass(modules, purpose, boundary.last(now)))
    return out
