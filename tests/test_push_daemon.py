"""``syncd run`` pushes the outbox within seconds of an insert (LISTEN/NOTIFY) and shows it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncd.engine.outbox.jsontext import dumps
from tests import test_daemon
from tests.test_daemon import (
    Daemons,
    StartSim,
    daemon_config,
    free_port,
    http_get,
    scrape,
    status_json,
    until,
)

pytestmark = pytest.mark.slow
daemons = test_daemon.daemons  # the fixture that starts `syncd run` children


async def test_daemon_pushes_on_insert_and_reports(
    simulator: StartSim, daemons: Daemons, tmp_path: Path, pg_dsn: str
) -> None:
    """With `[schedule] push` an hour away, an INSERT alone gets the document created."""
    sim, url = await simulator()
    port = free_port()
    text = daemon_config(url, pg_dsn, sim.dataset.today - dt.timedelta(days=2), port,
                         modules=["customer"])
    path = tmp_path / "syncd.toml"
    path.write_text(text.replace('interval = "2s"\n', 'interval = "2s"\npush = "1h"\n'),
                    encoding="utf-8")
    running = await daemons(path, port)

    async def leading() -> bool:
        doc = await status_json(port)
        return bool(doc and doc["sources"][0].get("role") == "leader")

    await until(leading, "leadership", alive=running)
    item = sim.dataset.masters("item")[0]["ItemCode"]
    doc: dict[str, Any] = {
        "Doc1No": "RUN-1", "CusCode": sim.dataset.masters("customer")[0]["CusCode"],
        "DocType": "CS", "HCNetAmt": Decimal("19.90"), "HCDtTax": Decimal("0"),
        "items": [{"ItemCode": item, "Description": "x", "Qty": 1, "FactorQty": 1,
                   "UOM": "PCS", "HCUnitCost": Decimal("19.90"), "HCLineAmt": Decimal("19.90"),
                   "BlankLine": "0"}]}
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("INSERT INTO syncd.outbox (source, module, document) "
                           "VALUES ('main', 'sales', $1::jsonb)", dumps(doc))

        async def inserted() -> bool:
            return await conn.fetchval("SELECT state FROM syncd.outbox") == "inserted"

        await until(inserted, "the push after the insert", deadline_s=15, alive=running)
    finally:
        await conn.close()
    assert sim.dataset.has_document("sales", "CS", "RUN-1")

    async def counted() -> float:
        _, values = await scrape(port)
        return values.get(("syncd_push_documents_total", frozenset(
            {("source", "main"), ("module", "sales"), ("state", "inserted")})), 0.0)

    assert await until(counted, "the push metric", alive=running) == 1.0

    async def shown() -> dict[str, Any] | None:
        doc = await status_json(port)
        return doc["sources"][0].get("outbox") if doc else None

    outbox = await until(shown, "the outbox in /status.json", alive=running)
    assert outbox["sales"]["inserted"] == 1
    page = await http_get(port, "/")
    assert page is not None
    assert "<tr data-outbox='sales'>" in page[1]
    assert "1 inserted</span>" in page[1]
    running.terminate()
    assert (await running.finish()).code == 0
