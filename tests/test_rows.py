"""Records as received, through the loader into a real PostgreSQL: `_raw` keeps the whole
record (a nested document's `items` too), a master's field named `items` is a plain field,
invalid UTF-8 is replaced, and a new row format rewrites stored rows at their next read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from syncd.core import body, rows
from syncd.core.model import Module
from syncd.core.windows import Purpose, Window
from syncd.kinds.cloudonex import resources
from syncd.kinds.skybiz import modules as skybiz
from syncd.warehouse import db
from syncd.warehouse.loader import Batch, Loader

WINDOW = Window(dt.date(2026, 4, 1), dt.date(2026, 4, 30), Purpose.FRESH)
CUSTOMER = {"CusCode": "C1", "CusName": "Ali", "DateTimeModified": "2026-04-02 10:00:00"}
NESTED = {"D_ate": "2026-04-01", "Doc1No": "A1", "DocType": "CusInv", "CusCode": "C1",
          "HCNetAmt": "10.50", "items": [{"ItemCode": "X", "Qty": 1, "HCLineAmt": "10.50"},
                                         {"ItemCode": "Y", "Note": "free"}]}
INVOICE = {"id": 7, "invoice_number": "INV-7", "customer_id": 3, "amount": "25.00",
           "status": "Unpaid", "date": "2026-04-03", "custom": {"po": "P-1"},
           "items": [{"description": "Widget", "amount": "12.50", "qty": "2"}]}


@pytest.fixture
async def conn(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A migrated warehouse connection."""
    connection = await db.connect(pg_dsn)
    await db.migrate(connection)
    yield connection
    await connection.close()


def records(*recs: dict[str, Any] | bytes) -> list[Any]:
    """Records as the body parser hands them over (views of one answer's bytes)."""
    parts = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in recs]
    answer = b'{"status":"success","data":{"data":[' + b",".join(parts) + b"]}}"
    return body.parse(body.prepare(answer)).records


async def load(conn: asyncpg.Connection, module: Module, recs: list[Any]) -> None:
    loader = Loader(conn, "main", "Asia/Kuala_Lumpur")
    batch = Batch(recs, "r", 1, 0.0)
    if module.schema == "skybiz":
        await loader.load(module, WINDOW, batch)
    else:
        await loader.load_page(module, batch, "page 1", "full")


async def test_nested_skybiz_document_raw_is_the_record_as_received(
        conn: asyncpg.Connection) -> None:
    """A nested sales document's `_raw` equals the record, items included; each line keeps
    its own item as `_raw`."""
    await load(conn, skybiz.get("sales"), records(NESTED))
    raw = await conn.fetchval("SELECT _raw FROM skybiz.sales")
    lines = await conn.fetch("SELECT _raw FROM skybiz.sales_line ORDER BY line_seq")
    assert json.loads(raw) == NESTED
    assert [json.loads(r["_raw"]) for r in lines] == NESTED["items"]


async def test_cloudonex_invoice_raw_is_the_record_as_received(
        conn: asyncpg.Connection) -> None:
    """A CloudOnex invoice's `_raw` equals the record, items included; its item rows too."""
    await load(conn, resources.BY_NAME["invoices"], records(INVOICE))
    row = await conn.fetchrow("SELECT amount, _raw FROM cloudonex.invoices")
    items = await conn.fetch("SELECT qty, _raw FROM cloudonex.invoice_items")
    assert json.loads(row["_raw"]) == INVOICE
    assert row["amount"] == Decimal("25.00")
    assert [(i["qty"], json.loads(i["_raw"])) for i in items] == [
        (Decimal(2), INVOICE["items"][0])]


async def test_master_with_a_field_named_items_is_kept(conn: asyncpg.Connection) -> None:
    """`items` on a master is a plain (new) field: the row loads and `_raw` keeps it."""
    odd = CUSTOMER | {"items": [{"ItemCode": "X"}], "CusName": "Bee"}
    recs = records(odd)
    await load(conn, skybiz.get("customer"), recs)
    row = await conn.fetchrow("SELECT cusname, _raw FROM skybiz.customer")
    assert (row["cusname"], json.loads(row["_raw"])) == ("Bee", odd)
    window_rows = rows.WindowRows(rows.shape(skybiz.get("customer")), recs, "main")
    list(window_rows.keys())
    window_rows.changed = {0}
    list(window_rows.headers())
    assert window_rows.new_fields == {"items"}


async def test_invalid_utf8_is_replaced_and_the_record_kept(conn: asyncpg.Connection) -> None:
    """Latin-1 bytes in a name (and in an unknown field) become U+FFFD; nothing is dropped."""
    bad = (b'{"CusCode":"C\xe91","CusName":"Caf\xe9 Ali","Memo":"\xff\xfe",'
           b'"DateTimeModified":"2026-04-02 10:00:00"}')
    await load(conn, skybiz.get("customer"), records(bad, CUSTOMER))
    got = await conn.fetch("SELECT cuscode, cusname, _raw->>'Memo' AS memo "
                           "FROM skybiz.customer ORDER BY cuscode")
    assert [tuple(r) for r in got] == [("C1", "Ali", None),
                                       ("C\ufffd1", "Caf\ufffd Ali", "\ufffd\ufffd")]


async def test_a_new_row_format_rewrites_stored_rows_at_their_next_read(
        conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row stored by the previous format (header `_raw` without items) is rewritten whole
    by the next read of the same answer; a read in the same format writes nothing."""
    sales = skybiz.get("sales")
    monkeypatch.setattr(rows, "LOAD_FORMAT", b"syncd-rows-1")
    rows.shape.cache_clear()
    await load(conn, sales, records(NESTED))
    stripped = {k: v for k, v in NESTED.items() if k != "items"}
    await conn.execute("UPDATE skybiz.sales SET _raw = $1", json.dumps(stripped))
    monkeypatch.undo()
    rows.shape.cache_clear()
    await load(conn, sales, records(NESTED))
    assert json.loads(await conn.fetchval("SELECT _raw FROM skybiz.sales")) == NESTED
    synced = await conn.fetchval("SELECT _synced_at FROM skybiz.sales")
    await load(conn, sales, records(NESTED))
    assert await conn.fetchval("SELECT _synced_at FROM skybiz.sales") == synced
