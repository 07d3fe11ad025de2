"""How much of the server's rate limit the real client uses, over a real socket.

Eight tasks read tiny 1-day windows of the eight modules through ONE SkybizClient (one
RateLimiter, one aiohttp session) against the bundled simulator, both at a compressed
limit of 5 requests per 1 s (client margin 0.05 s). Figures come from the simulator's
own request log, i.e. from arrival times as the server counted them.

utilisation = requests / allowed, where allowed = RATE * (1 + T / PER) and T is the span
from the first to the last arrival: a full window's burst at the start plus RATE per PER
seconds after it. The server's exact ceiling for a closed span T is RATE * (floor(T/PER) + 1),
never more than `allowed`, so this utilisation never flatters the client. With the margin
the best any client can do is `ceiling` (printed for reference).

A second part runs the fairness scenario of issue 12 in virtual time (no sockets, instant):
4 stores × 8 modules whose fresh passes restart 5 s after they end, plus a new store whose
8 modules backfill, all on one host's limiter at 5 / 10 s. It prints each source's share of
the starts beside the targets (backfill >= 1 in 5, the four stores equal), the longest run
of starts backfill waited through, and the same figures under strict priority for contrast.

    .venv/bin/python bench/limiter.py
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import heapq
import itertools
import math
import sys
import time

from syncd.config import RateLimit, SkybizOptions, SourceConfig
from syncd.credentials.lookup import Credentials, Secret
from syncd.engine.http import open_session
from syncd.engine.limiter import Priority, RateLimiter
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.client import SkybizClient
from syncd_simulator import Simulator, SimulatorOptions

RATE, PER, MARGIN = 5, 1.0, 0.05
TASKS, PER_TASK = 8, 10  # 80 requests: a whole number of bursts
TARGET_UTILISATION = 0.95


def source_for(sim: Simulator, base_url: str) -> SourceConfig:
    """A source pointing at ``sim`` with the compressed limit."""
    return SourceConfig(
        name="bench", kind="skybiz", base_url=base_url, timezone="Asia/Kuala_Lumpur",
        options=SkybizOptions(sim.dataset.today - dt.timedelta(days=30)),
        modules=tuple(m.name for m in skybiz.MODULES),
        rate_limit=RateLimit(RATE, PER, MARGIN),
        credentials=Credentials(Secret(sim.options.api_key), Secret(sim.options.api_secret)))


async def reader(client: SkybizClient, module: str, today: dt.date) -> None:
    """Read PER_TASK consecutive 1-day windows of ``module``, one after another."""
    for back in range(1, PER_TASK + 1):
        day = today - dt.timedelta(days=back)
        await client.read(module, day, day)


async def measure() -> tuple[int, int, float, float]:
    """Run the readers; return (requests, 429s, arrival span T, wall seconds)."""
    sim = Simulator(SimulatorOptions(history_days=30, rate_requests=RATE, rate_seconds=PER))
    base_url = await sim.start()
    try:
        source = source_for(sim, base_url)
        limiter = RateLimiter(RATE, PER, margin=MARGIN)
        modules = [m.name for m in skybiz.MODULES]
        async with open_session(source) as session:
            client = SkybizClient(source, session, limiter)
            started = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for i in range(TASKS):
                    group.create_task(reader(client, modules[i % len(modules)],
                                             sim.dataset.today))
            wall = time.perf_counter() - started
    finally:
        await sim.stop()
    arrivals = [r.at for r in sim.requests]
    limited = sum(1 for r in sim.requests if r.status == 429)
    return len(arrivals), limited, max(arrivals) - min(arrivals), wall


FAIR_SECONDS, STORES, MODULES, FRESH_INTERVAL = 600.0, 4, 8, 5.0
TARGET_BACKFILL_SHARE = 1 / 5
STRICT_PRIORITY = dict.fromkeys((Priority.PUSH, Priority.BACKFILL, Priority.REREAD), 10 ** 9)


class VirtualClock:
    """Time that jumps to the next sleeper once every task has run as far as it can."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), woken))
        await woken

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        while True:
            for _ in range(20):  # let every ready chain run to its next wait
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                return
            when, _, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            woken.set_result(None)


async def fair_scenario(share: dict[Priority, int] | None) -> list[tuple[str, Priority]]:
    """The issue-12 scenario on one limiter; the starts in order, as (source, priority)."""
    clock = VirtualClock()
    limiter = RateLimiter(5, 10, clock=clock.time, sleep=clock.sleep, share=share)
    starts: list[tuple[str, Priority]] = []

    async def request(source: str, priority: Priority, seconds: float) -> None:
        await limiter.acquire(priority, source=source)
        starts.append((source, priority))
        await clock.sleep(seconds)

    async def fresh(source: str) -> None:
        while clock.now < FAIR_SECONDS:
            await asyncio.gather(*(request(source, Priority.FRESH, 0.5)
                                   for _ in range(MODULES)))
            await clock.sleep(FRESH_INTERVAL)

    async def backfill_module() -> None:
        while clock.now < FAIR_SECONDS:
            await request("new", Priority.BACKFILL, 1.0)

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(fresh(f"store{i}")) for i in range(1, STORES + 1)]
    tasks += [loop.create_task(backfill_module()) for _ in range(MODULES)]
    await clock.run(tasks)
    return starts


def fairness_report(label: str, starts: list[tuple[str, Priority]]) -> bool:
    """Print each source's share and the longest wait of backfill; tell whether targets hold."""
    counts = collections.Counter(source for source, _ in starts)
    backfill = [i for i, (_, p) in enumerate(starts) if p is Priority.BACKFILL]
    # Starts that went elsewhere in a row, after the first backfill start.
    longest = max((b - a - 1 for a, b in itertools.pairwise([*backfill, len(starts)])),
                  default=len(starts))
    share = counts["new"] / len(starts)
    stores = [counts[f"store{i}"] for i in range(1, STORES + 1)]
    ok = share >= TARGET_BACKFILL_SHARE and max(stores) - min(stores) <= MODULES
    print(f"{label}: {len(starts)} starts in {FAIR_SECONDS:g} s (virtual)")
    for i, n in enumerate(stores, 1):
        print(f"  store{i} fresh   {n:4d}  {n / len(starts):6.1%}  "
              f"(target: equal to the other stores, within one pass of {MODULES})")
    print(f"  new backfill   {counts['new']:4d}  {share:6.1%}  "
          f"(target >= {TARGET_BACKFILL_SHARE:.0%}) {'OK' if ok else 'MISSED'}")
    print(f"  first backfill start #{backfill[0] + 1 if backfill else '-'}; longest run of "
          f"other starts after it {longest} (target <= 4)")
    return ok


def main() -> int:
    ok_fair = fairness_report("fair sharing (shipped)", asyncio.run(fair_scenario(None)))
    fairness_report("strict priority, for contrast", asyncio.run(fair_scenario(STRICT_PRIORITY)))
    requests, limited, span, wall = asyncio.run(measure())
    allowed = RATE * (1 + span / PER)
    exact = RATE * (math.floor(span / PER) + 1)
    # A perfect limiter with this margin: bursts of RATE every PER + MARGIN seconds.
    best_span = (math.ceil(requests / RATE) - 1) * (PER + MARGIN)
    ceiling = requests / (RATE * (1 + best_span / PER))
    utilisation = requests / allowed
    ok_util = utilisation >= TARGET_UTILISATION
    ok_429 = limited == 0
    print(f"limit {RATE}/{PER:g}s (client margin {MARGIN:g}s), {TASKS} tasks, "
          f"{requests} requests in {span:.3f}s of arrivals ({wall:.3f}s wall)")
    print(f"utilisation {utilisation:.3f} = {requests}/{allowed:.1f} allowed "
          f"(target >= {TARGET_UTILISATION}) {'OK' if ok_util else 'MISSED'}")
    print(f"  for reference: vs exact step ceiling {requests / exact:.3f}; "
          f"best possible with the margin {ceiling:.3f}")
    print(f"429 answers {limited} (target 0) {'OK' if ok_429 else 'MISSED'}")
    return 0 if ok_util and ok_429 and ok_fair else 1


if __name__ == "__main__":
    sys.exit(main())
