"""Write-back throughput: documents per second pushed at the real 5 requests / 10 s limit.

10,000 valid sales invoices wait in the outbox of an embedded PostgreSQL; the real
`syncd push` body (syncd.cli.push.push: validation, batches of 500, the source's
limiter at 5 / 10 s with its 0.2 s margin, state writes around every request) sends them to
the bundled simulator, which enforces the same limit. The ceiling is 500 documents x 5
requests / 10 s = 250 documents/s; the limiter's margin makes the best sustainable rate
500 x 5 / 10.2 s = 245 documents/s. "Sustained" counts the documents of every request after
the first window's burst over the time from the first arrival to the last.

    .venv/bin/python bench/push.py
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal

import testbed

from syncd.cli import commands
from syncd.cli import push as command
from syncd.config import RateLimit
from syncd.engine.outbox.jsontext import dumps
from syncd.warehouse import db, outbox
from syncd_simulator import Simulator, SimulatorOptions

DOCUMENTS, BATCH = 10_000, 500
RATE, PER, MARGIN = 5, 10.0, 0.2
CEILING = BATCH * RATE / PER  # 250 documents/s
TARGET = 0.95 * BATCH * RATE / (PER + MARGIN)  # 95 % of what the margin leaves


def invoice(n: int, customer: str, item: str) -> str:
    """One valid two-line invoice as outbox JSON text."""
    return dumps({
        "Doc1No": f"BENCH-{n:06d}", "CusCode": customer, "DocType": "CusInv",
        "HCNetAmt": Decimal("130.10"), "HCDtTax": Decimal("7.81"),
        "items": [
            {"ItemCode": item, "Description": "A", "Qty": 3, "FactorQty": 1, "UOM": "PCS",
             "HCUnitCost": Decimal("33.3667"), "HCLineAmt": Decimal("100.10"),
             "BlankLine": "0", "HCTax": Decimal("6.01"), "TaxRate1": 6},
            {"ItemCode": "DELIVERY", "Description": "B", "Qty": 1, "FactorQty": 1,
             "UOM": "UNIT", "HCUnitCost": Decimal("30.00"), "HCLineAmt": Decimal("30.00"),
             "BlankLine": "4", "HCTax": Decimal("1.80"), "TaxRate1": 6}]})


async def measure(dsn: str) -> bool:
    sim = Simulator(SimulatorOptions(history_days=3, rate_requests=RATE, rate_seconds=PER))
    base_url = await sim.start()
    source = testbed.source_for(sim, base_url, sim.dataset.today, RateLimit(RATE, PER, MARGIN),
                                modules=("sales",))
    cfg = testbed.config_for(dsn, source)
    await commands.migrate(cfg)
    customer = str(sim.dataset.masters("customer")[0]["CusCode"])
    item = str(sim.dataset.masters("item")[0]["ItemCode"])
    conn = await db.connect(dsn)
    try:
        await outbox.add(conn, [("bench", "sales", invoice(n, customer, item))
                                for n in range(DOCUMENTS)])
    finally:
        await conn.close()
    try:
        started = time.perf_counter()
        [result] = await command.push(cfg, [source], ("sales",))
        wall = time.perf_counter() - started
    finally:
        await sim.stop()
    arrivals = sorted(r.at for r in sim.requests if r.status == 200)
    limited = sum(1 for r in sim.requests if r.status == 429)
    span = arrivals[-1] - arrivals[0]
    sustained = BATCH * (len(arrivals) - RATE) / span if span else float("inf")
    ok = result.inserted == DOCUMENTS and limited == 0 and sustained >= TARGET
    print(f"{DOCUMENTS} documents, {result.requests} requests of <= {BATCH}, limit {RATE}/"
          f"{PER:g}s (margin {MARGIN:g}s), {limited} answers 429, {result.inserted} inserted")
    print(f"end to end {DOCUMENTS / wall:.0f} documents/s (wall {wall:.1f}s, the first "
          f"{RATE} requests go out at once)")
    print(f"sustained {sustained:.0f} documents/s over {span:.1f}s of arrivals; ceiling "
          f"{CEILING:.0f} (500 x 5 / 10 s), target >= {TARGET:.0f} "
          f"{'OK' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    sys.exit(testbed.run(measure))
