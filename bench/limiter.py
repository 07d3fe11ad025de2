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

    .venv/bin/python bench/limiter.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sys
import time

from syncd import registry
from syncd.client import SkybizClient, open_session
from syncd.config import RateLimit, SourceConfig
from syncd.credentials import Credentials, Secret
from syncd.limiter import RateLimiter
from syncd.simulator import Simulator, SimulatorOptions

RATE, PER, MARGIN = 5, 1.0, 0.05
TASKS, PER_TASK = 8, 10  # 80 requests: a whole number of bursts
TARGET_UTILISATION = 0.95


def source_for(sim: Simulator, base_url: str) -> SourceConfig:
    """A source pointing at ``sim`` with the compressed limit."""
    return SourceConfig(
        name="bench", kind="skybiz", base_url=base_url, timezone="Asia/Kuala_Lumpur",
        backfill_from=sim.dataset.today - dt.timedelta(days=30),
        modules=tuple(m.name for m in registry.MODULES),
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
        modules = [m.name for m in registry.MODULES]
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


def main() -> int:
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
    return 0 if ok_util and ok_429 else 1


if __name__ == "__main__":
    sys.exit(main())
