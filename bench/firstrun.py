"""A first run in the right order: how soon the last 12 months of every module are loaded.

The real pass (``SourceSync``: planner, pipelined windows, one limiter, one session, one
warehouse connection) backfills all 8 SKYBIZ modules from the bundled simulator into an
embedded PostgreSQL at the REAL limit of 5 requests per 10 s (client margin 0.2 s), in
warped time: the limiter and the simulator share a clock that jumps ahead whenever the
limiter waits (after a short real pause that lets loads and answers in flight finish), so
~45 minutes of rate limit pass in about a minute, and arrivals are counted as the server
counts them. Masters walk ``--master-years`` back (26), documents ``--document-years``
(2): with ``SourceConfig.masters_from`` (the real-servers issue) that is two dates;
without it (older code) both walk ``--master-years``, which only adds windows behind the
ones measured here.

Figure: T12, the time from the first start until every module's committed windows cover
its last 12 months, against the floor ceil(W / 5) x 10 s, W the windows planned inside those
12 months over all modules; and the order itself: how many of the first W starts went to
windows inside the last 12 months.

    .venv/bin/python bench/firstrun.py [--master-years 26] [--document-years 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import testbed

from syncd.config import RateLimit, SourceConfig
from syncd.core.model import ModuleKind
from syncd.core.results import LoadResult, ModuleRun
from syncd.engine.limiter import RateLimiter
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.sync import SourceSync
from syncd.warehouse import db
from syncd_simulator import Simulator, SimulatorOptions

RATE, PER, MARGIN = 5, 10.0, 0.2
SETTLE = 0.03  # real seconds a limiter wait lasts before the clock jumps over the rest
TARGET = 1.1  # T12 <= 1.1 x floor (the issue gives the floor; this is our bound)


class Warp:
    """A monotonic clock that jumps over every limiter wait, once every request the limiter
    let go has reached the server (else an arrival would be stamped after the jump) and
    every answer that came back has been loaded (else a load of 50 ms real would be stamped
    a burst later: at the real rate a load never waits 10 s)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.granted: Callable[[], int] = lambda: 0
        self.counting = False  # True once the loads are counted (``counting_loads``)
        self.loaded = 0  # loads finished (committed or failed)
        self.arrivals = 0
        self._arrived = asyncio.Event()
        self._loaded = asyncio.Event()

    def load_done(self) -> None:
        self.loaded += 1
        self._loaded.set()

    def time(self) -> float:
        return time.monotonic() + self.offset

    def arrival(self) -> float:
        """The simulator's clock: it reads it once per request, on arrival."""
        self.arrivals += 1
        self._arrived.set()
        return self.time()

    async def sleep(self, seconds: float) -> None:
        start = time.monotonic()
        while self.arrivals < self.granted():
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), 5.0)
            except TimeoutError:
                break  # a request lost on the way: do not wait for it forever
        while self.counting and self.loaded < self.arrivals:
            self._loaded.clear()
            try:
                await asyncio.wait_for(self._loaded.wait(), 5.0)
            except TimeoutError:
                break  # an answer that never loads (a failed window): go on
        await asyncio.sleep(max(0.0, min(seconds, SETTLE) - (time.monotonic() - start)))
        self.offset += max(0.0, seconds - (time.monotonic() - start))


@dataclasses.dataclass
class Timeline:
    """When (warped seconds from the start) each module committed each window."""

    warp: Warp
    start: float
    since: dt.date
    today: dt.date
    commits: dict[str, list[tuple[float, dt.date, dt.date]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list))
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def planned(self, run: ModuleRun) -> None: ...
    def finished(self, run: ModuleRun) -> None: ...

    def window_done(self, run: ModuleRun, result: LoadResult) -> None:
        low, high = (dt.date.fromisoformat(d) for d in result.what.split(".."))
        self.commits[run.module].append((self.warp.time() - self.start, low, high))
        if all(self.covered_at(m.name, self.since, self.today) is not None
               for m in skybiz.MODULES):
            self.done.set()  # what is measured is over: the rest of the walk is not

    def covered_at(self, module: str, since: dt.date, today: dt.date) -> float | None:
        """When the module's committed windows first covered every day of since..today."""
        days: set[dt.date] = set()
        need = (today - since).days + 1
        for at, low, high in sorted(self.commits[module]):
            day = max(low, since)
            while day <= min(high, today):
                days.add(day)
                day += dt.timedelta(days=1)
            if len(days) == need:
                return at
        return None


def source_for(sim: Simulator, url: str, today: dt.date, args: argparse.Namespace
               ) -> SourceConfig:
    """The source: documents back ``document_years``, masters back ``master_years``."""
    masters = today - dt.timedelta(days=round(365.25 * args.master_years))
    documents = today - dt.timedelta(days=round(365.25 * args.document_years))
    return testbed.source_for(sim, url, documents, RateLimit(RATE, PER, MARGIN),
                              masters_from=masters)


async def measure(dsn: str, args: argparse.Namespace) -> bool:
    warp = Warp()
    years = max(args.master_years, args.document_years)
    sim = Simulator(SimulatorOptions(history_days=round(365.25 * years) + 1,
                                     rate_requests=RATE, rate_seconds=PER))
    sim.clock = warp.arrival
    url = await sim.start()
    today = sim.dataset.today
    since = today - dt.timedelta(days=364)
    source = source_for(sim, url, today, args)
    limiter = RateLimiter(RATE, PER, margin=MARGIN, clock=warp.time, sleep=warp.sleep)
    warp.granted = lambda: limiter.started
    conn = await db.connect(dsn)
    await db.migrate(conn)
    timeline = Timeline(warp, warp.time(), since, today)
    real = time.perf_counter()
    try:
        async with SourceSync(source, conn, limiter=limiter) as syncer:
            counting_loads(syncer, warp)
            runs = await until_covered(syncer, source, timeline, args.whole)
    finally:
        await sim.stop()
        await conn.close()
    real = time.perf_counter() - real
    walk = f"masters {args.master_years} y back, documents {args.document_years} y"
    return report(sim, timeline, runs, walk, real)


def counting_loads(syncer: SourceSync, warp: Warp) -> None:
    """Tell ``warp`` of every load the syncer's loader finishes (committed or failed)."""
    load = syncer.loader.load

    async def counted(*args: Any, **kwargs: Any) -> LoadResult:
        try:
            return await load(*args, **kwargs)
        finally:
            warp.load_done()

    syncer.loader.load = counted  # type: ignore[method-assign]
    warp.counting = True


async def until_covered(syncer: SourceSync, source: SourceConfig, timeline: Timeline,
                        whole: bool) -> list[ModuleRun]:
    """The pass, stopped once the last 12 months of every module are in (unless ``whole``)."""
    runs = [ModuleRun(source.name, m) for m in source.modules]
    task = asyncio.ensure_future(syncer.run(source.modules, timeline,  # type: ignore[arg-type]
                                            now=dt.datetime.now(dt.UTC)))
    done = asyncio.ensure_future(timeline.done.wait())
    await asyncio.wait([task, done], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        done.cancel()
        return task.result()
    if whole:
        return await task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for run in runs:
        run.done = sum(1 for c in timeline.commits[run.module])
    return runs


def windows_in(timeline: Timeline, module: str, since: dt.date) -> int:
    return sum(1 for _, _, high in timeline.commits[module] if high >= since)


def report(sim: Simulator, timeline: Timeline, runs: list[ModuleRun], walk: str,
           real: float) -> bool:
    today, since = timeline.today, timeline.since
    log = sorted(sim.requests, key=lambda r: r.at)
    first = log[0].at
    limited = sum(1 for r in log if r.status == 429)
    failed = [f"{r.module}: {r.error}" for r in runs if r.error is not None]
    covered = {m.name: timeline.covered_at(m.name, since, today) for m in skybiz.MODULES}
    w = sum(windows_in(timeline, m, since) for m in covered)
    floor = math.ceil(w / RATE) * PER
    t12 = max((t for t in covered.values() if t is not None), default=math.inf)
    t12 = math.inf if None in covered.values() else t12
    recent = sum(1 for r in log[:w] if r.date_to and r.date_to >= since.isoformat())
    ok = t12 <= TARGET * floor and limited == 0 and not failed
    print(f"first run, {walk}; limit {RATE}/{PER:g} s (margin {MARGIN:g} s), warped time")
    print(f"  {len(log)} requests over {log[-1].at - first:.0f} s of arrivals "
          f"({real:.0f} s real), {limited} x 429, "
          f"{sum(r.done for r in runs)} windows committed")
    for m in skybiz.MODULES:
        at = covered[m.name]
        kind = "master" if m.kind is ModuleKind.MASTER else "document"
        print(f"  {m.name:13} {kind:8} last 12 months ({windows_in(timeline, m.name, since)} "
              f"windows) loaded at {'never' if at is None else f'{at:7.0f} s'}")
    print(f"  of the first {w} starts {recent} were inside the last 12 months")
    print(f"T12 {t12:.0f} s vs floor ceil({w} / {RATE}) x {PER:g} s = {floor:.0f} s: "
          f"{t12 / floor:.2f} x (target <= {TARGET}) {testbed.verdict(ok)}")
    for line in failed:
        print(f"  failed {line}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master-years", type=float, default=26)
    parser.add_argument("--document-years", type=float, default=2)
    parser.add_argument("--whole", action="store_true",
                        help="let the pass walk all the way back (default: stop at T12)")
    args = parser.parse_args()
    return testbed.run(lambda dsn: measure(dsn, args))


if __name__ == "__main__":
    sys.exit(main())
