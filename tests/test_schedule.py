"""The daemon's schedule as plain data (syncd.schedule): jobs and due deep passes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from syncd.config import ScheduleConfig
from syncd.core.cycles import Boundary
from syncd.core.model import ModuleKind
from syncd.core.windows import Purpose
from syncd.service.jobs import DeepPass, Job, deep_passes, jobs

KL = ZoneInfo("Asia/Kuala_Lumpur")
FRESH, BACKFILL = frozenset({Purpose.FRESH}), frozenset({Purpose.BACKFILL})
KINDS = {"sales": ModuleKind.DOCUMENT, "purchase": ModuleKind.DOCUMENT,
         "customer": ModuleKind.MASTER}


def test_one_fresh_tick_job_then_backfill_and_deep() -> None:
    """One fresh job ticks within the smallest target's slack (30 s for 5 minutes); the
    backfill and the deep job run every [schedule] interval, fresh work first."""
    sched = ScheduleConfig(interval_seconds=300, module_intervals={"customer": 3600})
    assert jobs(sched, ("sales", "customer", "purchase")) == [
        Job("fresh", 30.0, 0.0, ("sales", "customer", "purchase"), FRESH),
        Job("backfill", 300, 0.5, ("sales", "customer", "purchase"), BACKFILL),
        Job("deep", 300, 1.0, ("sales", "customer", "purchase"), frozenset()),
    ]


def test_targets_decide_the_tick() -> None:
    """A 1-minute target ticks every 6 s (a tenth of it); a 2 s interval every second."""
    sched = ScheduleConfig(interval_seconds=2)
    assert jobs(sched, ("sales", "customer"), {"sales": 60, "customer": 3600})[0].every == 6
    assert jobs(sched, ("sales",))[0].every == 1.0


def test_no_deep_job_without_reread_and_reconcile() -> None:
    """Both cycles switched off: only fresh passes and the backfill."""
    sched = ScheduleConfig(interval_seconds=60, reread=None, reconcile=None)
    assert [j.name for j in jobs(sched, ("sales",))] == ["fresh", "backfill"]


@pytest.mark.parametrize(("now", "complete", "expected"), [
    # Wednesday 10:00: the reread cycle began at 03:00 today, the reconcile on Sunday 04:00.
    (dt.datetime(2026, 12, 2, 10, 0, tzinfo=KL), {"sales", "customer"}, [
        DeepPass(("sales",), Purpose.REREAD, dt.datetime(2026, 12, 2, 3, 0, tzinfo=KL)),
        DeepPass(("customer",), Purpose.RECONCILE, dt.datetime(2026, 11, 29, 4, 0, tzinfo=KL)),
    ]),
    # 02:59: still yesterday's reread cycle.
    (dt.datetime(2026, 12, 2, 2, 59, tzinfo=KL), {"sales"}, [
        DeepPass(("sales",), Purpose.REREAD, dt.datetime(2026, 12, 1, 3, 0, tzinfo=KL)),
    ]),
    # A module still backfilling takes no part.
    (dt.datetime(2026, 12, 2, 10, 0, tzinfo=KL), {"purchase"}, [
        DeepPass(("purchase",), Purpose.REREAD, dt.datetime(2026, 12, 2, 3, 0, tzinfo=KL)),
    ]),
    (dt.datetime(2026, 12, 2, 10, 0, tzinfo=KL), set(), []),
])
def test_deep_passes_follow_the_boundaries(
        now: dt.datetime, complete: set[str], expected: list[DeepPass]) -> None:
    """Documents are re-read since the last reread boundary, masters reconciled since the
    last reconcile boundary, only for modules whose backfill is complete."""
    sched = ScheduleConfig(reread=Boundary(3, 0), reconcile=Boundary(4, 0, weekday=6))
    assert deep_passes(sched, KINDS, complete, now) == expected


def test_a_switched_off_cycle_has_no_pass() -> None:
    """reconcile = off: masters are never reconciled, documents still re-read."""
    sched = ScheduleConfig(reconcile=None)
    now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=KL)
    assert [p.purpose for p in deep_passes(sched, KINDS, set(KINDS), now)] == [Purpose.REREAD]
