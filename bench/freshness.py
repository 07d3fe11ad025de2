"""How many stores one box keeps fresh: freshness targets against every module every interval.

In virtual time (instant, no sockets): N stores × 8 SKYBIZ modules share one host's limiter
at 5 / 10 s (+0.2 s margin: one start every 2.04 s), served by the real fair queue
(``syncd.core.fairqueue``: sources take turns). Each store runs the daemon's real fresh plan
(``syncd.service.jobs.FreshPlan``: a tick job, one fresh pass at a time per source, each
module read when its target needs it) with the issue's targets — sales 5 min, the other
documents (purchase, collection, sales_order) 1 h, masters (customer, supplier, item,
price_matrix) 6 h. A read is one request whose answer commits 0.5 s after its start. Over
13 virtual hours (the first hour is warm-up) it records the longest time each module's data
went without a committed read, and finds the most stores for which every module stays
within its target — alone, and while one more store backfills (every fifth start goes to
it). For contrast, today's schedule: every module every 5-minute interval (one pass per
interval, skipped while the previous one runs), where the capacity line says 18 stores; a
store counts as kept when no module goes longer than 330 s (one interval plus 10 %).
The capacity maths (``syncd.engine.capacity.target_fits``) are printed beside it.

    .venv/bin/python bench/freshness.py
"""

from __future__ import annotations

import heapq
import random
import sys
from dataclasses import dataclass, field

from syncd.config import RateLimit
from syncd.core.fairqueue import FairQueue, Priority
from syncd.core.freshness import read_every
from syncd.engine.capacity import SourceLoad, host_capacity, target_fits
from syncd.service.jobs import FreshPlan

RATE = RateLimit(5, 10.0, 0.2)
PACE = RATE.seconds_per_request
LATENCY = 0.5
HOURS, WARMUP = 13 * 3600.0, 3600.0
TARGETS = {"sales": 300.0, "purchase": 3600.0, "collection": 3600.0, "sales_order": 3600.0,
           "customer": 21600.0, "supplier": 21600.0, "item": 21600.0, "price_matrix": 21600.0}
TODAY = dict.fromkeys(TARGETS, 300.0)
TODAY_SLACK = 1.1


@dataclass
class Store:
    name: str
    plan: FreshPlan | None  # None: today's schedule (all modules every interval)
    last: dict[str, float] = field(default_factory=dict)  # plan: start of the last read
    read_at: dict[str, float] = field(default_factory=dict)  # last committed read
    worst: dict[str, float] = field(default_factory=dict)  # longest gap after warm-up
    pending: int = 0  # requests of the pass in flight

    def commit(self, module: str, at: float) -> None:
        if at > WARMUP:
            gap = at - self.read_at[module]
            self.worst[module] = max(self.worst.get(module, 0.0), gap)
        self.read_at[module] = at


def simulate(stores: int, targets: dict[str, float], *, planned: bool, backfill: bool,
             seed: int = 7) -> list[Store]:
    """Run the host for HOURS; every store's worst gap per module."""
    rng = random.Random(seed)
    plan = FreshPlan.of(targets)
    tick = plan.tick if planned else 300.0
    out = [Store(f"store{i}", plan if planned else None) for i in range(stores)]
    events: list[tuple[float, int, str, int, str]] = []  # (time, order, what, store, module)
    order = 0
    for i, s in enumerate(out):
        for m, t in targets.items():  # steady state: reads spread over their periods
            s.last[m] = -rng.uniform(0, read_every(t) if planned else 300.0)
            s.read_at[m] = s.last[m] + LATENCY
        heapq.heappush(events, (rng.uniform(0, tick), order, "tick", i, ""))
        order += 1
    queue: FairQueue[tuple[int, str]] = FairQueue()
    if backfill:
        queue.push(Priority.BACKFILL, "new", (-1, ""))
    heapq.heappush(events, (0.0, order, "slot", -1, ""))
    while events:
        now, _, what, i, module = heapq.heappop(events)
        if now > HOURS:
            break
        order += 1
        if what == "tick":
            _tick(out[i], i, now, queue)
            heapq.heappush(events, (now + tick, order, "tick", i, ""))
        elif what == "slot":
            item = queue.pop()
            if item is not None and item[0] >= 0:
                heapq.heappush(events, (now + LATENCY, order, "done", item[0], item[1]))
            elif item is not None:
                queue.push(Priority.BACKFILL, "new", (-1, ""))  # backfill always waits
            heapq.heappush(events, (now + PACE, order + 1, "slot", -1, ""))
        else:
            out[i].commit(module, now)
            out[i].pending -= 1
    return out


def _tick(store: Store, index: int, now: float, queue: FairQueue[tuple[int, str]]) -> None:
    """One tick of a store's fresh job: start a pass of what is due, unless one runs."""
    if store.pending:
        return
    due = store.plan.due(store.last, now) if store.plan else tuple(TODAY)
    for m in due:
        store.last[m] = now
        queue.push(Priority.FRESH, store.name, (index, m))
    store.pending = len(due)


def kept(stores: list[Store], targets: dict[str, float], slack: float = 1.0) -> bool:
    """Every module of every store went no longer than its target without a read."""
    return all(s.worst.get(m, 0.0) <= slack * t for s in stores for m, t in targets.items())


def most_stores(targets: dict[str, float], *, planned: bool, backfill: bool,
                slack: float = 1.0) -> int:
    """The largest N (binary search) for which every store is kept."""
    lo, hi = 1, 256
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kept(simulate(mid, targets, planned=planned, backfill=backfill), targets, slack):
            lo = mid
        else:
            hi = mid - 1
    return lo


def maths(stores: int, targets: dict[str, float]) -> tuple[int, int]:
    """Modules the capacity maths say are met (alone, while backfilling) for N stores."""
    periods = tuple(read_every(t) for t in targets.values())
    loads = [SourceLoad(f"s{i}", "api", RATE, periods, modules=tuple(targets),
                        targets=tuple(targets.values())) for i in range(stores)]
    fits = target_fits(loads)
    return sum(f.met for f in fits), sum(f.met_while_backfilling for f in fits)


def main() -> int:
    new = most_stores(TARGETS, planned=True, backfill=False)
    new_bf = most_stores(TARGETS, planned=True, backfill=True)
    old = most_stores(TODAY, planned=False, backfill=False, slack=TODAY_SLACK)
    old_line = max(n for n in range(1, 60) if host_capacity("api", [
        SourceLoad(f"s{i}", "api", RATE, (300.0,) * 8) for i in range(n)]).meets_interval)
    fifty = simulate(50, TARGETS, planned=True, backfill=True)
    worst = {m: max(s.worst.get(m, 0.0) for s in fifty) for m in TARGETS}
    met, met_bf = maths(50, TARGETS)
    print("targets: sales 5 min, purchase/collection/sales_order 1 h, masters 6 h; "
          "5 / 10 s + 0.2 s, one request per read")
    print(f"50 stores × 8 modules with targets, one backfilling: worst gap per module "
          f"(s): {', '.join(f'{m} {w:.0f}/{TARGETS[m]:.0f}' for m, w in worst.items())}")
    print(f"  capacity maths for 50 stores: {met}/400 targets met, {met_bf}/400 while "
          "backfilling")
    print(f"most stores kept within their targets (simulated): {new} "
          f"({new_bf} while one more store backfills)")
    print(f"today, every module every 5 min: capacity line {old_line} stores; simulated "
          f"{old} (no module past 330 s)")
    ok = new >= 50 and new_bf >= 50 and new > 3 * old
    print(f"verdict: {'OK' if ok else 'FAILED'} (target: ≥ 50 stores with targets, "
          "> 3 × today)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
