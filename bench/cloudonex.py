"""CloudOnex complete read: 50,000 invoices against the real 1000 requests / hour budget.

The real pass (syncd.cli.commands.sync → ResourceSync: the source's limiter at 1000 / 3600 s,
the bulk limiter that keeps 20 % of the hour for fresh windows, pages committed as they
arrive) reads every invoice of the bundled CloudOnex simulator, which enforces the same
limit and sends its X-RateLimit headers, into an embedded PostgreSQL. Figures:

* requests vs the minimum ⌈records / page size⌉ (a quiet read costs no more);
* the read's wall time vs a raw GET of the same pages (aiohttp, no parsing, no load), in
  the same run — what the judging, hashing and COPY cost on top of the wire;
* the share of the hourly budget the read used, and what is left for fresh windows;
* money exact: Σ amount in the warehouse equals the simulator's Σ as Decimal;
* the client time per page, broken down (``stopwatch.py``): HTTP, judging (parse and
  checks), the ids, the first pass (key decode + hash), COPY (rows built while they are
  sent), the changed-record query, the state row, the commit, and the rest;
* a page's load at the start and at the end of the read (medians of the first and last
  tenth): flat when the load does not grow with the rows already read.

    .venv/bin/python bench/cloudonex.py [--invoices N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time

import aiohttp
import asyncpg.transaction
import stopwatch
import testbed

from syncd.cli import commands
from syncd.config import CloudonexOptions, RateLimit, SourceConfig
from syncd.core import rows
from syncd.credentials.lookup import Credentials, Secret
from syncd.engine import progress
from syncd.kinds.cloudonex import budget, reader
from syncd.kinds.cloudonex import client as cloudonex_client
from syncd.warehouse import db, state
from syncd.warehouse import loader as loading
from syncd_simulator.cloudonex import CloudOnexOptions, CloudOnexSimulator

RATE, PER, PAGE = 1000, 3600.0, 100
INVOICES = 50_000


def clocked() -> stopwatch.Stopwatch:
    """Time the parts of a page's way from the socket to the commit."""
    watch = stopwatch.Stopwatch()
    watch.wrap(cloudonex_client.CloudonexClient, "page", "get")
    watch.wrap(cloudonex_client, "judge", "judge")
    watch.wrap(reader, "_ids", "ids")
    watch.wrap(loading.Loader, "load_page", "load")
    watch.wrap(rows.WindowRows, "keys", "hash")
    watch.wrap(loading.Loader, "_write", "write")
    watch.wrap(loading, "_copy", "copy")
    watch.wrap(state, "save_page", "state")
    watch.wrap(asyncpg.transaction.Transaction, "__aexit__", "commit")
    return watch


def breakdown(watch: stopwatch.Stopwatch, pages: int, seconds: float) -> None:
    """Milliseconds per page: parts that do not nest, and what is left of the wall."""
    s = watch.seconds
    parts = {
        "HTTP (limiter, GET + body)": s["get"] - s["judge"],
        "judge (parse + checks)": s["judge"],
        "ids (completeness)": s["ids"],
        "hash (key decode + hash)": s["hash"],
        "COPY (keys, rows built + sent)": s["copy"],
        "changed-record query": s["write"] - s["copy"],
        "state row": s["state"],
        "commit": s["commit"],
        "begin + settings": s["load"] - s["hash"] - s["write"] - s["state"] - s["commit"],
    }
    parts["rest (limiter, event loop, progress)"] = seconds - sum(parts.values())
    print(f"  client time per page {1000 * seconds / pages:.1f} ms:")
    for name, value in parts.items():
        print(f"    {name:38} {1000 * value / pages:6.2f} ms")
    # A page's load must not grow with the rows already read (else the read is quadratic).
    for label, name in (("load", "page load (begin to commit)"),
                        ("write", "COPY + changed-record query")):
        each = watch.each[label]
        tenth = max(1, len(each) // 10)
        first, last = (statistics.median(each[:tenth]), statistics.median(each[-tenth:]))
        print(f"  {name}, median of the first / last {tenth} pages: {1000 * first:.2f} / "
              f"{1000 * last:.2f} ms (last / first {last / first:.2f})")


async def raw_pages(url: str, key: str, pages: int) -> float:
    """Seconds to GET every page once, sequentially, doing nothing with the bodies."""
    headers = {"Authorization": f"Bearer {key}"}
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for n in range(1, pages + 1):
            async with session.get(f"{url}/invoices", params={"page": n, "limit": PAGE},
                                   headers=headers) as resp:
                await resp.read()
    return time.perf_counter() - start


async def measure(dsn: str, invoices: int) -> bool:
    watch = clocked()
    # The server's budget is ten times ours: the raw GETs spend from it too.
    sim = CloudOnexSimulator(CloudOnexOptions(records={"invoices": invoices},
                                              rate_requests=RATE * 10, rate_seconds=PER))
    url = await sim.start()
    source = SourceConfig(
        name="bench", kind="cloudonex", base_url=url, timezone="Asia/Kuala_Lumpur",
        options=CloudonexOptions(page_size=PAGE), modules=("invoices",),
        rate_limit=RateLimit(RATE, PER, 0.2),
        credentials=Credentials(Secret(sim.options.api_key)))
    cfg = testbed.config_for(dsn, source)
    try:
        pages = -(-invoices // PAGE)
        await commands.migrate(cfg)  # the schema exists before the clock starts
        raw = await raw_pages(url, sim.options.api_key, pages)
        sent_before = len(sim.requests)
        start = time.perf_counter()
        runs = await commands.sync(cfg, [source], lambda s: progress.LogProgress(),
                                   now=dt.datetime.now(dt.UTC))
        seconds = time.perf_counter() - start
        requests = len(sim.requests) - sent_before
        conn = await db.connect(dsn)
        try:
            stored = await conn.fetchval("SELECT sum(amount)::text FROM cloudonex.invoices "
                                         "WHERE _deleted_at IS NULL")
        finally:
            await conn.close()
    finally:
        await sim.stop()
    truth = str(sum(r["amount"] for r in sim.records("invoices")))  # type: ignore[misc]
    minimum = pages
    reserve = budget.reserve(RATE)
    bulk = RATE - reserve
    ok = runs[0].error is None and requests == minimum and stored == truth
    print(f"complete read of {invoices:,} invoices, page size {PAGE}, budget {RATE} / "
          f"{PER:g} s:")
    print(f"  requests            {requests:>8}   minimum {minimum}")
    print(f"  wall time           {seconds:>8.1f} s  raw GET of the same pages {raw:.1f} s"
          f"  ratio {seconds / raw:.2f} x")
    print(f"  budget used         {requests / RATE:>8.1%}   bulk may use {bulk} / h,"
          f" {reserve} / h kept for fresh windows")
    print(f"  hours at budget     {requests / bulk:>8.2f} h  ({requests} requests at {bulk} / h;"
          f" {'one burst: the read is done in its client time' if requests <= bulk else ''}"
          f"{f'then {bulk} per hour' if requests > bulk else ''})")
    print(f"  money               Σ amount {stored} vs simulator {truth}: "
          f"{'exact' if stored == truth else 'DIFFERENT'}")
    print(f"  at most {RATE - reserve} pages per hour of complete reads: "
          f"{(RATE - reserve) * PAGE:,} records per hour once the burst is spent")
    breakdown(watch, requests, seconds)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=INVOICES)
    args = parser.parse_args()
    return testbed.run(lambda dsn: measure(dsn, args.invoices))


if __name__ == "__main__":
    sys.exit(main())
