"""Grouping flat rows and nested documents into the same documents, as the loader does it
in PostgreSQL: header from the first row, lines in the order received."""

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
from syncd.warehouse import db
from syncd.warehouse.loader import Loader

SALES = skybiz.get("sales")
WINDOW = Window(dt.date(2026, 4, 1), dt.date(2026, 4, 30), Purpose.FRESH)


def flat(doctype: str, doc1no: Any, item: str, **extra: Any) -> dict[str, Any]:
    return {"D_ate": "2026-04-01", "Doc1No": doc1no, "DocType": doctype, "CusCode": "C1",
            "HCNetAmt": 10, "ItemCode": item, "Qty": 1, **extra}


async def load(dsn: str, records: list[dict[str, Any]]) -> asyncpg.Connection:
    """Load one sales window answering ``records``; the caller closes the connection."""
    body = json.dumps({"status": "success", "request_id": "r", "data": {
        "total_returned": len(records), "data": records}}).encode()
    conn = await db.connect(dsn)
    await db.migrate(conn)
    ctx = Context("main", "sales", "Sales", "x")
    answer = Answer(200, bytearray(body), {}, None, ctx, 1, 0.0)
    await Loader(conn, "main", "Asia/Kuala_Lumpur").load(SALES, WINDOW, judged(answer, ctx))
    return conn


async def documents(conn: asyncpg.Connection) -> dict[tuple[str, str], list[str]]:
    """Each stored document's item codes in line_seq order."""
    docs: dict[tuple[str, str], list[str]] = {
        (r["doctype"], r["doc1no"]): [] for r in await conn.fetch(
            "SELECT doctype, doc1no FROM skybiz.sales")}
    for r in await conn.fetch("SELECT doctype, doc1no, itemcode FROM skybiz.sales_line "
                              "ORDER BY doctype, doc1no, line_seq"):
        docs[(r["doctype"], r["doc1no"])].append(r["itemcode"])
    return docs


async def test_flat_rows_group_by_doctype_and_doc1no(pg_dsn: str) -> None:
    """Rows sharing (DocType, Doc1No) form one document with lines in received order."""
    rows = [flat("CusInv", "A1", "X"), flat("CusInv", "A1", "Y"),
            flat("CusCN", "A1", "Z"), flat("CusInv", "A2", "W")]
    conn = await load(pg_dsn, rows)
    try:
        assert await documents(conn) == {("CusInv", "A1"): ["X", "Y"], ("CusCN", "A1"): ["Z"],
                                         ("CusInv", "A2"): ["W"]}
        header = await conn.fetchrow("SELECT cuscode, _raw FROM skybiz.sales "
                                     "WHERE doctype = 'CusInv' AND doc1no = 'A1'")
        line = await conn.fetchval("SELECT _raw FROM skybiz.sales_line WHERE doctype = "
                                   "'CusInv' AND doc1no = 'A1' AND line_seq = 1")
    finally:
        await conn.close()
    assert header["cuscode"] == "C1"
    assert json.loads(line) == rows[0]  # a flat line keeps the whole row as received


async def test_interleaved_rows_still_join_their_document(pg_dsn: str) -> None:
    """A document's rows need not be contiguous; order within it is preserved."""
    rows = [flat("CusInv", "A1", "X"), flat("CusInv", "A2", "W"), flat("CusInv", "A1", "Y")]
    conn = await load(pg_dsn, rows)
    try:
        assert await documents(conn) == {("CusInv", "A1"): ["X", "Y"], ("CusInv", "A2"): ["W"]}
    finally:
        await conn.close()


async def test_nested_documents_load_the_same(pg_dsn: str) -> None:
    """An `items` array gives the same documents and lines as flat rows; the header's `_raw`
    is the whole document as received, items included."""
    nested = [{"D_ate": "2026-04-01", "Doc1No": "A1", "DocType": "CusInv", "CusCode": "C1",
               "HCNetAmt": 10, "items": [{"ItemCode": "X", "Qty": 1}, {"ItemCode": "Y"}]}]
    conn = await load(pg_dsn, nested)
    try:
        assert await documents(conn) == {("CusInv", "A1"): ["X", "Y"]}
        raw = await conn.fetchval("SELECT _raw FROM skybiz.sales")
    finally:
        await conn.close()
    assert json.loads(raw) == nested[0]


async def test_numeric_doc1no_is_keyed_as_text(pg_dsn: str) -> None:
    """A Doc1No sent as a JSON number keys the same as its text."""
    conn = await load(pg_dsn, [flat("CusInv", 1001, "X"), flat("CusInv", "1001", "Y")])
    try:
        assert await documents(conn) == {("CusInv", "1001"): ["X", "Y"]}
    finally:
        await conn.close()
