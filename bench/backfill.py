"""A full backfill of the eight modules against the rate-limit floor.

The real pass (syncd.commands.sync: planner, one limiter, one session, pipelined windows,
one warehouse connection) backfills HISTORY_DAYS of every module from the bundled
simulator into an embedded PostgreSQL, simulator and client both at 5 requests per 1 s.
The floor is the time the limiter itself needs for the requests made; wall / floor says
how much the fetch/load pipeline adds on top of the rate limit.

    .venv/bin/python bench/backfill.py
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time

import testbed

from syncd.cli import commands
from syncd.config import RateLimit
from syncd.core.results import LoadResult, ModuleRun
from syncd_simulator import Simulator, SimulatorOptions

RATE, PER, MARGIN = 5, 1.0, 0.05
HISTORY_DAYS = 730  # 24 windows x 8 modules: ~40 s of rate limit
TARGET_WALL = 1.05  # wall <= 1.05 x floor


class Quiet:
    """A Progress that shows nothing: the figures are printed at the end."""

    def planned(self, run: ModuleRun) -> None: ...
    def window_done(self, run: ModuleRun, result: LoadResult) -> None: ...
    def finished(self, run: ModuleRun) -> None: ...


def floor_seconds(requests: int) -> float:
    """The least time from the first start to the last that the limiter allows.

    The limiter lets a request start only once the RATE-th start before it is PER + MARGIN
    old, so start i (from 0) comes no earlier than (i // RATE) * (PER + MARGIN) after the
    first: the last, i = n - 1, at (ceil(n / RATE) - 1) * (PER + MARGIN). The first RATE
    start at once (an empty window), which is why the count is ceil(n / RATE) - 1.
    """
    return (math.ceil(requests / RATE) - 1) * (PER + MARGIN)


async def backfill(sim: Simulator, base_url: str, dsn: str) -> tuple[list[ModuleRun], float]:
    """Run one pass over an empty warehouse; return its runs and wall seconds."""
    source = testbed.source_for(sim, base_url,
                                sim.dataset.today - dt.timedelta(days=HISTORY_DAYS),
                                RateLimit(RATE, PER, MARGIN))
    cfg = testbed.config_for(dsn, source)
    await commands.migrate(cfg)  # outside the timing; sync() only finds nothing to apply
    started = time.perf_counter()
    runs = await commands.sync(cfg, [source], lambda _: Quiet(), now=dt.datetime.now(dt.UTC))
    return runs, time.perf_counter() - started


async def measure(dsn: str) -> bool:
    sim = Simulator(SimulatorOptions(history_days=HISTORY_DAYS, rate_requests=RATE,
                                     rate_seconds=PER))
    base_url = await sim.start()
    try:
        runs, wall = await backfill(sim, base_url, dsn)
    finally:
        await sim.stop()
    planned = sum(r.planned for r in runs)
    failed = [f"{r.module}: {r.error}" for r in runs if r.error is not None]
    requests = len(sim.requests)
    limited = sum(1 for r in sim.requests if r.status == 429)
    floor = floor_seconds(requests)
    arrivals = max(r.at for r in sim.requests) - min(r.at for r in sim.requests)
    ok_req, ok_429 = requests == planned and not failed, limited == 0
    ok_wall = wall <= TARGET_WALL * floor
    verdict = testbed.verdict

    print(f"{len(runs)} modules, {HISTORY_DAYS} days, limit {RATE}/{PER:g}s "
          f"(margin {MARGIN:g}s): {planned} windows planned, "
          f"{sum(r.done for r in runs)} committed")
    print(f"requests {requests} (target == windows planned {planned}) {verdict(ok_req)}")
    print(f"429 answers {limited} (target 0) {verdict(ok_429)}")
    print(f"wall {wall:.2f}s, floor {floor:.2f}s, first-to-last arrival {arrivals:.2f}s")
    print(f"wall / floor {wall / floor:.3f} (target <= {TARGET_WALL}) {verdict(ok_wall)}")
    for line in failed:
        print(f"  failed {line}")
    return ok_req and ok_429 and ok_wall


if __name__ == "__main__":
    sys.exit(testbed.run(measure))
