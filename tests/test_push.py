"""``syncd push`` end to end: the outbox in a real PostgreSQL, the simulator on a real socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncd import config
from syncd.cli import push as command
from syncd.core.backoff import Backoff
from syncd.core.errors import RetriesExhausted, SourceBusy
from syncd.engine.outbox.jsontext import dumps
from syncd.warehouse import outbox
from syncd_simulator import Simulator
from tests.conftest import CLI_ENV, E2E_SECRET, e2e_config_text, finish_cli, run_cli, start_cli
from tests.waiting import until

StartSim = Callable[..., Awaitable[tuple[Simulator, str]]]
pytestmark = pytest.mark.slow


def invoice(sim: Simulator, doc1no: str, **header: Any) -> dict[str, Any]:
    """A valid sales invoice with exact digits a float would lose (33.3667 × 3 = 100.10)."""
    customer = sim.dataset.masters("customer")[0]["CusCode"]
    item = sim.dataset.masters("item")[0]["ItemCode"]
    doc: dict[str, Any] = {
        "Doc1No": doc1no, "CusCode": customer, "DocType": "CusInv",
        "HCNetAmt": Decimal("100.10"), "HCDtTax": Decimal("6.01"),
        "items": [{"ItemCode": item, "Description": "Widget", "Qty": Decimal("3"),
                   "FactorQty": 1, "UOM": "PCS", "HCUnitCost": Decimal("33.3667"),
                   "HCLineAmt": Decimal("100.10"), "BlankLine": "0",
                   "HCTax": Decimal("6.01"), "TaxRate1": 6}]}
    doc.update(header)
    return doc


def customer(code: str, **fields: Any) -> dict[str, Any]:
    """A valid customer create document."""
    return {"AccountCode": "AR-001", "CusCode": code, "CusName": f"Shop {code}",
            "CurCode": "RM", "D_ay": 30, "CategoryCode": "RETAIL"} | fields


async def setup(start: StartSim, tmp_path: Path, dsn: str, **options: Any
                ) -> tuple[Simulator, Path]:
    """A simulator, a config for it, and a migrated warehouse."""
    sim, url = await start(**options)
    path = tmp_path / "syncd.toml"
    path.write_text(e2e_config_text(url, dsn, sim.dataset.today - dt.timedelta(days=3),
                                    modules=["customer", "sales"]), encoding="utf-8")
    assert (await run_cli("migrate", "--config", str(path))).code == 0
    return sim, path


async def add(dsn: str, module: str, docs: list[dict[str, Any]]) -> list[int]:
    """Insert documents into the outbox the way a user's system would (SQL)."""
    conn = await asyncpg.connect(dsn)
    try:
        return [await conn.fetchval(
            "INSERT INTO syncd.outbox (source, module, document) VALUES ('main', $1, $2::jsonb) "
            "RETURNING id", module, dumps(d)) for d in docs]
    finally:
        await conn.close()


async def rows(dsn: str) -> dict[int, asyncpg.Record]:
    """Every outbox row by id."""
    conn = await asyncpg.connect(dsn)
    try:
        return {r["id"]: r for r in await conn.fetch("SELECT * FROM syncd.outbox ORDER BY id")}
    finally:
        await conn.close()


async def push_in_process(path: Path, *modules: str, backoff: Backoff | None = None
                          ) -> list[command.ModulePush]:
    """Run the push command's body in this process (the simulator shares the loop)."""
    cfg = config.load(path, CLI_ENV, need_credentials=True)
    return await command.push(cfg, list(cfg.sources), command.modules(list(modules)),
                              backoff=backoff)


def copies(sim: Simulator, doc1no: str) -> int:
    """How many documents with ``doc1no`` the server holds."""
    today = sim.dataset.today
    return sum(1 for d in sim.dataset.documents("sales", today, today)
               if d.header["Doc1No"] == doc1no)


def create_requests(sim: Simulator) -> int:
    """Create requests the simulator answered (reads of sales carry dates; creates do not)."""
    return sum(1 for r in sim.requests if r.module == "sales" and r.date_from is None)


async def test_push_reports_inserted_invalid_and_rejected(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """--file adds documents; the CLI inserts the good, lists invalid and rejected, exits 1."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    docs = [{"module": "sales", "document": invoice(sim, "WEB-1")},
            {"module": "sales", "document": invoice(sim, "WEB-2", HCDtTax=Decimal("6.03"))},
            {"module": "sales", "document": invoice(sim, "WEB-3", CusCode="NOPE")},
            {"module": "sales", "document": invoice(sim, "WEB-1")}]
    file = tmp_path / "documents.json"
    file.write_text(dumps(docs), encoding="utf-8")
    result = await run_cli("push", "--file", str(file), "--config", str(path))
    assert result.code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "main/sales: 1 inserted, 1 rejected, 2 invalid, 0 waiting (1 request)" in lines
    assert "  invalid #2 WEB-2: Header HCDtTax does not match sum of HCTax" in lines
    assert "  invalid #4 WEB-1: duplicate of outbox id 1" in lines
    assert ("  rejected #3 WEB-3: Document 2 (Doc1No: WEB-3): Customer Code 'NOPE' does not "
            "exist") in lines
    states = {r["id"]: (r["state"], r["fail_category"]) for r in (await rows(pg_dsn)).values()}
    assert states == {1: ("inserted", None), 2: ("invalid", "validation"),
                      3: ("rejected", "invalid_customers"), 4: ("invalid", "validation")}
    assert copies(sim, "WEB-1") == 1
    assert copies(sim, "WEB-2") == copies(sim, "WEB-3") == 0
    assert E2E_SECRET not in result.stdout + result.stderr
    status = await run_cli("status", "--json", "--config", str(path))
    [source] = json.loads(status.stdout)["sources"]
    assert source["outbox"] == {"sales": {"pending": 0, "sending": 0, "inserted": 1,
                                          "rejected": 1, "invalid": 2}}
    table = await run_cli("status", "--config", str(path))
    assert "main/sales outbox: 1 inserted, 1 rejected, 2 invalid" in table.stdout.splitlines()


async def test_conflicting_duplicates_are_all_invalid_and_none_is_sent(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """Two rows with one Doc1No and different content are both invalid, naming each other;
    an identical copy is sent once and the other copies point at the one sent."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    ids = await add(pg_dsn, "sales", [
        invoice(sim, "TWIN-1"), invoice(sim, "SAME-1"), invoice(sim, "TWIN-1", CusName="Other"),
        invoice(sim, "SAME-1"), invoice(sim, "SAME-1")])
    result = await run_cli("push", "--config", str(path))
    assert result.code == 1, result.stderr
    got = await rows(pg_dsn)
    conflict = (f"conflicting duplicates: outbox ids {ids[0]}, {ids[2]} have DocType 'CusInv' "
                "and Doc1No 'TWIN-1' with different content; insert the one meant again as "
                "a new row")
    assert [(got[i]["state"], got[i]["error"]) for i in ids] == [
        ("invalid", conflict), ("inserted", None), ("invalid", conflict),
        ("invalid", f"duplicate of outbox id {ids[1]}"),
        ("invalid", f"duplicate of outbox id {ids[1]}")]
    assert (copies(sim, "TWIN-1"), copies(sim, "SAME-1")) == (0, 1)
    assert create_requests(sim) == 1
    again = await add(pg_dsn, "sales", [invoice(sim, "TWIN-1", CusName="Other")])
    [retry] = await push_in_process(path, "sales")
    assert (retry.inserted, (await rows(pg_dsn))[again[0]]["state"]) == (1, "inserted")


async def test_1200_documents_take_3_requests(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """1,200 pending documents go out as 500 + 500 + 200 and are all inserted."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    await add(pg_dsn, "sales", [invoice(sim, f"BULK-{n:04d}") for n in range(1200)])
    [result] = await push_in_process(path, "sales")
    assert (result.inserted, result.requests, result.waiting) == (1200, 3, 0)
    assert create_requests(sim) == 3
    assert all(r["state"] == "inserted" and r["attempts"] == 1
               for r in (await rows(pg_dsn)).values())


async def test_customer_batch_with_one_bad_document(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """The API rejects the whole customer batch; the innocent customers are sent again."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    ids = await add(pg_dsn, "customer", [customer("NEW1"), customer("NEW2", CurCode="XYZ"),
                                         customer("NEW3")])
    [result] = await push_in_process(path, "customer")
    assert (result.inserted, result.rejected, result.requests) == (2, 1, 2)
    got = await rows(pg_dsn)
    assert [got[i]["state"] for i in ids] == ["inserted", "rejected", "inserted"]
    assert got[ids[1]]["error"] == "Document 2 (CusCode: NEW2): Currency code 'XYZ' does not exist"
    assert got[ids[1]]["fail_category"] == "invalid_currencies"
    assert [got[i]["attempts"] for i in ids] == [2, 1, 2]
    assert sim.dataset.has_master("customer", "NEW1")
    assert not sim.dataset.has_master("customer", "NEW2")


async def test_lost_answer_leaves_exactly_one_document(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """The server inserts, then drops the connection; the retry's "already exists" is inserted."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    [row_id] = await add(pg_dsn, "sales", [invoice(sim, "LOST-1")])
    sim.lose_create_answers = 1
    [result] = await push_in_process(path, "sales")
    row = (await rows(pg_dsn))[row_id]
    assert (row["state"], row["attempts"], row["fail_category"]) == (
        "inserted", 2, "duplicate_documents")
    assert result.inserted == 1
    assert copies(sim, "LOST-1") == 1


async def test_kill_during_push_then_rerun_creates_each_document_once(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """kill -9 with the request in flight (already inserted): the rerun creates nothing twice."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    names = [f"KILL-{n}" for n in range(5)]
    await add(pg_dsn, "sales", [invoice(sim, n) for n in names])
    sim.create_delay = 60.0
    proc = await start_cli("push", "--config", str(path))
    drained = asyncio.create_task(finish_cli(proc, 120))
    await until(lambda: all(copies(sim, n) for n in names), "the push reaching the server")
    assert {r["state"] for r in (await rows(pg_dsn)).values()} == {"sending"}
    os.kill(proc.pid, signal.SIGKILL)
    assert (await drained).code == -signal.SIGKILL
    sim.create_delay = 0.0
    again = await run_cli("push", "--config", str(path))
    assert again.code == 0, again.stdout + again.stderr
    assert {r["state"] for r in (await rows(pg_dsn)).values()} == {"inserted"}
    assert [copies(sim, n) for n in names] == [1] * 5


async def test_sync_reads_the_created_documents_back_exactly(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """After a push, `sync` loads the created invoice and customer with every digit."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    await add(pg_dsn, "customer", [customer("BACK1", CreditLimit=Decimal("12345.60"))])
    await add(pg_dsn, "sales", [invoice(sim, "BACK-1", CusCode="BACK1")])
    assert (await run_cli("push", "--config", str(path))).code == 0
    assert (await run_cli("sync", "--config", str(path))).code == 0
    conn = await asyncpg.connect(pg_dsn)
    try:
        head = await conn.fetchrow("SELECT cuscode, hcnetamt::text, hcdttax::text FROM "
                                   "skybiz.sales WHERE doc1no = 'BACK-1'")
        line = await conn.fetchrow("SELECT qty::text, hcunitcost::text, hclineamt::text FROM "
                                   "skybiz.sales_line WHERE doc1no = 'BACK-1'")
        cust = await conn.fetchrow("SELECT cusname, creditlimit::text FROM skybiz.customer "
                                   "WHERE cuscode = 'BACK1'")
    finally:
        await conn.close()
    assert tuple(head) == ("BACK1", "100.10", "6.01")
    assert tuple(line) == ("3", "33.3667", "100.10")
    assert tuple(cust) == ("Shop BACK1", "12345.60")


async def test_create_permission_denied_stops_the_module(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """403 "Sales create permission denied": one sentence, exit 1, the documents wait."""
    sim, path = await setup(simulator, tmp_path, pg_dsn,
                            create_denied_modules=frozenset({"sales"}))
    await add(pg_dsn, "sales", [invoice(sim, "DENIED-1")])
    await add(pg_dsn, "customer", [customer("OK1")])
    result = await run_cli("push", "--config", str(path))
    assert result.code == 1
    assert result.sentences == [
        "syncd: sales: access refused (\"Sales create permission denied\"); ask your SKYBIZ "
        "administrator to enable Sales create permission for this key (portal: API "
        "Credentials > Modules); its outbox documents wait."]
    assert "Traceback" not in result.stderr
    assert {r["module"]: r["state"] for r in (await rows(pg_dsn)).values()} == {
        "sales": "pending", "customer": "inserted"}


async def test_dry_run_only_validates(simulator: StartSim, tmp_path: Path, pg_dsn: str) -> None:
    """--dry-run lists invalid documents, sends nothing and changes no row."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    await add(pg_dsn, "sales", [invoice(sim, "DRY-1"), invoice(sim, "DRY-2", DocType="SupInv")])
    result = await run_cli("push", "--dry-run", "--config", str(path), env=_no_secrets())
    assert result.code == 1
    assert result.stdout.splitlines() == [
        "main/customer: 0 invalid, 0 ready to send",
        "main/sales: 1 invalid, 1 ready to send",
        "  invalid #2 DRY-2: Invalid DocType 'SupInv'. Allowed: CusInv, CS, CusCN, CusDN",
        "main/purchase: 0 invalid, 0 ready to send"]
    assert {r["state"] for r in (await rows(pg_dsn)).values()} == {"pending"}
    assert create_requests(sim) == 0


def _no_secrets() -> dict[str, str]:
    return {k: v for k, v in CLI_ENV.items() if not k.startswith("SYNCD_MAIN_")}


async def test_no_answer_at_all_leaves_sending_until_the_next_push(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """Every try inserted but unanswered: the module stops with `sending`; the next push
    counts "Document already exists" as inserted and the server holds one copy."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    [row_id] = await add(pg_dsn, "sales", [invoice(sim, "GONE-1")])
    sim.lose_create_answers = 3
    [first] = await push_in_process(path, "sales", backoff=Backoff(0, 0, attempts=3))
    assert isinstance(first.error, RetriesExhausted)
    assert ((await rows(pg_dsn))[row_id]["state"], first.waiting) == ("sending", 1)
    [second] = await push_in_process(path, "sales", backoff=Backoff(0, 0, attempts=3))
    row = (await rows(pg_dsn))[row_id]
    assert (row["state"], row["attempts"], second.inserted) == ("inserted", 4, 1)
    assert copies(sim, "GONE-1") == 1


async def test_wrong_secret_stops_the_source_and_documents_wait(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """401: every module of the source stops, nothing is marked, one sentence, no secret."""
    sim, path = await setup(simulator, tmp_path, pg_dsn)
    await add(pg_dsn, "customer", [customer("W1")])
    await add(pg_dsn, "sales", [invoice(sim, "W-1")])
    env = CLI_ENV | {"SYNCD_MAIN_API_SECRET": "wrong-" + E2E_SECRET}
    result = await run_cli("push", "--config", str(path), env=env)
    assert result.code == 1
    assert len(result.sentences) == 1
    assert "refused the credentials of source 'main'" in result.sentences[0]
    assert E2E_SECRET not in result.stdout + result.stderr
    assert {r["state"] for r in (await rows(pg_dsn)).values()} == {"pending"}


async def test_one_pusher_per_source(simulator: StartSim, tmp_path: Path, pg_dsn: str) -> None:
    """While another connection pushes the source, `syncd push` refuses in one sentence."""
    _, path = await setup(simulator, tmp_path, pg_dsn)
    holder = await asyncpg.connect(pg_dsn)
    try:
        assert await outbox.lock(holder, "main")
        with pytest.raises(SourceBusy, match="is being pushed by another syncd"):
            await push_in_process(path)
    finally:
        await holder.close()
    assert [r.waiting for r in await push_in_process(path)] == [0, 0, 0]


async def test_random_faults_still_create_each_document_once(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """500s, resets, truncated bodies and PHP warnings on a third of the requests: every
    document ends inserted, and the server holds exactly one copy of each."""
    sim, path = await setup(simulator, tmp_path, pg_dsn, faults=0.35, slow_seconds=0.05, seed=5)
    names = [f"FAULT-{n:03d}" for n in range(60)]
    for start in range(0, len(names), 4):  # 15 pushes: many requests, many faults
        await add(pg_dsn, "sales", [invoice(sim, n) for n in names[start:start + 4]])
        for _ in range(3):  # a run whose retries all fail leaves `sending` for the next run
            [result] = await push_in_process(path, "sales", backoff=Backoff(0, 0, attempts=6))
            if result.waiting == 0:
                break
    assert {r["state"] for r in (await rows(pg_dsn)).values()} == {"inserted"}
    assert [copies(sim, n) for n in names] == [1] * len(names)
    faults = {r.fault for r in sim.requests if r.module == "sales"}
    assert {"reset", "truncated", "internal_error"} <= faults, faults


async def test_bad_file_is_a_config_error(simulator: StartSim, tmp_path: Path,
                                          pg_dsn: str) -> None:
    """A --file entry without a document object: exit 2 and one sentence naming the entry."""
    _, path = await setup(simulator, tmp_path, pg_dsn)
    file = tmp_path / "documents.json"
    file.write_text('[{"module": "sales", "document": {}}, {"module": "sales"}]',
                    encoding="utf-8")
    result = await run_cli("push", "--file", str(file), "--config", str(path))
    assert result.code == 2
    assert result.sentences == [f"syncd: {file}: entry 2 must be an object with a "
                                "\"document\" object."]
    assert await rows(pg_dsn) == {}
