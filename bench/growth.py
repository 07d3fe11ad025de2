"""A hot month's load into an empty warehouse vs one that already holds 20 M line rows.

One PostgreSQL, two databases migrated alike: ``empty``, and ``big``, filled server-side
(generate_series) with ``--lines`` sales line rows (default 20 M, ~6.5 per document):
older months of the bench source plus three other sources, a ledger of two years of
5-minute fresh windows per source, and watermarks as a daemon would have left them. Then,
alternating between the two in one run, the same 31-day window as ``load.py`` (~180k
PHP-style lines, ~120 MB, served by a separate process over a real socket) is loaded
through the real client and loader: **insert** (the month is absent) and **update** (the
same body again); the hot month is deleted and vacuumed between rounds, and the median of
the rounds' big / empty ratios counts (the best rounds are printed beside it). Printed:
big / empty for each (target <= 1.1), the big database's size on disk, and for each
statement a window load runs (the changed-document query with its line delete, the
deletion diff, the watermark lock, state and ledger writes) its ``EXPLAIN (ANALYZE,
BUFFERS)`` figures at both sizes, custom and generic plans; the full plans go to
``--plans``.

``--data DIR`` keeps the PostgreSQL there: a later run with the same DIR reuses the big
database (and migrates it, timing each migration it applies: how long an upgrade in place
takes on that many rows) instead of filling it again.

    .venv/bin/python bench/growth.py [--lines 20000000] [--rounds 2] [--plans FILE]
                                     [--data DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))
import load
import skybiz_window
import testbed

from syncd import logs
from syncd.core import body, rows
from syncd.warehouse import db, sql, state
from syncd.warehouse import loader as loading
from syncd.warehouse.loader import Loader

SALES, WINDOW, TZ = load.SALES, load.WINDOW, load.TZ
TARGET = 1.1
LINES_PER_DAY = 5850  # ~900 documents a day x 6.5 lines, as in the hot month
OTHERS = ("store2", "store3", "store4")
DOCTYPES = "ARRAY['CusInv','CusInv','CS','CusCN','CusDN']"
PREFIXES = "ARRAY['IV','IV','CS','CN','DN']"

# One document per (day, n); its doctype, number and line count follow from n and the day.
_DOCS = f"""
FROM generate_series($2::date, $3::date, interval '1 day') AS d(day),
     generate_series(1, 900) AS n,
     LATERAL (SELECT ({DOCTYPES})[1 + n % 5] AS doctype,
                     ({PREFIXES})[1 + n % 5] || '-' || to_char(d.day, 'YYMMDD') || '-'
                         || lpad(n::text, 5, '0') AS doc1no,
                     1 + (n * 7 + (d.day::date - date '2000-01-01')) % 12 AS lines) AS x
"""

FILL_HEADERS = f"""
INSERT INTO skybiz.sales (source, doctype, doc1no, d_ate, doc2no, doc3no, cuscode, hcnetamt,
    hcdttax, currate1, adjamt, _raw, _hash)
SELECT $1, x.doctype, x.doc1no, d.day::date, 'PO/' || n, '',
    '300-' || lpad((n % 2000)::text, 5, '0'),
    (n * 13.37)::numeric(14, 2), (n * 0.8)::numeric(14, 2), 1.000000, 0.00,
    ('{{"D_ate":"' || d.day::date || '","Doc1No":"' || x.doc1no || '","DocType":"'
        || x.doctype || '","HCNetAmt":' || (n * 13.37)::numeric(14, 2) || '}}')::json,
    decode(md5($1 || x.doc1no), 'hex')
{_DOCS}
"""

FILL_LINES = f"""
INSERT INTO skybiz.sales_line (source, doctype, doc1no, line_seq, itemcode, description, qty,
    factorqty, uom, hcunitcost, hclineamt, hcdiscount, disrate1, hctax, taxrate1,
    detailtaxcode, blankline, salespersoncode, branchcode, departmentcode, projectcode,
    locationcode, warrantydate, itembatch, dud1, dud2, dud3, dud4, dud5, dud6, _raw)
SELECT $1, x.doctype, x.doc1no, l, 'ITM-' || lpad(((n * 31 + l) % 4000)::text, 5, '0'),
    'Kopi Ais Teh Tarik', l, 1.0000, 'UNIT', 12.50, l * 12.50, 0.00, 0.00, l * 0.75, 6,
    'SR-6', '0', 'SP01', 'HQ', '', '', 'WH1', NULL, '', '', '', '', '', '', '',
    ('{{"LineNo":' || l || ',"ItemCode":"ITM-' || lpad(((n * 31 + l) % 4000)::text, 5, '0')
        || '","Description":"Kopi Ais Teh Tarik","Qty":' || l || ',"HCLineAmt":'
        || l * 12.50 || '}}')::json
{_DOCS}, generate_series(1, x.lines) AS l
"""

FILL_LEDGER = """
INSERT INTO syncd.window (source, module, date_from, date_to, purpose, records, upserted,
    deleted, content_hash, request_id, requests, fetched_at, duration_ms, committed_at)
SELECT $1, 'sales', t::date - 6, t::date, 'fresh', 5000, 10, 0, md5(t::text), NULL, 1, t,
    900, t
FROM generate_series($2::timestamptz, $3::timestamptz, interval '5 minutes') AS t
"""

MARKS = """
INSERT INTO syncd.module_state (source, module, low_watermark, high_watermark)
VALUES ($1, 'sales', $2, $3) ON CONFLICT (source, module) DO UPDATE SET
    low_watermark = $2, high_watermark = $3
"""

# The hot month out again (between rounds): its lines, headers, ledger rows and marks.
FORGET = """
DELETE FROM skybiz.sales_line l USING skybiz.sales s
WHERE s.source = 'bench' AND s.d_ate BETWEEN $1 AND $2 AND l.source = s.source
  AND l.doctype = s.doctype AND l.doc1no = s.doc1no
"""


@dataclass
class Warehouse:
    """One database of the run, its loader's connection and the marks it starts from."""

    name: str
    conn: asyncpg.Connection
    loader: Loader
    low: dt.date | None = None  # the bench source's watermarks before the hot month
    lines: int = 0


async def fill(wh: Warehouse, lines: int) -> float:
    """Fill ``wh`` to about ``lines`` line rows; return the seconds it took."""
    started = time.perf_counter()
    total_days = max(2, round(lines / LINES_PER_DAY))
    bench_days = max(1, round(total_days * 0.4))
    other_days = max(1, (total_days - bench_days) // len(OTHERS))
    end = WINDOW.date_from - dt.timedelta(days=1)
    spans = [("bench", end - dt.timedelta(days=bench_days - 1), end)]
    spans += [(s, load.TODAY - dt.timedelta(days=other_days - 1), load.TODAY) for s in OTHERS]
    conn = wh.conn
    for source, first, last in spans:
        status = await conn.execute(FILL_LINES, source, first, last)
        wh.lines += int(status.split()[-1])
        await conn.execute(FILL_HEADERS, source, first, last)
        ledger_to = dt.datetime.combine(last, dt.time(12), dt.UTC)
        await conn.execute(FILL_LEDGER, source, ledger_to - dt.timedelta(days=730), ledger_to)
        await conn.execute(MARKS, source, first, last)
        print(f"  filled {source}: {first}..{last}, {wh.lines:,} line rows so far "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    wh.low = spans[0][1]
    await conn.execute("CREATE TABLE public.growth_fill AS SELECT $1::bigint AS lines, "
                       "$2::date AS low", wh.lines, wh.low)
    await conn.execute("VACUUM ANALYZE skybiz.sales, skybiz.sales_line, syncd.window, "
                       "syncd.module_state")
    return time.perf_counter() - started


async def forget(wh: Warehouse) -> None:
    """Take the hot month out again and vacuum, so the next insert starts as the first."""
    conn, a, b = wh.conn, WINDOW.date_from, WINDOW.date_to
    # Fresh statistics first: the month just loaded is not in them yet, and a nested loop
    # of its documents over a sequential scan of its lines would take hours.
    await conn.execute("ANALYZE skybiz.sales, skybiz.sales_line")
    await conn.execute(FORGET, a, b)
    await conn.execute("DELETE FROM skybiz.sales WHERE source = 'bench' AND d_ate BETWEEN "
                       "$1 AND $2", a, b)
    await conn.execute("DELETE FROM syncd.window WHERE source = 'bench' AND date_from = $1", a)
    if wh.low is None:
        await conn.execute("DELETE FROM syncd.module_state WHERE source = 'bench'")
    else:
        await conn.execute(MARKS, "bench", wh.low, a - dt.timedelta(days=1))
    await conn.execute("VACUUM skybiz.sales, skybiz.sales_line, syncd.window")


async def open_warehouse(dsn: str, name: str, reuse: bool) -> Warehouse:
    """A migrated database ``name``; an existing one is kept when ``reuse`` (and filled)."""
    admin = await db.connect(dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and not reuse:
            await admin.execute(f"DROP DATABASE {name}")
        if not exists or not reuse:
            await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    conn = await db.connect(dsn.replace("/postgres?", f"/{name}?"))
    wh = Warehouse(name, conn, Loader(conn, "bench", TZ))
    started = time.perf_counter()
    applied = await db.migrate(conn)
    seconds = time.perf_counter() - started
    if reuse and await conn.fetchval("SELECT to_regclass('public.growth_fill') IS NOT NULL"):
        wh.lines, wh.low = await conn.fetchrow("SELECT lines, low FROM public.growth_fill")
        if applied:  # an upgrade in place of a filled warehouse
            print(f"{name}: migrations {', '.join(applied)} applied in {seconds:.1f} s "
                  f"on {wh.lines:,} line rows")
    return wh


# ---- plans ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Plan:
    """One statement's EXPLAIN (ANALYZE, BUFFERS): its text and the figures read from it."""

    text: str
    ms: float
    buffers: int  # shared hit + read + dirtied of the top node
    scans: tuple[str, ...]


def parse_plan(lines: list[str]) -> Plan:
    text = "\n".join(lines)
    ms = sum(float(m) for m in re.findall(r"(?:Planning|Execution) Time: ([\d.]+) ms", text))
    top = next((ln for ln in lines if "Buffers: shared" in ln), "")
    buffers = sum(int(n) for n in re.findall(r"(?:hit|read|dirtied|written)=(\d+)", top))
    scans = tuple(dict.fromkeys(
        m.group(0) for ln in lines
        if (m := re.search(r"(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)"
                           r"(?: using \S+)? on \S+", ln))))
    return Plan(text, ms, buffers, scans)


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain(conn: asyncpg.Connection, statement: str, args: tuple[object, ...],
                  generic: bool) -> Plan:
    """The plan a prepared statement gets (custom: planned for these values; generic: the
    plan a cached prepared statement may switch to after five runs)."""
    await conn.execute(f"SET LOCAL plan_cache_mode = "
                       f"{'force_generic_plan' if generic else 'force_custom_plan'}")
    await conn.execute(f"PREPARE growth_stmt AS {statement}")
    try:
        call = f"EXECUTE growth_stmt({', '.join(map(_literal, args))})" if args else \
            "EXECUTE growth_stmt"
        out = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {call}")
    finally:
        await conn.execute("DEALLOCATE growth_stmt")
    return parse_plan([r[0] for r in out])


async def window_plans(wh: Warehouse, raw: bytes, generic: bool,
                       drop: int = 0) -> dict[str, Plan]:
    """Every statement of one window's load, explained inside a transaction rolled back;
    ``drop``: every drop-th document is left out of the answer (deleted at the source)."""
    parsed = body.parse(body.prepare(raw))
    window_rows = rows.WindowRows(rows.shape(SALES), parsed.records, "bench")
    units = list(window_rows.keys())
    if drop:
        kept = b"".join(units).splitlines(keepends=True)
        units = [b"".join(r for i, r in enumerate(kept) if i % drop)]
    conn, a, b = wh.conn, WINDOW.date_from, WINDOW.date_to
    ledger = ("bench", "sales", a, b, "backfill", 1, 1, 0, "x", None, 1, "2026-01-01", 1)
    out: dict[str, Plan] = {}
    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute(loading._SETTINGS, TZ)  # as a window's transaction has them
        # A fresh keys table, as a window finds it after the last commit emptied it (the
        # rolled-back explains before this one left their dead rows in the old one).
        await conn.execute(f"DROP TABLE IF EXISTS pg_temp.{sql.keys_table(SALES)}")
        await conn.execute(sql.create_keys_table(SALES))
        await loading._copy(conn, sql.keys_table(SALES), None, sql.keys_columns(SALES), units)
        out["changed + line delete"] = await explain(conn, sql.changed(SALES), ("bench",),
                                                     generic)
        out["deletion diff"] = await explain(conn, sql.mark_deleted(SALES), ("bench", a, b),
                                             generic)
        out["lock watermarks"] = await explain(conn, state._MARKS_FOR_UPDATE,
                                               ("bench", "sales"), generic)
        out["save state"] = await explain(
            conn, state._SAVE_WINDOW_STATE,
            ("bench", "sales", a, b, 0, "{}"), generic)
        out["ledger insert"] = await explain(conn, state._LEDGER, ledger, generic)
        out["done windows (cycle)"] = await explain(
            conn, "SELECT date_from, date_to FROM syncd.window WHERE source = $1 AND "
            "module = $2 AND purpose = $3 AND committed_at >= $4",
            ("bench", "sales", "reread", "2026-11-01"), generic)
    finally:
        await tr.rollback()
    return out


# ---- the run -------------------------------------------------------------------------

async def timed_load(wh: Warehouse, url: str) -> load.Figure:
    """One window's load: wall, client CPU and the backend's CPU seconds."""
    return await load.timed(wh.conn, load.syncd_load(url, wh.loader))


async def measure(base: str, dsn: str, args: argparse.Namespace, raw: bytes,
                  edited: bytes) -> bool:
    empty = await open_warehouse(dsn, "empty", reuse=False)
    big = await open_warehouse(dsn, "big", reuse=args.data is not None)
    seconds = 0.0
    if big.lines:
        await forget(big)  # a reused database may hold the hot month of the last run
    else:
        print(f"filling the big warehouse to {args.lines:,} line rows ...", flush=True)
        seconds = await fill(big, args.lines)
    size = await big.conn.fetchrow(
        "SELECT pg_database_size(current_database()) AS db, "
        "pg_total_relation_size('skybiz.sales_line') AS lines, "
        "pg_indexes_size('skybiz.sales_line') AS line_idx, "
        "pg_total_relation_size('skybiz.sales') AS headers, "
        "(SELECT count(*) FROM skybiz.sales) AS documents, "
        "(SELECT count(*) FROM syncd.window) AS ledger")
    gb = 2 ** 30
    print(f"big warehouse: {big.lines:,} line rows, {size['documents']:,} documents, "
          f"{size['ledger']:,} ledger rows, built in {seconds:.0f} s; on disk "
          f"{size['db'] / gb:.2f} GB (sales_line {size['lines'] / gb:.2f} GB of which "
          f"indexes {size['line_idx'] / gb:.2f} GB, sales {size['headers'] / gb:.2f} GB)")
    url = base + "/a"
    runs: dict[tuple[str, str], list[load.Figure]] = {}
    for r in range(args.rounds):
        order = (empty, big) if r % 2 == 0 else (big, empty)
        for wh in order:
            for path in ("insert", "update"):
                f = await timed_load(wh, url)
                runs.setdefault((wh.name, path), []).append(f)
                print(f"  round {r + 1} {wh.name:5} {path:6} {f.wall:6.2f} s wall, client CPU "
                      f"{f.client:5.2f} s, server CPU {f.server:5.2f} s", flush=True)
        for wh in order:
            await forget(wh)
    plans = await all_plans(empty, big, url, raw, edited)
    for wh in (empty, big):
        await wh.conn.close()
    return report(runs, plans, args.plans)


async def all_plans(empty: Warehouse, big: Warehouse, url: str, raw: bytes, edited: bytes
                    ) -> dict[tuple[str, str], dict[str, Plan]]:
    """Plans at both sizes: before the hot month (insert), after it (update, edit 10 %),
    custom and generic."""
    plans: dict[tuple[str, str], dict[str, Plan]] = {}
    for wh in (empty, big):
        plans[(wh.name, "insert")] = await window_plans(wh, raw, False)
        plans[(wh.name, "insert generic")] = await window_plans(wh, raw, True)
        await timed_load(wh, url)
        plans[(wh.name, "update")] = await window_plans(wh, raw, False)
        plans[(wh.name, "update generic")] = await window_plans(wh, raw, True)
        plans[(wh.name, "edit 10%")] = await window_plans(wh, edited, False)
        plans[(wh.name, "1% deleted")] = await window_plans(wh, raw, False, drop=100)
        await forget(wh)
    return plans


def report(runs: dict[tuple[str, str], list[load.Figure]],
           plans: dict[tuple[str, str], dict[str, Plan]], plans_file: Path) -> bool:
    """The median of the rounds' paired ratios (each round loads into both databases, the
    order alternating) is the target's figure: on a shared machine one load moves by ±15 %,
    and a pair taken together cancels the slow minutes both runs of it met. The best of
    the rounds and the server CPU are printed beside it."""
    ok = True
    print(f"{'path':8} {'empty s':>8} {'big s':>8} {'big/empty':>10}  target   "
          f"(median of the rounds' big/empty; beside it the best rounds and server CPU)")
    for path in ("insert", "update"):
        e_runs, b_runs = runs[("empty", path)], runs[("big", path)]
        paired = statistics.median(b.wall / e.wall for e, b in zip(e_runs, b_runs,
                                                                    strict=True))
        cpu = statistics.median(b.server / max(e.server, 1e-9)
                                for e, b in zip(e_runs, b_runs, strict=True))
        e, b = (min(r, key=lambda x: x.wall) for r in (e_runs, b_runs))
        met = paired <= TARGET
        ok &= met
        print(f"{path:8} {e.wall:8.2f} {b.wall:8.2f} {paired:10.2f}  <= {TARGET} "
              f"{testbed.verdict(met):6}   (rounds: "
              f"{', '.join(f'{y.wall / x.wall:.2f}' for x, y in zip(e_runs, b_runs, strict=True))}"
              f"; best {b.wall / e.wall:.2f}; server CPU {cpu:.2f})")
    print("statements of one window (EXPLAIN ANALYZE: ms, shared buffers; empty -> big):")
    with plans_file.open("w") as out:
        for (name, state_), found in plans.items():
            for stmt, plan in found.items():
                out.write(f"==== {name} warehouse, {state_}: {stmt}\n{plan.text}\n\n")
        states = dict.fromkeys(s for _, s in plans)
        for state_ in states:
            for stmt, e in plans[("empty", state_)].items():
                b = plans[("big", state_)][stmt]
                print(f"  {state_:15} {stmt:22} {e.ms:8.1f} -> {b.ms:8.1f} ms  "
                      f"{e.buffers:7} -> {b.buffers:7} buf  {'; '.join(b.scans)}")
    print(f"full plans in {plans_file}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000_000,
                        help="line rows in the big warehouse (e.g. 2000000 for a quick try)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--data", type=Path, help="keep (and reuse) the PostgreSQL here")
    parser.add_argument("--plans", type=Path, default=Path(tempfile.gettempdir())
                        / "syncd-growth-plans.txt")
    args = parser.parse_args()
    logs.configure("console", 30)
    win = skybiz_window.generate(load.TODAY)
    edited = skybiz_window.generate(load.TODAY, edited=0.1).body
    with tempfile.TemporaryDirectory(prefix="syncd-growth-") as name:
        tmp = Path(name)
        (tmp / "a.json").write_bytes(win.body)
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, load.__file__, "--serve", str(tmp)], stdout=subprocess.PIPE,
            text=True)
        try:
            assert server.stdout is not None
            base = f"http://127.0.0.1:{server.stdout.readline().strip()}"
            with db.embedded(args.data or tmp / "pg") as dsn:
                ok = asyncio.run(measure(base, dsn, args, win.body, edited))
        finally:
            server.terminate()
            server.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
