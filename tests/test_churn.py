"""The simulator's continuous changes (soak runs): what they touch, and their off switch."""

from __future__ import annotations

import datetime

import pytest

from syncd_simulator import Simulator, SimulatorOptions
from syncd_simulator.churn import DOCUMENTS, RECENT_DAYS, RENAMED, Churn
from syncd_simulator.data import Dataset
from tests.waiting import until

TODAY = datetime.date(2026, 4, 30)
NOW = datetime.datetime(2026, 4, 30, 15, 0)


def test_changes_stay_inside_the_lookback() -> None:
    """200 changes of every kind leave documents older than RECENT_DAYS untouched, date new
    documents today and stamp renamed masters now, each stamp later than the last."""
    ds = Dataset(history_days=40, today=TODAY)
    cutoff = TODAY - datetime.timedelta(days=RECENT_DAYS)
    old = {m: ds.documents(m, ds.start, cutoff) for m in DOCUMENTS}
    churn = Churn(ds, seed=1)
    kinds = [churn.step(NOW) for _ in range(200)]
    assert set(kinds) == {"rename", "add", "edit", "delete"}
    assert sum(churn.counts.values()) == 200
    assert {m: ds.documents(m, ds.start, cutoff) for m in DOCUMENTS} == old
    added = [d for m in DOCUMENTS for d in ds.documents(m, TODAY, TODAY)
             if str(d.header.get("Doc1No", "")).startswith("SOAK")
             or int(str(d.header.get("RunNo", 0))) > 1_000_000_000]
    assert 0 < len(added) <= churn.counts["add"]  # later changes may delete some again
    stamps = sorted(str(r["DateTimeModified"]) for m in RENAMED for r in ds.masters(m)
                    if str(r[RENAMED[m]]).startswith("Soak "))
    assert stamps
    assert stamps[0] >= NOW.strftime("%Y-%m-%d %H:%M:%S")
    assert len(set(stamps)) == len(stamps)


def test_negative_rate_is_refused() -> None:
    """mutations_per_second below zero is an invalid option."""
    with pytest.raises(ValueError, match="mutations_per_second"):
        SimulatorOptions(mutations_per_second=-1)


async def test_server_changes_its_data_until_quiet() -> None:
    """A started simulator with mutations_per_second changes its dataset on its own;
    quiet() stops that and returns with no change in progress."""
    sim = Simulator(SimulatorOptions(history_days=10, mutations_per_second=200))
    await sim.start()
    try:
        await until(lambda: sum(sim.churn.counts.values()) >= 5, "five changes", deadline_s=10)
        await sim.quiet()
        done = dict(sim.churn.counts)
        await sim.quiet()  # idempotent
        assert sim.churn.counts == done
    finally:
        await sim.stop()
