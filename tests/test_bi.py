"""The bi views against figures computed independently from the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from syncd.core.results import ResyncRange
from tests.test_sync import Env, fetch, make_env

CREDIT_NOTES = {"CusCN", "SupCN", "PurRet"}  # purchase returns count negative too


# The views are read by every test but changed by one: the readers share one backfill on the
# module's event loop (the simulator serves from that loop), the writer gets its own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def backfilled(tmp_path: Path, dsn: str) -> AsyncIterator[Env]:
    async for env in make_env(tmp_path, dsn):
        assert all(r.error is None for r in await env.sync())
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def synced(tmp_path_factory: pytest.TempPathFactory,
                 module_pg_dsn: str) -> AsyncIterator[Env]:
    """One backfill for the tests that only read the views."""
    async for env in backfilled(tmp_path_factory.mktemp("bi"), module_pg_dsn):
        yield env


@pytest_asyncio.fixture(loop_scope="module")
async def own_synced(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Env]:
    """A backfill of its own for a test that changes the source and the warehouse."""
    async for env in backfilled(tmp_path, pg_dsn):
        yield env


def money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def sign(doctype: str) -> int:
    return -1 if doctype in CREDIT_NOTES else 1


def add(acc: dict[Any, Decimal], key: Any, value: Decimal | None, factor: int = 1) -> None:
    if value is not None:
        acc[key] = acc.get(key, Decimal(0)) + factor * value


def docs(env: Env, module: str) -> list[Any]:
    return env.sim.dataset.documents(module, env.backfill_from, env.today)


async def view(env: Env, sql: str) -> dict[Any, Decimal]:
    return {tuple(r)[:-1] if len(r) > 2 else r[0]: r[-1] for r in await fetch(env.dsn, sql)}


async def test_sales_daily_nets_credit_notes(own_synced: Env) -> None:
    """Per day: invoices minus credit notes, to the cent, deleted documents excluded."""
    synced = own_synced
    ds = synced.sim.dataset
    gone = docs(synced, "sales")[0].header
    ds.delete_document("sales", gone["DocType"], gone["Doc1No"])
    await synced.sync(resync=ResyncRange(synced.backfill_from, synced.today), modules=("sales",))
    want: dict[Any, Decimal] = {}
    for d in docs(synced, "sales"):
        add(want, dt.date.fromisoformat(d.header["D_ate"]), money(d.header["HCNetAmt"]),
            sign(d.header["DocType"]))
    got = await view(synced, "SELECT day, net_amount FROM bi.sales_daily WHERE net_amount "
                     "IS NOT NULL")
    assert got == want


async def test_sales_by_customer_month(synced: Env) -> None:
    """Per customer and month, with the customer's name joined in."""
    want: dict[Any, Decimal] = {}
    for d in docs(synced, "sales"):
        month = dt.date.fromisoformat(d.header["D_ate"]).replace(day=1)
        add(want, (month, d.header["CusCode"]), money(d.header["HCNetAmt"]),
            sign(d.header["DocType"]))
    rows = await fetch(synced.dsn, "SELECT month, cuscode, cusname, net_amount "
                       "FROM bi.sales_by_customer_month WHERE net_amount IS NOT NULL")
    assert {(r["month"], r["cuscode"]): r["net_amount"] for r in rows} == want
    names = {c["CusCode"]: c["CusName"] for c in synced.sim.dataset.masters("customer")}
    assert all(r["cusname"] == names.get(r["cuscode"]) for r in rows)


async def test_sales_by_item_month(synced: Env) -> None:
    """Per item and month from the lines: signed quantity and line amount."""
    qty: dict[Any, Decimal] = {}
    amount: dict[Any, Decimal] = {}
    for d in docs(synced, "sales"):
        month = dt.date.fromisoformat(d.header["D_ate"]).replace(day=1)
        for line in d.lines:
            key = (month, line["ItemCode"])
            add(qty, key, money(line["Qty"]), sign(d.header["DocType"]))
            add(amount, key, money(line["HCLineAmt"]), sign(d.header["DocType"]))
    rows = await fetch(synced.dsn, "SELECT month, itemcode, qty, net_amount "
                       "FROM bi.sales_by_item_month")
    assert {(r["month"], r["itemcode"]): r["net_amount"] for r in rows
            if r["net_amount"] is not None} == amount
    assert {(r["month"], r["itemcode"]): r["qty"] for r in rows if r["qty"] is not None} == qty


async def test_purchase_daily_nets_supplier_credit_notes(synced: Env) -> None:
    """Per day: purchases minus supplier credit notes."""
    want: dict[Any, Decimal] = {}
    for d in docs(synced, "purchase"):
        add(want, dt.date.fromisoformat(d.header["D_ate"]), money(d.header["HCNetAmt"]),
            sign(d.header["DocType"]))
    got = await view(synced, "SELECT day, net_amount FROM bi.purchase_daily "
                     "WHERE net_amount IS NOT NULL")
    assert got == want


async def test_purchase_returns_count_negative_like_supplier_credit_notes(synced: Env) -> None:
    """A day's PurRet documents are subtracted and counted among its credit notes."""
    returns = [d.header for d in docs(synced, "purchase") if d.header["DocType"] == "PurRet"]
    assert returns, "the simulator's history has purchase returns"
    day = returns[0]["D_ate"]
    same_day = [d.header for d in docs(synced, "purchase") if d.header["D_ate"] == day]
    want = sum((sign(h["DocType"]) * (money(h["HCNetAmt"]) or Decimal(0)) for h in same_day),
               Decimal(0))
    row = (await fetch(synced.dsn, "SELECT credit_notes, net_amount FROM bi.purchase_daily "
                       "WHERE day = $1", dt.date.fromisoformat(day)))[0]
    assert row["credit_notes"] == sum(h["DocType"] in ("SupCN", "PurRet") for h in same_day)
    assert row["net_amount"] == want


async def test_collection_daily(synced: Env) -> None:
    """Per day: money received (cash net of change, cards, cheques, vouchers), voids excluded."""
    want: dict[Any, Decimal] = defaultdict(Decimal)
    for d in docs(synced, "collection"):
        h = d.header
        if h["VoidYN"] in ("1", "Y", "y"):
            continue
        total = sum((money(h[f]) or Decimal(0)) for f in (
            "CashAmt", "CC1Amt", "CC2Amt", "Cheque1Amt", "Cheque2Amt", "VoucherAmt"))
        total -= money(h["ChangeAmt"]) or Decimal(0)
        want[dt.date.fromisoformat(h["D_ate"])] += sign(h["DocType"]) * total
    got = await view(synced, "SELECT day, amount FROM bi.collection_daily")
    assert got == dict(want)


async def test_freshness_shows_every_module(synced: Env) -> None:
    """bi.freshness has each module's high watermark, last success and lag."""
    rows = await fetch(synced.dsn, "SELECT * FROM bi.freshness")
    assert len(rows) == 8
    assert all(r["high_watermark"] == synced.today and r["last_success_at"] for r in rows)
