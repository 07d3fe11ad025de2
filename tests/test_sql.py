"""The window statements of ``syncd.warehouse.sql`` in a warehouse with history: stored
rows are reached by primary-key probes and ctid whatever the statistics say, and what a
window replaces is exactly what the old join-based statements replaced."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg

from syncd.core.windows import Purpose, Window
from syncd.engine.http import Answer
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.answers import Context
from syncd.kinds.skybiz.sync import judged
from syncd.warehouse import db, sql
from syncd.warehouse.loader import Loader

SALES = skybiz.get("sales")
WINDOW = Window(dt.date(2026, 4, 1), dt.date(2026, 4, 30), Purpose.FRESH)

# Two years of one source's documents, loaded and never analyzed (autovacuum off): the
# planner knows nothing of `source = 'main'` and guesses a few dozen rows.
HISTORY = """
INSERT INTO skybiz.sales (source, doctype, doc1no, d_ate, _raw, _hash)
SELECT 'main', 'CusInv', 'H' || n, date '2024-04-01' + n % 720, '{}', '\\x00'
FROM generate_series(1, 20000) n;
INSERT INTO skybiz.sales_line (source, doctype, doc1no, line_seq, _raw)
SELECT 'main', 'CusInv', 'H' || n, s, '{}' FROM generate_series(1, 20000) n,
    generate_series(1, 3) s;
"""

# The window's units: 50 stored documents with another hash, 50 new ones.
UNITS = f"""
INSERT INTO pg_temp.{sql.keys_table(SALES)} (ord, doctype, doc1no, _hash)
SELECT n, 'CusInv', 'H' || (n * 7), '\\x01'::bytea FROM generate_series(1, 50) n
UNION ALL SELECT n, 'CusInv', 'N' || n, '\\x01'::bytea FROM generate_series(51, 100) n
"""

PROBES = {"Index Scan", "Index Only Scan", "Tid Scan", "ModifyTable"}


def scans(plan: dict[str, Any]) -> set[tuple[str, str]]:
    """(node type, relation) of every plan node that reads a relation."""
    found = {(plan["Node Type"], plan["Relation Name"])} if "Relation Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= scans(child)
    return found


async def explain(conn: asyncpg.Connection, statement: str, *args: Any) -> set[tuple[str, str]]:
    out = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {statement}", *args)
    return scans((json.loads(out) if isinstance(out, str) else out)[0]["Plan"])


async def test_stored_rows_are_probed_by_key_whatever_the_statistics(pg_dsn: str) -> None:
    """Against 20,000 never-analyzed documents the changed-document query, its deletes and
    the deletion diff read the module's tables only by index probes and ctid."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        for table in (SALES.table, SALES.line_table):
            await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        await conn.execute(HISTORY)
        await conn.execute(sql.create_keys_table(SALES))
        async with conn.transaction():
            await conn.execute(UNITS)
            changed = await explain(conn, sql.changed(SALES), "main")
            deleted = await explain(conn, sql.mark_deleted(SALES), "main", WINDOW.date_from,
                                    WINDOW.date_to)
    finally:
        await conn.close()
    tables = {"sales", "sales_line"}
    assert {t for _, t in changed} >= tables
    assert {(n, t) for n, t in changed | deleted if t in tables and n not in PROBES} == set()


def flat(doc1no: str, item: str) -> dict[str, Any]:
    return {"D_ate": "2026-04-01", "Doc1No": doc1no, "DocType": "CusInv", "CusCode": "C1",
            "HCNetAmt": 10, "ItemCode": item, "Qty": 1}


async def load(conn: asyncpg.Connection, records: list[dict[str, Any]]) -> None:
    """Load one sales window answering ``records``."""
    body = json.dumps({"status": "success", "request_id": "r", "data": {
        "total_returned": len(records), "data": records}}).encode()
    ctx = Context("main", "sales", "Sales", "x")
    answer = Answer(200, bytearray(body), {}, None, ctx, 1, 0.0)
    await Loader(conn, "main", "Asia/Kuala_Lumpur").load(SALES, WINDOW, judged(answer, ctx))


async def test_lines_left_without_their_header_are_replaced_with_it(pg_dsn: str) -> None:
    """A document whose header row was deleted by hand comes back with only its new lines
    (the stray old ones go), as a new document."""
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        await load(conn, [flat("A1", "X"), flat("A1", "Y")])
        await conn.execute("DELETE FROM skybiz.sales WHERE doc1no = 'A1'")
        await load(conn, [flat("A1", "Z")])
        items = [r["itemcode"] for r in await conn.fetch(
            "SELECT itemcode FROM skybiz.sales_line WHERE doc1no = 'A1' ORDER BY line_seq")]
        headers = await conn.fetchval("SELECT count(*) FROM skybiz.sales WHERE doc1no = 'A1'")
    finally:
        await conn.close()
    assert (items, headers) == (["Z"], 1)
