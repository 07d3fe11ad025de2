"""Load speed of one big sales window against a raw client-side COPY, and peak client RSS.

One 31-day sales window (~150k flat lines) is fetched once from `syncd simulate` running
in its own process. Then, in one run against an embedded PostgreSQL: (a) Loader.load of
that body into empty tables, (b) the same body again (update path), (c) the baseline:
json.loads + typed tuples + copy_records_to_table into an empty UNLOGGED wide table.
speed ratio = baseline seconds / syncd seconds (>= 1: syncd at least as fast). Finally a
child process fetches + loads the window with the real client; its peak RSS is reported.

    .venv/bin/python bench/load.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import subprocess
import sys
import tempfile
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from syncd import logs, registry
from syncd.client import Answer, SkybizClient, open_session
from syncd.config import RateLimit, SourceConfig
from syncd.credentials import Credentials, Secret
from syncd.limiter import RateLimiter
from syncd.registry import FieldType
from syncd.simulator import SimulatorOptions
from syncd.warehouse import db
from syncd.warehouse.loader import Loader
from syncd.windows import Purpose, Window

SCALE, DAYS = 45, 31  # ~150k sales lines (~33k documents) in the 31 days before today
SALES = registry.get("sales")
FIELDS = SALES.header + SALES.lines
TZ = "Asia/Kuala_Lumpur"
TARGET_RATIO, RSS_SLACK_MB = 1.0, 100


async def fetch_and_load(base_url: str, window: Window, loader: Loader | None) -> Answer:
    """One read of the window through the real client; loaded when ``loader`` is given."""
    opts = SimulatorOptions()
    source = SourceConfig(
        name="bench", kind="skybiz", base_url=base_url, timezone=TZ,
        backfill_from=window.date_from, modules=("sales",), rate_limit=RateLimit(1000, 1, 0),
        credentials=Credentials(Secret(opts.api_key), Secret(opts.api_secret)))

    async def accept(answer: Answer) -> Answer:
        if loader is not None:
            await loader.load(SALES, window, answer)
        return answer

    async with open_session(source) as session:
        client = SkybizClient(source, session, RateLimiter(1000, 1, margin=0))
        return await client.fetch("sales", window.date_from, window.date_to, accept)


def typed(value: Any, kind: FieldType) -> Any:
    """The baseline's client-side typing: JSON value -> Python value for COPY."""
    if value is None or kind is FieldType.TEXT:
        return value
    try:
        if kind is FieldType.NUMERIC:
            return Decimal(value)
        return dt.date.fromisoformat(str(value)[:10])  # the sales rows' only other type
    except (InvalidOperation, ValueError):
        return None  # '', '0000-00-00', 'N/A': no value


async def baseline(conn: Any, body: bytes) -> int:
    """Raw COPY of the flat rows into an empty UNLOGGED table; returns rows copied."""
    rows = json.loads(body, parse_float=Decimal)["data"]["data"]
    kinds = [(f.name, f.type) for f in FIELDS]
    records = [("bench", n, *(typed(r.get(name), k) for name, k in kinds))
               for n, r in enumerate(rows, 1)]
    async with conn.transaction():
        await conn.copy_records_to_table("flat", schema_name="bench", records=records)
    return len(records)


async def timed(work: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, this process's CPU seconds) of awaiting ``work``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = await work
    return result, time.perf_counter() - wall, time.process_time() - cpu


async def measure(base_url: str, dsn: str, window: Window) -> tuple[bool, float]:
    """Time (a), (b), (c); print their figures; return (targets met, body MB)."""
    answer = await fetch_and_load(base_url, window, None)
    conn = await db.connect(dsn)
    await db.migrate(conn)
    columns = ", ".join(f"{f.column} {f.type.value}" for f in FIELDS)
    await conn.execute("CREATE SCHEMA bench; CREATE UNLOGGED TABLE bench.flat "
                       f"(source text, line_seq integer, {columns})")
    await conn.execute("CREATE DATABASE rss")  # for the RSS probe, which loads afresh
    loader = Loader(conn, "bench", TZ)
    fresh = Answer(200, answer.body, None, answer.ctx, 1, time.monotonic())
    ins, ins_s, ins_cpu = await timed(loader.load(SALES, window, fresh))
    _, upd_s, _ = await timed(loader.load(SALES, window, fresh))
    rows, base_s, _ = await timed(baseline(conn, answer.body))
    await conn.close()
    body_mb, lines = len(answer.body) / 2**20, ins.lines
    print(f"window {window}: {lines} lines ({rows} flat rows), {ins.upserted} documents, "
          f"body {body_mb:.1f} MB")
    for name, secs in (("insert", ins_s), ("update", upd_s)):
        ok = base_s / secs >= TARGET_RATIO
        print(f"syncd {name}   {secs:6.2f}s {lines / secs:9,.0f} lines/s  speed ratio "
              f"{base_s / secs:.2f} (target >= {TARGET_RATIO}) {'OK' if ok else 'MISSED'}")
    print(f"baseline COPY  {base_s:6.2f}s {rows / base_s:9,.0f} lines/s")
    print(f"syncd client CPU {ins_cpu * 1e5 / lines:.3f}s per 100k lines (insert)")
    return base_s / max(ins_s, upd_s) >= TARGET_RATIO, body_mb


def peak_rss_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over fork + exec, so a child
    of this (large) parent would report the parent's peak; VmHWM starts afresh at exec."""
    status = Path("/proc/self/status").read_text(encoding="ascii")
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("VmHWM:")))


async def child(base_url: str, dsn: str, date_from: str) -> None:
    """The RSS probe: fetch + load with the real client; print peak RSS before and after."""
    before = peak_rss_kb()
    start = dt.date.fromisoformat(date_from)
    window = Window(start, start + dt.timedelta(days=DAYS - 1), Purpose.BACKFILL)
    conn = await db.connect(dsn)
    await db.migrate(conn)
    await fetch_and_load(base_url, window, Loader(conn, "bench", TZ))
    await conn.close()
    print(before, peak_rss_kb())


def rss_probe(base_url: str, dsn: str, window: Window, body_mb: float) -> bool:
    """Run ``child`` in a fresh interpreter; print its peak RSS against the target."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", base_url, dsn.replace("/postgres?", "/rss?"),
         window.date_from.isoformat()], check=True, capture_output=True, text=True).stdout
    before_mb, peak_mb = (int(kb) / 1024 for kb in out.split())
    cap = 3 * body_mb + RSS_SLACK_MB
    print(f"child fetch+load peak RSS {peak_mb:.0f} MB (at start {before_mb:.0f} MB; target "
          f"<= 3 x body + {RSS_SLACK_MB} = {cap:.0f} MB) {'OK' if peak_mb <= cap else 'MISSED'}")
    return peak_mb <= cap


def main() -> int:
    logs.configure("console", logging.WARNING)
    if sys.argv[1:2] == ["--child"]:
        asyncio.run(child(*sys.argv[2:5]))
        return 0
    sim = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "syncd", "simulate", "--scale", str(SCALE), "--rate", "1000/1",
         "--port", "0", "--history-days", "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        base_url = [sim.stdout.readline() for _ in range(2)][1].split('"')[1]
        today = dt.date.today()  # the simulator's today is Malaysia's; a day off is harmless
        window = Window(today - dt.timedelta(days=DAYS), today - dt.timedelta(days=1),
                        Purpose.BACKFILL)
        with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, \
                db.embedded(Path(tmp)) as dsn:
            fast, body_mb = asyncio.run(measure(base_url, dsn, window))
            small = rss_probe(base_url, dsn, window, body_mb)
    finally:
        sim.terminate()
        sim.wait()
    return 0 if fast and small else 1


if __name__ == "__main__":
    sys.exit(main())
