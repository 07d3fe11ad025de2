"""A full backfill of the eight modules against the rate-limit floor.

The real pass (syncd.cli.commands.sync: planner, one limiter, one session, pipelined windows,
one warehouse connection) backfills HISTORY_DAYS of every module from the bundled
simulator into an embedded PostgreSQL, simulator and client both at 5 requests per 1 s.
The floor is the time the limiter itself needs for the requests made; wall / floor says
how much the fetch/load pipeline adds on top of the rate limit.

Then the same backfill again with ``FAULTS`` (3 %) of the requests answered with an
injected fault (500s, truncated bodies, PHP warnings, slow answers, resets), retried by the
client: how busy the limiter stays is admitted requests / (T x RATE / PER) over the span T
from the first arrival to the last (issue 19's figure; the 0.05 s margin caps it at
~0.95-0.98 by the count); beside it the stricter RATE x (1 + T / PER) of ``limiter.py``
and T against the limiter's own floor for that many requests. Its timeline says where
the idle time went: seconds with fewer than RATE arrivals, and how many modules still
had windows to read then.

    .venv/bin/python bench/backfill.py [--faults 0.03]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import math
import sys
import time

import testbed

from syncd.cli import commands
from syncd.config import RateLimit
from syncd.core.results import LoadResult, ModuleRun
from syncd.warehouse import db
from syncd_simulator import RequestLog, Simulator, SimulatorOptions

RATE, PER, MARGIN = 5, 1.0, 0.05
HISTORY_DAYS = 730  # 24 windows x 8 modules: ~40 s of rate limit
TARGET_WALL = 1.05  # wall <= 1.05 x floor
FAULTS = 0.03
TARGET_BUSY = 0.95  # admitted / (span x rate) with faults


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


async def measure(dsn: str, faults: float) -> bool:
    ok = await clean(dsn)
    if faults > 0:
        ok &= await faulty(dsn, faults)
    return ok


async def clean(dsn: str) -> bool:
    """The backfill without faults: requests, 429s, wall against the floor."""
    sim = Simulator(SimulatorOptions(history_days=HISTORY_DAYS, rate_requests=RATE,
                                     rate_seconds=PER))
    async with testbed.served(sim) as base_url:
        runs, wall = await backfill(sim, base_url, dsn)
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
    print(f"limiter busy without faults {requests / (RATE * (1 + arrivals / PER)):.3f} "
          f"(for comparison with the faulty run)")
    for line in failed:
        print(f"  failed {line}")
    return ok_req and ok_429 and ok_wall


async def faulty(dsn: str, faults: float) -> bool:
    """The backfill with injected faults (a fresh database): how busy the limiter stayed."""
    await _fresh_database(dsn, "faulty")
    dsn = dsn.replace("/postgres?", "/faulty?")
    sim = Simulator(SimulatorOptions(history_days=HISTORY_DAYS, rate_requests=RATE,
                                     rate_seconds=PER, faults=faults, seed=3))
    async with testbed.served(sim) as base_url:
        runs, wall = await backfill(sim, base_url, dsn)
    log = sim.requests
    first, last = min(r.at for r in log), max(r.at for r in log)
    span = last - first
    n = len(log)
    busy = n / (span * RATE / PER)  # issue 19's figure: admitted / (span x rate)
    allowed = RATE * (1 + span / PER)  # the stricter bound: the first RATE start at once
    floor = floor_seconds(n)
    injected = sum(1 for r in log if r.fault)
    limited = sum(1 for r in log if r.status == 429)
    failed = [f"{r.module}: {r.error}" for r in runs if r.error is not None]
    ok = busy >= TARGET_BUSY and limited == 0 and not failed
    print(f"with {faults:.0%} faults: {n} requests ({injected} faults injected, "
          f"{limited} x 429), {sum(r.done for r in runs)} windows committed, "
          f"span {span:.2f}s, wall {wall:.2f}s")
    print(f"limiter busy {busy:.3f} = {n} admitted / ({span:.2f}s span x {RATE}/{PER:g}s) "
          f"(target >= {TARGET_BUSY}) {testbed.verdict(ok)}")
    print(f"  stricter: {n} / {allowed:.1f} = {n / allowed:.3f} (the first {RATE} start at "
          f"once; a perfect limiter with the {MARGIN:g}s margin reaches "
          f"{n / (RATE * (1 + floor / PER)):.3f} for {n} requests)")
    print(f"  span / the limiter's own floor for {n} requests: {span:.2f} / {floor:.2f} = "
          f"{span / floor:.3f} (what the faults, their backoff and the tail cost)")
    print("  " + idle_report(log, first))
    for line in failed:
        print(f"  failed {line}")
    return ok


def idle_report(log: list[RequestLog], first: float) -> str:
    """Where the unused slots were: per second of the span, arrivals below RATE, and how
    many modules were still being read in that second."""
    per_second = collections.Counter(int((r.at - first) / PER) for r in log)
    last_of = {r.module: int((r.at - first) / PER) for r in log}
    seconds = max(per_second) + 1
    short = [(s, RATE - per_second[s], sum(1 for t in last_of.values() if t >= s))
             for s in range(seconds) if per_second[s] < RATE]
    tail = [gap for s, gap, active in short if active <= 2]
    timeline = "".join(str(min(per_second[s], 9)) for s in range(seconds))
    return (f"arrivals per second {timeline}\n  unused slots {sum(g for _, g, _ in short)} "
            f"in {len(short)} of {seconds} seconds; of them {sum(tail)} "
            f"while <= 2 modules were left (the tail); "
            f"faults at s {[int((r.at - first) / PER) for r in log if r.fault]}")


async def _fresh_database(dsn: str, name: str) -> None:
    conn = await db.connect(dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=float, default=FAULTS,
                        help="share of requests answered with an injected fault (0: skip)")
    args = parser.parse_args()
    return testbed.run(lambda dsn: measure(dsn, args.faults))


if __name__ == "__main__":
    sys.exit(main())
