"""What ``syncd run`` does for a source, and when (pure): plain data the daemon executes.

Fresh reads follow each module's freshness target (``FreshPlan``): a tick job asks the plan
which modules are due and reads only those, so suppliers wanted every 6 h are not read every
5 minutes with the sales. The backfill continues every ``[schedule] interval`` at the
limiter's lower priority, and the deep job re-reads what the nightly reread / weekly
reconcile cycles still owe.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from syncd.config import ScheduleConfig
from syncd.core.freshness import read_every
from syncd.core.model import ModuleKind
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


@dataclass(frozen=True, slots=True)
class FreshPlan:
    """When each module of a source is read: every ``read_every(target)`` seconds from the
    start of its last read (a clock in seconds, passed in)."""

    targets: tuple[tuple[str, float], ...]  # (module, freshness target in seconds)

    def __post_init__(self) -> None:
        names = [m for m, _ in self.targets]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a plan needs each module once: {names}")
        for m, t in self.targets:
            if not math.isfinite(t) or t <= 0:
                raise ValueError(f"{m}: a freshness target must be positive and finite")

    @classmethod
    def of(cls, targets: Mapping[str, float]) -> FreshPlan:
        return cls(tuple(targets.items()))

    @property
    def tick(self) -> float:
        """How often to ask ``due``: within the smallest slack, so no read starts late
        enough to let data pass its target (at least 1 s)."""
        return max(1.0, min(t - read_every(t) for _, t in self.targets))

    def period(self, module: str) -> float:
        return read_every(dict(self.targets)[module])

    def due(self, last: Mapping[str, float], now: float) -> tuple[str, ...]:
        """The modules to read now: never read, or due before the next tick (so modules
        with one target stay together in one pass)."""
        horizon = now + self.tick
        return tuple(m for m, t in self.targets
                     if (at := last.get(m)) is None or at + read_every(t) <= horizon)

    def next_due(self, last: Mapping[str, float], now: float) -> float:
        """When the next module becomes due (``now`` if one already is)."""
        return max(now, min((last[m] + read_every(t)) if m in last else now
                            for m, t in self.targets))


def last_reads(ages: Mapping[str, float | None], now: float) -> dict[str, float]:
    """The plan's starting point from the warehouse's ages (a restart or a takeover does
    not read everything again): a module read ``age`` seconds ago started then."""
    return {m: now - age for m, age in ages.items() if age is not None}


def jobs(schedule: ScheduleConfig, modules: tuple[str, ...],
         targets: Mapping[str, float] | None = None) -> list[Job]:
    """The recurring jobs of a source that syncs ``modules``: one fresh tick job (it reads
    what ``FreshPlan.due`` says), the backfill and the deep job."""
    plan = FreshPlan.of({m: (targets or {}).get(m, schedule.interval(m)) for m in modules})
    out = [Job("fresh", plan.tick, FRESH_DELAY, modules, frozenset({Purpose.FRESH}))]
    out.append(Job("backfill", schedule.interval_seconds, BACKFILL_DELAY, modules,
                   frozenset({Purpose.BACKFILL})))
    if schedule.reread is not None or schedule.reconcile is not None:
        out.append(Job("deep", schedule.interval_seconds, DEEP_DELAY, modules, frozenset()))
    return out


def deep_passes(schedule: ScheduleConfig, kinds: Mapping[str, ModuleKind],
                complete: Collection[str], now: dt.datetime) -> list[DeepPass]:
    """The deep passes the deep job runs at ``now`` (aware, in the source's timezone):
    documents re-read since the last reread boundary, masters reconciled since the last
    reconcile boundary; only modules whose backfill is complete take part. The ledger
    decides which windows of the cycle are still due, so a repeated pass is cheap."""
    out = []
    for boundary, kind, purpose in ((schedule.reread, ModuleKind.DOCUMENT, Purpose.REREAD),
                                    (schedule.reconcile, ModuleKind.MASTER, Purpose.RECONCILE)):
        modules = tuple(m for m, k in kinds.items() if k is kind and m in complete)
        if boundary is not None and modules:
            out.append(DeepPass(modules, purpose, boundary.last(now)))
    return out
