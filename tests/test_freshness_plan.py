"""The fresh plan (syncd.service.jobs.FreshPlan): each module read as its target needs."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.core.freshness import age_seconds, is_alarming, is_stale, read_every
from syncd.service.jobs import FreshPlan, last_reads

MODULES = ("sales", "purchase", "customer", "supplier")
targets = st.dictionaries(st.sampled_from(MODULES), st.floats(60, 7 * 86400), min_size=1)


@pytest.mark.parametrize(("target", "every"), [(300, 270), (60, 54), (3600, 3570),
                                               (21600, 21570), (2, 1.8)])
def test_a_read_starts_before_the_target_runs_out(target: float, every: float) -> None:
    """A tenth of the target, at most 30 s, is left for queueing and loading."""
    assert read_every(target) == pytest.approx(every)


def test_never_read_modules_are_due_at_once_then_each_at_its_period() -> None:
    """A fresh start reads all; afterwards sales every 270 s, customer every 6 h less 30 s."""
    plan = FreshPlan.of({"sales": 300, "customer": 21600})
    assert plan.due({}, 1000.0) == ("sales", "customer")
    last = {"sales": 1000.0, "customer": 1000.0}
    assert plan.due(last, 1200.0) == ()
    assert plan.due(last, 1240.0) == ("sales",)  # 1270 is within the next 30 s tick
    assert plan.next_due(last, 1200.0) == 1270.0
    assert plan.due({"sales": 1270.0, "customer": 1000.0}, 22540.0) == ("sales", "customer")


def test_last_reads_come_from_the_warehouse_ages() -> None:
    """A module read 100 s ago started then; one never read has no start."""
    assert last_reads({"sales": 100.0, "item": None}, 5000.0) == {"sales": 4900.0}


def test_a_plan_refuses_nonsense() -> None:
    """No modules, a module twice or a non-positive target is a bug, not a plan."""
    for bad in ((), (("sales", 300.0), ("sales", 60.0)), (("sales", 0.0),),
                (("sales", float("inf")),)):
        with pytest.raises(ValueError, match=r"plan needs each module once|positive"):
            FreshPlan(bad)


@settings(max_examples=200, deadline=None)
@given(targets=targets, offsets=st.lists(st.floats(0, 86400), min_size=4, max_size=4),
       ticks=st.integers(50, 400))
def test_ticking_the_plan_keeps_every_module_within_its_target(
        targets: dict[str, float], offsets: list[float], ticks: int) -> None:
    """Asked every tick (reads taking no time), no module waits longer than its target
    between reads, and none is read sooner than its period less one tick."""
    plan = FreshPlan.of(targets)
    last = {m: -o % read_every(t) - read_every(t)
            for (m, t), o in zip(targets.items(), offsets, strict=False)}
    reads: dict[str, list[float]] = {m: [at] for m, at in last.items()}
    now = 0.0
    for _ in range(ticks):
        for m in plan.due(last, now):
            last[m] = now
            reads[m].append(now)
        now += plan.tick
    for m, times in reads.items():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(g <= targets[m] + 1e-6 for g in gaps), (m, gaps)
        assert all(g >= plan.period(m) - plan.tick - 1e-6 for g in gaps), (m, gaps)
        # Whatever has not been read lately is due within one tick of its period.
        assert now - last[m] <= plan.period(m) + plan.tick + 1e-6


@given(targets=targets, now=st.floats(0, 1e9))
def test_next_due_is_when_due_first_answers(targets: dict[str, float], now: float) -> None:
    """At next_due at least one module is due; never earlier than now."""
    plan = FreshPlan.of(targets)
    last = {m: now - read_every(t) / 2 for m, t in targets.items()}
    at = plan.next_due(last, now)
    assert at >= now
    assert plan.due(last, at)


def test_age_and_stale() -> None:
    """Age counts from the newest committed read; stale past the target, an alert past
    twice the target, never read is stale but left to the failing alert."""
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert age_seconds(now - dt.timedelta(minutes=6), now) == 360
    assert age_seconds(now + dt.timedelta(seconds=3), now) == 0  # clocks a little apart
    assert (is_stale(360, 300), is_stale(200, 300), is_stale(None, 300)) == (True, False, True)
    assert (is_alarming(601, 300), is_alarming(600, 300), is_alarming(None, 300)) == (
        True, False, False)
